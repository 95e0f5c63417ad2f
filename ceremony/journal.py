"""The append-only, hash-chained journal that is the ceremony's state.

Each line is one event: ``{"seq", "time", "type", "data", "prev", "hash"}``,
where ``hash`` is the sha256 of the line's canonical JSON without ``hash`` and
``prev`` is the previous line's hash. Editing, removing or reordering a line
breaks the chain at that line. Every append is fsynced before the caller
reports success, so "done" on screen always means "on disk".
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from securesystemslib.formats import encode_canonical

from ceremony.errors import WorkspaceError
from ceremony.events import SEALED, JournalRecovered
from ceremony.frozen import frozen
from ceremony.workspace import atomic_write, fsync_dir

GENESIS = "0" * 64


@frozen
class Event:
    """One journaled event."""

    seq: int
    time: str
    type: str
    data: dict[str, Any]
    prev: str
    hash: str

    def body(self) -> dict[str, Any]:
        """The hashed part of the line."""
        return {"seq": self.seq, "time": self.time, "type": self.type, "data": self.data,
                "prev": self.prev}


def _digest(body: dict[str, Any]) -> str:
    text = encode_canonical(body)
    assert text is not None  # without an output function, encode_canonical returns the text
    return hashlib.sha256(text.encode()).hexdigest()


_HASH = b',"hash":"'
_ESC = rb'\\\\|\\"|(?:\\u[0-9a-fA-F]{4})+|\\[bfnrt]'  # compiled by re on first use (rare)
_UNDO = {b"\\b": b"\b", b"\\f": b"\f", b"\\n": b"\n", b"\\r": b"\r", b"\\t": b"\t",
         b"\\\\": b"\\\\", b'\\"': b'\\"'}  # escaped backslash and quote stay escaped


def canonical_from_line(line: bytes) -> bytes:
    """The canonical body bytes of a line exactly as :meth:`Journal.append` writes it.

    The writer's line is the body's sorted, compact, ASCII-escaped JSON plus a top-level
    ``"hash"`` member (the last ``,"hash":"`` in the line: any other would sit inside
    ``data``, before it). Canonical JSON differs only in writing non-ASCII and control
    characters raw, so cut the hash out and undo those escapes (escaped quotes and
    backslashes stay). Hashing these bytes avoids re-encoding every body in pure Python.
    """
    cut = line.rfind(_HASH)
    raw = line[:cut] + line[cut + len(_HASH) + 65:]
    if b"\\" not in raw:
        return raw
    if b"\\\\" in raw:  # an escaped backslash: scan escape by escape (rare)
        return re.sub(_ESC, _undo, raw)
    # Every backslash starts an escape: let the C codec undo them all, except \" which
    # canonical JSON keeps (parked on NUL, which raw JSON text never contains).
    text = raw.replace(b'\\"', b"\0").decode("unicode_escape")
    text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")  # join surrogate pairs
    return text.encode("utf-8").replace(b"\0", b'\\"')


def _undo(m: re.Match[bytes]) -> bytes:
    text = m.group(0)
    same = _UNDO.get(text)
    if same is not None:
        return same
    # A run of \uXXXX escapes: UTF-16 code units (surrogate pairs combine here).
    units = bytes.fromhex(text.replace(b"\\u", b"").decode())
    return units.decode("utf-16-be", "surrogatepass").encode("utf-8", "surrogatepass")


def _line_matches(line: bytes, event: Event) -> bool:
    """Whether ``event.hash`` is the hash of the line's body: fast on the line's own bytes,
    falling back to re-encoding the parsed body for a line written some other way."""
    try:
        if hashlib.sha256(canonical_from_line(line)).hexdigest() == event.hash:
            return True
    except (ValueError, UnicodeError):
        pass
    return _digest(event.body()) == event.hash


def now_utc() -> str:
    """The current UTC time, to the second, as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


RESTORE_HINT = ("restore the workspace from a backup: `ceremony restore BACKUP WORKSPACE` (the "
                "damaged folder is kept aside); the tool will not continue on a broken journal")
TAMPER_HINT = ("the journal is tamper-evident; restore the workspace from a backup: "
               "`ceremony restore BACKUP WORKSPACE` (the damaged folder is kept aside)")


