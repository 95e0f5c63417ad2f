"""The workspace folder of one ceremony, and safe ways to write into it.

Writes are atomic (temp file, fsync, rename, fsync of the folder) so a power
cut leaves either the old file or the new one, never half of one. Files that
must never be replaced (published metadata) are created with O_EXCL. Nothing
secret is ever written here.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ceremony.errors import VerificationError, WorkspaceError
from ceremony.frozen import frozen


def fsync_dir(path: Path) -> None:
    """Make a rename or create inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new_synced(path: Path, data: bytes) -> None:
    """Create ``path`` (never an existing file, never through a symlink) and fsync it.

    The caller renames it into place and fsyncs the folder; ``OSError`` is the caller's to map.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Write ``data`` to ``path`` atomically; with ``exclusive``, refuse to replace a file.

    Raises:
        WorkspaceError: ``exclusive`` and the file exists, or the write failed.
    """
    path = Path(path)
    if exclusive and path.exists():
        raise WorkspaceError(f"{path} already exists; it is never overwritten")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise WorkspaceError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if exclusive:
            # link() fails if the target exists: no window where another writer wins.
            os.link(tmp, path)
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
        fsync_dir(path.parent)
    except FileExistsError:
        os.unlink(tmp)
        raise WorkspaceError(f"{path} already exists; it is never overwritten") from None
    except OSError as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise WorkspaceError(f"cannot write {path}: {e.strerror}") from None


#: The name ``atomic_write`` gives its temporary file: ``.NAME.`` + mkstemp's 8 characters + ``.tmp``.
_TEMPORARY = r"\..+\.[a-z0-9_]{8}\.tmp"  # compiled by re on first use (start-up)


def holds_exactly(path: Path, body: bytes) -> bool:
    """Whether ``path`` is a plain file (not a link) holding exactly ``body``: an output a
    write cut short already finished, which a re-run keeps (anything else there is refused)."""
    if path.is_symlink() or not path.is_file():
        return False
    try:
        return path.stat().st_size == len(body) and path.read_bytes() == body
    except OSError:
        return False


def refuse_other_outputs(root: Path, outputs: Mapping[str, bytes]) -> None:
    """Refuse, before anything is written, an output's place (``root / REL``) that holds
    anything but the very bytes the output writes: a publish never overwrites. The same bytes
    are what a publish cut short wrote; running it again keeps them and finishes.

    Raises:
        VerificationError: other bytes, a link or a folder in an output's place.
    """
    for rel, body in outputs.items():
        path = root / rel
        if (path.exists() or path.is_symlink()) and not holds_exactly(path, body):
            raise VerificationError(f"{rel} already exists; an output is never overwritten; "
                                    "nothing was published",
                                    hint="move the file away if it is not this ceremony's "
                                         "(a publish cut short writes these very bytes)")


def write_missing_outputs(root: Path, outputs: Mapping[str, bytes]) -> None:
    """Write each output not there yet, never over another file (after
    :func:`refuse_other_outputs` has passed for them).

    Raises:
        WorkspaceError: a write failed (or a file appeared meanwhile).
    """
    for rel, body in outputs.items():
        if not (root / rel).exists():
            atomic_write(root / rel, body, exclusive=True)


def remove_temporaries(folder: Path) -> list[Path]:
    """Remove the temporary files a cut-short :func:`atomic_write` left under ``folder``.

    A process killed between the temporary file's creation and its rename (or its unlink
    after the link) leaves it behind: hidden, never read, but copied by whoever copies the
    folder (a repository committed to git, a web root). Only the caller's own workspace,
    under its lock, may call this: another writer's temporary file would be taken from it.
    Regular files named as ``atomic_write`` names them are removed, nothing else.

    Raises:
        WorkspaceError: a temporary file could not be removed.
    """
    return _remove(sorted(folder.rglob(".*.tmp")) if folder.is_dir() else [])


def remove_temporaries_of(path: Path) -> list[Path]:
    """Remove the temporary files a cut-short :func:`atomic_write` of ``path`` left beside it
    (``.NAME.xxxxxxxx.tmp``), and nothing else; for a caller that alone writes ``path`` (the
    workspace lock's holder file, under the lock).

    Raises:
        WorkspaceError: a temporary file could not be removed.
    """
    return _remove(sorted(path.parent.glob(f".{path.name}.*.tmp")))


def _remove(candidates: list[Path]) -> list[Path]:
    """Of ``candidates``, remove the regular files named as ``atomic_write`` names its
    temporary files (then fsync their folders); the ones removed."""
    removed = []
    for tmp in candidates:
        if re.fullmatch(_TEMPORARY, tmp.name) and tmp.is_file() and not tmp.is_symlink():
            try:
                tmp.unlink()
            except OSError as e:
                raise WorkspaceError(f"cannot remove the temporary file {tmp}: {e.strerror}") from None
            removed.append(tmp)
    for parent in sorted({p.parent for p in removed}):
        fsync_dir(parent)
    return removed


@frozen
class Workspace:
    """Paths inside one ceremony's folder (see DESIGN.md)."""

    root: Path

    @property
    def plan(self) -> Path:
        return self.root / "plan.toml"

    @property
    def journal(self) -> Path:
        return self.root / "journal.jsonl"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def metadata(self) -> Path:
        return self.root / "metadata"

    @property
    def drafts(self) -> Path:
        return self.root / "metadata" / "drafts"

    @property
    def previous(self) -> Path:
        """The trusted metadata chain the ceremony continues (rotations only)."""
        return self.root / "previous"

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def record(self) -> Path:
        return self.root / "record"

    def draft_path(self, version: int) -> Path:
        """Where the draft of root ``version`` lives while it is being signed."""
        return self.drafts / f"{version}.root.json"

    def create(self) -> None:
        """Make the folder tree for a new ceremony.

        Raises:
            WorkspaceError: the folder already holds a ceremony.
        """
        if self.journal.exists():
            raise WorkspaceError(f"{self.root} already holds a ceremony (journal.jsonl exists)",
                                 hint="choose a new folder; a workspace is never reused")
        if self.root.exists() and any(self.root.iterdir()):
            raise WorkspaceError(f"{self.root} is not empty", hint="choose a new, empty folder")
        try:
            for p in (self.root, self.keys, self.metadata, self.drafts, self.out, self.record):
                p.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise WorkspaceError(f"cannot create the workspace {self.root}: {e.strerror}") from None

    def check(self) -> None:
        """Fail unless this folder holds a ceremony.

        Raises:
            WorkspaceError: no journal here.
        """
        if not self.journal.is_file():
            raise WorkspaceError(f"{self.root} is not a ceremony workspace (no journal.jsonl)",
                                 hint="create one with `ceremony init WORKSPACE --plan PLAN.toml`")
