"""Export: carry the published root out of the air gap (the transports plug in here)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import Static

from ceremony.tui.flow import Step
from ceremony.tui.screens.base import StepScreen


class ExportScreen(StepScreen):
    """Runs the app's export hook, or says there is none yet and moves on to the seal."""

    STEP = Step.EXPORT
    BINDINGS: ClassVar[list[BindingType]] = [
        *StepScreen.BINDINGS, Binding("enter", "go", "Export / continue")]

    def body(self) -> Iterable[Widget]:
        yield Static(id="export")

    def on_mount(self) -> None:
        c = self.c
        v = c.state.published[-1]
        ev = next(e for e in reversed(c.journal.events) if e.type == "published")
        t = Text(f"Root v{v} is published.\n", style="bold")
        t.append(f"metadata/{v}.root.json  sha256 {ev.data['sha256']}\n\n")
        if self.app.exporter is None:  # type: ignore[attr-defined]
            t.append("Export (QR codes, USB stick) is not available in this build yet.\n"
                     "Export later with the CLI; the seal can be made now.\n\n")
            t.append("enter: continue to the seal", style="bold")
        else:
            t.append("enter: export the published metadata", style="bold")
        self.query_one("#export", Static).update(t)

    def action_go(self) -> None:
        exporter = self.app.exporter  # type: ignore[attr-defined]
        if exporter is None:
            self.done()
            return
        self.token_job("export", lambda: exporter(self.c), "Exporting", touch=False, logout=False)

    def job_done(self, job: str, result: Any) -> None:
        self.banner.info(str(result))
        self.done()

    def done(self) -> None:
        self.app.session.export_done = True  # type: ignore[attr-defined]
        self.app.advance()  # type: ignore[attr-defined]
