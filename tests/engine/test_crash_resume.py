"""SIGKILL a scripted rehearsal at every journaled step in turn, resume, compare.

The scripted rehearsal (:func:`drive`) is the CLI's sequence in one process:
init, preflight, keygen per keyholder, draft, sign to threshold, publish, seal;
each step skipped when the journal says it is done. Each run is its own
process, forked from a warm "zygote" (this file run as a script) so that 60
runs do not pay for 60 Python start-ups; the child loads PKCS#11 itself.
For every journal line k it is killed twice with SIGKILL: right *after* line k
is fsynced, and right *before* line k is written (so the effect of the step,
a key on the token, files on disk, a signature in memory, happened but was
not journaled). Then it is run again, uninterrupted, and compared with a
run that was never interrupted.

What "identical" means, given that keys and ECDSA signatures are random and
times move on:

* the journal written before the kill is a byte-for-byte prefix of the final
  journal: nothing journaled is ever lost or redone differently (so a
  journaled draft, its digest and every journaled signature are exactly what
  gets published);
* the sequence of event types equals the uninterrupted run's;
* the published root equals the uninterrupted run's once key material,
  signatures and the expiry time are abstracted to who holds which key;
* every token holds exactly the keys the journal names: one root key per
  keyholder token, with the journaled CKA_ID, no id twice on any token;
* the record verifies offline, sealed by the same keyholders.

Tokens are SoftHSM folders copied from one template per test, so every run
has the same token serials and online keys.

This test kills at the journal's boundaries (and covers preflight and the seal);
tests/engine/test_crash_sweep.py kills a CLI ceremony before every state-changing syscall,
which reaches the windows inside a step (inside SoftHSM's key generation, between a
file's link and its journal line, inside an export), and tests/engine/test_keygen_resume.py
pins down each kind of half-made key object the resume must adopt or remove.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

NAMES = ["alice", "bob", "carol"]
SIGNERS = ["alice", "bob"]
PIN = "crash-test-pin"
ROOT = Path(__file__).resolve().parents[2]


# ---- the driver (runs in the child process) --------------------------------------------------


def drive(ws: Path, plan: Path) -> None:
    """Do whatever the journal says is still to do, to the end."""
    from ceremony import preflight
    from ceremony.engine import Ceremony
    from ceremony.steps import seal as steps_seal
    from hsm.pkcs11 import get_module, resolve_module_path

    module = get_module(resolve_module_path(env={}))

    def pin(_info: object) -> str:
        return PIN

    c = Ceremony.open(ws) if (ws / "journal.jsonl").exists() else Ceremony.init(ws, plan)
    if c.state.preflight is None:
        report = preflight.run_preflight(c, preflight.Probes(), module, None, True)
        preflight.record_preflight(c, report)
    for name in c.plan.root.keyholders:
        if c.needs_key(name):
            c.keygen(name, module, pin)
    if c.state.draft is None:
        c.draft()
    for name in SIGNERS:
        if name not in c.state.signers():
            c.sign(name, module, pin)
    if not c.state.draft_published:
        c.publish()
    steps_seal.seal(c, module, pin)


def arm(crash_at: int, mode: str) -> None:
    """SIGKILL this process right after (or right before) journal line ``crash_at``."""
    from ceremony.journal import Journal
    original = Journal.append

    def append(self: Journal, type_: str, data: dict[str, Any], time: str | None = None) -> Any:
        n = len(self.events) + 1
        if mode == "before" and n == crash_at:
            os.kill(os.getpid(), signal.SIGKILL)
        event = original(self, type_, data, time)
        if mode == "after" and n == crash_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return event

    Journal.append = append  # type: ignore[method-assign]


def census() -> dict[str, list[list[str]]]:
    """Every key object on every token: (class, CKA_ID hex, label)."""
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    from hsm.pkcs11 import get_module, resolve_module_path
    module = get_module(resolve_module_path(env={}))
    module.close()  # log out of the ceremony's sessions; one login per token per process
    out = {}
    for info in module.tokens():
        token = module.find_token(label=info.label)
        with token.open(user_pin=PIN) as s:
            objs = []
            for cls in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY):
                for o in s.get_objects({Attribute.CLASS: cls}):
                    objs.append([cls.name, o[Attribute.ID].hex(), o[Attribute.LABEL]])
            out[info.label] = sorted(objs)
    _ = pkcs11
    return out


def child(job: dict[str, Any]) -> None:
    """One run, in a forked child: its own tokens, maybe armed to die; then the census."""
    os.environ["SOFTHSM2_CONF"] = job["conf"]
    fd = os.open(job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 2)
    try:
        if job.get("crash_at"):
            arm(job["crash_at"], job["mode"])
        ws = Path(job["ws"])
        drive(ws, Path(job["plan"]))
        (ws.parent / "census.json").write_text(json.dumps(census()))
    except BaseException:  # noqa: BLE001 - reported to the test through stderr and the status
        import traceback
        traceback.print_exc()
        os._exit(1)
    os._exit(0)


def zygote() -> int:
    """Import everything once, then fork one child per job read from stdin.

    Starting Python and importing python-tuf and python-pkcs11 costs most of a
    second; forking a warm process costs milliseconds. No PKCS#11 library is
    loaded here (only in the children), so nothing is shared across a fork.
    """
    import ceremony.engine
    import ceremony.preflight
    import ceremony.record
    import hsm.pkcs11
    _ = (ceremony.engine, ceremony.preflight, ceremony.record, hsm.pkcs11)
    for line in sys.stdin:
        pid = os.fork()
        if pid == 0:
            child(json.loads(line))
        _, status = os.waitpid(pid, 0)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        print(code, flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(zygote())


# ---- the test (runs under pytest) ------------------------------------------------------------

import pytest  # noqa: E402 - here, not on top: the child process above exits without it

pytestmark = pytest.mark.slow


def make_template(base: Path) -> Path:
    """Tokens for every keyholder plus online keys, and the plan; never used directly."""
    from ceremony.tui.demo import prepare
    prepare(base, NAMES, len(SIGNERS), PIN, init=False)
    return base


def scenario(template: Path, where: Path) -> str:
    """A private copy of the template's tokens; returns its SoftHSM configuration."""
    shutil.copytree(template, where)
    conf = where / "softhsm" / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {where / 'softhsm' / 'tokens'}\n"
                    "objectstore.backend = file\nlog.level = ERROR\n")
    return str(conf)


