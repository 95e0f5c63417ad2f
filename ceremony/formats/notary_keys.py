"""Notary v1 public keys: key ids, key entries, Go-style PEM, signature checks.

Why byte-exactness matters here too: a key id is the sha256 of the canonical JSON of
``{"keytype":T,"keyval":{"private":null,"public":base64(P)}}`` (reference doc §3.4). For the
root key, ``P`` is the *PEM text* of its certificate, and notary's client rebuilds that PEM
from the parsed certificate the Go way (``pem.EncodeToMemory``) before it looks signatures up.
A PEM wrapped at 76 columns, or with a CRLF, gives another id and "signature not found".

Two ids exist for one root key: the id of the ``ecdsa-x509``/``rsa-x509`` entry (used inside
root.json) and the "canonical" id over the bare SPKI (``utils.CanonicalKeyID``: what
``notary key list`` prints and the ``private/<id>.key`` filename).

Nothing here touches a private key: signing lives on the token (``hsm``) or, for the online
tagging key, in ``ceremony.online``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, cast

from asn1crypto import core, keys as asn1_keys
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from ceremony.errors import VerificationError
from ceremony.formats.notary_json import Signature, canonical_bytes

__all__ = [
    "ECDSA",
    "ECDSA_X509",
    "ED25519",
    "RSA",
    "RSA_X509",
    "PublicKey",
    "canonical_key_id",
    "certificates_from_entry",
    "ecdsa_der_to_raw",
    "ecdsa_raw_to_der",
    "entry_key_id",
    "go_pem",
    "key_entry",
    "key_id",
    "normalize_spki",
    "public_key_entry",
    "public_key_from_entry",
    "signature_problem",
    "spki_der",
    "x509_key_entry",
]

ECDSA = "ecdsa"
ECDSA_X509 = "ecdsa-x509"
RSA = "rsa"
RSA_X509 = "rsa-x509"
ED25519 = "ed25519"

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey

_PEM_COLUMNS = 64


def go_pem(block_type: str, der: bytes, headers: Mapping[str, str] | None = None) -> bytes:
    """Encode one PEM block exactly as Go's ``pem.EncodeToMemory``.

    64-column base64, ``\\n`` line ends, a trailing newline; headers (if any) sorted by name
    with ``Proc-Type`` first, then a blank line, as Go writes them.

    Raises:
        ValueError: a header name or value contains ``:`` or a newline (Go refuses those too).
    """
    lines = [f"-----BEGIN {block_type}-----"]
    if headers:
        names = sorted(headers, key=lambda name: (name != "Proc-Type", name))
        for name in names:
            value = headers[name]
            if ":" in name or "\n" in name or "\n" in value:
                raise ValueError(f"invalid PEM header {name!r}")
            lines.append(f"{name}: {value}")
        lines.append("")
    encoded = base64.b64encode(der).decode("ascii")
    lines.extend(encoded[i : i + _PEM_COLUMNS] for i in range(0, len(encoded), _PEM_COLUMNS))
    lines.append(f"-----END {block_type}-----")
    return ("\n".join(lines) + "\n").encode("ascii")


@functools.lru_cache(maxsize=4096)
def key_id(keytype: str, public: bytes) -> str:
    """Return notary's key id: hex sha256 of canonical ``{"keytype","keyval"}``, null private.

    Memoized: a ceremony recomputes the ids of the same few keys many times.
    """
    document = {"keytype": keytype, "keyval": {"private": None, "public": public}}
    return hashlib.sha256(canonical_bytes(document, path="key")).hexdigest()


def key_entry(keytype: str, public: bytes) -> dict[str, Any]:
    """Return the JSON entry for a public key as notary writes it (``"private": null`` included)."""
    return {
        "keytype": keytype,
        "keyval": {"private": None, "public": base64.b64encode(public).decode("ascii")},
    }


def _entry_public(entry: Mapping[str, Any]) -> tuple[str, bytes]:
    keytype = entry.get("keytype")
    keyval = entry.get("keyval")
    if not isinstance(keytype, str) or not isinstance(keyval, Mapping):
        raise VerificationError("key entry must have a keytype string and a keyval object")
    public = keyval.get("public")
    if not isinstance(public, str):
        raise VerificationError(f"{keytype} key entry has no base64 public value")
    try:
        return keytype, base64.b64decode(public.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise VerificationError(f"{keytype} key entry's public value is not base64") from None


def entry_key_id(entry: Mapping[str, Any]) -> str:
    """Recompute the id of a key entry as notary does (its ``private`` value is ignored).

    Raises:
        VerificationError: the entry is malformed.
    """
    keytype, public = _entry_public(entry)
    return key_id(keytype, public)


def normalize_spki(der: bytes) -> bytes:
    """Return a SubjectPublicKeyInfo Go accepts, from SPKI or a bare PKCS#1 RSA key.

    PKCS#11 tokens hand RSA keys out as modulus/exponent (python-pkcs11 encodes PKCS#1); Go's
    ``x509.ParsePKIXPublicKey`` rejects RSA SPKI whose algorithm parameters are not NULL, which
    made the first RSA attempt of the reference lab fail. Both cases are repaired here.

    Raises:
        VerificationError: ``der`` is neither.
    """
    try:
        info = asn1_keys.PublicKeyInfo.load(der, strict=True)
        algorithm = info["algorithm"]["algorithm"].native
    except (ValueError, TypeError):
        try:
            rsa_key = asn1_keys.RSAPublicKey.load(der, strict=True)
            rsa_key.native  # noqa: B018 - forces a full parse
        except (ValueError, TypeError):
            raise VerificationError(
                "public key is neither a SubjectPublicKeyInfo nor a PKCS#1 RSA key"
            ) from None
        return _rsa_spki(rsa_key)
    if algorithm == "rsa" and not isinstance(info["algorithm"]["parameters"], core.Null):
        return _rsa_spki(info["public_key"].parsed)
    return info.dump()


def _rsa_spki(rsa_key: asn1_keys.RSAPublicKey) -> bytes:
    info = asn1_keys.PublicKeyInfo(
        {
            "algorithm": asn1_keys.PublicKeyAlgorithm(
                {"algorithm": "rsa", "parameters": core.Null()}
            ),
            "public_key": rsa_key,
        }
    )
    return info.dump(force=True)


def spki_der(public_key: PublicKey) -> bytes:
    """Return the DER SubjectPublicKeyInfo of an EC or RSA key (RSA with NULL parameters)."""
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        raise VerificationError("ed25519 keys have no SubjectPublicKeyInfo form in notary")
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return normalize_spki(der)


def public_key_entry(public_key: PublicKey) -> dict[str, Any]:
    """Return the plain key entry notary would write: ``ecdsa``/``rsa`` SPKI, ``ed25519`` raw.

    Raises:
        VerificationError: an unsupported key type.
    """
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return key_entry(ECDSA, spki_der(public_key))
    if isinstance(public_key, rsa.RSAPublicKey):
        return key_entry(RSA, spki_der(public_key))
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return key_entry(ED25519, raw)
    raise VerificationError(f"notary has no key type for {type(public_key).__name__}")


def x509_key_entry(chain: x509.Certificate | Sequence[x509.Certificate]) -> dict[str, Any]:
    """Return the ``ecdsa-x509``/``rsa-x509`` entry for a certificate (leaf first if a chain).

    The public value is base64 of Go-style PEM (``CertChainToPEM``): one block per
    certificate, concatenated.

    Raises:
        VerificationError: the leaf's key is neither EC nor RSA.
    """
    certificates = [chain] if isinstance(chain, x509.Certificate) else list(chain)
    if not certificates:
        raise VerificationError("no certificate given for the x509 key entry")
    leaf_key = certificates[0].public_key()
    if isinstance(leaf_key, ec.EllipticCurvePublicKey):
        keytype = ECDSA_X509
    elif isinstance(leaf_key, rsa.RSAPublicKey):
        keytype = RSA_X509
    else:
        raise VerificationError("a notary root certificate must hold an EC or RSA key")
    pem = b"".join(
        go_pem("CERTIFICATE", cert.public_bytes(serialization.Encoding.DER))
        for cert in certificates
    )
    return key_entry(keytype, pem)


def certificates_from_entry(entry: Mapping[str, Any]) -> list[x509.Certificate]:
    """Parse the certificates of an ``*-x509`` entry, in order (leaf first).

    Raises:
        VerificationError: not an x509 entry, or no certificate could be read.
    """
    keytype, public = _entry_public(entry)
    if keytype not in (ECDSA_X509, RSA_X509):
        raise VerificationError(f"a {keytype} key carries no certificate")
    try:
        certificates = _load_certificates(public)
    except ValueError:
        raise VerificationError(f"{keytype} key entry holds no readable certificate") from None
    return list(certificates)


@functools.lru_cache(maxsize=1024)
def _load_certificates(pem: bytes) -> tuple[x509.Certificate, ...]:
    # Certificates are immutable; parsing the same PEM once per process is enough.
    return tuple(x509.load_pem_x509_certificates(pem))


@functools.lru_cache(maxsize=1024)
def _load_der_public_key(der: bytes) -> Any:
    return serialization.load_der_public_key(der)


def canonical_key_id(entry: Mapping[str, Any]) -> str:
    """Return notary's "canonical" id (``utils.CanonicalKeyID``): the SPKI id for x509 keys.

    This is the id ``notary key list`` prints and the private key's filename; for non-x509
    keys it is the entry's own id.

    Raises:
        VerificationError: the entry is malformed.
    """
    keytype, _ = _entry_public(entry)
    if keytype not in (ECDSA_X509, RSA_X509):
        return entry_key_id(entry)
    leaf = certificates_from_entry(entry)[0]
    bare = ECDSA if keytype == ECDSA_X509 else RSA
    return key_id(bare, spki_der(leaf.public_key()))  # type: ignore[arg-type]


def public_key_from_entry(entry: Mapping[str, Any]) -> PublicKey:
    """Load the verification key of an entry (from the leaf certificate for x509 types).

    Raises:
        VerificationError: unknown key type or unreadable key.
    """
    keytype, public = _entry_public(entry)
    try:
        if keytype in (ECDSA_X509, RSA_X509):
            key: Any = certificates_from_entry(entry)[0].public_key()
        elif keytype in (ECDSA, RSA):
            key = _load_der_public_key(public)
        elif keytype == ED25519:
            key = ed25519.Ed25519PublicKey.from_public_bytes(public)
        else:
            raise VerificationError(f"unknown notary key type {keytype!r}")
    except ValueError:
        raise VerificationError(f"{keytype} key entry holds no readable public key") from None
    expected: type = {
        ECDSA: ec.EllipticCurvePublicKey,
        ECDSA_X509: ec.EllipticCurvePublicKey,
        RSA: rsa.RSAPublicKey,
        RSA_X509: rsa.RSAPublicKey,
        ED25519: ed25519.Ed25519PublicKey,
    }[keytype]
    if not isinstance(key, expected):
        raise VerificationError(f"{keytype} key entry holds a {type(key).__name__}")
    return cast(PublicKey, key)


def _curve_bytes(public_key: ec.EllipticCurvePublicKey) -> int:
    return (public_key.curve.key_size + 7) // 8


def ecdsa_raw_to_der(raw: bytes) -> bytes:
    """Turn raw ``r||s`` (what PKCS#11 ``CKM_ECDSA`` returns) into a DER ``ECDSA-Sig-Value``.

    Raises:
        VerificationError: the length is odd or zero.
    """
    if not raw or len(raw) % 2:
        raise VerificationError(f"an ECDSA r||s signature has an even length, not {len(raw)}")
    half = len(raw) // 2
    return encode_dss_signature(
        int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
    )


def ecdsa_der_to_raw(der: bytes, public_key: ec.EllipticCurvePublicKey) -> bytes:
    """Turn a DER ECDSA signature into notary's raw ``r||s``, halves padded to the curve size."""
    r, s = decode_dss_signature(der)
    size = _curve_bytes(public_key)
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def signature_problem(entry: Mapping[str, Any], signature: Signature, payload: bytes) -> str | None:
    """Check one signature the way notary's verifiers do (tuf/signed/verifiers.go).

    Args:
        entry: the key entry the signature's keyid points at.
        signature: the signature as parsed from the wire.
        payload: the canonical bytes of ``signed``.

    Returns:
        None when notary would accept it, else the reason in operator words.
    """
    method = signature.method.lower()  # notary lower-cases the method when it reads it
    try:
        key = public_key_from_entry(entry)
    except VerificationError as exc:
        return exc.message
    try:
        if method == "ecdsa":
            if not isinstance(key, ec.EllipticCurvePublicKey):
                return f"method ecdsa does not fit a {entry.get('keytype')} key"
            size = 2 * _curve_bytes(key)
            if len(signature.sig) != size:
                return (
                    f"ecdsa signature is {len(signature.sig)} bytes; notary expects raw r||s "
                    f"of {size} bytes for this curve (DER is refused)"
                )
            key.verify(ecdsa_raw_to_der(signature.sig), payload, ec.ECDSA(hashes.SHA256()))
        elif method in ("rsapss", "rsapkcs1v15"):
            if not isinstance(key, rsa.RSAPublicKey):
                return f"method {method} does not fit a {entry.get('keytype')} key"
            pad: padding.AsymmetricPadding = (
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
                if method == "rsapss"
                else padding.PKCS1v15()
            )
            key.verify(signature.sig, payload, pad, hashes.SHA256())
        elif method == "eddsa":
            if not isinstance(key, ed25519.Ed25519PublicKey):
                return f"method eddsa does not fit a {entry.get('keytype')} key"
            key.verify(signature.sig, payload)
        else:
            return f"notary has no verifier for method {signature.method!r}"
    except InvalidSignature:
        return "signature does not verify over the canonical signed bytes"
    return None
