"""The "touch your key" state with a real token layer: a virtual YubiKey (touch policy
ALWAYS) under the real pcscd, libykcs11 and yubikit (tests/vpiv), signing from the TUI.

``hsm.yubikey.signing`` calls ``on_touch`` just before the card waits; the sign
worker must hand the TUI's callback down, and the banner must switch to the touch
state with the token layer's own sentence.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ceremony import record
from ceremony.engine import Ceremony
from ceremony.tui.screens.sign import SignScreen
from ceremony.tui.widgets.banner import Banner
from tests.conftest import SoftHsm
from tests.helpers import cli
from tests.test_tui import SIZE, Driver, app_for, run_async
from tests.test_yubikey_ceremony import files, one_yubikey_ceremony  # noqa: F401
from tests.vpiv.card import VirtualYubiKey
from tests.vpiv.fixtures import PIN as YK_PIN
from tests.vpiv.fixtures import pcsc, provision_card, yubikey  # noqa: F401
from tests.vpiv.harness import PcscHarness


@run_async
async def test_signing_with_a_yubikey_shows_the_touch_state(
        hsm: SoftHsm, tmp_path: Path, yubikey: VirtualYubiKey,  # noqa: F811
        files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    provision_card(yubikey, touch="always")
    ws = one_yubikey_ceremony(hsm, tmp_path, yubikey)
    monkeypatch.setenv("CEREMONY_ATTESTATION_ROOTS", str(files["roots"]))
    assert cli("keygen", ws, "--keyholder", "alice", "--pin-file", files["pin"]).code == 0
    assert cli("keygen", ws, "--keyholder", "bob", "--pin-file", hsm.pin_file).code == 0
    assert cli("draft", ws).code == 0
    c = Ceremony.open(ws)
    record.confirm(c, "draft-approved", "approved", c.state.draft_digest)
    hsm.module.close()

    shown: list[str] = []
    touch = Banner.touch

    def spy(self: Banner, message: str) -> None:
        shown.append(str(message))
        touch(self, message)

    monkeypatch.setattr(Banner, "touch", spy)
    app = app_for(ws, tmp_path, pin_provider=lambda _info: YK_PIN)
    async with app.run_test(size=SIZE) as pilot:
        d = Driver(app, pilot)
        await d.preflight()
        sign = await d.at(SignScreen)
        who = sign.query_one("#who")
        who.highlighted = [o.id for o in who.options].index("alice")
        await d.pilot.pause()
        # The "token present" line looks for alice's YubiKey by serial, not in PKCS#11.
        assert f"YubiKey present: serial {yubikey.serial}" in str(sign.query_one("#token").render())
        await d.press("enter")
        await d.until(lambda: not app.busy and "alice signed with" in d.banner(), "signature")
    # One signature, one touch: the banner showed the token layer's own sentence.
    assert len(shown) == 1 and str(yubikey.serial) in shown[0] and "blinking" in shown[0], shown
    assert Ceremony.open(ws).state.signers() == ["alice"]


@run_async
async def test_keygen_looks_for_a_yubikey_by_serial(
        hsm: SoftHsm, tmp_path: Path, yubikey: VirtualYubiKey, pcsc: PcscHarness) -> None:  # noqa: F811
    from ceremony.tui.screens.keygen import KeygenScreen
    ws = one_yubikey_ceremony(hsm, tmp_path, yubikey)
    hsm.module.close()
    app = app_for(ws, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        d = Driver(app, pilot)
        await d.preflight()
        screen = await d.at(KeygenScreen)
        await d.until(lambda: screen.tokens is not None, "token scan")
        line = str(screen.query_one("#token").render())
        assert line.startswith(f"YubiKey present: serial {yubikey.serial} ("), line
        pcsc.remove_all()  # alice pulls her YubiKey
        await d.press("r")
        await d.until(lambda: screen.tokens is not None and not app.busy, "rescan")
        assert str(screen.query_one("#token").render()) == (
            f"YubiKey {yubikey.serial} is not present (YubiKeys present: none): insert it, "
            "then press r")
        pcsc.insert(yubikey)
        await d.press("r")
        await d.until(lambda: screen.tokens is not None and not app.busy, "rescan")
        assert f"YubiKey present: serial {yubikey.serial}" in str(screen.query_one("#token").render())
