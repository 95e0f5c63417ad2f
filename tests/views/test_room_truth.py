"""What the room reads is true: status labels, counts beyond the threshold, the next step,
PIN attempts and imported signatures in the transcript."""

from __future__ import annotations

import json
from pathlib import Path

from ceremony.journal import Event
from ceremony.record import entry_for
from tests.conftest import SoftHsm
from tests.support.helpers import bootstrap_setup, cli


def _events(ws: Path) -> list[dict]:
    return [json.loads(line) for line in (ws / "journal.jsonl").read_text().splitlines()]


def test_status_says_published_exported_and_counts_beyond_the_threshold(
        hsm: SoftHsm, tmp_path: Path) -> None:
    s = bootstrap_setup(hsm, tmp_path, 4, 3)
    ws = tmp_path / "ws"
    assert cli("init", ws, "--plan", s.plan).code == 0
    for k in s.names:
        assert cli("keygen", ws, "--keyholder", k, "--pin-file", hsm.pin_file).code == 0
    assert cli("draft", ws).code == 0
    for k in s.names:  # all four sign a 3-of-4 root
        r = cli("sign", ws, "--keyholder", k, "--pin-file", hsm.pin_file)
        assert r.code == 0, r.err
    out = cli("status", ws).out
    assert "root v1: 3/3 (+1) - alice, bob, carol, dave signed; threshold met" in out
    assert "4/3" not in out
    assert "root v1 (draft): expires" in out
    assert "next: ceremony publish WORKSPACE" in out

    assert cli("publish", ws).code == 0
    out = cli("status", ws).out
    assert "root v1 (published): expires" in out and "(draft)" not in out
    assert "published: v1; not exported yet" in out
    assert "next: ceremony export WORKSPACE --usb DIR (or --qr DIR)" in out

    stick = tmp_path / "stick"
    stick.mkdir()
    assert cli("export", ws, "--usb", stick).code == 0
    out = cli("status", ws).out
    assert f"published: v1; exported: usb {stick}" in out
    assert "next: ceremony seal WORKSPACE --keyholder NAME (a keyholder who signed)" in out
    data = json.loads(cli("status", ws, "--json").out)
    assert len(data["exported"]) == 1 and data["sealed"] is False
    assert data["exported"][0].startswith(f"usb {stick}/ceremony-")
    assert data["thresholds"]["new"]["met"] is True


def test_pin_attempts_are_journaled_never_the_pin(hsm: SoftHsm, tmp_path: Path) -> None:
    s = bootstrap_setup(hsm, tmp_path, 3, 2)
    ws = tmp_path / "ws"
    assert cli("init", ws, "--plan", s.plan).code == 0
    wrong = tmp_path / "wrong-pin"
    wrong.write_text("not-the-pin-9876\n")
    r = cli("keygen", ws, "--keyholder", "alice", "--pin-file", wrong)
    assert r.code == 5, r.err
    assert cli("keygen", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file).code == 0
    attempts = [e["data"] for e in _events(ws) if e["type"] == "pin-attempt"]
    assert [(a["keyholder"], a["step"], a["outcome"]) for a in attempts] == [
        ("alice", "keygen", "wrong"), ("alice", "keygen", "accepted")]
    assert attempts[0]["token_label"] == "rehearsal-alice"
    journal = (ws / "journal.jsonl").read_text()
    assert "not-the-pin-9876" not in journal and "4711-ceremony-test" not in journal

    # No PIN source at all (no file, no environment, no terminal): cancelled, and said so.
    r = cli("keygen", ws, "--keyholder", "bob")
    assert r.code == 5 and "no terminal is attached" in r.err
    last = [e["data"] for e in _events(ws) if e["type"] == "pin-attempt"][-1]
    assert (last["keyholder"], last["outcome"]) == ("bob", "cancelled")

    assert cli("record", "report", ws).code == 0
    text = (ws / "record" / "transcript.txt").read_text()
    assert "PIN for token 'rehearsal-alice'" in text and "wrong during keygen" in text
    assert "cancelled during keygen" in text

    # A rehearsal compared with itself is unchanged by typos: PIN attempts are not steps.
    from ceremony.compare import steps
    from ceremony.journal import read
    assert not any(st.kind == "pin-attempt" for st in steps(read(ws / "journal.jsonl")))


