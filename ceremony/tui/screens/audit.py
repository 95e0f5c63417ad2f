"""The auditor's view: ``record verify``, ``record report`` and the published chain, read-only.

Every check and every problem of the record (journal chain, plan, keys, outputs,
transcript, seal, attestations, witnesses), where the HTML report was written,
and the walk of ``metadata/`` as a client would do it. All of it comes from
:func:`ceremony.flows.audit`; this screen only shows it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Footer, Static

from ceremony import flows
from ceremony.tui.screens.base import StepScreen
from ceremony.tui.widgets.banner import Banner


class AuditScreen(StepScreen):
    """Runs the audit when shown (r: run it again); escape goes back when pushed."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *StepScreen.BINDINGS, Binding("r", "run", "Verify again"),
        Binding("escape", "back", "Back")]

    def __init__(self, workspace: Path, require_seal: bool = True) -> None:
        super().__init__()
        self.workspace = Path(workspace)
        self.require_seal = require_seal
        self.result: flows.Audit | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text(f" Audit of {self.workspace}", style="bold reverse"))
        with VerticalScroll(id="body"):
            yield from self.body()
        yield Banner(id="banner")
        yield Footer()

    def body(self) -> Iterable[Widget]:
        yield Static(id="audit")

    def on_mount(self) -> None:
        self.action_run()

    def action_run(self) -> None:
        root, seal = self.workspace, self.require_seal
        self.token_job("audit", lambda: flows.audit(root, seal),
                       "Verifying the record and the chain", touch=False, logout=False)

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2:  # pushed from the done screen
            self.app.pop_screen()

    def show(self) -> None:
        a = self.result
        t = Text()
        if a is None:
            t.append("Verifying...", style="dim")
        else:
            t.append(("Record and chain verified" if a.ok else "VERIFICATION FAILED") + "\n\n",
                     style="bold green" if a.ok else "bold red")
            t.append("Record (ceremony record verify)\n", style="bold underline")
            for line in a.record:
                t.append(line + "\n", style="red" if line.startswith("FAIL") else "")
            t.append("\nReport (ceremony record report)\n", style="bold underline")
            t.append(f"  {a.report}\n" if a.report else f"  {a.report_error}\n",
                     style="" if a.report else "red")
            t.append("\nPublished chain (ceremony verify)\n", style="bold underline")
            for line in a.chain:
                t.append("  " + line + "\n", style="red" if line.startswith("FAIL") else "")
            t.append("\nr: verify again   q: quit", style="dim")
        self.query_one("#audit", Static).update(t)

    def job_done(self, job: str, result: Any) -> None:
        self.result = result
        self.show()
        if not result.ok:
            self.banner.error("; ".join(result.problems) or result.chain[-1])
