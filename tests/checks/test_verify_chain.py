"""``ceremony verify`` against the attack table: each tampered chain or published folder is
refused with its own message and exit code, and an honest one at any version or any time is
audited version by version. Chains are made with software keys (tests/support/chain_factory.py);
the same verdicts from python-tuf's ngclient are in tests/e2e/test_lifecycle.py.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from ceremony.errors import EXIT_EXPIRED, EXIT_USAGE, EXIT_VERIFY
from tests.support.chain_factory import NOW, World, edit, publish_online, standard_chain
from tests.support.helpers import cli


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def repo(tmp_path: Path, world: World) -> Path:
    d = tmp_path / "repo"
    standard_chain(d, world, 3)
    publish_online(d, world)
    return d


def verify(d: Path, *extra: str | Path, trusted: str = "1.root.json"):
    return cli("verify", "--trusted", d / trusted, d, *extra)


def refused(r, code: int, *parts: str) -> None:
    assert r.code == code, (r.code, r.out, r.err)
    for part in parts:
        assert part in r.err, (part, r.err)


def test_an_honest_folder_is_verified_as_a_client_reads_it(repo: Path) -> None:
    r = verify(repo)
    assert r.code == 0, r.err
    assert "v2: ok - previous root v1: 2/2" in r.out and "v3: ok - previous root v2: 2/2" in r.out
    assert "chain verified: newest root is v3, expires" in r.out
    assert "root.json: the newest root (3.root.json), byte for byte" in r.out
    assert "timestamp.json: timestamp v1, 1/1 signed by root v3's timestamp key(s)" in r.out
    assert "1.snapshot.json: snapshot v1" in r.out and "1.targets.json: targets v1" in r.out
    from ceremony.trusted_start import fingerprint_text, root_fingerprint
    first = fingerprint_text(root_fingerprint((repo / "1.root.json").read_bytes()))
    assert f"trusted root v1 fingerprint (read aloud to whoever takes this chain on trust): " \
        f"{first}" in r.out
    assert "newest root v3 fingerprint: " in r.out


# ---- the root chain -------------------------------------------------------------------------


def _resign_v2(repo: Path, world: World, *names: str) -> None:
    md = world.root(2, ["bob", "carol", "dave"], 2)
    (repo / "2.root.json").write_bytes(world.sign(md, *names))
    (repo / "3.root.json").unlink()
    shutil.copy(repo / "2.root.json", repo / "root.json")


def test_below_the_old_threshold(repo: Path, world: World) -> None:
    _resign_v2(repo, world, "bob", "dave")  # 1 of the old root's keys, 2 of the new
    refused(verify(repo), EXIT_VERIFY,
            "error: 2.root.json is not signed at threshold: previous root v1: 1/2 - bob signed; "
            "waiting for one of alice, carol")


def test_below_the_new_threshold(repo: Path, world: World) -> None:
    _resign_v2(repo, world, "alice", "bob")  # 2 of the old root's keys, 1 of the new
    refused(verify(repo), EXIT_VERIFY,
            "error: 2.root.json is not signed at threshold: root v2: 1/2 - bob signed; "
            "waiting for one of carol, dave")


def test_one_signature_bit_flipped(repo: Path) -> None:
    def flip(doc: dict) -> None:
        sig = doc["signatures"][0]["sig"]
        doc["signatures"][0]["sig"] = sig[:-1] + format(int(sig[-1], 16) ^ 1, "x")
    edit(repo / "2.root.json", flip)
    refused(verify(repo), EXIT_VERIFY, "error: 2.root.json is not signed at threshold: ",
            "1/2 - ", "waiting for one of")


def test_threshold_edited_after_signing(repo: Path) -> None:
    edit(repo / "2.root.json", lambda doc: doc["signed"]["roles"]["root"].update(threshold=1))
    refused(verify(repo), EXIT_VERIFY,
            "error: 2.root.json is not signed at threshold: previous root v1: 0/2 - nobody has "
            "signed; waiting for 2 of alice, bob, carol; root v2: 0/1")


def test_v1_replayed_as_2_root_json(repo: Path) -> None:
    shutil.copy(repo / "1.root.json", repo / "2.root.json")
    refused(verify(repo), EXIT_VERIFY,
            "error: 2.root.json holds root version 1, not 2: a rolled-back version")


def test_a_version_skipped(repo: Path) -> None:
    (repo / "2.root.json").unlink()
    refused(verify(repo), EXIT_VERIFY,
            "error: root version 2 is missing, but 3.root.json exists: the chain has a gap")


def test_v3_served_as_2_root_json(repo: Path) -> None:
    shutil.copy(repo / "3.root.json", repo / "2.root.json")
    refused(verify(repo), EXIT_VERIFY,
            "error: 2.root.json holds root version 3, not 2: a mislabelled version")


def test_a_file_named_like_a_version_no_client_fetches(repo: Path) -> None:
    shutil.copy(repo / "2.root.json", repo / "02.root.json")
    refused(verify(repo), EXIT_VERIFY,
            f"error: 02.root.json in {repo} is named like a root version but no client fetches it")


def test_the_folders_copy_of_the_trusted_version_differs(repo: Path, tmp_path: Path,
                                                         world: World) -> None:
    other = tmp_path / "other"
    standard_chain(other, World(), 1)
    r = cli("verify", "--trusted", other / "1.root.json", repo)
    refused(r, EXIT_VERIFY, f"error: 1.root.json in {repo} differs from the trusted root "
            f"({other / '1.root.json'}), which is also v1: one of them was changed")


def test_a_malformed_root_names_the_field_and_value(repo: Path) -> None:
    edit(repo / "2.root.json", lambda doc: doc["signed"]["roles"]["root"].update(threshold="two"))
    refused(verify(repo), EXIT_VERIFY, 'error: 2.root.json is not valid TUF root metadata: '
            'signed.roles.root.threshold: "two" is not an integer')
    edit(repo / "1.root.json", lambda doc: doc["signed"].pop("expires"))
    refused(verify(repo), EXIT_VERIFY, "is not valid TUF root metadata: signed.expires is missing")


# ---- root.json, the file a client fetches first ------------------------------------------------


def test_root_json_empty(repo: Path) -> None:
    (repo / "root.json").write_bytes(b"")
    refused(verify(repo), EXIT_VERIFY, f"error: {repo / 'root.json'} is empty: a client fetching "
            "root.json gets no root, it must be a copy of 3.root.json")


def test_root_json_an_empty_object(repo: Path) -> None:
    (repo / "root.json").write_bytes(b"{}")
    refused(verify(repo), EXIT_VERIFY, f"error: {repo / 'root.json'} is not root metadata (",
            "signatures is missing); it must be a copy of 3.root.json")


def test_root_json_another_version(repo: Path) -> None:
    shutil.copy(repo / "2.root.json", repo / "root.json")
    refused(verify(repo), EXIT_VERIFY, f"error: {repo / 'root.json'} holds root v2, not the newest "
            "v3: a client fetching root.json lands on v2; it must be a copy of 3.root.json")


def test_root_json_tampered(repo: Path) -> None:
    edit(repo / "root.json", lambda doc: doc["signed"].update(consistent_snapshot=False))
    refused(verify(repo), EXIT_VERIFY, f"error: {repo / 'root.json'} differs from 3.root.json "
            "although both say v3: one was changed after publishing")


def test_root_json_absent_is_said(repo: Path) -> None:
    (repo / "root.json").unlink()
    r = verify(repo)
    assert r.code == 0 and f"root.json: absent from {repo}" in r.out


# ---- timestamp -> snapshot -> targets ----------------------------------------------------------


def test_targets_tampered(repo: Path) -> None:
    edit(repo / "1.targets.json", lambda doc: doc["signed"]["targets"]["hello.txt"].update(length=1))
    refused(verify(repo), EXIT_VERIFY, "error: 1.targets.json does not match the length or "
            "hashes 1.snapshot.json records for it: it was changed after it was listed")


def test_snapshot_tampered(repo: Path) -> None:
    edit(repo / "1.snapshot.json", lambda doc: doc["signed"].update(version=1))
    (repo / "1.snapshot.json").write_bytes((repo / "1.snapshot.json").read_bytes() + b" ")
    refused(verify(repo), EXIT_VERIFY, "error: 1.snapshot.json does not match the length or "
            "hashes timestamp.json records for it")


def test_timestamp_tampered(repo: Path) -> None:
    edit(repo / "timestamp.json", lambda doc: doc["signed"].update(version=7))
    refused(verify(repo), EXIT_VERIFY, "error: timestamp.json is not signed by root v3's "
            "timestamp threshold: 0/1 valid signature(s) from its timestamp keys")


def test_timestamp_signed_by_another_key(repo: Path) -> None:
    publish_online(repo, World(), 1)  # an attacker's online key, not the root's
    refused(verify(repo), EXIT_VERIFY, "error: timestamp.json is not signed by root v3's "
            "timestamp threshold: 0/1")


def test_online_files_expired(repo: Path, world: World) -> None:
    publish_online(repo, world, 2, expires=NOW - timedelta(days=1))
    refused(verify(repo), EXIT_VERIFY, "error: timestamp.json (v2) expired at ",
            "hint: the online side re-signs it with a later expiry")
    r = verify(repo, "--at", (NOW - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert r.code == 0, r.err
    assert "2.targets.json: targets v2" in r.out


def test_a_snapshot_the_timestamp_names_is_missing(repo: Path) -> None:
    (repo / "1.snapshot.json").unlink()
    refused(verify(repo), EXIT_VERIFY, "error: a client would fetch 1.snapshot.json (timestamp.json "
            f"names snapshot v1), but {repo} has no such file")


def test_a_snapshot_without_timestamp(repo: Path) -> None:
    (repo / "timestamp.json").unlink()
    refused(verify(repo), EXIT_VERIFY, f"error: {repo} holds 1.snapshot.json but no timestamp.json")


# ---- any version, any time ---------------------------------------------------------------------


def test_an_expired_newest_root_is_its_own_verdict(tmp_path: Path, world: World) -> None:
    d = tmp_path / "old"
    standard_chain(d, world, 3, newest_expires=NOW - timedelta(days=30))
    r = verify(d)
    refused(r, EXIT_EXPIRED, "error: the newest root (v3) expired at ",
            "hint: every version verified")
    assert "v2: ok - " in r.out and "v3: ok - " in r.out
    assert "chain verified up to v3, but the newest root EXPIRED at" in r.out
    j = verify(d, "--json")
    assert j.code == EXIT_EXPIRED
    data = json.loads(j.out)
    assert [e["version"] for e in data["chain"]] == [1, 2, 3]
    assert data["chain"][0]["trusted"] and not data["chain"][1]["trusted"]
    assert data["chain"][2]["verified"] and data["chain"][2]["new"]["met"]
    assert data["chain"][2]["expired"] is True and data["expired"] is True
    before = (NOW - timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%SZ")
    at = verify(d, "--at", before)
    assert at.code == 0, at.err
    assert f"judged at {before.replace('T', ' ').rstrip('Z')} UTC" in at.out
    assert "chain verified: newest root is v3" in at.out


def test_at_must_be_a_utc_time(repo: Path) -> None:
    refused(verify(repo, "--at", "next tuesday"), EXIT_USAGE,
            "error: --at 'next tuesday' is not an ISO 8601 time such as 2027-03-01T12:00:00Z")
    refused(verify(repo, "--at", "2027-01-01T00:00:00+02:00"), EXIT_USAGE, "is not in UTC")
    refused(verify(repo, "--at", "2027-01-01T00:00:00"), EXIT_USAGE,
            "error: --at '2027-01-01T00:00:00' has no time zone; give it in UTC, ending in Z")


def test_a_chain_folder_starting_at_v3(tmp_path: Path, world: World) -> None:
    full = tmp_path / "full"
    standard_chain(full, world, 5)
    d = tmp_path / "from3"
    d.mkdir()
    for v in (3, 4, 5):
        shutil.copy(full / f"{v}.root.json", d / f"{v}.root.json")
    shutil.copy(full / "root.json", d / "root.json")
    r = verify(d, trusted="3.root.json")
    assert r.code == 0, r.err
    assert r.out.startswith(f"trusted root v3 ({d / '3.root.json'})")
    assert "v4: ok - " in r.out and "v5: ok - " in r.out and "v3: ok" not in r.out
    assert "chain verified: newest root is v5" in r.out
    # the full folder audited from v3 too: older versions are not the client's concern
    assert verify(full, trusted="3.root.json").code == 0


@pytest.mark.parametrize(("change", "expected"), [
    (lambda d: d["signed"].update(version=True), "signed.version: true is not an integer"),
    (lambda d: d["signed"].update(version=0), "signed.version: 0 is below 1"),
    (lambda d: d["signed"].update(expires="next year"),
     'signed.expires: "next year" is not a UTC time YYYY-MM-DDTHH:MM:SSZ'),
    (lambda d: d["signed"].update(consistent_snapshot="yes"),
     'signed.consistent_snapshot: "yes" is not true or false'),
    (lambda d: d["signed"]["roles"]["root"]["keyids"].append("ab" * 32),
     f'signed.roles.root.keyids[3]: "{"ab" * 32}" is not in signed.keys'),
    (lambda d: d["signed"]["roles"].pop("snapshot"), "signed.roles.snapshot is missing"),
    (lambda d: d["signatures"].append({"keyid": 7, "sig": "00"}),
     "signatures[2].keyid: 7 is not a string"),
    (lambda d: next(iter(d["signed"]["keys"].values())).update(keyval="pem"),
     '.keyval: "pem" is not an object'),
])
def test_a_malformed_trusted_root_names_the_field(repo: Path, change, expected: str) -> None:
    edit(repo / "1.root.json", change)
    r = verify(repo)
    refused(r, EXIT_VERIFY, f"error: {repo / '1.root.json'} is not valid TUF root metadata: ",
            expected)
    assert "Traceback" not in r.err


def test_a_root_that_is_not_json(repo: Path) -> None:
    (repo / "2.root.json").write_bytes(b"\xff{")
    refused(verify(repo), EXIT_VERIFY,
            "error: 2.root.json is not UTF-8 text (byte 1, line 1: b'\\xff')")


def test_an_online_threshold_met_only_by_one_key_under_two_ids(tmp_path: Path, world: World) -> None:
    """timestamp.json at threshold 2, signed once by the online key, its signature listed again
    under an alias id of the same key: one key, so 1/2 (python-tuf counts 2/2)."""
    from securesystemslib.signer import Key, Signature
    from tuf.api.metadata import Metadata as Md

    d = tmp_path / "repo"
    d.mkdir()
    md = world.root(1, ["alice", "bob", "carol"], 2)
    online = world.online.public_key
    alias = Key.from_dict("ab" * 32, {"keytype": online.keytype, "scheme": online.scheme,
                                      "keyval": dict(online.keyval)})
    md.signed.add_key(alias, "timestamp")
    md.signed.roles["timestamp"].threshold = 2
    (d / "1.root.json").write_bytes(world.sign(md, "alice", "bob"))
    publish_online(d, world)
    ts = Md.from_file(str(d / "timestamp.json"))
    ts.signatures[alias.keyid] = Signature(alias.keyid, ts.signatures[online.keyid].signature)
    (d / "timestamp.json").write_bytes(ts.to_bytes())
    r = verify(d)
    assert r.code == EXIT_VERIFY, r.out
    # a key-id check on the root may name the alias first; either way it is refused by name
    assert ("error: timestamp.json is not signed by root v1's timestamp threshold: 1/2 valid "
            "signature(s) from its timestamp keys (one key counted under two ids)" in r.err
            or "ab" * 6 in r.err), r.err


def test_plain_online_names_without_consistent_snapshots(tmp_path: Path, world: World) -> None:
    d = tmp_path / "plain"
    d.mkdir()
    (d / "1.root.json").write_bytes(world.sign(world.root(1, ["alice", "bob"], 2,
                                                          consistent=False), "alice", "bob"))
    publish_online(d, world, 4, consistent=False)
    r = verify(d)
    assert r.code == 0, r.err
    assert "snapshot.json: snapshot v4" in r.out and "targets.json: targets v4" in r.out
    (d / "targets.json").write_bytes((d / "targets.json").read_bytes().replace(b"hello", b"HELLO"))
    refused(verify(d), EXIT_VERIFY, "error: targets.json does not match the length or hashes "
            "snapshot.json records for it")


def test_a_fifo_named_as_metadata_is_refused_at_once(repo: Path) -> None:
    import os
    (repo / "2.root.json").unlink()
    os.mkfifo(repo / "2.root.json")
    refused(verify(repo), EXIT_VERIFY, f"error: {repo / '2.root.json'} is a FIFO (named pipe), "
            "not a regular file; it was not read")
    (repo / "2.root.json").unlink()
    os.mkfifo(repo / "2.root.json")
    refused(cli("verify", "--trusted", repo / "2.root.json", repo), EXIT_VERIFY,
            "is a FIFO (named pipe), not a regular file; it was not read")


def test_at_takes_a_date_as_its_midnight_utc(tmp_path: Path, world: World) -> None:
    d = tmp_path / "old"
    standard_chain(d, world, 2, newest_expires=NOW - timedelta(days=30))
    day = (NOW - timedelta(days=40)).strftime("%Y-%m-%d")
    r = verify(d, "--at", day, "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["at"] == f"{day}T00:00:00Z" and data["expired"] is False
    assert [e["file"] for e in data["chain"]] == [str(d / "1.root.json"), "2.root.json"]
