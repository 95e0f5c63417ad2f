"""Signatures coming back in: from a USB stick, QR photos or files."""

from __future__ import annotations

import shlex
from pathlib import Path

from ceremony.errors import UsageError
from ceremony.flows.export import IMPORT_FILE, IMPORT_QR, IMPORT_USB
from ceremony.session import Session


def split_paths(text: str) -> list[Path]:
    """Paths typed into one field: shell-style quoting, so names with spaces can be given.

    Raises:
        UsageError: nothing given, or unbalanced quotes.
    """
    try:
        parts = shlex.split(text)
    except ValueError as e:
        raise UsageError(f"cannot read the paths: {e}") from None
    if not parts:
        raise UsageError("name a file or folder")
    return [Path(p).expanduser() for p in parts]


def import_signatures(c: Session, how: str, text: str) -> list[str]:
    """``ceremony import WORKSPACE --usb DIR | --qr FILES`` or ``import-signature FILE``.

    Everything is verified before it is used; each signature is journaled by
    the import. Returns lines for the room (the thresholds follow from ``c.status()``).

    Raises:
        UsageError: no path, or an unknown transport.
        VerificationError: the bundle, frames or signature do not verify, or belong elsewhere.
        StateError: no draft, already published, or a duplicate signature.
    """
    from ceremony.detached import import_signature
    from ceremony.fingerprint import digest_words
    from ceremony.transfer import import_to_workspace
    from ceremony.transport import decode_frames, import_usb
    paths = split_paths(text)
    if how == IMPORT_FILE:
        lines = []
        for p in paths:
            added = import_signature(c, p)
            lines.append(f"imported {len(added)} signature(s) from {p}")
        return lines
    if how == IMPORT_USB:
        if len(paths) != 1:
            raise UsageError("name one bundle folder (or the stick holding it)")
        bundle = import_usb(paths[0])
        words = f"bundle words (compare with those read aloud at export): {digest_words(bundle.digest)}"
    elif how == IMPORT_QR:
        decoded = decode_frames(paths)
        bundle = decoded.bundle
        words = f"message words (compare with those read aloud at export): {decoded.message_words}"
    else:
        raise UsageError(f"unknown transport {how!r}")
    arrival = import_to_workspace(c, bundle)
    return [f"{bundle.manifest.kind} bundle verified (digest {bundle.digest[:16]}...)", words,
            *arrival.notes]
