"""The record: transcript, seal on real SoftHSM tokens, offline verification, report.

Tamper tests edit the workspace files the way someone with the folder could:
edit, remove or reorder a journal line; rewrite the whole journal with fresh
hashes; change the published root, a key file or the transcript.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from securesystemslib.formats import encode_canonical

from ceremony import preflight, record, record_check, record_write, seal
from ceremony.engine import Ceremony
from ceremony.errors import StateError, WorkspaceError
from ceremony.steps import seal as steps_seal
from ceremony.words import pgp_words_text
from tests.conftest import SoftHsm
from tests.support.helpers import bootstrap_setup, cli, run_steps
from tests.support.machines import fake_machine


def run_cli(*args: str | Path) -> tuple[int, str, str]:
    """:func:`tests.support.helpers.cli`, unpacked: (exit code, stdout, stderr)."""
    r = cli(*args)
    return r.code, r.out, r.err


def published(hsm: SoftHsm, tmp: Path) -> Ceremony:
    """A 2-of-3 bootstrap, published, not sealed."""
    setup = bootstrap_setup(hsm, tmp, n=3, threshold=2)
    return run_steps(hsm, tmp / "ws", setup.plan, None, ["alice", "bob"])


def sealed(hsm: SoftHsm, tmp: Path) -> Ceremony:
    c = published(hsm, tmp)
    steps_seal.seal(c, hsm.module, hsm.pin)
    return c


def lines(c: Ceremony) -> list[dict[str, Any]]:
    return [json.loads(x) for x in c.ws.journal.read_text().splitlines()]


def write_lines(c: Ceremony, objs: list[dict[str, Any]], rehash: bool = False) -> None:
    """Write journal lines; with ``rehash``, recompute the chain (and the transcript and the
    report) as a forger would."""
    prev = "0" * 64
    out = []
    for i, o in enumerate(objs, start=1):
        if rehash:
            body = {k: o[k] for k in ("seq", "time", "type", "data", "prev")}
            body["seq"], body["prev"] = i, prev
            o = {**body, "hash": hashlib.sha256(encode_canonical(body).encode()).hexdigest()}
            prev = o["hash"]
        out.append(json.dumps(o, sort_keys=True, separators=(",", ":")))
    c.ws.journal.write_text("\n".join(out) + "\n")
    if rehash:
        record_write.write_record(c.ws)


# ---- the happy path ------------------------------------------------------------------------


def test_sealed_record_verifies_offline_and_names_every_check(tmp_path: Path, hsm: SoftHsm) -> None:
    c = sealed(hsm, tmp_path)
    v = record_check.verify_record(c.ws.root)
    assert v.ok and v.sealed and v.sealers == ["alice", "bob"]
    text = "\n".join(v.lines())
    for needle in ("journal chain intact", "plan.toml matches", "keys/root-carol.json matches",
                   "metadata/1.root.json is the journaled draft, signed at threshold",
                   "record/transcript.json matches", "seal verified"):
        assert needle in text
    events = c.journal.events
    assert [e.type for e in events[-3:]] == ["seal-signature", "seal-signature", "sealed"]
    sealed_ev = events[-1].data
    assert sealed_ev["seq"] == events[-4].seq and sealed_ev["head"] == events[-4].hash
    assert {s["keyholder"] for s in sealed_ev["signatures"]} == {"alice", "bob"}
    code, out, err = run_cli("record", "verify", c.ws.root)
    assert code == 0 and "record verified" in out and err == ""


def test_transcript_says_who_did_what_with_which_token(tmp_path: Path, hsm: SoftHsm) -> None:
    c = sealed(hsm, tmp_path)
    doc = json.loads((c.ws.record / "transcript.json").read_text())
    entries = doc["entries"]
    assert len(entries) == len(c.journal.events) == doc["journal_seq"]
    serial = {t.label: t.serial for t in hsm.module.tokens()}
    signs = [e for e in entries if e["step"] == "signature-added"]
    assert [(e["actor"], e["token"]) for e in signs] == [
        ("alice", serial["rehearsal-alice"]), ("bob", serial["rehearsal-bob"])]
    assert all(e["digests"]["draft"] == c.state.draft_digest for e in signs)
    keys = [e for e in entries if e["step"] == "key-generated"]
    assert [e["actor"] for e in keys] == ["alice", "bob", "carol"]
    pub = next(e for e in entries if e["step"] == "published")
    assert pub["digests"]["1.root.json"] == hashlib.sha256(
        (c.ws.metadata / "1.root.json").read_bytes()).hexdigest()
    txt = (c.ws.record / "transcript.txt").read_text()
    assert "sealed the journal" in txt and "rehearsal-carol" in txt


def test_report_is_printable_html_with_words_thresholds_digests_and_boxes(tmp_path: Path,
                                                                         hsm: SoftHsm) -> None:
    c = sealed(hsm, tmp_path)
    code, out, _ = run_cli("record", "report", c.ws.root, "--out", tmp_path / "r.html")
    assert code == 0 and "r.html" in out
    html = (tmp_path / "r.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "@media print" in html
    for name in ("alice", "bob", "carol"):
        keyid = c.state.keys[name].keyid
        assert keyid in html and pgp_words_text(bytes.fromhex(keyid)) in html
    assert "root v1: 2/2 - alice, bob signed; threshold met" in html
    digest = hashlib.sha256((c.ws.metadata / "1.root.json").read_bytes()).hexdigest()
    assert f"metadata/1.root.json</td><td><code>{digest}" in html
    assert html.count('class="box"') == 3 + 3 + 1  # keyholders, witnesses, auditor
    assert "Signature:" in html and "REHEARSAL" in html
    assert "verified" in html and "FAILED" not in html


def test_report_escapes_what_it_did_not_write(tmp_path: Path, hsm: SoftHsm) -> None:
    setup = bootstrap_setup(hsm, tmp_path, n=1, threshold=1)
    setup.plan.write_text(setup.plan.read_text().replace(
        'repository = "rehearsal/repository"', 'repository = "<script>alert(1)</script>"'))
    c = run_steps(hsm, tmp_path / "ws", setup.plan, None, ["alice"])
    html = record.report(c.ws.root, record_check.check_record(c.ws.root, require_seal=False,
                                                              check_report=False))
    assert "<script>" not in html and "&lt;script&gt;" in html


# ---- tampering ---------------------------------------------------------------------------------


@pytest.mark.parametrize("how,message", [
    ("edit", "journal line 5 was edited after it was written"),
    ("remove", "journal line 5 has sequence number 6"),
    ("reorder", "journal line 5 has sequence number 6"),
])
def test_tampered_journal_line_is_named_and_the_engine_refuses(tmp_path: Path, hsm: SoftHsm,
                                                              how: str, message: str) -> None:
    c = sealed(hsm, tmp_path)
    objs = lines(c)
    if how == "edit":
        objs[4]["data"]["token_serial"] = "0000000000000000"
    elif how == "remove":
        del objs[4]
    else:
        objs[4], objs[5] = objs[5], objs[4]
    write_lines(c, objs)
    v = record_check.check_record(c.ws.root)
    assert not v.ok and v.journal_broken and v.problems[0].startswith(message)
    code, _, err = run_cli("record", "verify", c.ws.root)
    assert code == 7 and f"error: {message}" in err and "Traceback" not in err
    with pytest.raises(WorkspaceError, match=message):
        Ceremony.open(c.ws.root)
    code, _, err = run_cli("status", c.ws.root)
    assert code == 7 and message in err
    code, _, err = run_cli("record", "report", c.ws.root)
    assert code == 7 and message in err


def test_rewritten_journal_with_fresh_hashes_fails_the_seal(tmp_path: Path, hsm: SoftHsm) -> None:
    """A forger who rewrites history and recomputes every hash cannot re-make the seal."""
    c = sealed(hsm, tmp_path)
    objs = lines(c)
    objs[4]["data"]["token_serial"] = "0000000000000000"  # who signed, rewritten
    write_lines(c, objs, rehash=True)
    v = record_check.check_record(c.ws.root)
    assert not v.journal_broken
    n = len(objs)
    assert v.problems == [f"the seal at journal line {n} does not cover line {n - 3}"]
    # ... and pointing the seal at the new head does not help: the signatures fail.
    objs = lines(c)
    objs[-1]["data"]["head"] = objs[-4]["hash"]
    write_lines(c, objs, rehash=True)
    v = record_check.check_record(c.ws.root)
    assert "the seal signature of alice does not verify" in v.problems
    assert "the seal lacks a valid signature from alice, bob" in v.problems
    code, _, err = run_cli("record", "verify", c.ws.root)
    assert code == 3 and "seal signature of alice does not verify" in err


@pytest.mark.parametrize("target,needle", [
    ("metadata/1.root.json", "metadata/1.root.json differs from the root published"),
    ("keys/root-alice.json", "keys/root-alice.json is missing or differs from journal line"),
    ("record/transcript.json", "record/transcript.json does not match the journal"),
    ("plan.toml", "plan.toml differs from the plan journaled at line 1"),
])
def test_edited_output_file_is_named(tmp_path: Path, hsm: SoftHsm, target: str, needle: str) -> None:
    c = sealed(hsm, tmp_path)
    path = c.ws.root / target
    data = path.read_text()
    path.write_text(data.replace("alice", "mallory", 1) if "alice" in data else data + " ")
    v = record_check.check_record(c.ws.root)
    assert any(needle in p for p in v.problems), v.problems


def test_line_after_the_seal_is_named_and_nothing_more_is_recorded(tmp_path: Path,
                                                                   hsm: SoftHsm) -> None:
    c = sealed(hsm, tmp_path)
    n = len(c.journal.events)
    with pytest.raises(StateError, match="the ceremony is sealed; nothing more is recorded"):
        c.record("confirmed", {"what": "late", "text": "appended after the seal"})
    # a line appended behind the tool's back (the chain itself stays valid) is still named
    c.journal.append("confirmed", {"what": "late", "text": "appended after the seal"})
    v = record_check.check_record(c.ws.root)
    assert v.problems == [f"journal line {n + 1} was appended after the seal (line {n})"]
    with pytest.raises(StateError, match="sealed"):
        record.confirm(c, "again", "no")
    with pytest.raises(StateError, match="sealed"):
        steps_seal.seal_sign(c, "alice", hsm.module, hsm.pin)


# ---- sealing step by step ---------------------------------------------------------------------


def test_seal_keyholder_by_keyholder_from_the_cli(tmp_path: Path, hsm: SoftHsm) -> None:
    c = published(hsm, tmp_path)
    hsm.module.close()
    with pytest.raises(StateError, match="carol did not sign the published root"):
        steps_seal.seal_sign(c, "carol", hsm.module, hsm.pin)
    with pytest.raises(StateError, match="waiting for alice, bob"):
        steps_seal.seal_finish(c)
    code, out, err = run_cli("seal", c.ws.root, "--keyholder", "bob", "--pin-file", hsm.pin_file)
    assert code == 0, err
    assert "seal of journal line" in out and "bob; waiting for alice" in out
    code, _, err = run_cli("seal", c.ws.root, "--keyholder", "bob", "--pin-file", hsm.pin_file)
    assert code == 8 and "bob has already sealed" in err
    code, out, err = run_cli("seal", c.ws.root, "--keyholder", "alice", "--pin-file",
                             hsm.pin_file, "--json")
    assert code == 0, err
    assert json.loads(out)["done"] is True
    assert record_check.verify_record(c.ws.root).sealers == ["alice", "bob"]
    assert (c.ws.record / "report.html").is_file()


def test_a_preflight_during_sealing_moves_the_target(tmp_path: Path, hsm: SoftHsm) -> None:
    """A new session journals its preflight: seals over the older head stop counting."""
    c = published(hsm, tmp_path)
    steps_seal.seal_sign(c, "alice", hsm.module, hsm.pin)
    report = preflight.run_preflight(c, fake_machine(tmp_path / "m"), clock_confirmed=True)
    preflight.record_preflight(c, report)
    st = seal.seal_status(c.ws, c.journal.events)
    assert st.sealed == () and st.waiting == ("alice", "bob")
    st = steps_seal.seal(c, hsm.module, hsm.pin)
    assert st.done and record_check.verify_record(c.ws.root).ok


def test_seal_refuses_before_publishing(tmp_path: Path, hsm: SoftHsm) -> None:
    setup = bootstrap_setup(hsm, tmp_path, n=2, threshold=1)
    c = run_steps(hsm, tmp_path / "ws", setup.plan, None, ["alice"], publish=False)
    with pytest.raises(StateError, match="no root has been published"):
        steps_seal.seal(c, hsm.module, hsm.pin)
    v = record_check.check_record(c.ws.root, require_seal=False)
    assert v.ok and "not sealed yet (allowed)" in v.checks
    assert record_check.check_record(c.ws.root).problems == ["the ceremony is not sealed"]


# ---- moving a workspace ------------------------------------------------------------------------


def test_workspace_copied_mid_ceremony_continues_elsewhere(tmp_path: Path, hsm: SoftHsm) -> None:
    setup = bootstrap_setup(hsm, tmp_path, n=3, threshold=2)
    c = Ceremony.init(tmp_path / "laptop-a" / "ws", setup.plan)
    c.keygen("alice", hsm.module, hsm.pin)
    c.keygen("bob", hsm.module, hsm.pin)
    before = c.ws.journal.read_bytes()
    moved = tmp_path / "laptop-b" / "elsewhere" / "ws"
    shutil.copytree(c.ws.root, moved)
    hsm.module.close()  # another machine: no sessions carried over

    d = Ceremony.open(moved)
    assert d.state.keys.keys() == {"alice", "bob"} and d.needs_key("carol")
    d.keygen("carol", hsm.module, hsm.pin)
    d.draft()
    d.sign("alice", hsm.module, hsm.pin)
    d.sign("carol", hsm.module, hsm.pin)
    d.publish()
    steps_seal.seal(d, hsm.module, hsm.pin)
    v = record_check.verify_record(moved)
    assert v.sealers == ["alice", "carol"]
    assert c.ws.journal.read_bytes() == before  # the original copy is untouched
    assert record_check.check_record(c.ws.root, require_seal=False).ok
