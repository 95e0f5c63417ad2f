"""How a notary root key signs on its token: notary's ``ecdsa`` method (SHA-256, raw
``r||s``), checked with notary's own verifier rules before anything is kept.

Shared by the ceremony's signing step (``NotaryFormat.sign_one``) and detached signing
(``notary_detached``).
"""

from __future__ import annotations

import hashlib
from typing import Any

from ceremony.errors import VerificationError
from ceremony.formats.notary_json import Signature
from ceremony.formats.notary_keys import ECDSA, signature_problem
from ceremony.formats.notary_root import NotaryKey
from ceremony.formats.token_keys import open_root_key
from hsm.errors import SignatureCheckError
from hsm.pkcs11 import Module, PinProvider, TokenKey
from hsm.uri import parse_uri


def sign_sha256(tk: TokenKey, message: bytes) -> bytes:
    """Sign as notary's ``ecdsa`` method: SHA-256 of ``message``, raw ``r||s`` from the token.

    P-256 keys go through ``TokenKey.sign_raw`` (SHA-256 on the host, CKM_ECDSA, verified).
    For P-384 ``sign_raw`` would hash with SHA-384, so the SHA-256 digest is signed with
    ``TokenKey.sign_digest`` (CKM_ECDSA, verified over the same digest).

    Raises:
        hsm.errors.HsmError: the token failed or went away.
        VerificationError: the key is not an ECDSA key.
    """
    algorithm = tk.algorithm
    if algorithm.family != "ec":
        raise VerificationError(f"notary root keys are ECDSA keys, not {algorithm.name}")
    if algorithm.hash is hashlib.sha256:
        return tk.sign_raw(message)
    return tk.sign_digest(hashlib.sha256(message).digest(), "sha256")


def sign_checked(key: NotaryKey, tk: TokenKey, payload: bytes) -> tuple[bytes, TokenKey]:
    """Sign ``payload`` with ``key`` on its token ``tk``; the raw signature, checked as notary would.

    Raises:
        SignatureCheckError: the token's signature does not verify with the key's certificate.
        hsm.errors.HsmError: the token failed, went away, or refused the PIN.
    """
    raw = sign_sha256(tk, payload)
    problem = signature_problem(key.entry, Signature(key.keyid, ECDSA, raw), payload)
    if problem:
        raise SignatureCheckError(f"the signature from {tk.ref.describe()} does not verify with "
                                  f"{key.keyholder}'s certificate: {problem}")
    return raw, tk


def open_token_key(key: NotaryKey, module: Module, pin: PinProvider,
                   on_touch: Any = None) -> TokenKey:
    """Open ``key``'s private half on its token (found by the journal/sidecar identity).

    The token's public key must equal the certificate's (``expected_public``), so a wrong
    identity entry can only ask for the wrong token, never make a wrong signature. A
    YubiKey's key opens through ykcs11 (a PIN per signature, ``on_touch`` before the card
    waits for a touch), as for TUF (``ceremony.formats.token_keys.open_root_key``).

    Raises:
        VerificationError: no token is known for the key.
        hsm.errors.HsmError: token missing or wrong, PIN refused.
    """
    f = key.identity
    if f.get("device") == "yubikey":
        return open_root_key(key, module, pin, on_touch)
    if not f.get("uri") or not f.get("algorithm"):
        raise VerificationError(f"no token is known for key {key.keyid[:12]}")
    token = module.find_token(label=f.get("token_label"), serial=f.get("token_serial"))
    return module.open_key(token, pin, f["algorithm"], parse_uri(f["uri"]).key_id,
                           expected_public=key.public_key())
