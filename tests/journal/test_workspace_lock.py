"""One process per workspace (ceremony.lock), with real processes on real SoftHSM tokens.

A holder is a real Python process that opens the workspace and waits; the refused
command is a real ``python -m ceremony.cli`` process. What is checked is the exit
code, the operator sentence naming the holder, and that the journal stays a valid
chain.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from ceremony import journal
from ceremony.lock import HOLDER_NAME, LOCK_NAME, _boot_id, _proc_start
from ceremony.tui.app import make_app
from ceremony.tui.screens.plan import PlanScreen
from tests.conftest import SoftHsm
from tests.support.helpers import bootstrap_setup, cli

ROOT = Path(__file__).resolve().parents[2]
CEREMONY = [sys.executable, "-m", "ceremony.cli"]
HOLDER = """
import sys
from ceremony.lock import set_command
set_command(sys.argv[2])
from ceremony.engine import Ceremony
c = Ceremony.open(sys.argv[1])
print("held", flush=True)
sys.stdin.readline()
"""


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CEREMONY, *map(str, args)], capture_output=True, text=True, env=env(),
                          stdin=subprocess.DEVNULL, timeout=120, check=False)


class Holder:
    """A real process holding the workspace until told to stop (or killed)."""

    def __init__(self, ws: Path, command: str = "ceremony keygen") -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(ws), command], env=env(),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line == "held\n", line

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        assert self.proc.wait(timeout=60) == 0

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=60)


def workspace(hsm: SoftHsm, tmp: Path, keys: bool = True, draft: bool = True) -> Path:
    """A 2-of-3 rehearsal workspace set up through the CLI (which lets go of it after each
    command), keys generated and root v1 drafted."""
    setup = bootstrap_setup(hsm, tmp, n=3, threshold=2)
    ws = tmp / "ws"
    assert cli("init", ws, "--plan", setup.plan).code == 0
    if keys:
        for name in setup.names:
            r = cli("keygen", ws, "--keyholder", name, "--pin-file", hsm.pin_file)
            assert r.code == 0, r.err
    if draft:
        assert cli("draft", ws).code == 0
    hsm.module.close()  # the subprocesses log in themselves
    return ws


def test_a_second_process_is_refused_naming_the_holder(tmp_path: Path, hsm: SoftHsm) -> None:
    ws = workspace(hsm, tmp_path)
    before = (ws / "journal.jsonl").read_bytes()
    holder = Holder(ws)
    try:
        r = run("sign", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file)
        assert r.returncode == 7, r.stderr
        assert (f"error: the workspace {ws} is in use by pid {holder.proc.pid} (ceremony keygen, "
                "since 20") in r.stderr
        assert "one process works on a workspace at a time" in r.stderr
        assert "hint: wait for that command to finish" in r.stderr
        assert "Traceback" not in r.stderr
        assert (ws / "journal.jsonl").read_bytes() == before  # nothing was done
        info = json.loads((ws / HOLDER_NAME).read_text())
        assert info["pid"] == holder.proc.pid and info["command"] == "ceremony keygen"
        assert set(info) == {"pid", "start", "boot", "host", "command", "since"}  # nothing secret
        # a reader takes no lock: status still answers
        r = run("status", ws)
        assert r.returncode == 0 and "draft root v1:" in r.stdout, r.stderr
    finally:
        holder.stop()
    assert not (ws / HOLDER_NAME).exists()  # let go: the holder file is gone
    r = run("sign", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file)
    assert r.returncode == 0, r.stderr
    assert "alice signed root v1" in r.stdout


def test_three_parallel_keygens_leave_a_valid_journal(tmp_path: Path, hsm: SoftHsm) -> None:
    ws = workspace(hsm, tmp_path, keys=False, draft=False)
    names = ["alice", "bob", "carol"]
    procs = {n: subprocess.Popen([*CEREMONY, "keygen", str(ws), "--keyholder", n, "--pin-file",
                                  str(hsm.pin_file)], env=env(), stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in names}
    results = {n: (p.wait(timeout=120), *p.communicate()) for n, p in procs.items()}
    done = [n for n, (code, _out, _err) in results.items() if code == 0]
    for n, (code, out, err) in results.items():
        assert code in (0, 7), err
        if code == 0:
            assert f"{n}: ecdsa-p256 key generated" in out
        else:
            # The holder is named once it has written who it is; a refusal in the instant
            # between taking the lock and writing that says so instead.
            named = f"error: the workspace {ws} is in use by pid " in err
            assert named or (f"error: the workspace {ws} is in use by a process that has not "
                             "yet said who it is; one process works on a workspace at a time"
                             in err), err
            assert not named or "(ceremony keygen, since " in err
        assert "Traceback" not in err
    assert done  # the first to take the lock always gets through
    events = journal.read(ws / "journal.jsonl")  # a valid chain: every line checked
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert sorted(e.data["keyholder"] for e in events if e.type == "key-generated") == sorted(done)
    for n in names:  # the refused ones simply run again
        if n not in done:
            r = run("keygen", ws, "--keyholder", n, "--pin-file", hsm.pin_file)
            assert r.returncode == 0, r.stderr
    events = journal.read(ws / "journal.jsonl")
    assert sorted(e.data["keyholder"] for e in events if e.type == "key-generated") == names


def test_a_killed_holder_leaves_a_stale_lock_that_is_taken_over(tmp_path: Path,
                                                                 hsm: SoftHsm) -> None:
    ws = workspace(hsm, tmp_path)
    holder = Holder(ws, "ceremony sign")
    pid = holder.proc.pid
    holder.kill()
    assert json.loads((ws / HOLDER_NAME).read_text())["pid"] == pid  # left behind
    r = run("sign", ws, "--keyholder", "bob", "--pin-file", hsm.pin_file)
    assert r.returncode == 0, r.stderr
    assert (f"warning: took over the workspace lock of pid {pid} (ceremony sign, since 20"
            in r.stderr)
    assert "which is no longer running" in r.stderr
    assert not (ws / HOLDER_NAME).exists()


def _forge_holder(ws: Path, pid: int, start: str | None) -> None:
    (ws / HOLDER_NAME).write_text(json.dumps({
        "pid": pid, "start": start, "boot": _boot_id(), "host": socket.gethostname(),
        "command": "ceremony draft", "since": "2026-01-01T00:00:00Z"}))


def test_a_reused_pid_does_not_keep_a_stale_lock(tmp_path: Path, hsm: SoftHsm) -> None:
    """The holder file names a pid that runs now, but as another process (its start time
    differs): the holder is gone, and its lock is taken over."""
    ws = workspace(hsm, tmp_path)
    other = subprocess.Popen(["sleep", "60"])
    try:
        real = _proc_start(other.pid)
        assert real is not None
        _forge_holder(ws, other.pid, str(int(real) - 1))
        r = run("sign", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file)
        assert r.returncode == 0, r.stderr
        assert f"took over the workspace lock of pid {other.pid} (ceremony draft" in r.stderr
    finally:
        other.kill()
        other.wait()


def test_a_live_holder_whose_lock_file_was_removed_still_refuses(tmp_path: Path,
                                                                 hsm: SoftHsm) -> None:
    """The lock is free but its holder file names a process that still runs (same pid, same
    start time): the lock file was removed under it. Refused, never shared on a guess."""
    ws = workspace(hsm, tmp_path)
    other = subprocess.Popen(["sleep", "60"])
    try:
        _forge_holder(ws, other.pid, _proc_start(other.pid))
        (ws / LOCK_NAME).unlink(missing_ok=True)
        r = run("sign", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file)
        assert r.returncode == 7, r.stderr
        assert (f"is in use by pid {other.pid} (ceremony draft, since 2026-01-01T00:00:00Z) "
                "(its lock file was removed or replaced)") in r.stderr
        assert "alice" not in json.dumps([e.data for e in journal.read(ws / "journal.jsonl")
                                          if e.type == "signature-added"])
    finally:
        other.kill()
        other.wait()


def test_the_tui_holding_the_workspace_makes_the_cli_refuse(tmp_path: Path, hsm: SoftHsm) -> None:
    ws = workspace(hsm, tmp_path)

    async def scenario() -> None:
        app = make_app(ws, pin_provider=hsm.pin)
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(2000):
                if isinstance(app.screen, PlanScreen):
                    break
                await pilot.pause(0.02)
            assert isinstance(app.screen, PlanScreen)
            r = await asyncio.to_thread(run, "sign", ws, "--keyholder", "alice", "--pin-file",
                                        hsm.pin_file)
            assert r.returncode == 7, r.stderr
            assert (f"error: the workspace {ws} is in use by pid {os.getpid()} (ceremony tui, "
                    "since 20") in r.stderr
            await pilot.press("ctrl+q")

    asyncio.run(scenario())
    r = run("sign", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file)  # the TUI let go
    assert r.returncode == 0, r.stderr


def test_the_tui_shows_what_opening_the_workspace_recovered(tmp_path: Path, hsm: SoftHsm) -> None:
    """A stale holder and a torn journal tail are dealt with when the TUI opens the workspace,
    and the room is told, as the CLI tells it on stderr."""
    ws = workspace(hsm, tmp_path)
    _forge_holder(ws, 999_999_999, "1")  # no such process
    path = ws / "journal.jsonl"
    path.write_bytes(path.read_bytes()[:-10])

    async def scenario() -> list[str]:
        app = make_app(ws, pin_provider=hsm.pin)
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(2000):
                if isinstance(app.screen, PlanScreen):
                    break
                await pilot.pause(0.02)
            assert isinstance(app.screen, PlanScreen)
            await pilot.pause()
            shown = [str(n.message) for n in app._notifications]
            await pilot.press("ctrl+q")
            return shown

    shown = asyncio.run(scenario())
    assert any(s.startswith("took over the workspace lock of pid 999999999 (ceremony draft, "
                            "since 2026-01-01T00:00:00Z)") for s in shown), shown
    assert any("it was set aside into recovery/journal-tail-" in s for s in shown), shown
    assert [e.type for e in journal.read(path)][-1] == "journal-recovered"


def test_a_holder_file_is_read_like_any_input(tmp_path: Path, hsm: SoftHsm) -> None:
    """What the holder file says goes into an operator sentence: terminal escapes and
    overlong text are dropped; an unreadable file still gets a refusal, just without a name."""
    ws = workspace(hsm, tmp_path)
    holder = Holder(ws)
    try:
        (ws / HOLDER_NAME).write_text(json.dumps({
            "pid": holder.proc.pid, "start": None, "boot": "", "host": socket.gethostname(),
            "command": "\x1b[2Jceremony \x07sign" + "x" * 200, "since": "then"}))
        r = run("sign", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file)
        assert r.returncode == 7
        shown = "[2Jceremony sign" + "x" * 64  # the escape characters gone, 80 at most
        assert f"is in use by pid {holder.proc.pid} ({shown}, since then)" in r.stderr
        assert "\x1b" not in r.stderr and "\x07" not in r.stderr
        (ws / HOLDER_NAME).write_text("[not a holder")
        r = run("sign", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file)
        assert r.returncode == 7
        assert (f"error: the workspace {ws} is in use by a process that has not yet said who it "
                "is; one process works on a workspace at a time") in r.stderr
    finally:
        holder.stop()


def test_a_forked_child_is_another_process(tmp_path: Path, hsm: SoftHsm) -> None:
    """A child forked while this process holds the workspace does not inherit the hold: it is
    refused, and its exit leaves this process's lock in place."""
    from ceremony.engine import Ceremony
    from ceremony.errors import WorkspaceError
    ws = workspace(hsm, tmp_path, draft=False)
    c = Ceremony.open(ws)
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if it is refused, naming its parent
        code = 1
        try:
            Ceremony.open(ws)
        except WorkspaceError as e:
            code = 0 if f"in use by pid {os.getppid()} " in e.message else 2
        except BaseException:  # noqa: BLE001 - a code, whatever happens
            code = 3
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    r = run("draft", ws)
    assert r.returncode == 7 and f"in use by pid {os.getpid()} " in r.stderr
    c.close()
    assert run("draft", ws).returncode == 0


def test_a_holder_write_cut_short_leaves_no_debris_past_the_next_command(tmp_path: Path,
                                                                          hsm: SoftHsm) -> None:
    """A kill between the holder file's temporary write and its rename leaves
    ``..ceremony.lock.holder.XXXXXXXX.tmp`` at the workspace's top (the publish sweep saw it):
    the next command that takes the lock removes it, and nothing else that looks alike."""
    ws = workspace(hsm, tmp_path)
    debris = ws / f".{HOLDER_NAME}.k1ll3d_x.tmp"
    debris.write_text('{"pid": 1')
    other = ws / ".plan.toml.notmine.tmp"  # not the holder's: not this code's to remove
    other.write_text("x")
    r = run("sign", ws, "--keyholder", "bob", "--pin-file", hsm.pin_file)
    assert r.returncode == 0, r.stderr
    assert not debris.exists()
    assert other.exists()
    assert not list(ws.glob(f".{HOLDER_NAME}.*.tmp"))
