"""Bundles and signatures coming back in: from a USB stick, QR photos or files.

The one import path of the tool: ``ceremony import`` (:mod:`ceremony.cli.transfer`),
``import-signature`` (:mod:`ceremony.cli.detached`) and the TUI's signature screen call these
functions, so a bundle is read, verified before any of its bytes is used, and journaled the
same way whichever face the operator uses.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ceremony.errors import UsageError
from ceremony.fingerprint import digest_words
from ceremony.frozen import frozen
from ceremony.session import Session

if TYPE_CHECKING:
    from ceremony.transfer import Arrival
    from ceremony.transport import Bundle

#: How a bundle travels, both ways (the import path and the TUI's choices name them).
IMPORT_USB, IMPORT_QR, IMPORT_FILE = "usb", "qr", "file"


@frozen
class Received:
    """A bundle read from a stick or decoded from QR frames, verified as a bundle (its
    manifest and digests); what it carries is checked on arrival (:mod:`ceremony.transfer`)."""

    bundle: Bundle
    words: str  # to compare with those read aloud at export, with what they are


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


def receive(how: str, paths: Sequence[Path]) -> Received:
    """Read a bundle from the stick folder (``usb``) or decode it from frame images, folders of
    them or a video (``qr``), with the words its export read aloud: the bundle digest's for a
    USB bundle, the QR message id's for frames, full length.

    Raises:
        UsageError: not exactly one folder for USB, or an unknown transport.
        VerificationError: the bundle or the frames do not verify.
    """
    if how == IMPORT_USB:
        if len(paths) != 1:
            raise UsageError("name one bundle folder (or the stick holding it)")
        from ceremony.transport import import_usb  # lazy: the bundle reader, not the QR half (qrcode, PIL, zxing)
        bundle = import_usb(paths[0])
        return Received(bundle, "bundle words (compare with those read aloud at export): "
                                f"{digest_words(bundle.digest)}")
    if how == IMPORT_QR:
        from ceremony.transport import decode_frames  # lazy: qrcode, PIL, zxing, PyAV (QR only)
        decoded = decode_frames(list(paths))
        return Received(decoded.bundle, "message words (compare with those read aloud at export): "
                                        f"{decoded.message_words}")
    raise UsageError(f"unknown transport {how!r}")


def import_into(c: Session, bundle: Bundle) -> Arrival:
    """``ceremony import WORKSPACE``: a verified bundle's signatures (or metadata) taken into
    the workspace, each journaled.

    Raises:
        VerificationError: the bundle belongs elsewhere, or its contents do not verify.
        StateError: no draft, already published, or a duplicate signature.
    """
    from ceremony.transfer import import_to_workspace  # lazy: python-tuf, transports
    return import_to_workspace(c, bundle)


def import_to_folder(bundle: Bundle, out: Path, expect_root: str | None = None) -> tuple[Arrival, list[Path]]:
    """``ceremony import --out DIR`` (either side): the verified files written into ``out``.
    Root metadata is walked as a client would, from the folder's own newest trusted root, or
    from the bundle's oldest (trust on first use, pinned by ``expect_root``).

    Raises:
        VerificationError: the files do not verify, or the chain does not start at ``expect_root``.
        WorkspaceError: a file cannot be written.
    """
    from ceremony.transfer import import_to_dir  # lazy: python-tuf, transports
    return import_to_dir(bundle, Path(out), expect_root)


def import_signature_file(c: Session, path: Path) -> list[str]:
    """``ceremony import-signature WORKSPACE FILE``: a detached signature verified against the
    draft and journaled. Returns the key ids whose signatures were added.

    Raises:
        VerificationError: the file is not a signature of this draft by a key that counts.
        StateError: no draft, already published, or a duplicate signature.
    """
    from ceremony.detached import import_signature  # lazy: python-tuf, the formats
    return list(import_signature(c, Path(path)))


def import_signatures(c: Session, how: str, text: str) -> list[str]:
    """The TUI's import: ``ceremony import WORKSPACE --usb DIR | --qr FILES`` or
    ``import-signature FILE``, the paths typed into one field.

    Everything is verified before it is used; each signature is journaled by
    the import. Returns lines for the room (the thresholds follow from ``c.status()``).

    Raises:
        UsageError: no path, or an unknown transport.
        VerificationError: the bundle, frames or signature do not verify, or belong elsewhere.
        StateError: no draft, already published, or a duplicate signature.
    """
    paths = split_paths(text)
    if how == IMPORT_FILE:
        return [f"imported {len(import_signature_file(c, p))} signature(s) from {p}" for p in paths]
    received = receive(how, paths)
    arrival = import_into(c, received.bundle)
    bundle = received.bundle
    return [f"{bundle.manifest.kind} bundle verified (digest {bundle.digest[:16]}...)", received.words,
            *arrival.notes]
