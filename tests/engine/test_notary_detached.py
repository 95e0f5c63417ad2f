"""Signing across sessions for notary collections: export-draft / sign-draft / import-signature
on SoftHSM with every refusal TUF has, the draft travelling as a bundle, and a 2-of-3 root whose
second signature came back as a detached file accepted by the real notary client."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from ceremony.engine import Ceremony
from ceremony.formats.notary import open_token_key, sign_sha256
from ceremony.formats.notary_chain import verify_directory
from ceremony.formats.notary_json import parse
from ceremony.formats.notary_root import NotaryKey
from ceremony.online.notary import NotaryServer, fetch_metadata
from ceremony.transfer import check_arrival, workspace_bundle
from tests.conftest import SoftHsm
from tests.support.helpers import cli
from tests.support.notary_fixtures import (
    no_network,
    offline_key_files,
    ok,
)
from tests.support.notary_harness import NotaryStack
from tests.support.plans import notary_plan

GUN = "example.com/detached/app"
THREE = {"alice": "tok-alice", "bob": "tok-bob", "carol": "tok-carol"}


def _plan(tmp: Path, name: str, holders: dict[str, str], threshold: int, targets: Path,
          keys: Path, gun: str = GUN) -> Path:
    path = tmp / f"{name}.toml"
    path.write_text(notary_plan(name, gun, holders, list(holders), threshold, targets, keys))
    return path


def _journal(ws: Path) -> list[dict]:
    return [json.loads(line) for line in (ws / "journal.jsonl").read_text().splitlines()]


def _digest(draft: Path) -> str:
    """The draft's digest as the room reads it (the hex form ``--expect-digest`` takes too)."""
    return str(json.loads(draft.read_text())["digest"])


def _root_ids(ws: Path) -> dict[str, str]:
    """keyholder -> root key id, from the journal (notary roots carry no names)."""
    return {e["data"]["keyholder"]: e["data"]["keyid"] for e in _journal(ws)
            if e["type"] == "key-generated"}


