"""A YubiKey keygen resumed after it was interrupted (the sweep, test_yubikey_crash_sweep.py, kills
it for real at every write; here each way a resume can go, with its exact words).

The intent journaled before the card is written names the key slot 9c held then; a resumed run
reads the slot first: a key made since is recorded, never generated again (a second generation
would silently replace it), and refused with its reasons when its attestation fails.
"""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ceremony.events import KeygenIntent
from ceremony.session import Session
from hsm.yubikey.attestation import public_key_sha256
from tests.conftest import SoftHsm
from tests.engine.test_yubikey_ceremony import events, files, one_yubikey_ceremony  # noqa: F401
from tests.support.helpers import cli
from tests.support.vpiv.card import VirtualYubiKey
from tests.support.vpiv.fixtures import pcsc, provision_card, yubikey  # noqa: F401


def provision_args(card: VirtualYubiKey, files: dict[str, Path]) -> list[object]:  # noqa: F811
    return ["--provision", "--confirm-serial", card.serial, "--new-pin-file", files["pin"],
            "--new-puk-file", files["puk"], "--attestation-roots", files["roots"]]


def interrupted_intent(ws: Path, card: VirtualYubiKey, slot_key: str | None = None) -> None:
    """What a provisioning keygen killed after its intent left in the journal."""
    s = Session.open(ws)
    try:
        s.append(KeygenIntent(keyholder="alice", device="yubikey", mode="provision",
                              yubikey_serial=card.serial, slot="9c", algorithm="ecdsa-p256",
                              touch="always", key_id_hex="02", object_label=None, token_label=None,
                              token_serial=str(card.serial), trust="rehearsal roots roots.pem (not Yubico)",
                              slot_key_sha256=slot_key))
    finally:
        s.close()


def slot_pem(card: VirtualYubiKey) -> str:
    return card.keys[0x9C].private.public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def test_the_key_made_before_the_kill_is_recorded_not_made_again(
        hsm: SoftHsm, tmp_path: Path, yubikey: VirtualYubiKey, files: dict[str, Path]) -> None:  # noqa: F811
    ws = one_yubikey_ceremony(hsm, tmp_path, yubikey)
    interrupted_intent(ws, yubikey)
    provision_card(yubikey)  # the interrupted run reset the card and made the key
    resets, made = yubikey.sent(0xFB), yubikey.sent(0x47)
    r = cli("keygen", ws, "--keyholder", "alice", *provision_args(yubikey, files))
    assert r.code == 0, r.err
    assert r.err.splitlines() == [
        f"warning: slot 9c of YubiKey {yubikey.serial} holds a key made after the interrupted keygen of "
        "alice journaled its intent: it is recorded, not generated again"]
    assert r.out.splitlines()[0].startswith(f"alice: ecdsa-p256 key in slot 9c of YubiKey {yubikey.serial} "
                                            "(provisioned now), attested:")
    assert (yubikey.sent(0xFB), yubikey.sent(0x47)) == (resets, made)  # no reset, no second key
    types = [e["type"] for e in events(ws)]
    assert types.count("keygen-intent") == 1 and types.count("key-generated") == 1
    key = next(e["data"] for e in events(ws) if e["type"] == "key-generated")
    assert key["key"]["keyval"]["public"] == slot_pem(yubikey)
    assert json.loads((ws / "keys" / "root-alice.json").read_text())["keyid"] == key["keyid"]
    assert cli("record", "verify", ws, "--allow-unsealed").code == 0


def test_a_key_that_does_not_attest_is_refused_and_the_card_is_not_reset(
        hsm: SoftHsm, tmp_path: Path, yubikey: VirtualYubiKey, files: dict[str, Path]) -> None:  # noqa: F811
    from yubikit.piv import KEY_TYPE, PIN_POLICY, SLOT, TOUCH_POLICY

    from hsm.yubikey.device import piv_session, select_yubikey
    ws = one_yubikey_ceremony(hsm, tmp_path, yubikey)
    interrupted_intent(ws, yubikey)
    provision_card(yubikey)
    with piv_session(select_yubikey(yubikey.serial)) as s:  # then a key with weak policies
        s.authenticate(yubikey.mgmt_key)
        s.generate_key(SLOT.SIGNATURE, KEY_TYPE.ECCP256, PIN_POLICY.ONCE, TOUCH_POLICY.NEVER)
    before, resets = slot_pem(yubikey), yubikey.sent(0xFB)
    lines = (ws / "journal.jsonl").read_bytes()
    r = cli("keygen", ws, "--keyholder", "alice", *provision_args(yubikey, files))
    assert r.code == 3
    assert r.err.splitlines() == [
        f"error: slot 9c of YubiKey {yubikey.serial} holds a key made after the interrupted keygen of alice "
        "journaled its intent, but its attestation does not verify: the key's PIN policy is once, not "
        "always; the key's touch policy is never, not always; nothing was recorded",
        f"hint: provision the YubiKey again (`ceremony yubikey provision --serial {yubikey.serial}`, resets "
        "PIV), then run keygen --keyholder alice without --provision"]
    assert (ws / "journal.jsonl").read_bytes() == lines  # nothing journaled
    assert not (ws / "keys" / "root-alice.json").exists() and not (ws / "keys" / "attestation-alice.pem").exists()
    assert slot_pem(yubikey) == before and yubikey.sent(0xFB) == resets  # the key is left, unreset
    # The way forward the hint names: a key the tool makes, then keygen adopts it.
    provision_card(yubikey)
    r = cli("keygen", ws, "--keyholder", "alice", "--attestation-roots", files["roots"])
    assert r.code == 0, r.err
    assert next(e["data"] for e in events(ws) if e["type"] == "key-generated")["key"]["keyval"]["public"] \
        == slot_pem(yubikey)


