"""PKCS#11 tokens through python-pkcs11: list, select, log in safely, generate, sign.

Works with any PKCS#11 module (SoftHSM, ykcs11, OpenSC, vendor HSMs). Three
rules shape this module:

* Tokens are chosen by label or serial, never by slot index (slot ids change),
  and two matches is an error, never a guess.
* A PIN is spent only with the operator's knowledge: the token's PIN flags are
  read before login, login is refused when the next failure would lock the
  token, and a wrong PIN stops everything at once (no retry, ever).
* PKCS#11 login state is per token per process, so there is exactly one
  logged-in session per token, reused for every signature.

Every ``pkcs11`` exception leaving this module is mapped to ``hsm.errors``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, TypeGuard

import pkcs11
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass, TokenFlag, exceptions as p11e
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

from hsm.algorithms import Algorithm, get_algorithm
from hsm.errors import (
    AmbiguousTokenError,
    DeviceRemovedError,
    HsmError,
    KeyExistsError,
    KeyNotFoundError,
    ModuleLoadError,
    PinFinalTryError,
    PinIncorrectError,
    PinLockedError,
    PinMissingError,
    TokenNotFoundError,
    UnsupportedError,
)
from hsm.frozen import frozen
from hsm.uri import KeyRef
from hsm.verify import DIGEST_HASHES, PublicKey, verify_ecdsa_digest, verify_raw

if TYPE_CHECKING:
    class SigningKey(pkcs11.PrivateKey, pkcs11.SignMixin):
        """A private key object that signs: python-pkcs11 mixes ``sign`` into the class of a key
        whose CKA_SIGN is true (every key this package makes has it). A type only: see
        ``_can_sign``, which checks an object is one."""

ENV_MODULE = "CEREMONY_PKCS11_MODULE"

# Searched in this order when nothing else names a module.
KNOWN_MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/libykcs11.so",
    "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/libykcs11.so",
    "/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)

# Exceptions that mean "the token is gone": the cached session is dropped so a
# reinserted token can be used again.
_REMOVED = (p11e.DeviceRemoved, p11e.TokenNotPresent, p11e.SessionClosed,
            p11e.SessionHandleInvalid, p11e.DeviceError)


def resolve_module_path(cli: str | None = None, plan: str | None = None,
                        env: Mapping[str, str] | None = None) -> str:
    """Pick the PKCS#11 module: command line > plan > environment > known paths.

    Raises:
        ModuleLoadError: a named module does not exist, or none is found.
    """
    env = os.environ if env is None else env
    for source, path in (("--pkcs11-module", cli), ("the plan's pkcs11_module", plan),
                         (ENV_MODULE, env.get(ENV_MODULE))):
        if path:
            if not os.path.isfile(path):
                raise ModuleLoadError(f"PKCS#11 module {path} (from {source}) does not exist")
            return path
    for path in KNOWN_MODULES:
        if os.path.isfile(path):
            return path
    raise ModuleLoadError(
        "no PKCS#11 module found",
        hint=f"install SoftHSM (softhsm-setup/install.sh) or name one with --pkcs11-module or {ENV_MODULE}",
    )


@frozen
class TokenInfo:
    """What an operator needs to recognise a token and its PIN state."""

    label: str
    serial: str
    manufacturer: str
    model: str
    pin_initialized: bool
    pin_count_low: bool
    pin_final_try: bool
    pin_locked: bool
    pin_to_be_changed: bool
    # Only devices that can tell (a YubiKey's PIV retry counter): PKCS#11 gives flags only.
    pin_attempts_left: int | None = None

    @property
    def pin_state(self) -> str:
        """The PIN state in words, worst first."""
        if self.pin_locked:
            return "locked"
        if self.pin_final_try:
            return "final try"
        if self.pin_count_low:
            return "count low"
        if not self.pin_initialized:
            return "not initialized"
        return "ok"

    def describe(self) -> str:
        """One line naming the token as it is labelled on the device."""
        return f"token {self.label!r} (serial {self.serial})"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json`` output and the journal."""
        d = asdict(self)
        d["pin_state"] = self.pin_state
        return d


