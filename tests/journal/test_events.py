"""Typed journal events (ceremony.events): every type round-trips, bad ones are refused by line
and field, and no event-type string is spelled anywhere else in ceremony/ (read with ``ast``)."""

from __future__ import annotations

import ast
import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest

from ceremony import events, journal
from ceremony.errors import WorkspaceError
from ceremony.journal import Event
from tests.support.helpers import cli, rewrite_journal

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parents[1] / "support" / "corpus" / "workspaces"
H = "ab" * 32

#: One event of every type, as today's writers journal it (optional fields present and absent).
SAMPLES: dict[str, list[dict[str, Any]]] = {
    "initialized": [
        {"ceremony_id": "c-1", "plan_sha256": H, "name": "n", "format": "tuf", "repository": "r",
         "rehearsal": True, "online_keys": {"targets": [{"keyid": H, "keytype": "ecdsa"}]},
         "previous": None, "tool_version": "0.1", "warnings": [], "plan_dir": "/plans"},
        {"ceremony_id": "c-2", "plan_sha256": H, "name": "n", "format": "notary",
         "repository": "g/un", "rehearsal": False, "online_keys": {},
         "previous": {"version": 1, "sha256": H}, "tool_version": "0.1", "warnings": ["w"]}],
    "preflight": [
        {"passed": True, "rehearsal": False, "clock": "2026-01-01T00:00:00Z", "clock_confirmed": True,
         "clock_floor": {"time": "2025-01-01T00:00:00Z", "source": "tool"},
         "findings": [{"check": "network", "status": "warn", "message": "m"}], "interfaces_up": ["lo"],
         "default_routes": [], "radios_unblocked": [], "tool": {"version": "0.1", "sha256": H},
         "libraries": {"tuf": "6"}, "tokens": [], "host": {"hostname": "h"},
         "probes": {"sys_root": "/s", "proc_root": "/p"}}],
    "keygen-intent": [
        {"keyholder": "alice", "key_id_hex": "0a" * 16, "object_label": "n/alice",
         "algorithm": "ecdsa-p256", "token_label": "tok", "token_serial": None},
        {"keyholder": "bob", "device": "yubikey", "mode": "provision", "yubikey_serial": 123,
         "slot": "9c", "algorithm": "ecdsa-p384", "touch": "always", "key_id_hex": "02",
         "object_label": None, "token_label": None, "token_serial": "123", "trust": "Yubico"},
        {"keyholder": "carol", "device": "yubikey", "mode": "adopt", "yubikey_serial": 124,
         "slot": "9c", "algorithm": "ecdsa-p256", "touch": None, "key_id_hex": "02",
         "object_label": None, "token_label": None, "token_serial": "124", "trust": "Yubico"}],
    "key-generated": [
        {"keyholder": "alice", "key": {"keytype": "ecdsa"}, "keyid": H, "algorithm": "ecdsa-p256",
         "token_label": "tok", "token_serial": "s1", "key_id_hex": "0a", "uri": "pkcs11:id=%0a"},
        {"keyholder": "alice", "key": {"keytype": "ecdsa-x509"}, "keyid": H, "algorithm": "ecdsa-p256",
         "token_label": "tok", "token_serial": "s1", "key_id_hex": "0a", "uri": "pkcs11:id=%0a",
         "canonical_keyid": "cd" * 32, "certificate": {"serial": "1f", "sha256": H},
         "device": "yubikey", "attestation": {"mode": "adopt", "verdict": {"firmware": "5.7"}}}],
    "keygen-recovered": [
        {"keyholder": "alice", "key_id_hex": "0a", "token_label": "tok", "token_serial": None,
         "removed": [{"object": "private key", "key_id_hex": "0a", "why": "no public half"}],
         "adopted": False}],
    "draft-created": [
        {"version": 1, "digest": H, "signed": {"_type": "root"}, "created": "2026-01-01T00:00:00+00:00"},
        {"version": 2, "digest": H, "signed": {"_type": "Root"}, "created": "2026-01-01T00:00:00+00:00",
         "expiry_capped": True}],
    "signature-added": [
        {"keyholder": "alice", "keyid": H, "sig": "3045", "draft": H, "token_serial": "s1"},
        {"keyholder": "bob", "keyid": H, "sig": "MEUC", "method": "ecdsa", "draft": H,
         "token_serial": None, "imported": "bob.sig.json"}],
    "published": [{"version": 1, "sha256": H, "files": ["1.root.json", "root.json"]}],
    "exported": [{"kind": "signed-metadata", "transport": "usb", "target": "/media/stick",
                  "bundle_sha256": H, "files": {"1.root.json": H}}],
    "imported": [{"kind": "signature", "bundle_sha256": H, "files": {"a.sig.json": H}}],
    "confirmed": [{"what": "draft-approved", "text": "approved", "by": "administrator"},
                  {"what": "draft-approved", "text": "approved", "by": "alice", "digest": H}],
    "seal-signature": [{"keyholder": "alice", "keyid": H, "seq": 9, "head": H, "sig": "30",
                        "algorithm": "ecdsa-p256", "token_serial": "s1"}],
    "sealed": [{"seq": 9, "head": H, "ceremony_id": "c-1",
                "signatures": [{"keyholder": "alice", "keyid": H, "sig": "30"}]}],
    "witness-enrolled": [{"witness": "victor", "credential": {"credential_id": "Y2Q", "aaguid": "00"},
                          "device": "test device"}],
    "witness-signed": [{"witness": "victor", "seq": 4, "head": H, "counter": 7,
                        "assertion": {"signature": "c2ln"}}],
    "pin-attempt": [
        {"keyholder": "alice", "step": "sign", "token_label": "tok", "token_serial": "s1",
         "outcome": "accepted"},
        {"keyholder": "alice", "step": "keygen", "token_label": None, "token_serial": None,
         "outcome": "wrong", "attempts_left_before": 3}],
    "journal-recovered": [{"set_aside": "recovery/journal-tail.bin", "sha256": H, "size": 17,
                           "after_seq": 5, "reason": "an incomplete last line"}],
}


