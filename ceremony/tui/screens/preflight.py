"""Preflight for this session: air gap, clock (confirmed by the operator), tool digest, tokens."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import Static

from ceremony import preflight
from ceremony.tui.flow import Step
from ceremony.tui.screens.base import StepScreen

MARK = {preflight.OK: ("ok  ", "green"), preflight.WARN: ("WARN", "yellow"),
        preflight.FAIL: ("FAIL", "bold red")}


def report_text(r: preflight.PreflightReport) -> Text:
    t = Text()
    t.append(f"Air gap and environment (host {r.facts.host.get('hostname', '?')})\n", style="bold")
    t.append("Clock: ")
    t.append(preflight.utc_text(r.facts.clock), style="bold reverse")
    t.append(" (confirmed)\n" if r.clock_confirmed else "  <- compare with a UTC wall clock\n")
    for f in r.findings:
        mark, style = MARK[f.status]
        t.append(f" {mark} ", style=style)
        t.append(f"{f.check:<9}", style="bold")
        t.append(f"{f.message}\n")
    t.append("\n")
    if r.passed:
        t.append("Preflight passes" + (" with warnings (rehearsal)" if r.warnings else "") + ".",
                 style="bold green")
    else:
        t.append("Preflight REFUSES this ceremony.", style="bold red")
    return t


class PreflightScreen(StepScreen):
    """Reads the machine in a worker; the operator confirms the UTC clock; enter records it."""

    STEP = Step.PREFLIGHT
    BINDINGS: ClassVar[list[BindingType]] = [*StepScreen.BINDINGS,
                Binding("y", "confirm_clock", "Clock is right (UTC)"),
                Binding("r", "check", "Re-check"),
                Binding("enter", "record", "Record & continue")]

    def __init__(self) -> None:
        super().__init__()
        self.facts: preflight.Facts | None = None
        self.clock_confirmed = False

    def body(self) -> Iterable[Widget]:
        yield Static(Text("Checking the machine..."), id="report")
        yield Static("Compare the clock above with a wall clock showing UTC, then press y.\n"
                     "enter records the preflight in the journal; r checks again.", classes="hint")

    def on_mount(self) -> None:
        self.action_check()

    def action_check(self) -> None:
        self.clock_confirmed = False
        self.token_job("probe", self.app.gather_facts, "Checking network, clock, tool and tokens",  # type: ignore[attr-defined]
                       touch=False)

    def job_done(self, job: str, result: Any) -> None:
        self.facts = result
        self.show()

    def report(self) -> preflight.PreflightReport | None:
        if self.facts is None:
            return None
        planned = [(k.name, k.token, k.serial) for k in self.c.plan.keyholders]
        return preflight.evaluate(self.facts, self.c.plan.rehearsal, preflight.clock_floor(self.c),
                                  self.clock_confirmed, planned, preflight.trusted_expiry(self.c))

    def show(self) -> None:
        r = self.report()
        if r is not None:
            self.query_one("#report", Static).update(report_text(r))

    def action_confirm_clock(self) -> None:
        if self.facts is None:
            return
        # The confirmation is about the time read now, not when the check started.
        clock = self.app.probes.clock().astimezone(UTC).replace(microsecond=0)  # type: ignore[attr-defined]
        self.facts = dataclasses.replace(self.facts, clock=clock)
        self.clock_confirmed = True
        self.show()

    def action_record(self) -> None:
        r = self.report()
        if r is None or self.app.busy:  # type: ignore[attr-defined]
            return
        if self.attempt(lambda: preflight.record_preflight(self.c, r)):
            self.app.session.preflight_passed = True  # type: ignore[attr-defined]
            self.app.advance()  # type: ignore[attr-defined]
