"""Key ids recomputed wherever a root is read, and thresholds counted by key, not by id.

Every attack is a root re-signed on the real SoftHSM tokens, refused by `ceremony verify`,
`ceremony init --previous` and `status` with its exact message and exit code. Where python-tuf
(whose ngclient walks roots through ``TrustedMetadataSet``) is laxer than the specification,
the test says so: our tool is the strict one.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from securesystemslib.signer import Key
from tuf.api.exceptions import UnsignedMetadataError
from tuf.api.metadata import Metadata
from tuf.ngclient._internal.trusted_metadata_set import TrustedMetadataSet
from tuf.ngclient.config import EnvelopeType

from ceremony import keyids
from ceremony.engine import Ceremony, open_root_key
from hsm.signer import TokenSigner
from tests.conftest import SoftHsm
from tests.support.helpers import (
    cli,
    make_online_keys,
    online_key_paths,
    published_v1,
    run_steps,
)
from tests.support.plans import plan_toml

THREE = {k: f"tok-{k}" for k in ("alice", "bob", "carol")}
ROLES = ("targets", "snapshot", "timestamp")


# ---- an independent canonical JSON (OLPC: only \\ and " escaped; no whitespace) ----------------


def _canon(obj: Any) -> str:
    if isinstance(obj, dict):
        return "{" + ",".join(f"{_canon(k)}:{_canon(obj[k])}" for k in sorted(obj)) + "}"
    if isinstance(obj, list):
        return "[" + ",".join(_canon(v) for v in obj) + "]"
    if isinstance(obj, str):
        return '"' + obj.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if obj is None:
        return "null"
    assert isinstance(obj, int)
    return str(obj)


def _sha(obj: Any) -> str:
    return hashlib.sha256(_canon(obj).encode()).hexdigest()


def _three_field_id(key: dict[str, Any]) -> str:
    return _sha({f: key[f] for f in ("keytype", "scheme", "keyval")})


# ---- fixtures and forging helpers ----------------------------------------------------------


_paths = online_key_paths


@pytest.fixture
def chain(hsm: SoftHsm, tmp_path: Path) -> Path:
    """A published chain: v1 (alice, bob, carol; 2 of 3) signed by alice and bob."""
    repo = published_v1(hsm, tmp_path)
    return repo


def _doc(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _holder_id(signed: dict[str, Any], name: str) -> str:
    return next(k for k in signed["roles"]["root"]["keyids"]
                if signed["keys"][k].get("x-ceremony-keyholder") == name)


def _signature(hsm: SoftHsm, key_dict: dict[str, Any], keyid: str, payload: bytes) -> str:
    """A real signature by the token key ``key_dict`` describes (its x- fields find the token)."""
    key = Key.from_dict(keyid, copy.deepcopy(key_dict))
    sig = TokenSigner(open_root_key(key, hsm.module, hsm.pin), key).sign(payload)
    key.verify_signature(sig, payload)
    return sig.signature


def _forge(hsm: SoftHsm, signed: dict[str, Any], signers: list[tuple[dict[str, Any], list[str]]],
           extra: list[dict[str, str]] = ()) -> bytes:  # type: ignore[assignment]
    """Root metadata over ``signed``, signed by each (key, [ids to list the signature under])."""
    payload = Metadata.from_dict({"signed": json.loads(json.dumps(signed)), "signatures": []}).signed_bytes
    sigs = []
    for key, ids in signers:
        value = _signature(hsm, key, ids[0], payload)
        sigs += [{"keyid": i, "sig": value} for i in ids]
    return json.dumps({"signed": signed, "signatures": [*sigs, *extra]}, indent=1).encode()


def _v2(v1: dict[str, Any], keys: dict[str, dict[str, Any]], threshold: int = 2) -> dict[str, Any]:
    """Root v2: v1's online roles, ``keys`` (id -> key) as the root role."""
    signed = copy.deepcopy(v1)
    signed["version"] = 2
    online = {k for r in ROLES for k in signed["roles"][r]["keyids"]}
    signed["keys"] = {k: v for k, v in signed["keys"].items() if k in online}
    signed["keys"].update({k: copy.deepcopy(v) for k, v in keys.items()})  # never one shared dict
    signed["roles"]["root"] = {"keyids": list(keys), "threshold": threshold}
    return signed


