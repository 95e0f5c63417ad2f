"""CRLs signed by a CA key on a token: the TBSCertList, the splice, the check.

Same approach as certificates (see ``der``): ``cryptography``'s CRL builder signs with a
throwaway P-256 key, the TBS's ``signature`` AlgorithmIdentifier is swapped for the CA key's,
the token signs, :func:`assemble_crl` wraps it. The CRL is a v2 CRL with the RFC 5280 5.2
extensions a verifier needs: authorityKeyIdentifier (from the real CA key) and cRLNumber.

Reasons are named as RFC 5280 5.3.1 spells them (``keyCompromise``, ``superseded``, ...).
``unspecified`` writes no reasonCode (5.3.1: the code SHOULD be absent rather than 0) and
``removeFromCRL`` is refused: it belongs to delta CRLs, which this tool does not issue.

API (stable): ``REASONS``, ``parse_reason(name)``, ``Revocation``, ``tbs_crl(issuer_name,
issuer_public_key, entries, this_update, next_update, crl_number, hash_name=None)``,
``assemble_crl(tbs, signature_der)``, ``load_crl(data)``, ``verify_crl(crl, issuer)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from ceremony.errors import PlanError, VerificationError
from ceremony.formats.x509 import der
from ceremony.formats.x509.profile import MAX_SERIAL

__all__ = ["MAX_CRL_NUMBER", "REASONS", "Revocation", "assemble_crl", "load_crl", "parse_reason", "tbs_crl",
           "verify_crl"]

#: RFC 5280 name -> flag. ``removeFromCRL`` is left out on purpose (delta CRLs only).
REASONS: dict[str, x509.ReasonFlags] = {
    "unspecified": x509.ReasonFlags.unspecified,
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "cACompromise": x509.ReasonFlags.ca_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
    "certificateHold": x509.ReasonFlags.certificate_hold,
    "privilegeWithdrawn": x509.ReasonFlags.privilege_withdrawn,
    "aACompromise": x509.ReasonFlags.aa_compromise,
}

#: RFC 5280 5.2.3: a cRLNumber is at most 20 octets.
MAX_CRL_NUMBER = MAX_SERIAL


@dataclass(frozen=True)
class Revocation:
    """One revoked certificate: its serial, when it was revoked (UTC), the RFC 5280 reason name."""

    serial: int
    revoked_at: datetime
    reason: str


def parse_reason(name: str, where: str = "reason", *, error: type[Exception] = PlanError) -> str:
    """Return ``name`` if it is an RFC 5280 reason this tool writes.

    Raises:
        PlanError: (or ``error``) naming ``where`` and the reasons allowed.
    """
    if name == "removeFromCRL":
        raise error(f"{where} removeFromCRL is for delta CRLs, which this tool does not issue; revocations "
                    "only grow here: every later CRL keeps each entry, a certificateHold too")
    if name not in REASONS:
        raise error(f"{where} must be an RFC 5280 reason: {', '.join(REASONS)}; not {str(name)[:40]!r}")
    return name


def _utc(when: datetime, what: str) -> datetime:
    if when.tzinfo is None:
        raise VerificationError(f"the CRL's {what} has no time zone; give it in UTC")
    return when.astimezone(UTC).replace(microsecond=0)


def tbs_crl(issuer_name: x509.Name, issuer_public_key: der.PublicKey,
            entries: Iterable[Revocation | tuple[int, datetime, str]], this_update: datetime,
            next_update: datetime, crl_number: int, hash_name: str | None = None) -> bytes:
    """The DER TBSCertList the CA key will sign.

    Args:
        issuer_name: the CA certificate's subject.
        issuer_public_key: the CA key on the token (signature algorithm and AKI).
        entries: the revoked certificates, ``Revocation`` or ``(serial, revoked_at, reason)``.
        this_update: the issue time (UTC).
        next_update: when the next CRL is due (UTC); ``status`` tracks it.
        crl_number: strictly increasing per CA (the caller keeps the sequence).
        hash_name: as in ``profile.tbs_certificate``.

    Raises:
        VerificationError: times out of order or without zone, a serial or number out of range,
            the same serial twice, or an unknown reason.
    """
    this_update, next_update = _utc(this_update, "thisUpdate"), _utc(next_update, "nextUpdate")
    if next_update <= this_update:
        raise VerificationError("the CRL's nextUpdate must be after its thisUpdate")
    if isinstance(crl_number, bool) or not 0 <= crl_number <= MAX_CRL_NUMBER:
        raise VerificationError("the CRL number must be a non-negative integer of at most 20 octets "
                                "(RFC 5280 5.2.3)")
    hash_name = hash_name or der.hash_for_key(issuer_public_key)
    algorithm = der.signature_algorithm(issuer_public_key, hash_name)
    builder = (x509.CertificateRevocationListBuilder()
               .issuer_name(issuer_name)
               .last_update(this_update)
               .next_update(next_update)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key), critical=False)
               .add_extension(x509.CRLNumber(crl_number), critical=False))
    seen: set[int] = set()
    for entry in entries:
        item = entry if isinstance(entry, Revocation) else Revocation(*entry)
        if isinstance(item.serial, bool) or not 0 < item.serial <= MAX_SERIAL:
            raise VerificationError(f"the revoked serial {str(item.serial)[:50]} is not a certificate serial "
                                    "(positive, at most 20 octets)")
        if item.serial in seen:
            raise VerificationError(f"the serial {item.serial:x} is listed twice in the CRL")
        seen.add(item.serial)
        reason = parse_reason(item.reason, "the revocation reason", error=VerificationError)
        revoked = (x509.RevokedCertificateBuilder().serial_number(item.serial)
                   .revocation_date(_utc(item.revoked_at, "revocation date")))
        if reason != "unspecified":
            revoked = revoked.add_extension(x509.CRLReason(REASONS[reason]), critical=False)
        builder = builder.add_revoked_certificate(revoked.build())
    throwaway = builder.sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    return der.with_signature_algorithm(throwaway.tbs_certlist_bytes, algorithm, "crl")


def assemble_crl(tbs: bytes, signature_der: bytes) -> bytes:
    """The DER CRL: ``tbs`` + its own signatureAlgorithm + the token's (DER) signature.

    Raises:
        VerificationError: ``tbs`` is not a DER TBSCertList.
    """
    return der.assemble(tbs, signature_der, "crl")


def load_crl(data: bytes) -> x509.CertificateRevocationList:
    """A CRL from PEM or DER bytes.

    Raises:
        VerificationError: neither.
    """
    try:
        if bytes(data).lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_crl(bytes(data))
        return x509.load_der_x509_crl(bytes(data))
    except ValueError as e:
        raise VerificationError(f"the CRL is not an X.509 CRL ({str(e)[:120]})") from None


def verify_crl(crl: x509.CertificateRevocationList | bytes, issuer: x509.Certificate) -> None:
    """Check that the CA ``issuer`` signed ``crl`` and that the CRL names it.

    Raises:
        VerificationError: another issuer name, or the signature does not verify.
    """
    parsed = crl if isinstance(crl, x509.CertificateRevocationList) else load_crl(crl)
    if parsed.issuer != issuer.subject:
        raise VerificationError(f"the CRL's issuer {parsed.issuer.rfc4514_string()!r} is not the CA's subject "
                                f"{issuer.subject.rfc4514_string()!r}")
    algorithm = der.algorithm_of_tbs(parsed.tbs_certlist_bytes, "crl")
    der.verify_signature(issuer.public_key(), algorithm, parsed.tbs_certlist_bytes, parsed.signature, "CRL")
