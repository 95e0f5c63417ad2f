"""The audit itself, from bytes: root chain, delegation tree, keys, attestations, findings.

Nothing here reads a file or prints: :mod:`ceremony.audit.folder` reads a metadata folder and
an attestation folder into a :class:`Source` and :class:`FolderAttestation` values, and the CLI
prints the :class:`Audit` this module returns. That keeps the verdict testable on bytes alone
and lets the benchmark time the walk without the disk.

What it checks, in order:

1. **The root chain**: the oldest root present is taken on trust (an auditor compares its
   fingerprint out of band: the report prints it), must be signed by its own threshold, and
   every later version must be signed by the previous root's threshold and its own, as a TUF
   client walks it (``ceremony.chain``'s counting: by distinct public key).
2. **The delegation tree**: ``targets`` verified against the newest root, then every
   delegated role reachable from it (explicit roles and succinct hash bins), each against its
   delegator's keys and threshold. A role already visited is not walked again (a cycle ends
   there); more than :data:`MAX_ROLES` roles or a chain deeper than :data:`MAX_DEPTH` is refused
   rather than walked (a repository cannot make the audit hang).
3. **Keys**: every key any role lists, by public key (one key under two ids is one key, and a
   finding). A key is *online* when an online role lists it (snapshot, timestamp, and any role
   the auditor names with ``--online-role``) or when it carries an online-URI field
   (``x-tuf-on-ci-online-uri`` or any ``x-...-online-uri``); every other key is *offline* and
   must be bound to a verified YubiKey attestation: its own ``x-ceremony-attestation`` field
   or one from the attestation folder.
4. **Findings**: an offline key without a verified attestation, an EC key on firmware below 5.7
   (Yubico YSA-2024-03), one public key under two ids, a key used by offline and online roles
   alike, a role expired or inside its warning window at the audit's instant, a delegated role
   whose metadata is absent.

What is not a finding but a refusal (``VerificationError``, exit 3): metadata that does not
parse or verify, a broken chain, and attestation-folder files that do not verify, attest no
key of the repository, or name another serial than the key records.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from tuf.api.metadata import Metadata, Root, Targets

from ceremony import keyids
from ceremony.attestation import stored_certificates
from ceremony.chain import check_self_signed
from ceremony.errors import UsageError, VerificationError
from ceremony.formats import tuf as tuf_format
from hsm.pem import PemError, certificates
from hsm.yubikey.attestation import TrustStore, verify_attestation

#: The most roles (delegated roles and hash bins together) the audit walks before refusing.
MAX_ROLES = 4096
#: The longest chain of delegations followed (python-tuf's ngclient visits at most 32 roles).
MAX_DEPTH = 32
#: Days before expiry an offline role is flagged when it names no signing period of its own.
DEFAULT_WARN_DAYS = 30
#: Roles online by definition (signed by a service, never at a ceremony).
ONLINE_ROLES = ("snapshot", "timestamp")
#: Owner fields, in the order they are read: ours, then tuf-on-ci's.
OWNER_FIELDS = ("x-ceremony-keyholder", "x-tuf-on-ci-keyowner")
SIGNING_PERIOD = "x-tuf-on-ci-signing-period"
#: Yubico YSA-2024-03: the ECDSA side channel in the Infineon library, fixed in 5.7.0.
YSA_FIXED = (5, 7, 0)
ANY_PIN = ("never", "once", "always", "match-once", "match-always")
ANY_TOUCH = ("never", "always", "cached")

#: Finding kinds, as ``--json`` spells them (stable).
NO_ATTESTATION = "no-attestation"
ATTESTATION_FAILED = "attestation-failed"
YSA_2024_03 = "ysa-2024-03"
DUPLICATE_KEY = "duplicate-key"
SHARED_ONLINE_OFFLINE = "shared-online-offline"
EXPIRED = "expired"
EXPIRING = "expiring"
MISSING_ROLE = "missing-role"


@dataclass(frozen=True)
class Source:
    """A repository's metadata as bytes: the root versions found (version -> (file name,
    bytes)), ``root.json`` if any, and ``fetch(role)`` for any other role's newest metadata
    (``(file name, bytes)`` or ``None`` when the repository has none)."""

    roots: Mapping[int, tuple[str, bytes]]
    root_json: bytes | None
    fetch: Callable[[str], tuple[str, bytes] | None]


@dataclass(frozen=True)
class FolderAttestation:
    """One key's archived attestation (``<serial>/Slot9CAttestation.pem`` and
    ``<serial>/SlotF9Intermediate.pem``) as bytes, named by its folder."""

    name: str
    slot_pem: bytes
    device_pem: bytes
    slot_file: str = "Slot9CAttestation.pem"
    device_file: str = "SlotF9Intermediate.pem"


@dataclass
class Finding:
    """One thing an auditor must look at."""

    kind: str
    subject: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "subject": self.subject, "message": self.message}


@dataclass
class RoleReport:
    """One role as walked: who delegates it, its keys and threshold, its expiry."""

    name: str
    delegator: str | None
    file: str | None
    version: int | None
    expires: dt.datetime | None
    threshold: int
    keyids: list[str]
    online: bool
    signed: list[str] = field(default_factory=list)
    paths: list[str] | None = None
    terminating: bool | None = None
    state: str = "verified"  # "verified", "missing"
    warn_period: dt.timedelta | None = None  # the role's own x-tuf-on-ci-signing-period

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "delegator": self.delegator, "file": self.file,
                "version": self.version, "expires": _iso(self.expires), "threshold": self.threshold,
                "keyids": self.keyids, "online": self.online, "signed": self.signed,
                "paths": self.paths, "terminating": self.terminating, "state": self.state}


@dataclass
class KeyReport:
    """One public key (however many ids it is listed under) and what binds it to a device."""

    keyids: list[str]
    keytype: str
    scheme: str
    roles: list[str]
    online: bool
    owner: str | None = None
    owner_field: str | None = None
    online_uri: str | None = None
    attestation: str = "none"  # "verified", "none", "failed", "not-needed"
    attestation_source: str | None = None
    serial: int | None = None
    firmware: str | None = None
    pin_policy: str | None = None
    touch_policy: str | None = None
    form_factor: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.owner or f"key {self.keyids[0][:12]}"

    def to_dict(self) -> dict[str, Any]:
        return {"keyids": self.keyids, "keytype": self.keytype, "scheme": self.scheme,
                "roles": self.roles, "online": self.online, "owner": self.owner,
                "owner_field": self.owner_field, "online_uri": self.online_uri,
                "attestation": self.attestation, "attestation_source": self.attestation_source,
                "serial": self.serial, "firmware": self.firmware, "pin_policy": self.pin_policy,
                "touch_policy": self.touch_policy, "form_factor": self.form_factor,
                "problems": self.problems}


@dataclass
class Audit:
    """The audit's verdict: the chain, the roles, the keys, the findings."""

    at: dt.datetime
    trust: str
    root_versions: list[int]
    trusted_root: str
    trusted_sha256: str
    roles: list[RoleReport]
    keys: list[KeyReport]
    findings: list[Finding]

    @property
    def passed(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` document (its keys are stable; see docs/ceremony-runbook.md)."""
        return {"passed": self.passed, "at": _iso(self.at), "trust": self.trust,
                "root_chain": {"versions": self.root_versions, "trusted": self.trusted_root,
                               "trusted_sha256": self.trusted_sha256},
                "roles": [r.to_dict() for r in self.roles],
                "keys": [k.to_dict() for k in self.keys],
                "findings": [f.to_dict() for f in self.findings]}


def _iso(t: dt.datetime | None) -> str | None:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t is not None else None


# ---- the walk ------------------------------------------------------------------------


def walk_root_chain(source: Source) -> tuple[Metadata[Root], list[int], str, bytes, list[str]]:
    """The newest root, every version walked, the trusted (oldest) root's name and bytes,
    and who signed the newest root (by its own keys).

    Raises:
        VerificationError: no root, a gap, a version not signed at threshold, a ``root.json``
            that is neither the newest version nor a newer one that verifies.
    """
    roots = dict(source.roots)
    served = 0  # the version root.json holds
    if source.root_json is not None:
        served = v = tuf_format.from_bytes(source.root_json, "root.json").signed.version
        if v in roots and roots[v][1] != source.root_json:
            raise VerificationError(f"root.json and {roots[v][0]} are both root v{v} but differ: "
                                    "one of them was changed after publishing")
        roots.setdefault(v, ("root.json", source.root_json))
    if not roots:
        raise VerificationError("the metadata folder holds no root metadata (root.json or "
                                "N.root.json, in the folder or its root_history/)")
    if source.root_json is not None and served < max(roots):
        raise VerificationError(f"root.json holds root v{served}, not the newest v{max(roots)}: "
                                f"a client fetching root.json lands on v{served}; it must be a "
                                "copy of the newest root")
    first = min(roots)
    name, data = roots[first]
    current = tuf_format.from_bytes(data, name)
    if current.signed.version != first:
        raise VerificationError(f"{name} holds root version {current.signed.version}, not {first}")
    signed = list(check_self_signed(current, name).new.signed)
    versions = [first]
    for v in range(first + 1, max(roots) + 1):
        if v not in roots:
            raise VerificationError(f"root version {v} is missing, but {roots[max(roots)][0]} "
                                    "exists: the chain has a gap")
        vname, vdata = roots[v]
        md = tuf_format.from_bytes(vdata, vname)
        if md.signed.version != v:
            raise VerificationError(f"{vname} holds root version {md.signed.version}, not {v}")
        st = tuf_format.status(md, current.signed, vname)
        if not st.verified:
            failing = [x.describe() for x in (st.old, st.new) if x is not None and not x.met]
            raise VerificationError(f"{vname} is not signed at threshold: " + "; ".join(failing))
        current, signed = md, list(st.new.signed)
        versions.append(v)
    return current, versions, name, data, signed


def _load(fetched: tuple[str, bytes], role: str) -> Metadata[Any]:
    name, data = fetched
    try:
        md = Metadata.from_bytes(data)
    except Exception as e:  # noqa: BLE001 - python-tuf raises many types for one verdict
        repeated = keyids.repeated_signatures(data)  # named, where python-tuf says "deserialize"
        raise VerificationError(f"{name} {repeated}" if repeated
                                else f"{name} is not valid TUF metadata: {e}") from None
    expected = role if role in ("snapshot", "timestamp") else Targets.type
    if md.signed.type != expected:
        raise VerificationError(f"{name} is {md.signed.type} metadata, but role {role} is {expected}")
    return md


def _verdict(label: str, threshold: int, ids: list[str], keys: Mapping[str, Any],
             md: Metadata[Any]) -> Any:
    return keyids.role_verdict(label, threshold, ids, keys,
                               tuf_format.signed_by(md.signatures, md.signed_bytes, keys),
                               lambda k: _owner(k)[0] or f"key {k.keyid[:12]}")


@dataclass
class _Walk:
    """What the tree walk gathers: roles in walk order, and every key with where it is listed."""

    roles: list[RoleReport] = field(default_factory=list)
    listings: list[tuple[str, str, Any]] = field(default_factory=list)  # (role, keyid, key)
    missing: list[str] = field(default_factory=list)
    count: int = 0


def _top_role(walk: _Walk, root: Root, role: str, source: Source, online: bool) -> Metadata[Any] | None:
    r = root.roles[role]
    report = RoleReport(role, "root", None, None, None, r.threshold, list(r.keyids), online)
    walk.roles.append(report)
    walk.listings += [(role, k, root.keys[k]) for k in r.keyids if k in root.keys]
    fetched = source.fetch(role)
    if fetched is None:
        report.state = "missing"
        return None
    md = _load(fetched, role)
    verdict = _verdict(role, r.threshold, list(r.keyids), root.keys, md)
    if not verdict.met:
        raise VerificationError(f"{fetched[0]} is not signed at threshold by the keys root "
                                f"v{root.version} gives {role}: {verdict.describe()}")
    tuf_format.refuse_unknown_role_signatures(root, role, md, fetched[0])
    report.file, report.version, report.expires = fetched[0], md.signed.version, md.signed.expires
    report.warn_period = _signing_period(md.signed)
    report.signed = list(verdict.signed)
    return md


def _children(targets: Targets) -> Iterable[tuple[str, list[str], int, list[str] | None, bool]]:
    """(name, keyids, threshold, paths or hash prefixes, terminating) of each delegated role."""
    d = targets.delegations
    if d is None:
        return
    if d.roles is not None:
        for r in d.roles.values():
            yield r.name, list(r.keyids), r.threshold, (r.paths or r.path_hash_prefixes), r.terminating
    elif d.succinct_roles is not None:
        s = d.succinct_roles
        for name in s.get_roles():
            yield name, list(s.keyids), s.threshold, None, True


def _delegation_count(targets: Targets) -> int:
    d = targets.delegations
    if d is None:
        return 0
    if d.roles is not None:
        return len(d.roles)
    if d.succinct_roles is not None:
        return int(2 ** d.succinct_roles.bit_length)
    return 0


def walk_tree(walk: _Walk, top: Metadata[Targets], source: Source, online_roles: set[str]) -> None:
    """Every delegated role reachable from ``top``, breadth first, each verified by its delegator.

    Raises:
        VerificationError: a role's metadata does not parse or verify, or the tree is larger
            than :data:`MAX_ROLES` or deeper than :data:`MAX_DEPTH`.
    """
    queue: list[tuple[str, Metadata[Targets], int]] = [("targets", top, 1)]
    seen = {"targets", "root", *ONLINE_ROLES}
    while queue:
        parent, md, depth = queue.pop(0)
        n = _delegation_count(md.signed)
        walk.count += n
        if walk.count > MAX_ROLES:
            raise VerificationError(f"role {parent} delegates to {n} roles, which brings the tree "
                                    f"past {MAX_ROLES} roles: more than the audit walks",
                                    hint="audit a repository of at most that many roles")
        keys = md.signed.delegations.keys if md.signed.delegations else {}
        for name, ids, threshold, paths, terminating in _children(md.signed):
            walk.listings += [(name, k, keys[k]) for k in ids if k in keys]
            if name in seen:
                continue  # a cycle, or a role two delegators share: walked once
            seen.add(name)
            report = RoleReport(name, parent, None, None, None, threshold, ids, name in online_roles,
                                paths=list(paths) if paths is not None else None,
                                terminating=terminating)
            walk.roles.append(report)
            fetched = source.fetch(name)
            if fetched is None:
                report.state = "missing"
                walk.missing.append(name)
                continue
            child = _load(fetched, name)
            verdict = _verdict(name, threshold, ids, keys, child)
            if not verdict.met:
                raise VerificationError(f"{fetched[0]} is not signed at threshold by the keys "
                                        f"{parent} delegates to {name}: {verdict.describe()}")
            keyids.refuse_unknown_signatures(child.signatures, ids, fetched[0],
                                             f"the {name} role as {parent} lists it")
            report.file, report.version = fetched[0], child.signed.version
            report.expires, report.signed = child.signed.expires, list(verdict.signed)
            report.warn_period = _signing_period(child.signed)
            if _delegation_count(child.signed):
                if depth + 1 > MAX_DEPTH:
                    raise VerificationError(f"role {name} delegates further at depth {depth + 1}: "
                                            f"deeper than the {MAX_DEPTH} levels the audit follows")
                queue.append((name, child, depth + 1))


# ---- keys ----------------------------------------------------------------------------


def _owner(key: Any) -> tuple[str | None, str | None]:
    for f in OWNER_FIELDS:
        value = key.unrecognized_fields.get(f)
        if isinstance(value, str) and value:
            return value, f
    return None, None


def _online_uri(key: Any) -> str | None:
    for name, value in key.unrecognized_fields.items():
        if name.startswith("x-") and name.endswith("online-uri") and isinstance(value, str):
            return value
    return None


def _spki(public_key: Any) -> bytes:
    return bytes(public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


def _recorded_serial(key: Any) -> int | None:
    text = key.unrecognized_fields.get(tuf_format.X_TOKEN_SERIAL)
    return int(text) if isinstance(text, str) and text.isdigit() else None


def _fw(firmware: tuple[int, int, int] | None) -> str | None:
    return ".".join(map(str, firmware)) if firmware else None


def _apply(report: KeyReport, verdict: Any, source: str) -> None:
    report.attestation_source = source
    report.serial, report.firmware = verdict.serial, _fw(verdict.firmware)
    report.pin_policy, report.touch_policy = verdict.pin_policy, verdict.touch_policy
    report.form_factor = verdict.form_factor


def _embedded(report: KeyReport, key: Any, trust: TrustStore, at: dt.datetime) -> bool:
    """Check a key's own ``x-ceremony-attestation``; True when it has one (good or bad)."""
    stored = key.unrecognized_fields.get(tuf_format.X_ATTESTATION)
    if stored is None:
        return False
    try:
        slot, device = stored_certificates(stored)
    except ValueError as e:
        report.attestation = "failed"
        report.problems.append(f"its x-ceremony-attestation is malformed: {e}")
        return True
    verdict = verify_attestation(slot, device, trust, expected_serial=_recorded_serial(key),
                                 allowed_pin_policies=ANY_PIN, allowed_touch_policies=ANY_TOUCH,
                                 now=at)
    problems = list(verdict.problems)
    try:
        if _spki(verdict.public_key) != keyids.public_identity(key):
            problems.append("the attestation is for another key than this one")
    except (ValueError, TypeError) as e:
        problems.append(f"the key cannot be compared with its attestation: {e}")
    _apply(report, verdict, tuf_format.X_ATTESTATION)
    report.attestation = "failed" if problems else "verified"
    report.problems += problems
    return True


def _bind_folder(reports: dict[bytes, KeyReport], keys_by_identity: dict[bytes, Any],
                 attestations: Iterable[FolderAttestation], trust: TrustStore,
                 at: dt.datetime) -> None:
    """Bind each archived attestation to the metadata key it attests.

    Raises:
        VerificationError: files that are not PEM certificates, a chain that does not verify,
            a key no metadata key is, or a serial other than the key's recorded one.
    """
    for att in attestations:
        parsed = []
        for file, data in ((att.slot_file, att.slot_pem), (att.device_file, att.device_pem)):
            try:
                certs = certificates(data)
            except PemError as e:
                raise VerificationError(f"attestation {att.name}: {file} {e}") from None
            if len(certs) != 1:
                raise VerificationError(f"attestation {att.name}: {file} holds {len(certs)} "
                                        "certificates, not one")
            parsed.append(certs[0])
        slot_certs, device_certs = parsed[:1], parsed[1:]
        folder_serial = int(att.name) if att.name.isdigit() else None
        verdict = verify_attestation(slot_certs[0], device_certs[0], trust,
                                     expected_serial=folder_serial, allowed_pin_policies=ANY_PIN,
                                     allowed_touch_policies=ANY_TOUCH, now=at)
        if verdict.problems:
            raise VerificationError(f"attestation {att.name} does not verify: "
                                    + "; ".join(verdict.problems),
                                    hint="nothing was written; an attestation that does not "
                                         "chain to the trusted roots binds no key")
        identity = _spki(verdict.public_key)
        report = reports.get(identity)
        if report is None:
            raise VerificationError(f"attestation {att.name} (YubiKey {verdict.serial}) attests a "
                                    "key that no role of this repository lists",
                                    hint="an attestation from another ceremony or another "
                                         "repository: remove it from the folder, or audit its "
                                         "own repository")
        recorded = _recorded_serial(keys_by_identity[identity])
        if recorded is not None and recorded != verdict.serial:
            raise VerificationError(f"attestation {att.name} names YubiKey {verdict.serial}, but "
                                    f"{report.name}'s key records YubiKey {recorded}",
                                    hint="the key and the attestation disagree about the device: "
                                         "find out which is right before trusting either")
        if report.attestation == "verified" and report.serial != verdict.serial:
            raise VerificationError(f"attestation {att.name} names YubiKey {verdict.serial}, but "
                                    f"{report.name}'s own attestation names YubiKey {report.serial}")
        if report.attestation != "verified":
            report.attestation, report.problems = "verified", []
            _apply(report, verdict, f"folder {att.name}")


def _key_reports(walk: _Walk, online_roles: set[str], trust: TrustStore,
                 folder: Iterable[FolderAttestation], at: dt.datetime) -> list[KeyReport]:
    reports: dict[bytes, KeyReport] = {}
    keys_by_identity: dict[bytes, Any] = {}
    for role, keyid, key in walk.listings:
        identity = keyids.public_identity(key)
        report = reports.get(identity)
        if report is None:
            owner, owner_field = _owner(key)
            report = reports[identity] = KeyReport([], key.keytype, key.scheme, [], False, owner,
                                                   owner_field, _online_uri(key))
            keys_by_identity[identity] = key
        if keyid not in report.keyids:
            report.keyids.append(keyid)
        if role not in report.roles:
            report.roles.append(role)
        if role in online_roles:
            report.online = True
        if report.online_uri is None and _online_uri(key):
            report.online_uri = _online_uri(key)
        if report.owner is None:
            report.owner, report.owner_field = _owner(key)
        if tuf_format.X_ATTESTATION in key.unrecognized_fields:
            keys_by_identity[identity] = key
    for identity, report in reports.items():
        report.online = report.online or report.online_uri is not None
        _embedded(report, keys_by_identity[identity], trust, at)
    _bind_folder(reports, keys_by_identity, folder, trust, at)
    for report in reports.values():
        if report.online and report.attestation == "none":
            report.attestation = "not-needed"
    return list(reports.values())


# ---- findings ------------------------------------------------------------------------


def listing(names: list[str], most: int = 6) -> str:
    """Names joined, the tail counted when there are many (hash bins)."""
    if len(names) <= most:
        return ", ".join(names)
    return ", ".join(names[:most]) + f" and {len(names) - most} more"


def _findings(roles: list[RoleReport], keys: list[KeyReport], online_roles: set[str],
              at: dt.datetime, warn: dt.timedelta) -> list[Finding]:
    out: list[Finding] = []
    for k in keys:
        subject = f"{k.name} ({listing(k.roles)})"
        offline_roles = [r for r in k.roles if r not in online_roles]
        if not k.online and k.attestation == "none":
            out.append(Finding(NO_ATTESTATION, k.keyids[0],
                               f"{subject}: offline key without a YubiKey attestation"))
        if k.attestation == "failed":
            out.append(Finding(ATTESTATION_FAILED, k.keyids[0],
                               f"{subject}: its attestation does not verify: {'; '.join(k.problems)}"))
        if (k.attestation == "verified" and k.keytype.startswith("ecdsa") and k.firmware
                and tuple(int(x) for x in k.firmware.split(".")) < YSA_FIXED):
            out.append(Finding(YSA_2024_03, k.keyids[0],
                               f"{subject}: EC key on YubiKey {k.serial} firmware {k.firmware}, "
                               "affected by Yubico YSA-2024-03 (below 5.7)"))
        if len(k.keyids) > 1:
            out.append(Finding(DUPLICATE_KEY, k.keyids[0],
                               f"{subject}: one public key listed under {len(k.keyids)} ids "
                               f"({', '.join(i[:12] for i in k.keyids)})"))
        if k.online and offline_roles:
            why = "an online role lists it" if set(k.roles) & online_roles else "it names an online URI"
            out.append(Finding(SHARED_ONLINE_OFFLINE, k.keyids[0],
                               f"{subject}: a key of offline role(s) {', '.join(offline_roles)} "
                               f"is online ({why})"))
    for r in roles:
        if r.state == "missing":
            if r.delegator != "root":
                out.append(Finding(MISSING_ROLE, r.name, f"role {r.name} (delegated by "
                                   f"{r.delegator}) has no metadata in the folder"))
            continue
        if r.expires is None:
            continue
        when = f"{r.expires:%Y-%m-%d %H:%M:%S} UTC"
        if r.expires <= at:
            out.append(Finding(EXPIRED, r.name, f"role {r.name} (v{r.version}) expired at {when}"))
        elif not r.online and r.expires - at <= (r.warn_period or warn):
            days = (r.expires - at).days
            out.append(Finding(EXPIRING, r.name, f"role {r.name} (v{r.version}) expires at {when}, "
                               f"in {days} day{'s' if days != 1 else ''}: inside its warning window"))
    return out


def _signing_period(signed: Any) -> dt.timedelta | None:
    value = signed.unrecognized_fields.get(SIGNING_PERIOD)
    return dt.timedelta(days=value) if isinstance(value, int) and 0 <= value < 100000 else None


def audit(source: Source, trust: TrustStore, *, at: dt.datetime,
          attestations: Iterable[FolderAttestation] = (), online_roles: Iterable[str] = (),
          warn_days: int = DEFAULT_WARN_DAYS, trust_name: str | None = None) -> Audit:
    """Audit one repository's metadata (see the module docstring for what is checked).

    Raises:
        VerificationError: the metadata, the chain or an archived attestation does not verify
            (what the CLI reports as "could not verify", exit 3).
        UsageError: ``online_roles`` names a role the repository does not have.
    """
    online = set(ONLINE_ROLES) | set(online_roles)
    root_md, versions, trusted_name, trusted_bytes, root_signed = walk_root_chain(source)
    root = root_md.signed
    walk = _Walk()
    root_report = RoleReport("root", None, f"{versions[-1]}.root.json", root.version, root.expires,
                             root.roles["root"].threshold, list(root.roles["root"].keyids), False)
    walk.roles.append(root_report)
    walk.listings += [("root", k, root.keys[k]) for k in root.roles["root"].keyids if k in root.keys]
    root_report.warn_period, root_report.signed = _signing_period(root), root_signed
    top = None
    for role in ("targets", *ONLINE_ROLES):
        md = _top_role(walk, root, role, source, role in online)
        if role == "targets":
            top = md
    if top is not None:
        walk_tree(walk, top, source, online)
    unknown = sorted(set(online_roles) - {r.name for r in walk.roles})
    if unknown:
        raise UsageError(f"--online-role {unknown[0]}: the repository has no role {unknown[0]}",
                         hint="roles: " + listing([r.name for r in walk.roles], 12))
    keys = _key_reports(walk, online, trust, attestations, at)
    findings = _findings(walk.roles, keys, online, at, dt.timedelta(days=warn_days))
    return Audit(at, trust_name or trust.name, versions, trusted_name,
                 hashlib.sha256(trusted_bytes).hexdigest(), walk.roles, keys, findings)
