"""The TUI's crossings of the air gap and its emergency flow, against real SoftHSM tokens.

Exports are checked the way the other side would check them (``ceremony
import``, the QR decoder reading the PNGs or the frames drawn on screen);
imports by the thresholds they move; the emergency plan by its lines.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from PIL import Image
from textual.widgets import Input, SelectionList

from ceremony import record, record_check
from ceremony.detached import sign_draft
from ceremony.engine import Ceremony
from ceremony.transfer import workspace_bundle
from ceremony.transport import Bundle, Collector, export_qr, export_usb, import_qr, import_usb
from ceremony.transport.qr import message_bundle
from ceremony.transport.scan import read_qr_codes
from ceremony.tui.screens.compromise import CompromiseScreen
from ceremony.tui.screens.confirm import ConfirmScreen
from ceremony.tui.screens.done import DoneScreen
from ceremony.tui.screens.export import ExportScreen
from ceremony.tui.screens.plan import PlanScreen
from ceremony.tui.screens.qrshow import QrDisplayScreen
from ceremony.tui.screens.seal import SealScreen
from ceremony.tui.screens.sign import SignScreen
from ceremony.tui.screens.transfer import TransferScreen
from tests.conftest import SoftHsm
from tests.faces.tui.test_tui import SIZE, Driver, app_for, new_ceremony, run_async, stage
from tests.support.helpers import cli
from tests.support.machines import fake_machine

HALF = {"█": (1, 1), "▀": (1, 0), "▄": (0, 1), " ": (0, 0)}


def terminal_image(lines: list[str], scale: int = 4) -> Image.Image:
    """The half-block drawing as a picture, the way a camera pointed at the screen sees it."""
    width = len(lines[0])
    img = Image.new("L", (width, 2 * len(lines)), 255)
    px = img.load()
    for y, line in enumerate(lines):
        assert len(line) == width
        for x, ch in enumerate(line):
            top, bottom = HALF[ch]
            if top:
                px[x, 2 * y] = 0
            if bottom:
                px[x, 2 * y + 1] = 0
    return img.resize((width * scale, 2 * len(lines) * scale), Image.Resampling.NEAREST)


async def choose(d: Driver, option: str, where: str | None = None) -> None:
    """In the export menu or the transfer modal: highlight ``option``, enter, type ``where``."""
    screen = d.app.screen
    how = screen.query_one("#how")
    how.highlighted = [o.id for o in how.options].index(option)
    await d.press("enter")
    if where is None:
        return
    modal = await d.at(TransferScreen)
    field = modal.query_one("#where", Input)
    await d.until(lambda: field.has_focus, "the path field")
    field.value = where
    await d.press("enter")


# ---- export: USB, QR files, QR on screen -------------------------------------------------------


@run_async
async def test_export_qr_files_and_animated_codes_decode_to_the_bundle(tmp_path: Path,
                                                                       hsm: SoftHsm) -> None:
    c = new_ceremony(hsm, tmp_path)
    stage(hsm, c, "export")
    hsm.module.close()
    expected = workspace_bundle(c).files  # each export is its own bundle (time, journal head)
    app = app_for(c.ws.root, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        d = Driver(app, pilot)
        await d.preflight()
        await d.at(ExportScreen)
        assert "Carry it out of the air gap" in d.text()
        await choose(d, "qr", str(tmp_path / "frames"))
        await d.at(ExportScreen)
        assert "QR frame(s)" in d.banner() and "message words (read aloud)" in d.banner()
        on_screen = "".join(d.text().split())  # a long path wraps at 80 columns
        assert "qr" in d.text() and "".join(str(tmp_path / "frames").split()) in on_screen
        # The same folder again: refused, nothing written or journaled.
        await choose(d, "qr", str(tmp_path / "frames"))
        await d.at(ExportScreen)
        assert "already exists and is not an empty folder" in d.banner()
        # A stick that is not there: refused as a sentence.
        await choose(d, "usb", str(tmp_path / "no-such-stick"))
        await d.at(ExportScreen)
        assert "is not an existing folder" in d.banner() and "Traceback" not in d.text()

        # QR on this screen: at 80x24 the largest code that fits is drawn, never wrapped.
        await choose(d, "show")
        shown = await d.at(QrDisplayScreen)
        assert shown.lines and shown.qr is not None
        assert len(shown.lines[0]) <= SIZE[0] and len(shown.lines) <= SIZE[1] - 2
        collector = Collector()
        for _ in range(400):
            for payload in read_qr_codes(terminal_image(shown.lines)):
                collector.add(payload, shown.label)
            if collector.complete:
                break
            shown.show_next()
        drawn = message_bundle(collector.message())
        assert drawn.files == expected and drawn.manifest.kind == "signed-metadata"
        assert "frame" in d.text() and "escape: stop" in d.text()
        # A named size that would wrap at 80x24 is refused, with what it needs.
        await d.press("s")  # auto -> small (version 14: 77x39)
        await pilot.pause()
        assert shown.qr is None and shown.lines == []
        text = d.text()
        assert "The QR code is not drawn." in text
        assert "the terminal is 80x24 but a small QR code (version 14) needs 77x41" in text
        assert "it would wrap" in text
        await d.press("escape")
        await d.at(ExportScreen)
        await d.press("c")
        await d.at(SealScreen)
        await d.press("x")  # nobody has sealed yet: back to the export step is allowed
        await d.at(ExportScreen)
        await d.press("c")
        await d.at(SealScreen)

    exports = [e for e in Ceremony.open(c.ws.root).state.exports]
    assert [e["transport"] for e in exports] == ["qr", "qr-animated"]
    assert exports[1]["bundle_sha256"] == drawn.digest
    # The other side reads the PNG frames back into the very bundle that was journaled.
    from_png = import_qr([tmp_path / "frames"])
    assert from_png.digest == exports[0]["bundle_sha256"] and from_png.files == expected
    assert (tmp_path / "frames" / "sheet.html").is_file()


# ---- detached signatures: the draft goes out, signatures come back ----------------------------


@run_async
async def test_draft_out_and_detached_signatures_in_move_the_threshold(tmp_path: Path,
                                                                       hsm: SoftHsm) -> None:
    c = new_ceremony(hsm, tmp_path, n=3, threshold=3)
    stage(hsm, c, "sign")  # carol has signed in the room: 1 of 3
    hsm.module.close()
    stick = tmp_path / "stick"
    stick.mkdir()
    # A USB stick is mounted: the USB choice offers it.
    probes = fake_machine(tmp_path / "machine-with-stick")
    (probes.proc_root / "mounts").write_text(f"/dev/sdb1 {stick} vfat rw,nosuid 0 0\n")
    (probes.sys_root / "class" / "block" / "sdb1").mkdir(parents=True)
    (probes.sys_root / "class" / "block" / "sdb1" / "removable").write_text("1\n")
    app = app_for(c.ws.root, tmp_path, probes=probes)
    async with app.run_test(size=SIZE) as pilot:
        d = Driver(app, pilot)
        await d.preflight()
        await d.at(SignScreen)
        assert "1/3" in d.text()
        # The draft goes out twice: as a file, and as a bundle on a stick.
        await d.press("x")
        await d.at(TransferScreen)
        await choose(d, "file", str(tmp_path / "draft.json"))
        await d.at(SignScreen)
        assert "draft of root v1 written to" in d.banner()
        await d.press("x")
        modal = await d.at(TransferScreen)
        assert modal.notes == [f"Removable drives: {stick} (/dev/sdb1)"]  # wrapped on screen
        await choose(d, "usb")
        await d.until(lambda: app.screen.query_one("#where", Input).has_focus, "path field")
        assert app.screen.query_one("#where", Input).value == str(stick)
        await d.press("enter")
        await d.at(SignScreen)
        assert "draft bundle written to" in d.banner()

        # Elsewhere, alice signs the file and bob the draft that came on the stick.
        draft_dir = tmp_path / "remote"
        cli("import", "--usb", stick, "--out", draft_dir)
        words = json.loads((tmp_path / "draft.json").read_text())["digest"]  # read aloud
        sig_alice = sign_draft(tmp_path / "draft.json", "alice", hsm.module, hsm.pin,
                               tmp_path / "alice.sig.json", trusted=None, expect_digest=words)
        sig_bob = sign_draft(draft_dir / "1.root.draft.json", "bob", hsm.module, hsm.pin,
                             tmp_path / "bob.sig.json", trusted=None, expect_digest=words)
        hsm.module.close()

        await d.press("i")
        await d.at(TransferScreen)
        await choose(d, "file", str(sig_alice))
        await d.at(SignScreen)
        assert "imported 1 signature(s)" in d.banner() and "2/3" in d.text()
        # bob's comes back as QR codes (a signature bundle photographed off a screen).
        sig_bundle = Bundle.from_files("signature", c.plan.repository, "-",
                                       {sig_bob.name: sig_bob.read_bytes()})
        export_qr(sig_bundle, tmp_path / "bob-qr", size="small")
        await d.press("i")
        await d.at(TransferScreen)
        await choose(d, "qr", str(tmp_path / "bob-qr"))
        await d.at(SignScreen)
        assert "signature bundle verified" in d.banner()
        assert "Every threshold is met" in d.text() and "3/3" in d.text()
        # The same signature again, now over USB: refused as a duplicate, nothing changes.
        back = tmp_path / "back"
        back.mkdir()
        export_usb(sig_bundle, back)
        await d.press("i")
        await d.at(TransferScreen)
        await choose(d, "usb", str(back))
        await d.at(SignScreen)
        assert "has already signed root v1" in d.banner()

    c = Ceremony.open(c.ws.root)
    assert c.state.signers() == ["carol", "alice", "bob"]
    assert c.status().verified
    assert [e.type for e in c.journal.events][-4:] == ["exported", "signature-added",
                                                       "signature-added", "imported"]
    assert import_usb(stick).manifest.kind == "draft"


# ---- emergency ---------------------------------------------------------------------------------


@run_async
async def test_compromise_screen_writes_the_emergency_plan(tmp_path: Path, hsm: SoftHsm) -> None:
    c = new_ceremony(hsm, tmp_path)
    stage(hsm, c, "done")
    hsm.module.close()
    app = app_for(c.ws.root, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        d = Driver(app, pilot)
        await d.at(PlanScreen)
        await d.press("enter")
        await d.at(DoneScreen)
        await d.press("e")
        screen = await d.at(CompromiseScreen)
        what = screen.query_one("#what", SelectionList)
        labels = [str(what.get_option_at_index(i).prompt) for i in range(what.option_count)]
        assert labels[0].startswith("root key of alice (")
        assert "whole role: targets (every targets key)" in labels
        await d.press("w")
        assert "choose what was compromised first" in d.banner()
        for label in ("root key of alice", "whole role: targets"):
            what.highlighted = next(i for i, x in enumerate(labels) if x.startswith(label))
            await d.press("space")
        shown = str(screen.query_one("#assessment").render())
        assert "root keys to remove: alice" in shown
        assert "online keys to replace: targets, snapshot, timestamp" in shown
        assert "in band: 2 honest root keys (bob, carol)" in shown
        assert "re-sign targets.json with the NEW targets" in shown
        await d.press("w")
        await d.at(ConfirmScreen)
        await d.press(*"yes", "enter")
        assert "That is not 'emergency'" in d.text()
        await d.press(*"emergency", "enter")
        await d.at(CompromiseScreen)
        assert "emergency plan written to" in d.banner()
        written = screen.written
        await d.press("escape")
        await d.at(DoneScreen)

    assert written == c.ws.out / "emergency" / "emergency-plan.toml"
    text = written.read_text()
    assert "# EMERGENCY ROTATION PLAN - review before use" in text
    assert "# root keys to remove: alice" in text
    assert 'keyholders = ["bob", "carol"]' in text
    assert 'keys = ["new-online/targets.pub.pem"]' in text
    # Nothing was journaled after the seal: the record still verifies.
    assert record_check.verify_record(c.ws.root).sealed


# ---- touch -------------------------------------------------------------------------------------


@run_async
async def test_sign_shows_touch_state_when_the_token_layer_asks(tmp_path: Path,
                                                                hsm: SoftHsm) -> None:
    c = new_ceremony(hsm, tmp_path)
    stage(hsm, c, "review")
    record.confirm(c, "draft-approved", "approved", c.state.draft_digest)
    hsm.module.close()
    touched = threading.Event()
    release = threading.Event()

    class TouchCeremony(Ceremony):
        """A token step that, like hsm.yubikey.signing, calls on_touch before blocking."""

        def sign(self, keyholder: str, module: Any, pin: Any, on_touch: Any = None) -> Any:
            assert on_touch is not None
            on_touch(f"touch YubiKey of {keyholder} to sign (it is blinking)")
            touched.set()
            assert release.wait(10)
            return super().sign(keyholder, module, pin)

    app = app_for(c.ws.root, tmp_path, pin_provider=hsm.pin)
    async with app.run_test(size=SIZE) as pilot:
        d = Driver(app, pilot)
        await d.preflight()
        await d.at(SignScreen)
        app.ceremony.__class__ = TouchCeremony
        await d.press("enter")
        await d.until(lambda: touched.is_set() and "TOUCH YOUR KEY NOW" in d.banner(), "touch")
        assert "touch YubiKey of alice to sign (it is blinking)" in d.banner()
        release.set()
        await d.until(lambda: not app.busy and "alice signed with" in d.banner(), "signature")
    assert Ceremony.open(c.ws.root).state.signers() == ["alice"]
