"""RFC 7512 ``pkcs11:`` URIs naming a key on a token.

A key is named by its token (label and/or serial) and its CKA_ID, e.g.
``pkcs11:token=alice-key;serial=6f1c...;id=%01%a2``. The URI is public (no PIN
ever goes into it) and is stored next to the public key, so a later ceremony can
tell a keyholder which physical token to bring.
"""

from __future__ import annotations

from urllib.parse import quote, unquote_to_bytes

from hsm.errors import HsmError
from hsm.frozen import frozen

_SAFE = "-._~"  # RFC 3986 unreserved, besides alphanumerics


@frozen
class KeyRef:
    """Where a key lives: token label and/or serial, and the key's CKA_ID."""

    key_id: bytes
    token_label: str | None = None
    token_serial: str | None = None
    object_label: str | None = None

    def uri(self) -> str:
        """Format as an RFC 7512 URI (path attributes only; ``id`` percent-encoded)."""
        parts = []
        if self.token_label is not None:
            parts.append("token=" + quote(self.token_label, safe=_SAFE))
        if self.token_serial is not None:
            parts.append("serial=" + quote(self.token_serial, safe=_SAFE))
        if self.object_label is not None:
            parts.append("object=" + quote(self.object_label, safe=_SAFE))
        parts.append("id=" + "".join(f"%{b:02x}" for b in self.key_id))
        return "pkcs11:" + ";".join(parts)

    def describe(self) -> str:
        """The token as an operator would find it: label, and serial when known."""
        if self.token_label and self.token_serial:
            return f"token {self.token_label!r} (serial {self.token_serial})"
        if self.token_label:
            return f"token {self.token_label!r}"
        return f"token with serial {self.token_serial}"


def parse_uri(uri: str) -> KeyRef:
    """Parse a ``pkcs11:`` URI naming one key.

    Raises:
        HsmError: not a pkcs11 URI, no ``id``, or no token attribute.
    """
    if not uri.startswith("pkcs11:"):
        raise HsmError(f"not a pkcs11 URI: {uri!r}")
    path = uri[len("pkcs11:"):].split("?", 1)[0]
    attrs: dict[str, bytes] = {}
    for part in filter(None, path.split(";")):
        name, sep, value = part.partition("=")
        if not sep:
            raise HsmError(f"malformed attribute {part!r} in pkcs11 URI")
        attrs[name] = unquote_to_bytes(value)
    if "id" not in attrs or not attrs["id"]:
        raise HsmError("pkcs11 URI names no key id (id=...)")
    label = attrs["token"].decode() if "token" in attrs else None
    serial = attrs["serial"].decode() if "serial" in attrs else None
    if label is None and serial is None:
        raise HsmError("pkcs11 URI names no token (token=... or serial=...)")
    obj = attrs["object"].decode() if "object" in attrs else None
    return KeyRef(key_id=attrs["id"], token_label=label, token_serial=serial, object_label=obj)
