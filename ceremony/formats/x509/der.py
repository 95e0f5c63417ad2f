"""DER splicing for a CA key that lives on a token: TBS + algorithm + signature -> certificate.

Why this module exists: ``cryptography`` builds certificates and CRLs only by signing them
with a private key it holds, and the CA key never leaves its token. So the TBS part is built
with ``cryptography`` (signed by a throwaway software key), its ``signature`` AlgorithmIdentifier
is swapped for the one the token will really use (:func:`with_signature_algorithm`), the token
signs those bytes, and :func:`assemble` wraps the three parts into the outer SEQUENCE.
asn1crypto does the DER work: no hand-written length bytes.

The algorithms follow what ``hsm`` tokens produce: ECDSA with SHA-256/384/512 (the token gives
raw r||s, turned into a DER Ecdsa-Sig-Value by :func:`ecdsa_signature_der`) and RSASSA-PSS
with MGF1 over the same hash and a salt of the digest's length (``TokenKey.sign_raw`` signs
RSA as PSS-SHA256, salt 32). RSA PKCS#1 v1.5 is accepted when verifying (CSRs, outside
certificates) but never produced.

API (stable): ``PublicKey``, ``HASH_NAMES``, ``hash_for_key(key)``, ``signature_algorithm(key, hash_name)``,
``with_signature_algorithm(tbs, algorithm, kind)``, ``algorithm_of_tbs(tbs, kind)``,
``assemble(tbs, signature, kind)``, ``ecdsa_signature_der(raw, key)``,
``verify_signature(key, algorithm, data, signature, what)``.
"""

from __future__ import annotations

from typing import Literal

from asn1crypto import algos, core, crl as asn1_crl, x509 as asn1_x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ceremony.errors import VerificationError
from hsm.verify import raw_to_der

__all__ = [
    "HASH_NAMES",
    "PublicKey",
    "algorithm_of_tbs",
    "assemble",
    "ecdsa_signature_der",
    "hash_for_key",
    "signature_algorithm",
    "verify_signature",
    "with_signature_algorithm",
]

#: The issuing keys a CA may hold (Notary Project: RSA or ECDSA; no Ed25519 in X.509 chains).
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey

#: Hash names accepted for a CA's signatures, and their ``cryptography`` objects.
HASH_NAMES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512,
}

_ECDSA = {"sha256": "sha256_ecdsa", "sha384": "sha384_ecdsa", "sha512": "sha512_ecdsa"}
_ECDSA_HASH = {v: k for k, v in _ECDSA.items()}
_PKCS1 = {"sha256_rsa": "sha256", "sha384_rsa": "sha384", "sha512_rsa": "sha512"}
_SALT = {"sha256": 32, "sha384": 48, "sha512": 64}

Kind = Literal["certificate", "crl"]


