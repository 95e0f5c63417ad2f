"""FIDO2 witnesses: each enrols a security key at the start, and signs off the journal head
before publish and before the seal (the plan's ``witnesses_required``).

The screen only shows :func:`ceremony.flows.witness_view` and runs
:func:`ceremony.flows.witness_act` in a worker; the touch state comes from
``hsm.fido`` through the app's touch callback while the security key waits.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ceremony import flows
from ceremony.tui.flow import Step, witness_stage
from ceremony.tui.screens.base import StepScreen

TITLES = {flows.ENROL: "Witnesses enrol their security keys",
          flows.PUBLISH: "Witnesses sign off before publish",
          flows.SEAL: "Witnesses sign off before the seal"}
BAR = {flows.ENROL: Step.PREFLIGHT, flows.PUBLISH: Step.SIGN, flows.SEAL: Step.SEAL}


class WitnessScreen(StepScreen):
    """Pick a witness: enrol their key, or sign off the head; then go on."""

    STEP = Step.PREFLIGHT
    BINDINGS: ClassVar[list[BindingType]] = [
        *StepScreen.BINDINGS, Binding("c", "go_on", "Continue"),
        Binding("p", "publish", "Publish")]

    def __init__(self, stage: str | None = None) -> None:
        super().__init__()
        self.stage = stage
        self.view: flows.WitnessView | None = None

    def bar_step(self) -> Step:
        if self.stage is None:
            self.stage = witness_stage(self.c, self.app.session) or flows.ENROL  # type: ignore[attr-defined]
        return BAR[self.stage]

    def body(self) -> Iterable[Widget]:
        yield Static(id="status")
        yield OptionList(id="who")
        yield Static(id="hint", classes="hint")

    def on_mount(self) -> None:
        self.show()

    def show(self) -> None:
        assert self.stage is not None
        v = self.view = flows.witness_view(self.c, self.stage)
        t = Text(TITLES[v.stage] + "\n", style="bold")
        t.append(v.sentence + "\n", style="bold green" if v.met and v.stage != flows.ENROL
                 else "bold yellow" if v.stage != flows.ENROL else "")
        t.append("\n".join(v.lines) + "\n")
        self.query_one("#status", Static).update(t)
        who = self.query_one("#who", OptionList)
        who.clear_options()
        for name, label in v.choices:
            who.add_option(Option(label, id=name))
        who.display = bool(v.choices)
        if v.choices:
            who.highlighted = 0
            who.focus()
        hint = ["up/down, enter: this witness plugs in their security key and touches it"
                if v.choices else ""]
        if v.stage == flows.ENROL:
            hint.append("c: continue to the keys (a witness may still enrol at the sign-offs)")
        elif v.stage == flows.PUBLISH:
            hint.append("p: publish now" if v.met else
                        "Each witness compares the head words, then signs off.")
        elif v.met:
            hint.append("c: continue to the seal")
        else:
            hint.append("Each witness compares the head words, then signs off.")
        self.query_one("#hint", Static).update("\n".join(h for h in hint if h))

    @on(OptionList.OptionSelected, "#who")
    def act(self, event: OptionList.OptionSelected) -> None:
        name = event.option.id
        if name is None or self.app.busy:  # type: ignore[attr-defined]
            return
        app: Any = self.app
        c = self.c
        what = "enrolling" if name not in c.state.witnesses else "signing off"
        self.token_job("witness", lambda: flows.witness_act(
            c, name, on_touch=app.touch_callback(self, name)),
            f"{name} is {what} with their security key", logout=False)

    def job_done(self, job: str, result: Any) -> None:
        self.show()
        assert self.view is not None
        self.banner.info("\n".join([*result, self.view.sentence]))

    def job_failed(self, job: str) -> None:
        self.show()

    def action_go_on(self) -> None:
        if self.app.busy or self.view is None:  # type: ignore[attr-defined]
            return
        if self.stage == flows.ENROL:
            self.app.session.witnesses_enrolled = True  # type: ignore[attr-defined]
            self.app.advance()  # type: ignore[attr-defined]
        elif self.stage == flows.SEAL and self.view.met:
            self.app.advance()  # type: ignore[attr-defined]
        else:
            self.banner.error(self.view.sentence)

    def action_publish(self) -> None:
        if self.app.busy or self.stage != flows.PUBLISH:  # type: ignore[attr-defined]
            return
        op = self.app.operator  # type: ignore[attr-defined]
        published: list[bool] = []
        if not self.attempt(lambda: published.append(flows.confirm_publish(self.c, op))):
            return
        if published[0]:
            self.app.advance()  # type: ignore[attr-defined]
        else:
            self.banner.error(flows.gate_sentence(self.c, flows.PUBLISH))
