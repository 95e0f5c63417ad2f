"""An X.509 ceremony's draft (the TBS and who signs it) and its verdicts, pure: what the format,
its detached adapter and the record read. Nothing here touches a token, a workspace or the
journal: a draft's signed part in, words and verdicts out."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

from ceremony.errors import VerificationError
from ceremony.fingerprint import digest_words
from ceremony.formats import tuf as shared  # the x-ceremony-* key fields every format shares
from ceremony.formats.base import RoleVerdict
from ceremony.formats.x509 import ops
from ceremony.formats.x509.keys import X509Key

DRAFT_TYPE = "x509-draft"
APPROVAL, CA_SIGNATURE = "approval", "ca"
#: The role names in a draft's ``roles``: the approvers (``root``: the plan's threshold, what
#: the shared integrity checks compare) and the CA key.
APPROVERS_ROLE, CA_ROLE = "root", "ca"
_DUMMY_SIG = bytes.fromhex("3006020101020101")  # a placeholder ECDSA-Sig-Value to parse a TBS


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pem(kind: str, der: bytes) -> bytes:
    """DER as PEM (``CERTIFICATE``, ``X509 CRL``), 64 characters a line."""
    body = base64.encodebytes(der).decode().replace("\n", "")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return ("\n".join([f"-----BEGIN {kind}-----", *lines, f"-----END {kind}-----"]) + "\n").encode()


# ---- the views --------------------------------------------------------------------------------


@dataclass(frozen=True)
class X509Role:
    keyids: list[str]
    threshold: int


@dataclass(frozen=True)
class X509Signed:
    """A draft's signed part (journaled whole in ``draft-created``): the TBS and who signs it."""

    data: dict[str, Any]

    @property
    def version(self) -> int:
        return int(self.data["version"])

    @property
    def expires(self) -> datetime:
        return datetime.fromisoformat(str(self.data["expires"]))

    @property
    def keys(self) -> dict[str, X509Key]:
        return {k: X509Key.from_dict(k, v) for k, v in self.data["keys"].items()}

    @property
    def roles(self) -> dict[str, X509Role]:
        return {r: X509Role(list(v["keyids"]), int(v["threshold"]))
                for r, v in self.data["roles"].items()}

    @property
    def tbs(self) -> bytes:
        return bytes.fromhex(self.data["tbs"])

    @property
    def kind(self) -> str:
        return str(self.data["kind"])

    @property
    def ca_keyid(self) -> str:
        return str(self.data["roles"][CA_ROLE]["keyids"][0])

    @property
    def statement(self) -> bytes:
        """What each approver signs: the TBS, the CA key, this ceremony, the words read out."""
        return ops.approval_statement(self.kind, self.tbs, self.keys[self.ca_keyid].public_key(),
                                      str(self.data["ceremony"]), what(self))

    def words(self) -> list[str]:
        """The TBS in words (what a remote approver reads before signing)."""
        return describe_draft(self)

    @classmethod
    def checked(cls, d: Any, what: str) -> X509Signed:
        """Raises:
            VerificationError: not an X.509 draft.
        """
        try:
            s = cls(dict(d))
            if s.data.get("_type") != DRAFT_TYPE:
                raise VerificationError(f"{what} is not an X.509 ceremony draft")
            _ = (s.version, s.expires, s.keys, s.roles, s.tbs, s.kind, s.ca_keyid)
            return s
        except (KeyError, ValueError, TypeError, IndexError, AttributeError):
            raise VerificationError(f"{what} is not an X.509 ceremony draft") from None


@dataclass
class X509Draft:
    """A draft with the signatures journaled so far (keyid -> hex)."""

    signed: X509Signed
    signatures: dict[str, str] = field(default_factory=dict)

    @property
    def signed_bytes(self) -> bytes:
        return canonical(self.signed.data)

    def to_bytes(self) -> bytes:
        return json.dumps({"signed": self.signed.data, "signatures": self.signatures},
                          indent=1, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes, what: str) -> X509Draft:
        """Raises:
            VerificationError: not an X.509 draft file.
        """
        try:
            obj = json.loads(data)
            sigs = {str(k): str(v) for k, v in dict(obj["signatures"]).items()}
            return cls(X509Signed.checked(obj["signed"], what), sigs)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise VerificationError(f"{what} is not an X.509 ceremony draft") from None


# ---- verdicts (pure) ----------------------------------------------------------------------------


#: A cross-signing's two approval sets (the old CA's approvers and the new CA's), each at the
#: threshold its CA recorded: both must be met.
SETS = (("old-set", "the old CA's approvers"), ("new-set", "the new CA's approvers"))


def approvals(md: X509Draft) -> RoleVerdict:
    """The approvals that verify over this draft's statement, counted once per public key (a
    cross-signing: each of its two sets at its own threshold, as one verdict)."""
    roles = md.signed.roles
    if SETS[0][0] not in roles:
        return _approvals(md, APPROVERS_ROLE, f"approvals of the {what(md.signed)}")
    parts = [_approvals(md, r, f"{label}") for r, label in SETS]
    signed = tuple(n for v in parts for n in v.signed[:v.threshold])
    unsigned = tuple(n for v in parts if not v.met for n in v.unsigned)
    notes = tuple(f"{v.label}: {min(len(v.signed), v.threshold)}/{v.threshold}" for v in parts)
    return RoleVerdict(f"approvals of the {what(md.signed)} by both CAs' approvers",
                       sum(v.threshold for v in parts), signed, unsigned, notes)


