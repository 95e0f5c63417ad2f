"""Notary v1 root metadata as the ceremony sees it: drafting, thresholds, chains, key files.

Pure functions and small read-only views; no token, no journal, no socket. The engine
(``ceremony.formats.notary``) and the online commands (``ceremony.cli_notary``) build on this.

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
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509

from ceremony.chain import ChainReport, read_root_file, root_versions, walk_versions
from ceremony.errors import PlanError, VerificationError
from ceremony.formats import tuf as tuf_format
from ceremony.formats.base import RoleVerdict, ThresholdStatus
from ceremony.formats.notary_json import (
    Signature,
    assert_reserializes,
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
    public_key_entry,
    public_key_from_entry,
    signature_problem,
)
from ceremony.formats.notary_x509 import gun_problem, root_certificate_problems

__all__ = [
    "KEY_FILE_KIND",
    "NOTARY_ROOT_EXPIRY",
    "ONLINE_ROLES",
    "SIDECAR",
    "SUPPORTED_ALGORITHMS",
    "KeyFile",
    "NotaryKey",
    "NotaryMetadata",
    "NotaryRole",
    "NotaryRoot",
    "build_root",
    "infer_gun",
    "is_notary_root",
    "key_file_bytes",
    "load_key_file",
    "online_expiries",
    "read_sidecar",
    "role_file_problems",
    "root_problems",
    "sidecar_bytes",
    "status",
    "verify_directory",
    "walk",
]

ONLINE_ROLES = ("targets", "snapshot", "timestamp")
ROLES = ("root", *ONLINE_ROLES)

#: notary's ``NotaryRootExpiry`` (10 x 365 days); a root never outlives its certificates anyway.
NOTARY_ROOT_EXPIRY = timedelta(days=3650)

#: Root key algorithms the ceremony signs notary metadata with ("ecdsa": SHA-256, raw r||s).
SUPPORTED_ALGORITHMS = ("ecdsa-p256", "ecdsa-p384")

#: The sidecar published next to root.json: keyid -> keyholder/token (public facts only).
SIDECAR = "ceremony-keys.json"
SIDECAR_KIND = "ceremony-notary-keys"

#: Public key files written by ``ceremony notary fetch-keys`` / ``tagging-key``.
KEY_FILE_KIND = "notary-public-key"

MAX_FILE = 1024 * 1024
_ONLINE_KEYTYPES = (ECDSA, RSA, ED25519)
_IDENTITY_FIELDS = {
    "keyholder": tuf_format.X_KEYHOLDER,
    "token_label": tuf_format.X_TOKEN_LABEL,
    "token_serial": tuf_format.X_TOKEN_SERIAL,
    "uri": tuf_format.X_KEY_URI,
    "algorithm": tuf_format.X_ALGORITHM,
}

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
        """The identity under the TUF ``x-ceremony-*`` names, so shared helpers can read it."""
        return {
            x_name: self.identity[name]
            for name, x_name in _IDENTITY_FIELDS.items()
            if self.identity.get(name) is not None
        }

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
        top = json.loads(data)
    except (ValueError, UnicodeDecodeError):
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
    return problems


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
            if key.keytype not in _ONLINE_KEYTYPES:
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
    """Count distinct root keys with a valid signature, as notary's VerifySignatures does."""
    signed, unsigned = [], []
    for keyid in root.roles["root"].keyids:
        key = root.keys[keyid]
        ok = _key_counts(key, gun, now, check_expiry) and any(
            s.keyid == keyid and signature_problem(key.entry, s, payload) is None
            for s in signatures
        )
        (signed if ok else unsigned).append(tuf_format.key_name(key))  # type: ignore[arg-type]
    return RoleVerdict(label, root.roles["root"].threshold, tuple(signed), tuple(unsigned))


