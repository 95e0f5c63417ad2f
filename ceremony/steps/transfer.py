"""The transfer steps' journal entries: what left the room (an export) and what came in (an
import), by their bundle digests, so the record shows every crossing of the air gap.

Building, writing and checking bundles is ``ceremony.transfer``'s and ``ceremony.transport``'s;
these functions journal the result, typed.
"""

from __future__ import annotations

from ceremony.events import Exported, Imported, Recorder


def exported(c: Recorder, kind: str, transport: str, target: str, bundle_sha256: str,
             files: dict[str, str]) -> None:
    """Journal an export: the bundle's kind and digest, its files' digests, how and where.

    Raises:
        StateError: the ceremony is sealed.
        WorkspaceError: the journal cannot be written.
    """
    c.append(Exported(kind=kind, transport=transport, target=target, bundle_sha256=bundle_sha256,
                      files=files))


def imported(c: Recorder, kind: str, bundle_sha256: str, files: dict[str, str]) -> None:
    """Journal an import taken into the workspace: the bundle's kind and digests.

    Raises:
        StateError: the ceremony is sealed.
        WorkspaceError: the journal cannot be written.
    """
    c.append(Imported(kind=kind, bundle_sha256=bundle_sha256, files=files))
