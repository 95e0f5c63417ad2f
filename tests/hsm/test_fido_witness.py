"""FIDO2 witness sign-off, driven through python-fido2's real client and server code.

The authenticator is tests/support/fido_soft.SoftAuthenticator (a CtapDevice); the
challenge is a 32-byte journal head; verification runs again from recorded
bytes alone, as ``record verify`` would.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from hsm.fido import (
    WitnessAssertion,
    WitnessCredential,
    WitnessError,
    WitnessVerificationError,
    enroll,
    sign_off,
    verify_assertion,
)
from hsm.yubikey import TouchTimeoutError
from tests.support.fido_soft import SoftAuthenticator, counter_of

HEAD = hashlib.sha256(b"journal head after the publish step").digest()


def test_enroll_sign_off_and_verify_from_the_record() -> None:
    key = SoftAuthenticator()
    prompts: list[str] = []
    credential = enroll(key, "alice", on_touch=prompts.append)
    assertion = sign_off(key, credential, HEAD, on_touch=prompts.append)
    assert prompts == ["alice: touch your security key to enrol", "alice: touch your security key to sign off"]
    assert key.touches == 2
    assert json.loads(assertion.client_data)["type"] == "webauthn.get"
    # What the record stores is plain JSON; verifying needs nothing else.
    recorded_cred = WitnessCredential.from_dict(json.loads(json.dumps(credential.to_dict())))
    recorded = WitnessAssertion.from_dict(json.loads(json.dumps(assertion.to_dict())))
    verify_assertion(recorded_cred, recorded, HEAD)
    assert recorded.counter == counter_of(recorded.authenticator_data) >= 2
    assert recorded_cred.aaguid == "c0ffee00-c0ff-ee00-c0ff-ee00c0ffee00"


def test_assertion_over_another_head_does_not_verify() -> None:
    key = SoftAuthenticator()
    credential = enroll(key, "bob")
    assertion = sign_off(key, credential, HEAD)
    with pytest.raises(WitnessVerificationError) as e:
        verify_assertion(credential, assertion, hashlib.sha256(b"another history").digest())
    assert e.value.message == "bob's sign-off does not verify: Wrong challenge in response."
    assert e.value.exit_code == 3


def test_tampered_signature_and_foreign_credential() -> None:
    key = SoftAuthenticator()
    alice, bob = enroll(key, "alice"), enroll(key, "bob")
    assertion = sign_off(key, alice, HEAD)
    bad = WitnessAssertion(assertion.witness, assertion.credential_id, assertion.authenticator_data,
                           assertion.client_data, assertion.signature[:-1] + bytes([assertion.signature[-1] ^ 1]))
    with pytest.raises(WitnessVerificationError, match="alice's sign-off does not verify"):
        verify_assertion(alice, bad, HEAD)
    with pytest.raises(WitnessVerificationError) as e:
        verify_assertion(bob, assertion, HEAD)
    assert e.value.message == "the sign-off recorded for alice is not by bob's credential"


def test_wrong_security_key() -> None:
    credential = enroll(SoftAuthenticator(), "carol")
    with pytest.raises(WitnessError) as e:
        sign_off(SoftAuthenticator(), credential, HEAD)
    assert e.value.message == "this security key does not hold carol's witness credential"


def test_witness_does_not_touch() -> None:
    key = SoftAuthenticator()
    credential = enroll(key, "dave")
    key.presence = lambda: False
    with pytest.raises(TouchTimeoutError) as e:
        sign_off(key, credential, HEAD)
    assert e.value.message == "dave's security key was not touched in time; nothing was signed"


def test_challenge_must_be_the_journal_head() -> None:
    key = SoftAuthenticator()
    credential = enroll(key, "erin")
    with pytest.raises(ValueError, match="32-byte journal head"):
        sign_off(key, credential, b"short")