def _verify(trusted: Path, folder: Path, *extra: str) -> Any:
    return cli("verify", "--trusted", trusted, folder, *extra)


def _init(tmp_path: Path, repo: Path, name: str, holders: dict[str, str] | None = None,
          root: list[str] | None = None) -> Any:
    p = tmp_path / f"{name}.toml"
    p.write_text(plan_toml(name, holders or THREE, root or ["alice", "bob"], 2,
                           _paths(tmp_path / "a")))
    return cli("init", tmp_path / name, "--plan", p, "--previous", repo)


def _python_tuf_accepts(trusted: bytes, new: bytes) -> bool:
    """What ngclient's root walk (``TrustedMetadataSet.update_root``) makes of ``new``."""
    tms = TrustedMetadataSet(trusted, EnvelopeType.METADATA)
    try:
        tms.update_root(new)
    except (UnsignedMetadataError, ValueError):
        return False
    return True


# ---- new keys: whole-object ids ------------------------------------------------------------


def test_new_keys_get_whole_object_ids_everywhere_they_are_recorded(chain: Path, tmp_path: Path) -> None:
    signed = _doc(chain / "1.root.json")["signed"]
    for keyid, key in signed["keys"].items():
        assert keyid == _sha(key), f"{keyid} is not the whole-object id"
    alice = signed["keys"][_holder_id(signed, "alice")]
    assert any(f.startswith("x-ceremony-") for f in alice)
    assert _holder_id(signed, "alice") != _three_field_id(alice)  # the x- fields are hashed in
    # the journal's key-generated event and the key file carry that same id
    events = [json.loads(line) for line in (tmp_path / "ws1" / "journal.jsonl").read_text().splitlines()]
    generated = {e["data"]["keyholder"]: e["data"] for e in events if e["type"] == "key-generated"}
    for name, d in generated.items():
        assert d["keyid"] == _sha(d["key"]) == _holder_id(signed, name)
        key_file = _doc(tmp_path / "ws1" / "keys" / f"root-{name}.json")
        assert key_file["keyid"] == d["keyid"]
    # ceremony verify --json says so for every key of the newest root
    r = _verify(chain / "1.root.json", chain, "--json")
    assert r.code == 0, r.err
    rules = {(k["name"], k["keyid_rule"]) for k in json.loads(r.out)["newest_keys"] if "root" in k["roles"]}
    assert rules == {("alice", "whole-object"), ("bob", "whole-object"), ("carol", "whole-object")}
    # python-tuf (ngclient's root walk) still takes such a root as its trust anchor
    assert TrustedMetadataSet((chain / "1.root.json").read_bytes(), EnvelopeType.METADATA).root.version == 1
    # and --json says which rule each key follows
    r = cli("status", tmp_path / "ws1", "--json")
    assert r.code == 0
    keys = json.loads(r.out)["thresholds"]["new"]["keys"]
    assert {(k["name"], k["keyid_rule"]) for k in keys} == {
        ("alice", "whole-object"), ("bob", "whole-object"), ("carol", "whole-object")}


# ---- attacks: ceremony verify, init --previous ---------------------------------------------


def test_a_key_id_that_does_not_match_its_key(hsm: SoftHsm, chain: Path, tmp_path: Path) -> None:
    v1 = _doc(chain / "1.root.json")["signed"]
    a, b = _holder_id(v1, "alice"), _holder_id(v1, "bob")
    forged_id = "ab" * 32
    signed = _v2(v1, {forged_id: v1["keys"][a], b: v1["keys"][b]})
    (chain / "2.root.json").write_bytes(
        _forge(hsm, signed, [(v1["keys"][a], [a, forged_id]), (v1["keys"][b], [b])]))
    assert _python_tuf_accepts((chain / "1.root.json").read_bytes(), (chain / "2.root.json").read_bytes())
    want = (f"error: 2.root.json: alice ({forged_id[:12]}) is listed under key id {forged_id}, "
            f"which does not match the key: calculated {_sha(v1['keys'][a])} over the whole key "
            f"object and {_three_field_id(v1['keys'][a])} over keytype, scheme and keyval")
    r = _verify(chain / "1.root.json", chain)
    assert (r.code, r.err.splitlines()[0]) == (3, want)
    r = _init(tmp_path, chain, "ws-forged")
    assert (r.code, r.err.splitlines()[0]) == (3, want)
    assert not (tmp_path / "ws-forged").exists()
    # the trusted root itself is read the same way
    doc = _doc(chain / "1.root.json")
    doc["signed"]["keys"][forged_id] = doc["signed"]["keys"].pop(b)
    doc["signed"]["roles"]["root"]["keyids"] = [forged_id if k == b else k
                                                for k in doc["signed"]["roles"]["root"]["keyids"]]
    (tmp_path / "bad-trusted.json").write_text(json.dumps(doc))
    r = _verify(tmp_path / "bad-trusted.json", chain)
    assert r.code == 3
    assert r.err.startswith(f"error: {tmp_path / 'bad-trusted.json'}: bob ({forged_id[:12]}) is listed "
                            f"under key id {forged_id}, which does not match the key")


