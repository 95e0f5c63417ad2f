"""Notary v1 root metadata as the ceremony sees it: views, structure, drafting, thresholds.

Chains are in :mod:`ceremony.formats.notary_chain`; the sidecar and key files in
:mod:`ceremony.formats.notary_files`.

Pure functions and small read-only views; no token, no journal, no socket. The format
(``ceremony.formats.notary``) and the online side (``ceremony.online.notary_ops``) build on this.

The views (``NotaryKey``, ``NotaryRole``, ``NotaryRoot``, ``NotaryMetadata``) deliberately offer
the attributes the format-neutral shells read from python-tuf's ``Metadata[Root]`` (``signed``,
``version``, ``expires``, ``keys``, ``roles[...].keyids/threshold``, a key's ``keyid`` and
``unrecognized_fields``), so ``ceremony status``, ``ceremony draft`` and ``ceremony verify`` can
render a notary root with the same code. The keyholder/token facts in ``unrecognized_fields``
never come from root.json (notary-server drops unknown fields): they come from the ceremony's
journal and from the ``ceremony-keys.json`` sidecar (see ``read_sidecar``).
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509

from ceremony import keyids
from ceremony.attestation import field_from_pem
from ceremony.errors import VerificationError
from ceremony.formats import tuf as tuf_format
from ceremony.formats.base import RoleVerdict, ThresholdStatus
from ceremony.formats.notary_json import (
    Signature,
    canonical_bytes,
    format_expiry,
    parse,
    parse_expiry,
    serialize,
)
from ceremony.formats.notary_keys import (
    ECDSA,
    ECDSA_X509,
    ED25519,
    RSA,
    RSA_X509,
    certificates_from_entry,
    entry_key_id,
    public_key_from_entry,
    signature_problem,
    x509_key_entry,
)
from ceremony.formats.notary_x509 import root_certificate_problems
from ceremony.inputs import load_json  # strict: bounded nesting, no NaN

__all__ = [
    "NOTARY_ROOT_EXPIRY",
    "ONLINE_ROLES",
    "SUPPORTED_ALGORITHMS",
    "NotaryKey",
    "NotaryMetadata",
    "NotaryRole",
    "NotaryRoot",
    "build_root",
    "is_notary_root",
    "role_file_problems",
    "root_problems",
    "status",
]

ONLINE_ROLES = ("targets", "snapshot", "timestamp")
ROLES = ("root", *ONLINE_ROLES)

#: notary's ``NotaryRootExpiry`` (10 x 365 days); a root never outlives its certificates anyway.
NOTARY_ROOT_EXPIRY = timedelta(days=3650)

#: Root key algorithms the ceremony signs notary metadata with ("ecdsa": SHA-256, raw r||s).
SUPPORTED_ALGORITHMS = ("ecdsa-p256", "ecdsa-p384")

ONLINE_KEYTYPES = (ECDSA, RSA, ED25519)
IDENTITY_FIELDS = {
    "keyholder": tuf_format.X_KEYHOLDER,
    "token_label": tuf_format.X_TOKEN_LABEL,
    "token_serial": tuf_format.X_TOKEN_SERIAL,
    "uri": tuf_format.X_KEY_URI,
    "algorithm": tuf_format.X_ALGORITHM,
    "device": tuf_format.X_DEVICE,  # "yubikey" for a YubiKey's key (slot 9c, through ykcs11)
}
#: Sidecar fields beside the identity: a YubiKey's attestation (slot and f9 certificates, PEM).
EXTRA_SIDECAR_FIELDS = ("canonical_keyid", "attestation")

Identities = Mapping[str, Mapping[str, Any]]
"""keyid -> {keyholder, token_label, token_serial, uri, algorithm, canonical_keyid}."""


# --------------------------------------------------------------------------- views


@dataclass(frozen=True)
class NotaryKey:
    """One key of a notary root, with the ceremony's public facts about its holder (if known)."""

    keyid: str
    entry: Mapping[str, Any]
    identity: Mapping[str, Any] = field(default_factory=dict)

    @property
    def keytype(self) -> str:
        return str(self.entry.get("keytype"))

    @property
    def unrecognized_fields(self) -> dict[str, Any]:
        """The identity under the TUF ``x-ceremony-*`` names, so shared helpers can read it.

        A YubiKey's attestation travels in the sidecar as its two PEM certificates, one string;
        here it takes the shape of TUF's ``x-ceremony-attestation`` field.
        """
        out = {
            x_name: self.identity[name]
            for name, x_name in IDENTITY_FIELDS.items()
            if self.identity.get(name) is not None
        }
        pem = self.identity.get("attestation")
        if isinstance(pem, str) and pem:
            out[tuf_format.X_ATTESTATION] = field_from_pem(pem)
        return out

    @property
    def keyholder(self) -> str | None:
        name = self.identity.get("keyholder")
        return name if isinstance(name, str) else None

    def certificates(self) -> list[x509.Certificate]:
        """The certificate bundle of an x509 key (raises VerificationError otherwise)."""
        return certificates_from_entry(self.entry)

    def public_key(self) -> Any:
        """The verification key (the leaf certificate's for x509 keys)."""
        return public_key_from_entry(self.entry)

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self.entry))


