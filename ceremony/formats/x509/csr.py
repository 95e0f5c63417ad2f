"""Read a PKCS#10 certificate request that crossed the air gap, and trust nothing in it unchecked.

A CSR is made outside the tool, by the team that will hold the intermediate CA or the signing
key, and reaches the ceremony on a USB stick or through QR codes: hostile until proven. So
:func:`read_csr` bounds its size, takes exactly one PEM block or DER, verifies the CSR's own
signature (proof the requester holds the key), and refuses keys and hashes the Notary Project
refuses. The requested extensions are kept, unjudged: ``profile.tbs_certificate`` carries them
into the TBSCertificate and ``lint`` refuses what a code-signing CA must not sign (a requested
serverAuth is refused with its rule, not silently replaced).

API (stable): ``MAX_CSR_BYTES``, ``CsrInfo``, ``read_csr(data, limit=MAX_CSR_BYTES)``.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ceremony.errors import VerificationError
from ceremony.formats.x509.der import PublicKey

__all__ = ["MAX_CSR_BYTES", "CsrInfo", "read_csr"]

#: A CSR with an RSA-4096 key and a few names is under 2 KiB; 64 KiB is no CSR.
MAX_CSR_BYTES = 64 * 1024

_PEM = re.compile(rb"-----BEGIN (NEW )?CERTIFICATE REQUEST-----\r?\n(?P<body>[A-Za-z0-9+/=\r\n]+?)"
                  rb"-----END (NEW )?CERTIFICATE REQUEST-----")
_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_WEAK_HASHES = ("sha1", "md5")


@dataclass(frozen=True)
class CsrInfo:
    """A verified CSR.

    Attributes:
        der: the CSR's DER bytes (what the record keeps and digests).
        subject: the subject the requester asked for (the plan's profile decides the real one).
        public_key: the requester's key, proven by the CSR's own signature.
        key_description: e.g. ``EC P-256`` or ``RSA-3072``, for the room.
        extensions: the requested extensions, as asked (judged later by lint).
        signature_hash: the hash of the CSR's signature, e.g. ``sha256``.
    """

    der: bytes
    subject: x509.Name
    public_key: PublicKey
    key_description: str
    extensions: tuple[x509.Extension[x509.ExtensionType], ...]
    signature_hash: str

    def public_key_der(self) -> bytes:
        """The SubjectPublicKeyInfo DER (what the record fingerprints)."""
        return self.public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _der_from(data: bytes) -> bytes:
    """The DER of exactly one CSR, from PEM or DER bytes."""
    if b"-----BEGIN" in data:  # PEM, perhaps after `openssl req -text`'s human-readable part
        blocks = _PEM.findall(data)
        match = _PEM.search(data)
        if match is None:
            raise VerificationError("the CSR is PEM but not a CERTIFICATE REQUEST block (or its base64 is damaged)")
        if len(blocks) != 1:
            raise VerificationError(f"the CSR file holds {len(blocks)} certificate requests; give exactly one")
        try:
            return base64.b64decode(re.sub(rb"\s", b"", match.group("body")), validate=True)
        except (binascii.Error, ValueError):
            raise VerificationError("the CSR's PEM base64 is damaged") from None
    return data


def _key(csr: x509.CertificateSigningRequest) -> tuple[PublicKey, str]:
    try:
        key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise VerificationError("the CSR's public key does not parse or is of an unsupported type; the "
                                "Notary Project allows RSA and ECDSA keys only (rule notary.key.type)") from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise VerificationError(f"the CSR's key is RSA-{key.key_size}; the Notary Project requires RSA of "
                                    "at least 2048 bits (rule notary.key.size)",
                                    hint="ask the requester for a new CSR with an RSA-3072 or EC P-256 key")
        return key, f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _CURVES:
            raise VerificationError(f"the CSR's key is on the curve {key.curve.name}; the Notary Project "
                                    "requires P-256, P-384 or P-521 (rule notary.key.size)")
        return key, f"EC {_CURVES[key.curve.name]}"
    kind = type(key).__name__.removesuffix("PublicKey")
    raise VerificationError(f"the CSR's key is {kind}; the Notary Project allows RSA and ECDSA keys only "
                            "(rule notary.key.type)")


def _hash_name(csr: x509.CertificateSigningRequest) -> str:
    try:
        algorithm = csr.signature_hash_algorithm
    except UnsupportedAlgorithm:
        raise VerificationError(f"the CSR is signed with an algorithm this tool does not accept "
                                f"({csr.signature_algorithm_oid.dotted_string}); use SHA-256 or stronger "
                                "(rule notary.signature.sha1)") from None
    name = algorithm.name if algorithm is not None else ""
    if name in _WEAK_HASHES:
        raise VerificationError(f"the CSR is signed with {name.upper().replace('SHA1', 'SHA-1')}, which the "
                                "Notary Project refuses (rule notary.signature.sha1)",
                                hint="ask the requester for a new CSR signed with SHA-256 or stronger")
    if not isinstance(algorithm, hashes.SHA256 | hashes.SHA384 | hashes.SHA512):
        raise VerificationError(f"the CSR's signature uses {name or 'no hash'}; this tool accepts SHA-256, "
                                "SHA-384 or SHA-512 (rule notary.signature.sha1)")
    return name


def read_csr(data: bytes, *, limit: int = MAX_CSR_BYTES) -> CsrInfo:
    """Parse and verify a CSR (PEM or DER) read from outside.

    Raises:
        VerificationError: too big, not a CSR, a weak or unknown signature algorithm, a key
            the Notary Project refuses, extensions that do not parse, or a signature that
            does not verify (rule ``csr.signature``). Never anything else.
    """
    data = bytes(data)
    if len(data) > limit:
        raise VerificationError(f"the CSR is {len(data)} bytes; a certificate request is at most {limit} "
                                "bytes: this is not one")
    if not data.strip():
        raise VerificationError("the CSR is empty")
    raw = _der_from(data)
    try:
        csr = x509.load_der_x509_csr(raw)
        subject = csr.subject
    except ValueError as e:
        raise VerificationError(f"the CSR is not a PKCS#10 certificate request ({str(e)[:120]})") from None
    if csr.public_bytes(Encoding.DER) != raw:
        raise VerificationError("the CSR has bytes after its end or is not in DER; give one request, as made")
    key, description = _key(csr)
    signature_hash = _hash_name(csr)
    try:
        extensions = tuple(csr.extensions)
    except (ValueError, x509.DuplicateExtension) as e:
        raise VerificationError(f"the CSR's requested extensions do not parse or repeat one ({str(e)[:120]}) "
                                "(rule rfc5280.extensions)") from None
    try:
        valid = csr.is_signature_valid
    except (ValueError, UnsupportedAlgorithm):
        valid = False
    if not valid:
        raise VerificationError("the CSR's own signature does not verify: it was altered, or not made by the "
                                "key it carries (rule csr.signature)",
                                hint="ask the requester for the CSR exactly as their tool wrote it")
    return CsrInfo(der=raw, subject=subject, public_key=key, key_description=description,
                   extensions=extensions, signature_hash=signature_hash)
