"""Check a raw token signature against the public key that should have made it.

Used right after every signature, so a wrong token, a faulty device or a
mis-chosen mechanism is caught before anything is recorded.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from hsm.algorithms import Algorithm
from hsm.errors import SignatureCheckError

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey


def raw_to_der(sig: bytes) -> bytes:
    """ECDSA r||s (as PKCS#11 returns it) to DER, as X.509 and securesystemslib expect."""
    half = len(sig) // 2
    return encode_dss_signature(int.from_bytes(sig[:half], "big"), int.from_bytes(sig[half:], "big"))


def verify_raw(key: PublicKey, alg: Algorithm, payload: bytes, sig: bytes, who: str) -> None:
    """Verify a raw signature made by ``alg`` over ``payload``.

    Raises:
        SignatureCheckError: the signature does not verify against ``key``.
    """
    try:
        if alg.family == "ec":
            assert isinstance(key, ec.EllipticCurvePublicKey)
            if len(sig) != alg.raw_signature_len:
                raise InvalidSignature
            hash_alg = hashes.SHA256() if alg.curve == "secp256r1" else hashes.SHA384()
            key.verify(raw_to_der(sig), payload, ec.ECDSA(hash_alg))
        elif alg.family == "ed25519":
            assert isinstance(key, ed25519.Ed25519PublicKey)
            key.verify(sig, payload)
        else:
            assert isinstance(key, rsa.RSAPublicKey)
            key.verify(sig, payload, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    except (InvalidSignature, AssertionError):
        raise SignatureCheckError(
            f"the signature from {who} does not verify against the expected public key",
            hint="the token may be faulty or not the one expected; nothing was recorded") from None


# Hashes a caller may have applied before ``TokenKey.sign_digest``: name -> (algorithm, digest size).
DIGEST_HASHES = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384()}


def verify_ecdsa_digest(key: PublicKey, alg: Algorithm, digest: bytes, hash_name: str, sig: bytes,
                        who: str) -> None:
    """Verify a raw ECDSA signature (r||s) over a ``digest`` the caller computed with ``hash_name``.

    The counterpart of ``verify_raw`` for ``TokenKey.sign_digest``, where the hash is
    chosen by the format rather than by the curve.

    Raises:
        SignatureCheckError: the signature does not verify against ``key``.
    """
    try:
        if not isinstance(key, ec.EllipticCurvePublicKey) or len(sig) != alg.raw_signature_len:
            raise InvalidSignature
        key.verify(raw_to_der(sig), digest, ec.ECDSA(Prehashed(DIGEST_HASHES[hash_name])))
    except InvalidSignature:
        raise SignatureCheckError(
            f"the signature from {who} does not verify against the expected public key",
            hint="the token may be faulty or not the one expected; nothing was recorded") from None
