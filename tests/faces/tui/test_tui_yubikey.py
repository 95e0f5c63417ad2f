"""The "touch your key" state with a real token layer: a virtual YubiKey (touch policy
ALWAYS) under the real pcscd, libykcs11 and yubikit (tests/support/vpiv), signing from the TUI.

``hsm.yubikey.signing`` calls ``on_touch`` just before the card waits; the sign
worker must hand the TUI's callback down, and the banner must switch to the touch
state with the token layer's own sentence.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ceremony import record, record_check
from ceremony.engine import Ceremony
from ceremony.tui.screens.sign import SignScreen
from ceremony.tui.widgets.banner import Banner
from tests.conftest import SoftHsm
from tests.engine.test_yubikey_ceremony import files, one_yubikey_ceremony  # noqa: F401
from tests.faces.tui.test_tui import SIZE, Driver, app_for, run_async
from tests.support.helpers import cli
from tests.support.vpiv.card import VirtualYubiKey
from tests.support.vpiv.fixtures import PIN as YK_PIN, pcsc, provision_card, yubikey  # noqa: F401
from tests.support.vpiv.harness import PcscHarness


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
    asked: list[object] = []

    def pin_provider(info: object) -> str:
        asked.append(info)
        return YK_PIN

    app = app_for(ws, tmp_path, pin_provider=pin_provider)
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
    # The PIN prompt was told the YubiKey's retry counter (read before the VERIFY).
    yk_asks = [i for i in asked if getattr(i, "pin_attempts_left", None) is not None]
    assert [i.pin_attempts_left for i in yk_asks] == [3]  # type: ignore[attr-defined]


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


@run_async
async def test_keygen_provisions_a_fresh_yubikey_then_records_an_attested_key(
        hsm: SoftHsm, tmp_path: Path, yubikey: VirtualYubiKey,  # noqa: F811
        files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    from ceremony.tui.screens.keygen import KeygenScreen
    from ceremony.tui.screens.provision import ProvisionScreen
    from tests.support.vpiv.fixtures import PUK as YK_PUK
    ws = one_yubikey_ceremony(hsm, tmp_path, yubikey)  # factory-fresh: slot 9c is empty
    hsm.module.close()
    monkeypatch.setenv("CEREMONY_ATTESTATION_ROOTS", str(files["roots"]))
    app = app_for(ws, tmp_path, pin_provider=lambda _info: YK_PIN)
    async with app.run_test(size=(100, 40)) as pilot:
        d = Driver(app, pilot)
        await d.preflight()
        screen = await d.at(KeygenScreen)
        await d.until(lambda: screen.tokens is not None and not app.busy, "token scan")
        assert f"YubiKey {yubikey.serial} is not provisioned (slot 9c is empty)" in d.text()
        assert "p: provision alice's YubiKey" in d.text()

        async def fill(serial: str, pin2: str = YK_PIN) -> ProvisionScreen:
            await d.press("p")
            modal = await d.at(ProvisionScreen)
            warning = " ".join(str(modal.query("Static").first().render()).split())
            assert "touch always, as the plan says" in warning and "RESETS" in warning
            for field, value in zip(("serial", "pin", "pin2", "puk", "puk2"),
                                    (serial, YK_PIN, pin2, YK_PUK, YK_PUK), strict=True):
                await d.press(*value, "enter")
                if field in ("pin", "puk"):
                    assert value not in d.text()  # masked
            return modal

        # The two PIN entries differ: asked again, nothing reset.
        modal = await fill(str(yubikey.serial), pin2="7777777")
        assert "The two PIN entries differ" in d.text()
        await d.press("escape")
        await d.at(KeygenScreen)
        # A wrong serial: refused by provisioning before the reset.
        await fill("12345")
        await d.until(lambda: not app.busy and isinstance(app.screen, KeygenScreen), "refusal")
        assert f"the serial typed (12345) is not {yubikey.serial}; nothing was changed" in d.banner()
        assert "alice" not in app.ceremony.state.keys
        # The right serial: reset, new PIN/PUK, key made on the device, attested, recorded.
        await fill(str(yubikey.serial))
        await d.until(lambda: not app.busy and screen.result is not None, "provisioned key")
        assert "alice's key is on token" in d.text() and "read aloud:" in d.text()
        assert not any(YK_PIN in s or YK_PUK in s for s in d.shots)
        del modal
    c = Ceremony.open(ws)
    rec = c.state.keys["alice"]
    assert rec.device == "yubikey" and rec.token_serial == str(yubikey.serial)
    assert rec.attestation["mode"] == "provision"
    assert rec.attestation["verdict"]["touch_policy"] == "always"
    assert (ws / "keys" / "attestation-alice.pem").is_file()
    v = record_check.check_record(ws, require_seal=False)
    assert v.ok, v.problems
    assert any("alice" in line and "attest" in line for line in v.checks), v.checks
    # The key on the YubiKey is the one recorded: the CLI adopts and signs with it.
    assert cli("keygen", ws, "--keyholder", "bob", "--pin-file", hsm.pin_file).code == 0
    assert cli("draft", ws).code == 0
    r = cli("sign", ws, "--keyholder", "alice", "--pin-file", files["pin"])
    assert r.code == 0, r.err
