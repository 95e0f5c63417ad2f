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
        if _digest(event.body()) != event.hash:
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
