"""The step bar: where the ceremony is, in one line that fits 80 columns."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ceremony.tui.flow import STEPS, Step

REHEARSAL_MARK = " (REHEARSAL)"  # how the app's title marks a rehearsal


class StepBar(Static):
    """``Plan > Preflight > Keys > ...`` with the current step highlighted."""

    DEFAULT_CSS = """
    StepBar { height: 1; background: $panel; padding: 0 1; }
    """

    def __init__(self, current: Step, title: str = "", **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.current = current
        self.title = title

    def render(self) -> Text:
        t = Text(no_wrap=True, overflow="ellipsis")
        title = self.title
        if title.endswith(REHEARSAL_MARK):  # first, so a narrow terminal never cuts it off
            t.append("REHEARSAL", style="bold reverse")
            t.append(" ")
            title = title[: -len(REHEARSAL_MARK)]
        idx = STEPS.index(self.current)
        for i, step in enumerate(STEPS[:-1]):
            if i:
                t.append(" > ", style="dim")
            style = "bold reverse" if step is self.current else ("" if i < idx else "dim")
            t.append(step.value, style=style)
        if title:
            t.append("  " + title, style="bold")
        return t
