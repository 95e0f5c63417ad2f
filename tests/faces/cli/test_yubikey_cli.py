"""``ceremony yubikey ...`` end to end: operator sentences on stderr, exit codes, JSON on stdout."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from ceremony.cli import main
from tests.support.vpiv.attestation_ca import default_ca
from tests.support.vpiv.card import VirtualYubiKey
from tests.support.vpiv.fixtures import PIN, PUK, pcsc, provision_card, two_yubikeys, yubikey  # noqa: F401


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def secrets(tmp_path: Path) -> tuple[str, str, str]:
    """New PIN and PUK files (0600) and the test CA's root bundle."""
    pin, puk, roots = tmp_path / "pin", tmp_path / "puk", tmp_path / "roots.pem"
    pin.write_text(PIN + "\n")
    puk.write_text(PUK + "\n")
    os.chmod(pin, 0o600)
    os.chmod(puk, 0o600)
    roots.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in default_ca().roots))
    return str(pin), str(puk), str(roots)


def test_list(yubikey: VirtualYubiKey, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "yubikey", "list")
    assert code == 0
    assert out.splitlines()[0].split() == ["SERIAL", "FIRMWARE", "FORM", "FACTOR", "READER"]
    assert out.splitlines()[1].split()[:3] == [str(yubikey.serial), "5.7.1", "usb-a-keychain"]
    code, out, _ = run(capsys, "yubikey", "list", "--json")
    assert json.loads(out)[0]["serial"] == yubikey.serial


def test_preflight_refuses_factory_defaults(yubikey: VirtualYubiKey, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "yubikey", "preflight", "--serial", str(yubikey.serial))
    assert code == 4
    assert "factory PIN: YES; factory PUK: YES; factory management key: YES" in out
    assert "ready for a ceremony: no" in out
    assert err.splitlines() == [
        f"error: YubiKey {yubikey.serial} is not fit for a ceremony: the factory PIN (123456) is still set; "
        "the factory PUK (12345678) is still set; the factory management key is still set",
        f"hint: run `ceremony yubikey provision --serial {yubikey.serial}`"]
    assert yubikey.pin_verifications() == 0


def test_provision_attest_preflight(yubikey: VirtualYubiKey, secrets: tuple[str, str, str],
                                    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    pin, puk, roots = secrets
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{yubikey.serial}\n"))  # the operator types the serial
    code, out, err = run(capsys, "yubikey", "provision", "--serial", str(yubikey.serial), "--touch", "cached",
                         "--new-pin-file", pin, "--new-puk-file", puk, "--attestation-roots", roots, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["provisioned"]["touch_policy"] == "cached"
    assert data["attestation"]["ok"] and data["attestation"]["serial"] == yubikey.serial
    assert "Type the serial printed on the YubiKey" in err and "resetting the PIV application" in err
    assert yubikey.mgmt_key.hex() not in out + err

    code, out, err = run(capsys, "yubikey", "preflight", "--serial", str(yubikey.serial))
    assert code == 0 and "ready for a ceremony: yes" in out and err == ""
    code, out, _ = run(capsys, "yubikey", "attest", "--serial", str(yubikey.serial), "--attestation-roots", roots)
    assert code == 0 and out.startswith("attestation: VERIFIED")
    # The bundled Yubico roots do not vouch for the virtual card.
    code, out, err = run(capsys, "yubikey", "attest", "--serial", str(yubikey.serial))
    assert code == 3 and "attestation: FAILED" in out
    assert err.startswith("error: the attestation does not verify: the device certificate does not chain "
                          "to a trusted yubico root")


def test_provision_refuses_a_mistyped_serial(yubikey: VirtualYubiKey, secrets: tuple[str, str, str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    pin, puk, roots = secrets
    code, _, err = run(capsys, "yubikey", "provision", "--serial", str(yubikey.serial), "--confirm-serial", "42",
                       "--new-pin-file", pin, "--new-puk-file", puk, "--attestation-roots", roots)
    assert code == 4
    assert err.splitlines()[0] == f"error: the serial typed (42) is not {yubikey.serial}; nothing was changed"
    assert yubikey.sent(0xFB) == 0


def test_provision_without_a_terminal_asks_for_files(yubikey: VirtualYubiKey, secrets: tuple[str, str, str],
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, _, err = run(capsys, "yubikey", "provision", "--serial", str(yubikey.serial),
                       "--confirm-serial", str(yubikey.serial), "--attestation-roots", secrets[2])
    assert code == 5
    assert err.splitlines() == ["error: a new PIN is needed but no terminal is attached",
                                "hint: give it with --new-pin-file PATH (scripts and CI only)"]
    assert yubikey.sent(0xFB) == 0


def test_two_keys_and_no_serial(two_yubikeys: tuple[VirtualYubiKey, VirtualYubiKey],
                                capsys: pytest.CaptureFixture[str]) -> None:
    first, second = two_yubikeys
    code, _, err = run(capsys, "yubikey", "preflight")
    assert code == 4
    assert err.splitlines() == [
        f"error: 2 YubiKeys are present (serials {first.serial}, {second.serial}); the tool will not guess which",
        "hint: say which one, by serial: --serial SERIAL (or remove the others)"]


def test_blocked_pin_exit_code(yubikey: VirtualYubiKey, capsys: pytest.CaptureFixture[str]) -> None:
    provision_card(yubikey)
    yubikey.pin_left = 0
    code, out, err = run(capsys, "yubikey", "preflight", "--serial", str(yubikey.serial))
    assert code == 5 and "problem: the PIN is blocked" in out
    assert err.splitlines()[0] == f"error: the PIN of YubiKey {yubikey.serial} is blocked (0 tries left)"