def _token_info(token: pkcs11.Token) -> TokenInfo:
    flags = token.flags
    serial = token.serial
    serial_str = serial.decode("ascii", "replace").strip() if isinstance(serial, bytes) else str(serial)
    return TokenInfo(
        label=token.label.strip(),
        serial=serial_str,
        manufacturer=token.manufacturer_id.strip(),
        model=token.model.strip(),
        pin_initialized=bool(flags & TokenFlag.USER_PIN_INITIALIZED),
        pin_count_low=bool(flags & TokenFlag.USER_PIN_COUNT_LOW),
        pin_final_try=bool(flags & TokenFlag.USER_PIN_FINAL_TRY),
        pin_locked=bool(flags & TokenFlag.USER_PIN_LOCKED),
        pin_to_be_changed=bool(flags & TokenFlag.USER_PIN_TO_BE_CHANGED),
    )


PinProvider = Callable[[TokenInfo], str]
"""Asked for a token's user PIN, once, right before login. Never stored."""


class Module:
    """One loaded PKCS#11 module and the logged-in sessions this process holds on it."""

    def __init__(self, path: str) -> None:
        """Load the module at ``path``.

        Raises:
            ModuleLoadError: the library cannot be loaded or initialised.
        """
        self.path = path
        try:
            self._lib = pkcs11.lib(path)
        except (p11e.PKCS11Error, OSError) as e:
            raise ModuleLoadError(f"cannot load PKCS#11 module {path}: {e}") from e
        self._sessions: dict[str, pkcs11.Session] = {}

    def refresh(self) -> None:
        """Re-read the token list (finalize + initialize), e.g. after tokens were created.

        All sessions are dropped: logins do not survive C_Finalize.
        """
        self._sessions.clear()
        try:
            self._lib.reinitialize()
        except p11e.PKCS11Error as e:
            raise ModuleLoadError(f"cannot re-initialise PKCS#11 module {self.path}: {e}") from e

    def _tokens(self) -> list[pkcs11.Token]:
        try:
            return list(self._lib.get_tokens())
        except p11e.PKCS11Error as e:
            raise HsmError(f"cannot list tokens of {self.path}: {type(e).__name__}") from e

    def tokens(self) -> list[TokenInfo]:
        """Every token present, with label, serial and PIN state."""
        return [_token_info(t) for t in self._tokens() if t.flags & TokenFlag.TOKEN_INITIALIZED]

    def find_token(self, label: str | None = None, serial: str | None = None) -> pkcs11.Token:
        """The one token with this label and/or serial.

        Raises:
            TokenNotFoundError: no token matches.
            AmbiguousTokenError: more than one token matches.
        """
        if label is None and serial is None:
            raise TokenNotFoundError("no token label or serial given")
        matches = []
        for token in self._tokens():
            info = _token_info(token)
            if label is not None and info.label != label:
                continue
            if serial is not None and info.serial != serial:
                continue
            matches.append((token, info))
        wanted = KeyRef(b"\0", label, serial).describe()
        if not matches:
            raise TokenNotFoundError(f"{wanted} is not present",
                                     hint="insert the token and check its label with `ceremony tokens`")
        if len(matches) > 1:
            serials = ", ".join(i.serial for _, i in matches)
            raise AmbiguousTokenError(
                f"{len(matches)} tokens match {wanted} (serials {serials}); the tool will not guess",
                hint="remove the other tokens, or select by serial")
        return matches[0][0]

    def login(self, token: pkcs11.Token, pin_provider: PinProvider) -> pkcs11.Session:
        """The logged-in read/write session for ``token``, opening it if needed.

        The PIN flags are read first; the PIN is asked for only if a login can
        be attempted safely, and a refused PIN is never retried.

        Raises:
            PinLockedError, PinFinalTryError: refused before asking for the PIN.
            PinIncorrectError: the token refused the PIN (not retried).
            PinMissingError: the provider gave no PIN.
        """
        info = _token_info(token)
        cached = self._sessions.get(info.serial)
        if cached is not None:
            return cached
        if info.pin_locked:
            raise PinLockedError(f"the user PIN of {info.describe()} is locked",
                                 hint="unblock it with the token's PUK or SO PIN before the ceremony")
        if info.pin_final_try:
            raise PinFinalTryError(
                f"{info.describe()} has one PIN try left; the tool will not risk locking it",
                hint="reset the retry counter with the SO PIN/PUK, then run this step again")
        pin = pin_provider(info)
        if not pin:
            raise PinMissingError(f"no PIN given for {info.describe()}")
        try:
            session = token.open(rw=True, user_pin=pin)
        except p11e.PinIncorrect:
            after = _token_info(token)
            state = {"ok": "", "count low": "; its retry count is now low"}.get(
                after.pin_state, f"; its PIN state is now: {after.pin_state}")
            raise PinIncorrectError(
                f"the PIN for {info.describe()} was refused{state}",
                hint="the tool does not retry PINs; check the PIN and run this step again") from None
        except p11e.PinLocked:
            raise PinLockedError(f"the user PIN of {info.describe()} is locked") from None
        except p11e.UserAlreadyLoggedIn:
            raise HsmError(f"{info.describe()} is already logged in by this process") from None
        except _REMOVED:
            raise DeviceRemovedError(f"{info.describe()} was removed during login") from None
        except p11e.PKCS11Error as e:
            raise HsmError(f"login to {info.describe()} failed: {type(e).__name__}") from e
        finally:
            del pin
        self._sessions[info.serial] = session
        return session

    def forget(self, serial: str) -> None:
        """Drop (and close, if possible) the session for a token, e.g. after removal."""
        session = self._sessions.pop(serial, None)
        if session is not None:
            with suppress(p11e.PKCS11Error):
                session.close()

    def close(self) -> None:
        """Log out of every token this process holds."""
        for serial in list(self._sessions):
            self.forget(serial)

    @contextmanager
    def _mapped(self, info: TokenInfo, action: str) -> Iterator[None]:
        """Translate pkcs11 failures during ``action`` into hsm errors."""
        try:
            yield
        except HsmError:
            raise
        except _REMOVED:
            self.forget(info.serial)
            raise DeviceRemovedError(
                f"{info.describe()} was removed while {action}",
                hint="reinsert the token and run this step again; nothing was recorded") from None
        except p11e.MechanismInvalid as e:
            raise UnsupportedError(f"{info.describe()} does not support {action}") from e
        except p11e.PKCS11Error as e:
            raise HsmError(f"{info.describe()} failed while {action}: {type(e).__name__}") from e

    def generate(self, token: pkcs11.Token, pin_provider: PinProvider, algorithm: str,
                 label: str, key_id: bytes) -> TokenKey:
        """Generate a key pair on the token; the private half never leaves it.

        Raises:
            KeyExistsError: the label or id is already in use on the token.
            UnsupportedError: the token cannot make this kind of key.
        """
        alg = get_algorithm(algorithm)
        info = _token_info(token)
        session = self.login(token, pin_provider)
        with self._mapped(info, f"generating a {alg.name} key"):
            for attrs, what in (({Attribute.LABEL: label}, f"label {label!r}"),
                                ({Attribute.ID: key_id}, f"key id {key_id.hex()}")):
                if next(iter(session.get_objects(attrs)), None) is not None:
                    raise KeyExistsError(
                        f"{info.describe()} already holds an object with {what}",
                        hint="a key is never generated over an existing one; use another label or token")
            pub, priv = _generate(session, alg, label, key_id)
        ref = KeyRef(key_id, info.label, info.serial, label)
        return TokenKey(self, info, alg, ref, session, *key_pair(pub, priv, ref.describe()))

    def open_key(self, token: pkcs11.Token, pin_provider: PinProvider, algorithm: str,
                 key_id: bytes, expected_public: PublicKey | None = None) -> TokenKey:
        """Find an existing key pair by CKA_ID, logged in and ready to sign.

        When ``expected_public`` is given, the token's key must be that key:
        this catches the wrong token (same label, different device).

        Raises:
            KeyNotFoundError: no key pair with this id on the token.
            HsmError: the key on the token is not the expected one.
        """
        alg = get_algorithm(algorithm)
        info = _token_info(token)
        session = self.login(token, pin_provider)
        with self._mapped(info, "looking up a key"):
            try:
                priv = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=key_id)
                pub = session.get_key(object_class=ObjectClass.PUBLIC_KEY, id=key_id)
            except p11e.NoSuchKey:
                raise KeyNotFoundError(f"{info.describe()} holds no key with id {key_id.hex()}",
                                       hint="is this the right token?") from None
            except p11e.MultipleObjectsReturned:
                raise HsmError(f"{info.describe()} holds several keys with id {key_id.hex()}") from None
            label = priv.label
        ref = KeyRef(key_id, info.label, info.serial, label)
        key = TokenKey(self, info, alg, ref, session, *key_pair(pub, priv, ref.describe()))
        if expected_public is not None and not _same_key(key.public_key(), expected_public):
            raise HsmError(f"the key with id {key_id.hex()} on {info.describe()} is not the expected key",
                           hint="this is a different token with the same label; insert the right one")
        return key

    def find_key_by_id(self, token: pkcs11.Token, pin_provider: PinProvider,
                       algorithm: str, key_id: bytes) -> TokenKey | None:
        """Like :meth:`open_key`, but ``None`` when the key does not exist (crash resume)."""
        try:
            return self.open_key(token, pin_provider, algorithm, key_id)
        except KeyNotFoundError:
            return None


