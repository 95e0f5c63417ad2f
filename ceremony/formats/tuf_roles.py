"""TUF roles beyond root signed offline (issue 15): ``targets`` and its delegated roles.

A plan may give ``targets`` keyholders and a threshold (like root) and declare delegated
roles (``[[delegations]]``). This module builds their metadata through python-tuf's API,
counts their signatures, says them in words, and reads the target files they list (any
file of the plan's folder, hashed and sized into the role). It is pure but for reading
the target files; :class:`ceremony.formats.tuf_format.TufFormat` binds it to a ceremony.

The draft journals every role in full (``draft-created``'s ``roles``: version, digest of
the signed bytes, the signed part), so the files published are a function of the journal,
as root's are; a target file is re-hashed at publish and must be what was drafted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from securesystemslib.signer import Key, Signature
from tuf.api.metadata import DelegatedRole, Delegations, Metadata, TargetFile, Targets
from tuf.api.serialization.json import JSONSerializer

from ceremony import keyids
from ceremony.errors import PlanError, VerificationError
from ceremony.formats.base import RoleVerdict
from ceremony.formats.tuf import expiry, key_name
from ceremony.inputs import read_input_file
from ceremony.plan import OfflineRole, Plan

#: What one target file may weigh: policy files, public keys, key sets are small; this only
#: keeps a wrong path (a disk image) from being read whole.
MAX_TARGET_FILE = 64 * 1024 * 1024
TARGETS = "targets"


def read_target(plan_dir: Path, role: OfflineRole, target: str,
                error: type[PlanError] | type[VerificationError] = PlanError) -> bytes:
    """The bytes of a target file the plan lists under ``role``.

    Raises:
        PlanError: (or ``error``) the file is missing, not a regular file, or too large.
    """
    where = "roles.targets" if not role.delegated else f"delegation {role.name!r}"
    return read_input_file(plan_dir / target, MAX_TARGET_FILE, f"{where}: target file",
                           error=error, too_large="far larger than any target file")


def check_target_files(plan: Plan, plan_dir: Path) -> None:
    """Every target file the plan lists is there and readable (``init``, before anything is
    written).

    Raises:
        PlanError: a target file is missing, not a regular file, or too large.
    """
    for role in plan.offline:
        for target in role.targets:
            read_target(plan_dir, role, target)


def build(plan: Plan, keys_of: Mapping[str, Key], now: datetime, plan_dir: Path,
          versions: Mapping[str, int] | None = None) -> dict[str, Metadata[Targets]]:
    """``targets`` (with its delegations) and every delegated role, unsigned.

    ``keys_of`` maps each keyholder of an offline role to their key (the one they sign
    root with, when they hold a root key); ``versions`` the version of each role (1 when
    absent).

    Raises:
        PlanError: a target file is missing; a role would list one key twice.
    """
    versions = versions or {}
    out: dict[str, Metadata[Targets]] = {}
    delegated = [r for r in plan.offline if r.delegated]
    for role in plan.offline:
        keys = [keys_of[k] for k in role.keyholders]
        keyids.refuse_aliases(role.name, keys, key_name)
        md = Metadata(Targets(version=versions.get(role.name, 1),
                              expires=expiry(now, role.expires)))
        for target in role.targets:
            data = read_target(plan_dir, role, target)
            md.signed.targets[target] = TargetFile.from_data(target, data, ["sha256"])
        out[role.name] = md
    targets = out[TARGETS].signed
    if delegated:
        dkeys: dict[str, Key] = {}
        roles: dict[str, DelegatedRole] = {}
        for role in delegated:
            ids = []
            for k in role.keyholders:
                dkeys[keys_of[k].keyid] = keys_of[k]
                ids.append(keys_of[k].keyid)
            roles[role.name] = DelegatedRole(
                role.name, ids, role.threshold, role.terminating,
                list(role.paths) if role.paths is not None else None,
                list(role.path_hash_prefixes) if role.path_hash_prefixes is not None else None)
        targets.delegations = Delegations(dkeys, roles)
    return out


def signed_digest(md: Metadata[Targets]) -> str:
    """sha256 of the canonical signed bytes: the identity of a role's draft."""
    return hashlib.sha256(md.signed_bytes).hexdigest()


def journal_fields(mds: Mapping[str, Metadata[Targets]]) -> dict[str, Any]:
    """The ``roles`` part of ``draft-created``: each role's version, digest, signed part."""
    return {name: {"version": md.signed.version, "digest": signed_digest(md),
                   "signed": md.signed.to_dict()} for name, md in mds.items()}


def from_journal(roles: Mapping[str, Any], signatures: Mapping[str, Mapping[str, Any]]
                 ) -> dict[str, Metadata[Targets]]:
    """Each journaled role with its journaled signatures attached.

    Raises:
        VerificationError: a journaled role is not targets metadata, or its digest is not
            the digest of its signed part (the journal was edited).
    """
    out: dict[str, Metadata[Targets]] = {}
    for name, entry in roles.items():
        try:
            signed = Targets.from_dict(json.loads(json.dumps(entry["signed"])))
        except (KeyError, ValueError, TypeError, AttributeError) as e:
            raise VerificationError(f"the journaled draft of role {name!r} is not targets "
                                    f"metadata: {e}") from None
        md: Metadata[Targets] = Metadata(signed)
        if signed_digest(md) != entry.get("digest"):
            raise VerificationError(f"the journaled draft of role {name!r} does not match "
                                    "its digest; the journal was edited")
        for keyid, s in (signatures.get(name) or {}).items():
            md.signatures[keyid] = Signature(keyid, s["sig"])
        out[name] = md
    # the journal sorts its keys: targets first, then the delegations in targets' order
    top = out.get(TARGETS)
    order = [TARGETS, *(top.signed.delegations.roles or {} if top and top.signed.delegations else {})]
    return dict(sorted(out.items(), key=lambda m: order.index(m[0]) if m[0] in order else len(order)))


