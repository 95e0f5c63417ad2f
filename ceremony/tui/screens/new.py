"""A new ceremony: the plan reviewed by the room before the workspace is created.

``ceremony tui WORKSPACE --plan PLAN.toml [--previous DIR]`` when WORKSPACE does not
exist yet: the plan is read and checked (:func:`ceremony.flows.preview_plan`,
nothing written), shown in words, and only on confirmation is the workspace
created (:func:`ceremony.flows.start_ceremony`, i.e. ``Ceremony.init``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from ceremony.tui.flow import Step
from ceremony.tui.screens.confirm import ConfirmScreen
from ceremony.tui.screens.plan import plan_words
from ceremony.tui.widgets.banner import Banner
from ceremony.tui.widgets.steps import StepBar


class NewCeremonyScreen(Screen[None]):
    """The plan of a ceremony not started yet; enter (then y) creates the workspace."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "app.quit_safely", "Quit"), Binding("enter", "create", "Create & start")]

    def __init__(self, preview: Any) -> None:
        super().__init__()
        self.preview = preview

    def compose(self) -> ComposeResult:
        pv = self.preview
        p = pv.plan
        yield StepBar(Step.PLAN, p.name + (" (REHEARSAL)" if p.rehearsal else ""))
        rotation = (f"Rotation: continues the root in {pv.previous} (its chain is verified "
                    "before anything is created)") if pv.previous else None
        summary = f"New ceremony: {self.app.workspace} will be created from {pv.plan_path}."  # type: ignore[attr-defined]
        t = plan_words(p, lambda _name: False, rotation, summary)
        for w in pv.warnings:
            t.append(f"warning: {w}\n", style="yellow")
        with VerticalScroll(id="body"):
            yield Static(t, id="plan")
            yield Static("Review the plan with the room. enter: create the workspace and "
                         "start; q: quit, nothing is created.", classes="hint")
        yield Banner(id="banner")
        yield Footer()

    def action_create(self) -> None:
        if self.app.busy:  # type: ignore[attr-defined]
            return
        self.app.push_screen(ConfirmScreen(
            f"Start this ceremony in {self.app.workspace}? The plan is copied in and the "  # type: ignore[attr-defined]
            "journal begins."), self.confirmed)

    def confirmed(self, yes: bool | None) -> None:
        if yes:
            self.query_one("#banner", Banner).busy("Creating the workspace", touch=False)
            self.app.start_new()  # type: ignore[attr-defined]

    def failed(self, message: str, hint: str | None) -> None:
        self.query_one("#banner", Banner).error(message, (hint + "; " if hint else "")
                                                + "nothing was created")

