"""A root made by tuf-on-ci is continued by our ceremony: ``init --previous`` takes the
repository's folder (``metadata/root.json``, ``metadata/root_history/``), the old root's
keyholder (``x-tuf-on-ci-keyowner = "@alice"``, her key in PIV slot 9c's key id on her token,
as tuf-on-ci's HSM signer keeps it) signs root v2 beside her new key, and python-tuf walks
v1 -> v2.

Root v1 is made here with python-tuf following tuf-on-ci's rules (what its ``close()`` and
``set_online_config`` write): the keyowner field, whole-object key ids, the period fields in
the root's ``signed`` and in the snapshot/timestamp role entries, one online key with
``x-tuf-on-ci-online-uri`` for both online roles, targets held by the offline signer.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path

import pytest
from securesystemslib.signer import SSlibKey
from tuf.api.metadata import Metadata, Root

from ceremony import keyids
from ceremony.errors import VerificationError
from ceremony.formats import tuf_layout
from ceremony.keys import key_from_crypto
from hsm.signer import TokenSigner
from tests.support.helpers import cli, make_online_keys, online_key_paths, published_v1, run_steps
from tests.support.plans import plan_toml
from tests.support.tufonci import URIS, compat_plan

KMS = "gcpkms:projects/toc/locations/global/keyRings/online/cryptoKeys/online/cryptoKeyVersions/1"


def _key(public: object, fields: dict[str, str]) -> SSlibKey:
    data = key_from_crypto(public).to_dict() | fields
    return SSlibKey.from_dict(keyids.whole_object_keyid(data), data)


def _tuf_on_ci_root(hsm, tmp: Path) -> tuple[Path, bytes, SSlibKey]:
    """tmp/toc: a tuf-on-ci repository whose root v1 alice signed on tok-alice (CKA_ID 2)."""
    online_tk = make_online_keys(hsm, tmp / "old-online", label="old-online", roles=("timestamp",))
    hsm.make("tok-alice")  # (a new token reloads the module: the keys are opened after it)
    token = hsm.module.find_token(label="tok-alice")
    tk = hsm.module.generate(token, hsm.pin, "ecdsa-p256", "alice-9c", b"\x02")
    alice = _key(tk.public_key(), {"x-tuf-on-ci-keyowner": "@alice"})
    online = _key(online_tk.open()["timestamp"].public_key(), {"x-tuf-on-ci-online-uri": KMS})
    root = Root(version=1, expires=datetime.now(UTC).replace(microsecond=0) + timedelta(days=365),
                consistent_snapshot=True,
                unrecognized_fields={"x-tuf-on-ci-expiry-period": 365, "x-tuf-on-ci-signing-period": 60})
    for role in ("root", "targets"):
        root.add_key(alice, role)
    for role, (expiry, signing) in {"timestamp": (2, 1), "snapshot": (365, 60)}.items():
        root.add_key(online, role)
        root.roles[role].unrecognized_fields.update({"x-tuf-on-ci-expiry-period": expiry,
                                                    "x-tuf-on-ci-signing-period": signing})
    md = Metadata(root)
    md.sign(TokenSigner(tk, alice))
    data = md.to_bytes()
    meta = tmp / "toc" / "metadata"
    (meta / "root_history").mkdir(parents=True)
    (meta / "root.json").write_bytes(data)
    (meta / "root_history" / "1.root.json").write_bytes(data)
    return tmp / "toc", data, alice


def test_init_previous_continues_a_tuf_on_ci_root(hsm, tmp_path):
    repo, v1, old_alice = _tuf_on_ci_root(hsm, tmp_path)
    make_online_keys(hsm, tmp_path / "online", roles=("online",))
    plan = compat_plan(tmp_path / "plan" / "plan.toml", {"alice": "tok-alice"}, 1, tmp_path / "online",
                       uris=URIS)
    ws = tmp_path / "ws"
    r = cli("init", ws, "--plan", plan, "--previous", repo)
    assert r.code == 0, r
    assert (ws / "previous" / "1.root.json").read_bytes() == v1
    pin = ["--pin-file", hsm.pin_file]
    for step in (["keygen", ws, "--keyholder", "alice", *pin], ["draft", ws]):
        r = cli(*step)
        assert r.code == 0, r
    r = cli("sign", ws, "--keyholder", "alice", *pin)
    assert r.code == 0, r
    r = cli("publish", ws)
    assert r.code == 0, r

    v2 = (ws / "metadata" / "2.root.json").read_bytes()
    md = Metadata.from_bytes(v2)
    assert isinstance(md.signed, Root)
    old = Metadata.from_bytes(v1).signed
    assert isinstance(old, Root)
    old.verify_delegate("root", md.signed_bytes, md.signatures)  # alice's tuf-on-ci key signed
    md.signed.verify_delegate("root", md.signed_bytes, md.signatures)  # and her new key
    assert old_alice.keyid in md.signatures
    (new_id,) = md.signed.roles["root"].keyids
    assert new_id != old_alice.keyid
    assert md.signed.keys[new_id].unrecognized_fields["x-tuf-on-ci-keyowner"] == "@alice"
    # the workspace is the next tuf-on-ci repository state: both versions in root_history
    history = ws / "metadata" / "root_history"
    assert sorted(p.name for p in history.iterdir()) == ["1.root.json", "2.root.json"]
    assert (history / "1.root.json").read_bytes() == v1 and (history / "2.root.json").read_bytes() == v2
    assert json.loads(v2)["signed"]["x-tuf-on-ci-expiry-period"] == 365
    assert set(tuf_layout.repository_files(ws / "metadata")) == {
        "metadata/root.json", "metadata/root_history/1.root.json", "metadata/root_history/2.root.json",
        "metadata/targets.json"}
    # the continued root edited alike in previous/ and root_history/: only the journal's digest
    # (init's previous.files) tells, where a byte-for-byte comparison of the two copies would not
    edited = v1 + b"\n"
    (ws / "previous" / "1.root.json").write_bytes(edited)
    (history / "1.root.json").write_bytes(edited)
    with pytest.raises(VerificationError) as e:
        tuf_layout.repository_files(ws / "metadata")
    assert e.value.message == ("metadata/root_history/1.root.json is not the root the workspace "
                               f"published or continued (journal: sha256 {sha256(v1).hexdigest()[:16]}...)")
    (ws / "previous" / "1.root.json").write_bytes(v1)
    (history / "1.root.json").write_bytes(v1)
    (history / "0.root.json").write_bytes(v1)  # a root the journal never vouched for
    with pytest.raises(VerificationError) as e:
        tuf_layout.repository_files(ws / "metadata")
    assert e.value.message == ("metadata/root_history/0.root.json is a root the workspace neither "
                               "published nor continued (its journal records no 0.root.json)")


def test_a_keyholder_the_new_plan_drops_still_signs_with_the_old_key(hsm, tmp_path):
    """carol holds a key of root v1 (a ceremony's, naming its token) and is not in v2's plan:
    her old key still signs toward v1's threshold (the tuf-on-ci key lookup leaves it alone)."""
    repo = published_v1(hsm, tmp_path)
    hsm.make("tok-dave")
    holders = {"alice": "tok-alice", "bob": "tok-bob", "dave": "tok-dave"}
    plan = tmp_path / "p2.toml"
    plan.write_text(plan_toml("v2", holders, list(holders), 2, online_key_paths(tmp_path / "a")))
    c = run_steps(hsm, tmp_path / "ws2", plan, repo, ["carol", "alice", "dave"])
    v2 = Metadata.from_bytes((tmp_path / "ws2" / "metadata" / "2.root.json").read_bytes())
    v1 = Metadata.from_bytes((repo / "1.root.json").read_bytes()).signed
    assert isinstance(v1, Root) and isinstance(v2.signed, Root)
    v1.verify_delegate("root", v2.signed_bytes, v2.signatures)
    assert "carol" not in [k.name for k in c.plan.keyholders]
