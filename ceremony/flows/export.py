"""Carrying the signed metadata out: USB, QR files, and the animated QR on a terminal."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ceremony.errors import UsageError, WorkspaceError
from ceremony.next_step import SIGNED_METADATA as SIGNED_METADATA, published_exports as published_exports
from ceremony.session import Session

IMPORT_USB, IMPORT_QR, IMPORT_FILE = "usb", "qr", "file"
#: The smallest QR version drawn on a terminal (as ``ceremony.transport.fit_size``).
MIN_TERMINAL_VERSION = 5

@dataclass(frozen=True)
class Sent:
    """What one export wrote (and journaled): lines for the room, and where it went."""

    transport: str
    where: Path
    lines: list[str]


def bundle_to_usb(bundle: Any, folder: Path, what: str) -> Sent:
    """Write ``bundle`` into ``folder`` (a stick) and read it back; a stick carries one bundle.

    Raises:
        WorkspaceError: the folder already holds a bundle (nothing written).
    """
    from ceremony.fingerprint import digest_words
    from ceremony.transport import export_usb, find_bundles
    folder = Path(folder).expanduser()
    existing = find_bundles(folder) if folder.is_dir() else []
    if existing:
        raise WorkspaceError(f"{folder} already holds a bundle ({existing[0].name}); "
                             "a stick carries one bundle at a time",
                             hint="use a fresh stick or folder; nothing was written")
    path = export_usb(bundle, folder)
    return Sent("usb", path, [f"{what} bundle written to {path} and read back",
                              f"bundle digest {bundle.digest}",
                              f"read aloud: {digest_words(bundle.digest)}"])


def bundle_to_qr(bundle: Any, folder: Path, size: str, what: str) -> Sent:
    """Write ``bundle`` as PNG QR frames and a printable sheet into ``folder``.

    Raises:
        WorkspaceError: the folder exists and is not empty (nothing written).
        VerificationError: the bundle is too large for QR.
    """
    from ceremony.transport import export_qr
    out = export_qr(bundle, Path(folder).expanduser(), size=size)
    return Sent("qr", out.directory, [
        f"{what} bundle as {len(out.frames)} QR frame(s) ({out.size.name}) in "
        f"{out.directory}", f"printable sheet: {out.sheet}",
        f"message words (read aloud): {out.message_words}"])


def export_usb_to(c: Session, folder: Path) -> Sent:
    """``ceremony export WORKSPACE --usb FOLDER``: write the workspace's bundle, read it back,
    journal it. Published metadata once published, else the travelling draft.

    Raises:
        StateError: nothing to export yet.
        WorkspaceError: the folder is missing, or already holds a bundle (nothing written).
    """
    from ceremony.transfer import record_export, workspace_bundle
    bundle = workspace_bundle(c)
    from ceremony.resume import adoptable_usb_bundle, usb_export_lines
    adopted = adoptable_usb_bundle(c, bundle, folder)
    if adopted is not None:  # written by an export killed before it was journaled
        record_export(c, adopted[1], "usb", adopted[0])
        return Sent("usb", adopted[0], usb_export_lines(adopted[1], adopted[0]))
    sent = bundle_to_usb(bundle, folder, bundle.manifest.kind)
    record_export(c, bundle, "usb", sent.where)
    return sent


def export_qr_to(c: Session, folder: Path, size: str = "medium") -> Sent:
    """``ceremony export WORKSPACE --qr FOLDER``: PNG frames and a printable sheet, journaled.

    Raises:
        StateError: nothing to export yet.
        WorkspaceError: the folder exists and is not empty (nothing written).
        VerificationError: the bundle is too large for QR.
    """
    from ceremony.transfer import record_export, workspace_bundle
    bundle = workspace_bundle(c)
    from ceremony.resume import adoptable_qr_frames, usb_export_lines
    found = adoptable_qr_frames(c, bundle, folder)
    if found is not None:  # written by an export killed before it was journaled
        record_export(c, found, "qr", Path(folder))
        return Sent("qr", Path(folder), usb_export_lines(found, Path(folder)))
    sent = bundle_to_qr(bundle, folder, size, bundle.manifest.kind)
    record_export(c, bundle, "qr", sent.where)
    return sent


def export_draft_to(c: Session, out: Path) -> Sent:
    """``ceremony export-draft WORKSPACE --out FILE`` (a folder gets the usual file name).

    Raises:
        StateError: nothing drafted.
        WorkspaceError: the file exists.
    """
    from ceremony.detached import export_draft
    from ceremony.fingerprint import digest_words
    out = Path(out).expanduser()
    version = c.state.draft["version"] if c.state.draft else None
    if out.is_dir():
        out = out / f"{version}.root.draft.json"
    export_draft(c, out)
    return Sent("file", out, [f"draft of root v{version} written to {out}",
                              f"digest {c.state.draft_digest}",
                              f"digest words (read aloud): {digest_words(str(c.state.draft_digest))}",
                              f"the keyholder runs: ceremony sign-draft {out.name} "
                              "--keyholder NAME"
                              + (" --trusted ROOT" if version and version > 1 else "")
                              + " --expect-digest WORDS"])


def default_export_dir(c: Session, what: str) -> Path:
    """A fresh folder under the workspace's ``out/`` for an export (``qr``, ``usb``, ...)."""
    base = c.ws.out / what
    if not base.exists():
        return base
    n = 2
    while (c.ws.out / f"{what}-{n}").exists():
        n += 1
    return c.ws.out / f"{what}-{n}"


