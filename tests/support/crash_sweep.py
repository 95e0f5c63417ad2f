"""A crash sweep: SIGKILL a scripted 3-of-5 CLI ceremony before every state-changing syscall.

Why syscalls, and why strace: a process killed with SIGKILL leaves exactly what its
completed system calls left on disk, nothing more and nothing less. So the distinct
states a kill can leave are the states between two consecutive state-changing calls
(``write``, ``pwrite64``, ``ftruncate``, ``rename``/``link``/``unlink``, ``mkdir``, file
creation by ``openat(O_CREAT)``; ``fsync`` changes nothing a kill can see but is a
kill point too). Killing at the *entry* of the k-th such call leaves the state right after
the (k-1)-th. Hooks inside the tool would only reach the tool's own calls: the windows
that leave half-made key objects are inside SoftHSM's ``C_GenerateKeyPair``, which
rewrites an object file once per attribute (ftruncate, then write) for the public and
then the private object. ``strace -e inject=SYSCALL:signal=KILL:when=N`` reaches those
too, and needs no fault hook in production code. A PKCS#11 call that makes no such
syscall (login, find, sign) changes nothing on disk, so a kill right after it leaves the
same state as a kill at the next state-changing call, which is swept.

How a point runs (``run_point``): the scenario folder (workspace, USB folder, SoftHSM
tokens) is restored from the uncrashed reference run's snapshot taken after the previous
command; the command is run with strace attached and killed at its N-th call of one
syscall; then the operator's resume: the same command again (it must succeed, or say
the step is already done), then the remaining commands. Every command is its own
process, forked from a warm "zygote" (this file run as a script) that has imported the
tool but loaded no PKCS#11 module, so a run costs milliseconds, not a Python start-up.

What is asserted after every resume (``check_final``): exit 0 for every later command;
the journal's event types equal the reference's once crash-recovery events are
removed; the published root equals the reference's with key material, signatures and
times abstracted to who holds which key; it verifies with python-tuf (threshold of
distinct keys) and holds exactly one root key per keyholder; each keyholder token holds
exactly one private and one public key object, with the journaled CKA_ID, and nothing
else (the online token is untouched); the USB folder holds exactly one bundle, which
imports (verifies) and is the journaled export; the workspace's visible files are the
reference's. Hidden temporary files left by a kill are counted as debris (readers
ignore them), never as outputs.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

P = TypeVar("P")
R = TypeVar("R")

ROOT = Path(__file__).resolve().parents[2]
PIN = "crash-sweep-pin"
NAMES = ["alice", "bob", "carol", "dave", "erin"]
SIGNERS = ["alice", "bob", "carol"]
THRESHOLD = 3

#: The scripted ceremony, run from inside the scenario folder.
COMMANDS: list[list[str]] = [
    ["init", "ws", "--plan", "plan.toml"],
    *[["keygen", "ws", "--keyholder", n] for n in NAMES],
    ["draft", "ws"],
    *[["sign", "ws", "--keyholder", n] for n in SIGNERS],
    ["publish", "ws"],
    ["export", "ws", "--usb", "stick"],
]

#: What a re-run command may answer when the killed run had already finished its step.
ALREADY_DONE = {
    "init": "already holds a ceremony",
    "keygen": "already has a root key in this ceremony",
    "draft": "is already drafted",
    "sign": "has already signed",
    "publish": "is already published",
    "export": "this very export, already journaled",
}

#: Syscalls whose entry is a kill point (state-changing, or fsync as the brief asks).
KILL_SYSCALLS = ("write", "pwrite64", "ftruncate", "fsync", "fdatasync", "rename", "renameat",
                 "renameat2", "link", "linkat", "unlink", "unlinkat", "mkdir", "mkdirat", "rmdir",
                 "openat")
RECOVERY_EVENTS = ("keygen-recovered", "journal-recovered")
# What a process journals about its own session, not a step: a PIN accepted is journaled after
# the step's own event, so a kill between the two loses that line (the step's event says the
# PIN worked), and a resumed process logs in again where the uncrashed one had a session.
SESSION_EVENTS = ("pin-attempt",)


# ---- the zygote (runs as a script) -------------------------------------------------------------


#: The zygote's answer when strace could not attach (ptrace not permitted here).
NOT_TRACED = 98


def _wait_for_tracer(pid: int, tracer: subprocess.Popen[bytes], timeout: float = 10.0) -> bool:
    """Wait (in the zygote) until strace is attached to ``pid``; False if it never is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and tracer.poll() is None:
        try:
            with open(f"/proc/{pid}/status", "rb") as f:
                m = re.search(rb"TracerPid:\s+(\d+)", f.read())
        except OSError:
            return False
        if m and m.group(1) != b"0":
            return True
        time.sleep(0.001)
    return False


