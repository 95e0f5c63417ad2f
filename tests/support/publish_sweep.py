"""The crash sweep of one publish: SIGKILL ``ceremony publish`` at every write it makes, resume.

The root ceremony's sweep (:mod:`tests.support.crash_sweep`) kills a whole scripted
ceremony and samples SoftHSM's writes; a publish makes no key and writes only the tool's own
files, so here nothing is sampled: every call the uncrashed publish makes that can change
the disk (every ``openat(O_CREAT)``, ``write``, ``fsync``, ``link``/``rename``/``unlink``,
``mkdir``, the journal append's ``write`` and ``fsync``) is a kill point, and the points are
counted, so a sweep that silently covers nothing fails.

The expensive part (keys on SoftHSM, the draft, every signature) is made once, in process,
by the caller: a scenario folder holding ``ws/``, signed and ready to publish. Each point
copies it, runs the publish killed at its N-th call of one syscall (strace's
``inject=SYSCALL:signal=KILL:when=N``, from the root sweep's warm zygote), then resumes as an
operator would: ``status`` (a reader: it must answer, change nothing, and name ``publish`` as
the next step exactly when the killed run had not journaled it), ``publish`` again
(it must finish, or say the root is already published), ``record verify``, and ``export`` to
the scenario's ``stick/`` (which re-reads every published file against the journal).

What is asserted after every resume (:func:`check_point`): every visible file of the
workspace except the journal is byte-identical to the uncrashed run's (the published root,
every role, every target file, every certificate and CRL: so nothing is published twice or
differently, and the keys folder is untouched: no key is made twice); the journal before the
publish is a prefix of the journal after it (nothing lost) and its event types are the
uncrashed run's once crash-recovery events are removed; ``record verify`` passes; the stick
holds one bundle, which verifies and carries the uncrashed run's files, no debris. The
published folders (``metadata/``, ``targets/``) hold no hidden file the uncrashed run's do
not: the resumed publish removes the temporary files the kill left there, since whoever
copies the folder (git, a web root) would copy them too. Elsewhere (the lock's holder file
being written, in the workspace's top) they are counted as debris, which readers ignore.
"""

from __future__ import annotations

import hashlib
import json
import re
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support import crash_sweep as cs

PUBLISH = ["publish", "ws"]
STATUS = ["status", "ws"]
VERIFY = ["record", "verify", "ws", "--allow-unsealed"]
EXPORT = ["export", "ws", "--usb", "stick"]
ALREADY = "is already published"
NEXT = "next: ceremony publish WORKSPACE"
#: The exit codes each resumed command may give: publish 8 when the killed run journaled it.
OK = {"status": (0,), "publish": (0, 8), "record": (0,), "export": (0,)}
#: What the zygote imports before forking, on top of the root sweep's: what a publish of
#: offline roles or of an X.509 CA, its status, record verify and export load lazily (a child's
#: run then costs tens of milliseconds, not a few hundred).
PRELOAD = ("tests.support.publish_sweep", "ceremony.formats.tuf_format", "ceremony.formats.tuf_roles",
           "ceremony.formats.tuf_shape", "ceremony.formats.tuf_record", "ceremony.formats.x509.format",
           "ceremony.formats.x509.ops", "ceremony.formats.x509.carry", "ceremony.cli.keys", "ceremony.cli.trust",
           "ceremony.steps.publish", "ceremony.steps.confirm", "ceremony.record", "ceremony.record_check",
           "ceremony.integrity", "ceremony.seal", "ceremony.cli.transfer", "ceremony.transport.usb",
           "hsm.fido", "filelock", "html", "_strptime",
           "encodings.ascii", "encodings.unicode_escape", "encodings.utf_16_le")
#: The calls every publish makes besides its files: the workspace lock's holder file (written
#: atomically: openat, write, fsync, rename, fsync of the folder; unlinked at the end) and the
#: journal's ``published`` line (write, fsync).
LOCK_AND_JOURNAL = 6 + 2
#: The calls of one ``atomic_write``: openat, write, fsync, then rename (a file replaced) or
#: link and unlink (a file never replaced), then fsync of the folder.
ATOMIC = {"rename": 5, "link": 6}


@dataclass(frozen=True)
class Reference:
    """One uncrashed publish: its scenario before and after, and every kill point it made."""

    name: str
    before: Path  # the prepared scenario (ws/ signed, ready to publish)
    after: Path  # the same after the publish, a record verify and an export
    calls: list[cs.Call]


def kill_points(calls: Sequence[cs.Call]) -> list[cs.Call]:
    """Every call that changed the disk, and every fsync: the writes a kill must land on. A
    call that failed and changed nothing (``mkdir`` of a folder that exists) leaves the state
    a kill at the next call leaves, so it is not a point of its own."""
    return [c for c in calls if c.changes or c.syscall in ("fsync", "fdatasync")]


