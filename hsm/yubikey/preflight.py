"""Is this YubiKey fit for a ceremony? Checked without spending a single PIN try.

Notary tries the factory PIN to find out whether it is still set, and each such
probe costs a retry on every properly provisioned key. Here the YubiKey's own
metadata (GET METADATA, firmware 5.3+) answers "is the PIN/PUK/management key
still the factory value?" and "how many tries are left?" without a VERIFY. On
older firmware that cannot be known safely, so the key is reported as not
ready, and provisioning (which resets PIV anyway) is the way forward.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from hsm.errors import FactoryDefaultsError, PinFinalTryError, PinLockedError
from hsm.yubikey.device import YubiKeyInfo, mapped_errors, pin_attempts, piv_session, select_yubikey

FIXED_FIRMWARE = (5, 7, 0)
YSA_2024_03 = (
    "YSA-2024-03: firmware {fw} is affected (side channel in the Infineon ECDSA implementation; "
    "someone holding the key with lab equipment may recover ECDSA private keys). "
    "Keep the key in custody; prefer YubiKeys with firmware 5.7 or later")


@dataclass(frozen=True)
class SlotState:
    """What slot 9c holds, from metadata (no PIN needed)."""

    algorithm: str
    pin_policy: str
    touch_policy: str
    generated: bool


@dataclass
class PreflightReport:
    """The verdict for one YubiKey; ``problems`` block a ceremony, ``advisories`` inform."""

    device: YubiKeyInfo
    pin_tries_left: int
    pin_tries_total: int | None
    puk_tries_left: int | None
    factory_pin: bool | None
    factory_puk: bool | None
    factory_management_key: bool | None
    signature_slot: SlotState | None
    advisories: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.problems

    def require_ready(self) -> None:
        """Raise the error matching the first problem, if any.

        Raises:
            PinLockedError, PinFinalTryError: the PIN budget is exhausted or nearly.
            FactoryDefaultsError: a factory secret is still set (or cannot be ruled out).
        """
        name = self.device.describe()
        if self.pin_tries_left == 0:
            raise PinLockedError(f"the PIN of {name} is blocked (0 tries left)",
                                 hint="unblock it with the PUK, or provision the key again")
        if self.pin_tries_left == 1:
            raise PinFinalTryError(f"{name} has 1 PIN try left; the tool will not risk blocking it",
                                   hint="unblock it with the PUK to reset the counter")
        if self.problems:
            raise FactoryDefaultsError(f"{name} is not fit for a ceremony: {'; '.join(self.problems)}",
                                       hint=f"run `ceremony yubikey provision --serial {self.device.serial}`")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["device"] = self.device.to_dict()
        d["ready"] = self.ready
        return d


def preflight(serial: int | None = None) -> PreflightReport:
    """Read firmware, retry counters, factory-default flags and slot 9c; spend no PIN try.

    Raises:
        TokenNotFoundError / AmbiguousTokenError: no such key / say which one.
        DeviceRemovedError: the key was pulled while being read.
    """
    from yubikit.core import NotSupportedError  # lazy: yubikit (~0.4 s, optional [yubikey] extra)
    from yubikit.core.smartcard import SW, ApduError  # lazy: yubikit (~0.4 s, optional [yubikey] extra)
    from yubikit.piv import SLOT  # lazy: yubikit (~0.4 s, optional [yubikey] extra)

    device = select_yubikey(serial)
    advisories: list[str] = []
    problems: list[str] = []
    if device.firmware < FIXED_FIRMWARE:
        advisories.append(YSA_2024_03.format(fw=device.firmware_str))
    with piv_session(device) as session, mapped_errors(device, "reading its PIV state"):
        pin_left, pin_total = pin_attempts(session)
        try:
            pin_md = session.get_pin_metadata()
            puk_md = session.get_puk_metadata()
            mgmt_md = session.get_management_key_metadata()
            factory_pin, factory_puk = pin_md.default_value, puk_md.default_value
            factory_mgmt: bool | None = mgmt_md.default_value
            puk_left: int | None = puk_md.attempts_remaining
        except NotSupportedError:
            factory_pin = factory_puk = factory_mgmt = puk_left = None
            problems.append(f"firmware {device.firmware_str} cannot report whether the factory PIN, PUK "
                            "and management key are still set without spending a PIN try")
        try:
            md = session.get_slot_metadata(SLOT.SIGNATURE)
            slot: SlotState | None = SlotState(md.key_type.name, md.pin_policy.name.lower(),
                                               md.touch_policy.name.lower(), md.generated)
        except NotSupportedError:
            slot = None
        except ApduError as e:
            if e.sw != SW.REFERENCE_DATA_NOT_FOUND:
                raise
            slot = None
    if factory_pin:
        problems.append("the factory PIN (123456) is still set")
    if factory_puk:
        problems.append("the factory PUK (12345678) is still set")
    if factory_mgmt:
        problems.append("the factory management key is still set")
    if pin_left == 0:
        problems.append("the PIN is blocked")
    elif pin_left == 1:
        problems.append("only 1 PIN try is left")
    if puk_left == 0:
        advisories.append("the PUK is blocked: a blocked PIN could only be recovered by a reset")
    if slot is not None:
        if not slot.generated:
            advisories.append("the slot-9c key was imported, not generated on the device: it cannot be attested")
        if slot.pin_policy != "always":
            advisories.append(f"the slot-9c key has PIN policy {slot.pin_policy}, not always")
        if slot.touch_policy not in ("always", "cached"):
            advisories.append(f"the slot-9c key has touch policy {slot.touch_policy}: signing needs no touch")
    return PreflightReport(device, pin_left, pin_total, puk_left, factory_pin, factory_puk,
                           factory_mgmt, slot, advisories, problems)
