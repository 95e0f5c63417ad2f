"""Confirmation modals: a yes/no question, or a word to type for anything irreversible."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class ConfirmScreen(ModalScreen[bool]):
    """With ``typed``, the operator must type that word exactly; else y / n, and no by default."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    #confirm-box { width: 70; height: auto; border: heavy $warning; padding: 0 1; }
    """

    def __init__(self, question: str, typed: str | None = None) -> None:
        super().__init__()
        self.question = question
        self.typed = typed
        self.quitting = False  # the app's Ctrl-C question (a second Ctrl-C answers it)

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static(Text(self.question))
            if self.typed:
                yield Static(Text.assemble("Type ", (self.typed, "bold"), " and press enter "
                                           "(escape cancels):"))
                yield Input(id="typed", placeholder=self.typed)
                yield Static("", id="mismatch")
            else:
                yield Static(Text("y: yes    n / enter / escape: no (the default)", style="dim"))

    def on_mount(self) -> None:
        if self.typed:
            self.query_one("#typed", Input).focus()

    def on_key(self, event: events.Key) -> None:
        if self.typed:
            return
        key = event.key
        if key not in ("y", "n", "enter"):
            return
        # The answer is this modal's: the key must not go on to the screen below (its enter
        # would open the same question again, or move the ceremony on).
        event.stop()
        event.prevent_default()
        self.dismiss(key == "y")  # the default is no: a stray enter never approves

    @on(Input.Submitted, "#typed")
    def check(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip() == self.typed:
            self.dismiss(True)
        else:
            self.query_one("#mismatch", Static).update(
                Text(f"That is not '{self.typed}'. Nothing was done.", style="bold red"))
            self.query_one("#typed", Input).value = ""

    def action_cancel(self) -> None:
        self.dismiss(False)
