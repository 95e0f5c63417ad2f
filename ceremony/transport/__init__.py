"""Across the air gap: bundles over USB sticks and QR codes, verified on arrival.

Transports carry bytes, never meaning: what arrives is a :class:`Bundle` whose manifest and
files have been checked against each other; the caller then hands the content to the normal
metadata verification. Every failure is a :class:`~ceremony.errors.VerificationError`
(exit 3) for bad input or a :class:`~ceremony.errors.WorkspaceError` (exit 7) for a target that
already holds something or a write that failed.

Public surface (the CLI and TUI use only these):

- :mod:`.bundle`: ``Bundle``, ``Manifest``, ``FileEntry``, ``KINDS``, limits.
- :mod:`.usb`: ``export_usb``, ``import_usb``, ``find_bundles``, ``list_removable_mounts``.
- :mod:`.files`: ``write_files`` (``import --out DIR``, after the metadata verified).
- :mod:`.qr`: ``export_qr``, ``QR_SIZES``, ``bundle_message``, ``message_bundle``, encoders.
- :mod:`.scan`: ``decode_frames``, ``import_qr``.
- :mod:`.frames`: ``Collector`` (frame checks and "missing frames 3, 7 of 9").
- :mod:`.terminal`: ``animate``, ``render_terminal``, ``check_fits``, ``fit_size``.
"""

from __future__ import annotations

from ceremony.transport.bundle import KINDS, Bundle, FileEntry, Manifest
from ceremony.transport.files import write_files
from ceremony.transport.frames import Collector, Frame, parse_frame
from ceremony.transport.qr import (
    QR_SIZES,
    QrExport,
    QrSize,
    bundle_message,
    export_qr,
    message_bundle,
)
from ceremony.transport.scan import DecodeResult, decode_frames, import_qr
from ceremony.transport.terminal import animate, check_fits, fit_size, render_terminal
from ceremony.transport.usb import (
    Mount,
    export_usb,
    find_bundles,
    import_usb,
    list_removable_mounts,
)

__all__ = [
    "KINDS",
    "QR_SIZES",
    "Bundle",
    "Collector",
    "DecodeResult",
    "FileEntry",
    "Frame",
    "Manifest",
    "Mount",
    "QrExport",
    "QrSize",
    "animate",
    "bundle_message",
    "check_fits",
    "decode_frames",
    "export_qr",
    "export_usb",
    "find_bundles",
    "fit_size",
    "import_qr",
    "import_usb",
    "list_removable_mounts",
    "message_bundle",
    "parse_frame",
    "render_terminal",
    "write_files",
]
