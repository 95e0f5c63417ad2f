"""Errors raised by the token layer.

Every token failure a person can cause (wrong PIN, token not inserted, two tokens
with one label) is one of these, never a raw ``pkcs11`` exception: callers map
them to an operator sentence and an exit code in one place. The exit codes match
``ceremony.errors`` so the CLI can treat both trees alike without ``hsm``
importing ``ceremony``.
"""

from __future__ import annotations

EXIT_VERIFY = 3
EXIT_TOKEN = 4
EXIT_PIN = 5


class HsmError(Exception):
    """Base of every token-layer failure; carries an operator-facing sentence."""

    exit_code: int = EXIT_TOKEN

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ModuleLoadError(HsmError):
    """The PKCS#11 module could not be found or loaded."""


class TokenNotFoundError(HsmError):
    """No token matches the label or serial asked for."""


class AmbiguousTokenError(HsmError):
    """More than one token matches: the tool never guesses which one."""


class KeyExistsError(HsmError):
    """The token already holds an object with the label or id asked for."""


class KeyNotFoundError(HsmError):
    """The token holds no key with the id asked for."""


class DeviceRemovedError(HsmError):
    """The token went away in the middle of an operation."""


class UnsupportedError(HsmError):
    """The token or module cannot do what was asked (mechanism, algorithm)."""


class SignatureCheckError(HsmError):
    """A fresh signature did not verify against the expected public key."""


class PinError(HsmError):
    """Base of PIN failures: never retried by the tool."""

    exit_code = EXIT_PIN


class PinIncorrectError(PinError):
    """The token refused the PIN. The tool stops here and does not try again."""


class PinFinalTryError(PinError):
    """The next wrong PIN would lock the token, so the tool refuses to log in."""


class PinLockedError(PinError):
    """The token's user PIN is locked."""


class PinMissingError(PinError):
    """No PIN was given through any of the configured sources."""


# ---- YubiKeys (hsm.yubikey) and FIDO2 keys (hsm.fido) -------------------------------------


class TouchTimeoutError(HsmError):
    """The key needed a touch and nobody touched it before the device gave up."""


class FactoryDefaultsError(HsmError):
    """The factory PIN, PUK or management key is still set: not fit for a ceremony."""


class ProvisionAbortedError(HsmError):
    """Provisioning stopped before touching the device (e.g. the typed serial did not match)."""


class NewPinRejectedError(PinError):
    """A new PIN or PUK offered during provisioning is unusable (length, defaults, equal)."""


class AttestationError(HsmError):
    """An attestation did not verify: wrong CA, wrong device, wrong policy, malformed."""

    exit_code = EXIT_VERIFY