def _child(job: dict[str, Any], out: int, go: int | None) -> None:
    """One command (or the census) in a forked child; never returns.

    A traced child first blocks on ``go`` (a pipe) until the zygote has seen strace attach:
    nothing before that is a counted call, so every run of a command makes the same
    counted calls, whenever strace happens to attach.
    """
    try:
        os.dup2(out, 1)
        os.dup2(out, 2)
        if go is not None:
            # under Yama ptrace_scope=1, let the sibling strace attach (PR_SET_PTRACER, ANY)
            ctypes.CDLL(None).prctl(0x59616D61, ctypes.c_ulong(2**64 - 1), 0, 0, 0)
            os.read(go, 1)
        os.chdir(job["cwd"])
        os.environ["SOFTHSM2_CONF"] = str(Path(job["cwd"]) / "softhsm" / "softhsm2.conf")
        os.environ["CEREMONY_PIN"] = PIN
        if job["argv"] == ["census"]:
            Path("census.json").write_text(json.dumps(census()))
            code = 0
        elif job["argv"] and job["argv"][0] == "tail":
            code = _tail(job["argv"][1:])
        elif job["argv"] and job["argv"][0] == "call":  # ["call", "MODULE:FUNCTION", ARGS...]
            import importlib
            module, _, function = job["argv"][1].partition(":")
            code = getattr(importlib.import_module(module), function)(job["argv"][2:])
        else:
            from ceremony.cli import main
            code = main(job["argv"])
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    except BaseException:  # noqa: BLE001 - reported through the output file and the status
        import traceback
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(70)


def _tail(commands: list[str]) -> int:
    """The remaining commands, one after the other in this process (each logs out of its
    tokens at its end, as a separate process would); the census last. Writes each command's
    exit code and output to ``tail.json``; the exit code is the first failure's, or 0."""
    import contextlib
    import io

    from ceremony.cli import main
    results = []
    code = 0
    for argv in (json.loads(c) for c in commands):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            rc = main(argv)
        results.append({"argv": argv, "code": rc, "out": out.getvalue()})
        if rc != 0:
            code = rc
            break
    Path("tail.json").write_text(json.dumps(results))
    if code == 0:
        Path("census.json").write_text(json.dumps(census()))
    return code