def _line(type_: str, data: Any, seq: int = 7) -> Event:
    return Event(seq, "2026-01-01T00:00:00Z", type_, data, "0" * 64, "1" * 64)


def _words(hexdigest: str) -> str:
    return f"<words {hexdigest[:4]}>"


def test_the_samples_cover_every_event_type() -> None:
    assert set(SAMPLES) == set(events.BY_TYPE)
    assert len(events.BY_TYPE) == len(events.TypedEvent.__args__) == 17  # type: ignore[attr-defined]


@pytest.mark.parametrize("type_", sorted(SAMPLES))
def test_every_event_type_round_trips_and_says_something(type_: str) -> None:
    for data in SAMPLES[type_]:
        ev = events.parse(_line(type_, data))
        assert type(ev) is events.BY_TYPE[type_] and type_ == ev.TYPE
        assert ev.to_data() == data
        assert events.parse(_line(type_, ev.to_data())) == ev
        sentence = ev.sentence(_words)
        assert sentence and "\n" not in sentence
        assert isinstance(ev.actor(), str) and all(isinstance(v, str) for v in ev.digests().values())


def test_fields_a_format_owns_round_trip_untouched() -> None:
    notary_key = events.parse(_line("key-generated", SAMPLES["key-generated"][1]))
    assert isinstance(notary_key, events.KeyGenerated)
    assert dict(notary_key.format_fields) == {"canonical_keyid": "cd" * 32,
                                               "certificate": {"serial": "1f", "sha256": H}}
    assert notary_key.attestation == {"mode": "adopt", "verdict": {"firmware": "5.7"}}
    sig = events.parse(_line("signature-added", SAMPLES["signature-added"][1]))
    assert dict(sig.format_fields) == {"method": "ecdsa"}
    capped = events.parse(_line("draft-created", SAMPLES["draft-created"][1]))
    assert dict(capped.format_fields) == {"expiry_capped": True}


def test_what_the_transcript_says_of_an_event() -> None:
    d = SAMPLES
    say = {t: events.parse(_line(t, d[t][0])).sentence(_words) for t in d}
    assert say["key-generated"] == f"generated ecdsa-p256 key {H[:12]} on token 'tok'; words: <words abab>"
    assert say["signature-added"] == f"signed root draft {H[:12]} with key {H[:12]}"
    assert events.parse(_line("signature-added", d["signature-added"][1])).sentence(_words) == (
        f"imported a detached signature (file bob.sig.json, made outside this room) root draft "
        f"{H[:12]} with key {H[:12]}")
    assert say["pin-attempt"] == "PIN for token 'tok' (serial s1) accepted during sign"
    assert say["exported"] == "kind=signed-metadata, target=/media/stick, transport=usb"
    assert say["sealed"] == "record sealed at line 9 by alice; head words: <words abab>"
    # a preflight that read fake /sys and /proc trees (the hidden test options) says so
    assert say["preflight"] == (
        "preflight passed on h; clock 2026-01-01T00:00:00Z (confirmed); warnings: network; it "
        "read the machine from /s and /p, not /sys and /proc: no evidence of this machine's air gap")
    real = events.parse(_line("preflight", {k: v for k, v in d["preflight"][0].items() if k != "probes"}))
    assert "no evidence" not in real.sentence(_words)


