"""The key algorithms a ceremony may use, and how each is made and used on a token.

One table, so key generation, signing and public-key export cannot disagree
about an algorithm. Mechanisms follow what portable tokens offer: SoftHSM and
ykcs11 have no CKM_ECDSA_SHA256, so ECDSA hashes on the host and signs with raw
CKM_ECDSA; python-pkcs11's default EC mechanism (ECDSA_SHA512) is never used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from hsm.errors import UnsupportedError
from hsm.frozen import frozen


@frozen
class Algorithm:
    """How one algorithm maps onto PKCS#11 and onto securesystemslib names."""

    name: str
    family: str  # "ec", "ed25519" or "rsa"
    curve: str | None  # named curve for EC keys
    bits: int | None  # modulus size for RSA keys
    hash: Callable[[bytes], hashlib._Hash] | None  # host-side pre-hash, EC only
    sslib_keytype: str
    sslib_scheme: str
    raw_signature_len: int | None  # r||s length for EC, fixed for ed25519

    def prehash(self, payload: bytes) -> bytes:
        """The digest an ECDSA token signs: hashed on the host, as raw CKM_ECDSA expects.

        Raises:
            UnsupportedError: the algorithm signs the message itself (Ed25519, RSA-PSS).
        """
        if self.hash is None:
            raise UnsupportedError(f"{self.name} signs the message itself, not a digest made on the host")
        return self.hash(payload).digest()


ALGORITHMS: dict[str, Algorithm] = {
    "ecdsa-p256": Algorithm(
        "ecdsa-p256", "ec", "secp256r1", None, hashlib.sha256,
        "ecdsa", "ecdsa-sha2-nistp256", 64,
    ),
    "ecdsa-p384": Algorithm(
        "ecdsa-p384", "ec", "secp384r1", None, hashlib.sha384,
        "ecdsa", "ecdsa-sha2-nistp384", 96,
    ),
    "ed25519": Algorithm("ed25519", "ed25519", None, None, None, "ed25519", "ed25519", 64),
    "rsa-3072": Algorithm("rsa-3072", "rsa", None, 3072, None, "rsa", "rsassa-pss-sha256", None),
}

DEFAULT_ALGORITHM = "ecdsa-p256"


def get_algorithm(name: str) -> Algorithm:
    """Return the algorithm called ``name``.

    Raises:
        UnsupportedError: the name is not one the tool supports.
    """
    try:
        return ALGORITHMS[name]
    except KeyError:
        known = ", ".join(sorted(ALGORITHMS))
        raise UnsupportedError(f"unknown key algorithm {name!r}; use one of {known}") from None
