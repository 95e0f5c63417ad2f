"""An incomplete last journal line is a crash during an append: set aside, never a refusal.

Anything else that breaks the chain (a bad complete line anywhere, an edited line) stays a
refusal naming the line and the restore command. Workspaces are real (SoftHSM keys).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ceremony import journal
from ceremony.errors import WorkspaceError
from ceremony.journal import Journal
from tests.conftest import SoftHsm
from tests.journal.test_workspace_lock import workspace
from tests.support.helpers import cli

RESTORE = "restore the workspace from a backup: `ceremony restore BACKUP WORKSPACE`"


def cut(ws: Path, nbytes: int) -> bytes:
    """Cut ``nbytes`` off the journal's end; return the bytes of its last line that remain."""
    path = ws / "journal.jsonl"
    raw = path.read_bytes()
    kept = raw[:-nbytes]
    path.write_bytes(kept)
    return kept[kept.rfind(b"\n", 0, len(kept)) + 1:]


def test_a_line_cut_mid_way_is_reported_by_status_and_set_aside_by_the_next_step(
        tmp_path: Path, hsm: SoftHsm) -> None:
    ws = workspace(hsm, tmp_path)
    last = (ws / "journal.jsonl").read_bytes().splitlines()[-1]
    tail = cut(ws, len(last) // 2 + 1)  # the draft-created line, cut in its middle
    assert tail and not tail.endswith(b"\n")
    before = (ws / "journal.jsonl").read_bytes()

    r = cli("status", ws)  # a reader: reports, changes nothing
    assert r.code == 0, r.err
    assert (f"journal: an incomplete last line ({len(tail)} bytes) is left out: an append cut "
            "short by a crash, or one being written now") in r.out
    assert "next: ceremony draft WORKSPACE" in r.out  # the torn draft is not an event
    assert json.loads(cli("status", ws, "--json").out)["journal_torn_bytes"] == len(tail)
    assert (ws / "journal.jsonl").read_bytes() == before and not (ws / "recovery").exists()

    r = cli("draft", ws)  # a writer: sets the tail aside, journals it, goes on
    assert r.code == 0, r.err
    aside = list((ws / "recovery").iterdir())
    assert len(aside) == 1 and aside[0].name.startswith("journal-tail-")
    assert aside[0].read_bytes() == tail
    events = journal.read(ws / "journal.jsonl")
    rec = next(e for e in events if e.type == "journal-recovered")
    assert rec.data["size"] == len(tail)
    assert rec.data["sha256"] == hashlib.sha256(tail).hexdigest()
    assert rec.data["set_aside"] == f"recovery/{aside[0].name}"
    assert rec.data["after_seq"] == rec.seq - 1
    assert events[-1].type == "draft-created" and events[-1].seq == rec.seq + 1
    assert (f"warning: the journal ended with an incomplete line ({len(tail)} bytes, an append "
            f"cut short by a crash or a full disk); it was set aside into recovery/{aside[0].name} "
            f"and journaled as line {rec.seq}") in r.err
    assert cli("status", ws).out.count("incomplete") == 0


def test_a_whole_event_missing_only_its_newline_is_set_aside_too(tmp_path: Path,
                                                                hsm: SoftHsm) -> None:
    """Line and newline are one write, reported done only after fsync: without its newline
    the write was cut short and the step never reported success, so it is not kept."""
    ws = workspace(hsm, tmp_path)
    tail = cut(ws, 1)
    obj = json.loads(tail)  # complete JSON, and its hash checks
    assert obj["type"] == "draft-created"
    assert hashlib.sha256(journal.canonical_from_line(tail)).hexdigest() == obj["hash"]
    assert len(journal.read(ws / "journal.jsonl")) == obj["seq"] - 1

    r = cli("draft", ws)
    assert r.code == 0, r.err
    events = journal.read(ws / "journal.jsonl")
    rec = next(e for e in events if e.type == "journal-recovered")
    assert rec.seq == obj["seq"] and rec.data["size"] == len(tail)
    assert (ws / rec.data["set_aside"]).read_bytes() == tail
    assert [e.type for e in events[-2:]] == ["journal-recovered", "draft-created"]


def test_a_bad_complete_line_in_the_middle_is_refused_and_nothing_changes(tmp_path: Path,
                                                                          hsm: SoftHsm) -> None:
    ws = workspace(hsm, tmp_path, draft=False)
    lines = (ws / "journal.jsonl").read_bytes().splitlines(keepends=True)
    lines[1] = b'{"seq": 2, "garbage\n'
    (ws / "journal.jsonl").write_bytes(b"".join(lines) + b'{"seq":')  # and a torn tail
    before = (ws / "journal.jsonl").read_bytes()
    for args in (("draft", ws), ("status", ws)):
        r = cli(*args)
        assert r.code == 7, r.err
        assert "error: journal line 2 is not a valid journal entry; the journal is damaged" in r.err
        assert RESTORE in r.err
    assert (ws / "journal.jsonl").read_bytes() == before and not (ws / "recovery").exists()


def test_an_edited_last_line_is_tampering_not_a_crash(tmp_path: Path, hsm: SoftHsm) -> None:
    ws = workspace(hsm, tmp_path)
    raw = (ws / "journal.jsonl").read_bytes()
    n = raw.count(b"\n")
    (ws / "journal.jsonl").write_bytes(raw.replace(b'"type":"draft-created"',
                                                   b'"type":"draft-createD"'))
    r = cli("sign", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file)
    assert r.code == 7, r.err
    assert f"error: journal line {n} was edited after it was written (hash mismatch)" in r.err
    assert "the journal is tamper-evident; " + RESTORE in r.err
    assert not (ws / "recovery").exists()


def _journal(tmp: Path, types: list[str]) -> Journal:
    j = Journal.create(tmp / "journal.jsonl")
    for t in types:
        j.append(t, {"n": t})
    return j


def test_readers_never_see_half_an_append(tmp_path: Path) -> None:
    j = _journal(tmp_path, ["initialized", "preflight"])
    with open(j.path, "ab") as f:
        f.write(b'{"data":{"n":"half')  # a writer mid-append, or a crash
    assert [e.type for e in journal.read(j.path)] == ["initialized", "preflight"]
    s = journal.scan(j.path)
    assert s.torn is not None and s.torn.data == b'{"data":{"n":"half' and s.size == j.size


def test_an_append_refuses_a_journal_that_changed_under_it(tmp_path: Path) -> None:
    """Two writers on one journal (no lock, or a second object in one process) would both
    number their next event alike: the second append refuses instead."""
    j = _journal(tmp_path, ["initialized"])
    other = Journal.open(j.path)
    other.append("preflight", {})
    with pytest.raises(WorkspaceError) as e:
        j.append("preflight", {})
    assert "changed since this process read it" in e.value.message
    assert "nothing was recorded" in e.value.message
    assert [x.seq for x in journal.read(j.path)] == [1, 2]
    with open(j.path, "ab") as f:  # an incomplete line left behind is no place to append
        f.write(b"{")
    with pytest.raises(WorkspaceError):
        Journal.open(j.path).append("preflight", {})


def test_nothing_is_appended_after_a_seal_not_even_a_recovery(tmp_path: Path) -> None:
    j = _journal(tmp_path, ["initialized", "sealed"])
    with open(j.path, "ab") as f:
        f.write(b'{"seq":3')
    with pytest.raises(WorkspaceError) as e:
        Journal.open(j.path, recover=True)
    assert e.value.message.endswith("ends with 8 byte(s) after its seal: nothing is ever "
                                    "appended to a sealed journal")
    assert j.path.read_bytes().endswith(b'{"seq":3')