def test_one_key_under_two_ids_counts_once_toward_the_new_threshold(
        hsm: SoftHsm, chain: Path, tmp_path: Path) -> None:
    v1 = _doc(chain / "1.root.json")["signed"]
    a, b, c = (_holder_id(v1, n) for n in ("alice", "bob", "carol"))
    alias = _three_field_id(v1["keys"][a])  # alice's key again, under its (valid) three-field id
    signed = _v2(v1, {a: v1["keys"][a], alias: v1["keys"][a], c: v1["keys"][c]})
    # alice signs under both ids; bob only for the old threshold
    (chain / "2.root.json").write_bytes(
        _forge(hsm, signed, [(v1["keys"][a], [a, alias]), (v1["keys"][b], [b])]))
    # python-tuf counts ids: alice twice meets 2 of 2
    assert _python_tuf_accepts((chain / "1.root.json").read_bytes(), (chain / "2.root.json").read_bytes())
    want = ("error: 2.root.json is not signed at threshold: root v2: 1/2 - alice signed; waiting "
            f"for one of carol; alice's key is listed twice, under ids {a[:12]} and {alias[:12]}: "
            "it counts once")
    r = _verify(chain / "1.root.json", chain)
    assert (r.code, r.err.splitlines()[0]) == (3, want)
    r = _init(tmp_path, chain, "ws-alias")
    assert (r.code, r.err.splitlines()[0]) == (3, want)
    assert not (tmp_path / "ws-alias").exists()


def _aliased_v1(hsm: SoftHsm, chain: Path, tmp_path: Path) -> tuple[Path, dict[str, Any], str, str]:
    """A trusted v1 listing alice's key twice (alice's whole-object and three-field ids), bob
    and carol; 2 of 4 ids, genuinely signed by alice and bob (it is self-signed by 2 keys)."""
    v1 = _doc(chain / "1.root.json")["signed"]
    a, b, c = (_holder_id(v1, n) for n in ("alice", "bob", "carol"))
    alias = _three_field_id(v1["keys"][a])
    signed = copy.deepcopy(v1)
    signed["keys"][alias] = copy.deepcopy(v1["keys"][a])
    signed["roles"]["root"]["keyids"] = [a, alias, b, c]
    repo = tmp_path / "aliased"
    repo.mkdir()
    (repo / "1.root.json").write_bytes(
        _forge(hsm, signed, [(v1["keys"][a], [a, alias]), (v1["keys"][b], [b])]))
    return repo, signed, a, alias


def test_one_key_under_two_ids_counts_once_toward_the_old_threshold(
        hsm: SoftHsm, chain: Path, tmp_path: Path) -> None:
    repo, v1, a, alias = _aliased_v1(hsm, chain, tmp_path)
    # v2: alice alone (threshold 1); the old threshold is "met" by alice under two ids
    signed = _v2(v1, {a: v1["keys"][a]}, threshold=1)
    (repo / "2.root.json").write_bytes(_forge(hsm, signed, [(v1["keys"][a], [a, alias])]))
    assert _python_tuf_accepts((repo / "1.root.json").read_bytes(), (repo / "2.root.json").read_bytes())
    want = ("error: 2.root.json is not signed at threshold: previous root v1: 1/2 - alice signed; "
            f"waiting for one of bob, carol; alice's key is listed twice, under ids {a[:12]} and "
            f"{alias[:12]}: it counts once")
    r = _verify(repo / "1.root.json", repo)
    assert (r.code, r.err.splitlines()[0]) == (3, want)
    r = _init(tmp_path, repo, "ws-old-alias")
    assert (r.code, r.err.splitlines()[0]) == (3, want)
    assert not (tmp_path / "ws-old-alias").exists()


