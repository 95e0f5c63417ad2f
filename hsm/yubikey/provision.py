"""Provision a YubiKey for a ceremony: reset PIV, new secrets, a key born on the device.

The order is deliberate:

1. The operator types the serial printed on the key. Only an exact match lets
   the reset go ahead: a reset destroys every PIV key on the device, so the
   tool must be sure it is the key in front of the operator.
2. The new PIN and PUK are collected (the shell asks twice, without echo) and
   checked *before* the reset, so a typo cannot leave a wiped key behind.
3. PIV is reset, the PIN and PUK are changed from their factory values, and a
   random management key replaces the default one. That key is stored on the
   device, readable only after PIN verification (ykman's "PIN-protected
   management key" layout), and never written to disk or returned.
4. The key is generated *on the device* in slot 9c with PIN policy ALWAYS and
   touch policy ALWAYS (or CACHED), ECDSA P-256 by default (P-384 allowed:
   ykcs11 2.2 and YubiKeys before 5.7 cannot do Ed25519).
5. The slot is attested (F9) and the attestation is also stored as the slot's
   certificate, so any PIV middleware sees the key, and a later verifier can
   recheck where it was born.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hsm.errors import NewPinRejectedError, ProvisionAbortedError, UnsupportedError
from hsm.yubikey.device import YubiKeyInfo, mapped_errors, piv_session, select_yubikey

FACTORY_PIN = "123456"
FACTORY_PUK = "12345678"
ALGORITHMS = {"ecdsa-p256": "ECCP256", "ecdsa-p384": "ECCP384"}
TOUCH_POLICIES = {"always": "ALWAYS", "cached": "CACHED"}


@dataclass
class ProvisionPrompts:
    """How provisioning asks the operator; hsm never prompts or prints itself.

    Attributes:
        confirm_serial: shown the device, returns the serial the operator typed.
        new_secret: called with "PIN" or "PUK", returns the new value (the shell
            asks twice without echo and compares).
        on_event: optional progress sentences ("resetting PIV", ...).
    """

    confirm_serial: Callable[[YubiKeyInfo], str]
    new_secret: Callable[[str], str]
    on_event: Callable[[str], None] | None = None


@dataclass(frozen=True)
class ProvisionResult:
    """What provisioning produced; everything here is public."""

    device: YubiKeyInfo
    slot: str
    algorithm: str
    pin_policy: str
    touch_policy: str
    public_key: Any
    attestation: x509.Certificate
    device_certificate: x509.Certificate

    def public_key_pem(self) -> str:
        return self.public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device.to_dict(), "slot": self.slot, "algorithm": self.algorithm,
                "pin_policy": self.pin_policy, "touch_policy": self.touch_policy,
                "public_key": self.public_key_pem(),
                "attestation": self.attestation.public_bytes(Encoding.PEM).decode(),
                "device_certificate": self.device_certificate.public_bytes(Encoding.PEM).decode()}


def check_new_secrets(pin: str, puk: str) -> None:
    """PIV rules plus ours: 6-8 ASCII characters, not the factory values, PIN != PUK.

    Raises:
        NewPinRejectedError: with the rule that failed (the secret is never echoed).
    """
    for kind, value, factory in (("PIN", pin, FACTORY_PIN), ("PUK", puk, FACTORY_PUK)):
        if not value.isascii() or not 6 <= len(value.encode()) <= 8:
            raise NewPinRejectedError(f"the new {kind} must be 6 to 8 ASCII characters")
        if value in (FACTORY_PIN, FACTORY_PUK):
            raise NewPinRejectedError(f"the new {kind} must not be a factory default ({factory} is public)")
    if pin == puk:
        raise NewPinRejectedError("the PIN and the PUK must differ")


def provision(serial: int, prompts: ProvisionPrompts, algorithm: str = "ecdsa-p256",
              touch: str = "always") -> ProvisionResult:
    """Reset PIV on YubiKey ``serial`` and make a ceremony key in slot 9c.

    Raises:
        ProvisionAbortedError: the typed serial did not match (nothing changed).
        NewPinRejectedError: the new PIN/PUK is unusable (nothing changed).
        UnsupportedError: the algorithm or touch policy is not available.
        hsm.errors.HsmError: the device failed or was removed.
    """
    from ykman.piv import pivman_set_mgm_key  # lazy: ykman (~0.2 s, optional [yubikey] extra)
    from yubikit.piv import (  # lazy: yubikit (~0.4 s, optional [yubikey] extra)
        DEFAULT_MANAGEMENT_KEY,
        KEY_TYPE,
        MANAGEMENT_KEY_TYPE,
        PIN_POLICY,
        SLOT,
        TOUCH_POLICY,
    )

    if algorithm not in ALGORITHMS:
        raise UnsupportedError(f"a YubiKey root key must be one of {', '.join(ALGORITHMS)}, not {algorithm!r}")
    if touch not in TOUCH_POLICIES:
        raise UnsupportedError(f"touch policy must be one of {', '.join(TOUCH_POLICIES)}, not {touch!r}")
    say = prompts.on_event or (lambda _msg: None)

    device = select_yubikey(serial)
    typed = prompts.confirm_serial(device).strip()
    if typed != str(serial):
        raise ProvisionAbortedError(
            f"the serial typed ({typed or 'nothing'}) is not {serial}; nothing was changed",
            hint="type the serial printed on the YubiKey that is to be reset")
    pin = prompts.new_secret("PIN")
    puk = prompts.new_secret("PUK")
    check_new_secrets(pin, puk)

    with piv_session(device) as session, mapped_errors(device, "provisioning"):
        say(f"resetting the PIV application of {device.describe()}")
        session.reset()
        session.authenticate(DEFAULT_MANAGEMENT_KEY)
        session.change_pin(FACTORY_PIN, pin)
        session.change_puk(FACTORY_PUK, puk)
        session.verify_pin(pin)
        key_type = (MANAGEMENT_KEY_TYPE.AES192 if session.version >= (5, 4, 0)
                    else MANAGEMENT_KEY_TYPE.TDES)
        management_key = bytearray(os.urandom(key_type.key_len))
        say("setting a random management key, stored PIN-protected on the device")
        pivman_set_mgm_key(session, bytes(management_key), key_type, touch=False, store_on_device=True)
        session.authenticate(bytes(management_key))
        management_key[:] = b"\0" * len(management_key)  # best effort: not kept by us
        say(f"generating an {algorithm} key on the device in slot 9c")
        public_key = session.generate_key(SLOT.SIGNATURE, KEY_TYPE[ALGORITHMS[algorithm]],
                                          PIN_POLICY.ALWAYS, TOUCH_POLICY[TOUCH_POLICIES[touch]])
        attestation = session.attest_key(SLOT.SIGNATURE)
        device_certificate = session.get_certificate(SLOT.ATTESTATION)
        session.put_certificate(SLOT.SIGNATURE, attestation)
    say(f"{device.describe()} is provisioned")
    return ProvisionResult(device, "9c", algorithm, "always", touch, public_key,
                           attestation, device_certificate)