def status(
    md: NotaryMetadata,
    previous: NotaryRoot | None,
    gun: str,
    *,
    now: datetime | None = None,
    check_expiry: bool = True,
) -> ThresholdStatus:
    """Who has signed ``md``: its own root threshold (certificates valid now) and the previous
    root's (its certificates are not expiry-checked, as in notary's ValidateRoot).

    Raises:
        VerificationError: ``md`` does not directly follow ``previous``.
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
    return ThresholdStatus(new.version, verdict, old)


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
    valid = {
        keyid
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


# --------------------------------------------------------------------------- chains


def infer_gun(root: NotaryRoot) -> str:
    """The GUN a root is for: the common CN of its root certificates.

    Raises:
        VerificationError: the certificates disagree, are wildcards, or cannot be read.
    """
    names = set()
    for key in root.role_keys("root"):
        try:
            leaf = key.certificates()[0]
        except VerificationError as exc:
            raise VerificationError(f"cannot tell the GUN of root v{root.version}: {exc.message}")
        values = leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        names.add(str(values[0].value) if values else "")
    if len(names) != 1 or "" in names or any(n.endswith("*") for n in names):
        raise VerificationError(
            f"cannot tell the GUN of root v{root.version} from its certificates "
            f"(CNs: {', '.join(sorted(names)) or 'none'})",
            hint="name it with --gun",
        )
    return names.pop()


def _root_file(data: bytes, what: str, identities: Identities | None) -> NotaryMetadata:
    try:
        assert_reserializes(data)
    except VerificationError as exc:
        raise VerificationError(f"{what}: {exc.message}") from None
    return NotaryMetadata.from_bytes(data, what, identities)


def walk(
    trusted_bytes: bytes,
    directory: Path,
    *,
    gun: str | None = None,
    now: datetime | None = None,
    check_expiry: bool = True,
    trusted_name: str = "the trusted root",
    identities: Identities | None = None,
) -> ChainReport:
    """Verify every notary root version in ``directory`` after the trusted one, as the client.

    Each ``N.root.json`` must be the next version, in notary's byte-exact form, signed by the
    previous root's threshold of its certificates and by its own threshold of certificates
    valid for the GUN (and, with ``check_expiry``, valid now); the newest must not be expired.

    Raises:
        VerificationError: the first problem, naming the file.
    """
    trusted = _root_file(trusted_bytes, trusted_name, identities)
    gun = gun or infer_gun(trusted.signed)
    problem = gun_problem(gun)
    if problem:
        raise VerificationError(f"{gun!r} is not a valid notary GUN: {problem}")
    moment = now or datetime.now(UTC)
    problems = root_problems(trusted.signed, gun, now=moment, check_expiry=False)
    if problems:
        raise VerificationError(f"{trusted_name}: " + "; ".join(problems))
    st = status(trusted, None, gun, now=moment, check_expiry=False)
    if not st.verified:
        raise VerificationError(
            f"{trusted_name} is not signed by its own root threshold: {st.new.describe()}"
        )

    def status_of(md: Any, previous: Any, name: str) -> ThresholdStatus:
        problems = root_problems(md.signed, gun, now=moment, check_expiry=check_expiry)
        if problems:
            raise VerificationError(f"{name}: " + "; ".join(problems))
        return status(md, previous, gun, now=moment, check_expiry=check_expiry)

    return walk_versions(trusted, trusted_bytes, directory,  # views stand in for Metadata[Root]
                         lambda data, name: _root_file(data, name, identities), status_of,
                         now=moment, check_expiry=check_expiry)


def verify_directory(
    directory: Path, *, trusted: Path | None = None, gun: str | None = None,
    now: datetime | None = None,
) -> tuple[ChainReport, str]:
    """``walk`` a metadata folder from ``trusted`` (default ``1.root.json``), naming keyholders
    from its ``ceremony-keys.json`` when present; the GUN defaults to the certificates' CN.

    Returns:
        (the report, the GUN checked).

    Raises:
        VerificationError: the chain (or the sidecar) does not verify.
    """
    directory = Path(directory)
    trusted = Path(trusted) if trusted else directory / "1.root.json"
    trusted_bytes = read_root_file(trusted)
    gun = gun or infer_gun(NotaryMetadata.from_bytes(trusted_bytes, str(trusted)).signed)
    identities = None
    sidecar = directory / SIDECAR
    if sidecar.is_file():
        known: set[str] = set()
        for path in root_versions(directory).values():
            known |= set(NotaryMetadata.from_bytes(read_root_file(path), path.name).signed.keys)
        identities = read_sidecar(read_root_file(sidecar), gun, known, str(sidecar))
    report = walk(trusted_bytes, directory, gun=gun, now=now, trusted_name=str(trusted),
                  identities=identities)
    return report, gun


def online_expiries(directory: Path, root: NotaryRoot) -> dict[str, dict[str, object]]:
    """Version and expiry of targets/snapshot/timestamp.json beside a chain, checked against
    ``root`` (shown by ``ceremony status``; never used for anything else)."""
    out: dict[str, dict[str, object]] = {}
    for role in ONLINE_ROLES:
        path = directory / f"{role}.json"
        if not path.is_file():
            continue
        try:
            data = read_root_file(path)
            document = parse(data)
            expires = parse_expiry(str(document.signed.get("expires")))
            version = document.signed.get("version")
        except VerificationError:
            continue
        out[role] = {
            "version": version,
            "verified": not role_file_problems(data, root, role),
            "expires": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    return out


# --------------------------------------------------------------------------- sidecar


def _read_json(path: Path, what: str) -> Any:
    try:
        size = path.stat().st_size
        if size > MAX_FILE:
            raise VerificationError(f"{path} is {size} bytes, far larger than any {what}")
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise VerificationError(f"{path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise VerificationError(f"{path} is not a {what}: {exc}") from None


def read_sidecar(data: bytes, gun: str, known_keyids: Iterable[str], what: str) -> dict[str, Any]:
    """Parse and check a ``ceremony-keys.json`` sidecar; returns keyid -> identity.

    The sidecar is not signed: it only tells people which token to bring. A wrong entry cannot
    make a wrong signature (the token's key is checked against the certificate before signing),
    but an entry for a key the chain does not hold, or for another GUN, is refused.

    Raises:
        VerificationError: malformed, for another GUN, or naming unknown keys.
    """
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise VerificationError(f"{what} is not JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("kind") != SIDECAR_KIND:
        raise VerificationError(f"{what} is not a {SIDECAR} file")
    if document.get("gun") != gun:
        raise VerificationError(
            f"{what} describes the keys of {document.get('gun')!r}, not of {gun!r}"
        )
    keys = document.get("keys")
    if not isinstance(keys, dict):
        raise VerificationError(f"{what} has no keys object")
    known = set(known_keyids)
    out: dict[str, Any] = {}
    for keyid, identity in keys.items():
        if keyid not in known:
            raise VerificationError(
                f"{what} names key {str(keyid)[:12]}, which no root of this chain holds"
            )
        if not isinstance(identity, dict) or not isinstance(identity.get("keyholder"), str):
            raise VerificationError(f"{what}: the entry for {keyid[:12]} has no keyholder")
        unknown = set(identity) - {*_IDENTITY_FIELDS, "canonical_keyid"}
        if unknown:
            raise VerificationError(f"{what}: unknown field {sorted(unknown)[0]!r}")
        if not all(v is None or isinstance(v, str) for v in identity.values()):
            raise VerificationError(f"{what}: the entry for {keyid[:12]} must hold strings")
        out[keyid] = dict(identity)
    return out


def sidecar_bytes(gun: str, version: int, identities: Identities) -> bytes:
    """The sidecar for root ``version``: public facts only (no PIN, no private key)."""
    document = {
        "kind": SIDECAR_KIND,
        "gun": gun,
        "root_version": version,
        "keys": {keyid: dict(identities[keyid]) for keyid in sorted(identities)},
    }
    return (json.dumps(document, indent=1, sort_keys=True) + "\n").encode()


# --------------------------------------------------------------------------- key files


@dataclass(frozen=True)
class KeyFile:
    """An online public key read from a file the plan names."""

    source: str
    entry: dict[str, Any]
    keyid: str
    role: str | None = None
    gun: str | None = None
    replaces: tuple[str, ...] | None = None
    fetched_from: str | None = None


def key_file_bytes(
    entry: Mapping[str, Any],
    *,
    gun: str,
    role: str,
    fetched_from: str | None = None,
    replaces: Sequence[str] | None = None,
) -> bytes:
    """A public key file for the plan: the notary key entry plus where it belongs.

    ``replaces`` records, on purpose, that this server key takes the place of the previous
    root's key(s) for ``role`` (a rebuilt server); ``init --previous`` refuses a changed
    server key without it.
    """
    document: dict[str, Any] = {
        "kind": KEY_FILE_KIND,
        "gun": gun,
        "role": role,
        "keyid": entry_key_id(entry),
        "keytype": entry["keytype"],
        "keyval": {"private": None, "public": entry["keyval"]["public"]},
    }
    if fetched_from is not None:
        document["fetched_from"] = fetched_from
    if replaces is not None:
        document["replaces"] = sorted(replaces)
    return (json.dumps(document, indent=1, sort_keys=True) + "\n").encode()


_KEY_FILE_FIELDS = {"kind", "gun", "role", "keyid", "keytype", "keyval", "fetched_from",
                    "replaces"}


def load_key_file(path: Path, field: str) -> KeyFile:
    """Read one online public key: our key file, a bare notary key entry, or PEM SPKI.

    Raises:
        PlanError: missing, too large, a private key, or not a usable notary public key.
    """
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from ceremony.keys import read_public_key_bytes

    data = read_public_key_bytes(
        path, field, hint="the tagging key stays with the publisher; `ceremony notary tagging-key` "
                          "writes its public half as a .pub.json file for the plan")
    text = data.decode("utf-8", "replace").strip()
    if not text.startswith("{"):
        try:
            entry = public_key_entry(load_pem_public_key(data))  # type: ignore[arg-type]
        except (ValueError, TypeError, VerificationError) as exc:
            raise PlanError(f"{field}: {path} is not a public key: {exc}") from None
        return KeyFile(str(path), entry, entry_key_id(entry))
    try:
        document = json.loads(text)
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
        unknown = set(document) - _KEY_FILE_FIELDS
        if unknown:
            raise ValueError(
                f"unknown field {sorted(unknown)[0]!r}"
                + (" (a TUF key? notary keys have no scheme)" if "scheme" in unknown else "")
            )
        if document.get("kind", KEY_FILE_KIND) != KEY_FILE_KIND:
            raise ValueError(f"kind is {document.get('kind')!r}")
        keyval = document.get("keyval")
        if not isinstance(keyval, dict) or keyval.get("private") not in (None, ""):
            raise ValueError("it must hold a public key only (keyval.private null)")
        if set(keyval) - {"public", "private"}:
            raise ValueError("keyval has unknown fields")
        entry = {"keytype": document.get("keytype"),
                 "keyval": {"private": None, "public": keyval.get("public")}}
        if entry["keytype"] not in _ONLINE_KEYTYPES:
            raise ValueError(
                f"keytype {entry['keytype']!r} cannot be an online key "
                f"(use one of {', '.join(_ONLINE_KEYTYPES)})"
            )
        public_key_from_entry(entry)
        keyid = entry_key_id(entry)
        claimed = document.get("keyid")
        if claimed is not None and claimed != keyid:
            raise ValueError(f"its keyid {claimed} does not match the key (expected {keyid})")
        replaces = document.get("replaces")
        if replaces is not None and (
            not isinstance(replaces, list) or not all(isinstance(r, str) for r in replaces)
        ):
            raise ValueError("replaces must be a list of key ids")
        for name in ("gun", "role", "fetched_from"):
            if document.get(name) is not None and not isinstance(document[name], str):
                raise ValueError(f"{name} must be a string")
    except (ValueError, VerificationError) as exc:
        reason = exc.message if isinstance(exc, VerificationError) else str(exc)
        raise PlanError(
            f"{field}: {path} is not a notary public key: {reason}",
            hint="use the files written by `ceremony notary fetch-keys` and "
            "`ceremony notary tagging-key`, or a PEM SubjectPublicKeyInfo",
        ) from None
    return KeyFile(
        str(path),
        entry,
        keyid,
        role=document.get("role"),
        gun=document.get("gun"),
        replaces=tuple(replaces) if replaces is not None else None,
        fetched_from=document.get("fetched_from"),
    )

