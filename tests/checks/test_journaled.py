"""What is written out is what was journaled (issue 12), on real SoftHSM tokens.

Each attack edits the workspace as someone holding the folder could: a published root replaced
before ``export``; a detached signature whose unsigned token serial was edited; the journal
rewritten with a recomputed hash chain to swap an online key; the transcript or the report
edited. Each is refused with its exact message and exit code, and nothing is written.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from tuf.api.metadata import Metadata, Root

from ceremony import journal as journal_mod, record_check
from ceremony.engine import Ceremony
from ceremony.errors import VerificationError
from ceremony.flows.export import export_qr_to, export_usb_to
from ceremony.formats import tuf as tuf_format
from ceremony.keys import load_public_key_file
from ceremony.steps import seal as steps_seal
from tests.conftest import SoftHsm
from tests.support.helpers import bootstrap_setup, cli, make_online_keys, rewrite_journal, run_steps


def _published(hsm: SoftHsm, tmp: Path) -> Ceremony:
    setup = bootstrap_setup(hsm, tmp, n=2, threshold=2)
    return run_steps(hsm, tmp / "ws", setup.plan, None, ["alice", "bob"])


def _tree(root: Path, views: bool = True) -> dict[str, bytes]:
    """Every file under ``root`` and its bytes (to assert that nothing was written).

    The workspace lock's files are left out (who holds it is not ceremony content); without
    ``views``, so are the draft views, which opening a workspace to change it writes again
    from the journal when missing (a view, never read as input: every step re-reads the
    journal and refuses here).
    """
    return {rel: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
            for rel in [p.relative_to(root).as_posix()]
            if not rel.startswith(".ceremony.lock")
            and (views or not rel.startswith("metadata/drafts/"))}


def _refused_unchanged(ws: Path, *args: str | Path, message: str, views: bool = True) -> None:
    """``ceremony ARGS`` on ``ws`` exits 3 with ``error: MESSAGE`` and writes nothing there."""
    before = _tree(ws, views)
    r = cli(*args[:1], ws, *args[1:])
    assert r.code == 3, r.err
    assert f"error: {message}" in r.err, r.err
    assert _tree(ws, views) == before


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---- 1. export ships only what publish journaled ---------------------------------------------


def test_published_file_replaced_before_export_is_refused(hsm: SoftHsm, tmp_path: Path) -> None:
    c = _published(hsm, tmp_path)
    ws = c.ws.root
    line = next(e.seq for e in c.journal.events if e.type == "published")
    journaled = next(e.data["sha256"] for e in c.journal.events if e.type == "published")
    original = (ws / "metadata" / "1.root.json").read_bytes()
    forged = json.loads(original)
    forged["signed"]["expires"] = "2099-01-01T00:00:00Z"  # its signatures no longer matter here
    forged_bytes = json.dumps(forged, indent=1).encode()
    before = _tree(ws)

    for name, label in (("1.root.json", ("the root published at journal line "
                                         f"{line}")),
                        ("root.json", f"the root published at journal line {line} (v1)")):
        (ws / "metadata" / name).write_bytes(forged_bytes)
        before[f"metadata/{name}"] = forged_bytes
        message = (f"metadata/{name} differs from {label} (journaled sha256 {journaled[:16]}..., "
                   f"the file has {_sha(forged_bytes)[:16]}...): it was replaced after publish; "
                   "nothing was exported")
        for transport in ("--usb", "--qr"):
            out = tmp_path / f"out-{name}{transport}"
            if transport == "--usb":
                out.mkdir()  # a mounted stick
            r = cli("export", ws, transport, out)
            assert r.code == 3, r.err
            assert f"error: {message}" in r.err
            assert not out.exists() or not any(out.iterdir())
        r = cli("export", ws, "--animate", "--max-frames", "1")
        assert r.code == 3 and f"error: {message}" in r.err, r.err
        # the TUI's export screen goes through the same flow
        reopened = Ceremony.open(ws)
        with pytest.raises(VerificationError) as e:
            export_usb_to(reopened, tmp_path / "tui-usb")
        assert e.value.message == message
        with pytest.raises(VerificationError) as e:
            export_qr_to(reopened, tmp_path / "tui-qr")
        assert e.value.message == message
        assert not (tmp_path / "tui-usb").exists() and not (tmp_path / "tui-qr").exists()
        assert _tree(ws) == before  # nothing journaled, nothing written
        (ws / "metadata" / name).write_bytes(original)
        before[f"metadata/{name}"] = original

    # Deleted rather than replaced: the next command rebuilds both files from the journal,
    # byte for byte as published (their digest is checked before they are written).
    (ws / "metadata" / "1.root.json").unlink()
    (ws / "metadata" / "root.json").unlink()
    (tmp_path / "gone").mkdir()
    r = cli("export", ws, "--usb", tmp_path / "gone")
    assert r.code == 0, r.err
    for name in ("1.root.json", "root.json"):
        assert (f"warning: metadata/{name} was missing; rebuilt from the journal (sha256 "
                f"{journaled[:16]}... as published)") in r.err
        assert (ws / "metadata" / name).read_bytes() == original

    (tmp_path / "stick").mkdir()
    r = cli("export", ws, "--usb", tmp_path / "stick")  # the true file goes out
    assert r.code == 0, r.err
    assert (ws / "journal.jsonl").read_bytes() != before["journal.jsonl"]


def test_previous_chain_replaced_before_export_is_refused(hsm: SoftHsm, tmp_path: Path) -> None:
    """A rotation ships the previous chain too: a forged older root is refused, named."""
    setup = bootstrap_setup(hsm, tmp_path, n=2, threshold=1)
    run_steps(hsm, tmp_path / "ws1", setup.plan, None, ["alice"])
    run_steps(hsm, tmp_path / "ws2", setup.plan, tmp_path / "ws1" / "metadata", ["alice"])
    chain = tmp_path / "chain"
    chain.mkdir()
    for ws_name, name in (("ws1", "1.root.json"), ("ws2", "2.root.json")):
        shutil.copy(tmp_path / ws_name / "metadata" / name, chain / name)
    c = run_steps(hsm, tmp_path / "ws3", setup.plan, chain, ["alice"])
    ws = c.ws.root
    assert sorted(p.name for p in c.ws.previous.glob("*.root.json")) == ["1.root.json",
                                                                         "2.root.json"]
    # a forged, self-signed v1 in place of the true one (same keys, other expiry)
    first = c.ws.previous / "1.root.json"
    true_first = first.read_bytes()
    md = Metadata[Root].from_bytes(true_first)
    md.signed.expires = md.signed.expires.replace(year=md.signed.expires.year + 5)
    first.write_bytes(tuf_format.to_bytes(md))  # the signature no longer verifies
    before = _tree(ws)
    (tmp_path / "stick").mkdir()
    r = cli("export", ws, "--usb", tmp_path / "stick")
    assert r.code == 3
    assert "error: the previous chain copied in at init no longer verifies: " in r.err
    assert "; nothing was exported" in r.err
    assert not any((tmp_path / "stick").iterdir())
    assert _tree(ws) == before

    # a file slipped in beside the chain would travel too: refused by name
    first.write_bytes(true_first)
    (c.ws.previous / "01.root.json").write_bytes(true_first)
    r = cli("export", ws, "--usb", tmp_path / "stick")
    assert r.code == 3
    assert "error: 01.root.json is not a file the journal recorded; nothing was exported" in r.err
    assert not any((tmp_path / "stick").iterdir())
    (c.ws.previous / "01.root.json").unlink()
    assert cli("export", ws, "--usb", tmp_path / "stick").code == 0


# ---- 2. a detached signature's unsigned fields --------------------------------------------------


def test_detached_signature_with_an_edited_token_serial_is_refused(hsm: SoftHsm,
                                                                   tmp_path: Path) -> None:
    setup = bootstrap_setup(hsm, tmp_path, n=3, threshold=2)
    ws = tmp_path / "ws"
    c = run_steps(hsm, ws, setup.plan, None, ["alice"], publish=False)
    bob = c.state.keys["bob"]
    assert cli("export-draft", ws, "--out", tmp_path / "draft.json").code == 0
    r = cli("sign-draft", tmp_path / "draft.json", "--keyholder", "bob", "--pin-file", hsm.pin_file,
            "--expect-digest", c.state.draft_digest)  # the room's words, as hex
    assert r.code == 0, r.err
    good = tmp_path / "1.root.sig-bob.json"
    doc = json.loads(good.read_text())
    assert doc["signatures"][0]["token_serial"] == bob.token_serial
    before = _tree(ws)

    def edited(name: str, **fields: Any) -> Path:
        entry = {**doc["signatures"][0], **fields}
        if fields.get("token_serial") == "<removed>":
            del entry["token_serial"]
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({**doc, "signatures": [entry]}))
        return path

    kid = bob.keyid[:12]
    cases = [
        (edited("serial", token_serial="0000000000000000"),
         (f"names token serial '0000000000000000', but the journal records "
         f"{bob.token_serial!r} for that key")),
        (edited("no-serial", token_serial="<removed>"),
         f"names token serial None, but the journal records {bob.token_serial!r} for that key"),
        (edited("label", token_label="rehearsal-mallory"),
         ("names token label 'rehearsal-mallory', but the journal records 'rehearsal-bob' for "
         "that key")),
    ]
    for path, detail in cases:
        r = cli("import-signature", ws, path)
        assert r.code == 3, r.err
        assert (f"error: {path}: the signature by bob (key {kid}) {detail}: the file was "
                "edited; nothing was imported") in r.err
        assert _tree(ws) == before  # not journaled, not in the transcript, no draft change
    r = cli("import-signature", ws, good)
    assert r.code == 0, r.err
    added = [e for e in Ceremony.open(ws).journal.events if e.type == "signature-added"]
    assert added[-1].data["token_serial"] == bob.token_serial


def test_kept_key_signature_is_checked_against_the_previous_root(hsm: SoftHsm,
                                                                 tmp_path: Path) -> None:
    """A key kept from the previous root has no key-generated event: its x-ceremony fields
    in the previous root are the record."""
    setup = bootstrap_setup(hsm, tmp_path, n=2, threshold=2)
    run_steps(hsm, tmp_path / "ws1", setup.plan, None, ["alice", "bob"])
    ws = tmp_path / "ws2"
    c = run_steps(hsm, ws, setup.plan, tmp_path / "ws1" / "metadata", ["alice"], publish=False)
    assert "bob" not in c.state.keys  # kept
    serial = c.previous_keys_of("bob")[0].unrecognized_fields[tuf_format.X_TOKEN_SERIAL]
    assert cli("export-draft", ws, "--out", tmp_path / "draft.json").code == 0
    assert cli("sign-draft", tmp_path / "draft.json", "--keyholder", "bob", "--pin-file",
               hsm.pin_file, "--trusted", tmp_path / "ws1" / "metadata" / "1.root.json",
               "--expect-digest", c.state.draft_digest).code == 0
    good = tmp_path / "2.root.sig-bob.json"
    doc = json.loads(good.read_text())
    doc["signatures"][0]["token_serial"] = "1234"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    before = _tree(ws)
    r = cli("import-signature", ws, bad)
    assert r.code == 3
    assert f"names token serial '1234', but the journal records {serial!r} for that key" in r.err
    assert _tree(ws) == before
    assert cli("import-signature", ws, good).code == 0


# ---- 3. a journal rewritten with a recomputed hash chain ---------------------------------------


CHANGED = ("the online keys are not those the ceremony started with (a rewritten journal, or "
           "replaced key files)")


def _attacker_entry(hsm: SoftHsm, tmp: Path) -> dict[str, Any]:
    make_online_keys(hsm, tmp / "attacker", label="attacker", roles=("targets",))
    key = load_public_key_file(tmp / "attacker" / "targets.pub.pem", "attacker").key
    return key.to_dict() | {"keyid": key.keyid}


def _swap_init(entry: dict[str, Any]) -> Any:
    def edit(objs: list[dict[str, Any]]) -> None:
        objs[0]["data"]["online_keys"]["targets"] = [entry]
    return edit


def _swap_copies(ws: Path, entry: dict[str, Any]) -> None:
    for p in (ws / "keys").glob("online-targets-*.json"):
        p.unlink()
    (ws / "keys" / f"online-targets-{entry['keyid'][:16]}.json").write_text(
        json.dumps(entry, indent=1, sort_keys=True))


def test_journal_rewritten_to_swap_an_online_key_is_refused_before_drafting(
        hsm: SoftHsm, tmp_path: Path) -> None:
    setup = bootstrap_setup(hsm, tmp_path, n=2, threshold=2)
    plan_dir = setup.plan.parent.resolve()
    c = Ceremony.init(tmp_path / "ws", setup.plan)
    assert c.state.init["plan_dir"] == str(plan_dir)
    for k in ("alice", "bob"):
        c.keygen(k, hsm.module, hsm.pin)
    real = c.state.init["online_keys"]["targets"][0]["keyid"]
    evil = _attacker_entry(hsm, tmp_path)
    ws = c.ws.root

    # (a) the journal alone rewritten: the plan's own key files (outside the workspace) differ
    a = tmp_path / "ws-a"
    shutil.copytree(ws, a)
    rewrite_journal(a, _swap_init(evil))
    journal_mod.read(a / "journal.jsonl")  # the chain verifies again
    in_plan = (f"the targets key in the journal is {evil['keyid'][:16]}, but in the plan's "
               f"key files in {plan_dir} it is {real[:16]}: {CHANGED}; refusing")
    _refused_unchanged(a, "draft", message=in_plan)

    # (b) the journal and the keys/ copies rewritten: the plan's key files still differ
    b = tmp_path / "ws-b"
    shutil.copytree(ws, b)
    rewrite_journal(b, _swap_init(evil))
    _swap_copies(b, evil)
    _refused_unchanged(b, "draft", message=in_plan)

    # (c) the plan's folder gone (its stick taken away): the keys/ copies made at init anchor
    moved = tmp_path / "plan-away"
    plan_dir.rename(moved)
    try:
        _refused_unchanged(a, "draft", message=(
            f"the targets key in the journal is {evil['keyid'][:16]}, but in the key "
            f"files copied to keys/ at init it is {real[:16]}: {CHANGED}; refusing"))
        assert cli("draft", ws).code == 0  # the untouched workspace drafts from its copies
    finally:
        moved.rename(plan_dir)


def _swap_in_draft(ws: Path, entry: dict[str, Any], also_init: bool) -> None:
    """Swap the targets key in the draft-created event (digest recomputed) and, with
    ``also_init``, in the initialized event; the draft view is removed (rebuilt from the
    journal), as a forger would."""
    def edit(objs: list[dict[str, Any]]) -> None:
        if also_init:
            objs[0]["data"]["online_keys"]["targets"] = [entry]
        d = next(o for o in objs if o["type"] == "draft-created")["data"]
        signed = d["signed"]
        old = signed["roles"]["targets"]["keyids"][0]
        del signed["keys"][old]
        signed["keys"][entry["keyid"]] = {k: v for k, v in entry.items() if k != "keyid"}
        signed["roles"]["targets"]["keyids"] = [entry["keyid"]]
        d["digest"] = tuf_format.signed_digest(Metadata(Root.from_dict(json.loads(
            json.dumps(signed)))))
    rewrite_journal(ws, edit)
    for p in (ws / "metadata" / "drafts").glob("*.json"):
        p.unlink()


def test_rewritten_journal_is_refused_by_sign_publish_seal_and_export(hsm: SoftHsm,
                                                                      tmp_path: Path) -> None:
    setup = bootstrap_setup(hsm, tmp_path, n=2, threshold=2)
    plan_dir = setup.plan.parent.resolve()
    ws = tmp_path / "ws"
    c = run_steps(hsm, ws, setup.plan, None, [], publish=False)
    real = c.state.init["online_keys"]["targets"][0]["keyid"]
    evil = _attacker_entry(hsm, tmp_path)
    init_msg = (f"the targets key in the journal is {evil['keyid'][:16]}, but in the plan's key "
                f"files in {plan_dir} it is {real[:16]}: {CHANGED}; refusing")
    draft_msg = (f"the targets key in the draft of root v1 is {evil['keyid'][:16]}, but in the "
                 f"plan's key files in {plan_dir} it is {real[:16]}: {CHANGED}; refusing")

    # the whole story rewritten (init, keys/, the draft): sign refuses before any PIN
    s1 = tmp_path / "sign-all"
    shutil.copytree(ws, s1)
    _swap_in_draft(s1, evil, also_init=True)
    _swap_copies(s1, evil)
    before = _tree(s1, views=False)
    r = cli("sign", s1, "--keyholder", "alice", "--pin-file", hsm.pin_file)
    assert r.code == 3 and f"error: {init_msg}" in r.err, r.err
    r = cli("export-draft", s1, "--out", tmp_path / "travelling.json")  # nor does it travel
    assert r.code == 3 and f"error: {init_msg}" in r.err, r.err
    assert not (tmp_path / "travelling.json").exists()
    assert _tree(s1, views=False) == before

    # only the draft rewritten: the draft's online role is compared with the anchored keys
    s2 = tmp_path / "sign-draft"
    shutil.copytree(ws, s2)
    _swap_in_draft(s2, evil, also_init=False)
    _refused_unchanged(s2, "sign", "--keyholder", "alice", "--pin-file", hsm.pin_file,
                       message=draft_msg, views=False)

    # the online keys left alone, the expiry stretched (digest recomputed): the rebuilt TUF draft
    # differs from the journal's
    s3 = tmp_path / "sign-expiry"
    shutil.copytree(ws, s3)

    def stretch(objs: list[dict[str, Any]]) -> None:
        d = next(o for o in objs if o["type"] == "draft-created")["data"]
        d["signed"]["expires"] = "2099-01-01T00:00:00Z"
        d["digest"] = tuf_format.signed_digest(Metadata(Root.from_dict(json.loads(
            json.dumps(d["signed"])))))
    rewrite_journal(s3, stretch)
    for f in (s3 / "metadata" / "drafts").glob("*.json"):
        f.unlink()
    before = _tree(s3, views=False)
    r = cli("sign", s3, "--keyholder", "alice", "--pin-file", hsm.pin_file)
    assert r.code == 3
    assert ("error: the draft of root v1 is not what the plan and the key files give (rebuilt, "
            "its digest differs from the journal's): the journal was rewritten; refusing") in r.err
    assert _tree(s3, views=False) == before

    # signed and published honestly, then the journal rewritten: publish, seal, export refuse
    for k in ("alice", "bob"):
        c.sign(k, hsm.module, hsm.pin)
    p = tmp_path / "publish"
    shutil.copytree(ws, p)
    rewrite_journal(p, _swap_init(evil))
    _swap_copies(p, evil)
    _refused_unchanged(p, "publish", message=init_msg)

    c.publish()
    x = tmp_path / "after"
    shutil.copytree(ws, x)
    rewrite_journal(x, _swap_init(evil))
    _swap_copies(x, evil)
    before = _tree(x)
    r = cli("seal", x, "--pin-file", hsm.pin_file)
    assert r.code == 3 and f"error: {init_msg}" in r.err, r.err
    (tmp_path / "out--usb").mkdir()
    for transport in ("--usb", "--qr"):
        out = tmp_path / f"out{transport}"
        r = cli("export", x, transport, out)
        assert r.code == 3 and f"error: {init_msg}" in r.err, r.err
        assert not out.exists() or not any(out.iterdir())
    assert _tree(x) == before
    # the honest workspace goes on
    (tmp_path / "stick").mkdir()
    assert cli("export", ws, "--usb", tmp_path / "stick").code == 0


# ---- 4. record verify regenerates the transcript and the report --------------------------------


def test_report_edited_after_the_seal_is_named(hsm: SoftHsm, tmp_path: Path) -> None:
    c = _published(hsm, tmp_path)
    steps_seal.seal(c, hsm.module, hsm.pin)
    ws = c.ws.root
    assert cli("record", "verify", ws).code == 0
    report = ws / "record" / "report.html"
    text = report.read_text()
    lines = text.split("\n")
    n = next(i for i, line in enumerate(lines, start=1) if "<title>" in line)
    report.write_text(text.replace("Key ceremony record: ", "Key ceremony record (approved): ", 2))
    before = _tree(ws)
    r = cli("record", "verify", ws)
    assert r.code == 3
    assert (f"error: record/report.html differs from the report the journal gives: line {n} "
            "differs (the file has '>Key ceremony record (approved): test-ceremony</title><style', "
            "the journal gives '>Key ceremony record: test-ceremony</title><style>')"
            ) in r.err
    assert _tree(ws) == before  # record verify writes nothing

    report.write_text(text.replace('<meta name="ceremony-journal" ', "<meta "))
    r = cli("record", "verify", ws)
    assert r.code == 3
    assert ("error: record/report.html is not a report this tool wrote (it names no journal "
            "line)") in r.err
    report.unlink()
    r = cli("record", "verify", ws)
    assert r.code == 3
    assert ("error: record/report.html is missing: the seal writes it (run `ceremony seal "
            "WORKSPACE` again to rewrite the record)") in r.err
    report.write_text(text)
    assert cli("record", "verify", ws).code == 0


def test_transcript_edited_is_named_before_and_after_the_seal(hsm: SoftHsm,
                                                              tmp_path: Path) -> None:
    c = _published(hsm, tmp_path)
    ws = c.ws.root
    assert cli("record", "report", ws).code == 0
    txt, js, report = (ws / "record" / n for n in ("transcript.txt", "transcript.json",
                                                    "report.html"))
    assert cli("record", "verify", ws, "--allow-unsealed").code == 0

    # before the seal
    original = txt.read_text()
    lines = original.split("\n")
    n = next(i for i, line in enumerate(lines, start=1)
             if "signature-added" in line and "bob" in line)
    txt.write_text(original.replace(lines[n - 1], lines[n - 1].replace("bob", "carol")))
    r = cli("record", "verify", ws, "--allow-unsealed")
    assert r.code == 3
    assert f"error: record/transcript.txt does not match the journal: line {n} differs" in r.err
    txt.write_text(original)

    report_text = report.read_text()
    report.write_text(report_text.replace("2 of 2", "1 of 2"))
    r = cli("record", "verify", ws, "--allow-unsealed")
    assert r.code == 3
    assert "error: record/report.html differs from the report the journal gives: line " in r.err
    report.write_text(report_text)

    # after the seal (the seal rewrites the record; its copies are compared again)
    steps_seal.seal(c, hsm.module, hsm.pin)
    assert record_check.verify_record(ws).ok
    original = js.read_text()
    js.write_text(original.replace('"actor": "bob"', '"actor": "carol"', 1))
    m = next(i for i, line in enumerate(original.split("\n"), start=1) if '"actor": "bob"' in line)
    r = cli("record", "verify", ws)
    assert r.code == 3
    assert (f"error: record/transcript.json does not match the journal: line {m} differs (the "
            "file has '   \"actor\": \"carol\",', the journal gives '   \"actor\": \"bob\",')"
            ) in r.err
    js.write_text(original)
    original = txt.read_text()
    txt.write_text(original.replace("bob", "carol", 1))
    r = cli("record", "verify", ws)
    assert r.code == 3
    assert "error: record/transcript.txt does not match the journal: line " in r.err
    txt.write_text(original)
    assert cli("record", "verify", ws).code == 0


def test_an_older_report_before_the_seal_is_noted_not_refused(hsm: SoftHsm,
                                                              tmp_path: Path) -> None:
    c = _published(hsm, tmp_path)
    ws = c.ws.root
    assert cli("record", "report", ws).code == 0
    n = len(c.journal.events)
    (tmp_path / "stick").mkdir()
    assert cli("export", ws, "--usb", tmp_path / "stick").code == 0  # one more journal line
    r = cli("record", "verify", ws, "--allow-unsealed")
    assert r.code == 0, r.err
    assert (f"ok   record/report.html covers journal lines 1-{n} of {n + 1}: out of date, not "
            "compared (`ceremony record report` refreshes it)") in r.out


# ---- the same for a notary collection ---------------------------------------------------------


def test_notary_export_refuses_a_replaced_sidecar_or_root_and_a_swapped_online_key(
        hsm: SoftHsm, tmp_path: Path) -> None:
    from tests.engine.test_notary_ceremony_offline import online_keys, run, write_plan
    hsm.make("tok-alice")
    keys, targets = online_keys(tmp_path / "keys")
    plan = write_plan(tmp_path, "n1", keys, targets)
    ws = tmp_path / "ws"
    run(hsm, ws, plan)
    c = Ceremony.open(ws)
    published = next(e for e in c.journal.events if e.type == "published")
    (tmp_path / "stick").mkdir()

    sidecar = ws / "metadata" / "ceremony-keys.json"
    original = sidecar.read_bytes()
    doc = json.loads(original)
    text = json.dumps(doc).replace(c.state.keys["alice"].token_serial, "0000000000000000")
    sidecar.write_text(text)
    before = _tree(ws)
    r = cli("export", ws, "--usb", tmp_path / "stick")
    assert r.code == 3
    assert ("error: metadata/ceremony-keys.json differs from the key records in the journal: it "
            "was replaced after publish; nothing was exported") in r.err
    assert _tree(ws) == before and not any((tmp_path / "stick").iterdir())
    sidecar.write_bytes(original)

    root = ws / "metadata" / "1.root.json"
    original = root.read_bytes()
    forged = original.replace(b'"version":1', b'"version": 1')
    assert forged != original
    root.write_bytes(forged)
    r = cli("export", ws, "--qr", tmp_path / "qr")
    assert r.code == 3
    assert (f"error: metadata/1.root.json differs from the root published at journal line "
            f"{published.seq} (journaled sha256 {published.data['sha256'][:16]}..., the file "
            f"has {_sha(forged)[:16]}...): it was replaced after publish; nothing was "
            "exported") in r.err
    assert not (tmp_path / "qr").exists()
    root.write_bytes(original)

    # a journal rewritten (chain recomputed) to swap the tagging key: refused by name
    other, _ = online_keys(tmp_path / "other")
    from ceremony.formats.notary_files import load_key_file
    evil = load_key_file(other / "targets.pub.json", "attacker")
    real = c.state.init["online_keys"]["targets"][0]["keyid"]

    def swap(objs: list[dict[str, Any]]) -> None:
        objs[0]["data"]["online_keys"]["targets"] = [{"keyid": evil.keyid, **evil.entry}]
    rewrite_journal(ws, swap)
    before = _tree(ws)
    r = cli("export", ws, "--usb", tmp_path / "stick")
    assert r.code == 3
    assert (f"error: the targets key in the journal is {evil.keyid[:16]}, but in the plan's key "
            f"files in {plan.parent.resolve()} it is {real[:16]}: {CHANGED}; refusing") in r.err
    assert _tree(ws) == before and not any((tmp_path / "stick").iterdir())