def _approvals(md: X509Draft, role_name: str, label: str) -> RoleVerdict:
    s = md.signed
    role, keys = s.roles[role_name], s.keys
    statement = s.statement
    good: list[str] = []
    seen: set[bytes] = set()
    for keyid in role.keyids:
        sig = md.signatures.get(keyid)
        if sig is None or keyid not in keys:
            continue
        key = keys[keyid]
        public = key.public_key()
        if not ops.approval_verifies(statement, shared.key_name(key), bytes.fromhex(sig), public):
            continue  # an approval of another digest, CA or ceremony does not count
        identity = ops.spki(public)
        if identity in seen:
            continue  # one public key listed twice counts once
        seen.add(identity)
        good.append(keyid)
    name = {k: shared.key_name(keys[k]) for k in role.keyids if k in keys}
    return RoleVerdict(label, role.threshold,
                       tuple(name[k] for k in good),
                       tuple(name[k] for k in role.keyids if k not in good and k in name))


def ca_signature(md: X509Draft) -> RoleVerdict:
    """Whether the CA key's signature over the TBS is journaled and verifies."""
    s = md.signed
    key = s.keys[s.ca_keyid]
    sig = md.signatures.get(s.ca_keyid)
    ok = sig is not None and _ca_signature_verifies(s, key, bytes.fromhex(sig))
    who = shared.key_name(key)
    return RoleVerdict(f"CA signature over the {what(s)}", 1, (who,) if ok else (),
                       () if ok else (who,))


def _ca_signature_verifies(s: X509Signed, key: X509Key, sig_der: bytes) -> bool:
    try:
        artifact(s, sig_der)
    except (VerificationError, ValueError):
        return False
    return True


def artifact(s: X509Signed, sig_der: bytes) -> bytes:
    """The DER certificate or CRL assembled from the TBS and the CA's signature, verified
    against the CA key.

    Raises:
        VerificationError: the signature does not verify.
    """
    ca_public = s.keys[s.ca_keyid].public_key()
    if s.kind == "crl":
        der = ops.assemble_crl(s.tbs, sig_der)
        ops.verify_crl(der, ca_public)
        return der
    der = ops.assemble_certificate(s.tbs, sig_der)
    ops.verify_certificate(der, ca_public)
    return der


def what(s: X509Signed) -> str:
    """The draft in a few words: ``root certificate CN=...``, ``CRL number 2``."""
    if s.data.get("operation") == "cross-sign":
        return f"cross-certificate for {s.data.get('subject')}"
    if s.kind == "crl":
        return f"CRL number {s.data.get('crl_number')}"
    return f"{s.kind} certificate {s.data.get('subject')}"


def _parsed_tbs(s: X509Signed) -> Any:
    """The TBS read back by cryptography (spliced with a placeholder signature: never
    verified, only read for words)."""
    if s.kind == "crl":
        return x509.load_der_x509_crl(ops.assemble_crl(s.tbs, _DUMMY_SIG))
    return x509.load_der_x509_certificate(ops.assemble_certificate(s.tbs, _DUMMY_SIG))


def _utc(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def describe_draft(s: X509Signed) -> list[str]:
    """The TBS in words for the room, read from the TBS itself (not from the plan)."""
    t = _parsed_tbs(s)
    digest = sha256(s.tbs)
    roles = s.roles
    keys = s.keys
    approvers = ", ".join(shared.key_name(keys[k]) for k in roles[APPROVERS_ROLE].keyids)
    lines = [f"X.509 {s.data['operation']}: the {what(s)} (ceremony #{s.version} of this CA)"]
    if s.kind == "crl":
        lines += [f"issuer: {t.issuer.rfc4514_string()}",
                  f"this update: {_utc(t.last_update_utc)}; next update: {_utc(t.next_update_utc)}",
                  f"revoked: {len(t)} certificate(s)"]
        lines += [f"  serial {e.serial_number:x} at {_utc(e.revocation_date_utc)}" for e in t]
    else:
        lines += [f"subject: {t.subject.rfc4514_string()}",
                  f"issuer: {t.issuer.rfc4514_string()}",
                  f"serial: {t.serial_number:x}",
                  f"valid from {_utc(t.not_valid_before_utc)} to {_utc(t.not_valid_after_utc)}",
                  f"key: {ops.key_bits(t.public_key())}, sha256 "
                  f"{sha256(ops.spki(t.public_key()))[:16]}"]
        for ext in t.extensions:
            crit = "critical " if ext.critical else ""
            lines.append(f"extension: {crit}{ext.oid._name}: {_ext_words(ext.value)}")
    lines += [f"TBS sha256 {digest[:16]}... (digest words: {digest_words(digest)})",
              f"approvals needed: {roles[APPROVERS_ROLE].threshold} of {approvers}; then the CA "
              f"key of {shared.key_name(keys[s.ca_keyid])} signs; expires {_utc(s.expires)}"]
    return lines


def _ext_words(value: Any) -> str:
    if isinstance(value, x509.BasicConstraints):
        return f"CA {str(value.ca).lower()}" + (f", path length {value.path_length}"
                                                 if value.path_length is not None else "")
    if isinstance(value, x509.KeyUsage):
        names = ("digital_signature", "content_commitment", "key_encipherment",
                 "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign")
        return ", ".join(n for n in names if getattr(value, n))
    if isinstance(value, x509.ExtendedKeyUsage):
        return ", ".join(o._name for o in value)
    if isinstance(value, (x509.SubjectKeyIdentifier,)):
        return value.digest.hex()
    if isinstance(value, x509.AuthorityKeyIdentifier):
        return (value.key_identifier or b"").hex()
    return type(value).__name__