def hash_for_key(public_key: PublicKey) -> str:
    """The hash a CA key signs with by default: its curve's own (as ``sign_raw`` does), SHA-256 for RSA."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return {"secp384r1": "sha384", "secp521r1": "sha512"}.get(public_key.curve.name, "sha256")
    return "sha256"


def signature_algorithm(public_key: PublicKey, hash_name: str) -> algos.SignedDigestAlgorithm:
    """The AlgorithmIdentifier of a signature made by ``public_key``'s private half with ``hash_name``.

    Raises:
        VerificationError: the key is neither EC nor RSA, or the hash is not SHA-2.
    """
    if hash_name not in HASH_NAMES:
        raise VerificationError(f"the hash {hash_name!r} is not one a CA signs with; use sha256, sha384 "
                                "or sha512")
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return algos.SignedDigestAlgorithm({"algorithm": _ECDSA[hash_name]})
    if isinstance(public_key, rsa.RSAPublicKey):
        return algos.SignedDigestAlgorithm({"algorithm": "rsassa_pss", "parameters": {
            "hash_algorithm": {"algorithm": hash_name},
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": hash_name}},
            "salt_length": _SALT[hash_name],
        }})
    raise VerificationError("a CA key must be ECDSA or RSA (the Notary Project allows no other)")


def _tbs_class(kind: Kind) -> type[core.Sequence]:
    return asn1_x509.TbsCertificate if kind == "certificate" else asn1_crl.TbsCertList


def _load(cls: type[core.Sequence], data: bytes, what: str) -> core.Sequence:
    """Parse ``data`` as ``cls`` fully and strictly (trailing bytes refused)."""
    try:
        value = cls.load(bytes(data), strict=True)
        value.native  # noqa: B018 - forces the lazy parse, so bad DER fails here and not later
    except (ValueError, TypeError, OverflowError) as e:
        raise VerificationError(f"the {what} is not valid DER ({str(e).splitlines()[0][:120]})") from None
    return value


def with_signature_algorithm(tbs: bytes, algorithm: algos.SignedDigestAlgorithm, kind: Kind) -> bytes:
    """``tbs`` with its ``signature`` field replaced by ``algorithm``; every other byte kept.

    Raises:
        VerificationError: ``tbs`` is not a DER TBSCertificate / TBSCertList.
    """
    parsed = _load(_tbs_class(kind), tbs, f"to-be-signed {kind}")
    parsed["signature"] = algorithm
    return bytes(parsed.dump())


def algorithm_of_tbs(tbs: bytes, kind: Kind) -> algos.SignedDigestAlgorithm:
    """The ``signature`` AlgorithmIdentifier a TBSCertificate / TBSCertList announces.

    Raises:
        VerificationError: ``tbs`` is not valid DER of that kind.
    """
    parsed = _load(_tbs_class(kind), tbs, f"to-be-signed {kind}")
    return algos.SignedDigestAlgorithm.load(parsed["signature"].dump())


def assemble(tbs: bytes, signature: bytes, kind: Kind) -> bytes:
    """Certificate / CertificateList DER from its TBS bytes and a DER-form signature.

    The outer signatureAlgorithm is copied from the TBS (RFC 5280 4.1.1.2 / 5.1.1.2: they
    must be equal), so the two can never disagree. ``signature`` is what a verifier checks:
    DER Ecdsa-Sig-Value for ECDSA (see :func:`ecdsa_signature_der`), the raw block for RSA.

    Raises:
        VerificationError: ``tbs`` is not valid DER of that kind.
    """
    parsed = _load(_tbs_class(kind), tbs, f"to-be-signed {kind}")
    algorithm = algos.SignedDigestAlgorithm.load(parsed["signature"].dump())
    if kind == "certificate":
        outer: core.Sequence = asn1_x509.Certificate({
            "tbs_certificate": parsed, "signature_algorithm": algorithm, "signature_value": bytes(signature)})
    else:
        outer = asn1_crl.CertificateList({
            "tbs_cert_list": parsed, "signature_algorithm": algorithm, "signature": bytes(signature)})
    return bytes(outer.dump())


def ecdsa_signature_der(raw: bytes, public_key: ec.EllipticCurvePublicKey) -> bytes:
    """A token's raw ECDSA r||s as the DER Ecdsa-Sig-Value X.509 carries (RFC 5480 / RFC 3279).

    Raises:
        VerificationError: the raw signature is not 2 x the curve's size in bytes.
    """
    size = 2 * ((public_key.curve.key_size + 7) // 8)
    if len(raw) != size:
        raise VerificationError(f"the token returned a {len(raw)}-byte ECDSA signature; raw r||s on "
                                f"{public_key.curve.name} is {size} bytes")
    return raw_to_der(bytes(raw))


def _pss_hash(params: algos.RSASSAPSSParams) -> str:
    """The hash of RSASSA-PSS parameters, refused unless hash = MGF1 hash and salt = digest size."""
    hash_name = params["hash_algorithm"]["algorithm"].native
    mgf = params["mask_gen_algorithm"]
    if (hash_name not in HASH_NAMES or mgf["algorithm"].native != "mgf1"
            or mgf["parameters"]["algorithm"].native != hash_name
            or params["salt_length"].native != _SALT[hash_name]
            or params["trailer_field"].native != "trailer_field_bc"):
        raise VerificationError("the RSASSA-PSS parameters are not the SHA-2 profile this tool signs "
                                "and checks (MGF1 with the same hash, salt as long as the digest)")
    return str(hash_name)


def verify_signature(public_key: object, algorithm: algos.SignedDigestAlgorithm, data: bytes,
                     signature: bytes, what: str) -> None:
    """Check ``signature`` over ``data`` as ``algorithm`` says, with ``public_key``.

    Raises:
        VerificationError: naming ``what``: the signature does not verify, or the algorithm
            is not one this tool accepts (SHA-1 and MD5 never are), or does not fit the key.
    """
    name = algorithm["algorithm"].native
    try:
        if name in _ECDSA_HASH and isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(HASH_NAMES[_ECDSA_HASH[name]]()))
        elif name == "rsassa_pss" and isinstance(public_key, rsa.RSAPublicKey):
            hash_name = _pss_hash(algorithm["parameters"])
            public_key.verify(signature, data, padding.PSS(padding.MGF1(HASH_NAMES[hash_name]()),
                                                           _SALT[hash_name]), HASH_NAMES[hash_name]())
        elif name in _PKCS1 and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), HASH_NAMES[_PKCS1[name]]())
        else:
            raise VerificationError(f"the signature on the {what} uses {name}, which does not fit its "
                                    "key or is not accepted here (SHA-2 with ECDSA, RSASSA-PSS or "
                                    "PKCS#1 v1.5 only; never SHA-1 or MD5)")
    except (InvalidSignature, UnsupportedAlgorithm, ValueError):
        raise VerificationError(f"the signature on the {what} does not verify with the issuer's public key",
                                hint="it was altered, or signed by another key") from None