def test_a_provisioning_that_never_reached_the_key_provisions_now(
        hsm: SoftHsm, tmp_path: Path, yubikey: VirtualYubiKey, files: dict[str, Path]) -> None:  # noqa: F811
    provision_card(yubikey)  # the slot held a key before the keygen: the intent names it
    old = slot_pem(yubikey)
    ws = one_yubikey_ceremony(hsm, tmp_path, yubikey)
    interrupted_intent(ws, yubikey, public_key_sha256(yubikey.keys[0x9C].private.public_key()))
    r = cli("keygen", ws, "--keyholder", "alice", *provision_args(yubikey, files))
    assert r.code == 0, r.err
    assert "holds a key made after" not in r.err and "resetting the PIV application" in r.err
    assert slot_pem(yubikey) != old  # the old key was not taken for this keygen's
    key = next(e["data"] for e in events(ws) if e["type"] == "key-generated")
    assert key["key"]["keyval"]["public"] == slot_pem(yubikey)
    assert [e["type"] for e in events(ws)].count("keygen-intent") == 1


def test_an_interrupted_provisioning_then_adopting_journals_the_adopted_key(
        hsm: SoftHsm, tmp_path: Path, yubikey: VirtualYubiKey, files: dict[str, Path]) -> None:  # noqa: F811
    provision_card(yubikey)
    ws = one_yubikey_ceremony(hsm, tmp_path, yubikey)
    named = public_key_sha256(yubikey.keys[0x9C].private.public_key())
    interrupted_intent(ws, yubikey, named)  # it never reset the card
    r = cli("keygen", ws, "--keyholder", "alice", "--attestation-roots", files["roots"])
    assert r.code == 0, r.err
    assert "(adopted)" in r.out.splitlines()[0]
    intents = [e["data"] for e in events(ws) if e["type"] == "keygen-intent"]
    assert [(i["mode"], i["slot_key_sha256"]) for i in intents] == [("provision", named), ("adopt", named)]


def test_key_and_attestation_files_lost_after_the_journal_come_back(
        hsm: SoftHsm, tmp_path: Path, yubikey: VirtualYubiKey, files: dict[str, Path]) -> None:  # noqa: F811
    ws = one_yubikey_ceremony(hsm, tmp_path, yubikey)
    assert cli("keygen", ws, "--keyholder", "alice", *provision_args(yubikey, files)).code == 0
    saved = {n: (ws / "keys" / n).read_bytes() for n in ("root-alice.json", "attestation-alice.pem")}
    for n in saved:
        (ws / "keys" / n).unlink()
    r = cli("keygen", ws, "--keyholder", "alice", *provision_args(yubikey, files))
    assert (r.code, r.err.splitlines()[0]) == (8, "error: alice already has a root key in this ceremony "
                                                  f"({events(ws)[-1]['data']['keyid'][:12]})")
    assert {n: (ws / "keys" / n).read_bytes() for n in saved} == saved
    assert cli("record", "verify", ws, "--allow-unsealed").code == 0


def test_the_attestation_pem_is_rebuilt_from_either_format_s_event() -> None:
    from ceremony.attestation import journaled_pem
    field = {"type": "yubikey-piv", "slot": "9c", "certificates": ["-----A-----\n", "-----B-----\n"]}
    # TUF: the key carries the field; notary: root.json cannot, the journal's attestation does
    assert journaled_pem({"device": "yubikey", "key": {"x-ceremony-attestation": field},
                          "attestation": {"mode": "provision"}}) == "-----A-----\n-----B-----\n"
    assert journaled_pem({"device": "yubikey", "key": {"keyval": {}},
                          "attestation": {"mode": "adopt", "field": field}}) == "-----A-----\n-----B-----\n"
    assert journaled_pem({"device": "pkcs11", "key": {"x-ceremony-attestation": field}}) is None
    assert journaled_pem({"device": "yubikey", "key": {}, "attestation": {}}) is None


def test_a_key_recorded_before_its_slot_certificate_was_stored_signs(
        hsm: SoftHsm, tmp_path: Path, yubikey: VirtualYubiKey, files: dict[str, Path]) -> None:  # noqa: F811
    """The provisioning killed between the key's generation and storing the attestation as the
    slot's certificate (the sweep's last card point): the key is recorded, and ykcs11 signs with it."""
    ws = one_yubikey_ceremony(hsm, tmp_path, yubikey)
    interrupted_intent(ws, yubikey)
    provision_card(yubikey)
    del yubikey.objects[0x5FC10A]  # slot 9c's certificate object: never written
    assert cli("keygen", ws, "--keyholder", "alice", *provision_args(yubikey, files)).code == 0
    assert cli("keygen", ws, "--keyholder", "bob", "--pin-file", hsm.pin_file).code == 0
    assert cli("draft", ws).code == 0
    r = cli("sign", ws, "--keyholder", "alice", "--pin-file", files["pin"])
    assert r.code == 0, r.err
    assert r.out.splitlines()[0] == f"alice signed root v1 with YubiKey {yubikey.serial}"
    assert 0x5FC10A not in yubikey.objects
