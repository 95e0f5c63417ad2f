"""One process per workspace: an exclusive lock, and who holds it.

Every command that changes a workspace (and the TUI, for as long as it shows one)
holds ``WORKSPACE/.ceremony.lock``, an ``flock`` taken through the ``filelock``
library. Two processes appending to one journal would each number their events
from what they last read: duplicate sequence numbers, a broken chain. The kernel
drops an ``flock`` when its process dies, however it dies, so a killed ceremony
never leaves the workspace locked.

Beside the lock, ``.ceremony.lock.holder`` says who holds it (pid, the process's
start time and boot, host, command, since when) so a refusal can name the holder.
It never holds anything secret: the command is its name only (``ceremony sign``),
never its arguments. The file outlives a killed holder; it is then *stale*: the
lock is free, and its pid is gone, or belongs to a newer process (pid reuse: its
start time differs), or to another boot. A stale holder file is taken over with a
warning. A holder file naming a process that is still running while the lock is
free means the lock file was removed or replaced under a live holder: refused.

Readers (``status``, ``script``, record checks) take no lock: the journal is
append-only and a reader ignores an incomplete last line (see
:func:`ceremony.journal.scan`), so it never sees half an event.

Within one process, holds on one workspace share one lock (counted): the TUI's
worker threads, or a test driving the engine and the CLI in one process. A CLI
command runs inside a :class:`Sitting`, which releases what the command took.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Self

from ceremony.errors import WorkspaceError
from ceremony.frozen import frozen
from ceremony.journal import now_utc
from ceremony.workspace import atomic_write, remove_temporaries_of

if TYPE_CHECKING:  # filelock is loaded by hold(), the one place that takes a lock
    from filelock import FileLock

LOCK_NAME = ".ceremony.lock"
HOLDER_NAME = ".ceremony.lock.holder"
"""Both live in the workspace folder; backups leave them out."""

log = logging.getLogger("ceremony.lock")


def _proc_start(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot (``/proc/PID/stat`` field 22),
    None when there is no such process. Compared with the recorded one, it tells a
    reused pid from the holder itself."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes().decode("ascii", "replace")  # no codec lookup
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()  # the command name may hold spaces
    return fields[19] if len(fields) > 19 else None


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_bytes().decode("ascii", "replace").strip()
    except OSError:
        return ""


@frozen
class Holder:
    """Who holds (or held) a workspace: what the holder file says."""

    pid: int
    start: str | None
    boot: str
    host: str
    command: str
    since: str

    @classmethod
    def me(cls, command: str) -> Holder:
        """This process."""
        pid = os.getpid()
        return cls(pid, _proc_start(pid), _boot_id(), socket.gethostname(), command, now_utc())

    def describe(self) -> str:
        """``pid 123 (ceremony sign, since 2026-01-01T10:00:00Z)``, with the host if not here."""
        where = "" if self.host == socket.gethostname() else f" on {self.host}"
        return f"pid {self.pid}{where} ({self.command}, since {self.since})"

    def running(self) -> bool:
        """Whether this holder process still runs: same host, same boot, and its pid is the
        same process (same start time). A holder on another host cannot be checked from here:
        it counts as gone, since the lock it would hold is free."""
        if self.host != socket.gethostname() or self.boot != _boot_id():
            return False
        start = _proc_start(self.pid)
        return start is not None and start == self.start

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()


def _text(value: object) -> str:
    """A holder-file field fit for a terminal: printable ASCII, 80 characters at most (the
    file is read from disk like anything else, and goes into an operator sentence)."""
    return "".join(ch for ch in str(value) if " " <= ch <= "~")[:80]


def read_holder(root: Path) -> Holder | None:
    """The holder file of ``root``, None when absent or unreadable (being written)."""
    try:
        obj = json.loads((Path(root) / HOLDER_NAME).read_bytes())
        start = obj.get("start")
        return Holder(int(obj["pid"]), None if start is None else _text(start),
                      _text(obj.get("boot", "")), _text(obj.get("host", "")),
                      _text(obj["command"]), _text(obj["since"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


class _Entry:
    """This process's lock on one workspace and how many holds share it."""

    def __init__(self, lock: FileLock, root: Path) -> None:
        self.lock = lock
        self.root = root
        self.count = 0


_registry: dict[str, _Entry] = {}
_guard = threading.RLock()
# A forked child shares its parent's open lock files but is another process: it holds
# nothing until it takes a lock itself (filelock leaves the parent's flock alone).
os.register_at_fork(after_in_child=_registry.clear)
_command = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"


def set_command(command: str) -> None:
    """Name this process in holder files (``ceremony sign``, ``ceremony tui``); never arguments."""
    global _command
    _command = command


