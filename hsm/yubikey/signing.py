"""Signing with a YubiKey's slot-9c key through libykcs11 and ``hsm.pkcs11``.

Why ykcs11 and not yubikit: a ceremony should have *one* signing path for
every token, so the YubiKey key is a ``hsm.pkcs11.TokenKey`` like a SoftHSM or
HSM key: the same ``TokenSigner``, the same raw-signature check against the
public key, the same ``pkcs11:`` URIs (``pkcs11:token=YubiKey%20PIV%20%23<serial>;id=%02``)
that other tools (OpenSSL, p11-kit, securesystemslib's HSMSigner) also read.
yubikit is used only where PKCS#11 has no words: the exact PIN retry counter
(read before every login, without spending a try), the slot's PIN and touch
policy, provisioning and attestation.

What a YubiKey adds over a plain PKCS#11 token:

* PIN policy ALWAYS: the card accepts one signature per PIN verification, so
  every signature carries its own PIN (``C_Login(CKU_CONTEXT_SPECIFIC)``). The
  PIN provider is asked once per signature; the first one doubles as the
  session login.
* Touch: the card blocks until touched. ``on_touch`` is called just before a
  signature that needs one, so the shell can say "touch your YubiKey"; hsm never
  prints. No touch within the card's timeout (15 s on a YubiKey) is
  :class:`TouchTimeoutError`.
* The retry counter is read (yubikit, GET METADATA) before every VERIFY; with
  one try left the tool refuses before sending the PIN.
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
from collections.abc import Callable, Mapping

from pkcs11 import Mechanism, ObjectClass, exceptions as p11e

from hsm.algorithms import get_algorithm
from hsm.errors import (
    DeviceRemovedError,
    HsmError,
    KeyNotFoundError,
    ModuleLoadError,
    PinIncorrectError,
    PinLockedError,
    PinMissingError,
    TouchTimeoutError,
    UnsupportedError,
)
from hsm.pkcs11 import Module, PinProvider, TokenKey, _read_public, _same_key, _token_info, get_module, key_pair
from hsm.uri import KeyRef
from hsm.verify import PublicKey, verify_raw
from hsm.yubikey.attestation import slot_policies
from hsm.yubikey.device import (
    YubiKeyInfo,
    check_pin_budget,
    mapped_errors,
    pin_attempts,
    pin_refused,
    piv_session,
    select_yubikey,
)

ENV_YKCS11 = "CEREMONY_YKCS11_MODULE"
YKCS11_PATHS = ("/usr/lib/x86_64-linux-gnu/libykcs11.so", "/usr/lib/aarch64-linux-gnu/libykcs11.so",
                "/usr/local/lib/libykcs11.so", "/usr/lib/libykcs11.so")
SLOT_9C_ID = b"\x02"  # ykcs11's CKA_ID for the digital-signature slot
_ALGORITHM_FOR_KEY_TYPE = {"ECCP256": "ecdsa-p256", "ECCP384": "ecdsa-p384"}
_REMOVED = (p11e.DeviceRemoved, p11e.TokenNotPresent, p11e.DeviceError, p11e.SessionClosed,
            p11e.SessionHandleInvalid)

TouchCallback = Callable[[str], None]


def ykcs11_path(env: Mapping[str, str] | None = None) -> str:
    """libykcs11: ``CEREMONY_YKCS11_MODULE``, else the usual install paths.

    Raises:
        ModuleLoadError: not installed.
    """
    env = os.environ if env is None else env
    if env.get(ENV_YKCS11):
        return env[ENV_YKCS11]
    for path in YKCS11_PATHS:
        if os.path.isfile(path):
            return path
    raise ModuleLoadError("libykcs11 is not installed", hint=f"apt-get install ykcs11, or set {ENV_YKCS11}")


def reset_sessions(module: Module, token: object) -> None:
    """Close every ykcs11 session on ``token``'s slot so its objects are read afresh.

    ykcs11 2.2 caches a slot's objects for as long as any session on it is
    open, even across a key being pulled and another inserted; and
    python-pkcs11 leaks the session of a refused login (``C_OpenSession``
    succeeded, ``C_Login`` failed). ``C_CloseAllSessions`` (not exposed by
    python-pkcs11, so called through ctypes on the same loaded library) drops
    them. ``C_Finalize`` would too, but it also drops every other token's login.
    """
    slot_id = getattr(getattr(token, "slot", None), "slot_id", None)
    if slot_id is None:
        return
    try:
        lib = ctypes.CDLL(module.path)  # dlopen returns the instance python-pkcs11 loaded
        lib.C_CloseAllSessions.argtypes = [ctypes.c_ulong]
        lib.C_CloseAllSessions.restype = ctypes.c_ulong
        lib.C_CloseAllSessions(slot_id)
    except (OSError, AttributeError):
        pass  # not a module with C_CloseAllSessions: nothing cached to drop


class YubiKeyKey(TokenKey):
    """The slot-9c key of one YubiKey, signing through ykcs11.

    A :class:`hsm.pkcs11.TokenKey`, so ``hsm.signer.TokenSigner`` takes it as is.
    The PKCS#11 login happens on the first signature (so the PIN is asked for
    once per signature, never twice).
    """

    def __init__(self, module: Module, device: YubiKeyInfo, algorithm: str, public: PublicKey,
                 pin_policy: str, touch_policy: str, pin_provider: PinProvider,
                 on_touch: TouchCallback | None) -> None:
        token = module.find_token(serial=str(device.serial))
        info = _token_info(token)
        super().__init__(module, info, get_algorithm(algorithm),
                         KeyRef(SLOT_9C_ID, info.label, info.serial), None, None, None)  # type: ignore[arg-type]
        self.device = device
        self.pin_policy = pin_policy
        self.touch_policy = touch_policy
        self._token = token
        self._public_key = public
        self._pin_provider = pin_provider
        self._on_touch = on_touch

    @property
    def needs_touch(self) -> bool:
        return self.touch_policy in ("always", "cached")

    def public_key(self) -> PublicKey:
        """The slot's public key, as the card reported it (metadata), checked against ykcs11 on login."""
        assert self._public_key is not None
        return self._public_key

    def sign_raw(self, payload: bytes, verify: bool = True) -> bytes:
        """Sign ``payload`` (hashed on the host) on the YubiKey; return r||s.

        Raises:
            PinFinalTryError, PinLockedError: refused before the PIN is sent.
            PinIncorrectError: the card refused the PIN (tries left in the message).
            TouchTimeoutError: nobody touched the key in time.
            DeviceRemovedError: the key was pulled; nothing was signed.
        """
        sig = self._sign_ec_digest(self.algorithm.prehash(payload))
        if verify:
            verify_raw(self.public_key(), self.algorithm, payload, sig, self.ref.describe())
        return sig

    def _sign_ec_digest(self, digest: bytes) -> bytes:
        """CKM_ECDSA over ``digest`` with this signature's own PIN (and touch); for ``sign_raw``
        and the inherited ``sign_digest``. Raises as ``sign_raw`` does."""
        with piv_session(self.device) as session:
            left = check_pin_budget(self.device, session)
        # The PIN prompt (CLI or TUI) shows how many tries remain before the PIN blocks.
        pin = self._pin_provider(dataclasses.replace(self.token, pin_attempts_left=left))
        if not pin:
            raise PinMissingError(f"no PIN given for {self.device.describe()}")
        try:
            context_pin: str | None = pin
            if self._private is None:
                self._login(pin)
                context_pin = None  # the login's VERIFY is the one this signature uses
            if self.needs_touch and self._on_touch is not None:
                # The shell prefixes "touch your YubiKey now: ".
                self._on_touch(f"{self.device.describe()} is blinking"
                               if self.touch_policy == "always" else
                               f"{self.device.describe()}, if it blinks (a touch counts for 15 s)")
            sig = self._private.sign(digest, mechanism=Mechanism.ECDSA, pin=context_pin)
        except (p11e.PinIncorrect, PinIncorrectError):
            raise self._refused() from None
        except p11e.PinLocked:
            raise PinLockedError(f"the PIN of {self.device.describe()} is blocked (0 tries left)") from None
        except p11e.UserNotLoggedIn:
            if self.needs_touch:
                raise TouchTimeoutError(
                    f"{self.device.describe()} was not touched in time; nothing was signed",
                    hint="run this step again and touch the YubiKey while it blinks") from None
            raise HsmError(f"{self.device.describe()} refused to sign (security status not satisfied)") from None
        except _REMOVED:
            self._forget()
            raise DeviceRemovedError(f"{self.device.describe()} was removed while signing; nothing was signed",
                                     hint="reinsert it and run this step again") from None
        except p11e.PKCS11Error as e:
            raise HsmError(f"{self.device.describe()} failed while signing: {type(e).__name__}") from e
        finally:
            del pin
        return bytes(sig)

    def _login(self, pin: str) -> None:
        try:
            session = self.module.login(self._token, lambda _info: pin)
        except HsmError:
            reset_sessions(self.module, self._token)  # the refused login's session leaks otherwise
            raise
        try:
            private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=SLOT_9C_ID)
            public = session.get_key(object_class=ObjectClass.PUBLIC_KEY, id=SLOT_9C_ID)
        except p11e.NoSuchKey:
            raise KeyNotFoundError(f"ykcs11 shows no key in slot 9c of {self.device.describe()}") from None
        self._public, self._private = key_pair(public, private, f"slot 9c of {self.device.describe()}")
        if not _same_key(_read_public(self._public, self.algorithm), self.public_key()):
            raise HsmError(f"ykcs11 and the card disagree about the slot-9c key of {self.device.describe()}")
        self.ref = KeyRef(SLOT_9C_ID, self.token.label, self.token.serial, self._private.label)
        self._session = session

    def _refused(self) -> HsmError:
        try:
            with piv_session(self.device) as session, mapped_errors(self.device, "reading its PIN counter"):
                left, _ = pin_attempts(session)
        except HsmError:
            return PinIncorrectError(f"the PIN for {self.device.describe()} was refused",
                                     hint="the tool never retries a PIN: check it and run this step again")
        return pin_refused(self.device, left)

    def _forget(self) -> None:
        self.module.forget(self.token.serial)
        reset_sessions(self.module, self._token)
        self._private = self._public = self._session = None  # type: ignore[assignment]


