"""The token key behind a root key: found by the public facts the ceremony recorded of it
(token label and serial, PKCS#11 URI, algorithm; a YubiKey's serial), and compared with the
root key before any signature is made. Shared by every format and by detached signing."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ceremony.errors import VerificationError
from ceremony.formats import tuf as tuf_format
from hsm.pkcs11 import Module, PinProvider
from hsm.uri import parse_uri


def open_root_key(key: Any, module: Module, pin: PinProvider,
                  on_touch: Callable[[str], None] | None = None) -> Any:
    """The token key behind a root key, found by its ``x-ceremony-*`` fields (no PIN spent yet).

    A YubiKey key (``x-ceremony-device = "yubikey"``) opens through
    ``hsm.yubikey.signing`` on ykcs11 (``module`` is not used): its PIN retry counter
    is read before every login, each signature asks for the PIN (policy ALWAYS), and
    ``on_touch`` is called before the card waits for a touch. Any other key opens on
    ``module`` by its PKCS#11 URI.

    Raises:
        hsm.errors.HsmError: token missing or ambiguous, wrong key on it, PIN budget spent.
        VerificationError: a YubiKey key names no serial.
    """
    from ceremony.attestation import public_of  # lazy: the attestation checks (~2M instr.), at the token only

    f = key.unrecognized_fields
    if f.get(tuf_format.X_DEVICE) == "yubikey":
        from hsm.yubikey.signing import open_signing_key  # lazy: yubikit, only for a YubiKey key
        serial = str(f.get(tuf_format.X_TOKEN_SERIAL, ""))
        if not serial.isdigit():
            raise VerificationError(f"{tuf_format.key_name(key)}'s key names no YubiKey serial")
        return open_signing_key(int(serial), pin, on_touch, expected_public=public_of(key))
    token = module.find_token(label=f.get(tuf_format.X_TOKEN_LABEL),
                              serial=f.get(tuf_format.X_TOKEN_SERIAL))
    ref = parse_uri(f[tuf_format.X_KEY_URI])
    return module.open_key(token, pin, f[tuf_format.X_ALGORITHM], ref.key_id,
                           expected_public=public_of(key))


def key_event(keyholder: str, key: dict[str, Any], keyid: str, tk: Any,
              intent: Mapping[str, Any]) -> dict[str, Any]:
    """The facts keygen journals of a new root key, in every format: the key entry and its id,
    the keyholder, and the token key it lives on (label, serial, key id, PKCS#11 URI)."""
    return {"keyholder": keyholder, "key": key, "keyid": keyid,
            "algorithm": intent["algorithm"], "token_label": tk.token.label,
            "token_serial": tk.token.serial, "key_id_hex": intent["key_id_hex"],
            "uri": tk.ref.uri()}
