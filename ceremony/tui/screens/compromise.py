"""Emergency: name what was compromised, read the consequences, write the plan for review.

The same work as ``ceremony compromise``: the choices come from the current
root, the verdict from :func:`ceremony.compromise.assess`, the plan from
:func:`ceremony.compromise.write_plan` (through :mod:`ceremony.flows`), after
the operator types ``emergency``. Nothing is journaled; the plan is carried out
by a new ceremony (``init --previous``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, SelectionList, Static

from ceremony import flows
from ceremony.errors import CeremonyError
from ceremony.tui.messages import INTERNAL_HINT
from ceremony.tui.screens.confirm import ConfirmScreen
from ceremony.tui.widgets.banner import Banner
from hsm.errors import HsmError

TYPED = "emergency"


class CompromiseScreen(Screen[None]):
    """Space toggles a suspect; w writes the plan (typed confirmation); escape goes back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"), Binding("w", "write", "Write the plan")]
    DEFAULT_CSS = """
    CompromiseScreen { layout: vertical; }
    #cbody { height: 1fr; padding: 0 1; }
    #title { background: $error; color: $text; padding: 0 1; height: 1; }
    #what { height: auto; max-height: 10; margin: 0 0 1 0; }
    #out-row { height: auto; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.suspects: list[flows.Suspect] = []
        self.assessment: Any = None
        self.written: Path | None = None

    @property
    def c(self) -> Any:
        return self.app.ceremony  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        yield Static(Text("EMERGENCY: what was compromised?", style="bold"), id="title")
        with VerticalScroll(id="cbody"):
            yield Static(id="intro")
            yield SelectionList[int](id="what")
            yield Static(id="assessment")
            yield Static("Write the plan into this folder (tab to edit):", classes="hint")
            yield Input(id="out")
        yield Banner(id="banner")
        yield Footer()

    def on_mount(self) -> None:
        c = self.c
        banner = self.query_one(Banner)
        try:
            self.suspects = flows.compromise_suspects(c)
        except (CeremonyError, HsmError) as e:
            banner.error(e.message, e.hint)
            self.query_one("#what", SelectionList).display = False
            return
        what = self.query_one("#what", SelectionList)
        what.add_options([(s.label, i) for i, s in enumerate(self.suspects)])
        what.highlighted = 0
        what.focus()
        out = c.ws.out / "emergency"
        self.query_one("#out", Input).value = str(
            out if not out.exists() else flows.default_export_dir(c, "emergency"))
        self.query_one("#intro", Static).update(Text(
            "Choose every key, keyholder or role that is compromised (up/down, space). The "
            "consequences follow below; w writes them as a plan for review.", style="dim"))
        self.reassess()

    @on(SelectionList.SelectedChanged, "#what")
    def changed(self, _event: SelectionList.SelectedChanged) -> None:
        self.reassess()

    def chosen(self) -> list[flows.Suspect]:
        return [self.suspects[i] for i in self.query_one("#what", SelectionList).selected]

    def reassess(self) -> None:
        shown = self.query_one("#assessment", Static)
        chosen = self.chosen()
        self.assessment = None
        if not chosen:
            shown.update(Text("Nothing chosen yet.", style="dim"))
            return
        try:
            a = flows.assess_suspects(self.c, chosen)
        except (CeremonyError, HsmError) as e:
            shown.update(Text(f"{e.message}" + (f"\nhint: {e.hint}" if e.hint else ""),
                              style="bold red"))
            return
        self.assessment = a
        t = Text("Assessment\n", style="bold underline")
        for line in a.lines:
            style = "bold red" if line.startswith("OUT OF BAND") else ""
            t.append(f"  {line}\n", style=style)
        if a.follow_up:
            t.append("Follow-up on the online side\n", style="bold underline")
            for f in a.follow_up:
                t.append(f"  - {f}\n")
        shown.update(t)

    @on(Input.Submitted, "#out")
    def submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_write()

    def action_write(self) -> None:
        banner = self.query_one(Banner)
        if self.assessment is None:
            banner.error("choose what was compromised first (space toggles)")
            return
        out = self.query_one("#out", Input).value.strip()
        if not out:
            banner.error("name the folder for the plan")
            return
        a = self.assessment
        question = ("Write the EMERGENCY rotation plan?\n"
                    + ("root keys to remove: " + ", ".join(a.compromised_root) + "\n"
                       if a.compromised_root else "")
                    + ("online keys to replace: " + ", ".join(a.replace_online) + "\n"
                       if a.replace_online else "")
                    + f"into {out}/emergency-plan.toml")
        self.app.push_screen(ConfirmScreen(question, typed=TYPED),
                             lambda yes: self.write(yes, Path(out), a))

    def write(self, yes: bool | None, out: Path, a: Any) -> None:
        banner = self.query_one(Banner)
        if not yes:
            banner.info("Nothing was written.")
            return
        try:
            path, lines = flows.write_emergency_plan(self.c, a, out)
        except (CeremonyError, HsmError) as e:
            banner.error(e.message, e.hint)
            return
        except Exception as e:  # noqa: BLE001 - a sentence, never a traceback
            banner.error(f"internal error: {type(e).__name__}: {e}", INTERNAL_HINT)
            return
        self.written = path
        banner.info("\n".join(lines))

    def action_back(self) -> None:
        self.dismiss(None)
