"""A securesystemslib ``Signer`` over a key held on a PKCS#11 token.

python-tuf's ``Metadata.sign()`` takes any ``Signer``, so this adapter is all
TUF needs to sign with hardware. The token layer returns raw signatures; the
encoding TUF expects (hex; DER for ECDSA) is applied here. The scheme ``pkcs11``
is registered so ``Signer.from_priv_key_uri("pkcs11:token=...;id=...", key, handler)``
works like securesystemslib's own signers, with the PIN asked for through the
secrets handler exactly once per token per process.
"""

from __future__ import annotations

from securesystemslib.signer import SIGNER_FOR_URI_SCHEME, Key, SecretsHandler, Signature, Signer

from hsm.errors import PinMissingError, UnsupportedError
from hsm.pkcs11 import TokenKey, get_module, resolve_module_path
from hsm.uri import parse_uri
from hsm.verify import raw_to_der

SCHEME = "pkcs11"

_ALGORITHM_FOR_SCHEME = {
    "ecdsa-sha2-nistp256": "ecdsa-p256",
    "ecdsa-sha2-nistp384": "ecdsa-p384",
    "ed25519": "ed25519",
    "rsassa-pss-sha256": "rsa-3072",
}


def algorithm_for_key(key: Key) -> str:
    """The token algorithm name that produces signatures for ``key``'s scheme.

    Raises:
        UnsupportedError: the scheme is not one a token key of ours can make.
    """
    try:
        return _ALGORITHM_FOR_SCHEME[key.scheme]
    except KeyError:
        raise UnsupportedError(f"key scheme {key.scheme!r} cannot be signed with a token") from None


class TokenSigner(Signer):
    """Signs with a :class:`hsm.pkcs11.TokenKey` for a known public ``Key``."""

    def __init__(self, token_key: TokenKey, public_key: Key) -> None:
        self._token_key = token_key
        self._public_key = public_key

    @property
    def public_key(self) -> Key:
        """The public key the signatures are for (as recorded in metadata)."""
        return self._public_key

    @property
    def token_key(self) -> TokenKey:
        """The token key behind this signer."""
        return self._token_key

    def sign(self, payload: bytes) -> Signature:
        """Sign on the token; the raw signature is verified before it is returned.

        Raises:
            hsm.errors.HsmError: the token failed, went away, or signed wrongly.
        """
        raw = self._token_key.sign_raw(payload)
        if self._token_key.algorithm.family == "ec":
            raw = raw_to_der(raw)
        return Signature(self._public_key.keyid, raw.hex())

    @classmethod
    def from_priv_key_uri(cls, priv_key_uri: str, public_key: Key,
                          secrets_handler: SecretsHandler | None = None) -> TokenSigner:
        """Open the key named by an RFC 7512 URI on the module chosen by the environment.

        The key found on the token must be ``public_key``, or this fails.

        Raises:
            hsm.errors.HsmError: token missing/ambiguous, PIN refused, wrong key.
        """
        if secrets_handler is None:
            raise PinMissingError("a PIN is needed but no way to ask for it was given")
        ref = parse_uri(priv_key_uri)
        module = get_module(resolve_module_path())
        token = module.find_token(label=ref.token_label, serial=ref.token_serial)
        handler = secrets_handler
        key = module.open_key(token, lambda info: handler("PIN"), algorithm_for_key(public_key),
                              ref.key_id, expected_public=public_key._crypto_key())  # type: ignore[attr-defined]
        return cls(key, public_key)


SIGNER_FOR_URI_SCHEME[SCHEME] = TokenSigner
