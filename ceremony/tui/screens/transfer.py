"""Choosing a transport and a path: where an export goes, where an import comes from.

One modal for every crossing of the air gap: pick how (up/down, enter), then
type or correct the path (prefilled: a removable drive when one is mounted, or
a fresh folder under the workspace's ``out/``) and press enter. It only
collects the answer; the screen that opened it calls :mod:`ceremony.flows`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option


@dataclass(frozen=True)
class Choice:
    """One way across: its id (handed back), what the room reads, and the path it starts with.

    ``path=None`` needs no path (e.g. QR codes on this screen): choosing it answers at once.
    """

    id: str
    label: str
    path: str | None = ""
    placeholder: str = "a folder"


class TransferScreen(ModalScreen[tuple[str, str] | None]):
    """Answers ``(choice id, typed path)``, or None on escape."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    TransferScreen { align: center middle; }
    #transfer-box { width: 76; height: auto; max-height: 100%; border: heavy $accent;
                    padding: 0 1; }
    #how { height: auto; max-height: 6; margin: 1 0 0 0; }
    #where { margin: 1 0 0 0; }
    #problem { color: $error; }
    """

    def __init__(self, question: str, choices: Sequence[Choice],
                 notes: Sequence[str] = ()) -> None:
        super().__init__()
        self.question = question
        self.choices = list(choices)
        self.notes = list(notes)
        self.choice = self.choices[0]

    def compose(self) -> ComposeResult:
        with Vertical(id="transfer-box"):
            yield Static(Text(self.question, style="bold"))
            if len(self.choices) > 1:
                yield OptionList(*[Option(c.label, id=c.id) for c in self.choices], id="how")
            for note in self.notes:
                yield Static(Text(note, style="dim"))
            yield Input(self.choice.path or "", placeholder=self.choice.placeholder, id="where")
            yield Static("", id="problem")
            yield Static(Text("up/down, enter: choose   then the path, enter: go   "
                              "escape: cancel", style="dim"), id="keys")

    def on_mount(self) -> None:
        if len(self.choices) > 1:
            how = self.query_one("#how", OptionList)
            how.highlighted = 0
            how.focus()
        else:
            self.query_one("#where", Input).focus()
        self._show_path()

    def _show_path(self) -> None:
        field = self.query_one("#where", Input)
        field.display = self.choice.path is not None

    @on(OptionList.OptionHighlighted, "#how")
    def highlighted(self, event: OptionList.OptionHighlighted) -> None:
        choice = next(c for c in self.choices if c.id == event.option.id)
        field = self.query_one("#where", Input)
        if field.value in ("", self.choice.path or ""):  # keep what the operator typed
            field.value = choice.path or ""
        field.placeholder = choice.placeholder
        self.choice = choice
        self._show_path()

    @on(OptionList.OptionSelected, "#how")
    def selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if self.choice.path is None:
            self.dismiss((self.choice.id, ""))
            return
        field = self.query_one("#where", Input)
        field.focus()
        field.cursor_position = len(field.value)

    @on(Input.Submitted, "#where")
    def submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value.strip()
        if not value:
            self.query_one("#problem", Static).update(f"Name {self.choice.placeholder} first.")
            return
        self.dismiss((self.choice.id, value))

    def action_cancel(self) -> None:
        self.dismiss(None)
