"""Carrying the signed metadata out: USB, QR files, and the animated QR on a terminal.

The one export path of the tool: ``ceremony export``, ``export-draft`` and ``pack``
(:mod:`ceremony.cli.transfer`, :mod:`ceremony.cli.detached`) and the TUI's export screens all
call these functions, so a bundle is written, read back, journaled, and an interrupted export
adopted (:mod:`ceremony.resume`) the same way whichever face the operator uses.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ceremony.errors import UsageError, WorkspaceError
from ceremony.fingerprint import digest_words
from ceremony.frozen import frozen
from ceremony.inputs import read_input_file
from ceremony.next_step import SIGNED_METADATA as SIGNED_METADATA, published_exports as published_exports
from ceremony.resume import adoptable_qr_frames, adoptable_usb_bundle, usb_export_lines
from ceremony.session import Session
from ceremony.words import pgp_words

if TYPE_CHECKING:
    from ceremony.transport import Bundle

#: The smallest QR version drawn on a terminal (as ``ceremony.transport.fit_size``).
MIN_TERMINAL_VERSION = 5

@frozen
class Sent:
    """What one export wrote (and journaled): lines for the room, where it went, and the
    facts a script reads (``--json``)."""

    transport: str
    where: Path
    lines: list[str]
    data: dict[str, Any] = field(default_factory=dict)


def bundle_to_usb(bundle: Any, folder: Path, what: str) -> Sent:
    """Write ``bundle`` into ``folder`` (a stick) and read it back; a stick carries one bundle.

    Raises:
        WorkspaceError: the folder already holds a bundle (nothing written).
    """
    from ceremony.transport import export_usb, find_bundles  # lazy: qrcode, PIL, zxing (transports)
    folder = Path(folder).expanduser()
    existing = find_bundles(folder) if folder.is_dir() else []
    if existing:
        raise WorkspaceError(f"{folder} already holds a bundle ({existing[0].name}); "
                             "a stick carries one bundle at a time",
                             hint="use a fresh stick or folder; nothing was written")
    path = export_usb(bundle, folder)
    return Sent("usb", path, [f"{what} bundle written to {path} and read back",
                              f"bundle digest {bundle.digest}",
                              f"read aloud: {digest_words(bundle.digest)}"],
                {"transport": "usb", "path": str(path), "bundle_sha256": bundle.digest})


def bundle_to_qr(bundle: Any, folder: Path, size: str, what: str) -> Sent:
    """Write ``bundle`` as PNG QR frames and a printable sheet into ``folder``.

    Raises:
        WorkspaceError: the folder exists and is not empty (nothing written).
        VerificationError: the bundle is too large for QR.
    """
    from ceremony.transport import export_qr  # lazy: qrcode, PIL, zxing (transports)
    out = export_qr(bundle, Path(folder).expanduser(), size=size)
    return Sent("qr", out.directory, [
        f"{what} bundle as {len(out.frames)} QR frame(s) ({out.size.name}) in "
        f"{out.directory}", f"printable sheet: {out.sheet}",
        f"message words (read aloud): {out.message_words}"],
        {"transport": "qr", "frames": [str(f) for f in out.frames], "sheet": str(out.sheet),
         "message_sha256": out.message_sha256})


def choose_stick(given: str | Path | None) -> Path:
    """The folder ``--usb`` named; without one, the removable drives mounted are listed in the
    refusal so the operator can name one (nothing is ever written to a guessed stick).

    Raises:
        UsageError: no folder given (the message lists the mounted removable drives).
    """
    if given:
        return Path(given)
    mounts = removable_mounts()
    if not mounts:
        raise UsageError("no removable drive is mounted; name the folder with --usb DIR")
    names = "; ".join(f"{m.mountpoint} ({m.device})" for m in mounts)
    raise UsageError(f"choose the stick with --usb DIR; mounted removable drives: {names}")


def send_bundle(bundle: Bundle, usb: str | Path | None, qr: str | Path | None,
                size: str = "medium") -> Sent:
    """Write a bundle that is not the workspace's (``ceremony pack``): to the stick ``usb``
    (asked for when neither is given), else as QR frames into ``qr``. Nothing is journaled.

    Raises:
        UsageError: no stick named (the mounted ones are listed).
        WorkspaceError: the folder already holds a bundle, or is not empty (nothing written).
        VerificationError: the bundle is too large for QR.
    """
    if usb is not None or not qr:
        return bundle_to_usb(bundle, choose_stick(usb), bundle.manifest.kind)
    return bundle_to_qr(bundle, Path(qr), size, bundle.manifest.kind)


def pack_files(kind: str, repository: str, ceremony_id: str | None, paths: Sequence[Path]) -> Bundle:
    """A bundle of files for the air gap (``ceremony pack``), checked as its receiver will.

    Each file is read bounded (a regular file, never a FIFO that would block) and the bundle is
    refused here if the other side would refuse it on arrival: send only what is accepted.

    Raises:
        UsageError: a file is missing, not a regular file, or larger than a bundle carries.
        VerificationError: the receiver would refuse the bundle (e.g. a private key as an
            online key).
    """
    from ceremony.transfer import check_arrival  # lazy: python-tuf (the chain check on arrival)
    from ceremony.transport import Bundle  # lazy: qrcode, PIL, zxing (transports)
    from ceremony.transport.bundle import MAX_FILE_BYTES  # lazy: as above
    files = {}
    for p in paths:
        files[Path(p).name] = read_input_file(Path(p), MAX_FILE_BYTES, error=UsageError,
                                              too_large="larger than any file a bundle carries")
    bundle = Bundle.from_files(kind, repository, ceremony_id or "-", files)
    check_arrival(bundle, None)
    return bundle


def export_usb_to(c: Session, folder: Path | None) -> Sent:
    """``ceremony export WORKSPACE --usb FOLDER``: write the workspace's bundle, read it back,
    journal it. Published metadata once published, else the travelling draft. A bundle an
    interrupted export left in ``folder`` is adopted (read back, verified, journaled now).

    Raises:
        StateError: nothing to export yet.
        UsageError: no folder given (the mounted removable drives are listed).
        WorkspaceError: the folder is missing, or already holds a bundle (nothing written).
    """
    from ceremony.transfer import record_export, workspace_bundle  # lazy: python-tuf, transports
    bundle = workspace_bundle(c)
    adopted = adoptable_usb_bundle(c, bundle, folder) if folder else None
    if adopted is not None:  # written by an export killed before it was journaled
        record_export(c, adopted[1], "usb", adopted[0])
        return Sent("usb", adopted[0], usb_export_lines(adopted[1], adopted[0]),
                    {"transport": "usb", "path": str(adopted[0]), "bundle_sha256": adopted[1].digest})
    sent = bundle_to_usb(bundle, choose_stick(folder), bundle.manifest.kind)
    record_export(c, bundle, "usb", sent.where)
    return sent


def export_qr_to(c: Session, folder: Path, size: str = "medium") -> Sent:
    """``ceremony export WORKSPACE --qr FOLDER``: PNG frames and a printable sheet, journaled.

    Raises:
        StateError: nothing to export yet.
        WorkspaceError: the folder exists and is not empty (nothing written).
        VerificationError: the bundle is too large for QR.
    """
    from ceremony.transfer import record_export, workspace_bundle  # lazy: python-tuf, transports
    bundle = workspace_bundle(c)
    found = adoptable_qr_frames(c, bundle, folder)
    if found is not None:  # written by an export killed before it was journaled
        record_export(c, found, "qr", Path(folder))
        return Sent("qr", Path(folder), usb_export_lines(found, Path(folder)),
                    {"transport": "qr", "path": str(folder), "bundle_sha256": found.digest})
    sent = bundle_to_qr(bundle, folder, size, bundle.manifest.kind)
    record_export(c, bundle, "qr", sent.where)
    return sent


def export_draft_file(c: Session, out: Path | None = None) -> Sent:
    """``ceremony export-draft WORKSPACE [--out FILE]``: the draft as a file that travels to a
    keyholder elsewhere (by default ``out/N.root.draft.json``; a folder gets that name).

    Returns the facts the room reads aloud (file, digest, digest words); each face adds its
    own advice on what the keyholder does next.

    Raises:
        StateError: nothing drafted.
        WorkspaceError: the file exists.
    """
    from ceremony.detached import export_draft, spoken_digest  # lazy: python-tuf, the formats
    version = c.state.draft["version"] if c.state.draft else None
    out = c.ws.out / f"{version}.root.draft.json" if out is None else Path(out).expanduser()
    if out.is_dir():
        out = out / f"{version}.root.draft.json"
    export_draft(c, out)
    root = str(c.state.draft_digest)  # export_draft refused a workspace without a draft
    roles = (c.state.draft or {}).get("roles") or {}
    digest = spoken_digest(root, roles)
    words = digest_words(digest)
    lines = [f"draft of root v{version} written to {out}"]
    if roles:
        lines.append(f"the words cover root v{version} (digest {root[:16]}...) and the "
                     f"{len(roles)} role(s) drafted with it: {', '.join(sorted(roles))}")
    return Sent("file", out, [*lines, f"digest {digest}", f"digest words (read aloud): {words}"],
                {"file": str(out), "digest": digest, "digest_words": words, "root_digest": root})


def export_draft_to(c: Session, out: Path) -> Sent:
    """The TUI's export of a travelling draft: :func:`export_draft_file` and the command the
    keyholder runs.

    Raises:
        StateError: nothing drafted.
        WorkspaceError: the file exists.
    """
    sent = export_draft_file(c, out)
    version = c.state.draft["version"] if c.state.draft else None
    advice = (f"the keyholder runs: ceremony sign-draft {sent.where.name} --keyholder NAME"
              + (" --trusted ROOT" if version and version > 1 else "") + " --expect-digest WORDS")
    return Sent("file", sent.where, [*sent.lines, advice], sent.data)


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
    from ceremony.transport import list_removable_mounts  # lazy: qrcode, PIL, zxing (transports)
    if probes is None:
        return list_removable_mounts()
    return list_removable_mounts(Path(probes.proc_root) / "mounts", probes.sys_root)


@frozen  # never reassigned (cheaper to define than @dataclass)
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
        from ceremony.transport import frames as _frames  # lazy: qrcode, PIL, zxing (transports)
        from ceremony.transport.qr import MAX_QR_MESSAGE, QR_SIZES, QrSize, qr_size  # lazy: as above
        from ceremony.transport.terminal import terminal_cells  # lazy: as above
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
        from ceremony.transport import frames as _frames, render_terminal  # lazy: qrcode, PIL, zxing (transports)
        from ceremony.transport.qr import encode_qr  # lazy: as above
        raw = next(self._frames)
        frame = _frames.parse_frame(raw)
        code = encode_qr(raw, self.size.version, self.size.ec_level)
        return frame.label, render_terminal(code, color=False, invert=True)


def _fits(modules: int, columns: int, lines: int, reserve: int) -> bool:
    from ceremony.transport.terminal import terminal_cells  # lazy: qrcode, PIL, zxing (transports)
    cols, rows = terminal_cells(modules)
    return cols <= columns and rows <= lines - reserve


def bundle_for_display(c: Session) -> tuple[Any, bytes]:
    """The workspace's bundle and its QR message (``ceremony export --animate``)."""
    from ceremony.transfer import workspace_bundle  # lazy: python-tuf, transports
    from ceremony.transport import bundle_message  # lazy: qrcode, PIL, zxing (transports)
    bundle = workspace_bundle(c)
    return bundle, bundle_message(bundle)


def record_display(c: Session, bundle: Any) -> None:
    """Journal an animated display, as ``ceremony export --animate`` does."""
    from ceremony.transfer import record_export  # lazy: python-tuf, transports
    record_export(c, bundle, "qr-animated", Path("terminal"))


def animate_export(c: Session, bundle: Bundle, message: bytes, size: str = "auto",
                   max_frames: int | None = None) -> int:
    """``ceremony export --animate``: cycle the bundle's QR frames on this terminal until
    Ctrl-C (or ``max_frames``), then journal the display. Returns the frames shown, -1 when
    interrupted (some were shown: the display is journaled all the same).

    Raises:
        UsageError: the code does not fit the terminal (nothing shown, nothing journaled).
    """
    from ceremony.transport import animate  # lazy: qrcode, PIL (transports)
    try:
        shown = animate(message, size=size, max_frames=max_frames)
    except KeyboardInterrupt:
        shown = -1
    record_display(c, bundle)
    return shown
