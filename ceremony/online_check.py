"""The online roles beside a published root chain, checked as a TUF client reads them.

A client that trusts the newest root fetches ``timestamp.json``, then the snapshot the
timestamp names, then the targets the snapshot names (``N.snapshot.json`` and
``N.targets.json`` when the root asks for consistent snapshots). Each must be signed by
the root's threshold for its role (counted by distinct keys, as the root threshold is),
match the version, length and hashes its parent recorded, and not have expired. The
online side runs this through ``ceremony verify`` before it publishes, so one command
checks everything clients will fetch. Delegated targets are not walked here.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from tuf.api.exceptions import LengthOrHashMismatchError, UnsignedMetadataError
from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot, Targets, Timestamp
from tuf.api.serialization import DeserializationError

from ceremony import keyids
from ceremony.chain import read_bounded
from ceremony.errors import VerificationError
from ceremony.formats import tuf as tuf_format

# A targets file lists every target: far larger than a root, still bounded.
MAX_ONLINE_FILE = 64 * 1024 * 1024
_ONLINE_FILE = re.compile(r"^(?:[1-9][0-9]*\.)?(snapshot|targets)\.json$")


def online_files(directory: Path) -> list[str]:
    """Names of snapshot/targets files (plain or versioned) in ``directory``."""
    return sorted(p.name for p in directory.iterdir() if _ONLINE_FILE.match(p.name))


def check_online(directory: Path, root: Root, at: datetime, *, refuse_expired: bool = True
                 ) -> list[str]:
    """Follow timestamp -> snapshot -> targets in ``directory`` from ``root``, at ``at``.

    Without ``refuse_expired`` (the root itself has expired, which is the verdict), an
    expired file is said so in its line instead of refused.

    Returns:
        One line per role checked; none when the folder holds only a root chain.

    Raises:
        VerificationError: a file the client fetches is missing, unreadable, of the wrong
            type, below its role's threshold, not the version or hashes its parent names,
            or expired at ``at``. The message names the file.
    """
    directory = Path(directory)
    ts_path = directory / "timestamp.json"
    if not ts_path.exists():
        stray = online_files(directory)
        offline = _offline_targets(directory, root, at, stray, refuse_expired)
        if offline is not None:  # targets signed offline with root, before the online side
            return offline
        if stray:
            raise VerificationError(
                f"{directory} holds {stray[0]} but no timestamp.json: clients start at "
                "timestamp.json, so they would never reach it")
        return []
    lines: list[str] = []
    ts_data = _read(ts_path)
    ts = _load(ts_data, ts_path.name, Timestamp, root, at, lines, refuse_expired)
    snap_meta = ts.signed.snapshot_meta
    snap_name = (f"{snap_meta.version}.snapshot.json" if root.consistent_snapshot
                 else "snapshot.json")
    snap_data = _fetch(directory, snap_name, "timestamp.json names snapshot "
                       f"v{snap_meta.version}")
    _matches(snap_meta, snap_data, snap_name, "timestamp.json")
    snap = _load(snap_data, snap_name, Snapshot, root, at, lines, refuse_expired)
    _version(snap.signed.version, snap_meta.version, snap_name, "timestamp.json", "snapshot")
    targets_meta = snap.signed.meta.get("targets.json")
    if targets_meta is None:
        raise VerificationError(f"{snap_name} lists no targets.json: a client cannot go on")
    targets_name = (f"{targets_meta.version}.targets.json" if root.consistent_snapshot
                    else "targets.json")
    targets_data = _fetch(directory, targets_name,
                          f"{snap_name} names targets v{targets_meta.version}")
    _matches(targets_meta, targets_data, targets_name, snap_name)
    targets = _load(targets_data, targets_name, Targets, root, at, lines, refuse_expired)
    _version(targets.signed.version, targets_meta.version, targets_name, snap_name, "targets")
    for name, _role in _delegated(targets):  # the delegated roles the snapshot lists
        meta = snap.signed.meta.get(f"{name}.json")
        if meta is None:
            continue  # a delegation whose metadata is published elsewhere, or not yet
        fname = f"{meta.version}.{name}.json" if root.consistent_snapshot else f"{name}.json"
        data = _fetch(directory, fname, f"{snap_name} names {name} v{meta.version}")
        _matches(meta, data, fname, snap_name)
        md = _delegate(targets, name, data, fname, at, lines, refuse_expired)
        _version(md.signed.version, meta.version, fname, snap_name, name)
    return lines


def _delegated(targets: Metadata[Any]) -> list[tuple[str, Any]]:
    d = targets.signed.delegations
    return list((d.roles or {}).items()) if d is not None else []


def _delegate(delegator: Metadata[Any], name: str, data: bytes, fname: str, at: datetime,
              lines: list[str], refuse_expired: bool) -> Metadata[Any]:
    """One delegated role's file, verified against its delegator (python-tuf's rules)."""
    md = _parse(data, fname)
    if md.signed.type != Targets.type:
        raise VerificationError(f"{fname} is {md.signed.type} metadata, not targets")
    try:
        delegator.verify_delegate(name, md)
    except UnsignedMetadataError as e:
        raise VerificationError(f"{fname} is not signed at its delegation's threshold: {e}") from None
    tuf_format.refuse_unknown_role_signatures(delegator.signed, name, md, fname)
    expired = md.signed.is_expired(at)
    if expired and refuse_expired:
        raise VerificationError(f"{fname} (v{md.signed.version}) expired at "
                                f"{md.signed.expires:%Y-%m-%d %H:%M:%S} UTC")
    lines.append(f"{fname}: {name} v{md.signed.version}, signed at its delegation's threshold, "
                 + ("EXPIRED at" if expired else "expires")
                 + f" {md.signed.expires:%Y-%m-%d %H:%M:%S} UTC")
    return md


def _offline_targets(directory: Path, root: Root, at: datetime, stray: list[str],
                     refuse_expired: bool) -> list[str] | None:
    """A ceremony's own published folder when it signed targets offline (no snapshot or
    timestamp yet): the newest ``N.targets.json`` at root's targets threshold and each
    delegated role's newest file against it. None when the folder holds no such targets
    (the caller judges the stray files)."""
    numbered = sorted((int(n.split(".", 1)[0]), n) for n in stray
                      if n.endswith(".targets.json") and n.split(".", 1)[0].isdigit())
    if not numbered or any("snapshot" in n for n in stray):
        return None
    name = numbered[-1][1]
    lines: list[str] = []
    targets = _load(_read(directory / name), name, Targets, root, at, lines, refuse_expired)
    for role, _d in _delegated(targets):
        versions = sorted((int(p.name.split(".", 1)[0]), p.name)
                          for p in directory.glob(f"*.{role}.json")
                          if p.name.split(".", 1)[0].isdigit())
        if versions:
            fname = versions[-1][1]
            _delegate(targets, role, _read(directory / fname), fname, at, lines, refuse_expired)
    return lines


def _read(path: Path) -> bytes:
    return read_bounded(path, MAX_ONLINE_FILE, "far larger than any metadata this tool checks")


def _fetch(directory: Path, name: str, why: str) -> bytes:
    path = directory / name
    if not path.exists():
        raise VerificationError(f"a client would fetch {name} ({why}), but {directory} has no "
                                "such file")
    return _read(path)


def _matches(meta: MetaFile, data: bytes, name: str, parent: str) -> None:
    try:
        meta.verify_length_and_hashes(data)
    except LengthOrHashMismatchError:
        raise VerificationError(f"{name} does not match the length or hashes {parent} records "
                                "for it: it was changed after it was listed") from None


def _version(got: int, expected: int, name: str, parent: str, role: str) -> None:
    if got != expected:
        raise VerificationError(f"{name} is {role} v{got}, but {parent} names v{expected}: "
                                "a client refuses it")


def _parse(data: bytes, name: str) -> Metadata[Any]:
    """TUF metadata read from ``name``; one key id's signature listed twice is named.

    Raises:
        VerificationError: not TUF metadata, or a signature entry repeated.
    """
    try:
        return Metadata.from_bytes(data)
    except (DeserializationError, ValueError, KeyError, TypeError) as e:
        repeated = keyids.repeated_signatures(data)  # python-tuf only says it cannot deserialize
        raise VerificationError(f"{name} {repeated}" if repeated
                                else f"{name} is not valid TUF metadata: {e}") from None


def _load(data: bytes, name: str, cls: type[Any], root: Root, at: datetime,
          lines: list[str], refuse_expired: bool) -> Metadata[Any]:
    """Parse, check type, threshold (by distinct keys) and expiry of one online file."""
    role = cls.type
    md = _parse(data, name)
    if md.signed.type != role:
        raise VerificationError(f"{name} is {md.signed.type} metadata, not {role}")
    result = root.get_verification_result(role, md.signed_bytes, md.signatures)
    distinct = {json.dumps([k.keytype, k.scheme, k.keyval], sort_keys=True)
                for k in result.signed.values()}
    threshold = result.threshold
    if len(distinct) < threshold:
        twice = " (one key counted under two ids)" if len(result.signed) >= threshold else ""
        raise VerificationError(
            f"{name} is not signed by root v{root.version}'s {role} threshold: "
            f"{len(distinct)}/{threshold} valid signature(s) from its {role} keys{twice}",
            hint=f"when a root changes the {role} key, the online side re-signs {role} with "
                 "the new key and publishes both in the same release")
    tuf_format.refuse_unknown_role_signatures(root, role, md, name)
    expired = md.signed.is_expired(at)
    if expired and refuse_expired:
        raise VerificationError(f"{name} (v{md.signed.version}) expired at "
                                f"{md.signed.expires:%Y-%m-%d %H:%M:%S} UTC",
                                hint="the online side re-signs it with a later expiry")
    lines.append(f"{name}: {role} v{md.signed.version}, {len(distinct)}/{threshold} signed by "
                 f"root v{root.version}'s {role} key(s), "
                 + ("EXPIRED at" if expired else "expires")
                 + f" {md.signed.expires:%Y-%m-%d %H:%M:%S} UTC")
    return md