def test_notary_draft_travels_and_every_bad_signature_is_refused(hsm: SoftHsm,
                                                                 tmp_path: Path) -> None:
    hsm.make(*THREE.values())
    keys, targets = offline_key_files(tmp_path / "keys", GUN)
    ws = tmp_path / "ws"
    pin = ("--pin-file", hsm.pin_file)
    draft_file = tmp_path / "draft.json"
    with no_network():
        ok(cli("init", ws, "--plan", _plan(tmp_path, "v1", THREE, 2, targets, keys)))
        for holder in THREE:
            ok(cli("keygen", ws, "--keyholder", holder, *pin))
        ok(cli("draft", ws))
        ok(cli("sign", ws, "--keyholder", "alice", *pin))
        exported = ok(cli("export-draft", ws, "--out", draft_file))
        assert f"draft of root v1 written to {draft_file}" in exported.out
        # Elsewhere: only the file and the keyholder's token.
        for holder in ("bob", "carol"):
            signed = ok(cli("sign-draft", draft_file, "--keyholder", holder, *pin,
                            "--expect-digest", _digest(draft_file)))
            assert f"{holder} signed root v1: {tmp_path / f'1.root.sig-{holder}.json'}" \
                in signed.out
            assert "new repository: root: 2 of 3 (alice, bob, carol)" in signed.err
    ids = _root_ids(ws)
    doc = json.loads(draft_file.read_text())
    assert (doc["kind"], doc["format"], doc["repository"], doc["version"]) == \
        ("ceremony-draft", "notary", GUN, 1)
    assert doc["draft"]["_type"] == "Root" and doc["previous"] is None
    assert b"x-ceremony" not in json.dumps(doc["draft"]).encode()  # names stay beside the root
    assert {k: v["keyholder"] for k, v in doc["identities"]["keys"].items()} == \
        {v: k for k, v in ids.items()}
    sig_bob, sig_carol = tmp_path / "1.root.sig-bob.json", tmp_path / "1.root.sig-carol.json"
    bob = json.loads(sig_bob.read_text())
    carol = json.loads(sig_carol.read_text())
    assert bob["format"] == "notary" and bob["signatures"][0]["keyid"] == ids["bob"]
    assert bob["signatures"][0]["method"] == "ecdsa"
    assert len(base64.b64decode(bob["signatures"][0]["sig"])) == 64  # raw r||s, P-256

    # sign-draft refuses a keyholder without a key, a changed draft and an unknown format.
    mallory = cli("sign-draft", draft_file, "--keyholder", "mallory", *pin)
    assert (mallory.code, mallory.err.splitlines()[-1]) == (
        3, "error: mallory holds no key in root v1 or the root before it: their signature would "
           "count toward no threshold")
    for name, edit, message in (
        ("changed", lambda d: {**d, "draft": {**d["draft"], "roles": {
            **d["draft"]["roles"], "root": {**d["draft"]["roles"]["root"], "threshold": 1}}}},
         "the draft does not match its digest; it was changed"),
        ("format", lambda d: {**d, "format": "spki"},
         "is for the format 'spki', which this tool does not sign (tuf, notary, x509)"),
        ("identities", lambda d: {**d, "identities": {**d["identities"], "gun": "example.com/x"}},
         "(identities) describes the keys of 'example.com/x', not of 'example.com/detached/app'"),
    ):
        bad = tmp_path / f"draft-{name}.json"
        bad.write_text(json.dumps(edit(doc)))
        r = cli("sign-draft", bad, "--keyholder", "bob", "--out", tmp_path / f"{name}.sig", *pin)
        assert r.code == 3 and message in r.err, (name, r.err)
        assert not (tmp_path / f"{name}.sig").exists()

    # import-signature: each bad file refused with its reason, and nothing journaled.
    journal = (ws / "journal.jsonl").read_bytes()
    forged_sig = {**bob["signatures"][0], "sig": carol["signatures"][0]["sig"]}
    cases = {
        "repo": ({**bob, "repository": "example.com/other"},
                 "is a signature for repository 'example.com/other', not "
                 "'example.com/detached/app'"),
        "ceremony": ({**bob, "ceremony_id": "x"}, "belongs to another ceremony (x)"),
        "format": ({**bob, "format": "tuf"}, "is a tuf signature file; this is a notary ceremony"),
        "stale": ({**bob, "digest": "00" * 32},
                  "signs another draft (digest 0000000000000000...), not the current root v1"),
        "forged": ({**bob, "signatures": [forged_sig]},
                   "the signature by bob does not verify over root v1"),
        "der": ({**bob, "signatures": [{**bob["signatures"][0], "sig": base64.b64encode(
            b"\x30" + base64.b64decode(bob["signatures"][0]["sig"])).decode()}]},
                "the signature by bob does not verify over root v1"),
        "not-bobs": ({**bob, "signatures": carol["signatures"]},
                     "the signature is from a key that is not bob's root key "
                     f"({ids['carol'][:12]}); it counts toward no threshold"),
        "twice": ({**bob, "signatures": bob["signatures"] * 2},
                  f"bob has already signed root v1 with key {ids['bob'][:12]}; a duplicate is "
                  "not added"),
    }
    for name, (bad, message) in cases.items():
        f = tmp_path / f"bad-{name}.json"
        f.write_text(json.dumps(bad))
        r = cli("import-signature", ws, f)
        assert r.code == (8 if name == "twice" else 3), (name, r.err)
        assert message in r.err, (name, r.err)
    assert (ws / "journal.jsonl").read_bytes() == journal

    # The draft travels as a bundle too, and is checked on arrival.
    c = Ceremony.open(ws)
    bundle = workspace_bundle(c)
    assert bundle.manifest.kind == "draft" and list(bundle.files) == ["1.root.draft.json"]
    assert json.loads(bundle.files["1.root.draft.json"])["format"] == "notary"
    assert check_arrival(bundle, None).notes[0].startswith("1.root.draft.json: draft of root v1")

    imported = ok(cli("import-signature", ws, sig_bob))
    assert "imported 1 signature(s)" in imported.out
    assert "root v1: 2/2 - alice, bob signed; threshold met" in imported.out
    again = cli("import-signature", ws, sig_bob)
    assert (again.code, again.err.splitlines()[0]) == (
        8, f"error: {sig_bob}: bob has already signed root v1 with key {ids['bob'][:12]}; a "
           "duplicate is not added")
    added = [e["data"] for e in _journal(ws) if e["type"] == "signature-added"]
    assert [(d["keyholder"], d.get("imported")) for d in added] == \
        [("alice", None), ("bob", "1.root.sig-bob.json")]
    assert added[1]["method"] == "ecdsa" and added[1]["sig"] == bob["signatures"][0]["sig"]
    with no_network():
        ok(cli("publish", ws))
    late = cli("import-signature", ws, sig_carol)
    assert (late.code, late.err.splitlines()[0]) == (8, "error: root v1 is already published")

    published = parse((ws / "metadata/1.root.json").read_bytes())
    assert [s.keyid for s in published.signatures] == [ids["alice"], ids["bob"]]
    report, gun = verify_directory(ws / "metadata")
    assert gun == GUN and report.newest_version == 1

    # Published: the bundle carries the root and who holds which key.
    bundle = workspace_bundle(Ceremony.open(ws))
    assert bundle.manifest.kind == "signed-metadata"
    assert sorted(bundle.files) == ["1.root.json", "ceremony-keys.json", "root.json"]
    for name, data in bundle.files.items():
        assert data == (ws / "metadata" / name).read_bytes()


