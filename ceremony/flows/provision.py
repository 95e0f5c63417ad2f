"""YubiKey provisioning at keygen (``ceremony keygen --provision``) from the TUI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ceremony.airgap import require_preflight
from ceremony.engine import Ceremony
from ceremony.flows.tokens import TouchCallback
from ceremony.session import Session


@dataclass(frozen=True)
class YubiKeySlot:
    """Whether a YubiKey keyholder's slot 9c already holds a key (read without a PIN try)."""

    serial: str
    provisioned: bool
    text: str


def yubikey_slot(c: Session, name: str) -> YubiKeySlot | None:
    """For a ``device = "yubikey"`` keyholder, whether slot 9c holds a key; None otherwise.

    Raises:
        HsmError: the YubiKey is not present or cannot be read.
    """
    h = c.plan.keyholder(name)
    if not h.is_yubikey:
        return None
    from hsm.yubikey.preflight import preflight  # lazy: hsm.yubikey (~3 ms), for a YubiKey keyholder only
    r = preflight(int(str(h.serial)))  # the plan checked a YubiKey serial: digits
    slot = r.signature_slot
    factory = bool(r.factory_pin or r.factory_puk or r.factory_management_key)
    if slot is None or factory:
        why = "slot 9c is empty" if slot is None else "factory PIN/PUK still set"
        return YubiKeySlot(str(h.serial), False, f"YubiKey {h.serial} is not provisioned "
                           f"({why}): press p to provision it (resets PIV)")
    return YubiKeySlot(str(h.serial), True, f"YubiKey {h.serial}: slot 9c holds a "
                       f"{slot.algorithm} key (touch {slot.touch_policy}); keygen adopts it")


def provision_prompts(serial_typed: str, new_pin: str, new_puk: str,
                      on_event: Callable[[str], None] | None = None) -> Any:
    """``ProvisionPrompts`` answering with what the operator typed on screen (each secret
    entered twice and compared by the screen); checked with the provisioning rules first.

    Raises:
        NewPinRejectedError: the new PIN/PUK breaks a rule (nothing changed).
    """
    # lazy: hsm.yubikey (~3 ms), for a YubiKey only
    from hsm.yubikey.provision import ProvisionPrompts, check_new_secrets
    check_new_secrets(new_pin, new_puk)
    secrets = {"PIN": new_pin, "PUK": new_puk}
    return ProvisionPrompts(lambda _device: serial_typed, secrets.__getitem__, on_event)


def keygen_provision(c: Ceremony, name: str, module: Any, prompts: Any, new_pin: str,
                     on_touch: TouchCallback | None = None) -> Any:
    """``ceremony keygen WS --keyholder NAME --provision``: reset PIV, make the key on the
    device with the plan's algorithm and touch policy, verify its attestation, record it.

    Raises:
        ProvisionAbortedError: the typed serial is not the YubiKey's (nothing changed).
        AttestationError / HsmError: as ``Ceremony.keygen``.
    """
    require_preflight(c)
    return c.keygen(name, module, lambda _info: new_pin, on_touch=on_touch, provision=prompts)
