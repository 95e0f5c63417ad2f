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

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ceremony.errors import VerificationError
from ceremony.formats import previous_copies
from ceremony.formats.tuf_compat import TUF_ON_CI
from ceremony.workspace import atomic_write

if TYPE_CHECKING:
    from ceremony.formats.protocol import CeremonyView
    from ceremony.plan import Plan

HISTORY = "root_history"
#: init continued no chain: previous/ holds nothing init copied in
_NONE_COPIED: dict[str, dict[str, str]] = {previous_copies.FILES: {}}
_VERSIONED_ROLE = r"metadata/([0-9]+)\.([A-Za-z0-9][A-Za-z0-9._-]*)\.json"  # compiled by re on first use


def history(metadata: Path) -> Path:
    """``metadata/root_history``."""
    return metadata / HISTORY


def write_history(view: CeremonyView, data: bytes, version: int) -> list[Path]:
    """Under tuf-on-ci compat, ``metadata/root_history/N.root.json`` for the published root
    and for every root of the chain it continues (never replaced once written). Each
    ``previous/`` copy is first checked against the digest init journaled
    (:func:`ceremony.formats.previous_copies.check`): history is made of what init verified.

    Raises:
        WorkspaceError: a write failed, or a history file exists with other bytes.
        VerificationError: a ``previous/`` copy was changed (or added) after init.
    """
    if view.plan.compat != TUF_ON_CI:
        return []
    wanted = {f"{version}.root.json": data}
    previous = view.ws.previous
    info = view.state.init.get("previous")
    for p in sorted(previous.glob("*.root.json")) if previous.is_dir() else []:
        wanted.setdefault(p.name, previous_copies.check(p, p.read_bytes(), info or _NONE_COPIED))
    folder = history(view.ws.metadata)  # made once every copy is checked: a refusal writes nothing
    folder.mkdir(exist_ok=True)
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


def unversioned_roles(files: Mapping[str, bytes], plan: Plan) -> dict[str, bytes]:
    """Under tuf-on-ci compat, ``metadata/ROLE.json`` beside each ``metadata/N.ROLE.json`` the
    publish writes (targets and the delegated roles: tuf-on-ci keeps them under their plain
    names in git), the newest version of each."""
    if plan.compat != TUF_ON_CI:
        return {}
    newest: dict[str, tuple[int, bytes]] = {}
    for rel, data in files.items():
        m = re.fullmatch(_VERSIONED_ROLE, rel)
        if m and (m.group(2) not in newest or int(m.group(1)) > newest[m.group(2)][0]):
            newest[m.group(2)] = (int(m.group(1)), data)
    return {f"metadata/{role}.json": data for role, (_v, data) in newest.items()}


def repository_files(metadata: Path) -> dict[str, bytes]:
    """What a tuf-on-ci repository holds of a published workspace, by path in the repository:
    ``metadata/root.json``, ``metadata/root_history/N.root.json``, and the offline roles'
    ``metadata/ROLE.json`` (targets, the delegated roles) when the ceremony signed them.

    Each ``root_history`` file must have the digest the workspace's journal records for that
    root (:func:`journaled_roots`: a root it published, or a previous copy init verified), and
    ``root.json`` must be the newest of them. Comparing with ``previous/`` byte for byte
    would trust a copy edited there as much as the history file.

    Raises:
        VerificationError: a history file is not one of those roots, ``root.json`` is not the
            newest, or the folder is not a workspace's ``metadata/`` (no journal beside it).
    """
    files = {"metadata/root.json": (metadata / "root.json").read_bytes()}
    journaled = journaled_roots(metadata.parent)
    for p in sorted(history(metadata).glob("*.root.json")):
        data = p.read_bytes()
        expected = journaled.get(p.name)
        if expected is None:
            raise VerificationError(f"metadata/{HISTORY}/{p.name} is a root the workspace neither "
                                    "published nor continued (its journal records no "
                                    f"{p.name})", hint="it was added after publish; delete it")
        if hashlib.sha256(data).hexdigest() != expected:
            raise VerificationError(f"metadata/{HISTORY}/{p.name} is not the root the workspace "
                                    f"published or continued (journal: sha256 {expected[:16]}...)",
                                    hint="it was changed after publish; delete root_history/ and "
                                         "publish again in a copy of the workspace, or restore it")
        files[f"metadata/{HISTORY}/{p.name}"] = data
    versions = sorted(int(name.split("/")[-1].split(".")[0]) for name in files if HISTORY in name)
    if versions and files[f"metadata/{HISTORY}/{versions[-1]}.root.json"] != files["metadata/root.json"]:
        raise VerificationError(f"metadata/root.json is not the newest root of root_history/ "
                                f"(v{versions[-1]}): it was changed after publish")
    for p in sorted(metadata.glob("*.json")):
        if p.name != "root.json" and not p.name.split(".")[0].isdigit() \
                and not p.name.startswith("ceremony-"):
            files[f"metadata/{p.name}"] = p.read_bytes()
    return files


def journaled_roots(workspace: Path) -> dict[str, str]:
    """``N.root.json`` -> sha256 of every root a workspace's journal vouches for: the previous
    copies init journaled (``previous_copies.FILES``; a previous release's journal has only
    the newest one's digest, and its other copies are taken as they are, as
    :func:`ceremony.formats.previous_copies.check` takes them) and each root the workspace
    published.

    Raises:
        VerificationError: no journal in ``workspace``.
        WorkspaceError: the journal is damaged.
    """
    from ceremony.events import Published, parse  # lazy: the journal's events, publishing to git only
    from ceremony.journal import Journal  # lazy: likewise
    path = workspace / "journal.jsonl"
    if not path.is_file():
        raise VerificationError(f"{workspace} holds no journal.jsonl: root_history/ is checked "
                                "against the journal of the workspace that published it")
    events = Journal.open(path).events
    info = (events[0].data.get("previous") if events else None) or {}
    out = {n: str(d) for n, d in (info.get(previous_copies.FILES) or {}).items()
           if n.endswith(".root.json")}
    if info and previous_copies.FILES not in info:  # a previous release's journal: the newest only
        out[f"{info['version']}.root.json"] = str(info["sha256"])
        for copy in sorted((workspace / "previous").glob("*.root.json")):  # the others unchecked,
            out.setdefault(copy.name, hashlib.sha256(copy.read_bytes()).hexdigest())  # as it did
    for e in events:
        if isinstance(p := parse(e), Published):
            out[f"{p.version}.root.json"] = p.sha256
    return out