class Zygote:
    """A warm driver process that forks one child per run (see :func:`zygote`)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONPATH": str(ROOT)})

    def run(self, where: Path, conf: str, crash: tuple[int, str] | None = None) -> int:
        job = {"ws": str(where / "ws"), "plan": str(where / "plan.toml"), "conf": conf,
               "stderr": str(where / "stderr.txt")}
        if crash:
            job.update(crash_at=crash[0], mode=crash[1])
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        code = int(self.proc.stdout.readline())
        err = (where / "stderr.txt").read_text() if (where / "stderr.txt").exists() else ""
        assert code in (0, -signal.SIGKILL), err
        assert code != 0 or "Traceback" not in err, err
        return code

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def normalized_root(ws: Path) -> dict[str, Any]:
    """The published root with key material, signatures and time reduced to who holds what."""
    md = json.loads((ws / "metadata" / "1.root.json").read_text())
    signed = md["signed"]
    names = {}
    keys = {}
    for keyid, k in signed["keys"].items():
        holder = k.get("x-ceremony-keyholder")
        if holder:
            names[keyid] = holder
            keys[holder] = {f: v for f, v in k.items() if f not in ("keyval", "x-ceremony-key-uri")}
        else:
            keys[keyid] = k  # online keys: the same in every run (from the template)
    roles = {r: {"threshold": v["threshold"], "keyids": sorted(names.get(i, i) for i in v["keyids"])}
             for r, v in signed["roles"].items()}
    rest = {f: v for f, v in signed.items() if f not in ("keys", "roles", "expires", "x-ceremony-created")}
    signers = sorted(names[s["keyid"]] for s in md["signatures"])
    return {"signed": rest, "keys": keys, "roles": roles, "signers": signers}


def journal_types(ws: Path, steps_only: bool = True) -> list[str]:
    """The journal's event types; with ``steps_only``, without PIN attempts: a resumed process
    logs in again where the uncrashed one had a session, so those differ by design."""
    types = [json.loads(x)["type"] for x in (ws / "journal.jsonl").read_text().splitlines()]
    return [t for t in types if not (steps_only and t == "pin-attempt")]


def check(where: Path, reference: Path, prefix: bytes, ref_types: list[str]) -> None:
    from ceremony import record_check
    ws = where / "ws"
    final = (ws / "journal.jsonl").read_bytes()
    assert final.startswith(prefix), "journaled lines were lost or rewritten by the resume"
    assert journal_types(ws) == ref_types
    assert normalized_root(ws) == normalized_root(reference / "ws")
    expires = [datetime.fromisoformat(json.loads((w / "metadata" / "1.root.json").read_text())
                                      ["signed"]["expires"]) for w in (ws, reference / "ws")]
    assert abs(expires[0] - expires[1]) < timedelta(hours=1)  # drafted minutes apart, same plan
    v = record_check.check_record(ws)
    assert v.ok, v.problems
    assert v.sealers == SIGNERS
    assert sorted(p.name for p in (ws / "keys").iterdir()) == \
        sorted(p.name for p in (reference / "ws" / "keys").iterdir())
    tokens = json.loads((where / "census.json").read_text())
    events = [json.loads(x) for x in final.decode().splitlines()]
    ids = {e["data"]["keyholder"]: e["data"]["key_id_hex"] for e in events
           if e["type"] == "key-generated"}
    for label, objs in tokens.items():
        pairs = [(cls, kid) for cls, kid, _ in objs]
        assert len(pairs) == len(set(pairs)), f"a key id appears twice on {label}"
        if label.startswith("rehearsal-") and label != "rehearsal-online":
            holder = label.removeprefix("rehearsal-")
            assert pairs == [("PRIVATE_KEY", ids[holder]), ("PUBLIC_KEY", ids[holder])], label
        else:
            assert len(pairs) == 6  # three online key pairs, untouched


def test_sigkill_after_every_journaled_step_resumes_to_identical_outputs(tmp_path: Path) -> None:
    template = make_template(tmp_path / "template")
    workers = max(2, os.cpu_count() or 2)
    zygotes = [Zygote() for _ in range(workers)]
    try:
        reference = tmp_path / "reference"
        assert zygotes[0].run(reference, scenario(template, reference)) == 0
        ref_types = journal_types(reference / "ws")
        # init, preflight, 3 x (intent, key), draft, 2 sigs, publish, 2 seals, sealed
        assert len(ref_types) == 15
        n = len(journal_types(reference / "ws", steps_only=False))  # a kill after every line
        assert n > 15  # PIN attempts are journaled too (each first login of a token)
        points = [(k, "after") for k in range(1, n + 1)] + [(k, "before") for k in range(2, n + 1)]

        def one(i: int) -> tuple[int, str]:
            z = zygotes[i % workers]
            point = points[i]
            where = tmp_path / f"{point[1]}-{point[0]:02d}"
            conf = scenario(template, where)
            assert z.run(where, conf, point) == -signal.SIGKILL
            journal = where / "ws" / "journal.jsonl"
            if point == (1, "after"):
                # init builds the workspace in a hidden folder and renames it into place at the
                # end: killed in between, there is no half-made workspace, and init runs again.
                assert not journal.exists()
                assert [p.name.split(".init-")[0] for p in where.glob(".ws.init-*")] == [".ws"]
                prefix = b""
            else:
                prefix = journal.read_bytes()
                expected = point[0] if point[1] == "after" else point[0] - 1
                assert len(prefix.splitlines()) == expected
            assert z.run(where, conf) == 0
            check(where, reference, prefix, ref_types)
            return point

        # One thread per zygote, each taking every workers-th point.
        with ThreadPoolExecutor(max_workers=workers) as pool:
            done = [p for chunk in pool.map(
                lambda w: [one(i) for i in range(w, len(points), workers)], range(workers))
                for p in chunk]
        assert sorted(done) == sorted(points)
    finally:
        for z in zygotes:
            z.close()


def test_crash_during_init_leaves_no_workspace_and_init_runs_again(tmp_path: Path) -> None:
    """Killed before the first line: no token was touched and no workspace exists yet, so the
    same ``init`` simply runs again."""
    template = make_template(tmp_path / "template")
    where = tmp_path / "s"
    conf = scenario(template, where)
    z = Zygote()
    try:
        assert z.run(where, conf, (1, "before")) == -signal.SIGKILL
        proc = subprocess.run([sys.executable, "-m", "ceremony.cli", "status", str(where / "ws")],
                              env={**os.environ, "SOFTHSM2_CONF": conf}, capture_output=True,
                              text=True, check=False)
        assert proc.returncode == 7 and "is not a ceremony workspace (no journal.jsonl)" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert z.run(where, conf) == 0
    finally:
        z.close()
    assert (where / "ws" / "journal.jsonl").exists()
