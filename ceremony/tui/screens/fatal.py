"""The screens before a ceremony is open: opening, and failing to open (broken journal, ...)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static


class FatalScreen(Screen[None]):
    """The operator sentence and hint; the only way on is to quit."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "app.quit_safely", "Quit"), Binding("enter", "app.quit_safely", "Quit")]
    DEFAULT_CSS = "#fatal { padding: 1 2; border: heavy $error; height: auto; }"

    def __init__(self, message: str, hint: str | None) -> None:
        super().__init__()
        self.message = message
        self.hint = hint

    def compose(self) -> ComposeResult:
        t = Text("The ceremony cannot continue.\n\n", style="bold")
        t += Text("error: ", style="bold") + Text(self.message)
        if self.hint:
            t += Text("\nhint: ", style="bold") + Text(self.hint)
        t += Text("\n\nNothing was changed. Press q to quit.")
        with Vertical():
            yield Static(t, id="fatal")
        yield Footer()


class OpeningScreen(Screen[None]):
    """Shown while the workspace is opened and its journal checked (q still quits)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "app.quit_safely", "Quit")]

    def __init__(self, workspace: str) -> None:
        super().__init__()
        self.workspace = workspace

    def compose(self) -> ComposeResult:
        yield Static(Text(f"Opening {self.workspace} and checking its journal...", style="bold"))
        yield Footer()
