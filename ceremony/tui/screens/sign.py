"""Signing rounds: old and new threshold progress by name, then a typed "publish"."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ceremony import record
from ceremony.fingerprint import fingerprint_words
from ceremony.preflight import require_preflight
from ceremony.tui.flow import Step, signing_candidates
from ceremony.tui.screens.base import StepScreen
from ceremony.tui.screens.confirm import ConfirmScreen
from ceremony.tui.widgets.threshold import ThresholdView

PUBLISHED = "publish-confirmed"


class SignScreen(StepScreen):
    """Pick who signs next; each signature is verified and journaled by the engine."""

    STEP = Step.SIGN
    BINDINGS: ClassVar[list[BindingType]] = [
        *StepScreen.BINDINGS, Binding("p", "publish", "Publish")]

    def body(self) -> Iterable[Widget]:
        yield Static(id="head")
        yield ThresholdView(id="thresholds")
        yield Static(id="prompt")
        yield OptionList(id="who")
        yield Static(id="hint", classes="hint")

    def on_mount(self) -> None:
        self.show()

    def show(self) -> None:
        c = self.c
        st = c.status()
        self.query_one("#head", Static).update(Text.assemble(
            (f"Signing root v{st.version}", "bold"), "   digest words: ",
            (fingerprint_words(c.state.draft_digest, 4), "bold")))
        self.query_one(ThresholdView).show(st)
        who = self.query_one("#who", OptionList)
        who.clear_options()
        names = signing_candidates(c)
        for name in names:
            who.add_option(Option(f"{name:<10} insert {c.token_for(name)}", id=name))
        prompt = self.query_one("#prompt", Static)
        hint = self.query_one("#hint", Static)
        if st.verified:
            prompt.update(Text("Every threshold is met.", style="bold green"))
            hint.update("p: publish (you will type 'publish')" +
                        ("   or choose someone to add a signature" if names else ""))
        else:
            prompt.update(Text("Who signs next? (up/down, enter)", style="bold"))
            hint.update("Publishing is possible once every threshold is met.")
        who.display = bool(names)
        if names:
            who.highlighted = 0
            who.focus()

    @on(OptionList.OptionSelected, "#who")
    def sign(self, event: OptionList.OptionSelected) -> None:
        name = event.option.id
        if name is None or self.app.busy:  # type: ignore[attr-defined]
            return
        app = self.app

        def sign() -> Any:
            require_preflight(self.c)
            return self.c.sign(name, app.module(), app.pin)  # type: ignore[attr-defined]

        self.token_job("sign", sign, f"{name} is signing root v{self.c.state.draft['version']}")

    def job_done(self, job: str, result: Any) -> None:
        self.show()
        self.banner.info(f"{result.keyholder} signed with {result.token}. Remove the token.")

    def job_failed(self, job: str) -> None:
        self.show()

    def action_publish(self) -> None:
        c = self.c
        if self.app.busy:  # type: ignore[attr-defined]
            return
        if not c.status().verified:
            self.banner.error("not every threshold is met yet: " + "; ".join(c.status().lines()))
            return
        v = c.state.draft["version"]
        self.app.push_screen(ConfirmScreen(
            f"Publish root v{v}? This writes metadata/{v}.root.json and metadata/root.json; "
            "a published version is never changed.", typed="publish"), self.publish)

    def publish(self, yes: bool | None) -> None:
        if not yes:
            return
        c = self.c
        op = self.app.operator  # type: ignore[attr-defined]
        v = c.state.draft["version"]

        def go() -> None:
            record.confirm(c, PUBLISHED, f"publish root v{v} confirmed by typing 'publish'",
                           c.state.draft_digest, op)
            c.publish()

        if self.attempt(go):
            self.app.advance()  # type: ignore[attr-defined]
