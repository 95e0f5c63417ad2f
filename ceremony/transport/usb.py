"""USB transport: a bundle as a folder on a removable stick, written atomically, read strictly.

Why so strict: a stick is the easiest way to carry something unintended across the air gap
(an extra file, a symlink into the workspace, a huge file). Import accepts a folder holding
exactly ``manifest.json`` and the regular files it lists, with matching sizes and digests, and
checks sizes before it reads a byte. Export makes a half-written bundle impossible to mistake
for a complete one: everything goes into a hidden temporary folder beside the target, the
manifest lands last, and only a final rename makes the bundle visible.
"""

from __future__ import annotations

import errno
import os
import re
import secrets  # not uuid: its import costs more than the 12 hex digits it gave
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

from ceremony.errors import VerificationError, WorkspaceError
from ceremony.frozen import frozen
from ceremony.transport.bundle import (
    MANIFEST_NAME,
    MAX_FILES,
    MAX_MANIFEST_BYTES,
    Bundle,
    Manifest,
    check_content,
)
from ceremony.workspace import fsync_dir

__all__ = ["Mount", "export_usb", "find_bundles", "import_usb", "list_removable_mounts"]

_TMP_PREFIX = ".ceremony-tmp-"


@frozen
class Mount:
    """A mounted file system on a removable device."""

    device: str
    mountpoint: Path
    fstype: str
    read_only: bool


# --- export -----------------------------------------------------------------------------------


def export_usb(bundle: Bundle, dest_dir: Path | str, folder_name: str | None = None) -> Path:
    """Write ``bundle`` as ``dest_dir/<folder>`` atomically, then read it back and verify it.

    Steps: verify the bundle in memory; refuse if ``dest_dir`` itself holds a manifest or the
    folder exists; write each file into a hidden temporary folder beside it (``O_EXCL``,
    fsync), then the manifest, fsync the folder, rename it into place, fsync ``dest_dir``; then
    import the result again and compare fingerprints.

    Returns:
        The path of the new bundle folder.

    Raises:
        VerificationError: the in-memory bundle is inconsistent.
        WorkspaceError: the target already holds a bundle, is not a folder, or writing failed
            (e.g. the stick is full); in that case the temporary folder is removed, and no
            folder named like a bundle is left.
    """
    bundle.verify()
    dest = Path(dest_dir)
    name = folder_name or bundle.folder_name
    if not dest.is_dir():
        raise WorkspaceError(f"The export target {dest} is not an existing folder.")
    if os.path.lexists(dest / MANIFEST_NAME):
        raise WorkspaceError(
            f"{dest} already holds a bundle ({MANIFEST_NAME}); choose another folder.",
            hint="Point --usb at the stick's top folder; each bundle gets its own sub-folder.",
        )
    final = dest / name
    if os.path.lexists(final):
        raise WorkspaceError(f"{final} already exists; a bundle is never overwritten.")
    tmp = dest / f"{_TMP_PREFIX}{secrets.token_hex(6)}"
    current = "the temporary folder"
    try:
        os.mkdir(tmp, 0o755)
        for entry in bundle.manifest.files:
            current = entry.name
            _write_new_file(tmp / entry.name, bundle.files[entry.name])
        current = MANIFEST_NAME  # last: a folder without its manifest is never a bundle
        _write_new_file(tmp / MANIFEST_NAME, bundle.manifest.to_bytes())
        fsync_dir(tmp)
        current = "the final rename"
        if os.path.lexists(final):
            raise FileExistsError(errno.EEXIST, "appeared during export", str(final))
        os.rename(tmp, final)
        fsync_dir(dest)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        reason = e.strerror or str(e)
        raise WorkspaceError(
            f"Writing {current} to {dest} failed ({reason}); nothing was exported.",
            hint="Free space on the stick or use another one, then export again.",
        ) from e
    try:
        readback = import_usb(final)
    except VerificationError as e:
        shutil.rmtree(final, ignore_errors=True)
        raise WorkspaceError(
            f"Reading the bundle back from {final} failed ({e.message}); it was removed.",
            hint="The stick may be failing; use another one.",
        ) from e
    if readback.digest != bundle.digest:  # pragma: no cover - import verifies every digest
        shutil.rmtree(final, ignore_errors=True)
        raise WorkspaceError(f"The bundle read back from {final} differs; it was removed.")
    return final