def zygote() -> int:
    """Import the tool once, then run one forked child per job read from stdin."""
    import ceremony.cli
    import ceremony.engine
    import ceremony.flows.export
    import ceremony.transfer
    import ceremony.transport
    import hsm.pkcs11
    _ = (ceremony.cli, ceremony.engine, ceremony.flows.export, ceremony.transfer,
         ceremony.transport, hsm.pkcs11)
    import importlib
    for name in ("ceremony.online.notary_ops", "ceremony.cli.yubikey", "ceremony.cli.record",
                 "ceremony.cli.witness", "ceremony.preflight", "ceremony.airgap", "ceremony.status",
                 "ceremony.fingerprint", "ceremony.witness", "ceremony.detached", "hsm.signer",
                 "hsm.uri", "tuf.api.metadata", "getpass"):
        importlib.import_module(name)
    for name in sys.argv[1:]:  # what a caller's commands load lazily (Zygote's ``preload``)
        importlib.import_module(name)
    import argparse
    import gc
    argparse._ = lambda text: text  # type: ignore[attr-defined]  # no locale look-ups per run
    gc.freeze()  # children do not copy the imported objects' pages just to collect them
    for line in sys.stdin:
        job = json.loads(line)
        out = os.open(job["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        go, start = os.pipe() if job.get("traced") else (None, None)
        pid = os.fork()
        if pid == 0:
            _child(job, out, go)
        os.close(out)
        tracer, attached = None, True
        if start is not None and go is not None:
            os.close(go)
            tracer = subprocess.Popen(["strace", "-qq", "-f", "-p", str(pid), *job["strace"]],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            attached = _wait_for_tracer(pid, tracer)
            if not attached:
                os.kill(pid, signal.SIGKILL)
                tracer.kill()
            os.write(start, b"g")
            os.close(start)
        _, status = os.waitpid(pid, 0)
        if tracer is not None:
            tracer.wait()
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        if tracer is not None and not attached:
            code = NOT_TRACED
        print(code, flush=True)
    return 0


# ---- token census (runs in a child) ---------------------------------------------------------


def census() -> dict[str, list[list[str]]]:
    """Every object on every token, logged in, as [class, CKA_ID hex, label]; read through
    the module's C entry points, so that an object python-pkcs11 cannot wrap (a half-made one
    with no class) is listed too, its class as ``?``."""
    import ctypes

    from hsm.pkcs11 import get_module, resolve_module_path
    path = resolve_module_path(env={})
    module = get_module(path)
    lib = ctypes.CDLL(path)
    ulong = ctypes.c_ulong

    class Attr(ctypes.Structure):
        _fields_ = [("type", ulong), ("pValue", ctypes.c_void_p), ("ulValueLen", ulong)]

    def attribute(h: Any, obj: int, kind: int) -> bytes | None:
        a = Attr(kind, None, 0)
        if lib.C_GetAttributeValue(h, ulong(obj), ctypes.byref(a), ulong(1)) != 0:
            return None
        buf = ctypes.create_string_buffer(max(1, a.ulValueLen))
        a.pValue = ctypes.cast(buf, ctypes.c_void_p)
        if lib.C_GetAttributeValue(h, ulong(obj), ctypes.byref(a), ulong(1)) != 0:
            return None
        return buf.raw[:a.ulValueLen]

    out = {}
    for info in module.tokens():
        token = module.find_token(label=info.label)
        with token.open(user_pin=PIN) as s:
            h = ulong(s.handle)  # type: ignore[attr-defined]
            assert lib.C_FindObjectsInit(h, None, ulong(0)) == 0
            handles: list[int] = []
            batch, count = (ulong * 32)(), ulong(0)
            while lib.C_FindObjects(h, batch, ulong(32), ctypes.byref(count)) == 0 and count.value:
                handles += list(batch[:count.value])
            lib.C_FindObjectsFinal(h)
            objs = []
            for obj in handles:
                cls = attribute(h, obj, 0x0)
                oid = attribute(h, obj, 0x102)
                label = attribute(h, obj, 0x3)
                objs.append([str(int.from_bytes(cls, sys.byteorder)) if cls else "?",
                             oid.hex() if oid is not None else "?",
                             label.decode("utf-8", "replace") if label is not None else "?"])
            out[info.label] = sorted(objs)
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(zygote())


# ---- the harness (runs under pytest) -------------------------------------------------------


class Zygote:
    """A warm process that forks one child per command (see :func:`zygote`)."""

    def __init__(self, preload: Sequence[str] = ()) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
        env.pop("CEREMONY_PKCS11_MODULE", None)
        self.proc = subprocess.Popen([sys.executable, __file__, *preload], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        self.lock = threading.Lock()

    def run(self, cwd: Path, argv: list[str], out: Path, strace: list[str] | None = None) -> int:
        """Run ``ceremony ARGV`` in ``cwd``; its exit code (negative: killed by that signal)."""
        job: dict[str, Any] = {"cwd": str(cwd), "argv": argv, "out": str(out)}
        if strace is not None:
            job.update(traced=True, strace=strace)
        with self.lock:
            assert self.proc.stdin and self.proc.stdout
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
            return int(self.proc.stdout.readline())

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def make_template(base: Path) -> Path:
    """Tokens for five keyholders and the online keys, the plan; a SoftHSM conf with a
    relative token folder, so the whole folder can be copied and run from anywhere."""
    from ceremony.tui.demo import prepare
    prepare(base, NAMES, THRESHOLD, PIN, init=False)
    (base / "softhsm" / "softhsm2.conf").write_text(
        "directories.tokendir = softhsm/tokens\nobjectstore.backend = file\nlog.level = ERROR\n")
    (base / "stick").mkdir()
    return base


def copy_scenario(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, symlinks=True)


@dataclass(frozen=True)
class Call:
    """One kill point: the entry of one syscall of one command in the reference run."""

    command: int
    syscall: str
    ordinal: int  # 1-based among this command's calls of ``syscall`` (strace's ``when=``)
    path: str  # relative to the scenario folder
    changes: bool  # whether the call changed what is on disk


_LINE = re.compile(r"^\d+\s+(\w+)\((.*)\)\s+=\s+(-?\d+|\?)")
_NAMESPACE = ("rename", "renameat", "renameat2", "link", "linkat", "unlink", "unlinkat",
              "mkdir", "mkdirat", "rmdir")


def parse_trace(text: str, scenario: Path, before: Path, command: int) -> list[Call]:
    """Every call of one command's trace (``strace -yy``) on a file inside the scenario folder.

    Ordinals count every call of the syscall, as strace's ``when=`` does. A call changes
    the disk unless it failed, is an ``fsync``, or opens with ``O_CREAT`` a file that already
    existed (in the snapshot ``before`` the command, or earlier in the command).
    """
    counts: dict[str, int] = {}
    seen: set[str] = set()
    calls = []
    root = str(scenario) + "/"
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        name, args, ret = m.group(1), m.group(2), m.group(3)
        counts[name] = counts.get(name, 0) + 1
        if name == "openat" and "O_CREAT" not in args:
            continue
        quoted = re.findall(r'"([^"]*)"', args)
        fds = re.findall(r"<(/[^>]*)>", args)
        if name == "openat" or name in _NAMESPACE:
            cands = [q if q.startswith("/") else root + q for q in quoted]
        else:
            cands = fds
        inside = [c[len(root):] for c in cands if c.startswith(root)]
        if not inside:
            continue
        path = inside[0]
        failed = ret != "?" and int(ret) < 0
        if name in ("fsync", "fdatasync"):
            changes = False
        elif name == "openat":
            changes = not failed and path not in seen and not (before / path).exists()
            seen.add(path)
        else:
            changes = not failed
        calls.append(Call(command, name, counts[name], path, changes))
    return calls


def select_points(calls: list[Call], full_keygen: int = 5, stride: int = 12, full_stride: int = 3,
                  every_command: bool = False) -> tuple[list[Call], dict[str, int]]:
    """The kill points of the sweep, and how many calls each rule left out.

    * A point is kept only where the disk differs from the previous kept point of the same
      command (a kill at the next call leaves exactly the same state), except ``fsync`` on
      the tool's own files, kept as the brief asks.
    * The tool's files (workspace, USB folder, the hidden folder ``init`` builds): every point.
    * SoftHSM's key object files (``*.object``, ``*.lock``): SoftHSM rewrites an object's
      file once per attribute, so its thirty-odd windows per object fall into a few kinds
      (not yet visible; visible with no id, label or key; id and label but no key; empty
      file; complete). Every ``full_stride``-th point for the keygen ``full_keygen`` (the
      last: the same windows as the others, the shortest resume), every ``stride``-th for
      the other keygens, and in every keygen the last four calls on each object file (where
      the id, the label and the key material are written).
    * SoftHSM's ``generation`` counters (rewritten in place, 8 bytes, at every
      C_Initialize): the first command that loads the module only.
    * SoftHSM's ``token.object`` is rewritten in place (ftruncate, then write) at every
      C_Login: a kill between the two leaves it empty and the token unreadable, a SoftHSM
      defect no tool can repair (a hardware token or a YubiKey does not write a file).
      Those points are left out and counted; the ftruncate points (file still whole) stay.

    ``every_command`` keeps the generation counters of every command; with ``stride`` and
    ``full_stride`` 1 nothing is sampled.
    """
    kept: list[Call] = []
    skipped = {"same state as the previous point": 0, "softhsm object, sampled": 0,
               "softhsm generation counter, other commands": 0,
               "softhsm token.object truncated (SoftHSM defect)": 0}
    by_object: dict[tuple[int, str], list[int]] = {}
    for i, c in enumerate(calls):
        if c.path.endswith(".object") and not c.path.endswith("token.object"):
            by_object.setdefault((c.command, c.path), []).append(i)
    last_of_object = {i for idx in by_object.values() for i in idx[-4:]}
    first_module_command = min((c.command for c in calls if c.path.endswith("generation")), default=-1)
    changed_since = True
    previous_command = -1
    n_object = 0
    for i, c in enumerate(calls):
        if c.command != previous_command:
            changed_since, previous_command = True, c.command
        tool_file = not c.path.startswith("softhsm/")
        keep = changed_since or (tool_file and c.syscall in ("fsync", "fdatasync"))
        if not keep:
            skipped["same state as the previous point"] += 1
        elif c.path.endswith("token.object") and c.syscall == "write":
            skipped["softhsm token.object truncated (SoftHSM defect)"] += 1
            keep = False
        elif c.path.endswith("/generation") and c.command != first_module_command \
                and not every_command:
            skipped["softhsm generation counter, other commands"] += 1
            keep = False
        elif c.path.startswith("softhsm/") and (c.path.endswith(".object") or c.path.endswith(".lock")) \
                and not c.path.endswith("token.object"):
            n_object += 1
            if n_object % (full_stride if c.command == full_keygen else stride) and i not in last_of_object:
                skipped["softhsm object, sampled"] += 1
                keep = False
        if keep:
            kept.append(c)
        if keep or changed_since:  # this state is swept, or deliberately left out
            changed_since = False
        if c.changes:
            changed_since = True
    return kept, skipped


@dataclass
class Reference:
    """The uncrashed run: a snapshot after every command, and every command's kill points."""

    base: Path
    snapshots: list[Path]
    calls: list[Call]
    final: Path


def build_reference(z: Zygote, template: Path, work: Path) -> Reference:
    """Run the ceremony once, traced, snapshotting the scenario after each command."""
    snaps = [work / "snap-00"]
    copy_scenario(template, snaps[0])
    run_dir = work / "reference"
    copy_scenario(template, run_dir)
    calls: list[Call] = []
    for i, argv in enumerate(COMMANDS):
        trace = work / f"trace-{i:02d}.txt"
        code = z.run(run_dir, argv, work / f"reference-{i:02d}.out",
                     ["-yy", "-e", "trace=" + ",".join(KILL_SYSCALLS), "-o", str(trace)])
        assert code != NOT_TRACED, ("strace could not attach to the ceremony's process: ptrace is "
                                    "not permitted here (Yama ptrace_scope 2-3, or a container "
                                    "without CAP_SYS_PTRACE); the sweep needs it")
        assert code == 0, (argv, (work / f"reference-{i:02d}.out").read_text())
        calls += parse_trace(trace.read_text(), run_dir.resolve(), snaps[i], i)
        snap = work / f"snap-{i + 1:02d}"
        copy_scenario(run_dir, snap)
        snaps.append(snap)
    code = z.run(run_dir, ["census"], work / "reference-census.out")
    assert code == 0, (work / "reference-census.out").read_text()
    return Reference(work, snaps, calls, run_dir)


@dataclass
class Outcome:
    """What one kill point did."""

    call: Call
    killed: bool
    resumed: str  # "ok" or "already done"
    problems: list[str] = field(default_factory=list)
    debris: list[str] = field(default_factory=list)
    recovered: int = 0  # keygen-recovered events journaled
    extra_private_keys: int = 0  # private key objects beyond one per keyholder token
    orphans: int = 0  # objects on keyholder tokens that are not the journaled key pair


def run_point(z: Zygote, ref: Reference, call: Call, where: Path) -> Outcome:
    """Kill command ``call.command`` at ``call``, resume as an operator would, check the end."""
    copy_scenario(ref.snapshots[call.command], where)
    argv = COMMANDS[call.command]
    out = where / "killed.out"
    code = z.run(where, argv, out, ["-o", "/dev/null", "-e", f"trace={call.syscall}", "-e",
                                    f"inject={call.syscall}:signal=KILL:when={call.ordinal}"])
    outcome = Outcome(call, code == -signal.SIGKILL, "ok")
    if not outcome.killed:
        outcome.problems.append(f"not killed (exit {code}): {out.read_text()[-400:]}")
        return outcome
    # The operator re-runs the killed command, in a fresh process: the resume under test.
    log = where / "resume.out"
    code = z.run(where, argv, log)
    results: list[dict[str, Any]] = [{"argv": argv, "code": code, "out": log.read_text()}]
    if code == 0 or ALREADY_DONE[argv[0]] in results[0]["out"]:
        outcome.resumed = "ok" if code == 0 else "already done"
        # ... then the rest of the script, in one more process to save start-ups.
        rest = [json.dumps(a) for a in COMMANDS[call.command + 1:]]
        z.run(where, ["tail", *rest], where / "tail.out")
        tail = where / "tail.json"
        results += json.loads(tail.read_text()) if tail.exists() else [
            {"argv": ["tail"], "code": 70, "out": (where / "tail.out").read_text()}]
    for i, r in enumerate(results):
        text = r["out"]
        if "Traceback" in text or r["code"] == 70:
            outcome.problems.append(f"{' '.join(r['argv'])}: internal error: {text[-600:]}")
            return outcome
        done_already = i == 0 and outcome.resumed == "already done"
        if r["code"] != 0 and not done_already:
            outcome.problems.append(f"{' '.join(r['argv'])}: exit {r['code']}: {text[-600:]}")
            return outcome
    check_final(where, ref, outcome)
    return outcome


# ---- comparing a resumed run with the reference -------------------------------------------------


def events(ws: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (ws / "journal.jsonl").read_text().splitlines()]


def normalized_root(data: bytes) -> dict[str, Any]:
    """A root with key material, signatures and times reduced to who holds which key."""
    md = json.loads(data)
    signed = md["signed"]
    names, keys = {}, {}
    for keyid, k in signed["keys"].items():
        holder = k.get("x-ceremony-keyholder")
        if holder:
            names[keyid] = holder
            keys[holder] = {f: v for f, v in k.items() if f not in ("keyval", "x-ceremony-key-uri")}
        else:
            keys[keyid] = k  # online keys: the template's, the same in every run
    roles = {r: {"threshold": v["threshold"], "keyids": sorted(names.get(i, i) for i in v["keyids"])}
             for r, v in signed["roles"].items()}
    rest = {f: v for f, v in signed.items() if f not in ("keys", "roles", "expires", "x-ceremony-created")}
    signers = sorted(names.get(s["keyid"], "?") for s in md["signatures"])
    return {"signed": rest, "keys": keys, "roles": roles, "signers": signers}


def visible_files(root: Path) -> tuple[list[str], list[str]]:
    """(visible files, hidden debris) under ``root``, as relative paths; the USB bundle folder
    name (time-stamped) is reduced to its kind."""
    visible, hidden = [], []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if any(part.startswith(".") for part in p.relative_to(root).parts):
            hidden.append(rel)
            continue
        if p.is_file():
            visible.append(re.sub(r"ceremony-[^/]*-signed-metadata-[^/]*", "BUNDLE", rel))
    return visible, hidden


def verify_root(data: bytes) -> list[str]:
    """python-tuf's verdict on a published root: signed by its own threshold of distinct keys,
    one root key per keyholder. Problems, if any."""
    from tuf.api.metadata import Metadata, Root
    problems = []
    md = Metadata[Root].from_bytes(data)
    try:
        md.signed.verify_delegate(Root.type, md.signed_bytes, md.signatures)
    except Exception as e:  # noqa: BLE001 - any failure is the finding
        problems.append(f"the published root does not verify: {e}")
    holders = [md.signed.keys[k].unrecognized_fields.get("x-ceremony-keyholder")
               for k in md.signed.roles[Root.type].keyids]
    if sorted(str(h) for h in holders) != sorted(NAMES):
        problems.append(f"root keys by keyholder: {holders}")
    return problems


def check_final(where: Path, ref: Reference, outcome: Outcome) -> None:
    """Compare a finished, resumed scenario with the reference (see the module docstring)."""
    p = outcome.problems
    ws, rws = where / "ws", ref.final / "ws"
    evs, revs = events(ws), events(rws)
    outcome.recovered = sum(1 for e in evs if e["type"] in RECOVERY_EVENTS)
    types = [e["type"] for e in evs if e["type"] not in RECOVERY_EVENTS + SESSION_EVENTS]
    if types != [e["type"] for e in revs if e["type"] not in SESSION_EVENTS]:
        p.append(f"journal event types differ: {types}")
    published = (ws / "metadata" / "1.root.json").read_bytes()
    if (ws / "metadata" / "root.json").read_bytes() != published:
        p.append("root.json differs from 1.root.json")
    if normalized_root(published) != normalized_root((rws / "metadata" / "1.root.json").read_bytes()):
        p.append("the published root differs from the reference's")
    draft = ws / "metadata" / "drafts" / "1.root.json"
    if normalized_root(draft.read_bytes()) != normalized_root(published):
        p.append("the draft file is not the published root (stale signatures)")
    p += verify_root(published)
    keys = {e["data"]["keyholder"]: e["data"] for e in evs if e["type"] == "key-generated"}
    for name in NAMES:
        kf = json.loads((ws / "keys" / f"root-{name}.json").read_text())
        if kf["keyid"] != keys[name]["keyid"]:
            p.append(f"keys/root-{name}.json is not the journaled key")
    tokens = json.loads((where / "census.json").read_text())
    reference_tokens = json.loads((ref.final / "census.json").read_text())
    for label, objs in tokens.items():
        if label.startswith("rehearsal-") and label[len("rehearsal-"):] in keys:
            kid = keys[label[len("rehearsal-"):]]["key_id_hex"]
            classes = sorted((o[0], o[1]) for o in objs)
            pair = [("2", kid), ("3", kid)]  # CKO_PUBLIC_KEY, CKO_PRIVATE_KEY
            if classes != pair:
                p.append(f"{label} holds {objs}, not one key pair with id {kid}")
                outcome.extra_private_keys += max(0, sum(1 for c in classes if c[0] == "3") - 1)
                outcome.orphans += sum(1 for c in classes if c not in pair) + \
                    max(0, len(classes) - len(set(classes)))
        elif objs != reference_tokens.get(label):
            p.append(f"{label} changed: {objs}")
    bundles = [b for b in (where / "stick").iterdir() if not b.name.startswith(".")]
    exported = [e["data"] for e in evs if e["type"] == "exported"]
    if len(bundles) != 1 or len(exported) != 1:
        p.append(f"the stick holds {len(bundles)} bundles; {len(exported)} exports journaled")
    else:
        from ceremony.transport import import_usb
        bundle = import_usb(bundles[0])
        if bundle.digest != exported[0]["bundle_sha256"]:
            p.append("the bundle on the stick is not the journaled export")
        if bundle.files.get("1.root.json") != published:
            p.append("the bundle does not carry the published root")
    for top in ("ws", "stick"):
        vis, hidden = visible_files(where / top)
        rvis, _ = visible_files(ref.final / top)
        if vis != rvis:
            p.append(f"{top}: files differ from the reference: {sorted(set(vis) ^ set(rvis))}")
        outcome.debris += [f"{top}/{h}" for h in hidden]
    for token_dir in (where / "softhsm" / "tokens").iterdir():
        for f in token_dir.glob("*.object"):
            if f.stat().st_size == 0 and f.name != "token.object":
                outcome.debris.append(f"softhsm/{token_dir.name[:8]}/{f.name} (empty, unreadable)")


# ---- the whole sweep ----------------------------------------------------------------------------


@dataclass
class Sweep:
    """A finished sweep: the reference, every point's outcome, what was left out."""

    reference: Reference
    points: list[Call]
    skipped: dict[str, int]
    outcomes: list[Outcome]
    seconds: float


def sweep(work: Path, workers: int = 2, limit: int | None = None, full: bool = False) -> Sweep:
    """Build the reference, then run every kill point on ``workers`` zygotes in parallel.

    ``full`` samples nothing: every distinct state of every keygen, including SoftHSM's
    attribute rewrites and generation counters (about 800 points; minutes, not seconds)."""
    start = time.monotonic()
    template = make_template(work / "template")
    zygotes = [Zygote() for _ in range(workers)]
    try:
        ref = build_reference(zygotes[0], template, work)
        points, skipped = select_points(ref.calls, stride=1, full_stride=1, every_command=True) \
            if full else select_points(ref.calls)
        if limit is not None:
            points = points[:limit]
        outcomes = in_lanes(zygotes, points,
                            lambda z, w, point: run_point(z, ref, point, work / f"lane-{w}"))
    finally:
        for z in zygotes:
            z.close()
    return Sweep(ref, points, skipped, outcomes, time.monotonic() - start)


def in_lanes(zygotes: Sequence[Zygote], points: Sequence[P],
             run: Callable[[Zygote, int, P], R]) -> list[R]:
    """``run(zygote, lane, point)`` for every point, one lane per zygote in parallel (point k
    on lane k mod lanes; a lane reuses its scratch folder); the results in lane order."""
    from concurrent.futures import ThreadPoolExecutor
    lanes = len(zygotes)

    def lane(w: int) -> list[R]:
        return [run(zygotes[w], w, points[k]) for k in range(w, len(points), lanes)]

    with ThreadPoolExecutor(max_workers=lanes) as pool:
        return [o for done in pool.map(lane, range(lanes)) for o in done]


def summary(s: Sweep) -> dict[str, Any]:
    """The figures the issue asks for."""
    return {
        "kill points": len(s.outcomes),
        "killed": sum(1 for o in s.outcomes if o.killed),
        "double keygens": sum(1 for o in s.outcomes if o.extra_private_keys),
        "orphans": sum(1 for o in s.outcomes if o.orphans),
        "manual repairs": sum(1 for o in s.outcomes if o.problems),
        "resumed as already done": sum(1 for o in s.outcomes if o.resumed == "already done"),
        "keygen recoveries journaled": sum(o.recovered for o in s.outcomes),
        "points with hidden debris": sum(1 for o in s.outcomes if o.debris),
        "left out": s.skipped,
        "seconds": round(s.seconds, 1),
    }
