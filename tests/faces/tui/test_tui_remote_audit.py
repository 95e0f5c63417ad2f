"""The keyholder elsewhere (``ceremony tui --draft FILE --keyholder NAME``) and the auditor's
view (``ceremony tui WS --audit``, and ``a`` on the done screen), against real SoftHSM tokens."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from ceremony import record
from ceremony.engine import Ceremony
from ceremony.errors import EXIT_STATE
from ceremony.fingerprint import digest_words
from ceremony.tui.app import make_app
from ceremony.tui.flow import DRAFT_APPROVED
from ceremony.tui.screens.audit import AuditScreen
from ceremony.tui.screens.confirm import ConfirmScreen
from ceremony.tui.screens.done import DoneScreen
from ceremony.tui.screens.plan import PlanScreen
from ceremony.tui.screens.remote import RemoteSignScreen
from ceremony.tui.screens.transfer import TransferScreen
from tests.conftest import PIN, SoftHsm
from tests.faces.tui.test_tui import SIZE, Driver, app_for, new_ceremony, run_async, stage
from tests.support.helpers import cli


def drafted(hsm: SoftHsm, tmp: Path) -> tuple[Ceremony, Path]:
    """A 2-of-3 ceremony with every key, the draft approved, and it sent out as a file."""
    c = new_ceremony(hsm, tmp)
    stage(hsm, c, "review")
    record.confirm(c, DRAFT_APPROVED, "approved", c.state.draft_digest)
    draft = tmp / "travel" / "1.root.draft.json"
    draft.parent.mkdir()
    assert cli("export-draft", c.ws.root, "--out", draft).code == 0
    hsm.module.close()
    return c, draft


@run_async
async def test_remote_keyholder_signs_a_travelling_draft_in_the_tui(tmp_path: Path,
                                                                    hsm: SoftHsm) -> None:
    c, draft = drafted(hsm, tmp_path)
    sig = tmp_path / "travel" / "bob.sig.json"
    stick = tmp_path / "stick"
    stick.mkdir()
    app = make_app(tmp_path / "unused", draft=draft, keyholder="bob", signature_out=sig)
    async with app.run_test(size=SIZE) as pilot:
        d = Driver(app, pilot)
        screen = await d.at(RemoteSignScreen)
        await d.until(lambda: screen.draft is not None, "the draft read")
        shown = str(screen.query_one("#draft").render())
        assert "Root v1 of" in shown
        assert "digest words: not confirmed yet - type the words read aloud to you below" in shown
        assert digest_words(c.state.draft_digest) not in shown  # typed, not copied
        assert ("trusted root: none: root v1 starts a new repository, so the digest words are "
                "the only anchor") in shown
        assert "new repository: root: 2 of 3 (alice, bob, carol)" in shown
        assert "Expiries (absolute, UTC)" in shown and "root v1 expires 20" in shown
        assert " UTC" in shown and "on rehearsal-bob" in shown
        words = screen.query_one("#words", Input)
        assert words.has_focus
        await d.press("enter")  # no words yet: nothing to compare, nothing signed
        assert "confirm the draft's digest: give the digest words the ceremony read aloud" \
            in d.banner()
        assert isinstance(app.screen, RemoteSignScreen) and screen.confirmed is None
        # Wrong words (one word misheard): refused, the field kept for correction.
        room = digest_words(c.state.draft_digest).split()
        wrong = list(room)
        wrong[2] = "aardvark" if room[2] != "aardvark" else "absurd"
        words.value = " ".join(wrong)
        await d.press("enter")
        assert (f"the digest words do not match this draft: word 3 is {room[2]!r} here, "
                f"{wrong[2]!r} as read aloud") in d.banner()
        assert isinstance(app.screen, RemoteSignScreen) and screen.confirmed is None
        words.value = " ".join(room)
        await d.press("enter")
        await d.at(ConfirmScreen)
        assert digest_words(c.state.draft_digest) in str(screen.query_one("#draft").render())
        await d.press(*"alice", "enter")  # not their name: nothing is signed
        assert "That is not 'bob'. Nothing was done." in d.text()
        await d.press("escape")
        await d.at(RemoteSignScreen)
        assert not sig.exists()
        await d.press("enter")
        await d.at(ConfirmScreen)
        await d.press(*"bob", "enter")
        await d.pin(typed=True)
        await d.until(lambda: not app.busy and screen.written is not None, "the signature")
        assert "bob signed root v1" in d.banner()
        assert f"Signature written to {sig}" in str(screen.query_one("#draft").render())
        # Carry it back on a USB stick, as a signature bundle.
        await d.press("s")
        modal = await d.at(TransferScreen)
        modal.query_one("#where").value = str(stick)
        await d.press("enter", "enter")  # USB stick (highlighted), then the path
        await d.until(lambda: not app.busy and bool(screen.sent), "the bundle")
        assert "signature bundle written to" in d.banner()
        assert not any(PIN in s for s in d.shots)
    assert sig.is_file() and PIN.encode() not in sig.read_bytes()
    # The administrator's side: the file is accepted and the threshold moves.
    assert Ceremony.open(c.ws.root).status().lines() != []
    before = Ceremony.open(c.ws.root).state.signers()
    r = cli("import-signature", c.ws.root, sig)
    assert r.code == 0, r.err
    assert "imported 1 signature(s)" in r.out and "1/2" in r.out
    assert before == [] and Ceremony.open(c.ws.root).state.signers() == ["bob"]
    # ... and so is the bundle on the stick (after the file: a duplicate is refused).
    r = cli("import", c.ws.root, "--usb", stick)
    assert r.code == EXIT_STATE, r.err
    assert "bob has already signed root v" in r.err and "; a duplicate is not added" in r.err, r.err


@run_async
async def test_remote_signing_refuses_a_keyholder_without_a_key(tmp_path: Path,
                                                                hsm: SoftHsm) -> None:
    _c, draft = drafted(hsm, tmp_path)
    app = make_app(tmp_path / "unused", draft=draft, keyholder="mallory")
    async with app.run_test(size=SIZE) as pilot:
        d = Driver(app, pilot)
        await d.at(RemoteSignScreen)
        await d.until(lambda: "mallory holds no key in root v1" in d.banner(), "the refusal")
        await d.press("enter")  # nothing to sign
        assert isinstance(app.screen, RemoteSignScreen)
    assert list((tmp_path / "travel").iterdir()) == [draft]


@run_async
async def test_auditor_view_from_the_done_screen_lists_the_seal_and_the_chain(
        tmp_path: Path, hsm: SoftHsm) -> None:
    c = new_ceremony(hsm, tmp_path)
    stage(hsm, c, "done")
    hsm.module.close()
    app = app_for(c.ws.root, tmp_path)
    async with app.run_test(size=(100, 60)) as pilot:
        d = Driver(app, pilot)
        await d.at(PlanScreen)
        await d.press("enter")
        await d.at(DoneScreen)
        await d.press("a")
        screen = await d.at(AuditScreen)
        await d.until(lambda: screen.result is not None, "the audit")
        shown = str(screen.query_one("#audit").render())
        assert screen.result.ok, shown
        assert "Record and chain verified" in shown
        assert "ok   journal chain intact" in shown
        assert "ok   seal verified: journal line" in shown
        assert "record verified:" in shown
        assert f"{c.ws.record / 'report.html'}" in shown
        assert "chain verified: newest root is v1, expires" in shown
        await d.press("escape")
        await d.at(DoneScreen)
    assert (c.ws.record / "report.html").is_file()


@run_async
async def test_auditor_view_names_a_tampered_journal_line(tmp_path: Path, hsm: SoftHsm) -> None:
    c = new_ceremony(hsm, tmp_path)
    stage(hsm, c, "done")
    hsm.module.close()
    lines = c.ws.journal.read_text().splitlines(keepends=True)
    n = next(i for i, line in enumerate(lines) if '"bob"' in line)  # bob's keygen intent
    lines[n] = lines[n].replace('"bob"', '"mallory"', 1)
    c.ws.journal.write_text("".join(lines))
    app = make_app(c.ws.root, audit=True)
    async with app.run_test(size=(100, 40)) as pilot:
        d = Driver(app, pilot)
        screen = await d.at(AuditScreen)
        await d.until(lambda: screen.result is not None, "the audit")
        shown = str(screen.query_one("#audit").render())
        assert "VERIFICATION FAILED" in shown
        assert f"FAIL journal line {n + 1} was edited after it was written" in shown, shown
        assert "not written: the journal is broken" in shown
        assert f"journal line {n + 1}" in d.banner()
