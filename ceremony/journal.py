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
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from securesystemslib.formats import encode_canonical

from ceremony.errors import WorkspaceError
from ceremony.workspace import fsync_dir

GENESIS = "0" * 64


@dataclass(frozen=True)
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
    return hashlib.sha256(encode_canonical(body).encode()).hexdigest()


_HASH = b',"hash":"'
_ESC = re.compile(rb'\\\\|\\"|(?:\\u[0-9a-fA-F]{4})+|\\[bfnrt]')
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
        return _ESC.sub(_undo, raw)
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
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def read(path: Path) -> list[Event]:
    """Read and check the whole journal.

    Raises:
        WorkspaceError: a line is unparsable, out of sequence, or breaks the chain;
            the message names the line.
    """
    events: list[Event] = []
    prev = GENESIS
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise WorkspaceError(f"cannot read the journal {path}: {e.strerror}") from None
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for n, line in enumerate(lines, start=1):
        where = f"journal line {n}"
        try:
            obj = json.loads(line)
            event = Event(obj["seq"], obj["time"], obj["type"], obj["data"], obj["prev"], obj["hash"])
            if set(obj) != {"seq", "time", "type", "data", "prev", "hash"}:
                raise KeyError("fields")
        except (ValueError, KeyError, TypeError):
            raise WorkspaceError(f"{where} is not a valid journal entry; the journal is damaged",
                                 hint="restore the workspace from a copy; the tool will not continue "
                                      "on a broken journal") from None
        if event.seq != n:
            raise WorkspaceError(f"{where} has sequence number {event.seq}: lines were removed or "
                                 "reordered", hint="the journal is tamper-evident; restore it from a copy")
        if event.prev != prev:
            raise WorkspaceError(f"{where} does not follow line {n - 1}: the chain is broken "
                                 "(a line was removed, reordered or edited)",
                                 hint="the journal is tamper-evident; restore it from a copy")
        if not _line_matches(line, event):
            raise WorkspaceError(f"{where} was edited after it was written (hash mismatch)",
                                 hint="the journal is tamper-evident; restore it from a copy")
        events.append(event)
        prev = event.hash
    return events


class Journal:
    """Appends events to a journal already checked by :func:`read`."""

    def __init__(self, path: Path, events: list[Event]) -> None:
        self.path = Path(path)
        self.events = events

    @classmethod
    def open(cls, path: Path) -> Journal:
        """Open and check an existing journal (see :func:`read`)."""
        return cls(path, read(path))

    @classmethod
    def create(cls, path: Path) -> Journal:
        """Create an empty journal; refuses to replace one."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise WorkspaceError(f"{path} already exists") from None
        os.close(fd)
        fsync_dir(Path(path).parent)
        return cls(path, [])

    @property
    def head(self) -> str:
        """Hash of the last event (the genesis value when empty)."""
        return self.events[-1].hash if self.events else GENESIS

    def append(self, type_: str, data: dict[str, Any], time: str | None = None) -> Event:
        """Append one event and fsync it.

        Raises:
            WorkspaceError: the write failed (nothing is reported as done).
        """
        body = {"seq": len(self.events) + 1, "time": time or now_utc(), "type": type_,
                "data": data, "prev": self.head}
        event = Event(**body, hash=_digest(body))
        line = json.dumps({**body, "hash": event.hash}, sort_keys=True, separators=(",", ":"))
        try:
            with open(self.path, "ab") as f:
                f.write(line.encode() + b"\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            raise WorkspaceError(f"cannot append to the journal {self.path}: {e.strerror}") from None
        self.events.append(event)
        return event
