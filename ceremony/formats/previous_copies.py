"""The digests of the files ``init --previous`` copies into ``previous/``, and their check.

Init verifies the previous chain, then copies every verified file into the workspace's
``previous/`` folder. Everything later reads those copies, not the operator's folder, so each
copy is journaled by digest (the ``files`` key of the ``initialized`` event's ``previous``
dict) and re-checked before use: an edit to any intermediate root or sidecar is refused,
like the edit of the newest root that the journaled ``sha256`` already caught.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ceremony.errors import VerificationError

FILES = "files"  # the key of the init event's ``previous`` dict: file name -> sha256 (hex)


def digests(files: Mapping[str, bytes]) -> dict[str, str]:
    """``{name: sha256 hex}`` of every file copied into ``previous/``, for the journal."""
    return {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}


def check(path: Path, data: bytes, info: Mapping[str, Any] | None) -> bytes:
    """``data`` (read from ``path`` in ``previous/``) if it is the copy init journaled.

    A journal written by the previous release has no ``files`` key (it journaled only the
    newest root and the trusted first one, each checked where it is read): for such a
    journal the intermediate copies are used unchecked, as that release did.

    Raises:
        VerificationError: the file's digest differs from the journaled one, or init
            journaled digests but not this file's (it was added after init).
    """
    journaled = (info or {}).get(FILES)
    if journaled is None:  # a journal from the previous release: nothing more to check
        return data
    expected = journaled.get(path.name)
    if expected is None:
        raise VerificationError(f"{path} was not copied in by init; refusing",
                                hint="previous/ holds only what init verified; remove the "
                                     "file or start a new workspace")
    if hashlib.sha256(data).hexdigest() != expected:
        raise VerificationError(f"{path} was changed after the ceremony started")  # as read_previous
    return data