@dataclass(frozen=True)
class NotaryRole:
    keyids: list[str]
    threshold: int


class NotaryRoot:
    """A read-only view of root.json's ``signed`` object (the dict stays the source of truth)."""

    type = "root"

    def __init__(self, signed: Mapping[str, Any], identities: Identities | None = None) -> None:
        problems = structure_problems(signed)
        if problems:
            raise VerificationError("not a notary root: " + "; ".join(problems))
        # The view never changes the dict it is given; ``to_dict()`` hands out copies.
        self._signed = dict(signed)
        self._canonical: bytes | None = None
        ids = identities or {}
        self.version: int = self._signed["version"]
        self.expires: datetime = parse_expiry(self._signed["expires"])
        self.consistent_snapshot: bool = self._signed["consistent_snapshot"]
        self.keys: dict[str, NotaryKey] = {
            keyid: NotaryKey(keyid, entry, dict(ids.get(keyid, {})))
            for keyid, entry in self._signed["keys"].items()
        }
        self.roles: dict[str, NotaryRole] = {
            name: NotaryRole(list(role["keyids"]), role["threshold"])
            for name, role in self._signed["roles"].items()
        }

    def to_dict(self) -> dict[str, Any]:
        """The ``signed`` object exactly as it is (or will be) on the wire."""
        return copy.deepcopy(self._signed)

    def canonical(self) -> bytes:
        """Notary's canonical JSON of ``signed``: the bytes every signature covers."""
        if self._canonical is None:
            self._canonical = canonical_bytes(self._signed)
        return self._canonical

    def is_expired(self, reference_time: datetime | None = None) -> bool:
        return (reference_time or datetime.now(UTC)) >= self.expires

    def role_keys(self, role: str) -> list[NotaryKey]:
        return [self.keys[keyid] for keyid in self.roles[role].keyids]


class NotaryMetadata:
    """A notary root with its signatures; ``signed_bytes`` is what every signature covers."""

    def __init__(self, signed: NotaryRoot, signatures: Sequence[Signature] = ()) -> None:
        self.signed = signed
        self.signature_list: list[Signature] = list(signatures)

    @property
    def signatures(self) -> dict[str, Signature]:
        """keyid -> signature (the first one per key id), like python-tuf's ``Metadata``."""
        out: dict[str, Signature] = {}
        for signature in self.signature_list:
            out.setdefault(signature.keyid, signature)
        return out

    @property
    def signed_bytes(self) -> bytes:
        return self.signed.canonical()

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.signed_bytes).hexdigest()

    def to_bytes(self) -> bytes:
        """Go's wire bytes: one line, ``{"signed":…,"signatures":[…]}``."""
        return serialize(self.signed._signed, self.signature_list)

    @classmethod
    def from_bytes(
        cls, data: bytes, what: str, identities: Identities | None = None
    ) -> NotaryMetadata:
        """Parse a notary root file (any byte form; ``assert_reserializes`` is separate).

        Raises:
            VerificationError: not notary metadata, or not a root; the message names ``what``.
        """
        try:
            document = parse(data)
            if document.signed.get("_type") != "Root":
                raise VerificationError(
                    f"it is {document.signed.get('_type')!r} metadata, not a notary Root"
                )
            return cls(NotaryRoot(document.signed, identities), document.signatures)
        except VerificationError as exc:
            raise VerificationError(f"{what}: {exc.message}") from None


