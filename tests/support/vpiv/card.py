"""The virtual YubiKey: PIV (SP 800-73-4 + Yubico extensions) and the management app.

The card answers the APDUs that ``yubikit`` (yubikey-manager 5.9) and
``libykcs11`` 2.2 send, with the status words a YubiKey 5 gives, so the host
code under test cannot tell it from a device on the paths the tool uses:

* SELECT (PIV, management; every other AID is "not found"),
* VERIFY (with retries, blocking, the empty "how many tries" form, P1=FF reset),
* CHANGE REFERENCE (PIN, PUK), RESET RETRY (unblock with PUK),
* GET DATA / PUT DATA (the printed-information object needs the PIN),
* GENERATE ASYMMETRIC (P-256, P-384) with PIN and touch policies,
* GENERAL AUTHENTICATE: management-key mutual authentication (3DES, AES-128/192/256)
  and ECDSA signing (the host sends the hash, the card returns a DER signature),
* Yubico: GET VERSION (FD), GET SERIAL (F8), GET METADATA (F7), ATTEST (F9),
  RESET (FB), SET PIN RETRIES (FA), SET MANAGEMENT KEY (FF),
* command chaining (CLA 0x10), short and extended APDUs, response chaining (61xx
  + GET RESPONSE),
* management app: the version string on SELECT and READ CONFIG (serial, form
  factor, firmware).

Touch is simulated by a :class:`Touch` strategy (touched after a delay, never
touched, or "the operator pulled the key instead"). Not emulated: RSA, Ed25519,
X25519, key import and move, biometrics, secure messaging (SCP), the OTP/OATH/
OpenPGP/FIDO applications, the exact timing of a real card.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.support.vpiv import tlv
from tests.support.vpiv.attestation_ca import TestAttestationCA, default_ca, slot_attestation

SW_OK = 0x9000
SW_WRONG_LENGTH = 0x6700
SW_SECURITY = 0x6982
SW_BLOCKED = 0x6983
SW_CONDITIONS = 0x6985
SW_INCORRECT = 0x6A80
SW_NOT_FOUND = 0x6A82
SW_REF_NOT_FOUND = 0x6A88
SW_P1P2 = 0x6B00
SW_INS = 0x6D00
SW_CLA = 0x6E00

AID_PIV = bytes.fromhex("a000000308")
AID_MGMT = bytes.fromhex("a000000527471117")

# ATR of a YubiKey 5 over USB (ykpiv recognises it as DEVTYPE_YK5; yubikit sees USB).
ATR_YK5 = bytes.fromhex("3bfd1300008131fe158073c021c057597562694b657940")

DEFAULT_PIN = b"123456"
DEFAULT_PUK = b"12345678"
DEFAULT_MGMT = bytes.fromhex("010203040506070801020304050607080102030405060708")

ALG_TDES, ALG_AES128, ALG_AES192, ALG_AES256 = 0x03, 0x08, 0x0A, 0x0C
ALG_P256, ALG_P384 = 0x11, 0x14
_MGMT_KEY_LEN = {ALG_TDES: 24, ALG_AES128: 16, ALG_AES192: 24, ALG_AES256: 32}
_CURVES = {ALG_P256: (ec.SECP256R1(), 32, hashes.SHA256()), ALG_P384: (ec.SECP384R1(), 48, hashes.SHA384())}

PIN_NEVER, PIN_ONCE, PIN_ALWAYS = 1, 2, 3
TOUCH_NEVER, TOUCH_ALWAYS, TOUCH_CACHED = 1, 2, 3
CACHED_TOUCH_SECONDS = 15.0

SLOT_CARD_MGMT = 0x9B
SLOT_ATTESTATION = 0xF9
KEY_SLOTS = [0x9A, 0x9C, 0x9D, 0x9E, *range(0x82, 0x96)]
_DEFAULT_PIN_POLICY = {0x9C: PIN_ALWAYS, 0x9E: PIN_NEVER}

OBJ_PRINTED = 0x5FC109
OBJ_DISCOVERY = 0x7E
OBJ_ATTESTATION = 0x5FFF01
_SLOT_OBJECT = {0x9A: 0x5FC105, 0x9C: 0x5FC10A, 0x9D: 0x5FC10B, 0x9E: 0x5FC101,
                **{s: 0x5FC10D + i for i, s in enumerate(range(0x82, 0x96))}}

# Management READ CONFIG capability bits: OTP, U2F, OPENPGP, PIV, OATH, HSMAUTH, FIDO2.
_CAPABILITIES = 0x0001 | 0x0002 | 0x0008 | 0x0010 | 0x0020 | 0x0100 | 0x0200

FORM_USB_A_KEYCHAIN = 0x01
FORM_USB_C_KEYCHAIN = 0x03


class CardRemoved(Exception):
    """Raised inside the card to simulate the key being pulled mid-command."""


class Touch:
    """How the simulated operator answers the blinking key. Default: touches at once."""

    def __init__(self) -> None:
        self.requests = 0

    def wait(self) -> bool:
        """Block like the card does; True when touched, False on timeout."""
        self.requests += 1
        return True


class TouchAfter(Touch):
    """The operator touches after ``delay`` seconds."""

    def __init__(self, delay: float = 0.05) -> None:
        super().__init__()
        self.delay = delay

    def wait(self) -> bool:
        self.requests += 1
        time.sleep(self.delay)
        return True


class NeverTouched(Touch):
    """Nobody touches: the card gives up after ``timeout`` (15 s on a real YubiKey)."""

    def __init__(self, timeout: float = 0.3) -> None:
        super().__init__()
        self.timeout = timeout

    def wait(self) -> bool:
        self.requests += 1
        time.sleep(self.timeout)
        return False


class PulledOnTouch(Touch):
    """Instead of touching, the operator pulls the key out (removal mid-signature)."""

    def wait(self) -> bool:
        self.requests += 1
        time.sleep(0.05)
        raise CardRemoved()


@dataclass
class SlotKey:
    """A private key held in a slot; ``private`` never leaves the card object."""

    algorithm: int
    private: ec.EllipticCurvePrivateKey
    pin_policy: int
    touch_policy: int
    generated: bool

    def public_point(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


@dataclass
class _Response:
    data: bytes
    sw: int


@dataclass
class VirtualYubiKey:
    """One virtual YubiKey 5 with the PIV and management applications.

    Persistent state (PIN, keys, objects, retry counters) lives as long as the
    object; volatile state (selected app, PIN verified, management key
    authenticated) is cleared by power-off/reset, like on a card.
    """

    serial: int = 12345678
    version: tuple[int, int, int] = (5, 7, 1)
    form_factor: int = FORM_USB_A_KEYCHAIN
    ca: TestAttestationCA = field(default_factory=default_ca)
    touch: Touch = field(default_factory=Touch)
    attestation_serial: int | None = None  # what ATTEST claims; None = the real serial

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.apdu_log: list[bytes] = []
        self.pin_total, self.puk_total = 3, 3
        self.factory_reset()
        self.device_key = self.ca.device_key(self.serial)
        self.device_cert = self.ca.device_certificate(self.serial, self.version)
        self.power_off()

    # ---- state -----------------------------------------------------------------

    def factory_reset(self) -> None:
        """PIV data as shipped: default PIN/PUK/management key, no keys, no objects."""
        self.pin = DEFAULT_PIN
        self.puk = DEFAULT_PUK
        self.pin_left, self.puk_left = self.pin_total, self.puk_total
        self.pin_is_default = self.puk_is_default = self.mgmt_is_default = True
        self.mgmt_algorithm = ALG_AES192 if self.version >= (5, 7, 0) else ALG_TDES
        self.mgmt_key = DEFAULT_MGMT
        self.mgmt_touch = False
        self.keys: dict[int, SlotKey] = {}
        self.objects: dict[int, bytes] = {}
        self.last_touch = 0.0

    def power_off(self) -> None:
        """Clear the security status, as a card reset does."""
        self.selected: bytes | None = None
        self.pin_verified = False
        self.pin_always_ok = False
        self.mgmt_authenticated = False
        self._witness: bytes | None = None
        self._chain: tuple[int, int, int, bytes] | None = None
        self._pending = b""

    def atr(self) -> bytes:
        return ATR_YK5

    def pin_verifications(self) -> int:
        """How many VERIFY commands carried a PIN (each one can cost a try)."""
        count = 0
        for apdu in self.apdu_log:
            if len(apdu) > 4 and apdu[1] == 0x20 and apdu[3] == 0x80:
                with contextlib.suppress(ValueError):
                    count += len(_command_data(apdu[4:])) == 8
        return count

    def sent(self, ins: int) -> int:
        """How many complete commands with this INS the host sent."""
        return sum(1 for a in self.apdu_log if len(a) > 1 and a[1] == ins and not a[0] & 0x10)

    # ---- APDU entry point --------------------------------------------------------

    def transmit(self, apdu: bytes) -> bytes:
        """One command APDU in, one response APDU (data || SW1 SW2) out.

        Raises:
            CardRemoved: the simulated operator pulled the key.
        """
        with self.lock:
            self.apdu_log.append(apdu)
            r = self._transmit(apdu)
            return r.data + r.sw.to_bytes(2, "big")

    def _transmit(self, apdu: bytes) -> _Response:
        if len(apdu) < 4:
            return _Response(b"", SW_WRONG_LENGTH)
        cla, ins, p1, p2 = apdu[:4]
        try:
            data = _command_data(apdu[4:])
        except ValueError:
            return _Response(b"", SW_WRONG_LENGTH)
        if ins == 0xC0 and cla & 0x10 == 0:  # GET RESPONSE
            return self._next_chunk()
        self._pending = b""
        if cla & 0x10:  # command chaining: collect and acknowledge
            prev = self._chain
            body = (prev[3] if prev and prev[:3] == (ins, p1, p2) else b"") + data
            self._chain = (ins, p1, p2, body)
            return _Response(b"", SW_OK)
        if self._chain and self._chain[:3] == (ins, p1, p2):
            data = self._chain[3] + data
        self._chain = None
        if cla & ~0x10 not in (0x00,):
            return _Response(b"", SW_CLA)
        out, sw = self._dispatch(ins, p1, p2, data)
        self._pending = out
        return self._next_chunk(sw)

    def _next_chunk(self, sw: int = SW_OK) -> _Response:
        chunk, self._pending = self._pending[:256], self._pending[256:]
        if self._pending:  # 61xx: xx more bytes (00 = 256 or more) for GET RESPONSE
            left = len(self._pending)
            return _Response(chunk, 0x6100 | (left if left < 256 else 0))
        return _Response(chunk, sw)

    def _dispatch(self, ins: int, p1: int, p2: int, data: bytes) -> tuple[bytes, int]:
        if ins == 0xA4:
            return self._select(p1, data)
        # A PIN-always key may only be used by the command right after VERIFY.
        if ins not in (0x20, 0x87):
            self.pin_always_ok = False
        if self.selected == AID_MGMT:
            return self._management(ins, p1, p2, data)
        if self.selected != AID_PIV:
            return b"", SW_INS
        handler = _PIV_HANDLERS.get(ins)
        if handler is None:
            return b"", SW_INS
        return handler(self, p1, p2, data)

    # ---- SELECT and management -------------------------------------------------

    def _select(self, p1: int, aid: bytes) -> tuple[bytes, int]:
        # Selecting any application drops the PIV security status (PIN, management key).
        self.pin_verified = self.pin_always_ok = self.mgmt_authenticated = False
        self._witness = None
        if p1 != 0x04:
            return b"", SW_P1P2
        if aid[:5] == AID_PIV:
            self.selected = AID_PIV
            apt = tlv.tlv(0x4F, bytes.fromhex("000010000100")) + tlv.tlv(0x79, tlv.tlv(0x4F, AID_PIV))
            return tlv.tlv(0x61, apt), SW_OK
        if aid == AID_MGMT:
            self.selected = AID_MGMT
            return "{}.{}.{}".format(*self.version).encode(), SW_OK
        self.selected = None
        return b"", SW_NOT_FOUND

    def _management(self, ins: int, p1: int, p2: int, data: bytes) -> tuple[bytes, int]:
        if ins != 0x1D:  # READ CONFIG; write/reset are not emulated
            return b"", SW_INS
        if p1 != 0:
            return b"\x00", SW_OK
        body = (tlv.tlv(0x01, _CAPABILITIES.to_bytes(2, "big"))
                + tlv.tlv(0x02, self.serial.to_bytes(4, "big"))
                + tlv.tlv(0x03, _CAPABILITIES.to_bytes(2, "big"))
                + tlv.tlv(0x04, bytes([self.form_factor]))
                + tlv.tlv(0x05, bytes(self.version))
                + tlv.tlv(0x08, b"\x00")
                + tlv.tlv(0x0A, b"\x00"))
        return bytes([len(body)]) + body, SW_OK

    # ---- PIN and PUK -----------------------------------------------------------

    def _verify(self, p1: int, p2: int, data: bytes) -> tuple[bytes, int]:
        if p2 != 0x80:
            return b"", SW_REF_NOT_FOUND  # 0x96 (biometrics) and others: not on this card
        if p1 == 0xFF:
            self.pin_verified = self.pin_always_ok = False
            return b"", SW_OK
        if not data:
            if self.pin_left == 0:
                return b"", SW_BLOCKED
            return (b"", SW_OK) if self.pin_verified else (b"", 0x63C0 | self.pin_left)
        if len(data) != 8:
            return b"", SW_WRONG_LENGTH
        if self.pin_left == 0:
            return b"", SW_BLOCKED
        if _unpad(data) != self.pin:
            self.pin_left -= 1
            self.pin_verified = self.pin_always_ok = False
            return b"", (0x63C0 | self.pin_left) if self.pin_left else SW_BLOCKED
        self.pin_left = self.pin_total
        self.pin_verified = self.pin_always_ok = True
        return b"", SW_OK

    def _change_reference(self, p1: int, p2: int, data: bytes) -> tuple[bytes, int]:
        if p2 not in (0x80, 0x81) or len(data) != 16:
            return b"", SW_INCORRECT if len(data) == 16 else SW_WRONG_LENGTH
        old, new = _unpad(data[:8]), _unpad(data[8:])
        is_pin = p2 == 0x80
        left = self.pin_left if is_pin else self.puk_left
        if left == 0:
            return b"", SW_BLOCKED
        if old != (self.pin if is_pin else self.puk):
            left -= 1
            if is_pin:
                self.pin_left, self.pin_verified = left, False
            else:
                self.puk_left = left
            return b"", (0x63C0 | left) if left else SW_BLOCKED
        if not 6 <= len(new) <= 8:
            return b"", SW_INCORRECT
        if is_pin:
            self.pin, self.pin_left, self.pin_is_default = new, self.pin_total, new == DEFAULT_PIN
        else:
            self.puk, self.puk_left, self.puk_is_default = new, self.puk_total, new == DEFAULT_PUK
        return b"", SW_OK

    def _reset_retry(self, p1: int, p2: int, data: bytes) -> tuple[bytes, int]:
        if p2 != 0x80 or len(data) != 16:
            return b"", SW_WRONG_LENGTH if p2 == 0x80 else SW_INCORRECT
        if self.puk_left == 0:
            return b"", SW_BLOCKED
        if _unpad(data[:8]) != self.puk:
            self.puk_left -= 1
            return b"", (0x63C0 | self.puk_left) if self.puk_left else SW_BLOCKED
        new = _unpad(data[8:])
        if not 6 <= len(new) <= 8:
            return b"", SW_INCORRECT
        self.puk_left = self.puk_total
        self.pin, self.pin_left, self.pin_is_default = new, self.pin_total, new == DEFAULT_PIN
        return b"", SW_OK

    def _set_pin_retries(self, p1: int, p2: int, data: bytes) -> tuple[bytes, int]:
        if not (self.mgmt_authenticated and self.pin_verified):
            return b"", SW_SECURITY
        if not (1 <= p1 <= 255 and 1 <= p2 <= 255):
            return b"", SW_P1P2
        self.pin_total, self.puk_total = p1, p2
        self.pin, self.puk = DEFAULT_PIN, DEFAULT_PUK
        self.pin_left, self.puk_left = p1, p2
        self.pin_is_default = self.puk_is_default = True
        return b"", SW_OK

    def _reset(self, p1: int, p2: int, data: bytes) -> tuple[bytes, int]:
        # Only once both PIN and PUK are blocked; the f9 attestation key survives.
        if self.pin_left or self.puk_left:
            return b"", SW_CONDITIONS
        self.pin_total = self.puk_total = 3
        self.factory_reset()
        self.power_off()
        self.selected = AID_PIV
        return b"", SW_OK

    # ---- data objects ------------------------------------------------------------

    def _get_data(self, p1: int, p2: int, data: bytes) -> tuple[bytes, int]:
        if (p1, p2) != (0x3F, 0xFF):
            return b"", SW_P1P2
        try:
            obj = int.from_bytes(tlv.parse_dict(data)[0x5C], "big")
        except (KeyError, ValueError):
            return b"", SW_INCORRECT
        if obj == OBJ_DISCOVERY:
            return tlv.tlv(0x7E, tlv.tlv(0x4F, AID_PIV + bytes.fromhex("000010000100"))
                           + tlv.tlv(0x5F2F, b"\x40\x00")), SW_OK
        if obj == OBJ_ATTESTATION:
            cert = self.device_cert.public_bytes(Encoding.DER)
            return tlv.tlv(0x53, tlv.tlv(0x70, cert) + tlv.tlv(0x71, b"\x00") + tlv.tlv(0xFE)), SW_OK
        if obj == OBJ_PRINTED and not self.pin_verified:
            return b"", SW_SECURITY
        if obj not in self.objects:
            return b"", SW_NOT_FOUND
        return tlv.tlv(0x53, self.objects[obj]), SW_OK

    def _put_data(self, p1: int, p2: int, data: bytes) -> tuple[bytes, int]:
        if (p1, p2) != (0x3F, 0xFF):
            return b"", SW_P1P2
        if not self.mgmt_authenticated:
            return b"", SW_SECURITY
        try:
            fields = tlv.parse_dict(data)
            obj = int.from_bytes(fields[0x5C], "big")
            value = fields[0x53]
        except (KeyError, ValueError):
            return b"", SW_INCORRECT
        if obj == OBJ_ATTESTATION:
            return b"", SW_INCORRECT  # replacing the f9 certificate is not emulated
        if value:
            self.objects[obj] = value
        else:
            self.objects.pop(obj, None)
        return b"", SW_OK

    # ---- management key ------------------------------------------------------------

    def _cipher(self) -> Cipher:
        algo = TripleDES(self.mgmt_key) if self.mgmt_algorithm == ALG_TDES else algorithms.AES(self.mgmt_key)
        return Cipher(algo, modes.ECB())  # noqa: S305 - ECB is what PIV specifies here

    def _block(self) -> int:
        return 8 if self.mgmt_algorithm == ALG_TDES else 16

    def _authenticate_mgmt(self, p1: int, data: bytes) -> tuple[bytes, int]:
        if p1 != self.mgmt_algorithm:
            return b"", SW_INCORRECT
        try:
            dyn = tlv.parse_dict(tlv.parse_dict(data)[0x7C])
        except (KeyError, ValueError):
            return b"", SW_INCORRECT
        if 0x80 in dyn and not dyn[0x80]:  # step 1: host asks for a witness
            self.mgmt_authenticated = False
            self._witness = os.urandom(self._block())
            enc = self._cipher().encryptor()
            return tlv.tlv(0x7C, tlv.tlv(0x80, enc.update(self._witness) + enc.finalize())), SW_OK
        if 0x80 in dyn and 0x81 in dyn:  # step 2: decrypted witness + host challenge
            ok = self._witness is not None and dyn[0x80] == self._witness
            self._witness = None
            if not ok:
                return b"", SW_SECURITY
            self.mgmt_authenticated = True
            enc = self._cipher().encryptor()
            return tlv.tlv(0x7C, tlv.tlv(0x82, enc.update(dyn[0x81]) + enc.finalize())), SW_OK
        return b"", SW_INCORRECT

    def _set_mgmt_key(self, p1: int, p2: int, data: bytes) -> tuple[bytes, int]:
        if p1 != 0xFF or p2 not in (0xFE, 0xFF):
            return b"", SW_P1P2
        if not self.mgmt_authenticated:
            return b"", SW_SECURITY
        if len(data) < 3 or data[1] != SLOT_CARD_MGMT or data[0] not in _MGMT_KEY_LEN:
            return b"", SW_INCORRECT
        algorithm, key = data[0], data[3:3 + data[2]]
        if len(key) != _MGMT_KEY_LEN[algorithm] or (algorithm != ALG_TDES and self.version < (5, 4, 0)):
            return b"", SW_INCORRECT
        self.mgmt_algorithm, self.mgmt_key, self.mgmt_touch = algorithm, key, p2 == 0xFE
        self.mgmt_is_default = key == DEFAULT_MGMT
        return b"", SW_OK

    # ---- keys ---------------------------------------------------------------------------

    def _generate(self, p1: int, p2: int, data: bytes) -> tuple[bytes, int]:
        if p2 not in KEY_SLOTS:
            return b"", SW_P1P2
        if not self.mgmt_authenticated:
            return b"", SW_SECURITY
        try:
            params = tlv.parse_dict(tlv.parse_dict(data)[0xAC])
            algorithm = params[0x80][0]
        except (KeyError, ValueError, IndexError):
            return b"", SW_INCORRECT
        if algorithm not in _CURVES:
            return b"", SW_INCORRECT  # RSA / Ed25519 / X25519 are not emulated
        pin_policy = params.get(0xAA, b"\x00")[0] or _DEFAULT_PIN_POLICY.get(p2, PIN_ONCE)
        touch_policy = params.get(0xAB, b"\x00")[0] or TOUCH_NEVER
        if pin_policy not in (PIN_NEVER, PIN_ONCE, PIN_ALWAYS) or touch_policy not in (1, 2, 3):
            return b"", SW_INCORRECT
        key = SlotKey(algorithm, ec.generate_private_key(_CURVES[algorithm][0]), pin_policy,
                      touch_policy, generated=True)
        self.keys[p2] = key
        return tlv.tlv(0x7F49, tlv.tlv(0x86, key.public_point())), SW_OK

    def _authenticate(self, p1: int, p2: int, data: bytes) -> tuple[bytes, int]:
        if p2 == SLOT_CARD_MGMT:
            return self._authenticate_mgmt(p1, data)
        key = self.keys.get(p2)
        if key is None:
            return b"", SW_REF_NOT_FOUND
        if p1 != key.algorithm:
            return b"", SW_INCORRECT
        try:
            dyn = tlv.parse_dict(tlv.parse_dict(data)[0x7C])
            message = dyn[0x81]
        except (KeyError, ValueError):
            return b"", SW_INCORRECT  # 0x85 (ECDH) is not emulated
        always_ok, self.pin_always_ok = self.pin_always_ok, False
        if key.pin_policy == PIN_ALWAYS and not always_ok:
            return b"", SW_SECURITY
        if key.pin_policy == PIN_ONCE and not self.pin_verified:
            return b"", SW_SECURITY
        if not self._touched(key.touch_policy):
            return b"", SW_SECURITY  # what a YubiKey answers when nobody touched it
        curve, size, hash_alg = _CURVES[key.algorithm]
        digest = message[:size].rjust(size, b"\x00")
        signature = key.private.sign(digest, ec.ECDSA(Prehashed(hash_alg)))
        return tlv.tlv(0x7C, tlv.tlv(0x82, signature)), SW_OK

    def _touched(self, policy: int) -> bool:
        if policy == TOUCH_NEVER:
            return True
        if policy == TOUCH_CACHED and time.monotonic() - self.last_touch < CACHED_TOUCH_SECONDS:
            return True
        self.lock.release()  # a blinking key still answers nothing else, but tests may look
        try:
            touched = self.touch.wait()
        finally:
            self.lock.acquire()
        if touched:
            self.last_touch = time.monotonic()
        return touched

    # ---- Yubico extensions ---------------------------------------------------------------

    def _get_version(self, p1: int, p2: int, data: bytes) -> tuple[bytes, int]:
        return bytes(self.version), SW_OK

    def _get_serial(self, p1: int, p2: int, data: bytes) -> tuple[bytes, int]:
        return self.serial.to_bytes(4, "big"), SW_OK

    def _get_metadata(self, p1: int, p2: int, data: bytes) -> tuple[bytes, int]:
        if self.version < (5, 3, 0):
            return b"", SW_INS
        if p2 in (0x80, 0x81):
            pin = p2 == 0x80
            total = self.pin_total if pin else self.puk_total
            left = self.pin_left if pin else self.puk_left
            default = self.pin_is_default if pin else self.puk_is_default
            return (tlv.tlv(0x01, b"\xff") + tlv.tlv(0x05, bytes([default]))
                    + tlv.tlv(0x06, bytes([total, left]))), SW_OK
        if p2 == SLOT_CARD_MGMT:
            return (tlv.tlv(0x01, bytes([self.mgmt_algorithm]))
                    + tlv.tlv(0x02, bytes([0x00, TOUCH_ALWAYS if self.mgmt_touch else TOUCH_NEVER]))
                    + tlv.tlv(0x05, bytes([self.mgmt_is_default]))), SW_OK
        key = self.keys.get(p2)
        if key is None:
            return b"", SW_REF_NOT_FOUND
        return (tlv.tlv(0x01, bytes([key.algorithm]))
                + tlv.tlv(0x02, bytes([key.pin_policy, key.touch_policy]))
                + tlv.tlv(0x03, bytes([1 if key.generated else 2]))
                + tlv.tlv(0x04, tlv.tlv(0x86, key.public_point()))), SW_OK

    def _attest(self, p1: int, p2: int, data: bytes) -> tuple[bytes, int]:
        key = self.keys.get(p1)
        if key is None:
            return b"", SW_REF_NOT_FOUND
        if not key.generated:
            return b"", SW_INCORRECT
        cert = slot_attestation(
            self.device_key, self.device_cert, p1, key.private.public_key(), self.version,
            self.serial if self.attestation_serial is None else self.attestation_serial,
            key.pin_policy, key.touch_policy, self.form_factor)
        return cert.public_bytes(Encoding.DER), SW_OK


_PIV_HANDLERS = {
    0x20: VirtualYubiKey._verify,
    0x24: VirtualYubiKey._change_reference,
    0x2C: VirtualYubiKey._reset_retry,
    0x47: VirtualYubiKey._generate,
    0x87: VirtualYubiKey._authenticate,
    0xCB: VirtualYubiKey._get_data,
    0xDB: VirtualYubiKey._put_data,
    0xF7: VirtualYubiKey._get_metadata,
    0xF8: VirtualYubiKey._get_serial,
    0xF9: VirtualYubiKey._attest,
    0xFA: VirtualYubiKey._set_pin_retries,
    0xFB: VirtualYubiKey._reset,
    0xFD: VirtualYubiKey._get_version,
    0xFF: VirtualYubiKey._set_mgmt_key,
}


def _command_data(body: bytes) -> bytes:
    """The data field of a short or extended command APDU (Le is ignored).

    Raises:
        ValueError: Lc does not match the APDU length.
    """
    if len(body) <= 1:  # case 1, or case 2 short (Le only)
        return b""
    if body[0] == 0 and len(body) >= 3:  # extended: 00 Lc1 Lc2 data [Le1 Le2]
        if len(body) == 3:
            return b""  # case 2 extended (Le only)
        lc = int.from_bytes(body[1:3], "big")
        if len(body) not in (3 + lc, 5 + lc):
            raise ValueError("bad extended Lc")
        return body[3:3 + lc]
    lc = body[0]
    if len(body) not in (1 + lc, 2 + lc):
        raise ValueError("bad Lc")
    return body[1:1 + lc]


def _unpad(value: bytes) -> bytes:
    """A PIN/PUK is sent right-padded to 8 bytes with 0xFF."""
    return value.rstrip(b"\xff")
