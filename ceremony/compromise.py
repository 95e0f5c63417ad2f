"""Emergency response: what a compromise means, written as a plan for review.

Given the current root and what was compromised (a key, a keyholder's key, or a
whole role), this works out which keys must go, whether the honest root keys
can still sign the rotation in band (the attacker must hold fewer than the old
threshold, and we must still reach it), which online keys must be replaced,
and what the online side must do. The result is an ordinary plan: the normal
``init --previous`` → draft → sign → publish path then carries it out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from tuf.api.metadata import Metadata, Root, Targets

from ceremony.chain import read_bounded
from ceremony.errors import PlanError, StateError, UsageError, VerificationError
from ceremony.formats import tuf as tuf_format
from ceremony.formats.tuf import refuse_unknown_role_signatures, role_verdict  # counts distinct keys, not ids
from ceremony.frozen import frozen
from ceremony.plan import ONLINE_ROLES, Plan, format_duration
from ceremony.workspace import atomic_write

if TYPE_CHECKING:  # a top import would be a cycle: ceremony.session imports this module
    from ceremony.formats.protocol import SignedRoot
    from ceremony.session import Session

EMERGENCY_ROOT_EXPIRY = timedelta(days=90)


@dataclass
class Assessment:
    """The consequences of a compromise, in words and as plan changes."""

    compromised_root: list[str]  # keyholder names
    replace_online: list[str]  # online roles whose keys must be replaced
    old_threshold: int
    honest_root: list[str]
    in_band: bool
    new_threshold: int
    lines: list[str] = field(default_factory=list)
    follow_up: list[str] = field(default_factory=list)
    # Key ids declared compromised (named keys, the named keyholders' root keys, a named
    # role's keys): written to the plan so the engine never signs with or keeps them.
    compromised_keyids: list[str] = field(default_factory=list)
    # Compromised delegation keys (key id -> delegated role names): not in root, so they
    # change no root; the online side re-signs targets without them.
    delegated: dict[str, list[str]] = field(default_factory=dict)
    # A plan signing targets and delegations offline (issue 15): the keyholders whose
    # compromised key the offline roles lose (not root's: those are ``compromised_root``).
    offline_holders: list[str] = field(default_factory=list)

    @property
    def needs_root_change(self) -> bool:
        """Whether a new root version is part of the response (else no plan is written); with
        offline roles, a new targets version signed offline is one too (it is drafted with
        the next root)."""
        return bool(self.compromised_root or self.replace_online or self.offline_holders)


@frozen
class Delegations:
    """Which keys a verified targets.json delegates to, and to which roles."""

    targets_version: int
    roles_by_key: dict[str, list[str]]
    holders: dict[str, str] = field(default_factory=dict)  # key id -> keyholder (x- fields)


MAX_TARGETS_FILE = 64 << 20  # a targets.json with a very large target list still fits


def read_targets(path: Path) -> bytes:
    """Read a targets.json given on the command line, bounded.

    Raises:
        VerificationError: missing, unreadable or oversize.
    """
    return read_bounded(path, MAX_TARGETS_FILE, f"larger than the {MAX_TARGETS_FILE >> 20} MiB this tool "
                        "reads as targets metadata")


def delegations_of(root: Root, data: bytes, source: str) -> Delegations:
    """Read the current targets.json and verify it with ``root``'s targets keys.

    Raises:
        VerificationError: not targets metadata, not signed by the root's targets keys, or
            also signed by a key root does not give targets.
    """
    try:
        md = Metadata.from_bytes(data)
    except Exception as e:  # noqa: BLE001 - any parse failure is the same verdict
        raise VerificationError(f"{source} is not TUF metadata: {e}") from None
    if not isinstance(md.signed, Targets):
        raise VerificationError(f"{source} is {md.signed.type} metadata, not targets")
    if not role_verdict("targets", root, Targets.type, md.signed_bytes, md.signatures).met:
        raise VerificationError(f"{source} is not signed by the targets key(s) of root v{root.version}: "
                                "it cannot say which keys are delegated")
    refuse_unknown_role_signatures(root, Targets.type, md, source)  # a stranger's signature too
    by_key: dict[str, list[str]] = {}
    d = md.signed.delegations
    if d is not None:
        for role in (d.roles or {}).values():
            for keyid in role.keyids:
                by_key.setdefault(keyid, []).append(role.name)
        if d.succinct_roles is not None:
            name = f"{d.succinct_roles.name_prefix}-* ({d.succinct_roles.number_of_bins} hash bins)"
            for keyid in d.succinct_roles.keyids:
                by_key.setdefault(keyid, []).append(name)
    return Delegations(md.signed.version, by_key)


def offline_delegations(c: Session) -> Delegations | None:
    """The delegations of the targets this workspace drafted and published offline (from its
    own journal), with each key's keyholder; None when the plan signs targets online."""
    d = c.state.draft
    if not c.plan.offline or d is None or not c.state.draft_published or not d.get("roles"):
        return None
    targets = Targets.from_dict(json.loads(json.dumps(d["roles"]["targets"]["signed"])))
    by_key: dict[str, list[str]] = {}
    holders: dict[str, str] = {}
    if targets.delegations is not None:
        for role in (targets.delegations.roles or {}).values():
            for keyid in role.keyids:
                by_key.setdefault(keyid, []).append(role.name)
                key = targets.delegations.keys.get(keyid)
                if key is not None and (name := tuf_format.keyholder_of(key)):
                    holders[keyid] = name
    return Delegations(targets.version, by_key, holders)


