"""Finding YubiKeys over PC/SC and opening yubikit PIV sessions on them safely.

Three rules shape this module:

* A YubiKey is chosen by serial. With two keys present and no serial, the tool
  stops and asks which one, by serial (:class:`AmbiguousTokenError`); it never
  picks the first.
* Connections are *shared* and leave the card as it is when closed, so opening
  yubikit next to libykcs11 (which holds its own connection) neither fails nor
  resets the card under it. (ykman's own opener tries exclusive mode and may
  kill other smart-card daemons; a ceremony tool must not.)
* Every yubikit / pyscard exception leaving this package is an ``hsm.errors``
  class; a key pulled out mid-command is :class:`DeviceRemovedError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from hsm.errors import (
    AmbiguousTokenError,
    DeviceRemovedError,
    HsmError,
    PinFinalTryError,
    PinIncorrectError,
    PinLockedError,
    TokenNotFoundError,
    UnsupportedError,
)

READER_MATCH = "yubico yubikey"  # what ykman and ykcs11 look for in a reader name


@dataclass(frozen=True)
class YubiKeyInfo:
    """What an operator needs to recognise a YubiKey: serial, firmware, form factor."""

    serial: int | None
    firmware: tuple[int, int, int]
    form_factor: str
    reader: str

    @property
    def firmware_str(self) -> str:
        return "{}.{}.{}".format(*self.firmware)

    def describe(self) -> str:
        """One line naming the key as printed on its case."""
        serial = self.serial if self.serial is not None else "(serial hidden)"
        return f"YubiKey {serial}"

    def to_dict(self) -> dict[str, Any]:
        return {"serial": self.serial, "firmware": self.firmware_str,
                "form_factor": self.form_factor, "reader": self.reader}


def _smartcard_connection_class() -> type:
    from smartcard.scard import SCARD_LEAVE_CARD, SCARD_SHARE_SHARED  # lazy: pyscard (optional [yubikey] extra)
    from yubikit.core import TRANSPORT  # lazy: yubikit (~0.4 s, optional [yubikey] extra)
    from yubikit.core.smartcard import SmartCardConnection  # lazy: yubikit (~0.4 s, optional [yubikey] extra)

    class PcscConnection(SmartCardConnection):
        """A shared PC/SC connection that leaves the card untouched on close."""

        def __init__(self, reader: Any) -> None:
            self.reader_name = str(reader)
            self._conn = reader.createConnection()
            self._conn.connect(mode=SCARD_SHARE_SHARED, disposition=SCARD_LEAVE_CARD)

        @property
        def transport(self) -> TRANSPORT:
            return TRANSPORT.USB

        def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
            data, sw1, sw2 = self._conn.transmit(list(apdu))
            return bytes(data), sw1 << 8 | sw2

        def close(self) -> None:
            try:
                self._conn.disconnect()
            finally:
                release = getattr(self._conn, "release", None)
                if release is not None:
                    release()

    return PcscConnection


def _readers() -> list[Any]:
    from smartcard.Exceptions import ListReadersException  # lazy: pyscard (optional [yubikey] extra)
    from smartcard.System import readers  # lazy: pyscard (optional [yubikey] extra)
    try:
        return [r for r in readers() if READER_MATCH in str(r).lower()]
    except ListReadersException:
        return []  # no readers at all (pcscd answers "no readers")
    except Exception as e:  # noqa: BLE001 - pyscard raises bare exceptions without pcscd
        raise HsmError(f"PC/SC is not available: {e}",
                       hint="is pcscd running? (systemctl start pcscd)") from e


def _pid_for(reader_name: str) -> Any:
    from yubikit.core import PID, USB_INTERFACE, YUBIKEY  # lazy: yubikit (~0.4 s, optional [yubikey] extra)
    interfaces = USB_INTERFACE(0)
    for iface in USB_INTERFACE:
        if iface.name and iface.name in reader_name:
            interfaces |= iface
    if not interfaces & USB_INTERFACE.CCID:
        interfaces |= USB_INTERFACE.CCID
    return PID.of(YUBIKEY.YK4, interfaces)


def _open(reader: Any) -> Any:
    from smartcard.Exceptions import (  # lazy: pyscard (optional [yubikey] extra)
        CardConnectionException,
        NoCardException,
    )
    try:
        return _smartcard_connection_class()(reader)
    except (NoCardException, CardConnectionException) as e:
        raise DeviceRemovedError(f"no YubiKey answers in reader {reader}: {e}") from None


def _read_info(reader: Any) -> YubiKeyInfo:
    from yubikit.support import read_info  # lazy: yubikit (~0.4 s, optional [yubikey] extra)
    conn = _open(reader)
    try:
        with mapped_errors(None, "reading device information"):
            info = read_info(conn, _pid_for(str(reader)))
    finally:
        conn.close()
    form = info.form_factor.name.replace("_", "-").lower() if info.form_factor else "unknown"
    return YubiKeyInfo(info.serial, tuple(info.version), form, str(reader))  # type: ignore[arg-type]


def list_yubikeys() -> list[YubiKeyInfo]:
    """Every YubiKey present over PC/SC (readers without a card are skipped).

    Raises:
        HsmError: PC/SC is not available.
    """
    found = []
    for reader in _readers():
        try:
            found.append(_read_info(reader))
        except DeviceRemovedError:
            continue  # empty reader, or pulled while listing
    return found


def select_yubikey(serial: int | None = None) -> YubiKeyInfo:
    """The one YubiKey meant: by serial, or the only one present.

    Raises:
        TokenNotFoundError: no YubiKey, or none with this serial.
        AmbiguousTokenError: several YubiKeys and no serial to choose by.
    """
    keys = list_yubikeys()
    if serial is not None:
        matches = [k for k in keys if k.serial == serial]
        if not matches:
            present = ", ".join(str(k.serial) for k in keys) or "none"
            raise TokenNotFoundError(f"YubiKey {serial} is not present (present: {present})",
                                     hint="insert it, or check the serial printed on its case")
        if len(matches) > 1:
            raise AmbiguousTokenError(f"{len(matches)} YubiKeys report serial {serial}; the tool will not guess")
        return matches[0]
    if not keys:
        raise TokenNotFoundError("no YubiKey is present", hint="insert the YubiKey and run this again")
    if len(keys) > 1:
        serials = ", ".join(str(k.serial) for k in keys)
        raise AmbiguousTokenError(
            f"{len(keys)} YubiKeys are present (serials {serials}); the tool will not guess which",
            hint="say which one, by serial: --serial SERIAL (or remove the others)")
    return keys[0]


@contextmanager
def piv_session(device: YubiKeyInfo) -> Iterator[Any]:
    """A yubikit ``PivSession`` on ``device``; the serial is re-checked on the card.

    Raises:
        DeviceRemovedError: the key is gone.
        TokenNotFoundError: another key now sits in that reader.
    """
    from smartcard.System import readers  # lazy: pyscard (optional [yubikey] extra)
    from yubikit.piv import PivSession  # lazy: yubikit (~0.4 s, optional [yubikey] extra)
    reader = next((r for r in readers() if str(r) == device.reader), None)
    if reader is None:
        raise DeviceRemovedError(f"{device.describe()} was removed (its reader is gone)")
    conn = _open(reader)
    try:
        with mapped_errors(device, "opening its PIV application"):
            session = PivSession(conn)
            if device.serial is not None and session.version >= (5, 0, 3):
                actual = session.get_serial()
                if actual != device.serial:
                    raise TokenNotFoundError(
                        f"the key in {device.reader} is now YubiKey {actual}, not {device.describe()}")
        yield session
    finally:
        with suppress(Exception):  # closing a pulled card can fail; nothing to do
            conn.close()


@contextmanager
def mapped_errors(device: YubiKeyInfo | None, action: str) -> Iterator[None]:
    """Translate yubikit / pyscard failures during ``action`` into ``hsm.errors``."""
    from smartcard.Exceptions import (  # lazy: pyscard (optional [yubikey] extra)
        CardConnectionException,
        NoCardException,
        SmartcardException,
    )
    from yubikit.core import InvalidPinError, NotSupportedError  # lazy: yubikit (~0.4 s, optional [yubikey] extra)
    from yubikit.core.smartcard import SW, ApduError  # lazy: yubikit (~0.4 s, optional [yubikey] extra)
    name = device.describe() if device else "the YubiKey"
    try:
        yield
    except HsmError:
        raise
    except InvalidPinError as e:
        raise pin_refused(device, e.attempts_remaining) from None
    except ApduError as e:
        if e.sw == SW.AUTH_METHOD_BLOCKED:
            raise PinLockedError(f"the PIN of {name} is blocked (0 tries left)",
                                 hint="unblock it with the PUK before the ceremony") from None
        raise HsmError(f"{name} refused {action}: {e}") from None
    except NotSupportedError as e:
        raise UnsupportedError(f"{name} cannot do {action}: {e}") from None
    except (NoCardException, CardConnectionException, SmartcardException) as e:
        raise DeviceRemovedError(f"{name} was removed while {action}",
                                 hint="reinsert it and run this step again; nothing was recorded") from e


def pin_refused(device: YubiKeyInfo | None, attempts: int) -> PinIncorrectError | PinLockedError:
    """The error for a refused PIN, carrying the tries left (the tool never retries)."""
    name = device.describe() if device else "the YubiKey"
    if attempts == 0:
        return PinLockedError(f"the PIN for {name} was refused and is now blocked (0 tries left)",
                              hint="unblock it with the PUK before the ceremony")
    tries = "try" if attempts == 1 else "tries"
    return PinIncorrectError(
        f"the PIN for {name} was refused; {attempts} {tries} left",
        hint="the tool never retries a PIN: check it and run this step again")


def pin_attempts(session: Any) -> tuple[int, int | None]:
    """(tries left, total) without spending a try: PIN metadata, else an empty VERIFY."""
    from yubikit.core import NotSupportedError  # lazy: yubikit (~0.4 s, optional [yubikey] extra)
    try:
        md = session.get_pin_metadata()
        return md.attempts_remaining, md.total_attempts
    except NotSupportedError:
        return session.get_pin_attempts(), None


def check_pin_budget(device: YubiKeyInfo, session: Any) -> int:
    """Refuse before any VERIFY when the next wrong PIN would block the key.

    Raises:
        PinLockedError: no tries left.
        PinFinalTryError: exactly one try left.
    """
    with mapped_errors(device, "reading its PIN retry counter"):
        left, _total = pin_attempts(session)
    if left == 0:
        raise PinLockedError(f"the PIN of {device.describe()} is blocked (0 tries left)",
                             hint="unblock it with the PUK (ykman piv access unblock-pin) before the ceremony")
    if left == 1:
        raise PinFinalTryError(
            f"{device.describe()} has 1 PIN try left; the tool will not risk blocking it",
            hint="reset the counter by unblocking with the PUK (ykman piv access unblock-pin), then run this again")
    return left
