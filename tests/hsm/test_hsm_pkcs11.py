"""The token layer against real SoftHSM tokens: keygen, signing, PIN safety, selection."""

from __future__ import annotations

import hashlib
import os

import pkcs11
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from pkcs11 import Attribute, exceptions as p11e

from hsm.algorithms import ALGORITHMS
from hsm.errors import (
    EXIT_TOKEN,
    AmbiguousTokenError,
    HsmError,
    KeyExistsError,
    PinFinalTryError,
    PinIncorrectError,
    PinLockedError,
    SignatureCheckError,
    TokenNotFoundError,
    UnsupportedError,
)
from hsm.pkcs11 import Module, resolve_module_path
from hsm.verify import raw_to_der, verify_ecdsa_digest, verify_raw
from tests.conftest import SoftHsm


@pytest.mark.parametrize("alg", sorted(ALGORITHMS))
def test_generate_and_sign_every_algorithm(hsm: SoftHsm, alg: str) -> None:
    hsm.make("t1")
    token = hsm.module.find_token(label="t1")
    key = hsm.module.generate(token, hsm.pin, alg, f"k-{alg}", os.urandom(8))
    sig = key.sign_raw(b"payload")
    verify_raw(key.public_key(), key.algorithm, b"payload", sig, "test")
    if ALGORITHMS[alg].raw_signature_len:
        assert len(sig) == ALGORITHMS[alg].raw_signature_len
    with pytest.raises(Exception, match="does not verify"):
        verify_raw(key.public_key(), key.algorithm, b"tampered", sig, "test")


@pytest.mark.parametrize("alg", ["ecdsa-p256", "ecdsa-p384"])
def test_sign_digest_signs_the_callers_hash_whatever_the_curve(hsm: SoftHsm, alg: str) -> None:
    # Notary's ecdsa method: SHA-256 over a P-384 key too (sign_raw would use SHA-384 there).
    hsm.make("t1")
    key = hsm.module.generate(hsm.module.find_token(label="t1"), hsm.pin, alg, "k", b"\x05")
    sig = key.sign_digest(hashlib.sha256(b"payload").digest(), "sha256")
    assert len(sig) == ALGORITHMS[alg].raw_signature_len
    public = key.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(raw_to_der(sig), b"payload", ec.ECDSA(hashes.SHA256()))  # checked outside hsm too
    with pytest.raises(InvalidSignature):
        public.verify(raw_to_der(sig), b"tampered", ec.ECDSA(hashes.SHA256()))
    with pytest.raises(SignatureCheckError, match="does not verify against the expected public key"):
        verify_ecdsa_digest(public, key.algorithm, hashlib.sha256(b"tampered").digest(), "sha256", sig, "t")


def test_sign_digest_refuses_what_it_cannot_sign(hsm: SoftHsm) -> None:
    hsm.make("t1")
    token = hsm.module.find_token(label="t1")
    ed = hsm.module.generate(token, hsm.pin, "ed25519", "ed", b"\x06")
    with pytest.raises(UnsupportedError, match="the ed25519 key .* cannot sign a digest; only ECDSA keys can"):
        ed.sign_digest(hashlib.sha256(b"payload").digest())
    ec_key = hsm.module.generate(token, hsm.pin, "ecdsa-p256", "ec", b"\x07")
    with pytest.raises(ValueError, match="a sha256 digest is 32 bytes, not 20"):
        ec_key.sign_digest(hashlib.sha1(b"payload").digest())
    with pytest.raises(ValueError, match="sign_digest knows sha256 and sha384, not 'md5'"):
        ec_key.sign_digest(hashlib.md5(b"payload").digest(), "md5")


@pytest.mark.parametrize("alg", ["ecdsa-p256", "ed25519"])
def test_private_keys_are_sensitive_never_extractable_and_local(hsm: SoftHsm, alg: str) -> None:
    hsm.make("t1")
    token = hsm.module.find_token(label="t1")
    key = hsm.module.generate(token, hsm.pin, alg, "root", b"\x01\x02")
    attrs = key.attributes([Attribute.SENSITIVE, Attribute.EXTRACTABLE, Attribute.ALWAYS_SENSITIVE,
                            Attribute.NEVER_EXTRACTABLE, Attribute.LOCAL, Attribute.TOKEN,
                            Attribute.PRIVATE])
    assert attrs[Attribute.SENSITIVE] is True
    assert attrs[Attribute.EXTRACTABLE] is False
    assert attrs[Attribute.ALWAYS_SENSITIVE] is True
    assert attrs[Attribute.NEVER_EXTRACTABLE] is True
    assert attrs[Attribute.LOCAL] is True
    assert attrs[Attribute.TOKEN] is True and attrs[Attribute.PRIVATE] is True
    with pytest.raises(p11e.AttributeSensitive):
        key._private[Attribute.VALUE]
    with pytest.raises((p11e.AttributeReadOnly, p11e.AttributeSensitive)):
        key._private[Attribute.EXTRACTABLE] = True


def test_rsa_private_key_value_cannot_be_read(hsm: SoftHsm) -> None:
    hsm.make("t1")
    token = hsm.module.find_token(label="t1")
    key = hsm.module.generate(token, hsm.pin, "rsa-3072", "rsa", b"\x09")
    for attr in (Attribute.PRIVATE_EXPONENT, Attribute.PRIME_1):
        with pytest.raises(p11e.AttributeSensitive):
            key._private[attr]