def current_root(c: Session) -> SignedRoot:
    """The root the compromise is measured against: the newest published, else the previous."""
    if c.state.published:
        return c.draft_metadata().signed
    prev = c.previous_root()
    if prev is None:
        raise StateError("nothing is published yet: there is no root to respond for",
                         hint="run compromise on the workspace that published the current root")
    return prev.signed


def assess(root: SignedRoot, plan: Plan, keys: list[str] | None = None,
           keyholders: list[str] | None = None, role: str | None = None,
           delegations: Delegations | None = None) -> Assessment:
    """Work out what to change for compromised keys, keyholders or a whole role.

    Raises:
        UsageError: nothing named, or a name matches nothing in the root.
    """
    keys, keyholders = keys or [], keyholders or []
    if not (keys or keyholders or role):
        raise UsageError("name what was compromised: --key, --keyholder or --role")
    root_ids = root.roles[Root.type].keyids
    holders = {k: tuf_format.keyholder_of(root.keys[k]) or k[:12] for k in root_ids}
    compromised: list[str] = []
    online: set[str] = set()
    declared: list[str] = []
    delegated: dict[str, list[str]] = {}
    by_key = delegations.roles_by_key if delegations else {}
    for key in keys:
        prefix = key.lower() if len(key) >= 8 else None
        matches = [k for k in root.keys if prefix and k.startswith(prefix)]
        in_targets = [k for k in by_key if prefix and k.startswith(prefix)]
        if not matches and len(in_targets) == 1:
            delegated[in_targets[0]] = by_key[in_targets[0]]
            continue
        if len(matches) != 1:
            raise UsageError(f"--key {key} matches {len(matches)} keys of root v{root.version}"
                             + (f" and {len(in_targets)} delegation keys" if delegations else "")
                             + "; give at least 8 hex digits of one key id",
                             hint=None if delegations else "a delegation key? give the current "
                             "targets.json with --targets FILE")
        keyid = matches[0]
        if keyid in by_key:
            delegated[keyid] = by_key[keyid]
        declared.append(keyid)
        if keyid in root_ids:
            compromised.append(holders[keyid])
        online |= {r for r in ONLINE_ROLES if keyid in root.roles[r].keyids}
    for keyholder in keyholders:
        if keyholder not in holders.values():
            raise UsageError(f"{keyholder} holds no root key in root v{root.version}")
        compromised.append(keyholder)
    if role is not None:
        if role not in (Root.type, *ONLINE_ROLES):
            raise UsageError(f"--role must be one of root, {', '.join(ONLINE_ROLES)}")
        if role == Root.type:
            compromised = list(holders.values())
        else:
            online.add(role)
        declared += root.roles[role].keyids
    compromised = list(dict.fromkeys(compromised))
    declared += [k for k in root_ids if holders[k] in compromised]
    if compromised:
        online |= set(ONLINE_ROLES)  # a root compromise taints every key root vouched for
    # Fast-forward recovery (TUF spec 5.3.11): a new snapshot key needs a new timestamp key too.
    if "snapshot" in online:
        online.add("timestamp")
    offline_targets = plan.offline_role("targets") is not None
    offline_holders: list[str] = []
    if offline_targets:  # targets is signed offline: its keys are keyholders', never replaced online
        online.discard("targets")
        names = delegations.holders if delegations else {}
        offline_holders = list(dict.fromkeys(
            [names[k] for k in delegated if k in names]
            + [h for k in declared if k in root.roles["targets"].keyids
               and (h := tuf_format.keyholder_of(root.keys[k]))]))
        offline_holders = [h for h in offline_holders if h not in compromised]
    old_t = root.roles[Root.type].threshold
    honest = [h for h in holders.values() if h not in compromised]
    in_band = len(compromised) < old_t and len(honest) >= old_t
    new_t = min(plan.root.threshold, max(1, len([k for k in plan.root.keyholders if k not in compromised])))
    a = Assessment(compromised, sorted(online, key=ONLINE_ROLES.index), old_t, honest, in_band, new_t,
                   compromised_keyids=list(dict.fromkeys(declared)), delegated=delegated,
                   offline_holders=offline_holders)
    a.lines.append(f"current root: v{root.version}, root threshold {old_t} of {len(root_ids)}")
    if compromised:
        a.lines.append("root keys to remove: " + ", ".join(compromised))
    if a.replace_online:
        a.lines.append("online keys to replace: " + ", ".join(a.replace_online))
    if compromised and in_band:
        a.lines.append(f"in band: {len(honest)} honest root keys ({', '.join(honest)}) can meet the "
                       f"previous threshold of {old_t}, and the attacker holds fewer than {old_t}; "
                       "clients follow the new root by themselves")
    elif compromised:
        a.lines.append(f"OUT OF BAND: the attacker holds {len(compromised)} root keys and/or the honest "
                       f"keys ({len(honest)}) cannot meet the previous threshold of {old_t}. "
                       "Clients cannot safely follow a rotation on their own: the new root must "
                       "reach every client directly (re-bootstrap them with it).")
    if new_t != plan.root.threshold:
        a.lines.append(f"root threshold lowered from {plan.root.threshold} to {new_t} so it can be met; "
                       "add keyholders in a follow-up ceremony to restore it")
    remaining = len([k for k in plan.root.keyholders if k not in compromised])
    if compromised and remaining and new_t >= remaining:
        a.lines.append(f"WARNING: the new root would be {new_t} of {remaining}: no margin - one lost "
                       "or broken token makes it unusable; add keyholders with new tokens to the "
                       "emergency plan before init if you can")
    targets_version = delegations.targets_version if delegations else 0
    if offline_targets and (delegated or offline_holders):
        names = delegations.holders if delegations else {}
        for keyid, roles in delegated.items():
            a.lines.append(f"delegation key {keyid[:12]} ({names.get(keyid, 'no keyholder named')}): "
                           f"delegated by targets v{targets_version} to {', '.join(roles)}")
        a.lines.append(f"targets v{targets_version + 1} is signed offline without the keys of "
                       f"{', '.join(offline_holders or compromised)}: the emergency plan leaves "
                       "them out of targets and every delegation, and the next ceremony drafts "
                       "it with the next root")
        delegated = {}
    for keyid, roles in delegated.items():
        a.lines.append(f"delegation key {keyid[:12]}: delegated by targets v{targets_version} "
                       f"to {', '.join(roles)}; root does not list it, so it changes no root")
        a.follow_up.append(f"re-sign targets.json with the targets key, removing key {keyid[:12]} from "
                           f"{', '.join(roles)} (add its replacement), then publish a new snapshot and "
                           "timestamp; roles delegated further down re-sign their own delegations")
    if delegated and "targets" not in online:
        a.follow_up.append("if the targets (tagging) key may have been exposed with it, also run "
                           "`ceremony compromise ... --role targets`")
    if not a.needs_root_change:
        a.lines.append("no new root is needed")
        return a
    a.lines.append(f"root expiry shortened to at most {EMERGENCY_ROOT_EXPIRY.days} days: "
                   "hold a regular ceremony soon")
    if "targets" in online:
        a.follow_up.append("re-sign targets.json with the NEW targets (tagging) key and publish it in "
                           "the same publication as the new root")
    if {"snapshot", "timestamp"} & online:
        a.follow_up.append("sign a new snapshot and timestamp with the new keys (version numbers "
                           "continue upward); clients drop their old ones when the keys change")
    if online:
        a.follow_up.append("destroy the compromised online keys once the new root is published")
    return a


