"""FIDO2 witness sign-off: a witness's authenticator asserts over the journal head.

Witnesses do not hold root keys; they attest that they saw a step happen. A
FIDO2 authenticator (any YubiKey, or another security key) fits: enrolment
makes a credential whose public key goes into the record, and a sign-off is an
assertion whose WebAuthn challenge is the 32-byte journal head, so the
signature covers exactly the history the witness saw. FIDO2 cannot sign
arbitrary metadata (it signs ``authenticatorData || SHA-256(clientData)``), which
is why it serves witnesses and not root keys.

Client and verification are python-fido2's own code: ``Fido2Client`` talks
CTAP to the authenticator, ``Fido2Server`` checks the response, and
:func:`verify_assertion` re-runs that server-side check from recorded bytes
alone, so ``record verify`` needs neither the device nor this process's state.

The authenticator is any ``fido2.ctap.CtapDevice`` (USB HID for real keys; the
tests use a software one). hsm never prompts: a touch request reaches the shell
through ``on_touch``.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hsm.errors import EXIT_VERIFY, AmbiguousTokenError, HsmError, TokenNotFoundError, TouchTimeoutError

RP_ID = "ceremony.invalid"  # scopes the credentials; never resolved (offline)
RP_NAME = "Offline root key ceremony"
ORIGIN = f"https://{RP_ID}"
CHALLENGE_LEN = 32


class WitnessError(HsmError):
    """The authenticator could not enrol or sign off (wrong key, no credential, failure)."""


class WitnessVerificationError(HsmError):
    """A recorded witness assertion does not verify."""

    exit_code = EXIT_VERIFY


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class WitnessCredential:
    """A witness's enrolled credential; all public, recorded at enrolment."""

    witness: str
    rp_id: str
    credential_data: bytes  # WebAuthn attested credential data: AAGUID, id, COSE public key

    @property
    def credential_id(self) -> bytes:
        return self._attested().credential_id

    @property
    def aaguid(self) -> str:
        return str(self._attested().aaguid)

    def _attested(self) -> Any:
        from fido2.webauthn import AttestedCredentialData  # lazy: fido2 (~0.5 s, optional [yubikey] extra)
        return AttestedCredentialData(self.credential_data)

    def to_dict(self) -> dict[str, str]:
        return {"witness": self.witness, "rp_id": self.rp_id,
                "credential_data": _b64(self.credential_data),
                "credential_id": _b64(self.credential_id), "aaguid": self.aaguid}

    @classmethod
    def from_dict(cls, d: dict[str, str]) -> WitnessCredential:
        """Raises: WitnessVerificationError: the recorded credential is malformed."""
        try:
            cred = cls(d["witness"], d["rp_id"], _unb64(d["credential_data"]))
            cred._attested()
        except (KeyError, ValueError, TypeError) as e:
            raise WitnessVerificationError(f"a recorded witness credential is malformed: {e}") from None
        return cred


@dataclass(frozen=True)
class WitnessAssertion:
    """One sign-off: the bytes a verifier needs to re-check it later."""

    witness: str
    credential_id: bytes
    authenticator_data: bytes
    client_data: bytes
    signature: bytes

    @property
    def counter(self) -> int:
        from fido2.webauthn import AuthenticatorData  # lazy: fido2 (~0.5 s, optional [yubikey] extra)
        return int(AuthenticatorData(self.authenticator_data).counter)

    def to_dict(self) -> dict[str, str]:
        return {"witness": self.witness, "credential_id": _b64(self.credential_id),
                "authenticator_data": _b64(self.authenticator_data),
                "client_data": _b64(self.client_data), "signature": _b64(self.signature)}

    @classmethod
    def from_dict(cls, d: dict[str, str]) -> WitnessAssertion:
        """Raises: WitnessVerificationError: the recorded assertion is malformed."""
        try:
            return cls(d["witness"], _unb64(d["credential_id"]), _unb64(d["authenticator_data"]),
                       _unb64(d["client_data"]), _unb64(d["signature"]))
        except (KeyError, ValueError, TypeError) as e:
            raise WitnessVerificationError(f"a recorded witness assertion is malformed: {e}") from None