def _write_all(fd: int, data: bytes) -> None:
    """Write every byte (a seam: tests replace it to simulate a full disk)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _write_new_file(path: Path, data: bytes) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o644)
    try:
        _write_all(fd, data)
        os.fsync(fd)
        # Drop the cached pages so the read-back after export comes from the stick itself,
        # not from memory (best effort: advice, not a guarantee).
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


# --- import -----------------------------------------------------------------------------------


def find_bundles(path: Path | str) -> list[Path]:
    """Bundle folders directly in ``path`` (or ``[path]`` if it is one), sorted by name.

    Hidden entries (including unfinished exports) are never bundles.
    """
    root = Path(path)
    if (root / MANIFEST_NAME).exists():
        return [root]
    try:
        children = sorted(root.iterdir())
    except OSError:
        return []
    return [
        c
        for c in children
        if not c.name.startswith(".")
        and c.is_dir()
        and not c.is_symlink()
        and (c / MANIFEST_NAME).exists()
    ]


def import_usb(path: Path | str) -> Bundle:
    """Read and verify the bundle at ``path`` (a bundle folder, or a folder holding exactly one).

    Checks, before anything is used: the folder and manifest are real (no symlinks), the
    manifest is canonical and within limits; every entry is listed, is a regular file, has the
    listed size (checked before reading) and SHA-256; nothing unlisted is present.

    Raises:
        VerificationError: naming the folder or file and what is wrong.
    """
    folder = _pick_bundle_folder(Path(path))
    manifest_raw = _read_checked(folder / MANIFEST_NAME, MAX_MANIFEST_BYTES, "manifest")
    manifest = Manifest.from_bytes(manifest_raw, str(folder / MANIFEST_NAME))
    listed = {e.name for e in manifest.files}
    entries = _list_dir(folder)
    if len(entries) > MAX_FILES + 1:
        raise VerificationError(
            f"{folder} holds {len(entries)} entries; a bundle has at most {MAX_FILES} files "
            "and its manifest."
        )
    for name in entries:
        if name == MANIFEST_NAME:
            continue
        where = folder / name
        mode = os.lstat(where).st_mode
        if stat.S_ISLNK(mode):
            raise VerificationError(f"{where} is a symbolic link; bundles hold only plain files.")
        if name not in listed:
            raise VerificationError(f"{where} is not listed in the manifest; refusing the bundle.")
    files: dict[str, bytes] = {}
    for entry in manifest.files:
        where = folder / entry.name
        if entry.name not in entries:
            raise VerificationError(f"{where} is listed in the manifest but missing.")
        data = _read_checked(where, entry.size, "file", expected_size=entry.size)
        check_content(entry, data, str(where))
        files[entry.name] = data
    return Bundle(manifest, files)


def _pick_bundle_folder(path: Path) -> Path:
    if path.is_symlink():
        raise VerificationError(f"{path} is a symbolic link; give the bundle folder itself.")
    if not path.is_dir():
        raise VerificationError(f"{path} is not a folder.")
    if os.path.lexists(path / MANIFEST_NAME):
        return path
    found = find_bundles(path)
    if not found:
        raise VerificationError(f"{path} holds no bundle (no {MANIFEST_NAME} found).")
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise VerificationError(
            f"{path} holds {len(found)} bundles ({names}); name the one to import."
        )
    return found[0]


def _list_dir(folder: Path) -> list[str]:
    try:
        return sorted(os.listdir(folder))
    except OSError as e:
        raise VerificationError(f"{folder} cannot be listed ({e.strerror}).") from e


def _read_checked(path: Path, limit: int, what: str, expected_size: int | None = None) -> bytes:
    """Open without following links, check type and size from fstat, then read at most ``limit``.

    Checking the open descriptor (not the path) closes the gap between check and read.
    """
    try:
        # O_NONBLOCK: opening a FIFO planted on the stick must not hang the import.
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise VerificationError(f"{path} is missing.") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise VerificationError(
                f"{path} is a symbolic link; bundles hold only plain files."
            ) from None
        raise VerificationError(f"{path} cannot be read ({e.strerror}).") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise VerificationError(f"{path} is not a regular file.")
        if expected_size is not None and st.st_size != expected_size:
            raise VerificationError(
                f"{path} is {st.st_size} bytes but the manifest says {expected_size}; "
                "it was not read."
            )
        if st.st_size > limit:
            raise VerificationError(
                f"{path} is {st.st_size} bytes, larger than any {what} ({limit}); it was not read."
            )
        chunks = []
        remaining = limit + 1  # one more than allowed, to notice a file that grew
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
    except OSError as e:
        raise VerificationError(f"{path} cannot be read ({e.strerror}).") from e
    finally:
        os.close(fd)
    if len(data) > limit:
        raise VerificationError(f"{path} grew while it was being read; refusing it.")
    return data


# --- removable mounts --------------------------------------------------------------------------


def list_removable_mounts(
    proc_mounts: Path | str = "/proc/mounts", sys_root: Path | str = "/sys"
) -> list[Mount]:
    """Mounted file systems whose block device is removable or USB-attached.

    Reads ``/proc/mounts`` and, per device, ``/sys/class/block/<dev>``: the disk's
    ``removable`` flag, or a ``/usb`` element in its device path (USB SSDs often report
    removable=0). Returns ``[]`` when nothing qualifies or the files cannot be read.
    """
    try:
        text = Path(proc_mounts).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    sys_path = Path(sys_root)
    return parse_mounts(text, lambda dev: _is_removable(dev, sys_path))


def parse_mounts(text: str, is_removable: Callable[[str], bool]) -> list[Mount]:
    """Pure part of :func:`list_removable_mounts`: parse ``/proc/mounts`` text and filter."""
    mounts = []
    seen: set[str] = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or not fields[0].startswith("/dev/"):
            continue
        device, mountpoint, fstype, options = fields[:4]
        mountpoint = _unescape_mount(mountpoint)
        if mountpoint in seen or not is_removable(os.path.basename(device)):
            continue
        seen.add(mountpoint)
        mounts.append(Mount(device, Path(mountpoint), fstype, "ro" in options.split(",")))
    return mounts


def _unescape_mount(text: str) -> str:
    """/proc/mounts escapes space, tab, newline and backslash as octal (``\\040``)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def _is_removable(devname: str, sys_root: Path) -> bool:
    block = sys_root / "class" / "block" / devname
    try:
        real = block.resolve(strict=True)
    except OSError:
        return False
    # A partition's sysfs folder sits inside its disk's folder; the disk has the flag.
    disk = real.parent if (real / "partition").exists() else real
    try:
        if (disk / "removable").read_text().strip() == "1":
            return True
    except OSError:
        pass
    return "/usb" in str(real)