def _generate(session: pkcs11.Session, alg: Algorithm, label: str,
              key_id: bytes) -> tuple[pkcs11.PublicKey, pkcs11.PrivateKey]:
    # Private half: on the token, private, sensitive, never extractable.
    private = {Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.SENSITIVE: True,
               Attribute.EXTRACTABLE: False, Attribute.SIGN: True}
    public = {Attribute.TOKEN: True, Attribute.PRIVATE: False, Attribute.VERIFY: True}
    common: dict[str, Any] = dict(id=key_id, label=label, store=True,
                                  private_template=private, public_template=public)
    if alg.family == "rsa":
        return session.generate_keypair(KeyType.RSA, alg.bits, **common)
    if alg.family == "ec":
        assert alg.curve is not None  # every EC row of hsm.algorithms names its curve
        params = session.create_domain_parameters(
            KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters(alg.curve)}, local=True)
        return params.generate_keypair(mechanism=Mechanism.EC_KEY_PAIR_GEN, **common)
    # Ed25519: the curve is named by its OID 1.3.101.112.
    params = session.create_domain_parameters(
        KeyType.EC_EDWARDS, {Attribute.EC_PARAMS: bytes.fromhex("06032b6570")}, local=True)
    return params.generate_keypair(mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN, **common)


def _same_key(a: PublicKey, b: PublicKey) -> bool:
    spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return a.public_bytes(*spki) == b.public_bytes(*spki)


