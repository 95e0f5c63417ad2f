"""A software FIDO2 authenticator behind python-fido2's ``CtapDevice`` interface.

There is no uhid/usbip here for a virtual HID key, so the authenticator sits
where the HID transport would: ``Fido2Client`` -> ``Ctap2`` -> ``call(CTAPHID.CBOR,
...)`` -> this class. Everything above it is python-fido2's real client and
server code. It speaks the CTAP 2.0 subset a witness needs: authenticatorGetInfo,
authenticatorMakeCredential (ES256, "packed" self attestation) and
authenticatorGetAssertion (allow list, signature counter, user presence),
with user presence simulated (touched, never touched) and keep-alive
UPNEEDED sent before waiting, like a YubiKey.

Not emulated: PIN/UV (clientPin, uv), resident keys, extensions, CTAP1/U2F,
cancellation, attestation certificates.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Callable, Iterator
from threading import Event
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fido2 import cbor
from fido2.cose import ES256
from fido2.ctap import STATUS, CtapDevice
from fido2.hid import CAPABILITY, CTAPHID
from fido2.webauthn import AttestedCredentialData, AuthenticatorData

OK = 0x00
ERR_INVALID_COMMAND = 0x01
ERR_UNSUPPORTED_ALGORITHM = 0x26
ERR_NO_CREDENTIALS = 0x2E
ERR_USER_ACTION_TIMEOUT = 0x2F

CMD_MAKE_CREDENTIAL, CMD_GET_ASSERTION, CMD_GET_INFO = 0x01, 0x02, 0x04
FLAGS = AuthenticatorData.FLAG


class SoftAuthenticator(CtapDevice):
    """An in-memory CTAP2 authenticator; ``presence()`` says whether the user touched it."""

    def __init__(self, aaguid: bytes = bytes.fromhex("c0ffee00" * 4),
                 presence: Callable[[], bool] = lambda: True) -> None:
        self.aaguid = aaguid
        self.presence = presence
        self.counter = 0
        self.touches = 0
        self._keys: dict[bytes, tuple[str, ec.EllipticCurvePrivateKey]] = {}

    @property
    def capabilities(self) -> int:
        return CAPABILITY.CBOR

    @classmethod
    def list_devices(cls) -> Iterator[SoftAuthenticator]:
        return iter(())

    def call(self, cmd: int, data: bytes = b"", event: Event | None = None,
             on_keepalive: Callable[[STATUS], None] | None = None) -> bytes:
        if cmd != CTAPHID.CBOR or not data:
            return bytes([ERR_INVALID_COMMAND])
        request = cbor.decode(data[1:]) if len(data) > 1 else {}
        handler = {CMD_GET_INFO: self._get_info, CMD_MAKE_CREDENTIAL: self._make_credential,
                   CMD_GET_ASSERTION: self._get_assertion}.get(data[0])
        if handler is None:
            return bytes([ERR_INVALID_COMMAND])
        status, body = handler(request, on_keepalive)
        return bytes([status]) + (cbor.encode(body) if body is not None else b"")

    # ---- commands ----------------------------------------------------------------------

    def _get_info(self, _req: Any, _ka: Any) -> tuple[int, Any]:
        return OK, {1: ["FIDO_2_0"], 3: self.aaguid, 4: {"rk": False, "up": True, "plat": False},
                    5: 1200, 10: [{"alg": -7, "type": "public-key"}]}

    def _user_present(self, on_keepalive: Callable[[STATUS], None] | None) -> bool:
        if on_keepalive is not None:
            on_keepalive(STATUS.UPNEEDED)
        present = self.presence()
        self.touches += present
        return present

    def _make_credential(self, req: dict[int, Any], ka: Any) -> tuple[int, Any]:
        client_data_hash, rp = req[1], req[2]
        if not any(p.get("alg") == -7 for p in req[4]):
            return ERR_UNSUPPORTED_ALGORITHM, None
        if not self._user_present(ka):
            return ERR_USER_ACTION_TIMEOUT, None
        key = ec.generate_private_key(ec.SECP256R1())
        cred_id = os.urandom(32)
        self._keys[cred_id] = (rp["id"], key)
        self.counter += 1
        cred = AttestedCredentialData.create(self.aaguid, cred_id, ES256.from_cryptography_key(key.public_key()))
        auth_data = AuthenticatorData.create(hashlib.sha256(rp["id"].encode()).digest(),
                                             FLAGS.UP | FLAGS.AT, self.counter, cred)
        sig = key.sign(auth_data + client_data_hash, ec.ECDSA(hashes.SHA256()))
        return OK, {1: "packed", 2: auth_data, 3: {"alg": -7, "sig": sig}}

    def _get_assertion(self, req: dict[int, Any], ka: Any) -> tuple[int, Any]:
        rp_id, client_data_hash = req[1], req[2]
        allowed = [c["id"] for c in req.get(3, [])]
        matches = [cid for cid in allowed if cid in self._keys and self._keys[cid][0] == rp_id]
        if not matches:
            return ERR_NO_CREDENTIALS, None
        # python-fido2 pre-flights the allow list with up=False (no touch, no UP flag).
        up = req.get(5, {}).get("up", True)
        if up and not self._user_present(ka):
            return ERR_USER_ACTION_TIMEOUT, None
        cred_id = matches[0]
        self.counter += 1
        auth_data = AuthenticatorData.create(hashlib.sha256(rp_id.encode()).digest(),
                                             FLAGS.UP if up else FLAGS(0), self.counter)
        sig = self._keys[cred_id][1].sign(auth_data + client_data_hash, ec.ECDSA(hashes.SHA256()))
        return OK, {1: {"type": "public-key", "id": cred_id}, 2: auth_data, 3: sig}


def counter_of(auth_data: bytes) -> int:
    """The signature counter in raw authenticator data (bytes 33..36)."""
    return int(struct.unpack(">I", auth_data[33:37])[0])
