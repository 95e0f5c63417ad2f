"""What an approver's token key signs before the CA key may sign: the approval statement.

X.509 has no threshold, so the ceremony makes one: each approver named in the plan signs a
statement with their own token key, and the CA key signs only when ``threshold`` distinct
approvals verify. The statement binds, in one canonical byte string:

* ``context``: this tool, this purpose, version 1 (an approval is no other signature);
* ``kind``: ``certificate`` or ``crl``;
* ``tbs_sha256``: the SHA-256 of the exact TBS bytes the CA key will sign;
* ``ca``: the CA key's identity, SHA-256 of its SubjectPublicKeyInfo DER;
* ``plan``: the plan/ceremony identity the caller gives (e.g. ``<name>:<plan sha256>``);
* ``label``: what the room was told it approves (e.g. ``leaf CN=…, serial …``).

So an approval cannot be replayed over another TBS, another CA key or another ceremony: the
signature is over other bytes and does not verify. :func:`approval_words` is what the room
reads before an approver touches their token: the same statement, the digest in PGP words.

API (stable): ``ApprovalStatement``, ``approval_statement(kind, tbs, ca_public_key, plan, label)``,
``parse_statement(data)``, ``ca_identity(public_key)``, ``approval_words(statement)``,
``verify_approval(statement_bytes, approver, signature, public_key)``,
``check_approvals(statement_bytes, approvals, approvers, threshold) -> list[str]``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ceremony.errors import ThresholdError, VerificationError
from ceremony.fingerprint import digest_words
from hsm.algorithms import get_algorithm
from hsm.errors import SignatureCheckError
from hsm.verify import PublicKey as TokenPublicKey, verify_raw

__all__ = [
    "CONTEXT",
    "KINDS",
    "ApprovalStatement",
    "approval_statement",
    "approval_words",
    "ca_identity",
    "check_approvals",
    "parse_statement",
    "verify_approval",
]

CONTEXT = "ceremony x509 approval v1"
KINDS = ("certificate", "crl")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_MAX_STATEMENT = 4096
_FIELDS = ("context", "kind", "tbs_sha256", "ca", "plan", "label")


@dataclass(frozen=True)
class ApprovalStatement:
    """The fields an approval signs (see the module docstring)."""

    context: str
    kind: str
    tbs_sha256: str
    ca: str
    plan: str
    label: str

    def encode(self) -> bytes:
        """Canonical bytes: JSON, keys sorted, no spaces, ASCII only. What the approver signs."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def ca_identity(public_key: object) -> str:
    """The CA key's identity: SHA-256 (hex) of its SubjectPublicKeyInfo DER.

    Raises:
        VerificationError: not a public key.
    """
    if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise VerificationError("the CA key is not an EC, RSA or Ed25519 public key")
    return hashlib.sha256(public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).hexdigest()