class Hold:
    """One hold on a workspace's lock; :meth:`release` once (later calls do nothing)."""

    def __init__(self, key: str, took_over: Holder | None) -> None:
        self._key: str | None = key
        self.took_over = took_over

    @property
    def held(self) -> bool:
        return self._key is not None

    def release(self) -> None:
        """Give the hold back; the lock is released with the process's last hold."""
        with _guard:
            key, self._key = self._key, None
            entry = _registry.get(key) if key else None
            if entry is None:
                return
            entry.count -= 1
            if entry.count > 0:
                return
            del _registry[key]  # type: ignore[arg-type]
            # left behind on OSError: the next holder sees a stale file and takes it over
            with contextlib.suppress(OSError):
                (entry.root / HOLDER_NAME).unlink(missing_ok=True)
            entry.lock.release(force=True)


def hold(root: Path) -> Hold:
    """Take ``root``'s lock for this process (or share the one it already holds).

    Raises:
        WorkspaceError: another process holds the workspace (the message names it), or the
            lock cannot be taken at all.
    """
    root = Path(root)
    key = os.path.realpath(root)
    with _guard:
        entry = _registry.get(key)
        if entry is not None:
            entry.count += 1
            h = Hold(key, None)
            _attach(h)
            return h
        from filelock import FileLock, Timeout  # lazy: filelock (~50 ms), not needed by readers (status)

        lock = FileLock(root / LOCK_NAME, timeout=0, thread_local=False)
        try:
            lock.acquire()
        except Timeout:
            raise _refusal(root, read_holder(root)) from None
        except OSError as e:
            raise WorkspaceError(f"cannot lock the workspace {root}: {e.strerror}",
                                 hint="the folder must be writable; nothing was done") from None
        try:
            previous = read_holder(root)
            if previous is not None and previous.pid != os.getpid() and previous.running():
                # The lock is free yet its recorded holder runs: the lock file was removed
                # or replaced under it. Never share a workspace on that guess.
                raise _refusal(root, previous, replaced=True)
            try:
                remove_temporaries_of(root / HOLDER_NAME)  # a holder write a kill cut short
                atomic_write(root / HOLDER_NAME, Holder.me(_command).to_bytes())
            except WorkspaceError as e:  # the flock is the lock; the file only names its holder
                with contextlib.suppress(OSError):
                    (root / HOLDER_NAME).unlink(missing_ok=True)  # never name a stale holder
                note(f"{e.message}: a command refused meanwhile cannot say who holds the "
                     "workspace")
        except BaseException:
            lock.release(force=True)
            raise
        entry = _registry[key] = _Entry(lock, root)
        entry.count = 1
        took_over = previous if previous is not None and previous.pid != os.getpid() else None
        h = Hold(key, took_over)
        if took_over is not None:
            note(f"took over the workspace lock of {took_over.describe()}, which is no longer "
                 "running")
        _attach(h)
        return h


def _refusal(root: Path, holder: Holder | None, replaced: bool = False) -> WorkspaceError:
    who = holder.describe() if holder else "a process that has not yet said who it is"
    extra = " (its lock file was removed or replaced)" if replaced else ""
    return WorkspaceError(
        f"the workspace {root} is in use by {who}{extra}; one process works on a workspace "
        "at a time",
        hint="wait for that command to finish (or quit the ceremony TUI showing it), then run "
             "this again; nothing was done")


# ---- one command's sitting ------------------------------------------------------------


class Sitting:
    """One command's span: the workspace holds it took are released when it ends, and the
    warnings gathered for the operator (:func:`note`) are kept in :attr:`notes`."""

    def __init__(self, command: str | None = None, release: bool = True) -> None:
        self.command = command
        self.release = release  # False: only gather notes (the TUI keeps its hold)
        self.notes: list[str] = []
        self._holds: list[Hold] = []
        self._was = _command

    def __enter__(self) -> Self:
        self._was = _command
        if self.command:
            set_command(self.command)
        with _guard:
            _sittings.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        with _guard:
            if self in _sittings:
                _sittings.remove(self)
            holds, self._holds = (self._holds if self.release else []), []
        set_command(self._was)
        for h in holds:
            h.release()


_sittings: list[Sitting] = []


def _attach(h: Hold) -> None:
    with _guard:
        if _sittings:
            _sittings[-1]._holds.append(h)


def note(message: str) -> None:
    """A warning for the operator from deep inside a step (a derived file not written, a
    stale lock taken over): the current sitting shows it; without one it is logged."""
    with _guard:
        if _sittings:
            _sittings[-1].notes.append(message)
            return
    log.warning("%s", message)