def test_every_line_of_the_previous_release_corpus_round_trips() -> None:
    seen = set()
    for path in sorted(CORPUS.glob("*/journal.jsonl")):
        for line in journal.read(path):
            ev = events.parse(line)
            assert (ev.TYPE, ev.to_data()) == (line.type, line.data), (path, line.seq)
            seen.add(ev.TYPE)
    assert len(seen) >= 15


@pytest.mark.parametrize(("type_", "data", "message"), [
    ("witness-assertion", {}, "journal line 7 has an unknown event type 'witness-assertion'; "
                              "this journal was not written by this tool (or by a newer release)"),
    ("published", ["1.root.json"], "journal line 7 (published) carries no data object; "
                                   "the journal is damaged"),
    ("published", {"version": 1, "files": []},
     "journal line 7 (published) lacks the field 'sha256'; the journal is damaged"),
    ("published", {"version": "1", "sha256": H, "files": []},
     "journal line 7 (published): the field 'version' should be a whole number, not text; "
     "the journal is damaged"),
    ("published", {"version": True, "sha256": H, "files": []},
     "journal line 7 (published): the field 'version' should be a whole number, not true or "
     "false; the journal is damaged"),
    ("published", {"version": 1, "sha256": H, "files": ["a", 2]},
     "journal line 7 (published): the field 'files' should be a list (text each), not a list "
     "holding a whole number; the journal is damaged"),
    ("key-generated", {**SAMPLES["key-generated"][0], "token_serial": 5},
     "journal line 7 (key-generated): the field 'token_serial' should be text or null, not a "
     "whole number; the journal is damaged"),
    ("witness-signed", {**SAMPLES["witness-signed"][0], "counter": "7"},
     "journal line 7 (witness-signed): the field 'counter' should be a whole number, not text; "
     "the journal is damaged"),
    ("exported", {**SAMPLES["exported"][0], "files": {"a": None}},
     "journal line 7 (exported): the field 'files' should be an object (text each), not an "
     "object holding null; the journal is damaged"),
])
def test_a_bad_event_is_refused_naming_line_and_field(type_: str, data: Any, message: str) -> None:
    with pytest.raises(WorkspaceError) as e:
        events.parse(_line(type_, data))
    assert e.value.message == message
    assert e.value.exit_code == 7


def test_a_workspace_with_a_malformed_event_is_refused_by_the_cli(hsm: Any, tmp_path: Path) -> None:
    """A journal rewritten whole (hashes recomputed) with a mistyped field: every command that
    reads the state refuses it with exit 7, naming the line and the field; nothing is written."""
    shutil.copytree(CORPUS / "tuf-midsign", tmp_path / "ws")
    shutil.copytree(CORPUS / "tuf-midsign", tmp_path / "good")
    ws = tmp_path / "ws"

    def retype(lines: list[dict[str, Any]]) -> None:
        lines[9]["data"]["version"] = "one"  # the draft-created event

    rewrite_journal(ws, retype)
    before = (ws / "journal.jsonl").read_bytes()
    for args in (("status", ws), ("record", "verify", ws, "--allow-unsealed"), ("draft", ws),
                 ("record", "report", ws), ("record", "compare", ws, tmp_path / "good")):
        r = cli(*args)
        assert r.code == 7, (args, r.err)
        assert ("journal line 10 (draft-created): the field 'version' should be a whole number, "
                "not text; the journal is damaged") in r.err
        assert "Traceback" not in r.err
    assert (ws / "journal.jsonl").read_bytes() == before


def test_building_an_event_for_the_journal_refuses_a_bad_field_before_writing() -> None:
    with pytest.raises(WorkspaceError) as e:
        events.build(events.Preflight, {"passed": "yes"}, "the preflight report")
    assert e.value.message == ("the preflight report (preflight): the field 'passed' should be "
                               "true or false, not text; nothing was journaled")


