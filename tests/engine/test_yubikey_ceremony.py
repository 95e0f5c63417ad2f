"""YubiKeys inside the ceremony: keygen (provision or adopt) with attestation verified and recorded,
signing and sealing through ykcs11 (a PIN per signature, touch prompt), ``ceremony verify``
reporting attestation per root key, and every way a key must be refused.

Virtual YubiKeys under the real pcscd, libykcs11 and yubikit (tests/support/vpiv); the attestation CA
is the test CA, given with ``--attestation-roots`` (rehearsal plans only). Witnesses use the
software FIDO2 authenticator of tests/engine/test_witness.py.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from securesystemslib.signer import Key

from tests.conftest import SoftHsm
from tests.engine.test_witness import keys  # noqa: F401  (the FIDO2 witness keys fixture)
from tests.support.clients import both_clients_accept
from tests.support.helpers import cli, make_online_keys
from tests.support.plans import Keyholder, Plan, online_roles
from tests.support.tuf_repo import publish_online, serve
from tests.support.vpiv.attestation_ca import TestAttestationCA, default_ca
from tests.support.vpiv.card import VirtualYubiKey
from tests.support.vpiv.fixtures import PIN, PUK, pcsc, provision_card, two_yubikeys, ykcs11, yubikey  # noqa: F401


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """PIN/PUK files (0600), the test CA's roots and another CA's roots."""
    out = {"pin": tmp_path / "yk-pin", "puk": tmp_path / "yk-puk", "roots": tmp_path / "roots.pem",
           "other": tmp_path / "other-roots.pem"}
    out["pin"].write_text(PIN + "\n")
    out["puk"].write_text(PUK + "\n")
    for k in ("pin", "puk"):
        os.chmod(out[k], 0o600)
    out["roots"].write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in default_ca().roots))
    out["other"].write_bytes(b"".join(c.public_bytes(Encoding.PEM)
                                      for c in TestAttestationCA(label="other").roots))
    return out


def write_plan(hsm: SoftHsm, tmp: Path, yubikeys: dict[str, tuple[int, str]], tokens: list[str],
               threshold: int, extra: str = "", witnesses: tuple[str, ...] = (),
               rehearsal: bool = True) -> Path:
    """A plan: ``yubikeys`` maps keyholder -> (serial, touch); ``tokens`` are SoftHSM keyholders."""
    make_online_keys(hsm, tmp / "plan" / "online")
    if tokens:
        hsm.make(*[f"tok-{t}" for t in tokens])
    holders = [*(Keyholder(name, device="yubikey", serial=str(serial), touch=touch)
                 for name, (serial, touch) in yubikeys.items()),
               *(Keyholder(name, token=f"tok-{name}") for name in tokens)]
    return Plan("yk-ceremony", holders, threshold, online_roles("online"), rehearsal=rehearsal or None,
                extra=extra, witnesses=witnesses).write(tmp / "plan" / "plan.toml")


def events(ws: Path) -> list[dict]:
    return [json.loads(x) for x in (ws / "journal.jsonl").read_text().splitlines()]


def test_tuf_bootstrap_two_yubikeys_and_a_softhsm_token(
        hsm: SoftHsm, tmp_path: Path, two_yubikeys: tuple[VirtualYubiKey, VirtualYubiKey],
        files: dict[str, Path], keys) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    a, b = two_yubikeys
    plan = write_plan(hsm, tmp_path, {"alice": (a.serial, "always"), "bob": (b.serial, "cached")}, ["carol"],
                      threshold=2, extra="witnesses_required = 2", witnesses=("victor", "wendy"))
    ws, roots, pin = tmp_path / "ws", str(files["roots"]), files["pin"]

    # alice's YubiKey was provisioned beforehand; bob's is provisioned at keygen.
    r = cli("yubikey", "provision", "--serial", a.serial, "--confirm-serial", a.serial, "--new-pin-file",
            pin, "--new-puk-file", files["puk"], "--attestation-roots", roots)
    assert r.code == 0, r.err
    assert cli("init", ws, "--plan", plan).code == 0
    spent = a.pin_verifications()
    r = cli("keygen", ws, "--keyholder", "alice", "--attestation-roots", roots)
    assert r.code == 0, r.err
    assert a.pin_verifications() == spent  # adopting the key spends no PIN try
    assert r.out.splitlines()[0] == (f"alice: ecdsa-p256 key in slot 9c of YubiKey {a.serial} (adopted), "
                                     "attested: generated on the device, firmware 5.7.1, PIN always, touch always")
    r = cli("keygen", ws, "--keyholder", "bob", "--provision", "--confirm-serial", b.serial,
            "--new-pin-file", pin, "--new-puk-file", files["puk"], "--attestation-roots", roots)
    assert r.code == 0, r.err
    assert r.out.splitlines()[0].startswith(f"bob: ecdsa-p256 key in slot 9c of YubiKey {b.serial} "
                                            "(provisioned now), attested:")
    assert "touch cached" in r.out and "resetting the PIV application" in r.err
    assert cli("keygen", ws, "--keyholder", "carol", "--pin-file", hsm.pin_file).code == 0

    assert cli("draft", ws).code == 0
    before = a.pin_verifications()
    r = cli("sign", ws, "--keyholder", "alice", "--pin-file", pin)
    assert r.code == 0, r.err
    assert r.err.splitlines() == [f"alice: insert YubiKey {a.serial}",
                                  f"touch your YubiKey now: YubiKey {a.serial} is blinking"]
    assert r.out.splitlines()[0] == f"alice signed root v1 with YubiKey {a.serial}"
    assert a.pin_verifications() == before + 1 and a.touch.requests == 1
    assert cli("sign", ws, "--keyholder", "carol", "--pin-file", hsm.pin_file).code == 0

    # Two witnesses must sign off before publish.
    r = cli("publish", ws)
    assert r.code == 6 and "publish needs 2 witness sign-offs" in r.err and "missing: victor, wendy" in r.err
    for w in ("victor", "wendy"):
        keys(w)
        assert cli("witness", "enroll", ws, "--name", w).code == 0
    for w in ("victor", "wendy"):
        keys(w)
        assert cli("witness", "sign", ws, "--name", w).code == 0
    r = cli("publish", ws)
    assert r.code == 0, r.err

    root1 = (ws / "metadata" / "1.root.json").read_bytes()
    signed = json.loads(root1)["signed"]
    by_name = {k["x-ceremony-keyholder"]: k for k in signed["keys"].values() if "x-ceremony-keyholder" in k}
    for name, card in (("alice", a), ("bob", b)):
        k = by_name[name]
        assert k["x-ceremony-device"] == "yubikey" and k["x-ceremony-token-serial"] == str(card.serial)
        att = k["x-ceremony-attestation"]
        assert att["type"] == "yubikey-piv" and att["slot"] == "9c" and len(att["certificates"]) == 2
        assert all(c.startswith("-----BEGIN CERTIFICATE-----") for c in att["certificates"])
        assert (ws / "keys" / f"attestation-{name}.pem").read_text() == "".join(att["certificates"])
    assert "x-ceremony-attestation" not in by_name["carol"] and "x-ceremony-device" not in by_name["carol"]
    gen = {e["data"]["keyholder"]: e["data"] for e in events(ws) if e["type"] == "key-generated"}
    assert gen["bob"]["attestation"]["verdict"]["touch_policy"] == "cached"
    assert gen["alice"]["attestation"]["trust"]["name"] == "roots.pem"
    # each key's id is over the whole key object, its attestation included (tough's rule too)
    from tests.model.test_keyids import _sha
    for keyid, k in signed["keys"].items():
        assert keyid == _sha(k)
    assert {n: gen[n]["keyid"] for n in gen} == {n: _sha(by_name[n]) for n in gen}

    # Both TUF clients (python-tuf's ngclient, tuf-js) accept the root.
    repo = tmp_path / "repo"
    shutil.copytree(ws / "metadata", repo / "metadata", ignore=shutil.ignore_patterns("drafts"))
    from tests.support.helpers import OnlineKeys
    online = OnlineKeys(hsm, "online", {r: r.encode() for r in ("targets", "snapshot", "timestamp")})
    publish_online(repo, online.open())
    with serve(repo) as url:
        both_clients_accept(url, tmp_path / "client", root1, root_version=1)

    # ceremony verify: attestation per root key, re-checked offline.
    meta = ws / "metadata"
    r = cli("verify", "--trusted", meta / "1.root.json", meta, "--attestation-roots", roots)
    assert r.code == 0, r.err
    assert r.out.splitlines()[-4:] == [
        "root key attestations (v1, against rehearsal roots roots.pem (not Yubico)):",
        f"  alice: attested on YubiKey {a.serial} (firmware 5.7.1, PIN always, touch always)",
        f"  bob: attested on YubiKey {b.serial} (firmware 5.7.1, PIN always, touch cached)",
        "  carol: no attestation (PKCS#11 token)"]
    r = cli("verify", "--trusted", meta / "1.root.json", meta)  # the bundled Yubico roots
    assert r.code == 3
    chain_problem = ("the device certificate does not chain to a trusted yubico root (issuer: "
                     "CN=Test PIV Root CA Serial 263751 (vpiv\\, not Yubico))")
    assert f"  alice: attestation FAILED: {chain_problem}" in r.out.splitlines()
    assert r.err.splitlines()[0] == ("error: the attestation of alice's root key, bob's root key does not "
                                     f"verify: {chain_problem}")

    # Another key's attestation pasted onto alice's key fails, named.
    from ceremony.attestation import check_key, load_roots
    alice_id = next(i for i, k in signed["keys"].items() if k.get("x-ceremony-keyholder") == "alice")
    swapped = dict(signed["keys"][alice_id], **{"x-ceremony-attestation": by_name["bob"]["x-ceremony-attestation"]})
    result = check_key(Key.from_dict(alice_id, swapped), load_roots(files["roots"]))
    assert result.line() == (f"alice: attestation FAILED: the attestation names serial {b.serial}, but the "
                             f"device is YubiKey {a.serial}; the attestation is for another key than this root key")

    # Seal: alice on her YubiKey (ykcs11, PIN, touch), carol on SoftHSM; witnesses again first.
    for w in ("victor", "wendy"):
        keys(w)
        assert cli("witness", "sign", ws, "--name", w).code == 0
    r = cli("seal", ws, "--keyholder", "alice", "--pin-file", pin)
    assert r.code == 0, r.err
    r = cli("seal", ws, "--keyholder", "carol", "--pin-file", hsm.pin_file)
    assert r.code == 0 and "sealed at journal line" in r.out, r.err
    r = cli("record", "verify", ws)
    assert r.code == 0, r.out + r.err
    line = next(e["seq"] for e in events(ws) if e["type"] == "key-generated" and e["data"]["keyholder"] == "alice")
    assert (f"ok   alice's key was generated on YubiKey {a.serial} (firmware 5.7.1, PIN always, touch always): "
            f"attestation at journal line {line} verified against rehearsal roots roots.pem (not Yubico)"
            in r.out.splitlines())
    assert "after sign-offs by victor, wendy (2 required)" in r.out
    report = (ws / "record" / "report.html").read_text()
    assert f"YubiKey {a.serial}, slot 9c" in report and "no attestation (PKCS#11 token)" in report


def one_yubikey_ceremony(hsm: SoftHsm, tmp: Path, card: VirtualYubiKey, touch: str = "always",
                         rehearsal: bool = True) -> Path:
    plan = write_plan(hsm, tmp, {"alice": (card.serial, touch)}, ["bob"], threshold=1, rehearsal=rehearsal)
    ws = tmp / "ws"
    assert cli("init", ws, "--plan", plan).code == 0
    return ws


def refused(ws: Path) -> None:
    """Nothing but an intent was recorded for alice; no key file."""
    types = [e["type"] for e in events(ws)]
    assert "key-generated" not in types and not (ws / "keys" / "root-alice.json").exists()


def test_attestation_from_another_ca_is_refused(hsm: SoftHsm, tmp_path: Path, yubikey: VirtualYubiKey,
                                                files: dict[str, Path]) -> None:
    provision_card(yubikey)
    ws = one_yubikey_ceremony(hsm, tmp_path, yubikey)
    spent = yubikey.pin_verifications()
    r = cli("keygen", ws, "--keyholder", "alice", "--attestation-roots", files["other"])
    assert r.code == 3
    assert r.err.splitlines() == [
        "error: the attestation does not verify: the device certificate does not chain to a trusted "
        "other-roots.pem root (issuer: CN=Test PIV Root CA Serial 263751 (vpiv\\, not Yubico))",
        "hint: the key may not have been generated on this YubiKey; do not use it"]
    r = cli("keygen", ws, "--keyholder", "alice")  # the bundled Yubico roots
    assert r.code == 3 and r.err.startswith(
        "error: the attestation does not verify: the device certificate does not chain to a trusted yubico root")
    refused(ws)
    assert yubikey.pin_verifications() == spent  # keygen spends no PIN try


def test_attestation_naming_another_serial_is_refused(hsm: SoftHsm, tmp_path: Path, yubikey: VirtualYubiKey,
                                                      files: dict[str, Path]) -> None:
    provision_card(yubikey)
    yubikey.attestation_serial = 11111111  # a chain lifted from another YubiKey
    ws = one_yubikey_ceremony(hsm, tmp_path, yubikey)
    r = cli("keygen", ws, "--keyholder", "alice", "--attestation-roots", files["roots"])
    assert (r.code, r.err.splitlines()[0]) == (3, (
        "error: the attestation does not verify: the attestation names serial 11111111, but the device is "
        f"YubiKey {yubikey.serial}"))
    refused(ws)


def test_weak_policies_are_refused(hsm: SoftHsm, tmp_path: Path, yubikey: VirtualYubiKey,
                                   files: dict[str, Path]) -> None:
    from yubikit.piv import KEY_TYPE, PIN_POLICY, SLOT, TOUCH_POLICY

    from hsm.yubikey.device import piv_session, select_yubikey
    provision_card(yubikey, touch="cached")
    ws = one_yubikey_ceremony(hsm, tmp_path, yubikey, touch="always")
    r = cli("keygen", ws, "--keyholder", "alice", "--attestation-roots", files["roots"])
    assert (r.code, r.err.splitlines()[0]) == (
        3, "error: the attestation does not verify: the key's touch policy is cached, not always")
    # A key made outside the tool, with PIN once and no touch.
    with piv_session(select_yubikey(yubikey.serial)) as s:
        s.authenticate(yubikey.mgmt_key)
        s.generate_key(SLOT.SIGNATURE, KEY_TYPE.ECCP256, PIN_POLICY.ONCE, TOUCH_POLICY.NEVER)
    r = cli("keygen", ws, "--keyholder", "alice", "--attestation-roots", files["roots"])
    assert (r.code, r.err.splitlines()[0]) == (3, (
        "error: the attestation does not verify: the key's PIN policy is once, not always; "
        "the key's touch policy is never, not always"))
    refused(ws)


def test_keygen_provision_needs_the_typed_serial(hsm: SoftHsm, tmp_path: Path, yubikey: VirtualYubiKey,
                                                 files: dict[str, Path]) -> None:
    ws = one_yubikey_ceremony(hsm, tmp_path, yubikey)
    r = cli("keygen", ws, "--keyholder", "alice", "--provision", "--confirm-serial", "42", "--new-pin-file",
            files["pin"], "--new-puk-file", files["puk"], "--attestation-roots", files["roots"])
    assert (r.code, r.err.splitlines()) == (4, [
        f"error: the serial typed (42) is not {yubikey.serial}; nothing was changed",
        "hint: type the serial printed on the YubiKey that is to be reset"])
    assert yubikey.sent(0xFB) == 0 and not yubikey.keys
    # Without --provision, a YubiKey fresh from the factory is not adopted.
    r = cli("keygen", ws, "--keyholder", "alice", "--attestation-roots", files["roots"])
    assert r.code == 4
    assert r.err.splitlines() == [
        f"error: YubiKey {yubikey.serial} is not fit for a ceremony: the factory PIN (123456) is still set; "
        "the factory PUK (12345678) is still set; the factory management key is still set",
        f"hint: run `ceremony yubikey provision --serial {yubikey.serial}`"]
    # --provision is for YubiKey keyholders only.
    r = cli("keygen", ws, "--keyholder", "bob", "--provision", "--pin-file", hsm.pin_file)
    assert (r.code, r.err.splitlines()[0]) == (
        64, "error: bob's token is a PKCS#11 token, not a YubiKey: there is nothing to provision")
    refused(ws)


def test_rehearsal_roots_are_refused_for_a_live_ceremony(hsm: SoftHsm, tmp_path: Path,
                                                         yubikey: VirtualYubiKey, files: dict[str, Path]) -> None:
    ws = one_yubikey_ceremony(hsm, tmp_path, yubikey, rehearsal=False)
    r = cli("keygen", ws, "--keyholder", "alice", "--attestation-roots", files["roots"])
    assert (r.code, r.err.splitlines()) == (64, [
        "error: --attestation-roots (or CEREMONY_ATTESTATION_ROOTS) is for rehearsals only: a live ceremony "
        "trusts only the bundled Yubico roots",
        "hint: unset CEREMONY_ATTESTATION_ROOTS, or mark the plan `rehearsal = true` for a rehearsal"])


def test_pin_budget_at_signing(hsm: SoftHsm, tmp_path: Path, yubikey: VirtualYubiKey,
                               files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    provision_card(yubikey)
    ws = one_yubikey_ceremony(hsm, tmp_path, yubikey)
    monkeypatch.setenv("CEREMONY_ATTESTATION_ROOTS", str(files["roots"]))  # the env form of the option
    assert cli("keygen", ws, "--keyholder", "alice").code == 0
    assert cli("keygen", ws, "--keyholder", "bob", "--pin-file", hsm.pin_file).code == 0
    assert cli("draft", ws).code == 0
    wrong = tmp_path / "wrong-pin"
    wrong.write_text("7654321\n")
    before = yubikey.pin_verifications()
    r = cli("sign", ws, "--keyholder", "alice", "--pin-file", wrong)
    assert (r.code, r.err.splitlines()[1:]) == (5, [
        f"error: the PIN for YubiKey {yubikey.serial} was refused; 2 tries left",
        "hint: the tool never retries a PIN: check it and run this step again"])
    assert yubikey.pin_verifications() == before + 1
    yubikey.pin_left = 1
    r = cli("sign", ws, "--keyholder", "alice", "--pin-file", files["pin"])
    assert (r.code, r.err.splitlines()[1]) == (
        5, f"error: YubiKey {yubikey.serial} has 1 PIN try left; the tool will not risk blocking it")
    assert yubikey.pin_verifications() == before + 1  # refused before any VERIFY
    assert all(e["type"] != "signature-added" for e in events(ws))


def test_detached_signature_on_a_yubikey(hsm: SoftHsm, tmp_path: Path, yubikey: VirtualYubiKey,
                                         files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """A keyholder signs the travelling draft on her YubiKey (ykcs11, one PIN, touch) elsewhere."""
    provision_card(yubikey)
    plan = write_plan(hsm, tmp_path, {"alice": (yubikey.serial, "always")}, ["bob"], threshold=2)
    ws = tmp_path / "ws"
    monkeypatch.setenv("CEREMONY_ATTESTATION_ROOTS", str(files["roots"]))
    assert cli("init", ws, "--plan", plan).code == 0
    assert cli("keygen", ws, "--keyholder", "alice").code == 0
    assert cli("keygen", ws, "--keyholder", "bob", "--pin-file", hsm.pin_file).code == 0
    assert cli("draft", ws).code == 0
    assert cli("sign", ws, "--keyholder", "bob", "--pin-file", hsm.pin_file).code == 0
    draft = tmp_path / "travel" / "draft.json"
    draft.parent.mkdir()
    assert cli("export-draft", ws, "--out", draft).code == 0
    sig = draft.parent / "1.root.sig-alice.json"

    # A wrong PIN: stopped at once with the tries left, no signature file, one try spent.
    wrong = tmp_path / "wrong-pin"
    wrong.write_text("7654321\n")
    before = yubikey.pin_verifications()
    words = ("--expect-digest", json.loads(draft.read_text())["digest"])  # read aloud
    r = cli("sign-draft", draft, "--keyholder", "alice", "--pin-file", wrong, *words)
    assert (r.code, r.err.splitlines()[-2:]) == (5, [
        f"error: the PIN for YubiKey {yubikey.serial} was refused; 2 tries left",
        "hint: the tool never retries a PIN: check it and run this step again"])
    assert yubikey.pin_verifications() == before + 1 and not sig.exists()

    touches = yubikey.touch.requests
    r = cli("sign-draft", draft, "--keyholder", "alice", "--pin-file", files["pin"], *words)
    assert r.code == 0, r.err
    assert f"touch your YubiKey now: YubiKey {yubikey.serial} is blinking" in r.err.splitlines()
    assert yubikey.pin_verifications() == before + 2 and yubikey.touch.requests == touches + 1
    assert sig.exists()

    r = cli("import-signature", ws, sig)
    assert r.code == 0 and "root v1: 2/2 - alice, bob signed; threshold met" in r.out, r.out + r.err
    assert cli("publish", ws).code == 0
    # The published root carries alice's YubiKey signature, and it verifies.
    meta = ws / "metadata"
    r = cli("verify", "--trusted", meta / "1.root.json", meta, "--attestation-roots", files["roots"])
    assert r.code == 0, r.err
    assert f"  alice: attested on YubiKey {yubikey.serial} (firmware 5.7.1, PIN always, touch always)" in r.out