def test_rotation_signed_across_sessions_and_a_revoked_key_refused(hsm: SoftHsm,
                                                                   tmp_path: Path) -> None:
    two = {"alice": "tok-alice", "bob": "tok-bob"}
    hsm.make(*two.values())
    keys, targets = offline_key_files(tmp_path / "keys", GUN)
    pin = ("--pin-file", hsm.pin_file)
    ws1, ws2, ws3 = tmp_path / "ws1", tmp_path / "ws2", tmp_path / "ws3"
    alice = {"alice": "tok-alice"}
    with no_network():
        ok(cli("init", ws1, "--plan", _plan(tmp_path, "v1", two, 1, targets, keys)))
        for holder in two:
            ok(cli("keygen", ws1, "--keyholder", holder, *pin))
        ok(cli("draft", ws1))
        ok(cli("sign", ws1, "--keyholder", "alice", *pin))
        ok(cli("publish", ws1))
        # v2 drops bob; alice's kept key is found through the previous sidecar, and she signs
        # (old and new threshold) from a travelling draft.
        init = ok(cli("init", ws2, "--plan", _plan(tmp_path, "v2", alice, 1, targets, keys),
                      "--previous", ws1 / "metadata", "--json"))
        assert json.loads(init.out)["needs_keygen"] == []
        ok(cli("draft", ws2))
        ok(cli("export-draft", ws2, "--out", tmp_path / "d2.json"))
        ok(cli("sign-draft", tmp_path / "d2.json", "--keyholder", "alice", *pin,
               "--trusted", ws1 / "metadata", "--expect-digest", _digest(tmp_path / "d2.json")))
        status = ok(cli("import-signature", ws2, tmp_path / "2.root.sig-alice.json"))
        assert "previous root v1: 1/1 - alice signed; threshold met" in status.out
        ok(cli("publish", ws2))
    ids = _root_ids(ws1)
    d2 = json.loads((tmp_path / "d2.json").read_text())
    assert d2["previous"]["signed"]["version"] == 1 and d2["version"] == 2
    assert d2["identities"]["keys"][ids["alice"]]["token_label"] == "tok-alice"
    bundle = workspace_bundle(Ceremony.open(ws2))
    assert sorted(bundle.files) == ["1.root.json", "2.root.json", "ceremony-keys.json",
                                    "root.json"]
    out = tmp_path / "carried"
    out.mkdir()
    for name, data in bundle.files.items():
        (out / name).write_bytes(data)
    assert verify_directory(out)[0].newest_version == 2

    # v3: bob's key was removed in v2. He cannot sign the draft, and a signature made with his
    # key anyway is refused as revoked.
    ok(cli("init", ws3, "--plan", _plan(tmp_path, "v3", alice, 1, targets, keys),
           "--previous", ws2 / "metadata"))
    ok(cli("draft", ws3))
    ok(cli("export-draft", ws3, "--out", tmp_path / "d3.json"))
    d3 = json.loads((tmp_path / "d3.json").read_text())
    assert list(d3["identities"]["keys"]) == [ids["alice"]]
    refused = cli("sign-draft", tmp_path / "d3.json", "--keyholder", "bob", *pin,
                  "--trusted", ws2 / "metadata", "--expect-digest", _digest(tmp_path / "d3.json"))
    assert (refused.code, refused.err.splitlines()[-1]) == (
        3, "error: bob holds no key in root v3 or the root before it: their signature would "
           "count toward no threshold")
    bob_event = next(e["data"] for e in _journal(ws1)
                     if e["type"] == "key-generated" and e["data"]["keyholder"] == "bob")
    c = Ceremony.open(ws3)
    tk = open_token_key(NotaryKey(bob_event["keyid"], bob_event["key"], bob_event), hsm.module,
                        hsm.pin)
    raw = sign_sha256(tk, c.draft_metadata().signed_bytes)
    forged = {"kind": "ceremony-signature", "format": "notary", "repository": GUN,
              "ceremony_id": d3["ceremony_id"], "version": 3, "digest": d3["digest"],
              "keyholder": "bob", "signatures": [
                  {"keyid": ids["bob"], "method": "ecdsa",
                   "sig": base64.b64encode(raw).decode()}]}
    f = tmp_path / "bob.sig.json"
    f.write_text(json.dumps(forged))
    journal = (ws3 / "journal.jsonl").read_bytes()
    r = cli("import-signature", ws3, f)
    assert (r.code, r.err.splitlines()[0]) == (
        3, f"error: {f}: the signature is from a revoked key (removed in root v2) "
           f"({ids['bob'][:12]}); it counts toward no threshold")
    assert (ws3 / "journal.jsonl").read_bytes() == journal