@frozen
class Torn:
    """An incomplete last line: the bytes after the journal's last newline.

    :meth:`Journal.append` writes a line and its newline in one write and reports the
    step done only after fsync, so bytes without their newline are an append that never
    finished (a crash, a power cut, a full disk): never an event, and never reported done.
    """

    offset: int  # where the incomplete line starts: the size of the complete part
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@frozen
class Scan:
    """A checked journal: its complete events, their size in bytes, and any torn tail."""

    events: list[Event]
    size: int
    torn: Torn | None


def read(path: Path) -> list[Event]:
    """Read and check the whole journal: its complete events.

    An incomplete last line (see :class:`Torn`) is not an event and is left out: a reader
    never sees half an append, whether a crash left it or a writer is writing it right now.
    :func:`scan` tells it apart; :meth:`Journal.open` with ``recover`` sets it aside.

    Raises:
        WorkspaceError: a complete line is unparsable, out of sequence, or breaks the
            chain; the message names the line.
    """
    return scan(path).events


def scan(path: Path) -> Scan:
    """Check every complete line of the journal and split off an incomplete last one.

    Raises:
        WorkspaceError: a complete line is unparsable, out of sequence, or breaks the
            chain (damage or tampering, never a crash: see :class:`Torn`).
    """
    events: list[Event] = []
    prev = GENESIS
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise WorkspaceError(f"cannot read the journal {path}: {e.strerror}") from None
    size = raw.rfind(b"\n") + 1
    torn = Torn(size, raw[size:]) if size < len(raw) else None
    lines = raw[:size].split(b"\n")
    lines.pop()  # after the last newline: empty (the torn tail is split off above)
    for n, line in enumerate(lines, start=1):
        where = f"journal line {n}"
        try:
            obj = json.loads(line)
            event = Event(obj["seq"], obj["time"], obj["type"], obj["data"], obj["prev"], obj["hash"])
            if set(obj) != {"seq", "time", "type", "data", "prev", "hash"}:
                raise KeyError("fields")
        except (ValueError, KeyError, TypeError):
            raise WorkspaceError(f"{where} is not a valid journal entry; the journal is damaged",
                                 hint=RESTORE_HINT) from None
        if event.seq != n:
            raise WorkspaceError(f"{where} has sequence number {event.seq}: lines were removed or "
                                 "reordered", hint=TAMPER_HINT)
        if event.prev != prev:
            raise WorkspaceError(f"{where} does not follow line {n - 1}: the chain is broken "
                                 "(a line was removed, reordered or edited)", hint=TAMPER_HINT)
        if not _line_matches(line, event):
            raise WorkspaceError(f"{where} was edited after it was written (hash mismatch)",
                                 hint=TAMPER_HINT)
        events.append(event)
        prev = event.hash
    return Scan(events, size, torn)