def check_declared(plan: Plan, previous_keyids: set[str] | None, previous_version: int,
                   online: dict[str, list[str]]) -> None:
    """Check ``ceremony.compromised_keys`` against the previous root and the plan's online keys.

    Raises:
        PlanError: the field is used without a previous root, names a key the previous
            root does not have, or an online key of the plan is one declared compromised.
    """
    if not plan.compromised_keys:
        return
    if previous_keyids is None:
        raise PlanError("ceremony.compromised_keys only applies when continuing a repository (--previous)")
    for keyid in plan.compromised_keys:
        if keyid not in previous_keyids:
            raise PlanError(f"ceremony.compromised_keys: {keyid[:12]} is not a key of the previous "
                            f"root v{previous_version}")
    for role, keyids in online.items():
        for keyid in keyids:
            if keyid in plan.compromised_keys:
                raise PlanError(f"the plan's {role} key ({keyid[:12]}) is declared compromised "
                                "(ceremony.compromised_keys): the emergency needs a new one",
                                hint=f"generate a new {role} key and point roles.{role}.keys at it")


def describe_declared(c: Session) -> list[str]:
    """The plan's compromised keys in words ("alice's root key 1a2b3c4d5e6f", "targets key ...")."""
    prev = c.previous_root()
    if prev is None or not c.plan.compromised_keys:
        return []
    root = prev.signed
    out = []
    for keyid in c.plan.compromised_keys:
        roles = [r for r in root.roles if keyid in root.roles[r].keyids]
        holder = tuf_format.keyholder_of(root.keys[keyid])
        if "root" in roles:
            out.append((f"{holder}'s " if holder else "") + f"root key {keyid[:12]}")
        else:
            out.append(f"{' and '.join(roles) or 'a'} key {keyid[:12]}")
    return out


