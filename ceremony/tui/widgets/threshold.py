"""Threshold progress by name: the old root's and the new root's, side by side."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ceremony.formats.base import RoleVerdict, ThresholdStatus


def verdict_text(v: RoleVerdict) -> Text:
    """``root v2  [##-] 2/3  + alice + bob - carol`` with a plain-words line under it."""
    t = Text()
    bar = "#" * min(len(v.signed), v.threshold) + "-" * v.missing
    t.append(f"{v.label:<20}", style="bold")
    t.append(f" [{bar}] {len(v.signed)}/{v.threshold}",
             style="bold green" if v.met else "bold yellow")
    t.append("  met" if v.met else f"  {v.missing} more needed")
    t.append("\n   ")
    for name in v.signed:
        t.append(f" + {name}", style="green")
    for name in v.unsigned:
        t.append(f" - {name}", style="dim")
    return t


class ThresholdView(Static):
    """Renders a :class:`ThresholdStatus` (previous root first, as the CLI does)."""

    DEFAULT_CSS = "ThresholdView { height: auto; margin: 1 0; }"

    def show(self, status: ThresholdStatus) -> None:
        parts = [verdict_text(v) for v in (status.old, status.new) if v is not None]
        self.update(Text("\n").join(parts))
