"""Masked PIN entry that shows the token and its PIN state before anything is spent.

The PIN lives only in the Input's value until Enter: then it is handed to the
waiting token call and the field is cleared. It is never logged or rendered
(the field shows bullets), never copied to the clipboard, and a refused PIN is
never retried by the tool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

if TYPE_CHECKING:
    from hsm.pkcs11 import TokenInfo

STATE_WORDS = {
    "ok": "ok: no failed attempts reported",
    "count low": "LOW: earlier attempts failed; type carefully",
    "final try": "FINAL TRY: the tool will not log in",
    "locked": "LOCKED",
    "not initialized": "not initialised",
}


class PinInput(Input):
    """A password Input that never copies: Input's copy/cut write the selection to the
    terminal clipboard (OSC 52), which would carry a PIN out of the field."""

    def action_copy(self) -> None:
        self.app.notify("Copying a PIN is disabled.", severity="warning")

    def action_cut(self) -> None:
        self.app.notify("Copying a PIN is disabled.", severity="warning")


class PinScreen(ModalScreen[str | None]):
    """Asks one keyholder for one token's PIN."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    PinScreen { align: center middle; }
    #pin-box { width: 64; height: auto; border: heavy $accent; padding: 0 1; }
    #pin { margin: 1 0 0 0; }
    """

    def __init__(self, info: TokenInfo) -> None:
        super().__init__()
        self.info = info

    def compose(self) -> ComposeResult:
        info = self.info
        state = info.pin_state
        t = Text("PIN for ", style="bold") + Text(info.describe(), style="bold")
        t += Text(f"\nPIN state: {STATE_WORDS.get(state, state)}")
        left = info.pin_attempts_left  # tokens that can tell (YubiKey PIV)
        if left is not None:
            t += Text(f"\nAttempts left before the PIN locks: {left}",
                      style="bold red" if left <= 1 else "bold")
        t += Text("\nA refused PIN stops this step; the tool never tries again.", style="dim")
        with Vertical(id="pin-box"):
            yield Static(t)
            yield PinInput(password=True, id="pin", placeholder="PIN (hidden)")
            yield Static(Text("enter: submit   escape: cancel", style="dim"))

    def on_mount(self) -> None:
        self.query_one("#pin", Input).focus()

    @on(Input.Submitted, "#pin")
    def submit(self, event: Input.Submitted) -> None:
        field = self.query_one("#pin", Input)
        value = field.value
        field.value = ""
        event.stop()
        self.dismiss(value or None)

    def action_cancel(self) -> None:
        self.query_one("#pin", Input).value = ""
        self.dismiss(None)
