"""Draft review: the new root in words, what changes, expiries in absolute UTC, the JSON diff.

The room approves the draft by its digest words before anyone signs; the
approval is journaled as a confirmation tied to that digest.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import Static

from ceremony import record
from ceremony.fingerprint import digest_words
from ceremony.session import Session
from ceremony.tui.flow import DRAFT_APPROVED, Step
from ceremony.tui.screens.base import StepScreen
from ceremony.tui.screens.confirm import ConfirmScreen


def draft_text(c: Session) -> Text:
    """The draft as the room reviews it (engine and formats do the describing)."""
    from ceremony.status import ceremony_status  # lazy: ceremony.status (~2 ms), which the TUI loads nowhere else
    md = c.draft_metadata()
    t = Text()
    t.append(f"Draft root v{md.signed.version}\n", style="bold")
    t.append("digest words: ")
    t.append(digest_words(str(c.state.draft_digest)) + "\n", style="bold")
    t.append(f"digest {c.state.draft_digest}\n\n", style="dim")
    content, changes = c.describe(md), c.changes(md)  # the format's own words
    t.append("Content\n", style="bold underline")
    t.append("\n".join(content) + "\n\n")
    t.append("Changes\n", style="bold underline")
    t.append("\n".join("  " + d for d in changes) + "\n\n")
    t.append("Expiries (absolute, UTC)\n", style="bold underline")
    for e in ceremony_status(c).expiries:
        t.append("  " + e.describe() + "\n")
    for r in c.plan.online:
        t.append(f"  {r.name}: {r.expires.days}d after each online signing (plan)\n", style="dim")
    return t


def diff_text(c: Session) -> Text:
    """Unified diff of the previous root's signed part against the draft's."""
    md = c.draft_metadata()
    prev = c.previous_root()
    to_dict = getattr(md.signed, "to_dict", None)  # a JSON view, where the format has one
    if to_dict is None:
        return Text("(no JSON diff for this format)", style="dim")
    new = json.dumps(to_dict(), indent=1, sort_keys=True).splitlines()
    old_dict = getattr(prev.signed, "to_dict", None) if prev else None
    old = json.dumps(old_dict(), indent=1, sort_keys=True).splitlines() if old_dict else []
    t = Text()
    t.append("Diff of the signed content" + (f" (v{prev.signed.version} -> draft)" if prev else
                                            " (new repository: all added)") + "\n",
             style="bold underline")
    for line in difflib.unified_diff(old, new, "previous", "draft", n=2, lineterm=""):
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
        t.append(line + "\n", style=style)
    return t


class DraftScreen(StepScreen):
    """Drafts the root (enter), then asks the room to approve it (enter again)."""

    STEP = Step.DRAFT
    BINDINGS: ClassVar[list[BindingType]] = [
        *StepScreen.BINDINGS, Binding("enter", "go", "Draft / approve")]

    def body(self) -> Iterable[Widget]:
        yield Static(id="draft")
        yield Static(id="diff")

    def on_mount(self) -> None:
        self.show()

    def show(self) -> None:
        c = self.c
        if c.state.draft is None:
            self.query_one("#draft", Static).update(Text(
                "Every root key is ready.\n\nPress enter to draft the next root version from "
                "the plan and the keys. Once drafted, its content is fixed for this workspace."))
            self.query_one("#diff", Static).update("")
            return
        self.query_one("#draft", Static).update(
            draft_text(c) + Text("\nenter: approve this draft for signing (after the room has "
                                 "compared the digest words); scroll for the diff.\n",
                                 style="bold"))
        self.query_one("#diff", Static).update(diff_text(c))

    def action_go(self) -> None:
        c = self.c
        if c.state.draft is None:
            if self.attempt(c.draft):
                self.show()
            return
        words = digest_words(c.state.draft_digest)  # all of them, as read aloud
        question = (f"Approve root v{c.state.draft['version']} for signing?\n"
                    f"Digest words: {words}\nThe room has compared them with the screen.")
        self.app.push_screen(ConfirmScreen(question), self.approved)

    def approved(self, yes: bool | None) -> None:
        if not yes:
            return
        c = self.c
        text = f"root v{c.state.draft['version']} approved for signing"
        op = self.app.operator  # type: ignore[attr-defined]
        if self.attempt(lambda: record.confirm(c, DRAFT_APPROVED, text, c.state.draft_digest, op)):
            self.app.advance()  # type: ignore[attr-defined]