class Journal:
    """Appends events to a journal already checked by :func:`scan`.

    ``size`` is the journal's length in bytes as this object knows it (its complete lines);
    an append refuses a file of any other length, since then someone else wrote to it or
    an incomplete line was left there, and appending after either would break the chain.
    """

    def __init__(self, path: Path, events: list[Event], size: int | None = None,
                 torn: Torn | None = None) -> None:
        self.path = Path(path)
        self.events = events
        self.torn = torn
        self.recovered: Event | None = None  # the event :meth:`recover` journaled, if it ran
        if size is None:  # the complete part of the file as it is now
            try:
                size = Path(path).read_bytes().rfind(b"\n") + 1
            except OSError:
                size = 0
        self.size = size

    @classmethod
    def open(cls, path: Path, *, recover: bool = False) -> Journal:
        """Open and check an existing journal (see :func:`scan`).

        With ``recover`` (only for a caller holding the workspace lock, see
        :mod:`ceremony.lock`), an incomplete last line is set aside first
        (:meth:`recover`); without it, :attr:`torn` reports it and nothing is changed.

        Raises:
            WorkspaceError: the journal is damaged, or recovering it failed.
        """
        s = scan(path)
        journal = cls(path, s.events, s.size, s.torn)
        if recover and journal.torn is not None:
            journal.recover()
        return journal

    @classmethod
    def create(cls, path: Path) -> Journal:
        """Create an empty journal; refuses to replace one."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise WorkspaceError(f"{path} already exists") from None
        os.close(fd)
        fsync_dir(Path(path).parent)
        return cls(path, [], 0)

    @property
    def head(self) -> str:
        """Hash of the last event (the genesis value when empty)."""
        return self.events[-1].hash if self.events else GENESIS

    def recover(self) -> Event:
        """Set an incomplete last line aside, cut the journal back to its last complete line,
        and journal what was done.

        Why the bytes are set aside rather than kept, even when they are a whole event whose
        hash checks and only the newline is missing: :meth:`append` writes line and newline
        in one write and reports the step done only after fsync, so a missing newline means
        that write was cut short and the step was reported failed (or never reported). Keeping
        it would turn a step the room saw fail into one that happened. Nor is this a way to
        hide tampering: whoever can write the file can already cut its tail (a hash chain
        cannot show truncation), and here the bytes are kept in ``recovery/`` and their
        digest and size journaled. A bad *complete* line anywhere stays a refusal.

        Returns:
            The ``journal-recovered`` event.

        Raises:
            WorkspaceError: the tail cannot be saved or the journal cut (nothing is lost: the
                file is cut only once the tail is safely aside), or the journal is sealed.
        """
        torn = self.torn
        assert torn is not None
        if self.events and self.events[-1].type == SEALED:
            raise WorkspaceError(
                f"{self.path} ends with {len(torn.data)} byte(s) after its seal: nothing is ever "
                "appended to a sealed journal", hint=TAMPER_HINT)
        stamp = now_utc().replace("-", "").replace(":", "")
        folder = self.path.parent / "recovery"
        name = f"journal-tail-{stamp}.bin"
        n = 1
        while (folder / name).exists():
            n += 1
            name = f"journal-tail-{stamp}-{n}.bin"
        atomic_write(folder / name, torn.data, exclusive=True)
        try:
            fd = os.open(self.path, os.O_RDWR)
            try:
                if os.fstat(fd).st_size != torn.offset + len(torn.data):
                    raise WorkspaceError(f"{self.path} changed while its incomplete last line was "
                                         "being set aside; nothing was cut",
                                         hint="is another program writing to the workspace?")
                os.ftruncate(fd, torn.offset)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            raise WorkspaceError(f"cannot cut the incomplete last line of {self.path}: "
                                 f"{e.strerror}", hint=f"its bytes are saved in recovery/{name}") from None
        self.size, self.torn = torn.offset, None
        event = JournalRecovered(
            set_aside=f"recovery/{name}", sha256=torn.sha256, size=len(torn.data),
            after_seq=len(self.events),
            reason="an incomplete last line (an append cut short by a crash or a full disk)")
        self.recovered = self.append(event.TYPE, event.to_data())
        return self.recovered

    def append(self, type_: str, data: dict[str, Any], time: str | None = None) -> Event:
        """Append one event and fsync it.

        A failed write is cut back off the file (best effort; what remains is an incomplete
        line that the next writer sets aside, see :meth:`recover`), so a full disk leaves the
        journal as it was.

        Raises:
            WorkspaceError: the write failed, or the file is not the length this journal
                knows (nothing is reported as done).
        """
        body: dict[str, Any] = {"seq": len(self.events) + 1, "time": time or now_utc(), "type": type_,
                                "data": data, "prev": self.head}
        event = Event(**body, hash=_digest(body))
        line = json.dumps({**body, "hash": event.hash}, sort_keys=True, separators=(",", ":"))
        record = line.encode() + b"\n"
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except OSError as e:
            raise WorkspaceError(f"cannot append to the journal {self.path}: {e.strerror}") from None
        try:
            found = os.fstat(fd).st_size
            if found != self.size:
                raise WorkspaceError(
                    f"the journal {self.path} changed since this process read it ({self.size} "
                    f"bytes expected, {found} found); nothing was recorded",
                    hint="another process may be writing to this workspace; run the command "
                         "again (opening the workspace sets an incomplete last line aside)")
            try:
                view = memoryview(record)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            except OSError as e:
                try:
                    os.ftruncate(fd, self.size)
                    os.fsync(fd)
                except OSError:
                    pass
                raise WorkspaceError(f"cannot append to the journal {self.path}: {e.strerror}; "
                                     "nothing was recorded",
                                     hint="free some space (or fix the disk) and run the step "
                                          "again; the journal is as it was before it") from None
        finally:
            os.close(fd)
        self.size += len(record)
        self.events.append(event)
        return event
