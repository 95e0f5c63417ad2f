"""A full disk during a step, for real: a small tmpfs filled to the page, and RLIMIT_FSIZE.

A step whose event reached the journal succeeded, even when a file derived from it (the
draft) could not be written: exit 0 and a warning, and the next command writes the file.
A journal append that fails fails the step (exit 7, nothing recorded) and leaves the
journal exactly as it was. The suite runs as root (it installs Debian packages), so a
tmpfs that cannot be mounted fails the test instead of skipping it.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ceremony import journal
from ceremony.engine import Ceremony
from tests.conftest import SoftHsm
from tests.journal.test_workspace_lock import ROOT, workspace
from tests.support.helpers import cli

PAGE = 4096


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(mnt)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs for the full-disk test: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def pages(size: int) -> int:
    return -(-size // PAGE)


def free_pages(mnt: Path) -> int:
    st = os.statvfs(mnt)
    assert st.f_frsize == PAGE
    return st.f_bavail


def fill(mnt: Path, leave: int) -> Path:
    """Fill the tmpfs so that exactly ``leave`` pages stay free."""
    filler = mnt / "filler"
    with open(filler, "ab") as f:
        f.write(b"\0" * ((free_pages(mnt) - leave) * PAGE))
    assert free_pages(mnt) == leave
    return filler


def journal_growth(ws: Path, tmp: Path, *args: str | Path) -> int:
    """How many bytes ``ceremony ARGS`` adds to the journal, measured on a copy."""
    ref = tmp / "ref"
    shutil.copytree(ws, ref)
    before = (ref / "journal.jsonl").stat().st_size
    r = cli(*[ref if a == ws else a for a in args])
    assert r.code == 0, r.err
    return (ref / "journal.jsonl").stat().st_size - before


def test_a_draft_whose_file_cannot_be_written_still_succeeds(tmp_path: Path, hsm: SoftHsm,
                                                            tmpfs: Path) -> None:
    setup_ws = workspace(hsm, tmp_path, draft=False)
    grows = journal_growth(setup_ws, tmp_path, "draft", setup_ws)
    ws = tmpfs / "ws"
    shutil.copytree(setup_ws, ws)
    size = (ws / "journal.jsonl").stat().st_size
    # Room for the lock's holder file (one page) and the journal's new event, not a page more.
    filler = fill(tmpfs, 1 + pages(size + grows) - pages(size))

    r = cli("draft", ws)
    assert r.code == 0, r.err
    assert "drafted root v1" in r.out
    draft = ws / "metadata" / "drafts" / "1.root.json"
    assert (f"warning: cannot write {draft}: No space left on device; the step is recorded in "
            "the journal and the file is written again by the next command") in r.err
    assert journal.read(ws / "journal.jsonl")[-1].type == "draft-created"
    assert not draft.exists()
    assert [p.name for p in draft.parent.iterdir()] == []  # no temp file left behind

    filler.unlink()
    assert cli("status", ws).code == 0 and not draft.exists()  # a reader writes nothing
    r = cli("sign", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file)
    assert r.code == 0, r.err
    c = Ceremony.open(ws, write=False)
    assert c.format.draft_file_digest(draft.read_bytes(), draft.name) == c.state.draft_digest
    assert list(c.state.signatures) and "warning" not in r.err


def test_a_journal_append_on_a_full_disk_fails_cleanly(tmp_path: Path, hsm: SoftHsm,
                                                       tmpfs: Path) -> None:
    setup_ws = workspace(hsm, tmp_path, draft=False)
    ws = tmpfs / "ws"
    shutil.copytree(setup_ws, ws)
    before = (ws / "journal.jsonl").read_bytes()
    assert PAGE - len(before) % PAGE > 100  # the write starts, then the disk is full mid-line
    filler = fill(tmpfs, 1)  # the holder file's page, and nothing for the journal to grow into

    r = cli("draft", ws)
    assert r.code == 7, r.err
    assert (f"error: cannot append to the journal {ws / 'journal.jsonl'}: No space left on "
            "device; nothing was recorded") in r.err
    assert "hint: free some space (or fix the disk) and run the step again" in r.err
    assert "drafted" not in r.out
    assert (ws / "journal.jsonl").read_bytes() == before  # the cut-short line was cut back off
    assert not (ws / "metadata" / "drafts" / "1.root.json").exists()

    filler.unlink()
    r = cli("draft", ws)
    assert r.code == 0, r.err
    assert [e.type for e in journal.read(ws / "journal.jsonl")][-1] == "draft-created"
    assert not (ws / "recovery").exists()


def test_a_file_size_limit_fails_the_append_in_a_real_process(tmp_path: Path,
                                                              hsm: SoftHsm) -> None:
    """RLIMIT_FSIZE makes the journal write fail part-way with EFBIG in a real
    ``python -m ceremony.cli draft``; the journal is left as it was."""
    ws = workspace(hsm, tmp_path, draft=False)
    before = (ws / "journal.jsonl").read_bytes()
    limit = len(before) + 200

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    r = subprocess.run([sys.executable, "-m", "ceremony.cli", "draft", str(ws)],
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                       text=True, preexec_fn=limited, timeout=120, check=False)
    assert r.returncode == 7, r.stderr
    assert (f"error: cannot append to the journal {ws / 'journal.jsonl'}: File too large; "
            "nothing was recorded") in r.stderr
    assert "Traceback" not in r.stderr
    assert (ws / "journal.jsonl").read_bytes() == before
    r2 = cli("draft", ws)
    assert r2.code == 0, r2.err


def test_a_signature_whose_draft_view_cannot_be_written_still_counts(tmp_path: Path,
                                                                     hsm: SoftHsm,
                                                                     tmpfs: Path) -> None:
    setup_ws = workspace(hsm, tmp_path)
    args = ("sign", setup_ws, "--keyholder", "alice", "--pin-file", hsm.pin_file)
    grows = journal_growth(setup_ws, tmp_path, *args) + 8  # an ECDSA signature varies a little
    ws = tmpfs / "ws"
    shutil.copytree(setup_ws, ws)
    draft = ws / "metadata" / "drafts" / "1.root.json"
    assert pages(draft.stat().st_size + 100) >= 2  # a spare page at most: never room for it
    size = (ws / "journal.jsonl").stat().st_size
    filler = fill(tmpfs, 1 + pages(size + grows) - pages(size))
    old_draft = draft.read_bytes()

    r = cli("sign", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file)
    assert r.code == 0, r.err
    assert "alice signed root v1" in r.out
    assert (f"warning: cannot write {draft}: No space left on device; the step is recorded in "
            "the journal and the file is written again by the next command") in r.err
    # The step's own event is the last one (a PIN attempt after it is journaled when it fits).
    steps = [e.type for e in journal.read(ws / "journal.jsonl") if e.type != "pin-attempt"]
    assert steps[-1] == "signature-added"
    assert draft.read_bytes() == old_draft  # the old view stays whole (atomic writes)

    filler.unlink()
    draft.unlink()  # a view lost with the disk: rebuilt from the journal by the next writer
    r = cli("sign", ws, "--keyholder", "bob", "--pin-file", hsm.pin_file)
    assert r.code == 0, r.err
    c = Ceremony.open(ws, write=False)
    assert len(c.state.signatures) == 2
    assert len(json.loads(draft.read_bytes())["signatures"]) == 2


def test_a_key_file_that_cannot_be_written_does_not_fail_keygen(tmp_path: Path,
                                                                hsm: SoftHsm) -> None:
    """The key file is a view of the ``key-generated`` event: a write the OS refuses (here a
    folder in its place) is a warning, and the next command writes the file from the journal."""
    ws = workspace(hsm, tmp_path, keys=False, draft=False)
    blocker = ws / "keys" / "root-alice.json"
    blocker.mkdir()
    r = cli("keygen", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file)
    assert r.code == 0, r.err
    assert f"warning: cannot write {blocker}: Is a directory; the step is recorded" in r.err
    rec = Ceremony.open(ws, write=False).state.keys["alice"]
    blocker.rmdir()
    r = cli("keygen", ws, "--keyholder", "bob", "--pin-file", hsm.pin_file)
    assert r.code == 0, r.err
    assert json.loads(blocker.read_bytes()) == {"keyid": rec.keyid, **rec.key}


def test_a_notary_key_file_is_rewritten_from_the_journal_too(tmp_path: Path,
                                                             hsm: SoftHsm) -> None:
    from tests.engine.test_notary_ceremony_offline import online_keys, write_plan
    keys, targets = online_keys(tmp_path / "keys")
    plan = write_plan(tmp_path, "p", keys, targets,
                      holders={"alice": "tok-alice", "bob": "tok-bob"})
    hsm.make("tok-alice", "tok-bob")
    ws = tmp_path / "ws"
    assert cli("init", ws, "--plan", plan).code == 0
    blocker = ws / "keys" / "root-alice.json"
    blocker.mkdir()
    r = cli("keygen", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file)
    assert r.code == 0, r.err
    assert f"warning: cannot write {blocker}: Is a directory; the step is recorded" in r.err
    blocker.rmdir()
    r = cli("keygen", ws, "--keyholder", "bob", "--pin-file", hsm.pin_file)
    assert r.code == 0, r.err
    event = next(e.data for e in journal.read(ws / "journal.jsonl")
                 if e.type == "key-generated" and e.data["keyholder"] == "alice")
    written = json.loads(blocker.read_bytes())
    assert written["keyid"] == event["keyid"] and written["keyholder"] == "alice"
    assert written["canonical_keyid"] == event["canonical_keyid"]
    assert written["keyval"] == event["key"]["keyval"]
