"""Lint a certificate before it is signed: the Notary Project's requirements and RFC 5280's.

Why before: a CA signature cannot be taken back. Lint runs on the TBSCertificate (what WILL
be signed, requested extensions included) and a violation refuses the signature with the rule
named, so an operator learns "leaf EKU serverAuth" in the room instead of from ``notation
verify`` later (notation#1326 is a user who learnt it that way).

Rules (ids are stable; the record and the tests name them):

* Notary Project certificate requirements (``notary.*``; specs/signature-specification.md,
  "Certificate Requirements"): a CA has basicConstraints critical with cA true and keyUsage
  critical with keyCertSign; a leaf has keyUsage critical with digitalSignature only, no cA,
  EKU absent or codeSigning alone and never anyExtendedKeyUsage, serverAuth, clientAuth,
  emailProtection or timeStamping; keys RSA >= 2048 or EC >= 256 (P-256/P-384/P-521); no
  SHA-1/MD5 signature.
* Notation (``notation.*``): a leaf's subject has C, ST and O, without which no
  ``x509.subject`` trusted identity can match it.
* This tool (``ceremony.*``): a root's own key is EC P-256/P-384 or RSA >= 3072 (issue 16).
* RFC 5280 (``rfc5280.*``): v3, serial positive and <= 20 octets, notBefore < notAfter,
  non-empty issuer, non-empty subject for a CA, SKI on a CA, AKI with a key id (except on a
  self-signed root), pathLenConstraint only on a CA asserting keyCertSign, no extension twice,
  a root's issuer equal to its subject, no unknown critical extension, SKI/AKI not critical,
  UTCTime through 2049 and GeneralizedTime from 2050, no unique identifiers, the signature
  algorithm inside the TBS equal to the one outside.
* Given the signing CA's certificate (``issuer=``): the issuer name is its subject, it is a CA
  with keyCertSign, its pathLenConstraint allows another CA below it (``rfc5280.issuer.*``), the
  AKI is its SKI (``rfc5280.aki.match``), and (``ceremony.*``) the new CA's path length fits
  under it and the validity lies inside its own (else the chain fails in the difference).

CRLs have their own rules (:func:`lint_crl`, ids ``rfc5280.crl.*``).

API (stable): ``Violation``, ``lint(cert_or_tbs, kind, issuer=None)``, ``refuse_if_violations(cert_or_tbs,
kind, what="", issuer=None)``, ``lint_crl(crl_or_tbs, issuer=None)``, ``refuse_crl_if_violations(crl_or_tbs,
what="", issuer=None)``, ``as_certificate``, ``as_crl``, ``FORBIDDEN_LEAF_EKUS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from asn1crypto import core, crl as asn1_crl, x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, SignatureAlgorithmOID

from ceremony.errors import VerificationError
from ceremony.formats.x509 import der
from ceremony.formats.x509.profile import KINDS, NOTATION_SUBJECT_ATTRIBUTES

__all__ = ["FORBIDDEN_LEAF_EKUS", "Violation", "as_certificate", "as_crl", "lint", "lint_crl",
           "refuse_crl_if_violations", "refuse_if_violations"]

#: Extended key usages a Notary Project signing certificate must never carry.
FORBIDDEN_LEAF_EKUS = {
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage",
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
}

_WEAK_SIGNATURES = {
    SignatureAlgorithmOID.RSA_WITH_SHA1: "SHA-1", SignatureAlgorithmOID.ECDSA_WITH_SHA1: "SHA-1",
    SignatureAlgorithmOID.DSA_WITH_SHA1: "SHA-1", SignatureAlgorithmOID.RSA_WITH_MD5: "MD5",
}
_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_KEY_USAGE_NAMES = {  # cryptography's attribute -> RFC 5280's name, for the operator's sentence
    "digital_signature": "digitalSignature", "content_commitment": "nonRepudiation",
    "key_encipherment": "keyEncipherment", "data_encipherment": "dataEncipherment", "key_agreement": "keyAgreement",
    "key_cert_sign": "keyCertSign", "crl_sign": "cRLSign", "encipher_only": "encipherOnly",
    "decipher_only": "decipherOnly",
}
_KEY_USAGE_BITS = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                   "key_agreement", "key_cert_sign", "crl_sign")


@dataclass(frozen=True)
class Violation:
    """One broken rule: its stable id and a sentence for the operator."""

    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.message} (rule {self.rule})"


def as_certificate(cert_or_tbs: x509.Certificate | bytes) -> x509.Certificate:
    """A parsed certificate from a certificate or a bare DER TBSCertificate (signature zeroed).

    Raises:
        VerificationError: the bytes are neither.
    """
    if isinstance(cert_or_tbs, x509.Certificate):
        return cert_or_tbs
    parsed: x509.Certificate = _load(
        bytes(cert_or_tbs), asn1_x509.TbsCertificate, "certificate",
        (x509.load_der_x509_certificate, x509.load_pem_x509_certificate),
        "the certificate to lint is neither a certificate nor a TBSCertificate")
    return parsed


def _load(data: bytes, tbs_spec: type[core.Sequence], kind: Literal["certificate", "crl"],
          loaders: tuple[Callable[[bytes], Any], Callable[[bytes], Any]], refusal: str) -> Any:
    """A certificate or CRL parsed with ``loaders`` (DER, PEM) from its whole bytes or from a
    bare DER to-be-signed structure (``tbs_spec``: wrapped with a zero signature by
    :func:`der.assemble`), the one way both are read before linting.

    Raises:
        VerificationError: ``refusal`` with the parser's reason: the bytes are neither.
    """
    load_der, load_pem = loaders
    try:
        tbs_spec.load(data, strict=True).native  # noqa: B018 - full parse or fail
        is_tbs = True
    except (ValueError, TypeError, OverflowError):
        is_tbs = False
    try:
        if is_tbs:
            return load_der(der.assemble(data, b"\x00", kind))
        if data.lstrip().startswith(b"-----BEGIN"):
            return load_pem(data)
        return load_der(data)
    except ValueError as e:
        raise VerificationError(f"{refusal} ({str(e)[:120]})") from None


def _extension(cert: x509.Certificate, cls: type[x509.ExtensionType]) -> x509.Extension[x509.ExtensionType] | None:
    try:
        return cert.extensions.get_extension_for_class(cls)
    except x509.ExtensionNotFound:
        return None


def _key_usage_bits(value: x509.KeyUsage) -> set[str]:
    bits = {name for name in _KEY_USAGE_BITS if getattr(value, name)}
    if value.key_agreement:
        bits |= {n for n in ("encipher_only", "decipher_only") if getattr(value, n)}
    return bits


def _key_rules(cert: x509.Certificate, kind: str) -> list[Violation]:
    out = []
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            out.append(Violation("notary.key.size", f"the key is RSA-{key.key_size}; the Notary Project "
                                 "requires RSA of at least 2048 bits"))
        elif kind == "root" and key.key_size < 3072:
            out.append(Violation("ceremony.root.key", f"the root's key is RSA-{key.key_size}; a root CA "
                                 "key here is EC P-256/P-384 or RSA of at least 3072 bits"))
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _CURVES:
            out.append(Violation("notary.key.size", f"the key is on the curve {key.curve.name}; the Notary "
                                 "Project requires P-256, P-384 or P-521"))
        elif kind == "root" and key.curve.name == "secp521r1":
            out.append(Violation("ceremony.root.key", "the root's key is P-521; a root CA key here is EC "
                                 "P-256/P-384 or RSA of at least 3072 bits"))
    else:
        out.append(Violation("notary.key.type", f"the key is {type(key).__name__.removesuffix('PublicKey')}; "
                             "the Notary Project allows RSA and ECDSA keys only"))
    return out


def _rfc5280_rules(cert: x509.Certificate, kind: str) -> list[Violation]:
    out = []
    if cert.version != x509.Version.v3:
        out.append(Violation("rfc5280.version", "the certificate is not version 3, so it cannot carry "
                             "the extensions the profile needs"))
    serial = cert.serial_number
    if serial <= 0:
        out.append(Violation("rfc5280.serial", "the serial number is not positive (RFC 5280 4.1.2.2)"))
    elif (serial.bit_length() + 8) // 8 > 20:
        out.append(Violation("rfc5280.serial", "the serial number is longer than 20 octets (RFC 5280 4.1.2.2)"))
    if cert.not_valid_before_utc >= cert.not_valid_after_utc:
        out.append(Violation("rfc5280.validity", "notBefore is not before notAfter: the certificate would "
                             "never be valid"))
    if not cert.issuer.rdns:
        out.append(Violation("rfc5280.issuer", "the issuer name is empty (RFC 5280 4.1.2.4)"))
    if kind != "leaf" and not cert.subject.rdns:
        out.append(Violation("rfc5280.subject", "a CA's subject name must not be empty (RFC 5280 4.1.2.6)"))
    if kind == "root" and cert.issuer != cert.subject:
        out.append(Violation("rfc5280.root.issuer", "a self-signed root's issuer must equal its subject"))
    if kind != "leaf" and _extension(cert, x509.SubjectKeyIdentifier) is None:
        out.append(Violation("rfc5280.ski", "a CA certificate must carry a subject key identifier "
                             "(RFC 5280 4.2.1.2)"))
    aki = _extension(cert, x509.AuthorityKeyIdentifier)
    if kind != "root" and (aki is None or not isinstance(aki.value, x509.AuthorityKeyIdentifier)
                           or aki.value.key_identifier is None):
        out.append(Violation("rfc5280.aki", "the certificate must carry an authority key identifier with "
                             "a key id, naming the CA key that signs it (RFC 5280 4.2.1.1)"))
    for ext in cert.extensions:
        if ext.critical and isinstance(ext.value, x509.UnrecognizedExtension):
            out.append(Violation("rfc5280.critical.unknown", f"the critical extension {ext.oid.dotted_string} "
                                 "is unknown to this tool; verifiers would reject the certificate"))
        if ext.critical and isinstance(ext.value, x509.SubjectKeyIdentifier | x509.AuthorityKeyIdentifier):
            name = "subject" if isinstance(ext.value, x509.SubjectKeyIdentifier) else "authority"
            out.append(Violation("rfc5280.key_identifier.critical", f"the {name} key identifier is marked "
                                 "critical; RFC 5280 4.2.1.1/4.2.1.2 say it MUST NOT be"))
    return out + _encoding_rules(cert)


def _encoding_rules(cert: x509.Certificate) -> list[Violation]:
    """What ``cryptography`` does not expose: time encodings, unique ids, the two algorithm fields."""
    out = []
    outer = asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))
    tbs = outer["tbs_certificate"]
    for field in ("not_before", "not_after"):
        when = tbs["validity"][field]
        year = when.native.year
        wanted = "utc_time" if year < 2050 else "general_time"
        if when.name != wanted:
            out.append(Violation("rfc5280.validity.encoding", f"{field.replace('_b', 'B').replace('_a', 'A')} "
                                 f"({year}) is encoded as {when.name}; RFC 5280 4.1.2.5 requires "
                                 f"{'UTCTime through 2049' if wanted == 'utc_time' else 'GeneralizedTime from 2050'}"))
    if not isinstance(tbs["issuer_unique_id"], core.Void) or not isinstance(tbs["subject_unique_id"], core.Void):
        out.append(Violation("rfc5280.unique_id", "the certificate carries an issuer or subject unique identifier; "
                             "conforming CAs MUST NOT (RFC 5280 4.1.2.8)"))
    if outer["signature_algorithm"].dump() != tbs["signature"].dump():
        out.append(Violation("rfc5280.signature.match", "the signature algorithm inside the signed part differs "
                             "from the one outside it (RFC 5280 4.1.1.2)"))
    return out


def _basic_constraints(cert: x509.Certificate) -> x509.BasicConstraints | None:
    ext = _extension(cert, x509.BasicConstraints)
    return ext.value if ext is not None and isinstance(ext.value, x509.BasicConstraints) else None


def _ca_rules(cert: x509.Certificate) -> list[Violation]:
    out = []
    bc_ext = _extension(cert, x509.BasicConstraints)
    bc = _basic_constraints(cert)
    if bc_ext is None or bc is None or not bc.ca or not bc_ext.critical:
        out.append(Violation("notary.ca.basic_constraints", "a CA certificate needs basicConstraints marked "
                             "critical with cA true"))
    ku_ext = _extension(cert, x509.KeyUsage)
    if ku_ext is None or not isinstance(ku_ext.value, x509.KeyUsage):
        out.append(Violation("notary.ca.key_usage", "a CA certificate needs a keyUsage extension, marked "
                             "critical, with keyCertSign"))
    else:
        if not ku_ext.critical:
            out.append(Violation("notary.ca.key_usage", "a CA certificate's keyUsage must be marked critical"))
        if not ku_ext.value.key_cert_sign:
            out.append(Violation("notary.ca.key_usage", "a CA certificate's keyUsage must assert keyCertSign"))
    return out


def _leaf_rules(cert: x509.Certificate) -> list[Violation]:
    out = []
    bc = _basic_constraints(cert)
    if bc is not None and bc.ca:
        out.append(Violation("notary.leaf.basic_constraints", "a code-signing certificate must not be a CA "
                             "(basicConstraints cA must be false or absent)"))
    ku_ext = _extension(cert, x509.KeyUsage)
    if ku_ext is None or not isinstance(ku_ext.value, x509.KeyUsage):
        out.append(Violation("notary.leaf.key_usage", "a code-signing certificate needs a keyUsage extension, "
                             "marked critical, with digitalSignature"))
    else:
        bits = _key_usage_bits(ku_ext.value)
        if not ku_ext.critical:
            out.append(Violation("notary.leaf.key_usage", "a code-signing certificate's keyUsage must be "
                                 "marked critical"))
        if "key_cert_sign" in bits or "crl_sign" in bits:
            out.append(Violation("notary.leaf.key_cert_sign", "a code-signing certificate must not assert "
                                 "keyCertSign or cRLSign: it could sign certificates"))
        if "digital_signature" not in bits:
            out.append(Violation("notary.leaf.key_usage", "a code-signing certificate's keyUsage must assert "
                                 "digitalSignature"))
        others = [_KEY_USAGE_NAMES[b] for b in sorted(bits - {"digital_signature", "key_cert_sign", "crl_sign"})]
        if others:
            out.append(Violation("notary.leaf.key_usage", "a code-signing certificate's keyUsage must be "
                                 f"digitalSignature only, not also {', '.join(others)}"))
    eku_ext = _extension(cert, x509.ExtendedKeyUsage)
    if eku_ext is not None and isinstance(eku_ext.value, x509.ExtendedKeyUsage):
        usages = list(eku_ext.value)
        forbidden = [FORBIDDEN_LEAF_EKUS[u] for u in usages if u in FORBIDDEN_LEAF_EKUS]
        if forbidden:
            out.append(Violation("notary.leaf.eku", "a code-signing certificate must not carry the extended "
                                 f"key usage {', '.join(forbidden)}; only codeSigning (or no EKU) is allowed"))
        elif usages != [ExtendedKeyUsageOID.CODE_SIGNING]:
            out.append(Violation("notary.leaf.eku", "a code-signing certificate's extended key usage must be "
                                 "codeSigning alone (or absent)"))
    present = {attr.oid for attr in cert.subject}
    missing = [short for short, oid in NOTATION_SUBJECT_ATTRIBUTES if oid not in present]
    if missing:
        out.append(Violation("notation.leaf.subject", f"the subject lacks {', '.join(missing)}; Notation "
                             "matches a signing certificate only by a subject with C, ST and O"))
    return out


def _path_length_rule(cert: x509.Certificate) -> list[Violation]:
    bc = _basic_constraints(cert)
    if bc is None or bc.path_length is None:
        return []
    ku_ext = _extension(cert, x509.KeyUsage)
    signs = ku_ext is not None and isinstance(ku_ext.value, x509.KeyUsage) and ku_ext.value.key_cert_sign
    if not bc.ca or not signs:
        return [Violation("rfc5280.path_length", "pathLenConstraint is set on a certificate that is not a CA "
                          "asserting keyCertSign (RFC 5280 4.2.1.9)")]
    return []


def _issuer_rules(cert: x509.Certificate, kind: str, issuer: x509.Certificate) -> list[Violation]:
    """Rules between a certificate and the CA certificate that will sign it."""
    out = []
    if cert.issuer != issuer.subject:
        out.append(Violation("rfc5280.issuer.name", f"the certificate names the issuer "
                             f"{cert.issuer.rfc4514_string()!r} but the signing CA is "
                             f"{issuer.subject.rfc4514_string()!r}"))
    issuer_bc = _basic_constraints(issuer)
    issuer_ku = _extension(issuer, x509.KeyUsage)
    if issuer_bc is None or not issuer_bc.ca or issuer_ku is None or not isinstance(issuer_ku.value, x509.KeyUsage) \
            or not issuer_ku.value.key_cert_sign:
        out.append(Violation("rfc5280.issuer.ca", "the signing certificate is not a CA asserting keyCertSign: "
                             "nothing it signs would verify"))
    elif kind != "leaf" and issuer_bc.path_length is not None:
        own = _basic_constraints(cert)
        if issuer_bc.path_length == 0:
            out.append(Violation("rfc5280.issuer.path_length", "the signing CA's pathLenConstraint is 0: it may "
                                 "issue leaf certificates only, not another CA"))
        elif own is not None and (own.path_length is None or own.path_length > issuer_bc.path_length - 1):
            out.append(Violation("ceremony.path_length.nested", f"the signing CA allows {issuer_bc.path_length} "
                                 "CA(s) below it, so this CA's pathLenConstraint must be at most "
                                 f"{issuer_bc.path_length - 1}"))
    if cert.not_valid_before_utc < issuer.not_valid_before_utc or \
            cert.not_valid_after_utc > issuer.not_valid_after_utc:
        out.append(Violation("ceremony.validity.nested", f"the validity {cert.not_valid_before_utc:%Y-%m-%d} .. "
                             f"{cert.not_valid_after_utc:%Y-%m-%d} is not inside the signing CA's "
                             f"{issuer.not_valid_before_utc:%Y-%m-%d} .. {issuer.not_valid_after_utc:%Y-%m-%d}: "
                             "the chain would fail verification in the difference"))
    aki = _extension(cert, x509.AuthorityKeyIdentifier)
    ski = _extension(issuer, x509.SubjectKeyIdentifier)
    aki_id = aki.value.key_identifier if aki is not None and isinstance(aki.value, x509.AuthorityKeyIdentifier) \
        else None
    ski_id = ski.value.digest if ski is not None and isinstance(ski.value, x509.SubjectKeyIdentifier) else None
    if aki_id is not None and ski_id is not None and aki_id != ski_id:
        out.append(Violation("rfc5280.aki.match", "the authority key identifier is not the signing CA's subject "
                             "key identifier"))
    return out


def lint(cert_or_tbs: x509.Certificate | bytes, kind: str, *, issuer: x509.Certificate | None = None
         ) -> list[Violation]:
    """Every rule ``cert_or_tbs`` breaks as a ``kind`` certificate (empty: it may be signed).

    Args:
        cert_or_tbs: a DER TBSCertificate (before signing), or a certificate (PEM/DER/parsed).
        kind: ``root``, ``intermediate`` or ``leaf`` (a cross-certificate is an ``intermediate``).
        issuer: the CA certificate that will sign it (not for a root): adds the rules between
            the two (issuer name, CA with keyCertSign, path length, nested validity, AKI = SKI).

    Raises:
        VerificationError: the bytes do not parse as a certificate or TBSCertificate.
        ValueError: ``kind`` is unknown (a caller's bug).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown certificate kind {kind!r}")
    cert = as_certificate(cert_or_tbs)
    try:
        list(cert.extensions)
    except (ValueError, x509.DuplicateExtension) as e:
        return [Violation("rfc5280.extensions", f"the extensions do not parse or repeat one ({str(e)[:120]})")]
    out = _rfc5280_rules(cert, kind)
    try:
        out += _key_rules(cert, kind)
    except (ValueError, TypeError) as e:
        out.append(Violation("notary.key.type", f"the public key does not parse ({str(e)[:120]})"))
    weak = _WEAK_SIGNATURES.get(cert.signature_algorithm_oid)
    if weak:
        out.append(Violation("notary.signature.sha1", f"the signature algorithm uses {weak}, which the Notary "
                             "Project refuses"))
    out += _ca_rules(cert) if kind != "leaf" else _leaf_rules(cert)
    out += _path_length_rule(cert)
    if issuer is not None and kind != "root":
        out += _issuer_rules(cert, kind, issuer)
    return out


def refuse_if_violations(cert_or_tbs: x509.Certificate | bytes, kind: str, what: str = "", *,
                         issuer: x509.Certificate | None = None) -> None:
    """Lint (with ``issuer``'s rules when given), and refuse with every broken rule named.

    Nothing is signed after this raises.

    Raises:
        VerificationError: ``the <kind> certificate <what> breaks N rule(s): ...``.
    """
    violations = lint(cert_or_tbs, kind, issuer=issuer)
    if violations:
        label = f"the {kind} certificate{f' {what}' if what else ''}"
        count = f"{len(violations)} rule{'s' if len(violations) > 1 else ''}"
        raise VerificationError(f"{label} breaks {count}: " + "; ".join(str(v) for v in violations),
                                hint="nothing was signed; fix the plan or ask for a new CSR")


# --------------------------------------------------------------------------- CRLs


def as_crl(crl_or_tbs: x509.CertificateRevocationList | bytes) -> x509.CertificateRevocationList:
    """A parsed CRL from a CRL or a bare DER TBSCertList (signature zeroed).

    Raises:
        VerificationError: the bytes are neither.
    """
    if isinstance(crl_or_tbs, x509.CertificateRevocationList):
        return crl_or_tbs
    parsed: x509.CertificateRevocationList = _load(
        bytes(crl_or_tbs), asn1_crl.TbsCertList, "crl", (x509.load_der_x509_crl, x509.load_pem_x509_crl),
        "the CRL to lint is neither a CRL nor a TBSCertList")
    return parsed


def _crl_entry_rules(crl: x509.CertificateRevocationList) -> list[Violation]:
    out = []
    seen: set[int] = set()
    for entry in crl:
        serial = entry.serial_number
        if serial <= 0 or (serial.bit_length() + 8) // 8 > 20:
            out.append(Violation("rfc5280.crl.serial", f"the revoked serial {serial:x} is not a certificate serial "
                                 "(positive, at most 20 octets)"))
        if serial in seen:
            out.append(Violation("rfc5280.crl.duplicate", f"the serial {serial:x} is listed twice"))
        seen.add(serial)
        try:
            reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        except x509.ExtensionNotFound:
            continue
        if reason == x509.ReasonFlags.unspecified:
            out.append(Violation("rfc5280.crl.reason", f"the entry for {serial:x} carries reasonCode unspecified; "
                                 "RFC 5280 5.3.1 says to leave the code out instead"))
        elif reason == x509.ReasonFlags.remove_from_crl:
            out.append(Violation("rfc5280.crl.reason", f"the entry for {serial:x} is removeFromCRL, which only a "
                                 "delta CRL may carry"))
    return out


def lint_crl(crl_or_tbs: x509.CertificateRevocationList | bytes, *, issuer: x509.Certificate | None = None
             ) -> list[Violation]:
    """Every RFC 5280 rule a CRL (or its TBSCertList, before signing) breaks; empty: it may be signed.

    Rules: v2; non-empty issuer; nextUpdate present and after thisUpdate; an authority key
    identifier with a key id and a cRLNumber of at most 20 octets, neither critical; entries
    with positive serials, each once, no reasonCode ``unspecified`` or ``removeFromCRL``; no
    SHA-1/MD5. Given the CA (``issuer=``): its subject is the CRL's issuer, it asserts cRLSign,
    and the AKI is its SKI.

    Raises:
        VerificationError: the bytes are neither a CRL nor a TBSCertList.
    """
    crl = as_crl(crl_or_tbs)
    out = []
    try:
        extensions = list(crl.extensions)
        for entry in crl:
            list(entry.extensions)
    except (ValueError, x509.DuplicateExtension) as e:
        return [Violation("rfc5280.extensions", f"the CRL's extensions do not parse or repeat one ({str(e)[:120]})")]
    tbs = asn1_crl.TbsCertList.load(crl.tbs_certlist_bytes)
    if tbs["version"].native != "v2":
        out.append(Violation("rfc5280.crl.version", "the CRL is not version 2, so it cannot carry its extensions"))
    if not crl.issuer.rdns:
        out.append(Violation("rfc5280.crl.issuer", "the CRL's issuer name is empty (RFC 5280 5.1.2.3)"))
    next_update = crl.next_update_utc
    if next_update is None:
        out.append(Violation("rfc5280.crl.next_update", "the CRL has no nextUpdate; conforming CAs MUST include it "
                             "(RFC 5280 5.1.2.5), and status tracks it"))
    elif next_update <= crl.last_update_utc:
        out.append(Violation("rfc5280.crl.next_update", "the CRL's nextUpdate is not after its thisUpdate"))
    by_class = {type(ext.value): ext for ext in extensions}
    aki = by_class.get(x509.AuthorityKeyIdentifier)
    if aki is None or not isinstance(aki.value, x509.AuthorityKeyIdentifier) or aki.value.key_identifier is None:
        out.append(Violation("rfc5280.crl.aki", "the CRL must carry an authority key identifier with a key id "
                             "(RFC 5280 5.2.1)"))
    number = by_class.get(x509.CRLNumber)
    if number is None or not isinstance(number.value, x509.CRLNumber):
        out.append(Violation("rfc5280.crl.number", "the CRL must carry a cRLNumber (RFC 5280 5.2.3)"))
    elif number.value.crl_number < 0 or (number.value.crl_number.bit_length() + 8) // 8 > 20:
        out.append(Violation("rfc5280.crl.number", "the cRLNumber must be non-negative and at most 20 octets"))
    for ext in (aki, number):
        if ext is not None and ext.critical:
            out.append(Violation("rfc5280.crl.critical", f"the CRL's {type(ext.value).__name__} extension is marked "
                                 "critical; RFC 5280 5.2 defines it as non-critical"))
    out += _crl_entry_rules(crl)
    weak = _WEAK_SIGNATURES.get(crl.signature_algorithm_oid)
    if weak:
        out.append(Violation("notary.signature.sha1", f"the CRL's signature algorithm uses {weak}"))
    if issuer is not None:
        if crl.issuer != issuer.subject:
            out.append(Violation("rfc5280.crl.issuer", f"the CRL names the issuer {crl.issuer.rfc4514_string()!r} "
                                 f"but the signing CA is {issuer.subject.rfc4514_string()!r}"))
        ku = _extension(issuer, x509.KeyUsage)
        if ku is None or not isinstance(ku.value, x509.KeyUsage) or not ku.value.crl_sign:
            out.append(Violation("rfc5280.crl.signer", "the signing CA's keyUsage does not assert cRLSign: "
                                 "verifiers would not accept its CRL"))
        ski = _extension(issuer, x509.SubjectKeyIdentifier)
        aki_id = aki.value.key_identifier if aki is not None and isinstance(aki.value, x509.AuthorityKeyIdentifier) \
            else None
        if aki_id is not None and ski is not None and isinstance(ski.value, x509.SubjectKeyIdentifier) and \
                aki_id != ski.value.digest:
            out.append(Violation("rfc5280.aki.match", "the CRL's authority key identifier is not the signing CA's "
                                 "subject key identifier"))
    return out


def refuse_crl_if_violations(crl_or_tbs: x509.CertificateRevocationList | bytes, what: str = "", *,
                             issuer: x509.Certificate | None = None) -> None:
    """Lint a CRL (before signing) and refuse with every broken rule named.

    Raises:
        VerificationError: ``the CRL <what> breaks N rule(s): ...``.
    """
    violations = lint_crl(crl_or_tbs, issuer=issuer)
    if violations:
        label = f"the CRL{f' {what}' if what else ''}"
        count = f"{len(violations)} rule{'s' if len(violations) > 1 else ''}"
        raise VerificationError(f"{label} breaks {count}: " + "; ".join(str(v) for v in violations),
                                hint="nothing was signed")
