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

The names load on first use (PEP 562): ``from ceremony.transport import Bundle`` runs
``bundle.py`` alone, so a USB export or a signature import never pays for ``qr``/``scan``
(qrcode, PIL, zxing-cpp: ~0.1 s) unless it draws or reads a QR code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ceremony.lazy import package_attributes

if TYPE_CHECKING:  # the types, for mypy; at run time __getattr__ loads each on first use
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

# name -> the submodule that defines it
_HOME = {
    "KINDS": "bundle", "Bundle": "bundle", "FileEntry": "bundle", "Manifest": "bundle",
    "write_files": "files",
    "Collector": "frames", "Frame": "frames", "parse_frame": "frames",
    "QR_SIZES": "qr", "QrExport": "qr", "QrSize": "qr", "bundle_message": "qr", "export_qr": "qr",
    "message_bundle": "qr",
    "DecodeResult": "scan", "decode_frames": "scan", "import_qr": "scan",
    "animate": "terminal", "check_fits": "terminal", "fit_size": "terminal", "render_terminal": "terminal",
    "Mount": "usb", "export_usb": "usb", "find_bundles": "usb", "import_usb": "usb",
    "list_removable_mounts": "usb",
}


__getattr__, __dir__ = package_attributes(__name__, globals(), _HOME)


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