def open_signing_key(serial: int, pin_provider: PinProvider, on_touch: TouchCallback | None = None,
                     module: Module | None = None,
                     expected_public: PublicKey | None = None) -> YubiKeyKey:
    """The slot-9c key of YubiKey ``serial``, ready to sign through ykcs11.

    Nothing is verified yet (no PIN is spent): the PIN budget and the key's
    policies are read with yubikit; login happens on the first signature.

    Raises:
        TokenNotFoundError / AmbiguousTokenError: the key is not (uniquely) present.
        KeyNotFoundError: slot 9c holds no key.
        PinLockedError / PinFinalTryError: no safe PIN try left.
        HsmError: the slot holds another key than ``expected_public``.
    """
    from yubikit.core import NotSupportedError  # lazy: yubikit (~0.4 s, optional [yubikey] extra)
    from yubikit.core.smartcard import SW, ApduError  # lazy: yubikit (~0.4 s, optional [yubikey] extra)
    from yubikit.piv import SLOT  # lazy: yubikit (~0.4 s, optional [yubikey] extra)

    device = select_yubikey(serial)
    with piv_session(device) as session, mapped_errors(device, "reading slot 9c"):
        check_pin_budget(device, session)
        try:
            try:
                md = session.get_slot_metadata(SLOT.SIGNATURE)
                key_type, public = md.key_type.name, md.public_key
                pin_policy, touch_policy = md.pin_policy.name.lower(), md.touch_policy.name.lower()
            except NotSupportedError:  # firmware < 5.3: the slot's attestation states the same
                cert = session.attest_key(SLOT.SIGNATURE)
                public = cert.public_key()
                key_type = {"secp256r1": "ECCP256", "secp384r1": "ECCP384"}.get(
                    getattr(getattr(public, "curve", None), "name", ""), "other")
                pin_policy, touch_policy = slot_policies(cert)
        except ApduError as e:
            if e.sw in (SW.REFERENCE_DATA_NOT_FOUND, SW.INCORRECT_PARAMETERS):
                raise KeyNotFoundError(f"slot 9c of {device.describe()} holds no key",
                                       hint="provision it with `ceremony yubikey provision`") from None
            raise
    algorithm = _ALGORITHM_FOR_KEY_TYPE.get(key_type)
    if algorithm is None:
        raise UnsupportedError(f"slot 9c of {device.describe()} holds a {key_type} key; "
                               "ykcs11 2.2 signs ECDSA P-256/P-384 only")
    if expected_public is not None and not _same_key(public, expected_public):
        raise HsmError(f"slot 9c of {device.describe()} holds another key than the one recorded",
                       hint="this is not the keyholder's YubiKey, or it was re-provisioned")
    module = module or get_module(ykcs11_path())
    module.forget(str(serial))
    reset_sessions(module, module.find_token(serial=str(serial)))  # ykcs11 re-reads the slot as it is now
    return YubiKeyKey(module, device, algorithm, public, pin_policy, touch_policy, pin_provider, on_touch)