def delegator(name: str, root_targets: tuple[list[str], int], keys: Mapping[str, Key],
              targets: Targets) -> tuple[list[str], int, Mapping[str, Key]]:
    """Who signs role ``name``: its key ids, threshold and keys, as its delegator lists them
    (root for ``targets``, ``targets`` for a delegated role)."""
    if name == TARGETS:
        return root_targets[0], root_targets[1], keys
    assert targets.delegations is not None and targets.delegations.roles is not None
    role = targets.delegations.roles[name]
    return role.keyids, role.threshold, targets.delegations.keys


def verdict(name: str, md: Metadata[Targets], keyids_: list[str], threshold: int,
            keys: Mapping[str, Key]) -> RoleVerdict:
    """Signatures on role ``name`` counted by distinct public key."""
    payload = md.signed_bytes

    def signed_by(keyid: str) -> bool:
        sig = md.signatures.get(keyid)
        if sig is None or keyid not in keys:
            return False
        try:
            keys[keyid].verify_signature(sig, payload)
        except Exception:  # noqa: BLE001 - any failure to verify is the same verdict
            return False
        return True

    return keyids.role_verdict(f"{name} v{md.signed.version}", threshold, keyids_, keys,
                               signed_by, key_name, keyids.tuf_keyid_rule)


def describe(mds: Mapping[str, Metadata[Targets]], root_targets: tuple[list[str], int],
             keys: Mapping[str, Key]) -> list[str]:
    """Every offline role in words: keys by keyholder, threshold, paths, absolute UTC expiry,
    and each target file with its length and digest."""
    lines: list[str] = []
    targets = mds[TARGETS].signed
    for name, md in mds.items():
        ids, threshold, role_keys = delegator(name, root_targets, keys, targets)
        who = ", ".join(key_name(role_keys[k]) for k in ids)
        head = "targets" if name == TARGETS else f"delegated role {name}"
        lines.append(f"{head} version {md.signed.version}: {threshold} of {len(ids)} ({who}), "
                     f"expires {md.signed.expires:%Y-%m-%d %H:%M:%S} UTC")
        if name != TARGETS:
            assert targets.delegations is not None and targets.delegations.roles is not None
            d = targets.delegations.roles[name]
            scope = (f"paths {', '.join(d.paths)}" if d.paths is not None
                     else f"path hash prefixes {', '.join(d.path_hash_prefixes or [])}")
            lines.append(f"  {scope}; {'terminating' if d.terminating else 'not terminating'}")
        for path, tf in sorted(md.signed.targets.items()):
            lines.append(f"  target {path}: {tf.length} bytes, sha256 {tf.hashes['sha256']}")
    return lines


def to_bytes(md: Metadata[Targets]) -> bytes:
    """The file form (pretty JSON, as python-tuf writes it)."""
    return md.to_bytes(JSONSerializer(compact=False))


def file_name(name: str, version: int, consistent: bool) -> str:
    """The metadata file name clients fetch (``VERSION.ROLE.json`` with consistent
    snapshots, the TUF specification's rule; ``ROLE.json`` without)."""
    return f"{version}.{name}.json" if consistent else f"{name}.json"


def target_file_name(path: str, sha256: str, consistent: bool) -> str:
    """Where a target file is served under ``targets/``: ``DIR/HASH.NAME`` with consistent
    snapshots (the hash prefixes the base name, as clients ask for it)."""
    if not consistent:
        return path
    head, _, base = path.rpartition("/")
    return f"{head}/{sha256}.{base}" if head else f"{sha256}.{base}"


def check_targets_unchanged(plan: Plan, plan_dir: Path,
                            mds: Mapping[str, Metadata[Targets]]) -> dict[str, bytes]:
    """Re-read every target file and compare it with what the draft listed; the bytes by
    target path.

    Raises:
        VerificationError: a target file is missing or changed between draft and publish.
    """
    out: dict[str, bytes] = {}
    for role in plan.offline:
        listed = mds[role.name].signed.targets
        for target in role.targets:
            data = read_target(plan_dir, role, target, error=VerificationError)
            tf = listed[target]
            digest = hashlib.sha256(data).hexdigest()
            if len(data) != tf.length or digest != tf.hashes.get("sha256"):
                raise VerificationError(
                    f"target file {target} changed between draft and publish: the draft lists "
                    f"{tf.length} bytes, sha256 {tf.hashes.get('sha256', '')[:16]}..., the file "
                    f"now has {len(data)} bytes, sha256 {digest[:16]}...",
                    hint="nothing was published; restore the file, or start a new workspace "
                         "to sign the new one")
            out[target] = data
    return out
