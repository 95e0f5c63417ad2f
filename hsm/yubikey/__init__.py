"""YubiKeys as ceremony tokens: find, check, provision, attest, sign.

Built on yubikey-manager's ``yubikit`` (protocol) for everything PKCS#11 cannot
express, and on libykcs11 through :mod:`hsm.pkcs11` for signing, so a YubiKey
signs through the same path as every other token (see
:mod:`hsm.yubikey.signing` for why). Nothing here knows about TUF; nothing here
prompts or prints: questions and touch prompts go through callbacks.

* :mod:`.device` - list and select YubiKeys (by serial), yubikit sessions, error mapping.
* :mod:`.preflight` - firmware advisories, PIN/PUK budget, factory defaults.
* :mod:`.provision` - reset PIV and generate the key on the device.
* :mod:`.attestation` - verify a slot attestation to a trusted root; a verdict.
* :mod:`.signing` - the slot-9c key as an ``hsm.pkcs11.TokenKey`` over ykcs11.
"""

from __future__ import annotations

from hsm.errors import (
    AttestationError,
    FactoryDefaultsError,
    NewPinRejectedError,
    ProvisionAbortedError,
    TouchTimeoutError,
)
from hsm.yubikey.device import YubiKeyInfo, list_yubikeys, select_yubikey

__all__ = [
    "AttestationError",
    "FactoryDefaultsError",
    "NewPinRejectedError",
    "ProvisionAbortedError",
    "TouchTimeoutError",
    "YubiKeyInfo",
    "list_yubikeys",
    "select_yubikey",
]