def written(calls: Sequence[cs.Call]) -> dict[str, str]:
    """The files a publish put in place (workspace-relative) -> ``rename`` (replaced) or
    ``link`` (never replaced), read from the temporary names ``atomic_write`` moves in;
    the lock's holder file left out."""
    out = {}
    for c in calls:
        m = re.fullmatch(r"ws/((?:[^/]+/)*)\.([^/]+)\.[^./]+\.tmp", c.path)
        if c.syscall in ("rename", "link") and m and m.group(2) != ".ceremony.lock.holder":
            out[m.group(1) + m.group(2)] = c.syscall
    return out


def made_dirs(calls: Sequence[cs.Call]) -> list[str]:
    """The folders a publish made (workspace-relative)."""
    return [c.path.removeprefix("ws/") for c in calls if c.syscall in ("mkdir", "mkdirat") and c.changes]


def expected_points(files: dict[str, str], dirs: Sequence[str]) -> int:
    """The number of kill points a publish writing ``files`` (see :func:`written`) and making
    ``dirs`` has: what the sweep's count is checked against."""
    return LOCK_AND_JOURNAL + sum(ATOMIC[kind] for kind in files.values()) + len(dirs)


@dataclass
class Outcome:
    """What one kill point did."""

    reference: str
    call: cs.Call
    killed: bool = False
    resumed: str = ""  # "published" or "already published"
    problems: list[str] = field(default_factory=list)
    debris: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # per run: killed, status, ...


def tree(ws: Path) -> dict[str, bytes]:
    """Every visible file under ``ws`` (relative path -> bytes); hidden files are debris."""
    return {p.relative_to(ws).as_posix(): p.read_bytes() for p in sorted(ws.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(ws).parts)}


def digest(ws: Path) -> str:
    """A digest of everything under ``ws``, hidden files too (what a reader must not change)."""
    h = hashlib.sha256()
    for p in sorted(ws.rglob("*")):
        h.update(p.relative_to(ws).as_posix().encode() + b"\0")
        if p.is_file():
            h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def event_types(ws: Path) -> list[str]:
    return [json.loads(x)["type"] for x in (ws / "journal.jsonl").read_text().splitlines()
            if json.loads(x)["type"] not in cs.RECOVERY_EVENTS + cs.SESSION_EVENTS]


def build_reference(z: cs.Zygote, name: str, prepared: Path, work: Path) -> Reference:
    """Publish ``prepared`` once, traced, then ``record verify`` and export it: the run every
    point is compared with."""
    after = work / f"{name}-reference"
    cs.copy_scenario(prepared, after)
    trace = work / f"{name}-trace.txt"
    out = work / f"{name}-reference.out"
    code = z.run(after, PUBLISH, out, ["-yy", "-e", "trace=" + ",".join(cs.KILL_SYSCALLS), "-o", str(trace)])
    assert code != cs.NOT_TRACED, "strace could not attach: ptrace is not permitted here; the sweep needs it"
    assert code == 0, out.read_text()
    for argv in (VERIFY, EXPORT):
        code = z.run(after, argv, out)
        assert code == 0, out.read_text()
    return Reference(name, prepared, after, cs.parse_trace(trace.read_text(), after.resolve(), prepared, 0))


def run_point(z: cs.Zygote, ref: Reference, call: cs.Call, where: Path) -> Outcome:
    """Kill the publish at ``call``, resume (status, publish, record verify, export), compare."""
    o = Outcome(ref.name, call)
    start = time.monotonic()
    cs.copy_scenario(ref.before, where)
    o.seconds["copy"] = time.monotonic() - start
    out = where / "killed.out"
    code = z.run(where, PUBLISH, out, ["-o", "/dev/null", "-e", f"trace={call.syscall}", "-e",
                                       f"inject={call.syscall}:signal=KILL:when={call.ordinal}"])
    o.seconds["killed"] = time.monotonic() - start - o.seconds["copy"]
    o.killed = code == -signal.SIGKILL
    if not o.killed:
        o.problems.append(f"not killed (exit {code}): {out.read_text()[-400:]}")
        return o
    z.run(where, ["call", f"{__name__}:resume"], where / "resume.out")
    done = where / "resume.json"
    results = json.loads(done.read_text()) if done.exists() else [
        {"argv": ["resume"], "code": 70, "out": (where / "resume.out").read_text(), "seconds": 0}]
    for r in results:
        o.seconds[r["argv"][0]] = r["seconds"]
        o.problems += r.get("problems", [])
        if r["code"] not in OK.get(r["argv"][0], (0,)) or "Traceback" in r["out"] or \
                (r["code"] == 8 and ALREADY not in r["out"]):
            o.problems.append(f"{' '.join(r['argv'])}: exit {r['code']}: {r['out'][-600:]}")
            return o
        if r["argv"] == PUBLISH:
            o.resumed = "published" if r["code"] == 0 else "already published"
    if o.problems:
        return o
    check_point(where, ref, o)
    return o


