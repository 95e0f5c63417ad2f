"""``ceremony backup`` / ``ceremony restore``: a round trip through a damaged journal, and
every way a backup or a target folder is refused (exact sentence, exit code, nothing lost)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ceremony import journal
from tests.conftest import SoftHsm
from tests.journal.test_workspace_lock import Holder, workspace
from tests.support.helpers import cli


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith(".ceremony.lock")}


def test_round_trip_replaces_a_damaged_workspace_and_keeps_it_aside(tmp_path: Path,
                                                                    hsm: SoftHsm) -> None:
    ws = workspace(hsm, tmp_path)
    original = files_of(ws)
    bk = tmp_path / "bk"
    r = cli("backup", ws, bk)
    assert r.code == 0, r.err
    head = journal.read(ws / "journal.jsonl")[-1].hash
    assert f"backup of {ws} written to {bk}: {len(original)} files, journal " in r.out
    assert f"head {head}" in r.out
    manifest = json.loads((bk / "MANIFEST.json").read_text())
    assert manifest["journal"]["head"] == head
    assert manifest["files"]["journal.jsonl"]["sha256"] == hashlib.sha256(
        original["journal.jsonl"]).hexdigest()
    assert set(manifest["files"]) == set(original)  # the lock files are not copied
    assert files_of(bk) == {**original, "MANIFEST.json": (bk / "MANIFEST.json").read_bytes()}

    # a step after the backup, then damage in the middle of the journal
    assert cli("sign", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file).code == 0
    lines = (ws / "journal.jsonl").read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b'"seq":3', b'"seq":33')
    damaged = b"".join(lines)
    (ws / "journal.jsonl").write_bytes(damaged)
    r = cli("sign", ws, "--keyholder", "bob", "--pin-file", hsm.pin_file)
    assert r.code == 7 and "`ceremony restore BACKUP WORKSPACE`" in r.err

    r = cli("restore", bk, ws)
    assert r.code == 0, r.err
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("ws.damaged-")]
    assert len(aside) == 1
    assert (aside[0] / "journal.jsonl").read_bytes() == damaged  # kept, never deleted
    assert f"restored {ws} from {bk}: {len(original)} files" in r.out
    assert (f"the damaged workspace is kept at {aside[0]} (journal line 3 has sequence number "
            "33: lines were removed or reordered)") in r.out
    assert files_of(ws) == original
    r = cli("sign", ws, "--keyholder", "bob", "--pin-file", hsm.pin_file)  # and on it goes
    assert r.code == 0, r.err


def test_restore_into_a_new_folder(tmp_path: Path, hsm: SoftHsm) -> None:
    ws = workspace(hsm, tmp_path, draft=False)
    assert cli("backup", ws, tmp_path / "bk").code == 0
    (tmp_path / "empty").mkdir()
    for target in (tmp_path / "new", tmp_path / "empty"):
        r = cli("restore", tmp_path / "bk", target)
        assert r.code == 0, r.err
        assert files_of(target) == files_of(ws)
        assert cli("status", target).code == 0


def test_backup_refuses_an_existing_destination_and_a_held_workspace(tmp_path: Path,
                                                                      hsm: SoftHsm) -> None:
    ws = workspace(hsm, tmp_path, draft=False)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "x").write_text("keep me")
    r = cli("backup", ws, dest)
    assert r.code == 7
    assert f"error: {dest} already exists; a backup never overwrites anything" in r.err
    assert (dest / "x").read_text() == "keep me"
    r = cli("backup", ws, ws / "out" / "bk")
    assert r.code == 7 and f"error: {ws / 'out' / 'bk'} is inside the workspace {ws}" in r.err
    holder = Holder(ws)
    try:
        r = cli("backup", ws, tmp_path / "bk")
        assert r.code == 7 and f"is in use by pid {holder.proc.pid} (ceremony keygen" in r.err
    finally:
        holder.stop()
    assert not (tmp_path / "bk").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no leftovers


def test_a_tampered_backup_is_refused_and_nothing_is_restored(tmp_path: Path, hsm: SoftHsm) -> None:
    ws = workspace(hsm, tmp_path)
    bk = tmp_path / "bk"
    assert cli("backup", ws, bk).code == 0
    manifest = (bk / "MANIFEST.json").read_bytes()
    key = bk / "keys" / "root-alice.json"
    good_key = key.read_bytes()

    def refused(message: str) -> None:
        r = cli("restore", bk, tmp_path / "new")
        assert r.code == 3, r.err
        assert f"error: the backup {bk} does not verify: {message}" in r.err
        assert "nothing was restored" in r.err
        assert not (tmp_path / "new").exists()
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    key.write_bytes(good_key.replace(b'"keyid"', b'"keyId"'))
    refused("keys/root-alice.json is not the file its manifest lists (sha256 differs)")
    key.write_bytes(good_key)

    (bk / "keys" / "extra.json").write_text("{}")
    refused("keys/extra.json is not in its manifest")
    (bk / "keys" / "extra.json").unlink()

    key.unlink()
    refused("keys/root-alice.json is listed in its manifest but missing")
    key.write_bytes(good_key)

    # The journal edited and the manifest made to match: the chain itself still refuses.
    jpath = bk / "journal.jsonl"
    good_journal = jpath.read_bytes()
    edited = good_journal.replace(b'"rehearsal":true', b'"rehearsal":false', 1)
    assert edited != good_journal
    jpath.write_bytes(edited)
    m = json.loads(manifest)
    m["files"]["journal.jsonl"] = {"sha256": hashlib.sha256(edited).hexdigest(),
                                   "size": len(edited)}
    (bk / "MANIFEST.json").write_text(json.dumps(m))
    refused("journal line 1 was edited after it was written (hash mismatch)")
    jpath.write_bytes(good_journal)

    m = json.loads(manifest)
    m["files"]["../escape"] = {"sha256": "0" * 64, "size": 0}
    (bk / "MANIFEST.json").write_text(json.dumps(m))
    r = cli("restore", bk, tmp_path / "new")
    assert r.code == 3 and "lists '../escape', which is not a path inside a workspace" in r.err

    (bk / "MANIFEST.json").write_bytes(manifest)
    assert cli("restore", bk, tmp_path / "new").code == 0  # untouched again: it restores


def test_restore_never_replaces_a_healthy_or_a_foreign_workspace(tmp_path: Path,
                                                                 hsm: SoftHsm) -> None:
    ws = workspace(hsm, tmp_path, draft=False)
    bk = tmp_path / "bk"
    assert cli("backup", ws, bk).code == 0
    before = files_of(ws)
    r = cli("restore", bk, ws)
    assert r.code == 7
    assert (f"error: {ws} is not damaged: its journal and plan verify; restore only replaces a "
            "damaged workspace") in r.err

    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("not a ceremony")
    r = cli("restore", bk, other)
    assert r.code == 7 and f"error: {other} is not empty and holds no ceremony" in r.err

    plan = tmp_path / "plan" / "plan.toml"
    assert cli("init", tmp_path / "ws2", "--plan", plan).code == 0
    journal2 = tmp_path / "ws2" / "journal.jsonl"
    journal2.write_bytes(journal2.read_bytes() + b"garbage\n")  # damaged, but not this ceremony
    r = cli("restore", bk, tmp_path / "ws2")
    assert r.code == 7
    assert f"error: {tmp_path / 'ws2'} holds another ceremony, not the one in this backup" in r.err
    assert files_of(ws) == before
    assert not [p for p in tmp_path.iterdir() if ".damaged-" in p.name]
