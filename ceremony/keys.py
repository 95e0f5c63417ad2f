"""Public keys that come into a ceremony from elsewhere (the online roles' keys).

They arrive as PEM SubjectPublicKeyInfo or as TUF key JSON. A private key in
their place is refused loudly: it should never have been brought to the room.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from ceremony import keyids
from ceremony.errors import PlanError
from ceremony.frozen import frozen
from ceremony.inputs import load_json, read_input_file

if TYPE_CHECKING:  # loaded when a key is made: the plan module imports this one, status reads no key file
    from securesystemslib.signer import Key, SSlibKey

MAX_KEY_FILE = 64 * 1024  # far above any public key; refuse before reading more


@frozen
class PublicKeyFile:
    """A public key read from ``source``."""

    source: str
    key: Key


def key_from_crypto(public: object) -> SSlibKey:
    """A securesystemslib key (with the standard keyid) for a ``cryptography`` public key.

    Raises:
        ValueError: unsupported key type or size.
    """
    from securesystemslib.signer import SSlibKey  # lazy: securesystemslib.signer (~130 ms CPU), see TYPE_CHECKING

    if isinstance(public, ec.EllipticCurvePublicKey):
        if public.curve.name not in ("secp256r1", "secp384r1"):
            raise ValueError(f"unsupported curve {public.curve.name}")
    elif isinstance(public, rsa.RSAPublicKey):
        if public.key_size < 2048:
            raise ValueError(f"RSA key of {public.key_size} bits is too small")
        return SSlibKey.from_crypto(public, scheme="rsassa-pss-sha256")
    elif not isinstance(public, ed25519.Ed25519PublicKey):
        raise ValueError(f"unsupported key type {type(public).__name__}")
    return SSlibKey.from_crypto(public)


def read_public_key_bytes(path: Path, field: str,
                          hint: str = "private keys never come to the ceremony; export the "
                                      "public key (e.g. openssl pkey -pubout)") -> bytes:
    """Read a key file named by plan field ``field``: bounded, and never a private key.

    Raises:
        PlanError: missing, unreadable, too large, or holding a private key.
    """
    # A FIFO, device or folder is refused before it is opened (it would block or mislead).
    data = read_input_file(path, MAX_KEY_FILE, f"{field}: key file", error=PlanError,
                           too_large="far too large for a public key")
    if b"PRIVATE KEY" in data:
        raise PlanError(f"{field}: {path} holds a PRIVATE key; give only the public key", hint=hint)
    return data


def load_public_key_file(path: Path, field: str) -> PublicKeyFile:
    """Read one public key (PEM SPKI or TUF key JSON) named by plan field ``field``.

    Raises:
        PlanError: missing, too large, a private key, or not a public key.
    """
    data = read_public_key_bytes(path, field)
    text = data.decode("utf-8", "replace").strip()
    try:
        if text.startswith("{"):
            key = _from_json(load_json(data, f"{field}: {path}", error=PlanError))
        else:
            key = key_from_crypto(load_pem_public_key(data))
    except (ValueError, TypeError, KeyError) as e:
        raise PlanError(f"{field}: {path} is not a public key (PEM SubjectPublicKeyInfo or "
                        f"TUF key JSON): {e}") from None
    return PublicKeyFile(str(path), key)


def compute_keyid(keytype: str, scheme: str, keyval: dict) -> str:
    """python-tuf's keyid: sha256 over the canonical JSON of the key's three standard fields
    (see ``ceremony.keyids`` for the whole-object id new keys get)."""
    return keyids.standard_keyid(keytype, scheme, keyval)


def _from_json(obj: dict) -> Key:
    from securesystemslib.signer import SSlibKey  # lazy: securesystemslib.signer (~130 ms CPU), see TYPE_CHECKING

    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    obj = dict(obj)
    claimed = obj.pop("keyid", None)
    if isinstance(obj.get("keyval"), dict) and obj["keyval"].get("private"):
        raise ValueError("it holds a private key value")
    key = SSlibKey.from_dict("0" * 64, obj)
    key._crypto_key()  # parses the key material: a bad key fails here
    published = key.to_dict()
    if claimed is None:
        keyid = keyids.new_tuf_keyid(published)
    elif keyids.tuf_keyid_rule(claimed, published) is not None:
        keyid = claimed  # either rule is a hash of this key; keep the id it is known by
    else:
        raise ValueError(f"its keyid {claimed} does not match the key (calculated "
                         f"{keyids.whole_object_keyid(published)} over the whole key object, "
                         f"{compute_keyid(key.keytype, key.scheme, key.keyval)} over keytype, "
                         "scheme and keyval)")
    return SSlibKey(keyid, key.keytype, key.scheme, key.keyval, key.unrecognized_fields)
