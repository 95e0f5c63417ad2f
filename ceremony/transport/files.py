"""Writing a verified bundle's files into a folder under their own names (``import --out DIR``).

Why a separate step: import first verifies the bundle (transport) and the metadata (formats);
only then do the files land. Each lands atomically (temporary file, fsync, hard link into place,
which fails instead of replacing), so a crash leaves either the old folder or the new file,
never half a file. A file already there with the same bytes is left alone (re-importing the
same bundle is harmless); one with different bytes stops the import before anything is written.
"""

from __future__ import annotations

import errno
import os
import secrets  # not uuid: its import costs more than the 12 hex digits it gave
from pathlib import Path

from ceremony.errors import WorkspaceError
from ceremony.transport.bundle import Bundle
from ceremony.workspace import write_new_synced

__all__ = ["write_files"]


def write_files(bundle: Bundle, out_dir: Path | str,
                replace: dict[str, bytes] | None = None) -> list[Path]:
    """Write every file of the (already verified) ``bundle`` into ``out_dir``.

    ``replace`` names files the caller has verified may be replaced, with their new
    content (a folder's ``root.json`` moving to a newer verified root); each is swapped in
    atomically after every other file is in place.

    Returns:
        The paths of the bundle's files in ``out_dir`` (written now or already identical).

    Raises:
        VerificationError: the bundle is inconsistent.
        WorkspaceError: ``out_dir`` is not a folder, a file of the same name with other content
            is there (nothing is written then), or writing failed.
    """
    bundle.verify()
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WorkspaceError(f"Cannot create the output folder {out} ({e.strerror}).") from e
    if not out.is_dir() or out.is_symlink():
        raise WorkspaceError(f"The output {out} is not a folder.")
    todo = []
    replace = dict(replace or {})
    for entry in bundle.manifest.files:
        target = out / entry.name
        data = bundle.files[entry.name]
        if entry.name in replace:
            continue
        if os.path.lexists(target):
            if target.is_symlink() or not target.is_file() or target.read_bytes() != data:
                raise WorkspaceError(
                    f"{target} already exists with other content; nothing was written.",
                    hint="Import into an empty folder, or move the old file away first.",
                )
            continue
        todo.append((target, data))
    for target, data in todo:
        tmp = out / f".{target.name}.tmp-{secrets.token_hex(6)}"
        try:
            write_new_synced(tmp, data)
            _place(tmp, target)
        except OSError as e:
            raise WorkspaceError(f"Writing {target} failed ({e.strerror or e}).") from e
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)
    for name, data in replace.items():
        target = out / name
        if os.path.lexists(target) and (target.is_symlink() or not target.is_file()):
            raise WorkspaceError(f"{target} is not a regular file; nothing was replaced.")
        if target.is_file() and target.read_bytes() == data:
            continue
        tmp = out / f".{name}.tmp-{secrets.token_hex(6)}"
        try:
            write_new_synced(tmp, data)
            os.replace(tmp, target)
        except OSError as e:
            raise WorkspaceError(f"Writing {target} failed ({e.strerror or e}).") from e
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)
    dir_fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return [out / e.name for e in bundle.manifest.files]


def _place(tmp: Path, target: Path) -> None:
    """Move ``tmp`` to ``target`` without ever replacing an existing file.

    A hard link fails if the target appeared meanwhile; file systems without hard links
    (FAT, exFAT) fall back to check-then-rename.
    """
    try:
        os.link(tmp, target)
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "appeared during the import", str(target)) from e
        os.rename(tmp, target)
