"""Provisioning a keyholder's YubiKey at keygen (``ceremony keygen --provision``), as a modal.

It only collects: the serial typed from the key's case (the reset goes ahead only on
an exact match, checked by ``hsm.yubikey.provision``), the new PIN and the new PUK,
each typed twice in masked fields that never copy. The answer goes to the keygen
screen, which hands it to :mod:`ceremony.flows`; nothing typed here is kept after.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from ceremony.tui.screens.pin import PinInput

FIELDS = ("serial", "pin", "pin2", "puk", "puk2")


class ProvisionScreen(ModalScreen[tuple[str, str, str] | None]):
    """Answers ``(typed serial, new PIN, new PUK)`` once both entries of each agree; or None."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    ProvisionScreen { align: center middle; }
    #provision-box { width: 76; height: auto; max-height: 100%; border: heavy $warning;
                     padding: 0 1; }
    #problem { color: $error; }
    """

    def __init__(self, keyholder: str, serial: str, algorithm: str, touch: str) -> None:
        super().__init__()
        self.keyholder, self.serial, self.algorithm, self.touch = keyholder, serial, algorithm, touch

    def compose(self) -> ComposeResult:
        t = Text(f"Provision {self.keyholder}'s YubiKey {self.serial}\n", style="bold")
        t += Text("This RESETS its PIV application: every PIV key on it is destroyed. Then a "
                  f"new {self.algorithm} key is made on the device in slot 9c (PIN always, "
                  f"touch {self.touch}, as the plan says) and its attestation is checked.",
                  style="bold red")
        with Vertical(id="provision-box"):
            yield Static(t)
            yield Input(id="serial", placeholder="type the serial printed on the YubiKey")
            yield PinInput(password=True, id="pin", placeholder="new PIN, 6-8 characters (hidden)")
            yield PinInput(password=True, id="pin2", placeholder="new PIN again (hidden)")
            yield PinInput(password=True, id="puk", placeholder="new PUK, 6-8 characters (hidden)")
            yield PinInput(password=True, id="puk2", placeholder="new PUK again (hidden)")
            yield Static("", id="problem")
            yield Static(Text("enter: next field / provision   escape: cancel", style="dim"))

    def on_mount(self) -> None:
        self.query_one("#serial", Input).focus()

    def _field(self, name: str) -> Input:
        return self.query_one(f"#{name}", Input)

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        event.stop()
        name = event.input.id or ""
        if name != FIELDS[-1]:
            self._field(FIELDS[FIELDS.index(name) + 1]).focus()
            return
        serial = self._field("serial").value.strip()
        values = {n: self._field(n).value for n in FIELDS[1:]}
        problem = None
        if not serial:
            problem, again = "Type the serial printed on the YubiKey.", "serial"
        elif values["pin"] != values["pin2"]:
            problem, again = "The two PIN entries differ; type them again.", "pin"
        elif values["puk"] != values["puk2"]:
            problem, again = "The two PUK entries differ; type them again.", "puk"
        if problem is not None:
            for n in (again, f"{again}2") if again != "serial" else ():
                self._field(n).value = ""
            self.query_one("#problem", Static).update(Text(problem, style="bold red"))
            self._field(again).focus()
            return
        self._clear()
        self.dismiss((serial, values["pin"], values["puk"]))

    def _clear(self) -> None:
        for n in FIELDS[1:]:
            self._field(n).value = ""

    def action_cancel(self) -> None:
        self._clear()
        self.dismiss(None)