def resume(_args: Sequence[str]) -> int:
    """The operator's resume, run in the zygote's fresh child after the kill (one process for
    the four commands saves three start-ups a point; each command opens and releases the
    workspace as a process of its own would): status, publish, record verify, export, each
    command's exit code, output and time written to ``resume.json``, stopping at the first
    that fails. Status must change nothing and name the right next step (see the module)."""
    import contextlib
    import io

    from ceremony.cli import main
    ws = Path("ws")
    results: list[dict[str, Any]] = []
    for argv in (STATUS, PUBLISH, VERIFY, EXPORT):
        seen = digest(ws)
        out = io.StringIO()
        start = time.monotonic()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = main(list(argv))
        r = {"argv": argv, "code": code, "out": out.getvalue(), "seconds": time.monotonic() - start,
             "problems": []}
        results.append(r)
        if argv is STATUS:
            if digest(ws) != seen:
                r["problems"].append("status changed the workspace")
            # the room's next step: publish again, unless the killed run journaled it
            if (NEXT in r["out"]) == ("published" in event_types(ws)):
                r["problems"].append(f"status names the wrong next step: {r['out'][-300:]}")
        if code not in OK[argv[0]]:
            break
    Path("resume.json").write_text(json.dumps(results))
    return 0


def check_point(where: Path, ref: Reference, o: Outcome) -> None:
    """Compare a resumed workspace with the uncrashed one (see the module docstring)."""
    ws, rws = where / "ws", ref.after / "ws"
    got, want = tree(ws), tree(rws)
    got.pop("journal.jsonl")
    want.pop("journal.jsonl")
    if set(got) != set(want):
        o.problems.append(f"files differ from the uncrashed run's: {sorted(set(got) ^ set(want))}")
    o.problems += [f"{rel} differs from the uncrashed run's" for rel in sorted(set(got) & set(want))
                   if got[rel] != want[rel]]
    journal = (ws / "journal.jsonl").read_bytes()
    if not journal.startswith((ref.before / "ws" / "journal.jsonl").read_bytes()):
        o.problems.append("the journal before the publish is not a prefix of the journal after it")
    if event_types(ws) != event_types(rws):
        o.problems.append(f"journal event types differ: {event_types(ws)[-4:]}")
    bundles = [b for b in (where / "stick").iterdir() if not b.name.startswith(".")]
    if len(bundles) != 1:
        o.problems.append(f"the stick holds {len(bundles)} bundles")
    elif bundle_files(where) != bundle_files(ref.after):
        o.problems.append("the exported bundle's files differ from the uncrashed run's")
    theirs = {p.relative_to(rws).as_posix() for p in rws.rglob(".*")}
    o.debris = sorted(rel for p in ws.rglob(".*") if (rel := p.relative_to(ws).as_posix()) not in theirs)
    # the published folders hold nothing the uncrashed run's do not: the resumed publish removed
    # the temporary files the kill left (the lock's own, in the workspace's top, are counted)
    left = [rel for rel in o.debris if rel.startswith(("metadata/", "targets/"))]
    if left:
        o.problems.append(f"temporary files left in the published folders: {left}")


def bundle_files(scenario: Path) -> dict[str, bytes]:
    """The files of the one bundle on the scenario's stick, read and verified as ``import`` does."""
    from ceremony.transport import import_usb
    return dict(import_usb(scenario / "stick").files)


def sweep(zygotes: Sequence[cs.Zygote], refs: Sequence[Reference], work: Path) -> list[Outcome]:
    """Every kill point of every reference, on the zygotes in parallel."""
    points = [(ref, call) for ref in refs for call in kill_points(ref.calls)]
    return cs.in_lanes(zygotes, points,
                       lambda z, w, p: run_point(z, p[0], p[1], work / f"lane-{w}"))


def summary(refs: Sequence[Reference], outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """The figures the report gives: points per publish and per syscall, failures, debris."""
    by_ref: dict[str, dict[str, int]] = {}
    for o in outcomes:
        counts = by_ref.setdefault(o.reference, {})
        counts[o.call.syscall] = counts.get(o.call.syscall, 0) + 1
    return {
        "kill points": len(outcomes),
        "killed": sum(1 for o in outcomes if o.killed),
        "by publish": {r.name: by_ref.get(r.name, {}) for r in refs},
        "resumed as already published": sum(1 for o in outcomes if o.resumed == "already published"),
        "manual repairs": sum(1 for o in outcomes if o.problems),
        "points with hidden debris": sum(1 for o in outcomes if o.debris),
        "seconds per point": {k: round(sum(o.seconds.get(k, 0) for o in outcomes) / max(1, len(outcomes)), 3)
                              for k in ("copy", "killed", "status", "publish", "record", "export")},
    }