def _can_sign(key: object) -> TypeGuard[SigningKey]:
    """Whether ``key`` is a private key object python-pkcs11 lets sign (its CKA_SIGN is true)."""
    return isinstance(key, pkcs11.PrivateKey) and isinstance(key, pkcs11.SignMixin)


def key_pair(public: object, private: object, what: str) -> tuple[pkcs11.PublicKey, SigningKey]:
    """The two objects of a key pair, as the types that read the public key and sign.

    Raises:
        HsmError: the objects are not a public key and a private key that may sign.
    """
    if not isinstance(public, pkcs11.PublicKey) or not _can_sign(private):
        raise HsmError(f"{what} is not a key pair this tool can sign with (the private key's "
                       "CKA_SIGN is false, or the objects are not keys)")
    return public, private


class TokenKey:
    """A key pair held on a token: gives its public key and signs bytes.

    The public key read back from the token is checked against every
    signature before the signature is returned.
    """

    def __init__(self, module: Module, info: TokenInfo, algorithm: Algorithm, ref: KeyRef,
                 session: pkcs11.Session, public: pkcs11.PublicKey,
                 private: SigningKey) -> None:
        self.module = module
        self.token = info
        self.algorithm = algorithm
        self.ref = ref
        self._session = session
        self._public = public
        self._private = private
        self._public_key: PublicKey | None = None

    def public_key(self) -> PublicKey:
        """The public key as a ``cryptography`` object, read from the token once."""
        if self._public_key is None:
            with self.module._mapped(self.token, "reading a public key"):
                self._public_key = _read_public(self._public, self.algorithm)
        return self._public_key

    def attributes(self, names: list[Attribute]) -> dict[Attribute, Any]:
        """Raw attributes of the private key object (tests prove non-extractability)."""
        with self.module._mapped(self.token, "reading key attributes"):
            return {n: self._private[n] for n in names}

    def sign_raw(self, payload: bytes, verify: bool = True) -> bytes:
        """Sign ``payload`` on the token; return the raw signature.

        ECDSA returns r||s (hashed on the host, signed with CKM_ECDSA), Ed25519
        the 64-byte signature, RSA a PSS(SHA-256, MGF1-SHA256, salt 32) signature.

        Raises:
            SignatureCheckError: the token's signature does not verify.
            DeviceRemovedError: the token went away.
        """
        alg = self.algorithm
        with self.module._mapped(self.token, "signing"):
            if alg.family == "ec":
                sig = self._private.sign(alg.prehash(payload), mechanism=Mechanism.ECDSA)
            elif alg.family == "ed25519":
                sig = self._private.sign(payload, mechanism=Mechanism.EDDSA)
            else:
                sig = self._private.sign(
                    payload, mechanism=Mechanism.SHA256_RSA_PKCS_PSS,
                    mechanism_param=(Mechanism.SHA256, pkcs11.MGF.SHA256, 32))
        if verify:
            verify_raw(self.public_key(), alg, payload, sig, self.ref.describe())
        return sig

    def sign_digest(self, digest: bytes, hash_name: str = "sha256", verify: bool = True) -> bytes:
        """Sign a ``digest`` the caller computed with ``hash_name``; return ECDSA r||s.

        Why: ``sign_raw`` hashes with the curve's own hash (SHA-384 for P-384), but a format
        may fix the hash whatever the curve: Notary v1's ``ecdsa`` method is SHA-256 over
        P-256 and P-384 keys alike. The digest is signed with CKM_ECDSA (on a YubiKey with
        the same PIN and touch handling as ``sign_raw``) and, unless ``verify`` is false,
        checked against the token's public key over the same digest before it is returned.

        Raises:
            UnsupportedError: the key is not an ECDSA key.
            ValueError: ``hash_name`` is not sha256/sha384, or ``digest`` is not of its size
                (a caller's bug, not an operator's error).
            SignatureCheckError: the token's signature does not verify.
            DeviceRemovedError: the token went away.
            HsmError: the token failed or refused (PIN errors on a YubiKey).
        """
        if self.algorithm.family != "ec":
            raise UnsupportedError(f"the {self.algorithm.name} key {self.ref.describe()} cannot sign "
                                   "a digest; only ECDSA keys can")
        if hash_name not in DIGEST_HASHES:
            raise ValueError(f"sign_digest knows sha256 and sha384, not {hash_name!r}")
        if len(digest) != DIGEST_HASHES[hash_name].digest_size:
            raise ValueError(f"a {hash_name} digest is {DIGEST_HASHES[hash_name].digest_size} bytes, "
                             f"not {len(digest)}")
        sig = self._sign_ec_digest(digest)
        if verify:
            verify_ecdsa_digest(self.public_key(), self.algorithm, digest, hash_name, sig,
                                self.ref.describe())
        return sig

    def _sign_ec_digest(self, digest: bytes) -> bytes:
        """CKM_ECDSA over ``digest`` on the token, errors mapped; a YubiKey overrides it."""
        with self.module._mapped(self.token, "signing"):
            return bytes(self._private.sign(digest, mechanism=Mechanism.ECDSA))