def test_to_data_leaves_out_only_the_optional_fields_without_a_value() -> None:
    ev = events.Confirmed(what="w", text="t")
    assert ev.to_data() == {"what": "w", "text": "t", "by": "administrator"}
    intent = events.KeygenIntent(keyholder="a", key_id_hex="01", object_label=None, algorithm="x",
                                 token_label=None, token_serial=None)
    assert intent.to_data() == {"keyholder": "a", "key_id_hex": "01", "object_label": None,
                                "algorithm": "x", "token_label": None, "token_serial": None}
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.what = "other"  # type: ignore[misc]


# ---- the one home of the event types (computed from the source) ----------------------------


def _is_type_read(node: ast.AST) -> bool:
    """``x.type``, ``x["type"]`` or ``x.get("type")``: an expression reading an event's type."""
    if isinstance(node, ast.Attribute):
        return node.attr == "type"
    if isinstance(node, ast.Subscript):
        return isinstance(node.slice, ast.Constant) and node.slice.value == "type"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        return bool(node.args) and isinstance(node.args[0], ast.Constant) and node.args[0].value == "type"
    return False


def _constants(node: ast.AST) -> list[ast.Constant]:
    """String constants in ``node`` itself or in a tuple/list/set literal it is."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [c for elt in node.elts for c in _constants(elt)]
    return []


def event_type_literals(source: str) -> list[tuple[int, str]]:
    """Where ``source`` spells an event type as a string: compared with an event's type, passed
    as the type to a journaling call (``record``, ``append``, ``_append``), or bound to an
    UPPER_CASE constant (not an ``Enum``'s member: a stage named like an event is no type)."""
    types = set(events.BY_TYPE)
    found: list[ast.Constant] = []
    tree = ast.parse(source)
    enum_members = {id(stmt) for cls in ast.walk(tree) if isinstance(cls, ast.ClassDef)
                    and any(getattr(b, "id", getattr(b, "attr", "")).endswith("Enum") for b in cls.bases)
                    for stmt in cls.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_is_type_read(o) for o in operands):
                found += [c for o in operands for c in _constants(o)]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            # Journal.append(type, data) takes two; a list's append one (``parts.append(...)``).
            if node.func.attr in ("record", "_append") or (node.func.attr == "append"
                                                          and len(node.args) >= 2):
                found += _constants(node.args[0])
        elif isinstance(node, ast.Assign) and id(node) not in enum_members:
            if any(isinstance(t, ast.Name) and t.id.isupper() for t in node.targets):
                found += _constants(node.value)
        elif isinstance(node, ast.keyword) and node.arg == "type":
            found += _constants(node.value)
    return sorted((c.lineno, c.value) for c in found if c.value in types)


def test_the_literal_finder_finds_each_way_of_spelling_a_type() -> None:
    source = ('if e.type == "sealed": pass\n'
              'x = [e for e in evs if e["type"] in ("published", "other")]\n'
              'c.record("preflight", {})\n'
              'parts.append("published")  # a word in a list, not a journaled type\n'
              'KIND = "exported"\n'
              'y = d.get("type") != "imported"\n'
              'journal.append("sealed", {})\n'
              'p = add("preflight", cmd)  # a CLI command named like an event: not a type\n'
              'z = {"sealed": True}\n'
              'class Stage(Enum):\n    PREFLIGHT = "preflight"  # a stage, not a journaled type\n'
              'SEALED = "sealed"\n')
    assert event_type_literals(source) == [(1, "sealed"), (2, "published"), (3, "preflight"),
                                           (5, "exported"), (6, "imported"), (7, "sealed"),
                                           (12, "sealed")]


def test_no_event_type_string_outside_events_py() -> None:
    home = ROOT / "ceremony" / "events.py"
    found = [f"{p.relative_to(ROOT)}:{line}: {value!r}"
             for p in sorted((ROOT / "ceremony").rglob("*.py")) if p != home
             for line, value in event_type_literals(p.read_text(encoding="utf-8"))]
    assert found == []
    assert event_type_literals(home.read_text(encoding="utf-8")) == []  # there: ``TYPE = ...``
    assert all(cls.TYPE in home.read_text(encoding="utf-8") for cls in events.BY_TYPE.values())


def test_events_py_imports_nothing_from_ceremony_but_errors_and_frozen() -> None:
    tree = ast.parse((ROOT / "ceremony" / "events.py").read_text(encoding="utf-8"))
    mods = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    mods |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert {m for m in mods if m.startswith("ceremony")} == {"ceremony.errors", "ceremony.frozen"}