def _server(rp_id: str) -> Any:
    from fido2.server import Fido2Server  # lazy: fido2 (~0.5 s, optional [yubikey] extra)
    from fido2.webauthn import PublicKeyCredentialRpEntity  # lazy: fido2 (~0.5 s, optional [yubikey] extra)
    return Fido2Server(PublicKeyCredentialRpEntity(name=RP_NAME, id=rp_id),
                       verify_origin=lambda origin: origin == f"https://{rp_id}")


def _client(device: Any, rp_id: str, on_touch: Callable[[str], None] | None, who: str,
            action: str = "sign off") -> Any:
    from fido2.client import (  # lazy: fido2 (~0.5 s, optional [yubikey] extra)
        DefaultClientDataCollector,
        Fido2Client,
        UserInteraction,
    )

    class _Interaction(UserInteraction):
        prompted = False

        def prompt_up(self) -> None:  # python-fido2 may call this more than once per operation
            if on_touch is not None and not self.prompted:
                self.prompted = True
                on_touch(f"{who}: touch your security key to {action}")

    return Fido2Client(device, DefaultClientDataCollector(f"https://{rp_id}"), user_interaction=_Interaction())


def _mapped(e: Exception, who: str, action: str) -> HsmError:
    from fido2.client import ClientError  # lazy: fido2 (~0.5 s, optional [yubikey] extra)
    from fido2.ctap import CtapError  # lazy: fido2 (~0.5 s, optional [yubikey] extra)
    if isinstance(e, ClientError):
        if e.code == ClientError.ERR.TIMEOUT:
            return TouchTimeoutError(f"{who}'s security key was not touched in time; nothing was signed",
                                     hint="run this step again and touch the key while it blinks")
        if e.code == ClientError.ERR.DEVICE_INELIGIBLE:
            return WitnessError(f"this security key does not hold {who}'s witness credential",
                                hint="use the security key the witness enrolled with")
        return WitnessError(f"{who}'s security key failed while {action}: {e.code.name}")
    if isinstance(e, CtapError):
        return WitnessError(f"{who}'s security key failed while {action}: {e.code}")
    return WitnessError(f"{who}'s security key failed while {action}: {e}")


def find_device() -> Any:
    """The one FIDO2 security key plugged in over USB HID.

    Raises:
        TokenNotFoundError: none is present (or none can be opened).
        AmbiguousTokenError: several are present; the tool never guesses.
    """
    try:
        from fido2.hid import CtapHidDevice  # lazy: fido2 (~0.5 s, optional [yubikey] extra)
        devices = list(CtapHidDevice.list_devices())
    except Exception as e:  # noqa: BLE001 - no hidraw access, no HID backend
        raise TokenNotFoundError(f"cannot look for FIDO2 security keys: {e}",
                                 hint="check that this user may open /dev/hidraw*") from None
    if not devices:
        raise TokenNotFoundError("no FIDO2 security key is present",
                                 hint="insert the witness's security key and run this again")
    if len(devices) > 1:
        raise AmbiguousTokenError(f"{len(devices)} FIDO2 security keys are present; the tool will not "
                                  "guess which", hint="leave only the witness's security key inserted")
    return devices[0]


