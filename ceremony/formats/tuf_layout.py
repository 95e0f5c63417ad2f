"""A tuf-on-ci repository's layout, written by publish and read by ``init --previous``.

tuf-on-ci keeps its metadata in git under ``metadata/``: ``root.json`` (the newest root),
``metadata/root_history/N.root.json`` (every root version, what its signing tool writes
beside ``root.json``), ``targets.json`` and the delegated roles; snapshot and timestamp are
made online. Under ``compat = "tuf-on-ci"`` the workspace's ``metadata/`` is such a folder:
publish adds ``root_history/`` with every version of the chain (the previous ones this
ceremony continued, then its own), so the folder can be copied into a tuf-on-ci repository
as it is. A tuf-on-ci repository (its top folder or its ``metadata/``) is read as a previous
chain through :func:`history_folders`; nothing read there is trusted before the chain walk.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ceremony.formats.tuf_compat import TUF_ON_CI
from ceremony.workspace import atomic_write

if TYPE_CHECKING:
    from ceremony.formats.protocol import CeremonyView

HISTORY = "root_history"


def history(metadata: Path) -> Path:
    """``metadata/root_history``."""
    return metadata / HISTORY


def write_history(view: CeremonyView, data: bytes, version: int) -> list[Path]:
    """Under tuf-on-ci compat, ``metadata/root_history/N.root.json`` for the published root
    and for every root of the chain it continues (never replaced once written).

    Raises:
        WorkspaceError: a write failed, or a history file exists with other bytes.
    """
    if view.plan.compat != TUF_ON_CI:
        return []
    folder = history(view.ws.metadata)
    folder.mkdir(exist_ok=True)
    wanted = {f"{version}.root.json": data}
    previous = view.ws.previous
    for p in sorted(previous.glob("*.root.json")) if previous.is_dir() else []:
        wanted.setdefault(p.name, p.read_bytes())
    written = []
    for name, body in sorted(wanted.items()):
        path = folder / name
        if not (path.exists() and path.read_bytes() == body):
            atomic_write(path, body, exclusive=True)
        written.append(path)
    return written


def history_folders(directory: Path) -> list[Path]:
    """The ``root_history`` folders of a tuf-on-ci repository named by its top folder or its
    ``metadata/`` (none for any other folder)."""
    return [f for f in (directory / HISTORY, directory / "metadata" / HISTORY) if f.is_dir()]


def repository_files(metadata: Path) -> dict[str, bytes]:
    """What a tuf-on-ci repository holds of a published workspace, by path in the repository:
    ``metadata/root.json`` and ``metadata/root_history/N.root.json``."""
    files = {"metadata/root.json": (metadata / "root.json").read_bytes()}
    for p in sorted(history(metadata).glob("*.root.json")):
        files[f"metadata/{HISTORY}/{p.name}"] = p.read_bytes()
    return files