def test_token_not_found(hsm: SoftHsm) -> None:
    hsm.make("present")
    with pytest.raises(TokenNotFoundError, match="token 'absent' is not present"):
        hsm.module.find_token(label="absent")


def test_two_tokens_with_one_label_is_an_error_not_a_guess(hsm: SoftHsm) -> None:
    hsm.make("twin", "twin")
    with pytest.raises(AmbiguousTokenError, match="2 tokens match token 'twin'.*will not guess") as e:
        hsm.module.find_token(label="twin")
    assert e.value.exit_code == 4
    serial = hsm.module.tokens()[0].serial
    assert hsm.module.find_token(label="twin", serial=serial) is not None


def test_wrong_pin_stops_at_once_and_is_not_retried(hsm: SoftHsm) -> None:
    hsm.make("t1")
    token = hsm.module.find_token(label="t1")
    asked = []

    def provider(info: object) -> str:
        asked.append(1)
        return "wrong-pin-0000"

    with pytest.raises(PinIncorrectError, match="the PIN for token 't1' .* was refused") as e:
        hsm.module.login(token, provider)
    assert e.value.exit_code == 5
    assert "wrong-pin-0000" not in e.value.message + (e.value.hint or "")
    assert len(asked) == 1  # asked once, tried once, never again


def test_label_already_on_token_is_refused(hsm: SoftHsm) -> None:
    hsm.make("t1")
    token = hsm.module.find_token(label="t1")
    hsm.module.generate(token, hsm.pin, "ecdsa-p256", "root", b"\x01")
    with pytest.raises(KeyExistsError, match="already holds an object with label 'root'"):
        hsm.module.generate(token, hsm.pin, "ecdsa-p256", "root", b"\x02")
    with pytest.raises(KeyExistsError, match="already holds an object with key id 01"):
        hsm.module.generate(token, hsm.pin, "ecdsa-p256", "other", b"\x01")


def test_a_key_whose_private_half_may_not_sign_is_refused_when_opened(hsm: SoftHsm) -> None:
    hsm.make("t1")
    token = hsm.module.find_token(label="t1")
    session = hsm.module.login(token, hsm.pin)
    session.generate_keypair(pkcs11.KeyType.RSA, 2048, id=b"\x09", label="no-sign", store=True,
                             private_template={Attribute.SIGN: False},
                             public_template={Attribute.VERIFY: True})
    with pytest.raises(HsmError, match="is not a key pair this tool can sign with") as refused:
        hsm.module.open_key(token, hsm.pin, "rsa-3072", b"\x09")
    assert "CKA_SIGN is false" in str(refused.value) and refused.value.exit_code == EXIT_TOKEN


def test_one_session_per_token_reused(hsm: SoftHsm) -> None:
    hsm.make("t1")
    token = hsm.module.find_token(label="t1")
    calls = []

    def provider(info: object) -> str:
        calls.append(1)
        return hsm.pin()

    a = hsm.module.generate(token, provider, "ecdsa-p256", "a", b"\x0a")
    b = hsm.module.generate(token, provider, "ecdsa-p256", "b", b"\x0b")
    a.sign_raw(b"x")
    b.sign_raw(b"y")
    assert len(calls) == 1


class _FlaggedToken:
    """A seam for what SoftHSM cannot produce: a token reporting final-try or locked PIN."""

    def __init__(self, flags: pkcs11.TokenFlag) -> None:
        self.flags = flags | pkcs11.TokenFlag.USER_PIN_INITIALIZED
        self.serial = b"SEAM0001"
        self.label = "flagged"
        self.manufacturer_id = "seam"
        self.model = "seam"

    def open(self, **kwargs: object) -> None:  # pragma: no cover - must never be reached
        raise AssertionError("login attempted on a token that must be refused")


@pytest.mark.parametrize("flag, error, text", [
    (pkcs11.TokenFlag.USER_PIN_FINAL_TRY, PinFinalTryError, "has one PIN try left"),
    (pkcs11.TokenFlag.USER_PIN_LOCKED, PinLockedError, "is locked"),
])
def test_final_try_and_locked_refused_before_asking(hsm: SoftHsm, flag, error, text) -> None:
    asked = []
    with pytest.raises(error, match=text) as e:
        hsm.module.login(_FlaggedToken(flag), lambda info: asked.append(1) or "x")  # type: ignore[arg-type]
    assert asked == []
    assert e.value.exit_code == 5


def test_module_resolution_order(tmp_path, monkeypatch) -> None:
    fake = tmp_path / "mod.so"
    fake.write_text("")
    assert resolve_module_path(str(fake), "/nope", {"CEREMONY_PKCS11_MODULE": "/nope"}) == str(fake)
    assert resolve_module_path(None, str(fake), {"CEREMONY_PKCS11_MODULE": "/nope"}) == str(fake)
    assert resolve_module_path(None, None, {"CEREMONY_PKCS11_MODULE": str(fake)}) == str(fake)
    with pytest.raises(Exception, match="does not exist"):
        resolve_module_path("/no/such/module.so")
    assert isinstance(Module(resolve_module_path(env={})), Module)