def enroll(device: Any, witness: str, rp_id: str = RP_ID,
           on_touch: Callable[[str], None] | None = None) -> WitnessCredential:
    """Make a new credential for ``witness`` on ``device`` (a ``fido2.ctap.CtapDevice``).

    Raises:
        TouchTimeoutError: nobody touched the key.
        WitnessError: the authenticator failed or the response did not verify.
    """
    from fido2.client import ClientError  # lazy: fido2 (~0.5 s, optional [yubikey] extra)
    from fido2.ctap import CtapError  # lazy: fido2 (~0.5 s, optional [yubikey] extra)
    from fido2.webauthn import PublicKeyCredentialUserEntity  # lazy: fido2 (~0.5 s, optional [yubikey] extra)
    server = _server(rp_id)
    user = PublicKeyCredentialUserEntity(name=witness, id=os.urandom(16), display_name=witness)
    options, state = server.register_begin(user, user_verification="discouraged",
                                           authenticator_attachment="cross-platform")
    try:
        response = _client(device, rp_id, on_touch, witness, "enrol").make_credential(options.public_key)
        auth_data = server.register_complete(state, response)
    except (ClientError, CtapError, ValueError) as e:
        raise _mapped(e, witness, "enrolling") from e
    assert auth_data.credential_data is not None
    return WitnessCredential(witness, rp_id, bytes(auth_data.credential_data))


def sign_off(device: Any, credential: WitnessCredential, challenge: bytes,
             on_touch: Callable[[str], None] | None = None) -> WitnessAssertion:
    """An assertion by ``credential`` whose challenge is ``challenge`` (the journal head).

    The response is verified with the server-side check before it is returned.

    Raises:
        ValueError: the challenge is not 32 bytes.
        TouchTimeoutError: nobody touched the key.
        WitnessError: wrong key, no credential, or the assertion did not verify.
    """
    from fido2.client import ClientError  # lazy: fido2 (~0.5 s, optional [yubikey] extra)
    from fido2.ctap import CtapError  # lazy: fido2 (~0.5 s, optional [yubikey] extra)
    if len(challenge) != CHALLENGE_LEN:
        raise ValueError(f"the challenge must be the {CHALLENGE_LEN}-byte journal head")
    server = _server(credential.rp_id)
    attested = credential._attested()
    options, state = server.authenticate_begin([attested], user_verification="discouraged", challenge=challenge)
    try:
        selection = _client(device, credential.rp_id, on_touch, credential.witness).get_assertion(
            options.public_key)
        response = selection.get_response(0)
        server.authenticate_complete(state, [attested], response)
    except (ClientError, CtapError, ValueError) as e:
        raise _mapped(e, credential.witness, "signing off") from e
    r = response.response
    return WitnessAssertion(credential.witness, bytes(response.raw_id), bytes(r.authenticator_data),
                            bytes(r.client_data), bytes(r.signature))


def verify_assertion(credential: WitnessCredential, assertion: WitnessAssertion, challenge: bytes) -> None:
    """Re-check a recorded sign-off with python-fido2's server-side verification.

    Checks: the witness and credential match, the client data is a WebAuthn
    "get" for this RP's origin whose challenge is ``challenge``, the RP ID hash,
    user presence, and the signature under the enrolled public key.

    Raises:
        WitnessVerificationError: with the reason.
    """
    from fido2.webauthn import (  # lazy: fido2 (~0.5 s, optional [yubikey] extra)
        AuthenticationResponse,
        AuthenticatorAssertionResponse,
        AuthenticatorData,
        CollectedClientData,
    )
    who = credential.witness
    if assertion.witness != who or assertion.credential_id != credential.credential_id:
        raise WitnessVerificationError(f"the sign-off recorded for {assertion.witness} is not by {who}'s credential")
    server = _server(credential.rp_id)
    _options, state = server.authenticate_begin([credential._attested()], user_verification="discouraged",
                                                challenge=challenge)
    try:
        response = AuthenticationResponse(
            raw_id=assertion.credential_id,
            response=AuthenticatorAssertionResponse(
                client_data=CollectedClientData(assertion.client_data),
                authenticator_data=AuthenticatorData(assertion.authenticator_data),
                signature=assertion.signature))
        server.authenticate_complete(state, [credential._attested()], response)
    except (ValueError, TypeError, KeyError) as e:
        raise WitnessVerificationError(f"{who}'s sign-off does not verify: {e}") from None