def test_status_counts_a_key_listed_twice_in_the_previous_root_once(
        hsm: SoftHsm, chain: Path, tmp_path: Path) -> None:
    repo, _v1, a, alias = _aliased_v1(hsm, chain, tmp_path)
    r = _init(tmp_path, repo, "ws")
    assert r.code == 0, r.err
    c = Ceremony.open(tmp_path / "ws")
    c.draft()
    c.sign("alice", hsm.module, hsm.pin)  # alice's signature goes under both of her ids
    r = cli("status", tmp_path / "ws")
    assert r.code == 0
    assert (f"previous root v1: 1/2 - alice signed; waiting for one of bob, carol; alice's key is "
            f"listed twice, under ids {a[:12]} and {alias[:12]}: it counts once") in r.out
    assert "alice, alice" not in r.out
    r = cli("publish", tmp_path / "ws")
    assert r.code == 6
    assert "previous root v1: 1/2 - alice signed" in r.err
    st = json.loads(cli("status", tmp_path / "ws", "--json").out)["thresholds"]["old"]
    assert st["signed"] == ["alice"] and st["met"] is False
    assert [k["keyid_rule"] for k in st["keys"]] == ["whole-object", "standard-fields",
                                                     "whole-object", "whole-object"]


def test_draft_refuses_a_plan_that_lists_one_key_twice(hsm: SoftHsm, chain: Path, tmp_path: Path) -> None:
    # v1 lists alice's key a second time as mallory's, said to be on mallory's token
    v1 = _doc(chain / "1.root.json")["signed"]
    a, b, c = (_holder_id(v1, n) for n in ("alice", "bob", "carol"))
    mallory = copy.deepcopy(v1["keys"][a]) | {"x-ceremony-keyholder": "mallory",
                                              "x-ceremony-token-label": "tok-mallory"}
    m = _sha(mallory)
    signed = copy.deepcopy(v1)
    signed["keys"][m] = mallory
    signed["roles"]["root"]["keyids"] = [a, m, b, c]
    repo = tmp_path / "mal"
    repo.mkdir()
    (repo / "1.root.json").write_bytes(
        _forge(hsm, signed, [(v1["keys"][a], [a, m]), (v1["keys"][b], [b])]))
    holders = {**THREE, "mallory": "tok-mallory"}
    r = _init(tmp_path, repo, "ws-m", holders, ["alice", "mallory"])
    assert r.code == 0, r.err
    r = cli("draft", tmp_path / "ws-m")
    assert (r.code, r.err.splitlines()[0]) == (
        2, (f"error: the root role would list one key twice, as alice and mallory (ids {a[:12]} "
           f"and {m[:12]}): one key counts once toward a threshold"))
    assert Ceremony.open(tmp_path / "ws-m").state.draft is None


def test_the_same_signature_entry_listed_three_times(hsm: SoftHsm, chain: Path, tmp_path: Path) -> None:
    v1 = _doc(chain / "1.root.json")["signed"]
    a, b = _holder_id(v1, "alice"), _holder_id(v1, "bob")
    signed = _v2(v1, {a: v1["keys"][a], b: v1["keys"][b]})
    doc = json.loads(_forge(hsm, signed, [(v1["keys"][a], [a])]))
    doc["signatures"] *= 3
    (chain / "2.root.json").write_text(json.dumps(doc))
    want = (f"error: 2.root.json lists a signature under key id {a[:12]} three times: a key signs "
            "once, and clients refuse the file")
    r = _verify(chain / "1.root.json", chain)
    assert (r.code, r.err.splitlines()[0]) == (3, want)
    r = _init(tmp_path, chain, "ws-three")
    assert (r.code, r.err.splitlines()[0]) == (3, want)