def removable_mounts(probes: Any = None) -> list[Any]:
    """Mounted removable drives (USB sticks), read where the preflight probes look."""
    from ceremony.transport import list_removable_mounts
    if probes is None:
        return list_removable_mounts()
    return list_removable_mounts(Path(probes.proc_root) / "mounts", probes.sys_root)


@dataclass
class TerminalQr:
    """Frames of a bundle's message drawn as half-block lines, sized to a terminal.

    ``size="auto"`` takes the largest code that fits ``columns`` x ``lines``
    (less ``reserve`` lines for status); a named size (small, medium, large) is
    checked and refused if it would wrap, never drawn cut or wrapped.
    """

    message: bytes
    words: str
    size: Any
    _frames: Iterator[bytes] = field(repr=False)

    @classmethod
    def for_terminal(cls, message: bytes, columns: int, lines: int, size: str = "auto",
                     reserve: int = 2) -> TerminalQr:
        """Raises:
            UsageError: the code does not fit (the message says what it needs and what to do).
        """
        from ceremony.transport import frames as _frames
        from ceremony.transport.qr import MAX_QR_MESSAGE, QR_SIZES, QrSize, qr_size
        from ceremony.transport.terminal import terminal_cells
        from ceremony.words import pgp_words
        if len(message) > MAX_QR_MESSAGE:
            raise UsageError(f"the bundle compresses to {len(message)} bytes, more than QR "
                             f"transport carries ({MAX_QR_MESSAGE}); use a USB stick")
        if size == "auto":
            # The largest version that fits, as ``transport.fit_size`` picks it (at least 5).
            candidates = [QrSize("terminal", v, "M", f"fits {columns}x{lines}")
                          for v in range(40, MIN_TERMINAL_VERSION - 1, -1)]
        else:
            candidates = [qr_size(size)]
        preset = next((p for p in candidates
                       if _fits(p.modules, columns, lines, reserve)), None)
        if preset is None:
            p = candidates[-1]
            cols, rows = terminal_cells(p.modules)
            what = ("even the smallest QR code" if size == "auto"
                    else f"a {p.name} QR code (version {p.version})")
            others = [n for n, q in QR_SIZES.items() if _fits(q.modules, columns, lines, reserve)]
            raise UsageError(
                f"the terminal is {columns}x{lines} but {what} needs {cols}x{rows + reserve} "
                "(columns x lines): it would wrap, so it is not drawn",
                hint="enlarge the window or shrink the font"
                     + (f", choose another size ({', '.join(others + ['auto'])})" if others
                        else ", choose the size 'auto'" if size != "auto" else "")
                     + ", or write PNG files and a printable sheet instead")
        mid = _frames.message_id(message)
        stream = _frames.fountain_frames(message, preset.frame_bytes)
        return cls(message, " ".join(pgp_words(mid[:4])), preset, stream)

    def fits(self, columns: int, lines: int, reserve: int = 2) -> bool:
        """Whether the chosen code still fits a (resized) terminal."""
        return _fits(self.size.modules, columns, lines, reserve)

    def next_frame(self) -> tuple[str, list[str]]:
        """The next frame (plain frames first, then fountain frames, without end): its label
        and its lines, dark modules drawn as blocks (to be shown black on white)."""
        from ceremony.transport import frames as _frames, render_terminal
        from ceremony.transport.qr import encode_qr
        raw = next(self._frames)
        frame = _frames.parse_frame(raw)
        code = encode_qr(raw, self.size.version, self.size.ec_level)
        return frame.label, render_terminal(code, color=False, invert=True)


def _fits(modules: int, columns: int, lines: int, reserve: int) -> bool:
    from ceremony.transport.terminal import terminal_cells
    cols, rows = terminal_cells(modules)
    return cols <= columns and rows <= lines - reserve


def bundle_for_display(c: Session) -> tuple[Any, bytes]:
    """The workspace's bundle and its QR message (``ceremony export --animate``)."""
    from ceremony.transfer import workspace_bundle
    from ceremony.transport import bundle_message
    bundle = workspace_bundle(c)
    return bundle, bundle_message(bundle)


def record_display(c: Session, bundle: Any) -> None:
    """Journal an animated display, as ``ceremony export --animate`` does."""
    from ceremony.transfer import record_export
    record_export(c, bundle, "qr-animated", Path("terminal"))
