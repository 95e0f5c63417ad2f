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
from tuf.api.serialization import DeserializationError
from tuf.api.serialization.json import JSONSerializer

from ceremony import keyids
from ceremony.errors import PlanError, VerificationError
from ceremony.formats.base import RoleVerdict, is_root_file
from ceremony.formats.tuf import expiry, key_name, keyholder_of, refuse_unknown_role_signatures, signed_by
from ceremony.inputs import read_input_file
from ceremony.plan import OfflineRole, Plan, target_name_problem

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
          versions: Mapping[str, int] | None = None,
          held_elsewhere: Mapping[str, list[Key]] | None = None) -> dict[str, Metadata[Targets]]:
    """``targets`` (with its delegations) and every delegated role, unsigned.

    ``keys_of`` maps each keyholder of an offline role to their key (the one they sign
    root with, when they hold a root key); ``versions`` the version of each role (1 when
    absent); ``held_elsewhere`` the keys of each delegation this ceremony lists but does not
    sign (the plan's ``keys``): no metadata is made for those.

    Raises:
        PlanError: a target file is missing; a role would list one key twice.
    """
    versions = versions or {}
    out: dict[str, Metadata[Targets]] = {}
    delegated = [r for r in plan.offline if r.delegated]
    held_elsewhere = held_elsewhere or {}
    for role in (r for r in plan.offline if r.signed_here):
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
            for key in [keys_of[k] for k in role.keyholders] + list(held_elsewhere.get(role.name, [])):
                dkeys[key.keyid] = key
                ids.append(key.keyid)
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
    return keyids.role_verdict(f"{name} v{md.signed.version}", threshold, keyids_, keys,
                               signed_by(md.signatures, md.signed_bytes, keys), key_name,
                               keyids.tuf_keyid_rule)


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
    for name, d in (targets.delegations.roles or {}).items() if targets.delegations else ():
        if name in mds:
            continue
        assert targets.delegations is not None
        who = ", ".join(f"key {k[:12]}" for k in d.keyids)
        scope = (f"paths {', '.join(d.paths)}" if d.paths is not None
                 else f"path hash prefixes {', '.join(d.path_hash_prefixes or [])}")
        lines.append(f"delegated role {name} (keys held elsewhere, not signed here): "
                     f"{d.threshold} of {len(d.keyids)} ({who})")
        lines.append(f"  {scope}; {'terminating' if d.terminating else 'not terminating'}")
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
    for role in (r for r in plan.offline if r.signed_here):
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


def verify_tree(root: Metadata[Any], directory: Path, consistent: bool) -> list[str]:
    """Walk the published delegation tree in ``directory`` as a client does, with python-tuf's
    ``verify_delegate``: root -> targets -> each delegated role, every target file's length
    and hash checked. Returns one line per role verified.

    Raises:
        VerificationError: a role file is missing, below its delegator's threshold, or a
            target file does not match what its role lists.
    """
    from tuf.api.exceptions import LengthOrHashMismatchError, UnsignedMetadataError  # lazy: rehearse only

    def load(name: str, version: int | None) -> Metadata[Targets]:
        fname = file_name(name, version or 1, consistent) if consistent else f"{name}.json"
        try:
            md = Metadata[Targets].from_bytes((directory / "metadata" / fname).read_bytes())
        except (OSError, ValueError) as e:
            raise VerificationError(f"metadata/{fname} cannot be read as targets metadata: "
                                    f"{e}") from None
        return md

    def check(delegator: Metadata[Any], name: str, md: Metadata[Targets]) -> None:
        try:
            delegator.verify_delegate(name, md)
        except UnsignedMetadataError as e:
            raise VerificationError(f"{name} does not verify against its delegator: {e}") from None
        refuse_unknown_role_signatures(delegator.signed, name, md, f"{name}.json")
        for path, tf in md.signed.targets.items():
            served = target_file_name(path, tf.hashes["sha256"], consistent)
            try:
                with (directory / "targets" / served).open("rb") as f:
                    tf.verify_length_and_hashes(f)
            except (OSError, LengthOrHashMismatchError) as e:
                raise VerificationError(f"target {path} of {name} does not verify: {e}") from None

    top = load(TARGETS, None)
    check(root, TARGETS, top)
    lines = [f"targets v{top.signed.version}: signed at threshold, "
             f"{len(top.signed.targets)} target file(s) verified"]
    delegations = top.signed.delegations
    for name in (delegations.roles or {}) if delegations else {}:
        md = load(name, None)
        check(top, name, md)
        lines.append(f"{name} v{md.signed.version}: signed at threshold, "
                     f"{len(md.signed.targets)} target file(s) verified")
    return lines