def test_one_signature_relabelled_under_other_ids(hsm: SoftHsm, chain: Path, tmp_path: Path) -> None:
    v1 = _doc(chain / "1.root.json")["signed"]
    a, b, c = (_holder_id(v1, n) for n in ("alice", "bob", "carol"))
    signed = _v2(v1, {a: v1["keys"][a], b: v1["keys"][b]})
    doc = json.loads(_forge(hsm, signed, [(v1["keys"][a], [a])]))
    doc["signatures"] += [{"keyid": k, "sig": doc["signatures"][0]["sig"]} for k in (b, c)]
    (chain / "2.root.json").write_text(json.dumps(doc))
    assert not _python_tuf_accepts((chain / "1.root.json").read_bytes(), (chain / "2.root.json").read_bytes())
    want = ("error: 2.root.json is not signed at threshold: previous root v1: 1/2 - alice signed; "
            "waiting for one of bob, carol; root v2: 1/2 - alice signed; waiting for one of bob")
    r = _verify(chain / "1.root.json", chain)
    assert (r.code, r.err.splitlines()[0]) == (3, want)
    r = _init(tmp_path, chain, "ws-relabel")
    assert (r.code, r.err.splitlines()[0]) == (3, want)


def test_an_unknown_keys_signature_added(hsm: SoftHsm, chain: Path, tmp_path: Path) -> None:
    v1 = _doc(chain / "1.root.json")["signed"]
    a, b = _holder_id(v1, "alice"), _holder_id(v1, "bob")
    # mallory: a real key on its own token, in neither root
    hsm.make("tok-mallory")
    token = hsm.module.find_token(label="tok-mallory")
    tk = hsm.module.generate(token, hsm.pin, "ecdsa-p256", "mallory", b"m")
    from ceremony.formats.tuf import root_key
    from ceremony.keys import key_from_crypto
    mallory = root_key(key_from_crypto(tk.public_key()), "mallory", "ecdsa-p256", "tok-mallory",
                       tk.token.serial, tk.ref.uri()).to_dict()
    signed = _v2(v1, {a: v1["keys"][a], b: v1["keys"][b]})
    m = _sha(mallory)
    (chain / "2.root.json").write_bytes(
        _forge(hsm, signed, [(v1["keys"][a], [a]), (mallory, [m])]))
    want = ("error: 2.root.json is not signed at threshold: previous root v1: 1/2 - alice signed; "
            "waiting for one of bob, carol; root v2: 1/2 - alice signed; waiting for one of bob")
    r = _verify(chain / "1.root.json", chain)
    assert (r.code, r.err.splitlines()[0]) == (3, want)
    r = _init(tmp_path, chain, "ws-unknown")
    assert (r.code, r.err.splitlines()[0]) == (3, want)


# ---- reading python-tuf's ids; old workspaces ------------------------------------------------


