"""The end: the ceremony is sealed; where the record is; the head words to note on paper."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import Static

from ceremony import record_write
from ceremony.fingerprint import fingerprint_words
from ceremony.tui.flow import Step
from ceremony.tui.screens.base import StepScreen


class DoneScreen(StepScreen):
    """Nothing more can be journaled; q quits."""

    STEP = Step.DONE
    BINDINGS: ClassVar[list[BindingType]] = [
        *StepScreen.BINDINGS, Binding("a", "audit", "Audit"),
        Binding("e", "emergency", "Emergency")]

    def on_mount(self) -> None:
        # A crash right after the seal leaves record/ unwritten: write it now.
        if not (self.c.ws.record / "report.html").exists():
            self.attempt(lambda: record_write.write_record(self.c.ws))

    def body(self) -> Iterable[Widget]:
        c = self.c
        sealed = c.state.sealed
        t = Text("The ceremony is complete and sealed.\n\n", style="bold green")
        t.append(f"Published: {', '.join(f'root v{v}' for v in c.state.published)}\n")
        t.append(f"Seal: journal line {sealed['seq']}, head {sealed['head']}\n")
        t.append("head words: ")
        t.append(fingerprint_words(sealed["head"], 8) + "\n\n", style="bold")
        t.append("Record: record/transcript.json, record/transcript.txt, record/report.html\n")
        t.append("Print the report for the witnesses to sign. An auditor checks it later with\n"
                 "  ceremony record verify WORKSPACE\n\n"
                 "a: audit now - verify the record and the published chain, write the report\n"
                 "e: emergency - a key was compromised: work out a rotation plan\n"
                 "Press q to quit.")
        yield Static(t)

    def action_audit(self) -> None:
        from ceremony.tui.screens.audit import AuditScreen  # lazy: the audit screen (~1 ms), when asked for only
        self.app.push_screen(AuditScreen(self.c.ws.root))

    def action_emergency(self) -> None:
        # lazy: the compromise screen and its textual widgets (~4 ms), on a declared compromise only
        from ceremony.tui.screens.compromise import CompromiseScreen
        self.app.push_screen(CompromiseScreen())