def _read_public(obj: pkcs11.PublicKey, alg: Algorithm) -> PublicKey:
    if alg.family == "ec":
        key = load_der_public_key(encode_ec_public_key(obj))
        assert isinstance(key, ec.EllipticCurvePublicKey)
        return key
    if alg.family == "ed25519":
        point = obj[Attribute.EC_POINT]
        # CKA_EC_POINT is a DER OCTET STRING (04 20 || 32 bytes) on SoftHSM;
        # some modules give the bare 32 bytes.
        if len(point) == 34 and point[:2] == b"\x04\x20":
            point = point[2:]
        return ed25519.Ed25519PublicKey.from_public_bytes(point)
    n = int.from_bytes(obj[Attribute.MODULUS], "big")
    e = int.from_bytes(obj[Attribute.PUBLIC_EXPONENT], "big")
    return rsa.RSAPublicNumbers(e, n).public_key()


_MODULES: dict[str, Module] = {}


def get_module(path: str) -> Module:
    """The process-wide :class:`Module` for ``path``.

    Login state is per token per process, so everything in one process must
    share one ``Module`` (and so one session per token).
    """
    module = _MODULES.get(path)
    if module is None:
        module = _MODULES[path] = Module(path)
    return module


def close_all() -> None:
    """Log out of every token in every module this process loaded."""
    for module in _MODULES.values():
        module.close()