@pytest.mark.notary
def test_two_of_three_with_a_detached_signature_is_accepted_by_notary(
    notary_stack: NotaryStack, hsm: SoftHsm, tmp_path: Path
) -> None:
    gun = "example.com/detached/served"
    hsm.make(*THREE.values())
    server = ("--server", notary_stack.url, "--ca", notary_stack.ca_file)
    keys = tmp_path / "server-keys"
    ok(cli("notary", "fetch-keys", gun, *server, "--out", keys))
    pem = tmp_path / "targets.pem"
    ok(cli("notary", "tagging-key", gun, "--out", pem))
    ws = tmp_path / "ws"
    pin = ("--pin-file", hsm.pin_file)
    with no_network():
        ok(cli("init", ws, "--plan", _plan(tmp_path, "v1", THREE, 2,
                                           tmp_path / "targets.pub.json", keys, gun=gun)))
        for holder in THREE:
            ok(cli("keygen", ws, "--keyholder", holder, *pin))
        ok(cli("draft", ws))
        ok(cli("sign", ws, "--keyholder", "alice", *pin))
        ok(cli("export-draft", ws, "--out", tmp_path / "carried" / "draft.json"))
    # The draft goes to carol's machine on a stick, and her signature comes back.
    carol_side = tmp_path / "carol-side"
    carol_side.mkdir()
    shutil.copy(tmp_path / "carried" / "draft.json", carol_side / "draft.json")
    with no_network():
        ok(cli("sign-draft", carol_side / "draft.json", "--keyholder", "carol", *pin,
               "--expect-digest", _digest(carol_side / "draft.json")))
        ok(cli("import-signature", ws, carol_side / "1.root.sig-carol.json"))
        ok(cli("publish", ws))
    uploaded = ok(cli("notary", "publish", ws / "metadata", *server, "--gun", gun,
                      "--targets-key", pem))
    assert "uploaded root + targets" in uploaded.out
    served = parse(fetch_metadata(NotaryServer(notary_stack.url, notary_stack.ca_file), gun,
                                  "root") or b"")
    ids = _root_ids(ws)
    assert served.signed["roles"]["root"]["threshold"] == 2
    assert [s.keyid for s in served.signatures] == [ids["alice"], ids["carol"]]
    carol = json.loads((carol_side / "1.root.sig-carol.json").read_text())["signatures"][0]
    assert base64.b64encode(served.signatures[1].sig).decode() == carol["sig"]
    listed = notary_stack.notary(tmp_path / "fresh-trust", "list", gun).check()
    assert "No targets present in this repository." in listed.stdout


def test_tuf_draft_files_name_their_format_and_old_ones_still_sign(hsm: SoftHsm,
                                                                   tmp_path: Path) -> None:
    from tests.support.helpers import make_online_keys, run_steps
    from tests.support.plans import plan_toml

    hsm.make("tok-alice", "tok-bob")
    make_online_keys(hsm, tmp_path / "a", label="online-a")
    plan = tmp_path / "p.toml"
    plan.write_text(plan_toml("tuf", {"alice": "tok-alice", "bob": "tok-bob"}, ["alice", "bob"],
                              2, {r: [str(tmp_path / "a" / f"{r}.pub.pem")]
                                  for r in ("targets", "snapshot", "timestamp")}))
    ws = tmp_path / "ws"
    run_steps(hsm, ws, plan, None, ["alice"], publish=False)
    ok(cli("export-draft", ws, "--out", tmp_path / "draft.json"))
    doc = json.loads((tmp_path / "draft.json").read_text())
    assert doc["format"] == "tuf"
    del doc["format"]  # as written before notary support
    (tmp_path / "old.json").write_text(json.dumps(doc))
    ok(cli("sign-draft", tmp_path / "old.json", "--keyholder", "bob", "--out",
           tmp_path / "bob.json", "--pin-file", hsm.pin_file, "--expect-digest",
           _digest(tmp_path / "old.json")))
    sig = json.loads((tmp_path / "bob.json").read_text())
    assert sig["format"] == "tuf" and "method" not in sig["signatures"][0]
    del sig["format"]
    (tmp_path / "bob-old.json").write_text(json.dumps(sig))
    imported = ok(cli("import-signature", ws, tmp_path / "bob-old.json"))
    assert "root v1: 2/2 - alice, bob signed; threshold met" in imported.out
