"""Certificate profiles from the plan, and the TBSCertificate a CA key on a token will sign.

A :class:`CertProfile` is what the plan says about one certificate: its kind (``root``,
``intermediate`` or ``leaf``), subject as RFC 4514 text, validity as absolute UTC instants
(never "now + 10 years": the room must be able to read and approve the exact dates), a path
length for CAs and, for a root, the key algorithm the token generates.

:func:`tbs_certificate` builds the DER TBSCertificate with ``cryptography``'s builder, signed by
a throwaway P-256 key, then swaps its ``signature`` AlgorithmIdentifier for the one the issuer's
real key uses (``der.with_signature_algorithm``). The subject and authority key identifiers come
from the real keys, never the throwaway one. :func:`assemble_certificate` wraps the token's
signature around it, and :func:`verify_issued` checks the result against the issuer.

API (stable; other modules of the package build on it):
``CertProfile``, ``parse_profile(table, where)``, ``random_serial()``,
``tbs_certificate(profile, subject_public_key, issuer_name, issuer_public_key, serial, hash_name=None,
requested=())``, ``cross_certificate_tbs(new_root, old_root, serial, hash_name=None, not_after=None)``,
``assemble_certificate(tbs, signature_der)``, ``verify_issued(cert, issuer)``, ``load_certificate(data)``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from ceremony.errors import PlanError, VerificationError
from ceremony.formats.x509 import der

__all__ = [
    "CA_KEY_ALGORITHMS",
    "COPIED_EXTENSIONS",
    "KINDS",
    "MAX_SERIAL",
    "CertProfile",
    "assemble_certificate",
    "cross_certificate_tbs",
    "load_certificate",
    "parse_profile",
    "parse_subject",
    "random_serial",
    "tbs_certificate",
    "verify_issued",
]

Kind = Literal["root", "intermediate", "leaf"]
KINDS: tuple[str, ...] = ("root", "intermediate", "leaf")

#: Key algorithms a root CA is generated with on a token (``hsm.algorithms`` names). The issue
#: asks EC P-256/P-384 or RSA >= 3072; ``hsm`` makes RSA at 3072 bits.
CA_KEY_ALGORITHMS: tuple[str, ...] = ("ecdsa-p256", "ecdsa-p384", "rsa-3072")

#: RFC 5280 4.1.2.2: a positive serial of at most 20 octets, i.e. below 2^159 in DER.
MAX_SERIAL = 2**159 - 1

#: Extensions a CSR may request that are carried into the certificate (replacing the profile's
#: own), so that what the requester asked for is what lint judges. Everything else is dropped.
COPIED_EXTENSIONS = (ExtensionOID.KEY_USAGE, ExtensionOID.EXTENDED_KEY_USAGE, ExtensionOID.BASIC_CONSTRAINTS,
                     ExtensionOID.SUBJECT_ALTERNATIVE_NAME)

#: The subject attributes Notation needs to match an ``x509.subject`` trusted identity.
NOTATION_SUBJECT_ATTRIBUTES = (("C", NameOID.COUNTRY_NAME), ("ST", NameOID.STATE_OR_PROVINCE_NAME),
                               ("O", NameOID.ORGANIZATION_NAME))

_FIELDS = ("kind", "subject", "not_before", "not_after", "path_length", "key_algorithm")
_UTC_TEXT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
_MAX_SUBJECT = 1024
_MAX_PATH_LENGTH = 16


@dataclass(frozen=True)
class CertProfile:
    """What the plan says about one certificate (see the module docstring).

    Attributes:
        kind: ``root`` (self-signed CA), ``intermediate`` (CA from a CSR) or ``leaf`` (code signing).
        subject: the subject DN as RFC 4514 text, e.g. ``CN=Acme Root,O=Acme,ST=WA,C=US``.
        not_before: first instant of validity, UTC.
        not_after: last instant of validity, UTC.
        path_length: basicConstraints pathLenConstraint for a CA; None = unlimited (or a leaf).
        key_algorithm: the token algorithm of a root's key (``CA_KEY_ALGORITHMS``); None otherwise.
    """

    kind: Kind
    subject: str
    not_before: datetime
    not_after: datetime
    path_length: int | None = None
    key_algorithm: str | None = None

    @property
    def is_ca(self) -> bool:
        """Root and intermediate are CAs; a leaf is not."""
        return self.kind != "leaf"

    def subject_name(self) -> x509.Name:
        """The subject as an X.509 Name (the text was checked by :func:`parse_profile`)."""
        return parse_subject(self.subject, "subject")


def parse_subject(text: str, where: str, *, error: type[Exception] = PlanError) -> x509.Name:
    """Parse an RFC 4514 DN; refuse an empty, overlong, multi-valued or duplicated one.

    Raises:
        PlanError: (or ``error``) naming ``where`` and what is wrong.
    """
    if not isinstance(text, str) or not text.strip():
        raise error(f"{where} must be a distinguished name such as \"CN=Acme Root CA,O=Acme,ST=WA,C=US\"")
    if len(text) > _MAX_SUBJECT or not text.isprintable():
        raise error(f"{where} must be printable text of at most {_MAX_SUBJECT} characters")
    try:
        name = x509.Name.from_rfc4514_string(text)
    except ValueError as e:
        raise error(f"{where} {text[:60]!r} is not an RFC 4514 distinguished name ({e})") from None
    seen: set[x509.ObjectIdentifier] = set()
    for rdn in name.rdns:
        if len(rdn) != 1:
            raise error(f"{where} {text[:60]!r} has a multi-valued RDN ('+'); Notation refuses those")
        oid = next(iter(rdn)).oid
        if oid in seen:
            raise error(f"{where} {text[:60]!r} names {next(iter(rdn)).rfc4514_attribute_name} twice; "
                        "Notation needs each attribute once")
        seen.add(oid)
        value = next(iter(rdn)).value
        if not value:
            raise error(f"{where} {text[:60]!r} has an empty {next(iter(rdn)).rfc4514_attribute_name}")
    return name


def _utc(value: Any, field: str) -> datetime:
    """A TOML offset date-time or ``YYYY-MM-DDTHH:MM:SSZ`` text, at offset zero, whole seconds."""
    if isinstance(value, str):
        if not _UTC_TEXT.fullmatch(value):
            raise PlanError(f"{field} must be an absolute UTC time such as 2026-01-01T00:00:00Z, "
                            f"not {value[:40]!r}")
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        raise PlanError(f"{field} must be an absolute UTC time such as 2026-01-01T00:00:00Z")
    if value.tzinfo is None or value.utcoffset() != timedelta(0):
        raise PlanError(f"{field} must be in UTC (end it with Z): a local time would mean another "
                        "instant on another machine")
    if value.microsecond:
        raise PlanError(f"{field} must be whole seconds (X.509 times carry no fractions here)")
    return value.astimezone(UTC)


def parse_profile(table: Mapping[str, Any], where: str) -> CertProfile:
    """A :class:`CertProfile` from a plan table (e.g. ``x509.root``), every field checked.

    Raises:
        PlanError: naming the field (``<where>.<field>``): unknown, missing or impossible.
    """
    if not isinstance(table, Mapping):
        raise PlanError(f"{where} must be a table")
    unknown = sorted(set(table) - set(_FIELDS))
    if unknown:
        raise PlanError(f"unknown field {where}.{unknown[0]} in the plan",
                        hint="known fields: " + ", ".join(_FIELDS))
    for required in ("kind", "subject", "not_before", "not_after"):
        if required not in table:
            raise PlanError(f"{where}.{required} is required")
    kind = table["kind"]
    if kind not in KINDS:
        raise PlanError(f"{where}.kind must be one of {', '.join(KINDS)}, not {str(kind)[:40]!r}")
    name = parse_subject(table["subject"], f"{where}.subject")
    if kind == "leaf":
        present = {attr.oid for attr in name}
        missing = [short for short, oid in NOTATION_SUBJECT_ATTRIBUTES if oid not in present]
        if missing:
            raise PlanError(f"{where}.subject lacks {', '.join(missing)}: Notation matches a signing "
                            "certificate only by a subject with C, ST and O (rule notation.leaf.subject)")
    not_before = _utc(table["not_before"], f"{where}.not_before")
    not_after = _utc(table["not_after"], f"{where}.not_after")
    if not_after <= not_before:
        raise PlanError(f"{where}.not_after ({not_after:%Y-%m-%dT%H:%M:%SZ}) must be after "
                        f"{where}.not_before ({not_before:%Y-%m-%dT%H:%M:%SZ})")
    path_length = table.get("path_length")
    if path_length is not None:
        if kind == "leaf":
            raise PlanError(f"{where}.path_length applies to a CA only, not to a leaf (RFC 5280 4.2.1.9)")
        if isinstance(path_length, bool) or not isinstance(path_length, int) or not \
                0 <= path_length <= _MAX_PATH_LENGTH:
            raise PlanError(f"{where}.path_length must be an integer from 0 to {_MAX_PATH_LENGTH}")
    key_algorithm = table.get("key_algorithm")
    if kind == "root":
        if key_algorithm is None:
            raise PlanError(f"{where}.key_algorithm is required for a root: one of "
                            f"{', '.join(CA_KEY_ALGORITHMS)}")
        if key_algorithm not in CA_KEY_ALGORITHMS:
            raise PlanError(f"{where}.key_algorithm must be one of {', '.join(CA_KEY_ALGORITHMS)} "
                            f"(EC P-256/P-384 or RSA >= 3072), not {str(key_algorithm)[:40]!r}")
    elif key_algorithm is not None:
        raise PlanError(f"{where}.key_algorithm applies to a root only: the key of an intermediate or "
                        "leaf certificate comes from its CSR")
    return CertProfile(kind=kind, subject=table["subject"], not_before=not_before, not_after=not_after,
                       path_length=path_length, key_algorithm=key_algorithm)


def random_serial() -> int:
    """A random positive serial of at most 159 bits (RFC 5280: <= 20 octets; CABF: >= 64 random bits)."""
    return secrets.randbelow(MAX_SERIAL) + 1


def _default_extensions(profile: CertProfile) -> dict[x509.ObjectIdentifier, tuple[x509.ExtensionType, bool]]:
    """The extensions a profile gives, by OID: Notary Project certificate requirements."""
    if profile.is_ca:
        return {
            ExtensionOID.BASIC_CONSTRAINTS: (x509.BasicConstraints(ca=True, path_length=profile.path_length), True),
            ExtensionOID.KEY_USAGE: (x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False), True),
        }
    return {
        ExtensionOID.BASIC_CONSTRAINTS: (x509.BasicConstraints(ca=False, path_length=None), True),
        ExtensionOID.KEY_USAGE: (x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), True),
        ExtensionOID.EXTENDED_KEY_USAGE: (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False),
    }


def _name(value: x509.Name | str, where: str) -> x509.Name:
    if isinstance(value, x509.Name):
        return value
    return parse_subject(value, where, error=VerificationError)


def tbs_certificate(profile: CertProfile, subject_public_key: object, issuer_name: x509.Name | str,
                    issuer_public_key: der.PublicKey, serial: int, hash_name: str | None = None,
                    requested: Iterable[x509.Extension[x509.ExtensionType]] = ()) -> bytes:
    """The DER TBSCertificate the issuer's key will sign, for ``profile``.

    Args:
        profile: the certificate's profile (for a root, issuer = subject, keys equal).
        subject_public_key: the certified key (a root's own, or the CSR's).
        issuer_name: the issuing CA's subject (its certificate's ``subject``), or the profile's
            subject for a root.
        issuer_public_key: the CA key on the token: fixes the signature algorithm and the AKI.
        serial: from :func:`random_serial` (the caller keeps it, the record names it).
        hash_name: sha256/sha384/sha512; default: the issuer key's own (``der.hash_for_key``).
        requested: a CSR's extensions; those in ``COPIED_EXTENSIONS`` replace the profile's, so
            lint judges what was asked for (a requested serverAuth is refused, not silently fixed).

    Raises:
        VerificationError: the serial is not positive or longer than 20 octets, a key is of
            an unsupported type, or a requested extension is malformed.
    """
    if isinstance(serial, bool) or not isinstance(serial, int) or not 0 < serial <= MAX_SERIAL:
        raise VerificationError("the serial number must be positive and at most 20 octets (RFC 5280 4.1.2.2)")
    if not isinstance(subject_public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise VerificationError("the certified key must be ECDSA or RSA (the Notary Project allows no other)")
    hash_name = hash_name or der.hash_for_key(issuer_public_key)
    algorithm = der.signature_algorithm(issuer_public_key, hash_name)
    extensions = _default_extensions(profile)
    for extension in requested:
        if extension.oid in COPIED_EXTENSIONS:
            extensions[extension.oid] = (extension.value, extension.critical)
    builder = (x509.CertificateBuilder()
               .subject_name(profile.subject_name())
               .issuer_name(_name(issuer_name, "the issuer name"))
               .public_key(subject_public_key)
               .serial_number(serial)
               .not_valid_before(profile.not_before)
               .not_valid_after(profile.not_after))
    for oid in (ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.KEY_USAGE, ExtensionOID.EXTENDED_KEY_USAGE,
                ExtensionOID.SUBJECT_ALTERNATIVE_NAME):
        if oid in extensions:
            value, critical = extensions[oid]
            builder = builder.add_extension(value, critical=critical)
    builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_public_key), critical=False)
    builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key),
                                    critical=False)
    try:
        throwaway = builder.sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    except (ValueError, TypeError) as e:
        raise VerificationError(f"the certificate cannot be built: {e}") from None
    return der.with_signature_algorithm(throwaway.tbs_certificate_bytes, algorithm, "certificate")


def cross_certificate_tbs(new_root: x509.Certificate, old_root: x509.Certificate, serial: int,
                          hash_name: str | None = None, *, not_after: datetime | None = None) -> bytes:
    """The TBSCertificate of a cross-certificate: the new root's subject and key, signed by the old root.

    Rotation: verifiers that trust only the old root reach the new one through this certificate
    (leaf -> intermediate -> cross -> old root), while new verifiers trust the new root itself.
    Subject, key, basicConstraints and keyUsage are the new root's (its Name object, so the
    encoding matches byte for byte); the validity is the overlap of both roots (cut at
    ``not_after`` if given); SKI from the new key, AKI from the old. Lint it as an
    ``intermediate`` with ``issuer=old_root`` (the old root's path length must leave room).

    Raises:
        VerificationError: the serial is out of range, the roots' validities do not overlap,
            or the new root lacks basicConstraints/keyUsage.
    """
    if isinstance(serial, bool) or not isinstance(serial, int) or not 0 < serial <= MAX_SERIAL:
        raise VerificationError("the serial number must be positive and at most 20 octets (RFC 5280 4.1.2.2)")
    old_key, new_key = old_root.public_key(), new_root.public_key()
    if not isinstance(old_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey) or \
            not isinstance(new_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise VerificationError("both roots' keys must be ECDSA or RSA")
    start = max(new_root.not_valid_before_utc, old_root.not_valid_before_utc)
    end = min(new_root.not_valid_after_utc, old_root.not_valid_after_utc, *([not_after] if not_after else []))
    if end <= start:
        raise VerificationError("the old and the new root are never valid at the same time: nothing to cross-sign")
    builder = (x509.CertificateBuilder().subject_name(new_root.subject).issuer_name(old_root.subject)
               .public_key(new_key).serial_number(serial).not_valid_before(start).not_valid_after(end))
    try:
        for cls in (x509.BasicConstraints, x509.KeyUsage):
            ext = new_root.extensions.get_extension_for_class(cls)
            builder = builder.add_extension(ext.value, critical=ext.critical)
    except x509.ExtensionNotFound:
        raise VerificationError("the new root has no basicConstraints or keyUsage to carry over") from None
    builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(new_key), critical=False)
    builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(old_key), critical=False)
    throwaway = builder.sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    algorithm = der.signature_algorithm(old_key, hash_name or der.hash_for_key(old_key))
    return der.with_signature_algorithm(throwaway.tbs_certificate_bytes, algorithm, "certificate")


def assemble_certificate(tbs: bytes, signature_der: bytes) -> bytes:
    """The DER certificate: ``tbs`` + its own signatureAlgorithm + the token's (DER) signature.

    Raises:
        VerificationError: ``tbs`` is not a DER TBSCertificate.
    """
    return der.assemble(tbs, signature_der, "certificate")


def load_certificate(data: bytes, what: str = "certificate") -> x509.Certificate:
    """A certificate from PEM or DER bytes.

    Raises:
        VerificationError: neither a PEM nor a DER certificate.
    """
    try:
        if bytes(data).lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(bytes(data))
        return x509.load_der_x509_certificate(bytes(data))
    except ValueError as e:
        raise VerificationError(f"the {what} is not an X.509 certificate ({str(e)[:120]})") from None


def verify_issued(cert: x509.Certificate | bytes, issuer: x509.Certificate | der.PublicKey) -> None:
    """Check that ``issuer`` signed ``cert`` (and, given its certificate, names and key ids chain).

    Run right after the token signs, before anything is written: a wrong key or mechanism
    is caught while nothing depends on the certificate yet.

    Raises:
        VerificationError: the signature does not verify, or ``cert``'s issuer / AKI is not
            ``issuer``'s subject / SKI.
    """
    certificate = cert if isinstance(cert, x509.Certificate) else load_certificate(cert)
    if isinstance(issuer, x509.Certificate):
        if certificate.issuer != issuer.subject:
            raise VerificationError(f"the certificate's issuer {certificate.issuer.rfc4514_string()!r} is not "
                                    f"the CA's subject {issuer.subject.rfc4514_string()!r}")
        _check_key_ids(certificate, issuer)
        public_key: object = issuer.public_key()
    else:
        public_key = issuer
    algorithm = der.algorithm_of_tbs(certificate.tbs_certificate_bytes, "certificate")
    der.verify_signature(public_key, algorithm, certificate.tbs_certificate_bytes, certificate.signature,
                         "certificate")


def _check_key_ids(certificate: x509.Certificate, issuer: x509.Certificate) -> None:
    try:
        aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return
    if aki is not None and aki != ski:
        raise VerificationError("the certificate's authority key identifier is not the CA's subject key "
                                "identifier: it names another CA key")
