"""The X.509 pieces the ceremony needs, in the ceremony's terms: one place that calls the pure
layer (``profile``, ``csr``, ``lint``, ``crl``, ``trust``, ``approval``, ``der``).

The ceremony speaks of plan tables, token algorithms and hex; the pure layer of
``cryptography`` objects and DER. This module turns one into the other, so the format
(:mod:`ceremony.formats.x509.format`) never builds ASN.1 itself and a change of the pure
layer's API is absorbed here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ceremony.errors import PlanError, VerificationError
from ceremony.formats.x509 import csr as _csr, lint as _lint, profile as _profile
from hsm.algorithms import get_algorithm
from hsm.verify import raw_to_der

PublicKey = Any  # an EC or RSA public key of cryptography's


def sha256(data: bytes) -> str:
    """Hex SHA-256 (digests journaled and read aloud)."""
    return hashlib.sha256(data).hexdigest()


def spki(public: PublicKey) -> bytes:
    """The DER SubjectPublicKeyInfo of a public key (what key ids hash)."""
    return bytes(public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


def hash_for(algorithm: str) -> str:
    """The hash a token key of ``algorithm`` signs with (``TokenKey.sign_raw``): the curve's own
    for ECDSA (SHA-384 on P-384), SHA-256 for RSA-PSS; the TBS must name the same."""
    alg = get_algorithm(algorithm)
    if alg.family == "ec" and alg.curve == "secp384r1":
        return "sha384"
    if alg.family in ("ec", "rsa"):
        return "sha256"
    raise PlanError(f"the CA key's algorithm {algorithm} cannot sign X.509 certificates "
                    "(use ecdsa-p256, ecdsa-p384 or rsa-3072)")


def signature_der(algorithm: str, raw: bytes) -> bytes:
    """What a certificate's signatureValue holds for a token's raw signature: ECDSA r||s as DER
    Ecdsa-Sig-Value; an RSA signature as it is."""
    return raw_to_der(raw) if get_algorithm(algorithm).family == "ec" else raw


# ---- profiles and certificates ---------------------------------------------------------------


def parse_profile(table: dict[str, Any], where: str) -> Any:
    """The plan's profile table as the pure layer's ``CertProfile``.

    Raises:
        PlanError: naming the field.
    """
    return _profile.parse_profile(table, where)


def random_serial() -> int:
    """A random positive serial of at most 20 octets (the pure layer's)."""
    return int(_profile.random_serial())


def profile_kind(profile: Any) -> str:
    """``root``, ``intermediate`` or ``leaf``."""
    return str(profile.kind)


@dataclass(frozen=True)
class Tbs:
    """A to-be-signed certificate or CRL: its DER and its words."""

    der: bytes
    kind: str  # root | intermediate | leaf | crl

    @property
    def digest(self) -> str:
        return sha256(self.der)


def certificate_tbs(profile: Any, subject_key: PublicKey, issuer_name: x509.Name,
                    issuer_key: PublicKey, serial: int, algorithm: str,
                    requested: tuple[Any, ...] = (), issuer: x509.Certificate | None = None) -> Tbs:
    """The TBSCertificate the CA key will sign (a CSR's ``requested`` extensions in it, so that
    lint judges what was asked for), linted before anyone signs.

    Raises:
        VerificationError: a lint rule is violated (the message names it).
    """
    der = _profile.tbs_certificate(profile, subject_key, issuer_name, issuer_key, serial,
                                   hash_for(algorithm), requested)
    kind = profile_kind(profile)
    _lint.refuse_if_violations(der, kind, issuer=issuer)  # the CA's rules too (validity inside its own)
    return Tbs(der, kind)


def cross_tbs(new_root: x509.Certificate, old_root: x509.Certificate, serial: int, algorithm: str) -> Tbs:
    """The TBS of a cross-certificate (the new root's subject and key, issued by the old root),
    linted as an intermediate under the old root before anyone signs.

    Raises:
        VerificationError: the roots never overlap, or a rule is broken (named).
    """
    der = _profile.cross_certificate_tbs(new_root, old_root, serial, hash_for(algorithm))
    _lint.refuse_if_violations(der, "intermediate", "(cross-certificate)", issuer=old_root)
    return Tbs(der, "intermediate")


def tbs_validity(tbs: bytes) -> datetime:
    """The notAfter a TBSCertificate says (read back with a placeholder signature, never
    verified)."""
    placeholder = bytes.fromhex("3006020101020101")
    return x509.load_der_x509_certificate(assemble_certificate(tbs, placeholder)).not_valid_after_utc


def assemble_certificate(tbs: bytes, sig_der: bytes) -> bytes:
    """The DER certificate from its TBS and the CA's signature."""
    return bytes(_profile.assemble_certificate(tbs, sig_der))


def verify_certificate(cert_der: bytes, issuer: Any) -> x509.Certificate:
    """The certificate, its signature verified against ``issuer`` (a certificate or key).

    Raises:
        VerificationError: it does not verify.
    """
    _profile.verify_issued(cert_der, issuer)
    return x509.load_der_x509_certificate(cert_der)


def certificate_der(data: bytes) -> bytes:
    """A certificate (PEM or DER) as DER.

    Raises:
        VerificationError: not a certificate.
    """
    return bytes(_profile.load_certificate(data).public_bytes(Encoding.DER))


def read_csr(data: bytes) -> Any:
    """A CSR read and checked (its own signature, key size, hash) by the pure layer.

    Raises:
        VerificationError: the CSR is refused (the message says why).
    """
    return _csr.read_csr(data)


def lint_certificate(cert_der: bytes, kind: str, issuer: x509.Certificate | None = None) -> None:
    """Lint an assembled certificate again (what was signed), with the issuing CA's rules when
    there is one (path length, validity nested in the CA's, issuer name, AKI = the CA's SKI).

    Raises:
        VerificationError: a lint rule is violated.
    """
    _lint.refuse_if_violations(cert_der, kind, issuer=issuer)


# ---- CRLs ------------------------------------------------------------------------------------


def crl_tbs(issuer_name: x509.Name, issuer_key: PublicKey,
            entries: list[tuple[int, datetime, str]], this_update: datetime,
            next_update: datetime, number: int, algorithm: str,
            issuer: x509.Certificate | None = None) -> Tbs:
    """The TBSCertList the CA key will sign, linted (RFC 5280, and the CA's rules) first.

    Raises:
        VerificationError: a rule is broken (named); nothing is signed.
    """
    from ceremony.formats.x509 import crl as _crl  # lazy: CRL operations only

    der = _crl.tbs_crl(issuer_name, issuer_key, entries, this_update, next_update, number,
                       hash_for(algorithm))
    _lint.refuse_crl_if_violations(der, issuer=issuer)
    return Tbs(der, "crl")


def assemble_crl(tbs: bytes, sig_der: bytes) -> bytes:
    """The DER CRL from its TBS and the CA's signature."""
    from ceremony.formats.x509 import crl as _crl  # lazy: CRL operations only

    return bytes(_crl.assemble_crl(tbs, sig_der))


def verify_crl(crl_der: bytes, issuer_key: PublicKey) -> x509.CertificateRevocationList:
    """The CRL, its signature verified against the CA's key.

    Raises:
        VerificationError: it does not verify.
    """
    try:
        crl = x509.load_der_x509_crl(crl_der)
    except ValueError:
        raise VerificationError("the assembled CRL is not DER a CRL parser reads") from None
    if not crl.is_signature_valid(issuer_key):
        raise VerificationError("the CRL's signature does not verify against the CA key; "
                                "nothing was published")
    return crl


# ---- approvals and Notation ------------------------------------------------------------------


def approval_statement(kind: str, tbs: bytes, ca_public: PublicKey, plan: str, label: str) -> bytes:
    """What an approver's token key signs for one TBS: binds the kind, the TBS digest, the CA
    key and the ceremony (the pure layer's canonical statement).

    Raises:
        VerificationError: an empty or unprintable plan identity or label.
    """
    from ceremony.formats.x509 import approval as _approval  # lazy: signing and checking only

    return bytes(_approval.approval_statement("crl" if kind == "crl" else "certificate", tbs,
                                              ca_public, plan, label))


def approval_verifies(statement: bytes, approver: str, signature: bytes, public: PublicKey) -> bool:
    """Whether one approver's token signature verifies over ``statement``."""
    from ceremony.formats.x509 import approval as _approval  # lazy: signing and checking only

    try:
        _approval.verify_approval(statement, approver, signature, public)
    except VerificationError:
        return False
    return True


def approval_words(statement: bytes) -> str:
    """The statement's digest in PGP words: what the room reads before an approver signs."""
    from ceremony.formats.x509 import approval as _approval  # lazy: signing and checking only

    return str(_approval.approval_words(statement))


def notation_files(table: dict[str, Any], root_pem: bytes, root_name: str) -> dict[str, bytes]:
    """Notation's configuration files for the verifying side, by path relative to Notation's
    config folder: ``truststore/x509/ca/STORE/NAME.pem`` and ``trustpolicy.json``.

    Raises:
        PlanError: the plan's trust table is refused.
        VerificationError: the root is not a CA certificate.
    """
    from ceremony.formats.x509 import trust as _trust  # lazy: root operations only

    files = _trust.trust_material(_trust.parse_trust(table, "x509.trust"), {root_name: root_pem})
    return {(rel if rel == _trust.TRUST_POLICY_PATH else f"truststore/{rel}"): data
            for rel, data in files.items()}


def check_trust_policy(data: bytes) -> None:
    """Refuse a ``trustpolicy.json`` Notation would refuse.

    Raises:
        VerificationError: not JSON, or against Notation's rules.
    """
    import json  # lazy: stdlib, a bundle's arrival only

    from ceremony.formats.x509 import trust as _trust  # lazy: a bundle's arrival only

    try:
        doc = json.loads(data)
    except ValueError:
        raise VerificationError("trustpolicy.json is not JSON") from None
    _trust.validate_trust_policy(doc, error=VerificationError)


def check_trust_store_file(name: str, data: bytes, root_der: bytes) -> str:
    """A trust store certificate arriving flat in a bundle (``truststore+x509+ca+STORE+NAME.pem``,
    Notation's path with '/' spelled '+'): a CA store, safe names, and the very root the CA
    folder beside it chains to. Returns the line saying where the verifying side installs it.

    Raises:
        VerificationError: a malformed name, not a certificate, or another certificate.
    """
    from ceremony.formats.x509 import trust as _trust  # lazy: a bundle's arrival only

    parts = name.split("+")
    if len(parts) != 5 or parts[:3] != ["truststore", "x509", "ca"] or not parts[4].endswith(".pem"):
        raise VerificationError(f"{name} is not a trust store file of Notation's CA store "
                                "(truststore+x509+ca+STORE+NAME.pem)")
    store = _trust.check_file_name(parts[3], f"{name}: the store", error=VerificationError)
    _trust.check_file_name(parts[4], f"{name}: the file", error=VerificationError)
    try:
        der = certificate_der(data)
    except VerificationError:
        raise VerificationError(f"{name} is not a PEM certificate") from None
    if der != root_der:
        raise VerificationError(f"{name} is not the root certificate the CA folder in the bundle "
                                "chains to: refusing it as a trust anchor")
    return (f"{name}: the root certificate, for Notation's trust store ca:{store} "
            f"(`notation cert add --type ca --store {store} FILE`)")


def check_notation(table: dict[str, Any]) -> None:
    """Refuse a trust table Notation would refuse (at plan time, before any token).

    Raises:
        PlanError: naming the field.
    """
    from ceremony.formats.x509 import trust as _trust  # lazy: root operations only

    _trust.parse_trust(table, "x509.trust")


def key_bits(public: PublicKey) -> str:
    """The key in words: ``EC P-256``, ``RSA 3072``."""
    if isinstance(public, ec.EllipticCurvePublicKey):
        return f"EC {public.curve.name}"
    if isinstance(public, rsa.RSAPublicKey):
        return f"RSA {public.key_size}"
    return type(public).__name__