def _toml_str(s: str) -> str:
    return json.dumps(s)


def write_plan(c: Session, a: Assessment, out_dir: Path) -> Path:
    """Write the emergency plan (and the kept online keys) into ``out_dir`` for review.

    New online keys are expected at ``out_dir/new-online/<role>.pub.pem``.
    """
    plan: Plan = c.plan
    kept_dir = out_dir / "online-kept"
    lines = ["# EMERGENCY ROTATION PLAN - review before use", "#"]
    lines += [f"# {line}" for line in a.lines]
    lines += ["#", "# follow-up on the online side:"] + [f"#   - {f}" for f in a.follow_up]
    if a.replace_online:
        lines.append("# put the new online public keys at: " + ", ".join(
            f"new-online/{r}.pub.pem" for r in a.replace_online))
    lines += ["", "[ceremony]", f"name = {_toml_str(plan.name + '-emergency')}",
              f"format = {_toml_str(plan.format)}", f"repository = {_toml_str(plan.repository)}"]
    if plan.pkcs11_module:
        lines.append(f"pkcs11_module = {_toml_str(plan.pkcs11_module)}")
    if plan.rehearsal:
        lines.append("rehearsal = true")
    if a.compromised_root and not a.in_band:
        lines.append("out_of_band = true")
    if a.compromised_keyids:
        lines.append("# never used to sign, never kept: the keys declared compromised")
        lines.append("compromised_keys = [" + ", ".join(_toml_str(k) for k in a.compromised_keyids) + "]")
    lines.append("")
    for h in plan.keyholders:
        lines += ["[[keyholders]]", f"name = {_toml_str(h.name)}"]
        if h.token is not None:
            lines.append(f"token = {_toml_str(h.token)}")
        if h.serial is not None:
            lines.append(f"serial = {_toml_str(h.serial)}")
        if h.device != "pkcs11":
            lines.append(f"device = {_toml_str(h.device)}")
        if h.touch is not None:
            lines.append(f"touch = {_toml_str(h.touch)}")
        lines += [f"algorithm = {_toml_str(h.algorithm)}", ""]
    members = [k for k in plan.root.keyholders if k not in a.compromised_root]
    if not members:
        members = []
        lines.append("# every root keyholder is compromised: add new keyholders (with new tokens) here")
    expiry = min(plan.root.expires, EMERGENCY_ROOT_EXPIRY)
    lines += ["[roles.root]", "keyholders = [" + ", ".join(_toml_str(m) for m in members) + "]",
              f"threshold = {a.new_threshold}", f"expires = {_toml_str(format_duration(expiry))}", ""]
    online_keys = c.online_keys()
    for role in plan.online:
        if role.name in a.replace_online:
            paths = [f"new-online/{role.name}.pub.pem"]
        else:
            paths = []
            for i, k in enumerate(online_keys[role.name]):
                rel = f"online-kept/{role.name}-{i}.json"
                atomic_write(kept_dir / f"{role.name}-{i}.json",
                             json.dumps({"keyid": k.keyid, **k.to_dict()}, indent=1).encode())
                paths.append(rel)
        lines += [f"[roles.{role.name}]", "keys = [" + ", ".join(_toml_str(p) for p in paths) + "]",
                  f"threshold = {min(role.threshold, len(paths))}",
                  f"expires = {_toml_str(format_duration(role.expires))}", ""]
    lines += _offline_roles(c, a, out_dir)
    path = out_dir / "emergency-plan.toml"
    atomic_write(path, "\n".join(lines).encode(), exclusive=True)
    return path