def test_a_workspace_journaled_with_three_field_ids_replays_and_continues(
        hsm: SoftHsm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys made the old way (ids over keytype, scheme, keyval, as python-tuf computes them)
    still draft, sign, publish and verify; --json says which rule they follow."""
    hsm.make(*THREE.values())
    make_online_keys(hsm, tmp_path / "a", label="online-a")
    p1 = tmp_path / "p1.toml"
    p1.write_text(plan_toml("old", THREE, list(THREE), 2, _paths(tmp_path / "a")))
    def old_rule(obj: dict[str, Any]) -> str:
        return keyids.standard_keyid(obj["keytype"], obj["scheme"], obj["keyval"])

    with monkeypatch.context() as m:
        m.setattr(keyids, "new_tuf_keyid", old_rule)
        c = Ceremony.init(tmp_path / "ws", p1)
        for k in THREE:
            c.keygen(k, hsm.module, hsm.pin)
    c = Ceremony.open(tmp_path / "ws")  # the journal replays with the new code
    for name, rec in c.state.keys.items():
        assert rec.keyid == _three_field_id(rec.key) != _sha(rec.key), name
    assert cli("draft", tmp_path / "ws").code == 0
    for k in ("alice", "bob"):
        c = Ceremony.open(tmp_path / "ws")
        c.sign(k, hsm.module, hsm.pin)
    r = cli("publish", tmp_path / "ws")
    assert r.code == 0, r.err
    published = _doc(tmp_path / "ws" / "metadata" / "1.root.json")["signed"]
    assert set(published["roles"]["root"]["keyids"]) == {r.keyid for r in c.state.keys.values()}
    # a v2 from that chain: verify reports the rule of each key, old and new
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(tmp_path / "ws" / "metadata" / "1.root.json", repo)
    p2 = tmp_path / "p2.toml"
    p2.write_text(plan_toml("next", THREE, ["alice", "bob"], 2, _paths(tmp_path / "a")))
    run_steps(hsm, tmp_path / "ws2", p2, repo, ["alice", "bob"])
    shutil.copy(tmp_path / "ws2" / "metadata" / "2.root.json", repo)
    assert _python_tuf_accepts((repo / "1.root.json").read_bytes(), (repo / "2.root.json").read_bytes())
    r = _verify(repo / "1.root.json", repo, "--json")
    assert r.code == 0, r.err
    st = json.loads(r.out)["statuses"][0]
    assert {k["keyid_rule"] for k in st["old"]["keys"]} == {"standard-fields"}
    assert {k["keyid_rule"] for k in st["new"]["keys"]} == {"standard-fields"}  # kept keys keep ids


def test_online_key_json_with_either_id_rule_is_accepted_any_other_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from ceremony.errors import PlanError
    from ceremony.keys import key_from_crypto, load_public_key_file
    obj = key_from_crypto(ec.generate_private_key(ec.SECP256R1()).public_key()).to_dict()
    obj["x-origin"] = "ci"
    p = tmp_path / "k.json"
    for keyid in (_sha(obj), _three_field_id(obj)):
        p.write_text(json.dumps({**obj, "keyid": keyid}))
        assert load_public_key_file(p, "roles.targets.keys[0]").key.keyid == keyid
    p.write_text(json.dumps(obj))  # no id given: the whole-object id
    assert load_public_key_file(p, "roles.targets.keys[0]").key.keyid == _sha(obj)
    p.write_text(json.dumps({**obj, "keyid": "cd" * 32}))
    with pytest.raises(PlanError) as e:
        load_public_key_file(p, "roles.targets.keys[0]")
    assert e.value.message == (
        f"roles.targets.keys[0]: {p} is not a public key (PEM SubjectPublicKeyInfo or TUF key "
        f"JSON): its keyid {'cd' * 32} does not match the key (calculated {_sha(obj)} over the "
        f"whole key object, {_three_field_id(obj)} over keytype, scheme and keyval)")


# ---- notary: its own key-id rule, and keys counted once ------------------------------------

NOTARY_GUN = "example.com/keyids/app"


def _notary_chain(hsm: SoftHsm, tmp_path: Path) -> tuple[Path, Any, dict[str, Any]]:
    """A notary collection v1 made by the ceremony (alice on SoftHSM); a way to open her token
    key, and the ``signed`` part of v1."""
    from tests.support.notary_fixtures import no_network, offline_key_files, ok
    from tests.support.plans import notary_plan

    hsm.make("tok-alice")
    keys, targets = offline_key_files(tmp_path / "nkeys", NOTARY_GUN)
    plan = tmp_path / "n1.toml"
    plan.write_text(notary_plan("n1", NOTARY_GUN, {"alice": "tok-alice"}, ["alice"], 1,
                                targets, keys))
    ws = tmp_path / "nws"
    pin = ("--pin-file", hsm.pin_file)
    with no_network():
        ok(cli("init", ws, "--plan", plan))
        ok(cli("keygen", ws, "--keyholder", "alice", *pin))
        ok(cli("draft", ws))
        ok(cli("sign", ws, "--keyholder", "alice", *pin))
        ok(cli("publish", ws))
    events = [json.loads(line) for line in (ws / "journal.jsonl").read_text().splitlines()]
    gen = next(e["data"] for e in events if e["type"] == "key-generated")

    def open_key() -> Any:  # afresh each time: every CLI run logs the token out
        token = hsm.module.find_token(label="tok-alice")
        return hsm.module.open_key(token, hsm.pin, "ecdsa-p256", bytes.fromhex(gen["key_id_hex"]))

    v1 = json.loads((ws / "metadata" / "1.root.json").read_bytes())["signed"]
    return ws / "metadata", open_key, v1


def _notary_signed(signed: dict[str, Any], tk: Any, ids: list[str]) -> bytes:
    from ceremony.formats.notary import sign_sha256
    from ceremony.formats.notary_json import Signature, canonical_bytes, serialize

    sig = sign_sha256(tk, canonical_bytes(signed))  # not through the view: it refuses forgeries
    return serialize(signed, [Signature(i, "ecdsa", sig) for i in ids])


def test_notary_one_key_under_two_certificates_counts_once(hsm: SoftHsm, tmp_path: Path) -> None:
    from ceremony.formats.notary import sign_sha256
    from ceremony.formats.notary_keys import entry_key_id, x509_key_entry
    from ceremony.formats.notary_x509 import build_root_certificate

    folder, open_key, v1 = _notary_chain(hsm, tmp_path)
    tk = open_key()
    a = v1["roles"]["root"]["keyids"][0]
    # a second certificate for alice's key, made on her token: another id, the same key
    second = x509_key_entry(build_root_certificate(NOTARY_GUN, tk.public_key(),
                                                   lambda m: sign_sha256(tk, m), serial=12345))
    alias = entry_key_id(second)
    assert alias != a
    signed = copy.deepcopy(v1)
    signed["version"] = 2
    signed["keys"][alias] = second
    signed["roles"]["root"] = {"keyids": [a, alias], "threshold": 2}
    (folder / "2.root.json").write_bytes(_notary_signed(signed, tk, [a, alias]))
    r = _verify(folder / "1.root.json", folder)
    assert (r.code, r.err.splitlines()[0]) == (
        3, ("error: 2.root.json is not signed at threshold: root v2: 1/2 - alice signed; 1 more "
           f"needed and no other key can sign; one key is listed twice, as alice and key "
           f"{alias[:12]} (ids {a[:12]} and {alias[:12]}): it counts once; only 1 distinct key "
           "for a threshold of 2: it can never be met"))


def test_notary_key_id_recomputed_as_notarys_client_does(hsm: SoftHsm, tmp_path: Path) -> None:
    import base64

    from ceremony.formats.notary_keys import key_id

    folder, open_key, v1 = _notary_chain(hsm, tmp_path)
    a = v1["roles"]["root"]["keyids"][0]
    r = _verify(folder / "1.root.json", folder, "--json")
    assert r.code == 0, r.err
    assert {k["keyid_rule"] for k in json.loads(r.out)["newest_keys"]} == {"notary"}
    assert [k["name"] for k in json.loads(r.out)["newest_keys"] if k["keyid"] == a] == ["alice"]
    pem = base64.b64decode(v1["keys"][a]["keyval"]["public"]).decode()
    body = "".join(pem.splitlines()[1:-1])
    wrapped = ("-----BEGIN CERTIFICATE-----\n"
               + "\n".join(body[i:i + 76] for i in range(0, len(body), 76))
               + "\n-----END CERTIFICATE-----\n").encode()
    listed = key_id("ecdsa-x509", wrapped)  # the hash of what is listed: only notary's rebuild differs
    signed = copy.deepcopy(v1)
    signed["version"] = 2
    signed["keys"][listed] = {"keytype": "ecdsa-x509",
                              "keyval": {"private": None, "public": base64.b64encode(wrapped).decode()}}
    signed["roles"]["root"] = {"keyids": [listed], "threshold": 1}
    (folder / "2.root.json").write_bytes(_notary_signed(signed, open_key(), [a, listed]))
    r = _verify(folder / "1.root.json", folder)
    assert (r.code, r.err.splitlines()[0]) == (
        3, (f"error: 2.root.json: not a notary root: keys[{listed[:12]}]: notary rebuilds the key "
           f"from its certificate and calculates the id {a[:12]} (the PEM is not in Go's layout): "
           "notary would not find it"))
    # an id that is no hash of its key at all
    signed["keys"] = {("ef" * 32 if k == listed else k): v for k, v in signed["keys"].items()}
    signed["roles"]["root"] = {"keyids": ["ef" * 32], "threshold": 1}
    (folder / "2.root.json").write_bytes(_notary_signed(signed, open_key(), [a]))
    r = _verify(folder / "1.root.json", folder)
    assert (r.code, r.err.splitlines()[0]) == (
        3, (f"error: 2.root.json: not a notary root: keys[efefefefefef] is listed under an id that "
           f"is not the hash of the key ({listed[:12]}): notary would not find it"))


def test_sign_draft_refuses_a_travelling_draft_with_an_alias_key_before_any_pin(
        hsm: SoftHsm, chain: Path, tmp_path: Path) -> None:
    from ceremony.formats import tuf as tuf_format

    ws = tmp_path / "ws2"
    p = tmp_path / "p2.toml"
    p.write_text(plan_toml("v2", THREE, ["alice", "bob"], 2, _paths(tmp_path / "a")))
    assert cli("init", ws, "--plan", p, "--previous", chain).code == 0
    assert cli("draft", ws).code == 0
    assert cli("export-draft", ws, "--out", tmp_path / "d.json").code == 0
    doc = _doc(tmp_path / "d.json")
    signed = doc["draft"]["signed"]
    a = _holder_id(signed, "alice")
    alias = _three_field_id(signed["keys"][a])
    signed["keys"][alias] = copy.deepcopy(signed["keys"][a])
    signed["roles"]["root"]["keyids"].append(alias)
    doc["digest"] = tuf_format.signed_digest(Metadata.from_dict(json.loads(json.dumps(doc["draft"]))))
    (tmp_path / "d.json").write_text(json.dumps(doc))
    (tmp_path / "no-pin").write_text("")  # a PIN prompt would fail differently
    r = cli("sign-draft", tmp_path / "d.json", "--keyholder", "bob", "--pin-file", tmp_path / "no-pin")
    assert (r.code, r.err.splitlines()[0]) == (
        3, (f"error: {tmp_path / 'd.json'}: in the draft of root v2, alice's key is listed twice, "
            f"under ids {a[:12]} and {alias[:12]}: it counts once; a draft that lists one key "
            "twice is not signed"))
    assert not list(tmp_path.glob("*.sig-*.json"))


def test_a_python_tuf_made_chain_with_three_field_ids_verifies_and_json_says_so(
        hsm: SoftHsm, tmp_path: Path) -> None:
    """Roots made with python-tuf's Metadata API: securesystemslib's ids over keytype, scheme and
    keyval, though the keys carry custom fields (as tuf-on-ci's did before tuf-on-ci#294)."""
    from datetime import datetime, timedelta

    from securesystemslib.signer import SSlibKey
    from tuf.api.metadata import Root

    hsm.make("tok-x")
    token = hsm.module.find_token(label="tok-x")
    tks = [hsm.module.generate(token, hsm.pin, "ecdsa-p256", f"k{i}", bytes([i])) for i in range(4)]
    keys = []
    for i, tk in enumerate(tks):
        key = SSlibKey.from_crypto(tk.public_key())  # python-tuf's id, computed here ...
        key.unrecognized_fields["x-tuf-on-ci-keyowner"] = f"@owner{i}"  # ... before this field
        keys.append(key)
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    repo = tmp_path / "repo"
    repo.mkdir()
    for version, (root_keys, sign_with) in enumerate((([0, 1], [0, 1]), ([0, 2], [0, 1, 2])), 1):
        md = Metadata(Root(version=version, expires=expires))
        for i in root_keys:
            md.signed.add_key(keys[i], "root")
        md.signed.roles["root"].threshold = 2
        for role in ROLES:
            md.signed.add_key(keys[3], role)
        for i in sign_with:
            md.sign(TokenSigner(tks[i], keys[i]), append=True)
        md.to_file(str(repo / f"{version}.root.json"))
    assert keys[0].keyid == _three_field_id(keys[0].to_dict()) != _sha(keys[0].to_dict())
    assert _python_tuf_accepts((repo / "1.root.json").read_bytes(), (repo / "2.root.json").read_bytes())
    r = _verify(repo / "1.root.json", repo, "--json")
    assert r.code == 0, r.err
    st = json.loads(r.out)["statuses"][0]
    assert [k["keyid_rule"] for k in st["new"]["keys"]] == ["standard-fields"] * 2
    assert [k["keyid_rule"] for k in st["old"]["keys"]] == ["standard-fields"] * 2
    assert st["new"]["met"] and st["old"]["met"]
    newest = {k["keyid"]: (sorted(k["roles"]), k["keyid_rule"]) for k in json.loads(r.out)["newest_keys"]}
    assert newest == {keys[0].keyid: (["root"], "standard-fields"),
                      keys[2].keyid: (["root"], "standard-fields"),
                      keys[3].keyid: (sorted(ROLES), "standard-fields")}