def _text(value: str, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 512 or not value.isprintable():
        raise VerificationError(f"the approval's {what} must be printable text of 1-512 characters")
    return value


def approval_statement(kind: str, tbs: bytes, ca_public_key: object, plan: str, label: str) -> bytes:
    """The bytes each approver's token key signs for ``tbs``.

    Raises:
        VerificationError: an unknown kind, or an empty/unprintable plan or label.
    """
    if kind not in KINDS:
        raise VerificationError(f"an approval is for a certificate or a CRL, not {str(kind)[:20]!r}")
    return ApprovalStatement(context=CONTEXT, kind=kind, tbs_sha256=hashlib.sha256(bytes(tbs)).hexdigest(),
                             ca=ca_identity(ca_public_key), plan=_text(plan, "plan identity"),
                             label=_text(label, "label")).encode()


def parse_statement(data: bytes) -> ApprovalStatement:
    """Read a statement back (a journal entry, a record check) and check it is canonical.

    Raises:
        VerificationError: not a canonical version-1 approval statement.
    """
    if len(data) > _MAX_STATEMENT:
        raise VerificationError("the approval statement is too long to be one")
    try:
        raw = json.loads(bytes(data).decode("ascii"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise VerificationError("the approval statement is not ASCII JSON") from None
    if not isinstance(raw, dict) or sorted(raw) != sorted(_FIELDS) or not all(isinstance(v, str) for v in raw.values()):
        raise VerificationError("the approval statement does not have exactly the fields " + ", ".join(_FIELDS))
    statement = ApprovalStatement(**raw)
    if statement.context != CONTEXT:
        raise VerificationError(f"the approval statement is for {statement.context[:60]!r}, not {CONTEXT!r}")
    if statement.kind not in KINDS or not _HEX64.fullmatch(statement.tbs_sha256) or not _HEX64.fullmatch(statement.ca):
        raise VerificationError("the approval statement's kind, digest or CA identity is malformed")
    _text(statement.plan, "plan identity")
    _text(statement.label, "label")
    if statement.encode() != bytes(data):
        raise VerificationError("the approval statement is not in canonical form (sorted keys, no spaces)")
    return statement


def approval_words(statement: bytes) -> str:
    """What the room reads before an approver signs: kind, label, CA, plan and the digest in words.

    Raises:
        VerificationError: as ``parse_statement``.
    """
    s = parse_statement(statement)
    what = "certificate" if s.kind == "certificate" else "certificate revocation list"
    return (f"Approve the CA signing this {what}: {s.label}\n"
            f"  CA key {s.ca[:16]}, ceremony {s.plan}\n"
            f"  to-be-signed SHA-256 {s.tbs_sha256}\n"
            f"  in words: {digest_words(s.tbs_sha256)}")


def _algorithm_name(key: TokenPublicKey) -> str:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ecdsa-p256", "secp384r1": "ecdsa-p384"}.get(key.curve.name, "")
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    return "rsa-3072"  # any RSA size: the token signs PSS-SHA256, salt 32 (hsm.verify)


def verify_approval(statement: bytes, approver: str, signature: bytes, public_key: object) -> None:
    """Check one approver's token signature (as ``TokenKey.sign_raw`` made it) over ``statement``.

    Raises:
        VerificationError: the key is not a token key type, or the signature does not verify
            over these bytes (an approval of another digest, CA or ceremony, or another key).
    """
    parse_statement(statement)
    if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise VerificationError(f"approver {approver}'s key is not an EC, RSA or Ed25519 key")
    name = _algorithm_name(public_key)
    if not name:
        raise VerificationError(f"approver {approver}'s key is on a curve tokens here do not use")
    try:
        verify_raw(public_key, get_algorithm(name), bytes(statement), bytes(signature), f"approver {approver}")
    except SignatureCheckError:
        raise VerificationError(f"the approval by {approver} does not verify over this statement: it approves "
                                "another digest, CA or ceremony, or was made by another key",
                                hint="nothing was signed; the approver signs again after reading the words") from None


def check_approvals(statement: bytes, approvals: Iterable[tuple[str, bytes]], approvers: Mapping[str, object],
                    threshold: int) -> list[str]:
    """The approvers whose approvals verify, refused unless ``threshold`` distinct ones do.

    Args:
        statement: the bytes from :func:`approval_statement` for the TBS about to be signed.
        approvals: ``(approver name, signature)`` pairs, as journaled.
        approvers: the plan's approvers, name -> public key.
        threshold: how many distinct approvers must approve.

    Raises:
        VerificationError: an approval by someone the plan does not name, a second approval by
            the same approver, or an approval that does not verify over ``statement``.
        ThresholdError: fewer than ``threshold`` approvals.
    """
    counted: list[str] = []
    for approver, signature in approvals:
        if approver not in approvers:
            raise VerificationError(f"{approver[:60]!r} is not an approver in the plan; their approval does not count")
        if approver in counted:
            raise VerificationError(f"a second approval by {approver}: each approver counts once")
        verify_approval(statement, approver, signature, approvers[approver])
        counted.append(approver)
    if len(counted) < threshold:
        raise ThresholdError(f"{len(counted)} of {threshold} required approvals"
                             f"{' (' + ', '.join(counted) + ')' if counted else ''}: the CA key does not sign",
                             hint="more approvers must read the statement and sign it with their tokens")
    return counted
