"""``ceremony audit`` on what our own ceremony published with YubiKey keyholders on the virtual
PIV card (tests/support/vpiv: real pcscd, libykcs11, yubikit), so every root key carries a real
attestation in its ``x-ceremony-attestation`` field; and an attestation folder laid out as
sigstore/tuf-on-ci archive them, made from the card's own certificates (``keys/attestation-NAME.pem``
is the slot certificate then the f9 device certificate).
"""

from __future__ import annotations

import json
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.conftest import SoftHsm
from tests.engine.test_yubikey_ceremony import files, write_plan  # noqa: F401  (the PIN/roots fixture)
from tests.support.helpers import cli
from tests.support.vpiv.card import VirtualYubiKey
from tests.support.vpiv.fixtures import pcsc, two_yubikeys  # noqa: F401


def ceremony(hsm: SoftHsm, tmp: Path, cards: tuple[VirtualYubiKey, VirtualYubiKey],
             files: dict[str, Path], softhsm_holder: bool) -> Path:  # noqa: F811
    """Init, keygen (both YubiKeys provisioned at keygen; carol on SoftHSM if asked), draft,
    sign at threshold 2, publish: the workspace."""
    a, b = cards
    plan = write_plan(hsm, tmp, {"alice": (a.serial, "always"), "bob": (b.serial, "cached")},
                      ["carol"] if softhsm_holder else [], threshold=2)
    ws, roots, pin = tmp / "ws", str(files["roots"]), files["pin"]
    assert cli("init", ws, "--plan", plan).code == 0
    for name, card in (("alice", a), ("bob", b)):
        r = cli("keygen", ws, "--keyholder", name, "--provision", "--confirm-serial", card.serial,
                "--new-pin-file", pin, "--new-puk-file", files["puk"], "--attestation-roots", roots)
        assert r.code == 0, r.err
    if softhsm_holder:
        assert cli("keygen", ws, "--keyholder", "carol", "--pin-file", hsm.pin_file).code == 0
    assert cli("draft", ws).code == 0
    for name in ("alice", "bob"):
        r = cli("sign", ws, "--keyholder", name, "--pin-file", pin)
        assert r.code == 0, r.err
    r = cli("publish", ws)
    assert r.code == 0, r.err
    return ws


def archive(ws: Path, name: str, serial: int, folder: Path) -> Path:
    """``folder/<serial>/Slot9CAttestation.pem`` + ``SlotF9Intermediate.pem`` from the card's
    certificates as the ceremony kept them."""
    slot, device = x509.load_pem_x509_certificates((ws / "keys" / f"attestation-{name}.pem").read_bytes())
    out = folder / str(serial)
    out.mkdir(parents=True)
    (out / "Slot9CAttestation.pem").write_bytes(slot.public_bytes(Encoding.PEM))
    (out / "SlotF9Intermediate.pem").write_bytes(device.public_bytes(Encoding.PEM))
    return folder


def test_our_yubikey_ceremony_passes_the_audit_and_binds_archived_attestations(
        hsm: SoftHsm, tmp_path: Path, two_yubikeys: tuple[VirtualYubiKey, VirtualYubiKey],  # noqa: F811
        files: dict[str, Path]) -> None:  # noqa: F811
    a, b = two_yubikeys
    ws = ceremony(hsm, tmp_path, two_yubikeys, files, softhsm_holder=False)
    meta, roots = ws / "metadata", files["roots"]

    # The ceremony's targets key is an online key (the plan's): said so with --online-role.
    r = cli("audit", meta, "--attestation-roots", roots, "--online-role", "targets", "--json")
    assert r.code == 0, r.out + r.err
    doc = json.loads(r.out)
    assert doc["passed"] is True and doc["root_chain"]["versions"] == [1]
    keys = {k["owner"]: k for k in doc["keys"] if k["owner"]}
    assert set(keys) == {"alice", "bob"}
    for name, card, touch in (("alice", a, "always"), ("bob", b, "cached")):
        k = keys[name]
        assert k["owner_field"] == "x-ceremony-keyholder" and k["roles"] == ["root"]
        assert (k["attestation"], k["attestation_source"]) == ("verified", "x-ceremony-attestation")
        assert (k["serial"], k["firmware"], k["pin_policy"], k["touch_policy"]) == (
            card.serial, "5.7.1", "always", touch)
    assert {k["attestation"] for k in doc["keys"] if not k["owner"]} == {"not-needed"}

    # Without --online-role, the targets key is an offline key without an attestation.
    r = cli("audit", meta, "--attestation-roots", roots, "--json")
    assert r.code == 11
    assert [f["kind"] for f in json.loads(r.out)["findings"]] == ["no-attestation"]

    # The card's certificates archived as sigstore/tuf-on-ci ceremonies keep them: bound too.
    folder = archive(ws, "alice", a.serial, tmp_path / "attestations")
    archive(ws, "bob", b.serial, folder)
    r = cli("audit", meta, "--attestations", folder, "--attestation-roots", roots,
            "--online-role", "targets")
    assert r.code == 0, r.out + r.err
    assert (f"YubiKey {b.serial} firmware 5.7.1, PIN always, touch cached (attestation from "
            "x-ceremony-attestation)") in r.out

    # alice's certificates filed under bob's serial: the folder's serial is not the card's.
    wrong = tmp_path / "wrong"
    archive(ws, "alice", b.serial, wrong)
    r = cli("audit", meta, "--attestations", wrong, "--attestation-roots", roots, "--online-role", "targets")
    assert r.code == 3 and r.out == ""
    assert r.err.splitlines()[0] == (f"error: attestation {b.serial} does not verify: the attestation "
                                     f"names serial {a.serial}, but the device is YubiKey {b.serial}")


def test_a_root_key_on_softhsm_is_a_finding(
        hsm: SoftHsm, tmp_path: Path, two_yubikeys: tuple[VirtualYubiKey, VirtualYubiKey],  # noqa: F811
        files: dict[str, Path]) -> None:  # noqa: F811
    ws = ceremony(hsm, tmp_path, two_yubikeys, files, softhsm_holder=True)
    r = cli("audit", ws / "metadata", "--attestation-roots", files["roots"], "--online-role", "targets")
    assert r.code == 11
    assert r.out.splitlines()[-2:] == [
        "1 finding:", "  [no-attestation] carol (root): offline key without a YubiKey attestation"]
