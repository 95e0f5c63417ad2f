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


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def spki(public: Any) -> bytes:
    """The DER SubjectPublicKeyInfo of a public key (what key ids hash)."""
    return bytes(public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


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
        return {"public_pem": self.public_pem, **self.fields}

    @classmethod
    def from_dict(cls, keyid: str, d: Mapping[str, Any]) -> X509Key:
        """Raises:
            VerificationError: not a key entry, or its id is not the hash of its key.
        """
        try:
            pem = str(d["public_pem"])
            public = load_pem_public_key(pem.encode())
        except (KeyError, ValueError, TypeError):
            raise VerificationError(f"key {str(keyid)[:12]} is not a public key entry") from None
        if _sha256(spki(public)) != keyid:
            raise VerificationError(f"key {str(keyid)[:12]} is not the hash of its public key")
        return cls(keyid, pem, {k: v for k, v in d.items() if k != "public_pem"})