def _newest(folder: Path, name: str) -> Path | None:
    """The newest ``N.NAME.json`` in ``folder``, else ``NAME.json``, else None."""
    numbered = [(int(p.name.split(".", 1)[0]), p) for p in folder.glob(f"*.{name}.json")
                if p.name.split(".", 1)[0].isdigit()]
    if numbered:
        return max(numbered)[1]
    plain = folder / f"{name}.json"
    return plain if plain.is_file() else None


def read_previous(directory: Path, root: Metadata[Any]) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The offline roles a repository being continued already publishes (``targets`` and the
    roles it delegates to), each verified against its delegator as a client would
    (``verify_delegate``: root for targets, targets for a delegated role).

    Returns what ``init`` journals of them (role -> version, file, sha256) and the bytes to
    copy into the workspace's ``previous/`` (file name -> bytes); empty when the folder holds
    no targets metadata.

    Raises:
        VerificationError: a role file is not targets metadata or does not verify.
    """
    from tuf.api.exceptions import UnsignedMetadataError  # lazy: init --previous only
    folder = Path(directory)
    if (folder / "journal.jsonl").is_file() and (folder / "metadata").is_dir():
        folder = folder / "metadata"  # a workspace named itself: what it published
    info: dict[str, Any] = {}
    files: dict[str, bytes] = {}

    def take(name: str, delegator: Metadata[Any]) -> Metadata[Targets] | None:
        path = _newest(folder, name)
        if path is None:
            if name == TARGETS:
                return None
            raise VerificationError(f"the previous targets delegates to {name!r}, but "
                                    f"{folder} holds no {name}.json to continue it")
        data = read_input_file(path, MAX_TARGET_FILE, "previous metadata", error=VerificationError)
        md = _parse_role(data, str(path))
        try:
            delegator.verify_delegate(name, md)
        except UnsignedMetadataError as e:
            raise VerificationError(f"{path} does not verify against its delegator: {e}") from None
        refuse_unknown_role_signatures(delegator.signed, name, md, str(path))
        info[name] = {"version": md.signed.version, "file": path.name,
                      "sha256": hashlib.sha256(data).hexdigest()}
        files[path.name] = data
        return md

    top = take(TARGETS, root)
    if top is not None and top.signed.delegations and top.signed.delegations.roles:
        for name in top.signed.delegations.roles:
            take(name, top)
    return info, files


def _parse_role(data: bytes, what: str) -> Metadata[Targets]:
    """Targets metadata read from ``what`` (python-tuf's parser); one key id's signature
    listed twice is named (python-tuf refuses it with less to go on).

    Raises:
        VerificationError: not targets metadata, or a signature entry repeated.
    """
    try:
        return Metadata[Targets].from_bytes(data)
    except (DeserializationError, ValueError, TypeError, KeyError) as e:
        repeated = keyids.repeated_signatures(data)
        raise VerificationError(f"{what} {repeated}" if repeated
                                else f"{what} is not targets metadata: {e}") from None


def load_previous(folder: Path, info: Mapping[str, Any]) -> dict[str, Metadata[Targets]]:
    """The previous roles copied in at ``init``, re-checked against their journaled digests.

    Raises:
        VerificationError: a copy was changed after init.
    """
    out: dict[str, Metadata[Targets]] = {}
    for name, entry in info.items():
        path = folder / str(entry["file"])
        data = read_input_file(path, MAX_TARGET_FILE, "previous metadata", error=VerificationError)
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise VerificationError(f"{path} was changed after the ceremony started")
        out[name] = Metadata[Targets].from_bytes(data)
    return out


def _role_shape(name: str, mds: Mapping[str, Metadata[Targets]],
                root_targets: tuple[list[str], int, Mapping[str, Key]]) -> dict[str, Any] | None:
    """What the diff compares of one role: who signs it, its threshold, scope, targets.

    A delegation to keys held elsewhere has no metadata here (its holders sign it): its
    shape is what targets says of it, and its target files are ``None`` (not known here)."""
    top_md = mds.get(TARGETS)
    delegated = top_md.signed.delegations.roles if top_md is not None and \
        top_md.signed.delegations is not None else None
    if name not in mds and (name == TARGETS or not delegated or name not in delegated):
        return None
    if name == TARGETS:
        ids, threshold, keys = root_targets
        scope: Any = None
    else:
        top = mds[TARGETS].signed
        assert top.delegations is not None and top.delegations.roles is not None
        d = top.delegations.roles[name]
        ids, threshold, keys = d.keyids, d.threshold, top.delegations.keys
        scope = (tuple(d.paths or ()), tuple(d.path_hash_prefixes or ()), d.terminating)
    return {"keys": {keyids.public_identity(keys[k]): key_name(keys[k]) for k in ids if k in keys},
            "threshold": threshold, "scope": scope,
            "targets": {p: tf.hashes.get("sha256") for p, tf in mds[name].signed.targets.items()}
            if name in mds else None,
            "elsewhere": name != TARGETS and all(keyholder_of(keys[k]) is None for k in ids if k in keys)}


def _delegation_names(mds: Mapping[str, Metadata[Targets]]) -> list[str]:
    """The roles signed here, then every delegation targets lists (those held elsewhere too)."""
    top = mds.get(TARGETS)
    listed = (top.signed.delegations.roles or {}) if top is not None and \
        top.signed.delegations is not None else {}
    return [*mds, *listed]


def diff(old: Mapping[str, Metadata[Targets]], old_top: tuple[list[str], int, Mapping[str, Key]],
         new: Mapping[str, Metadata[Targets]],
         new_top: tuple[list[str], int, Mapping[str, Key]]) -> list[str]:
    """What changes in the offline roles from the previous repository to the draft, in words:
    a delegation added or removed, its keys (by keyholder), threshold, paths or terminating
    flag changed, target files added, removed or changed."""
    out: list[str] = []
    for name in list(dict.fromkeys([*_delegation_names(new), *_delegation_names(old)])):
        o, n = _role_shape(name, old, old_top), _role_shape(name, new, new_top)
        label = "targets" if name == TARGETS else f"delegation {name}"
        if (n or o or {}).get("elsewhere"):
            label += " (keys held elsewhere)"
        if o is None and n is not None:
            out.append(f"{label}: + added ({n['threshold']} of {', '.join(n['keys'].values())})")
            continue
        if n is None and o is not None:
            out.append(f"{label}: - removed")
            continue
        assert o is not None and n is not None
        def of(who: str) -> str:  # "key of alice", or a key held elsewhere: "key 1a2b3c4d5e6f"
            return who if who.startswith("key ") else f"key of {who}"
        for ident, who in n["keys"].items():
            if ident not in o["keys"]:
                out.append(f"{label}: + add {of(who)}")
        for ident, who in o["keys"].items():
            if ident not in n["keys"]:
                out.append(f"{label}: - remove {of(who)}")
        if o["threshold"] != n["threshold"]:
            out.append(f"{label}: threshold {o['threshold']} -> {n['threshold']}")
        if o["scope"] != n["scope"]:
            def words(scope: Any) -> str:
                paths, prefixes, terminating = scope
                what = ", ".join(paths) if paths else "hash prefixes " + ", ".join(prefixes)
                return what + (" (terminating)" if terminating else "")
            out.append(f"{label}: paths {words(o['scope'])} -> {words(n['scope'])}")
        if n["targets"] is None or o["targets"] is None:  # signed elsewhere: its files are not ours
            continue
        for path in sorted(set(n["targets"]) | set(o["targets"])):
            before, after = o["targets"].get(path), n["targets"].get(path)
            if before is None:
                out.append(f"{label}: + target {path}")
            elif after is None:
                out.append(f"{label}: - target {path}")
            elif before != after:
                out.append(f"{label}: target {path} changed (sha256 {after[:16]}...)")
    return out


#: How a target file is named in a bundle (bundles carry plain names only): ``target+`` and
#: its target path with ``+`` for ``/`` (``doi/policy.json`` -> ``target+doi+policy.json``).
TARGET_IN_BUNDLE = "target+"


def bundle_target_name(path: str) -> str:
    """The plain name target ``path`` travels under in an export bundle (the plan check
    refuses such a path first, by the same rule: :func:`ceremony.plan.target_name_problem`).

    Raises:
        VerificationError: a path component a bundle cannot name (``+``, spaces, a leading
            dot...), or too long a path: nothing is exported.
    """
    problem = target_name_problem(path)
    if problem is not None:
        raise VerificationError(f"target {path} cannot travel in a bundle: {problem}; nothing was "
                                "exported",
                                hint="copy the workspace's targets/ folder by hand for this repository")
    return TARGET_IN_BUNDLE + "+".join(path.split("/"))


def target_path_of(served: str, sha256: str) -> str:
    """The target path of a file published as ``targets/SERVED`` (its content hashing to
    ``sha256``): the hash prefix consistent snapshots give the base name removed."""
    head, _, base = served.rpartition("/")
    base = base.removeprefix(f"{sha256}.")
    return f"{head}/{base}" if head else base


def check_bundle_targets(files: Mapping[str, bytes], roles: Mapping[str, Metadata[Targets]]) -> list[str]:
    """Each target file a bundle carries (``target+...``) against every verified role in the
    bundle that lists its path: length and sha256 as the role signed them. Returns the notes.

    Raises:
        VerificationError: a target file no role lists, or not what a role lists for it.
    """
    notes = []
    for name in sorted(n for n in files if n.startswith(TARGET_IN_BUNDLE)):
        data, path = files[name], name.removeprefix(TARGET_IN_BUNDLE).replace("+", "/")
        listing = [(r, md) for r, md in sorted(roles.items()) if path in md.signed.targets]
        if not listing:
            raise VerificationError(f"{name} in the bundle is target {path}, which no role in the "
                                    "bundle lists; nothing was written")
        digest = hashlib.sha256(data).hexdigest()
        for role, md in listing:
            tf = md.signed.targets[path]
            want = tf.hashes.get("sha256")
            if len(data) != tf.length or digest != want:
                raise VerificationError(
                    f"{name} in the bundle is not the target {path} that {role} "
                    f"v{md.signed.version} signed: {len(data)} bytes, sha256 {digest[:16]}..., "
                    f"where {role} lists {tf.length} bytes, sha256 {str(want)[:16]}...; nothing "
                    "was written")
        notes.append(f"{name}: target {path}, {len(data)} bytes, matches "
                     + ", ".join(f"{r} v{md.signed.version}" for r, md in listing))
    carried = {n.removeprefix(TARGET_IN_BUNDLE).replace("+", "/") for n in files
               if n.startswith(TARGET_IN_BUNDLE)}
    missing = sorted({p for md in roles.values() for p in md.signed.targets} - carried)
    if missing and carried:
        notes.append(f"not in the bundle: {', '.join(missing)} (listed by its roles)")
    return notes


def check_bundle(files: Mapping[str, bytes], root: Metadata[Any]) -> list[str]:
    """Verify the targets and delegated-role files a bundle carries beside its root chain
    (``N.targets.json``, ``N.ROLE.json``) before any is written: targets against ``root``,
    each delegated role against that targets. Root files and ``root.json`` are the chain's;
    anything else is refused, a ``ceremony-keys.json`` too (a notary collection's sidecar: a
    TUF root names its keyholders itself, and an unsigned file beside it would pass unread).

    Raises:
        VerificationError: a role file does not verify, has no delegator in the bundle, or a
            file is not metadata this tool publishes.
    """
    from tuf.api.exceptions import UnsignedMetadataError  # lazy: imports of role bundles only

    roles: dict[str, tuple[str, Metadata[Targets]]] = {}
    for name, data in files.items():
        head, _, rest = name.partition(".")
        if name == "ceremony-keys.json":
            raise VerificationError(f"{name} in the bundle is a notary collection's key sidecar: a "
                                    "TUF repository publishes none (its root names its "
                                    "keyholders); nothing was written")
        if is_root_file(name) or name == "root.json" or name.startswith(TARGET_IN_BUNDLE):
            continue  # the chain's
        if rest == "root.json":  # never walked, so never verified: refused, not carried along
            raise VerificationError(f"{name} in the bundle is named like a root version but no "
                                    "client fetches it (versions have no leading zero and start at "
                                    "1); nothing was written")
        role = rest.removesuffix(".json")
        if not root.signed.consistent_snapshot and rest == "json" and head:  # ROLE.json, unversioned
            head, role = "", head
        elif not (head.isdigit() and rest.endswith(".json") and role):
            raise VerificationError(f"{name} in the bundle is not metadata this tool publishes")
        md = _parse_role(data, f"{name} in the bundle")
        if role in roles:
            raise VerificationError(f"the bundle carries {role} twice ({roles[role][0]}, {name})")
        if head and md.signed.version != int(head):
            raise VerificationError(f"{name} in the bundle holds version {md.signed.version}")
        roles[role] = (name, md)
    if not roles:
        if any(n.startswith(TARGET_IN_BUNDLE) for n in files):
            raise VerificationError("the bundle carries target files without the targets metadata "
                                    "that lists them; nothing was written")
        return []
    if TARGETS not in roles:
        raise VerificationError(f"the bundle carries {', '.join(sorted(roles))} without targets, "
                                "which delegates to them")
    notes = []
    top = roles[TARGETS][1]
    for role, (name, md) in roles.items():
        delegator = root if role == TARGETS else top
        try:
            delegator.verify_delegate(role, md)
        except (UnsignedMetadataError, ValueError) as e:
            raise VerificationError(f"{name} in the bundle does not verify against "
                                    f"{'root' if role == TARGETS else 'targets'}: {e}") from None
        refuse_unknown_role_signatures(delegator.signed, role, md, f"{name} in the bundle")
        notes.append(f"{name}: {role} v{md.signed.version} verified against "
                     f"{'root' if role == TARGETS else 'targets'} ({len(md.signed.targets)} target(s))")
    return notes + check_bundle_targets(files, {r: md for r, (_n, md) in roles.items()})
