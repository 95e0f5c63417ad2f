"""Backups of a workspace, and putting one back: the copy a damaged journal asks for.

A backup is a folder: every file of the workspace, copied under the workspace lock
(:mod:`ceremony.lock`, so no step appends while it is read), plus ``MANIFEST.json``
listing each file's sha256 and size, the folders, and the journal's event count and
head. It is built in a hidden folder beside its destination and renamed into place, so
a backup exists whole or not at all, and it never replaces anything.

Restoring trusts nothing in the backup: each file is copied into a hidden folder beside
the workspace while its digest is checked against the manifest, nothing unlisted is
accepted, and the copy's journal chain, head and plan are verified before it is renamed
into place. It goes into a missing or empty folder, or in place of a *damaged* copy of
the same ceremony, which is kept aside (``WORKSPACE.damaged-TIME``), never deleted. A
workspace that opens cleanly is not damaged: restoring over it would only lose steps.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ceremony.engine import Ceremony
from ceremony.errors import CeremonyError, VerificationError, WorkspaceError
from ceremony.events import INITIALIZED
from ceremony.journal import now_utc, scan
from ceremony.lock import HOLDER_NAME, LOCK_NAME, hold
from ceremony.workspace import fsync_dir, write_new_synced

MANIFEST = "MANIFEST.json"
FORMAT = "ceremony-backup/1"


@dataclass(frozen=True)
class Backup:
    """A backup written, or one restored: where, and what its journal holds."""

    path: Path
    files: int
    events: int
    head: str
    kept_aside: Path | None = None  # restore: where the damaged workspace went
    damage: str | None = None  # restore: what was wrong with it

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "files": self.files, "events": self.events,
                "head": self.head, "kept_aside": str(self.kept_aside) if self.kept_aside else None,
                "damage": self.damage}


def _skipped(rel: str) -> bool:
    """The lock and its holder file (and the holder's temp files) belong to a running process,
    not to the ceremony."""
    name = PurePosixPath(rel).name
    return "/" not in rel and (name in (LOCK_NAME, HOLDER_NAME)
                               or name.startswith(f".{HOLDER_NAME}."))


def _walk(root: Path) -> tuple[list[str], list[str]]:
    """Relative folders and regular files under ``root``, sorted.

    Raises:
        WorkspaceError: a symlink or special file is there (a copy holds regular files only).
    """
    dirs: list[str] = []
    files: list[str] = []
    for here, subdirs, names in os.walk(root):
        subdirs.sort()
        for name in [*subdirs, *sorted(names)]:
            path = Path(here) / name
            rel = path.relative_to(root).as_posix()
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode) or not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise WorkspaceError(f"{path} is not a regular file or folder; a backup copies "
                                     "only those", hint="remove it; nothing was written")
            if stat.S_ISDIR(mode):
                dirs.append(rel)
            elif not _skipped(rel):
                files.append(rel)
    return dirs, files


def _check_destination(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise WorkspaceError(f"{dest} already exists; a backup never overwrites anything",
                             hint="name a new folder; nothing was written")


def _staging(beside: Path, what: str) -> Path:
    try:
        beside.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{beside.name}.{what}-", dir=beside.parent))
    except OSError as e:
        raise WorkspaceError(f"cannot write beside {beside}: {e.strerror}",
                             hint="choose a folder on a writable disk; nothing was written") from None


def _put(staging: Path, dest: Path) -> None:
    """Rename a finished staging folder onto ``dest`` (missing or empty): all or nothing."""
    try:
        os.rename(staging, dest)
    except OSError as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise WorkspaceError(f"cannot put {dest} in place: {e.strerror}",
                             hint="nothing was changed") from None
    fsync_dir(dest.parent)


def backup(root: Path, dest: Path) -> Backup:
    """Copy the workspace ``root`` to the new folder ``dest``, with a manifest.

    Raises:
        WorkspaceError: ``dest`` exists (and is not an empty folder) or lies inside the
            workspace, another process holds the workspace, its journal is damaged, or a
            write failed (then no backup exists).
        VerificationError: the plan was edited (as :meth:`Ceremony.open`).
    """
    root, dest = Path(root), Path(dest)
    c = Ceremony.open(root)  # the lock: no step appends while the copy is read
    try:
        if dest.resolve().is_relative_to(root.resolve()):
            raise WorkspaceError(f"{dest} is inside the workspace {root}",
                                 hint="put the backup on another disk; nothing was written")
        _check_destination(dest)
        dirs, files = _walk(root)
        staging = _staging(dest, "backup")
        try:
            listed = _copy_out(root, staging, dirs, files)
            copied = scan(staging / "journal.jsonl")
            if copied.torn is not None or len(copied.events) != len(c.journal.events) or \
                    (copied.events[-1].hash if copied.events else None) != c.journal.head:
                raise WorkspaceError(f"the copy of {c.ws.journal} does not match the journal "
                                     "this process holds; no backup was written",
                                     hint="is another program writing to the workspace?")
            manifest = {"format": FORMAT, "created": now_utc(), "source": str(root.resolve()),
                        "ceremony_id": c.state.init.get("ceremony_id"), "name": c.plan.name,
                        "journal": {"events": len(c.journal.events), "head": c.journal.head},
                        "dirs": dirs, "files": listed}
            write_new_synced(staging / MANIFEST,
                             json.dumps(manifest, indent=1, sort_keys=True).encode())
            fsync_dir(staging)
        except OSError as e:
            shutil.rmtree(staging, ignore_errors=True)
            raise WorkspaceError(f"cannot write the backup {dest}: {e.strerror}",
                                 hint="free some space or choose another disk; no backup was "
                                      "written") from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _put(staging, dest)
        return Backup(dest, len(files), len(c.journal.events), c.journal.head)
    finally:
        c.close()


def _copy_out(root: Path, staging: Path, dirs: list[str], files: list[str]) -> dict[str, Any]:
    for rel in dirs:
        (staging / rel).mkdir()
    listed = {}
    for rel in files:
        data = (root / rel).read_bytes()
        write_new_synced(staging / rel, data)
        listed[rel] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    for rel in [*reversed(dirs)]:
        fsync_dir(staging / rel)
    return listed


# ---- restore ----------------------------------------------------------------------------


def _manifest(source: Path) -> dict[str, Any]:
    """The backup's manifest, its shape checked (its content is checked file by file).

    Raises:
        VerificationError: no manifest, or not one this tool writes.
    """
    path = source / MANIFEST
    try:
        m = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise VerificationError(f"{source} is not a ceremony backup (no {MANIFEST})",
                                hint="name the folder `ceremony backup` wrote") from None
    except (OSError, ValueError) as e:
        raise VerificationError(f"{path} cannot be read: {getattr(e, 'strerror', None) or e}") from None
    try:
        ok = (m["format"] == FORMAT and isinstance(m["files"], dict) and isinstance(m["dirs"], list)
              and isinstance(m["journal"]["events"], int) and isinstance(m["journal"]["head"], str)
              and all(isinstance(v["sha256"], str) and isinstance(v["size"], int)
                      for v in m["files"].values()))
    except (KeyError, TypeError):
        ok = False
    if not ok:
        raise VerificationError(f"{path} is not a {FORMAT} manifest", hint="nothing was restored")
    for rel in [*m["dirs"], *m["files"]]:
        p = PurePosixPath(rel)
        if not isinstance(rel, str) or p.is_absolute() or ".." in p.parts or rel in ("", ".") \
                or str(p) != rel or rel == MANIFEST:
            raise VerificationError(f"{path} lists {rel!r}, which is not a path inside a "
                                    "workspace", hint="nothing was restored")
    return m


def _copy_in(source: Path, staging: Path, m: dict[str, Any]) -> None:
    """Copy the backup's files into ``staging``, each checked against the manifest as read.

    Raises:
        VerificationError: a file is missing, unlisted, or not what the manifest says.
    """
    try:
        dirs, files = _walk(source)
    except WorkspaceError as e:
        raise VerificationError(f"the backup {source} does not verify: {e.message}",
                                hint="nothing was restored") from None
    extra = sorted(set(files) - set(m["files"]) - {MANIFEST}) + sorted(set(dirs) - set(m["dirs"]))
    missing = sorted(set(m["files"]) - set(files)) + sorted(set(m["dirs"]) - set(dirs))
    if extra or missing:
        what = (f"{extra[0]} is not in its manifest" if extra else
                f"{missing[0]} is listed in its manifest but missing")
        raise VerificationError(f"the backup {source} does not verify: {what}",
                                hint="nothing was restored; use another backup")
    for rel in sorted(m["dirs"], key=lambda r: r.count("/")):
        (staging / rel).mkdir(exist_ok=True)
    for rel, want in sorted(m["files"].items()):
        data = (source / rel).read_bytes()
        if len(data) != want["size"] or hashlib.sha256(data).hexdigest() != want["sha256"]:
            raise VerificationError(f"the backup {source} does not verify: {rel} is not the file "
                                    "its manifest lists (sha256 differs)",
                                    hint="nothing was restored; use another backup")
        write_new_synced(staging / rel, data)
    for rel in sorted(m["dirs"], key=lambda r: -r.count("/")):
        fsync_dir(staging / rel)
    fsync_dir(staging)


def _ceremony_id(journal: Path) -> str | None:
    """The ceremony id on a journal's first line, read without trusting the rest."""
    try:
        with open(journal, "rb") as f:
            first = json.loads(f.readline())
        return str(first["data"]["ceremony_id"]) if first.get("type") == INITIALIZED else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _damage(root: Path, ceremony_id: str) -> str:
    """Why ``root`` may be replaced: what is wrong with it, as the tool says it.

    Raises:
        WorkspaceError: ``root`` is not a damaged copy of this ceremony.
    """
    if not (root / "journal.jsonl").is_file():
        raise WorkspaceError(f"{root} is not empty and holds no ceremony; restore writes into a "
                             "missing or empty folder, or in place of a damaged copy of the same "
                             "ceremony", hint="name another folder; nothing was restored")
    found = _ceremony_id(root / "journal.jsonl")
    if found != ceremony_id:
        which = "another ceremony" if found else "a ceremony whose first journal line is unreadable"
        raise WorkspaceError(f"{root} holds {which}, not the one in this backup",
                             hint="move that folder aside yourself and restore into an empty "
                                  "one; nothing was restored")
    try:
        Ceremony.open(root, write=False)
    except CeremonyError as e:
        return e.message
    raise WorkspaceError(f"{root} is not damaged: its journal and plan verify; restore only "
                         "replaces a damaged workspace",
                         hint="nothing was restored; to look at the backup, restore it into a "
                              "new folder")


def restore(source: Path, root: Path) -> Backup:
    """Put the backup ``source`` in place as the workspace ``root``, verified first.

    Raises:
        VerificationError: the backup does not match its manifest, or its journal or plan do
            not verify.
        WorkspaceError: ``root`` is neither missing, empty, nor a damaged copy of the same
            ceremony; another process holds it; a write failed (nothing is changed).
    """
    source, root = Path(source), Path(root)
    m = _manifest(source)
    ceremony_id = m.get("ceremony_id")
    replace = root.exists() and (not root.is_dir() or any(root.iterdir()))
    damage = _damage(root, str(ceremony_id)) if replace else None
    h = hold(root) if replace else None  # nobody works on the damaged copy while it is replaced
    try:
        staged = _stage(source, root, m)
        aside = None
        if replace:
            aside = root.with_name(f"{root.name}.damaged-{now_utc().replace(':', '')}")
            n = 1
            while aside.exists():
                n += 1
                aside = aside.with_name(f"{root.name}.damaged-{now_utc().replace(':', '')}-{n}")
            try:
                os.rename(root, aside)
            except OSError as e:
                shutil.rmtree(staged, ignore_errors=True)
                raise WorkspaceError(f"cannot move the damaged {root} aside: {e.strerror}",
                                     hint="nothing was restored") from None
        _put(staged, root)
    finally:
        if h is not None:
            h.release()
    return Backup(root, len(m["files"]), m["journal"]["events"], m["journal"]["head"], aside,
                  damage)


def _stage(source: Path, root: Path, m: dict[str, Any]) -> Path:
    """A verified copy of the backup in a hidden folder beside ``root``.

    Raises:
        VerificationError: the backup does not match its manifest, or its journal or plan do
            not verify (the folder is removed).
        WorkspaceError: a write failed (the folder is removed).
    """
    staging = _staging(root, "restore")
    try:
        _copy_in(source, staging, m)
        s = scan(staging / "journal.jsonl")
        head = s.events[-1].hash if s.events else None
        if s.torn is not None or len(s.events) != m["journal"]["events"] or head != m["journal"]["head"]:
            raise VerificationError(f"the backup {source} does not verify: its journal is not the "
                                    "one its manifest names", hint="nothing was restored")
        c = Ceremony.open(staging, write=False)  # the plan matches the journal's, too
        if c.state.init.get("ceremony_id") != m.get("ceremony_id"):
            raise VerificationError(f"the backup {source} does not verify: its journal belongs "
                                    "to another ceremony than its manifest names",
                                    hint="nothing was restored")
    except WorkspaceError as e:  # a damaged journal in the backup: the backup fails to verify
        shutil.rmtree(staging, ignore_errors=True)
        raise VerificationError(f"the backup {source} does not verify: {e.message}",
                                hint="nothing was restored; use another backup") from None
    except OSError as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise WorkspaceError(f"cannot restore into {root}: {e.strerror}",
                             hint="nothing was restored") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging
