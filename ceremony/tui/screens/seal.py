"""The seal: each keyholder who signed the root signs the journal head with the same token."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ceremony import flows, seal
from ceremony.errors import CeremonyError
from ceremony.fingerprint import fingerprint_words
from ceremony.formats import tuf as tuf_format
from ceremony.steps import seal as steps_seal
from ceremony.tui.flow import Step, seal_started
from ceremony.tui.screens.base import StepScreen
from ceremony.tui.screens.export import ExportScreen


class SealScreen(StepScreen):
    """Pick the next sealer; when all have sealed, the record is written."""

    STEP = Step.SEAL
    BINDINGS: ClassVar[list[BindingType]] = [
        *StepScreen.BINDINGS, Binding("x", "export", "Export more"),
        Binding("e", "emergency", "Emergency")]

    def body(self) -> Iterable[Widget]:
        yield Static(id="status")
        yield OptionList(id="who")
        yield Static(id="hint", classes="hint")

    def on_mount(self) -> None:
        self.show()

    def show(self) -> None:
        try:
            self._show()
        except CeremonyError as e:
            self.query_one("#who", OptionList).display = False
            self.query_one("#status", Static).update(Text("The record cannot be sealed here.",
                                                          style="bold"))
            self.banner.error(e.message, e.hint)

    def _show(self) -> None:
        c = self.c
        st = seal.seal_status(c.ws, c.journal.events)
        t = Text("Seal the record\n", style="bold")
        t.append("Each keyholder who signed the root now signs the journal head, so an auditor "
                 "can later prove the record is the one made here.\n\n")
        t.append(f"journal line {st.seq}, head words: ")
        t.append(fingerprint_words(st.head, 4) + "\n", style="bold")
        t.append(st.describe() + "\n")
        self.query_one("#status", Static).update(t)
        hints = {s.keyholder: tuf_format.token_hint(s.key)
                 for s in seal.sealers(c.ws, c.journal.events)}
        who = self.query_one("#who", OptionList)
        who.clear_options()
        for name in st.waiting:
            who.add_option(Option(f"{name:<10} insert {hints[name]}", id=name))
        who.display = bool(st.waiting)
        if st.waiting:
            who.highlighted = 0
            who.focus()
            self.query_one("#hint", Static).update(
                "up/down, enter: seal with this keyholder's token")
        else:
            self.finish()

    @on(OptionList.OptionSelected, "#who")
    def seal(self, event: OptionList.OptionSelected) -> None:
        name = event.option.id
        if name is None or self.app.busy:  # type: ignore[attr-defined]
            return
        app: Any = self.app
        c = self.c

        def sign_seal() -> Any:
            steps_seal.check_seal(c, name)  # refused without the token: before the module loads
            return flows.call_with_touch(steps_seal.seal_sign, c, name, app.module(), app.pin,
                                         on_touch=app.touch_callback(self, name))

        self.token_job("seal", sign_seal, f"{name} is sealing the record")

    def job_done(self, job: str, result: Any) -> None:
        self.show()

    def job_failed(self, job: str) -> None:
        self.show()

    def action_export(self) -> None:
        """Back to the export step, while no seal signature would be voided by it."""
        if self.app.busy:  # type: ignore[attr-defined]
            return
        if seal_started(self.c):
            self.banner.error("sealing has begun: an export now would be journaled after the "
                              "seal signatures and void them",
                              hint="finish the seal; export later with `ceremony export` from a "
                                   "copy of the workspace")
            return
        self.app.switch_screen(ExportScreen())

    def action_emergency(self) -> None:
        # lazy: the compromise screen and its textual widgets (~4 ms), on a declared compromise only
        from ceremony.tui.screens.compromise import CompromiseScreen
        self.app.push_screen(CompromiseScreen())

    def finish(self) -> None:
        if self.attempt(lambda: steps_seal.seal_finish(self.c)):
            self.app.advance()  # type: ignore[attr-defined]