def _offline_roles(c: Session, a: Assessment, out_dir: Path) -> list[str]:
    """The plan's offline roles (targets, delegations) without the compromised keyholders,
    their thresholds lowered so they can be met; the target files copied beside the plan
    (a plan names them relative to its own folder).

    Raises:
        WorkspaceError: a target file cannot be copied.
    """
    if not c.plan.offline:
        return []
    removed = set(a.compromised_root) | set(a.offline_holders)
    plan_dir = Path(str(c.state.init.get("plan_dir") or "."))
    lines: list[str] = []
    for role in c.plan.offline:
        members = [k for k in role.keyholders if k not in removed]
        lines += ["[roles.targets]"] if not role.delegated else \
            ["[[delegations]]", f"name = {_toml_str(role.name)}"]
        if role.key_paths:  # keys held elsewhere: their files travel beside the plan
            for rel in (k for k in role.key_paths if not Path(k).is_absolute()):
                atomic_write(out_dir / rel, read_bounded(plan_dir / rel, MAX_TARGETS_FILE,
                                                         "larger than any key file"))
            lines += ["keys = [" + ", ".join(_toml_str(k) for k in role.key_paths) + "]",
                      f"threshold = {role.threshold}",
                      f"expires = {_toml_str(format_duration(role.expires))}"]
        elif not members:
            lines.append(f"# every keyholder of {role.name} is compromised: add keyholders "
                         "(with new tokens) here")
        if not role.key_paths:
            lines += ["keyholders = [" + ", ".join(_toml_str(m) for m in members) + "]",
                      f"threshold = {min(role.threshold, max(1, len(members)))}",
                      f"expires = {_toml_str(format_duration(role.expires))}"]
        if role.paths is not None:
            lines.append("paths = [" + ", ".join(_toml_str(x) for x in role.paths) + "]")
        if role.path_hash_prefixes is not None:
            lines.append("path_hash_prefixes = ["
                         + ", ".join(_toml_str(x) for x in role.path_hash_prefixes) + "]")
        if role.terminating:
            lines.append("terminating = true")
        if role.targets:
            lines.append("targets = [" + ", ".join(_toml_str(t) for t in role.targets) + "]")
            for target in role.targets:
                atomic_write(out_dir / target, read_bounded(plan_dir / target, MAX_TARGETS_FILE,
                                                            "larger than any target file"))
        lines.append("")
    return lines
