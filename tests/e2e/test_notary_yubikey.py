"""A Notary v1 / Docker Content Trust root whose keys are on a YubiKey and a SoftHSM token.

The YubiKey is the virtual card under the real pcscd, ykcs11 and yubikit (tests/support/vpiv); the
collection is judged by the real notary-server and notary client (tests/support/notary_harness.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SoftHsm
from tests.e2e.test_notary_ceremony import Rig
from tests.engine.test_yubikey_ceremony import events, files  # noqa: F401 - the PIN/PUK/roots fixture
from tests.support.helpers import cli
from tests.support.notary_fixtures import ok
from tests.support.notary_harness import NotaryStack
from tests.support.vpiv.card import VirtualYubiKey
from tests.support.vpiv.fixtures import pcsc, provision_card, yubikey  # noqa: F401

pytestmark = pytest.mark.notary


def test_notary_root_key_on_a_yubikey(notary_stack: NotaryStack, hsm: SoftHsm, tmp_path: Path,
                                      yubikey: VirtualYubiKey, files: dict[str, Path],  # noqa: F811
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    rig = Rig(notary_stack, hsm, tmp_path, "example.com/ceremony/yubikey")
    provision_card(yubikey)
    hsm.make("tok-carol")
    keys = tmp_path / "server-keys"
    ok(rig.fetch_keys(keys))
    pem, pub = rig.tagging_key("targets-1")
    plan = rig.plan("v1", {"alice": "tok-alice", "carol": "tok-carol"}, ["alice", "carol"], 2, pub, keys)
    plan.write_text(plan.read_text().replace(
        'name = "alice"\ntoken = "tok-alice"', f'name = "alice"\ndevice = "yubikey"\nserial = "{yubikey.serial}"'))
    monkeypatch.setenv("CEREMONY_ATTESTATION_ROOTS", str(files["roots"]))
    ws = tmp_path / "ws"
    ok(cli("init", ws, "--plan", plan))

    # keygen: attested first (no PIN), then the root certificate is signed on the card (one PIN, one touch)
    before = yubikey.pin_verifications()
    r = ok(cli("keygen", ws, "--keyholder", "alice", "--pin-file", files["pin"]))
    assert r.out.splitlines()[0].startswith(f"alice: ecdsa-p256 key in slot 9c of YubiKey {yubikey.serial} "
                                            "(adopted), attested: generated on the device")
    assert yubikey.pin_verifications() == before + 1 and yubikey.touch.requests == 1
    ok(cli("keygen", ws, "--keyholder", "carol", "--pin-file", hsm.pin_file))
    ok(cli("draft", ws))
    r = ok(cli("sign", ws, "--keyholder", "alice", "--pin-file", files["pin"]))
    assert f"touch your YubiKey now: YubiKey {yubikey.serial} is blinking" in r.err.splitlines()
    assert yubikey.pin_verifications() == before + 2 and yubikey.touch.requests == 2
    ok(cli("sign", ws, "--keyholder", "carol", "--pin-file", hsm.pin_file))
    ok(cli("publish", ws))

    # The real notary-server takes the root, and the real notary client trusts it.
    ok(rig.upload(ws, pem))
    rig.notary(tmp_path / "client", "list", rig.gun).check()
    root = json.loads((ws / "metadata" / "root.json").read_text())["signed"]
    alice = next(e["data"] for e in events(ws) if e["type"] == "key-generated"
                 and e["data"]["keyholder"] == "alice")
    assert alice["keyid"] in root["roles"]["root"]["keyids"] and b"x-ceremony" not in (
        ws / "metadata" / "root.json").read_bytes()
    sidecar = json.loads((ws / "metadata" / "ceremony-keys.json").read_text())["keys"][alice["keyid"]]
    assert (sidecar["device"], sidecar["token_serial"]) == ("yubikey", str(yubikey.serial))
    assert sidecar["attestation"] == (ws / "keys" / "attestation-alice.pem").read_text()
    # ceremony verify reports each root key's attestation from the sidecar, re-checked offline.
    meta = ws / "metadata"
    r = ok(cli("verify", "--trusted", meta / "1.root.json", meta, "--attestation-roots", files["roots"]))
    assert r.out.splitlines()[-3:] == [
        "root key attestations (v1, against rehearsal roots roots.pem (not Yubico)):",
        f"  alice: attested on YubiKey {yubikey.serial} (firmware 5.7.1, PIN always, touch always)",
        "  carol: no attestation (PKCS#11 token)"]

    # Sealed with the same YubiKey; record verify re-checks the attestation kept in the journal.
    ok(cli("seal", ws, "--keyholder", "alice", "--pin-file", files["pin"]))
    ok(cli("seal", ws, "--keyholder", "carol", "--pin-file", hsm.pin_file))
    r = ok(cli("record", "verify", ws))
    assert any(line.startswith(f"ok   alice's key was generated on YubiKey {yubikey.serial}")
               for line in r.out.splitlines()), r.out


def test_notary_draft_signed_elsewhere_on_a_yubikey(hsm: SoftHsm, tmp_path: Path, yubikey: VirtualYubiKey,
                                                    files: dict[str, Path],  # noqa: F811
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """export-draft → sign-draft on the YubiKey (ykcs11, PIN, touch) → import-signature → publish."""
    from tests.support.notary_fixtures import offline_key_files
    from tests.support.plans import notary_plan
    gun = "example.com/ceremony/yubikey-detached"
    provision_card(yubikey)
    hsm.make("tok-carol")
    keys, targets = offline_key_files(tmp_path / "keys", gun)
    plan = tmp_path / "plan.toml"
    plan.write_text(notary_plan("d", gun, {"alice": "x", "carol": "tok-carol"}, ["alice", "carol"], 2,
                                targets, keys).replace(
        'name = "alice"\ntoken = "x"', f'name = "alice"\ndevice = "yubikey"\nserial = "{yubikey.serial}"'))
    monkeypatch.setenv("CEREMONY_ATTESTATION_ROOTS", str(files["roots"]))
    ws = tmp_path / "ws"
    ok(cli("init", ws, "--plan", plan))
    ok(cli("keygen", ws, "--keyholder", "alice", "--pin-file", files["pin"]))
    ok(cli("keygen", ws, "--keyholder", "carol", "--pin-file", hsm.pin_file))
    ok(cli("draft", ws))
    ok(cli("sign", ws, "--keyholder", "carol", "--pin-file", hsm.pin_file))
    draft = tmp_path / "travel" / "draft.json"
    draft.parent.mkdir()
    ok(cli("export-draft", ws, "--out", draft))
    touches = yubikey.touch.requests
    r = ok(cli("sign-draft", draft, "--keyholder", "alice", "--pin-file", files["pin"],
               "--expect-digest", json.loads(draft.read_text())["digest"]))
    assert f"touch your YubiKey now: YubiKey {yubikey.serial} is blinking" in r.err.splitlines()
    assert yubikey.touch.requests == touches + 1
    r = ok(cli("import-signature", ws, draft.parent / "1.root.sig-alice.json"))
    assert "root v1: 2/2 - alice, carol signed; threshold met" in r.out
    ok(cli("publish", ws))
    r = ok(cli("notary", "verify", ws / "metadata"))
    assert "chain verified: newest root is v1" in r.out
