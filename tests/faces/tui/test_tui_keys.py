"""Keys in the TUI: letters typed into a field stay there, Ctrl-C asks before quitting, the
draft approval shows every digest word and defaults to no, and the rehearsal mark holds at 80x24."""

from __future__ import annotations

import string
from pathlib import Path

from textual.widgets import Input

from ceremony.engine import Ceremony
from ceremony.fingerprint import digest_words
from ceremony.tui.screens.compromise import CompromiseScreen
from ceremony.tui.screens.confirm import ConfirmScreen
from ceremony.tui.screens.draft import DraftScreen
from ceremony.tui.screens.export import ExportScreen
from ceremony.tui.screens.plan import PlanScreen
from ceremony.tui.screens.transfer import TransferScreen
from tests.conftest import SoftHsm
from tests.faces.tui.test_tui import SIZE, Driver, app_for, new_ceremony, run_async, stage

LETTERS = string.ascii_lowercase  # every single-letter shortcut of every screen is in here


@run_async
async def test_letters_typed_into_a_text_field_never_fire_shortcuts(tmp_path: Path,
                                                                    hsm: SoftHsm) -> None:
    c = new_ceremony(hsm, tmp_path)
    stage(hsm, c, "export")
    hsm.module.close()
    journal = (c.ws.journal).read_bytes()
    app = app_for(c.ws.root, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        d = Driver(app, pilot)
        await d.preflight()
        export = await d.at(ExportScreen)
        how = export.query_one("#how")
        how.highlighted = [o.id for o in how.options].index("usb")
        await d.press("enter")
        modal = await d.at(TransferScreen)
        field = modal.query_one("#where", Input)
        await d.until(lambda: field.has_focus, "the path field")
        field.value = ""
        await d.press(*LETTERS)  # e (emergency), c (seal), q (quit), ... all typed, none fired
        await pilot.pause()
        assert app.screen is modal and field.value == LETTERS
        await d.press("escape")
        await d.at(ExportScreen)

        # The emergency screen's folder field: w (write the plan) is a letter like any other.
        await d.press("e")
        screen = await d.at(CompromiseScreen)
        out = screen.query_one("#out", Input)
        out.focus()
        await d.until(lambda: out.has_focus, "the folder field")
        before = out.value
        await d.press(*LETTERS)
        await pilot.pause()
        assert app.screen is screen and out.value.endswith(LETTERS), (before, out.value)
        assert not any(isinstance(s, ConfirmScreen) for s in app.screen_stack)
    assert c.ws.journal.read_bytes().startswith(journal)
    assert not (c.ws.out / "emergency").exists()


@run_async
async def test_ctrl_c_asks_and_quits(tmp_path: Path, hsm: SoftHsm) -> None:
    c = new_ceremony(hsm, tmp_path)
    app = app_for(c.ws.root, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        d = Driver(app, pilot)
        await d.at(PlanScreen)
        await d.press("ctrl+c")
        question = await d.at(ConfirmScreen)
        assert "Quit the ceremony tool?" in d.text()
        await d.press("enter")  # the default is no
        await d.at(PlanScreen)
        assert app.is_running
        await d.press("ctrl+c")
        await d.at(ConfirmScreen)
        await d.press("y")
        await d.until(lambda: not app.is_running, "the app to quit")
    assert question.quitting

    app = app_for(c.ws.root, tmp_path / "again")
    async with app.run_test(size=SIZE) as pilot:  # Ctrl-C twice quits too
        d = Driver(app, pilot)
        await d.at(PlanScreen)
        await d.press("ctrl+c")
        await d.at(ConfirmScreen)
        await d.press("ctrl+c")
        await d.until(lambda: not app.is_running, "the app to quit")


@run_async
async def test_draft_approval_shows_every_word_and_defaults_to_no(tmp_path: Path,
                                                                 hsm: SoftHsm) -> None:
    c = new_ceremony(hsm, tmp_path)
    stage(hsm, c, "review")
    hsm.module.close()
    words = digest_words(c.state.draft_digest)
    assert len(words.replace("/", " ").split()) == 32  # the whole sha256, as read aloud
    app = app_for(c.ws.root, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        d = Driver(app, pilot)
        await d.preflight()
        await d.at(DraftScreen)
        await d.press("enter")
        modal = await d.at(ConfirmScreen)
        assert f"Digest words: {words}\n" in modal.question
        shown = " ".join(d.text().split())
        assert "y: yes n / enter / escape: no (the default)" in shown
        for word in words.replace("/", " ").split():  # every word on screen (the box wraps)
            assert word in shown
        await d.press("enter")  # a stray enter never approves
        await d.at(DraftScreen)
    events = Ceremony.open(c.ws.root).journal.events
    assert not any(e.type == "confirmed" for e in events)


@run_async
async def test_rehearsal_mark_is_whole_at_80_columns(tmp_path: Path, hsm: SoftHsm) -> None:
    c = new_ceremony(hsm, tmp_path)
    app = app_for(c.ws.root, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        d = Driver(app, pilot)
        await d.preflight()
        await d.at(type(app.screen))
        top = d.text().splitlines()[0]
        assert top.strip().startswith("REHEARSAL Plan > Preflight > Keys"), top