def test_imported_signature_reads_as_imported_in_the_transcript() -> None:
    data = {"keyholder": "bob", "keyid": "ab" * 32, "sig": "00", "draft": "cd" * 32,
            "token_serial": "1234", "imported": "1.root.sig-bob.json"}
    line = entry_for(Event(7, "2026-12-03T10:00:00Z", "signature-added", data, "0" * 64,
                           "1" * 64)).line()
    assert "imported a detached signature (file 1.root.sig-bob.json, made outside this room)" in line
    in_room = entry_for(Event(7, "2026-12-03T10:00:00Z", "signature-added",
                              {k: v for k, v in data.items() if k != "imported"}, "0" * 64,
                              "1" * 64)).line()
    assert "signed root draft" in in_room and "imported" not in in_room


def test_compromise_warns_when_the_new_threshold_leaves_no_margin(
        hsm: SoftHsm, tmp_path: Path) -> None:
    from tests.support.helpers import run_steps
    s = bootstrap_setup(hsm, tmp_path, 4, 2)
    ws = tmp_path / "ws"
    run_steps(hsm, ws, s.plan, None, ["alice", "bob"])
    # One of four compromised: 2 of 3 remain, a margin of one. No warning.
    r = cli("compromise", ws, "--keyholder", "dave", "--out", tmp_path / "e1")
    assert r.code == 0 and "no margin" not in r.out, r.out
    # Two of four: the proposal is 2 of 2.
    r = cli("compromise", ws, "--keyholder", "carol", "--keyholder", "dave", "--out", tmp_path / "e2")
    assert r.code == 0, r.err
    assert ("WARNING: the new root would be 2 of 2: no margin - one lost or broken token makes "
            "it unusable") in r.out


def test_no_export_after_the_seal_and_nothing_written(hsm: SoftHsm, tmp_path: Path) -> None:
    """An export after the seal could not be journaled: it is refused before a byte is written."""
    from ceremony.steps import seal as steps_seal
    from tests.support.helpers import run_steps
    s = bootstrap_setup(hsm, tmp_path, 2, 1)
    ws = tmp_path / "ws"
    c = run_steps(hsm, ws, s.plan, None, ["alice"])
    steps_seal.seal(c, hsm.module, hsm.pin)
    c.close()
    journal = (ws / "journal.jsonl").read_bytes()
    stick = tmp_path / "stick"
    stick.mkdir()
    r = cli("export", ws, "--usb", stick)
    assert (r.code, r.err.splitlines()[0]) == (
        8, "error: the ceremony is sealed: an export now could not be journaled, so none is made")
    assert "--kind trusted-metadata" in r.err
    assert list(stick.iterdir()) == [] and (ws / "journal.jsonl").read_bytes() == journal
    r = cli("export", ws, "--qr", tmp_path / "frames")
    assert r.code == 8 and not (tmp_path / "frames").exists()


def test_a_p384_root_plan_is_warned_about_tuf_js(hsm: SoftHsm, tmp_path: Path) -> None:
    """tuf-js 3.x refuses P-384 roots (tests/e2e/test_bootstrap_e2e.py proves it with the real
    client): the room hears it at init, before keys are made for it."""
    s = bootstrap_setup(hsm, tmp_path, 2, 1, algorithm="ecdsa-p384")
    r = cli("init", tmp_path / "ws", "--plan", s.plan)
    assert r.code == 0, r.err
    assert ("warning: root keys of alice, bob are ecdsa-p384: tuf-js clients before 6.0.2 check "
            "P-384 signatures against a SHA-256 hash and refuse such roots") in r.err
