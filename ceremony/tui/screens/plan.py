"""Plan review: what was agreed, who holds which token, and where the workspace stands."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import Static

from ceremony import flows
from ceremony.compromise import describe_declared
from ceremony.plan import format_duration
from ceremony.session import Session
from ceremony.trusted_start import fingerprint_text
from ceremony.tui.flow import Step, resume_summary
from ceremony.tui.screens.base import StepScreen


def plan_text(c: Session) -> Text:
    """The plan in words (no key material: it reads the same on every run)."""
    prev = c.state.init.get("previous")
    rotation = (f"Rotation: continues root v{prev['version']} (chain verified from "
                f"{prev.get('trusted_version', 1)}.root.json at init)") if prev else None
    if rotation is not None and prev and prev.get("trusted_sha256"):
        rotation += (f"\nTrusted root v{prev.get('trusted_version', 1)} fingerprint (compare with "
                     f"the words the repository's holder reads): "
                     f"{fingerprint_text(prev['trusted_sha256'])}")
    return plan_words(c.plan, lambda name: not c.needs_key(name), rotation, resume_summary(c),
                      describe_declared(c))


def plan_words(p: Any, key_ready: Callable[[str], bool], rotation: str | None,
               summary: str, declared: list[str] | None = None) -> Text:
    """A plan in words, for an open workspace or one about to be created.

    ``declared`` names the plan's compromised keys (by keyholder or role) when the
    previous root is at hand; otherwise they are shown by key id.
    """
    t = Text()
    t.append(f"Ceremony {p.name}", style="bold")
    t.append(f"  ({p.format}, repository {p.repository})\n")
    if p.rehearsal:
        t.append("REHEARSAL: throwaway tokens; air-gap findings are warnings only\n",
                 style="bold yellow")
    if p.out_of_band:
        t.append("OUT-OF-BAND ROOT: clients must be given the new root directly\n", style="bold red")
    if p.compromised_keys:
        names = declared or [f"key {k[:12]}" for k in p.compromised_keys]
        t.append("Declared compromised (never sign, never kept): " + ", ".join(names) + "\n",
                 style="bold red")
    t.append(f"Root: {p.root.threshold} of {len(p.root.keyholders)} keyholders must sign; "
             f"expires {format_duration(p.root.expires)} after drafting\n\n")
    t.append("Keyholders\n", style="bold underline")
    for k in p.keyholders:
        token = f"token {k.token}" if k.token else f"serial {k.serial}"
        status = "key ready" if key_ready(k.name) else "key to generate"
        t.append(f"  {k.name:<10} {token:<28} {k.algorithm:<11} {status}\n")
    t.append("\nOnline roles\n", style="bold underline")
    t.append("  " + "; ".join(f"{r.name} {r.threshold} of {len(r.key_paths)}, "
                              f"{format_duration(r.expires)}" for r in p.online) + "\n")
    if p.witnesses:
        t.append(f"\nWitnesses: {', '.join(p.witnesses)}"
                 + (f" ({p.witnesses_required} must sign off publish and seal)"
                    if p.witnesses_required else "") + "\n")
    if rotation:
        t.append(f"\n{rotation}\n")
    t.append("\n" + summary + "\n", style="bold")
    return t


class PlanScreen(StepScreen):
    """First screen of every session."""

    STEP = Step.PLAN
    BINDINGS: ClassVar[list[BindingType]] = [
        *StepScreen.BINDINGS, Binding("enter", "next", "Continue"),
        Binding("s", "script", "Printable script")]

    def body(self) -> Iterable[Widget]:
        yield Static(plan_text(self.c), id="plan")
        yield Static("Press enter to continue.", classes="hint")

    def action_next(self) -> None:
        self.app.advance()  # type: ignore[attr-defined]

    def action_script(self) -> None:
        """Write the printable ceremony script (what ``ceremony script`` writes)."""
        written: list[Any] = []
        if self.attempt(lambda: written.append(flows.write_script(self.c))):
            self.banner.info(f"printable script written to {written[0]}: print it for the room")
