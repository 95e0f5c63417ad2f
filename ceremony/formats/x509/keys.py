"""A key of an X.509 ceremony (an approver's or the CA's), as the journal, the draft and the
CA's ``ca.json`` carry it: the PEM public key and the shared ``x-ceremony-*`` facts."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)

from ceremony.errors import VerificationError
from ceremony.formats.tuf import X_ALGORITHM
from hsm.algorithms import get_algorithm
from hsm.errors import UnsupportedError


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def spki(public: Any) -> bytes:
    """The DER SubjectPublicKeyInfo of a public key (what key ids hash)."""
    return bytes(public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


#: The entry's own fields (the rest are the ``x-ceremony-*`` facts): laid out as a TUF key
#: (``keytype``, ``scheme``, ``keyval.public`` PEM), so the shared YubiKey attestation check of
#: ``record verify`` (``ceremony.attestation``) reads an X.509 ceremony's key as it reads TUF's.
_OWN = ("keytype", "scheme", "keyval")


@dataclass(frozen=True)
class X509Key:
    """A token key of the ceremony (an approver's or the CA's): id = sha256 of its DER public key,
    its PEM, and the shared ``x-ceremony-*`` facts (keyholder, token, URI, algorithm)."""

    keyid: str
    public_pem: str
    fields: dict[str, Any]

    @property
    def unrecognized_fields(self) -> dict[str, Any]:
        return dict(self.fields)

    def public_key(self) -> Any:
        return load_pem_public_key(self.public_pem.encode())

    def to_dict(self) -> dict[str, Any]:
        alg = get_algorithm(str(self.fields.get(X_ALGORITHM)))
        return {"keytype": alg.sslib_keytype, "scheme": alg.sslib_scheme,
                "keyval": {"public": self.public_pem}, **self.fields}

    @classmethod
    def from_dict(cls, keyid: str, d: Mapping[str, Any]) -> X509Key:
        """Raises:
            VerificationError: not a key entry, or its id is not the hash of its key.
        """
        try:
            pem = str(d["keyval"]["public"])
            public = load_pem_public_key(pem.encode())
            get_algorithm(str(d[X_ALGORITHM]))
        except (KeyError, ValueError, TypeError, UnsupportedError):
            raise VerificationError(f"key {str(keyid)[:12]} is not a public key entry") from None
        if _sha256(spki(public)) != keyid:
            raise VerificationError(f"key {str(keyid)[:12]} is not the hash of its public key")
        return cls(keyid, pem, {k: v for k, v in d.items() if k not in _OWN})
