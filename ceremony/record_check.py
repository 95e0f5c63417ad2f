"""Offline verification of a ceremony's record, with the tool alone and no token.

:func:`check_record` re-checks the journal chain, the plan, the keys, the published
root, the transcript, the seal, attestations and witness sign-offs, and names the
broken journal line or the failing file; :func:`verify_record` raises at the first
failure for the CLI boundary.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path
from typing import Any

from ceremony import attestation, chain, journal as journal_mod, witness
from ceremony.errors import CeremonyError, StateError, VerificationError, WorkspaceError
from ceremony.events import SEALED, KeyGenerated, Published, Sealed, parse
from ceremony.formats import tuf as tuf_format
from ceremony.journal import Event
from ceremony.record import REPORT_META, journaled_key_file, report, transcript_files
from ceremony.seal import (
    format_of,
    journal_format,
    seal_payload,
    seal_target,
    sealers,
)
from ceremony.session import sha256
from ceremony.state import replay
from ceremony.workspace import Workspace
from hsm.algorithms import get_algorithm
from hsm.errors import HsmError
from hsm.verify import verify_raw


@dataclass
class RecordVerdict:
    """What :func:`check_record` found: every check passed, and every problem."""

    workspace: Path
    events: int = 0
    head: str = "0" * 64
    sealed: bool = False
    sealers: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    journal_broken: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        out = [f"ok   {c}" for c in self.checks] + [f"FAIL {p}" for p in self.problems]
        out.append(("record verified" if self.ok else "record verification FAILED")
                   + f": {self.events} journal lines, head {self.head}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"workspace": str(self.workspace), "ok": self.ok, "events": self.events,
                "head": self.head, "sealed": self.sealed, "sealers": self.sealers,
                "checks": self.checks, "problems": self.problems}


def check_record(root: Path, require_seal: bool = True, check_report: bool = True) -> RecordVerdict:
    """Re-check a workspace offline: journal chain, plan, outputs, transcript, report, seal.

    Never raises for a failed check: every problem is in the verdict, the
    journal's broken line named as :mod:`ceremony.journal` names it.
    ``check_report=False`` leaves ``record/report.html`` out: the report shows this
    verdict, and is itself compared with a regenerated one.
    """
    ws = Workspace(Path(root))
    v = RecordVerdict(ws.root)
    try:
        ws.check()
        events = journal_mod.read(ws.journal)
    except WorkspaceError as e:
        v.problems.append(e.message)
        v.journal_broken = True
        return v
    v.events, v.head = len(events), (events[-1].hash if events else v.head)
    v.checks.append(f"journal chain intact ({len(events)} lines)")
    try:
        state = replay(events)
    except WorkspaceError as e:  # a line that is not a well-formed event names itself
        v.problems.append(e.message)
        v.journal_broken = True
        return v
    if not state.init:
        v.problems.append("journal line 1 is not the initialisation event")
        return v
    _check_plan(ws, state.init, v)
    _check_keys(ws, events, v)
    _check_published(ws, events, v)
    _check_transcript(ws, events, v)
    if check_report:
        _check_report(ws, events, v)
    _check_seal(ws, events, v, require_seal)
    _check_attestations_and_witnesses(ws, events, v)
    return v


def _check_attestations_and_witnesses(ws: Workspace, events: list[Event], v: RecordVerdict) -> None:
    """YubiKey attestations (ceremony.attestation) and FIDO2 sign-offs (ceremony.witness)."""
    for module in (attestation, witness):
        checks, problems = module.record_checks(ws, events)
        v.checks += checks
        v.problems += problems


def verify_record(root: Path, require_seal: bool = True) -> RecordVerdict:
    """:func:`check_record`, raising at the first failure (for the CLI boundary).

    Raises:
        WorkspaceError: the journal is broken (the message names the line).
        VerificationError: a check failed (the message says which).
    """
    v = check_record(root, require_seal)
    if v.journal_broken:
        raise WorkspaceError(v.problems[0], hint="the journal is tamper-evident; restore it "
                             "from a copy and compare")
    if v.problems:
        raise VerificationError(v.problems[0] + (f" (and {len(v.problems) - 1} more)"
                                                 if len(v.problems) > 1 else ""))
    return v


def _check_plan(ws: Workspace, init: dict[str, Any], v: RecordVerdict) -> None:
    try:
        data = ws.plan.read_bytes()
    except OSError:
        v.problems.append(f"{ws.plan.name} is missing")
        return
    if sha256(data) != init.get("plan_sha256"):
        v.problems.append(f"{ws.plan.name} differs from the plan journaled at line 1")
    else:
        v.checks.append(f"{ws.plan.name} matches the journal")


def _check_keys(ws: Workspace, events: list[Event], v: RecordVerdict) -> None:
    for e in events:
        t = parse(e)
        if not isinstance(t, KeyGenerated):
            continue
        path = ws.keys / f"root-{t.keyholder}.json"
        want = journaled_key_file(events, e.data)
        try:
            ok = path.read_bytes() == want
        except OSError:
            ok = False
        if ok:
            v.checks.append(f"keys/{path.name} matches journal line {e.seq}")
        else:
            v.problems.append(f"keys/{path.name} is missing or differs from journal line {e.seq}")


def _check_published(ws: Workspace, events: list[Event], v: RecordVerdict) -> None:
    typed = [parse(e) for e in events]
    for e, pub in zip(events, typed, strict=True):
        if not isinstance(pub, Published):
            continue
        version = pub.version
        path = ws.metadata / (pub.files[0] if pub.files else f"{version}.root.json")  # x509: its artifact
        try:
            data = chain.read_root_file(path) if path.suffix == ".json" else \
                chain.read_bounded(path, chain.MAX_ROOT_FILE, "far larger than any published file")
        except VerificationError as err:
            v.problems.append(err.message)
            continue
        if sha256(data) != pub.sha256:
            v.problems.append(f"metadata/{path.name} differs from the root published at "
                              f"journal line {e.seq}")
            continue
        klass = format_of(events)
        if klass is None:
            v.checks.append(f"metadata/{path.name} matches journal line {e.seq} (digest only "
                            f"for {journal_format(events)})")
            continue
        problem, check = klass.record_check_published(ws, events[:e.seq], version, data,
                                                      path.name)
        if problem:
            v.problems.append(problem)
        else:
            v.checks.append(str(check))


def _check_transcript(ws: Workspace, events: list[Event], v: RecordVerdict) -> None:
    """``record/transcript.json`` and ``.txt`` are regenerated from the journal lines they cover
    and compared byte for byte (the first differing line named); once sealed, they must cover
    the whole journal, and exist."""
    sealed = _sealed_at(events)
    for name in ("transcript.json", "transcript.txt"):
        where = f"record/{name}"
        path = ws.record / name
        if not path.exists():
            if sealed:
                v.problems.append(f"{where} is missing: the seal writes it (run `ceremony seal "
                                  "WORKSPACE` again to rewrite the record)")
            continue
        try:
            data = path.read_bytes()
        except OSError as e:
            v.problems.append(f"{where} cannot be read: {e.strerror}")
            continue
        seq = _transcript_seq(name, data)
        if seq is None:
            v.problems.append(f"{where} is not a transcript")
            continue
        if not 0 < seq <= len(events):
            v.problems.append(f"{where} does not match the journal: it names journal line {seq} "
                              f"of {len(events)}")
            continue
        want = transcript_files(events[:seq])[name]
        if data != want:
            v.problems.append(f"{where} does not match the journal: "
                              + first_difference(data, want))
        elif seq < sealed:
            v.problems.append(f"{where} covers journal lines 1-{seq}, not the sealed journal "
                              f"({sealed} lines): run `ceremony record report WORKSPACE`")
        else:
            v.checks.append(f"{where} matches journal lines 1-{seq}")


def _sealed_at(events: list[Event]) -> int:
    """The journal line of the seal (0: not sealed)."""
    return next((e.seq for e in events if e.type == SEALED), 0)


def _transcript_seq(name: str, data: bytes) -> int | None:
    """The journal line a transcript file says it covers (None: not a transcript)."""
    try:
        if name.endswith(".json"):
            return int(json.loads(data)["journal_seq"])
        m = re.match(rb"transcript of ceremony \S+, journal line (\d+), head [0-9a-f]{64}\n", data)
        return int(m.group(1)) if m else None
    except (ValueError, KeyError, TypeError):
        return None


def first_difference(have: bytes, want: bytes) -> str:
    """Where a file first differs from what the journal gives: the line, and both excerpts."""
    a = have.decode("utf-8", "replace").split("\n")
    b = want.decode("utf-8", "replace").split("\n")
    for n, (x, y) in enumerate(zip_longest(a, b), start=1):
        if x == y:
            continue
        x, y = x or "", y or ""
        col = next((i for i, (p, q) in enumerate(zip(x, y, strict=False)) if p != q), min(len(x), len(y)))
        start = max(0, col - 20)
        return (f"line {n} differs (the file has {x[start:start + 60]!r}, the journal gives "
                f"{y[start:start + 60]!r})")
    return "the bytes differ"


#: The largest report read back (a report is some hundred kilobytes).
MAX_REPORT = 64 * 1024 * 1024


def _check_report(ws: Workspace, events: list[Event], v: RecordVerdict) -> None:
    """``record/report.html`` is regenerated and compared byte for byte (the first differing
    line named) when it covers the whole journal; before the seal an older report is only
    noted as out of date, after the seal it must cover the sealed journal."""

    sealed = _sealed_at(events)
    where, path = "record/report.html", ws.record / "report.html"
    if not path.is_file():
        if sealed:
            v.problems.append(f"{where} is missing: the seal writes it (run `ceremony seal "
                              "WORKSPACE` again to rewrite the record)")
        return
    try:
        if path.stat().st_size > MAX_REPORT:
            v.problems.append(f"{where} is far larger than any report")
            return
        data = path.read_bytes()
    except OSError as e:
        v.problems.append(f"{where} cannot be read: {e.strerror}")
        return
    m = re.search(rb'<meta name="' + REPORT_META.encode() + rb'" content="(\d+) ([0-9a-f]{64})">',
                  data)
    if m is None:
        v.problems.append(f"{where} is not a report this tool wrote (it names no journal line)")
        return
    seq, head = int(m.group(1)), m.group(2).decode()
    if not 0 < seq <= len(events) or events[seq - 1].hash != head:
        v.problems.append(f"{where} names journal line {seq} with head {head[:16]}..., which "
                          "is not in this journal")
        return
    if seq < len(events):
        if seq < sealed:
            v.problems.append(f"{where} covers journal lines 1-{seq}, not the sealed journal "
                              f"({sealed} lines): run `ceremony record report WORKSPACE`")
        else:  # before the seal; or lines appended after it, a problem of their own
            v.checks.append(f"{where} covers journal lines 1-{seq} of {len(events)}: out of "
                            "date, not compared (`ceremony record report` refreshes it)")
        return
    try:
        want = report(ws.root, check_record(ws.root, require_seal=False, check_report=False)).encode()
    except CeremonyError as e:
        v.problems.append(f"cannot regenerate {where}: {e.message}")
        return
    if data != want:
        v.problems.append(f"{where} differs from the report the journal gives: "
                          + first_difference(data, want))
    else:
        v.checks.append(f"{where} matches the report regenerated from journal lines 1-{seq}")


def _check_seal(ws: Workspace, events: list[Event], v: RecordVerdict, require: bool) -> None:
    idx = next((i for i, e in enumerate(events) if e.type == SEALED), None)
    if idx is None:
        if require:
            v.problems.append("the ceremony is not sealed")
        else:
            v.checks.append("not sealed yet (allowed)")
        return
    ev = events[idx]
    if idx != len(events) - 1:
        v.problems.append(f"journal line {events[idx + 1].seq} was appended after the seal "
                          f"(line {ev.seq})")
        return
    d = parse(ev)
    assert isinstance(d, Sealed)  # found by its type above
    target = seal_target(events[:idx])
    if d.seq != target.seq or d.head != target.hash:
        v.problems.append(f"the seal at journal line {ev.seq} does not cover line {target.seq}")
        return
    try:
        wanted = {s.keyid: s for s in sealers(ws, events)}
    except (StateError, VerificationError) as err:
        v.problems.append(f"cannot check the seal: {err.message}")
        return
    payload = seal_payload(events[0].data["ceremony_id"], target.seq, target.hash)
    good = set()
    for s in d.signatures:
        sealer = wanted.get(str(s.get("keyid")))
        if sealer is None:
            v.problems.append(f"the seal carries a signature by key {str(s.get('keyid'))[:12]}, "
                              "which did not sign the published root")
            continue
        alg = sealer.fields[tuf_format.X_ALGORITHM]
        try:
            verify_raw(sealer.public, get_algorithm(alg), payload,
                       bytes.fromhex(s["sig"]), sealer.keyholder)
        except (HsmError, ValueError):
            v.problems.append(f"the seal signature of {sealer.keyholder} does not verify")
            continue
        good.add(sealer.keyid)
    missing = sorted({wanted[k].keyholder for k in wanted if k not in good})
    if missing:
        v.problems.append("the seal lacks a valid signature from " + ", ".join(missing))
        return
    v.sealed = True
    v.sealers = sorted({wanted[k].keyholder for k in good})
    v.checks.append(f"seal verified: journal line {target.seq} (head {target.hash[:16]}) signed "
                    f"by {', '.join(v.sealers)}")