def is_notary_root(data: bytes) -> bool:
    """Whether ``data`` looks like a notary root (``"_type":"Root"``) rather than TUF's ``root``."""
    try:
        top = load_json(data, "root metadata")
    except VerificationError:
        return False
    return isinstance(top, dict) and isinstance(top.get("signed"), dict) and \
        top["signed"].get("_type") == "Root"


# --------------------------------------------------------------------------- structure


def structure_problems(signed: Mapping[str, Any]) -> list[str]:
    """What notary would refuse in a root's ``signed`` shape (reference doc §8 rule 7)."""
    expected = {"_type", "consistent_snapshot", "expires", "keys", "roles", "version"}
    found = set(signed) if isinstance(signed, Mapping) else set()
    if found != expected:
        missing, extra = sorted(expected - found), sorted(found - expected)
        text = []
        if missing:
            text.append("missing " + ", ".join(missing))
        if extra:
            text.append("unknown " + ", ".join(extra) + " (notary-server would drop it)")
        return ["signed has " + " and ".join(text)]
    problems = []
    if signed["_type"] != "Root":
        problems.append(f"_type is {signed['_type']!r}, not 'Root'")
    if signed["consistent_snapshot"] is not False:
        problems.append("consistent_snapshot must be false: notary has no consistent snapshots")
    version = signed["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        problems.append("version must be an integer >= 1")
    try:
        if not isinstance(signed["expires"], str):
            raise VerificationError("expires")
        parse_expiry(signed["expires"])
    except VerificationError:
        problems.append(f"expires {signed['expires']!r} is not an RFC 3339 date-time")
    keys, roles = signed["keys"], signed["roles"]
    if not isinstance(keys, Mapping) or not isinstance(roles, Mapping):
        return [*problems, "keys and roles must be objects"]
    if set(roles) != set(ROLES):
        problems.append(f"roles must be exactly {', '.join(ROLES)}, not {', '.join(sorted(roles))}")
    for name, role in roles.items():
        if not isinstance(role, Mapping) or set(role) != {"keyids", "threshold"}:
            problems.append(f"roles.{name} must have exactly keyids and threshold")
            continue
        keyids, threshold = role["keyids"], role["threshold"]
        if not isinstance(keyids, list) or not keyids or \
                not all(isinstance(k, str) for k in keyids):
            problems.append(f"roles.{name}.keyids must be a non-empty list of key ids")
            continue
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
            problems.append(f"roles.{name}.threshold must be an integer >= 1")
        for keyid in keyids:
            if keyid not in keys:
                problems.append(f"roles.{name} lists key {keyid[:12]} that is not in keys")
    for keyid, entry in keys.items():
        try:
            actual = entry_key_id(entry) if isinstance(entry, Mapping) else None
        except VerificationError as exc:
            problems.append(f"keys[{keyid[:12]}]: {exc.message}")
            continue
        if actual != keyid:
            problems.append(
                f"keys[{keyid[:12]}] is listed under an id that is not the hash of the key "
                f"({str(actual)[:12]}): notary would not find it"
            )
            continue
        rebuilt = rebuilt_x509_key_id(entry)
        if rebuilt is not None and rebuilt != keyid:
            problems.append(
                f"keys[{keyid[:12]}]: notary rebuilds the key from its certificate and calculates "
                f"the id {rebuilt[:12]} (the PEM is not in Go's layout): notary would not find it"
            )
    return problems


def rebuilt_x509_key_id(entry: Mapping[str, Any]) -> str | None:
    """The id notary's client gives an x509 key once it rebuilds it from the parsed certificates
    (``utils.CertBundleToKey``, Go's PEM layout); None for other keys or unreadable ones (those
    are refused elsewhere, with their own reason)."""
    if entry.get("keytype") not in (ECDSA_X509, RSA_X509):
        return None
    try:
        return entry_key_id(x509_key_entry(certificates_from_entry(entry)))
    except VerificationError:
        return None


def root_problems(
    root: NotaryRoot, gun: str, *, now: datetime | None = None, check_expiry: bool = True
) -> list[str]:
    """Everything notary's client would refuse in this root, apart from signatures.

    Root keys must be x509 certificates valid for ``gun`` (CN, not a CA, not SHA-1, and with
    ``check_expiry`` inside their validity window); online keys must be plain keys.
    """
    problems = []
    for keyid in root.roles["root"].keyids:
        key = root.keys[keyid]
        who = tuf_format.key_name(key)
        if key.keytype not in (ECDSA_X509, RSA_X509):
            problems.append(
                f"root key {who} is a bare {key.keytype} key; notary needs an x509 certificate"
            )
            continue
        try:
            certificates = key.certificates()
        except VerificationError as exc:
            problems.append(f"root key {who}: {exc.message}")
            continue
        for problem in root_certificate_problems(
            certificates, gun, now=now, check_expiry=check_expiry
        ):
            problems.append(f"root key {who}: {problem}")
    for role in ONLINE_ROLES:
        for key in root.role_keys(role):
            if key.keytype not in ONLINE_KEYTYPES:
                problems.append(f"the {role} key {key.keyid[:12]} is a {key.keytype} key")
    return problems


def certificate_not_after(key: NotaryKey) -> datetime:
    return key.certificates()[0].not_valid_after_utc


# --------------------------------------------------------------------------- drafting


def build_root(
    *,
    version: int,
    expires: datetime,
    root_keys: Sequence[Mapping[str, Any]],
    root_threshold: int,
    online: Mapping[str, tuple[Sequence[Mapping[str, Any]], int]],
) -> dict[str, Any]:
    """The ``signed`` object of a new notary root (unsigned; check it with ``root_problems``).

    Args:
        version: 1 for a new collection, previous + 1 otherwise.
        expires: when the root expires (written in Go's RFC3339Nano form).
        root_keys: the x509 key entries of the root keys, in the plan's order.
        root_threshold: how many of them must sign.
        online: role -> (key entries, threshold) for targets, snapshot and timestamp.

    Raises:
        VerificationError: the result is not a root notary would accept in shape.
    """
    keys: dict[str, Any] = {}
    roles: dict[str, Any] = {}
    for name, (entries, threshold) in (("root", (root_keys, root_threshold)), *online.items()):
        keyids = []
        for entry in entries:
            keyid = entry_key_id(entry)
            keys[keyid] = copy.deepcopy(dict(entry))
            keyids.append(keyid)
        roles[name] = {"keyids": keyids, "threshold": threshold}
    signed = {
        "_type": "Root",
        "consistent_snapshot": False,
        "expires": format_expiry(expires),
        "keys": keys,
        "roles": roles,
        "version": version,
    }
    problems = structure_problems(signed)
    if problems:
        raise VerificationError("the drafted root is not valid: " + "; ".join(problems))
    return signed


# --------------------------------------------------------------------------- thresholds


def _key_counts(key: NotaryKey, gun: str, now: datetime | None, check_expiry: bool) -> bool:
    if key.keytype not in (ECDSA_X509, RSA_X509):
        return False
    try:
        certificates = key.certificates()
    except VerificationError:
        return False
    return not root_certificate_problems(certificates, gun, now=now, check_expiry=check_expiry)


def _verdict(
    label: str,
    root: NotaryRoot,
    signatures: Sequence[Signature],
    payload: bytes,
    gun: str,
    now: datetime | None,
    check_expiry: bool,
) -> RoleVerdict:
    """Count distinct root keys with a valid signature. Notary's VerifySignatures counts distinct
    key ids, and two certificates for one public key have two ids: here they count once
    (``ceremony.keyids``)."""

    def signed_by(keyid: str) -> bool:
        key = root.keys[keyid]
        return _key_counts(key, gun, now, check_expiry) and any(
            s.keyid == keyid and signature_problem(key.entry, s, payload) is None
            for s in signatures
        )

    return keyids.role_verdict(
        label, root.roles["root"].threshold, root.roles["root"].keyids, root.keys, signed_by,
        tuf_format.key_name, notary_keyid_rule,
    )


def notary_keyid_rule(keyid: str, key: NotaryKey) -> str | None:
    """``keyids.NOTARY`` when ``keyid`` is notary's id for ``key`` (recomputed), else None."""
    try:
        return keyids.NOTARY if entry_key_id(key.entry) == keyid else None
    except VerificationError:
        return None


def status(
    md: NotaryMetadata,
    previous: NotaryRoot | None,
    gun: str,
    *,
    now: datetime | None = None,
    check_expiry: bool = True,
    what: str | None = None,
) -> ThresholdStatus:
    """Who has signed ``md``: its own root threshold (certificates valid now) and the previous
    root's (its certificates are not expiry-checked, as in notary's ValidateRoot).

    Once both thresholds are met, every signature must be by a key of ``md``'s root role or
    of ``previous``'s (notary ignores any other), and no key id may sign twice; a root given
    without ``previous`` is judged so only at version 1 (a later one may carry its
    predecessor's signatures, not here to compare with), as TUF's
    (:func:`ceremony.formats.tuf.status`).

    Raises:
        VerificationError: ``md`` does not directly follow ``previous``, carries a signature
            by a key of neither root role, or one key id's signature twice (``what`` names
            the file).
    """
    new = md.signed
    if previous is not None and new.version != previous.version + 1:
        raise VerificationError(f"root v{new.version} does not follow v{previous.version}")
    payload = md.signed_bytes
    verdict = _verdict(
        f"root v{new.version}", new, md.signature_list, payload, gun, now, check_expiry
    )
    old = None
    if previous is not None:
        old = _verdict(
            f"previous root v{previous.version}",
            previous,
            md.signature_list,
            payload,
            gun,
            now,
            False,
        )
    st = ThresholdStatus(new.version, verdict, old)
    if st.verified and (previous is not None or new.version == 1):  # below threshold: that verdict first
        name = what or f"root v{new.version}"
        ids = [sig.keyid for sig in md.signature_list]
        twice = next((k for k in ids if ids.count(k) > 1), None)
        if twice is not None:
            raise VerificationError(f"{name} lists a signature under key id {twice[:16]} "
                                    f"{ids.count(twice)} times: a key signs once")
        allowed = set(new.roles["root"].keyids)
        whose = f"the root role of root v{new.version}"
        if previous is not None:
            allowed |= set(previous.roles["root"].keyids)
            whose += f" or of previous root v{previous.version}"
        keyids.refuse_unknown_signatures(ids, allowed, name, whose)
    return st


def role_file_problems(data: bytes, root: NotaryRoot, role: str) -> list[str]:
    """Check a targets/snapshot/timestamp file against ``root``'s keys for ``role``.

    Returns operator sentences; empty when the file is signed by the role's threshold.
    """
    try:
        document = parse(data)
    except VerificationError as exc:
        return [f"{role}.json: {exc.message}"]
    expected = {"targets": "Targets", "snapshot": "Snapshot", "timestamp": "Timestamp"}[role]
    if document.signed.get("_type") != expected:
        return [f"{role}.json holds {document.signed.get('_type')!r} metadata"]
    payload = document.payload
    valid = {  # counted by public key: one key under two ids signs once
        keyids.public_identity(root.keys[keyid])
        for keyid in root.roles[role].keyids
        if any(
            s.keyid == keyid and signature_problem(root.keys[keyid].entry, s, payload) is None
            for s in document.signatures
        )
    }
    threshold = root.roles[role].threshold
    if len(valid) < threshold:
        return [
            f"{role}.json is signed by {len(valid)} of the {role} keys of root v{root.version}, "
            f"{threshold} needed"
        ]
    return []
