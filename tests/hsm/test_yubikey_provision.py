"""Provisioning and signing end to end: yubikit provisions, ykcs11 (via hsm.pkcs11) signs.

Real pcscd, real libykcs11 and real yubikit drive the virtual card; the card
checks PIN policy ALWAYS (one VERIFY per signature) and touch.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pkcs11 import Attribute
from securesystemslib.signer import SSlibKey

from hsm.errors import HsmError
from hsm.pkcs11 import Module
from hsm.signer import TokenSigner
from hsm.yubikey import NewPinRejectedError, ProvisionAbortedError
from hsm.yubikey.provision import ProvisionPrompts, provision
from hsm.yubikey.signing import YubiKeyKey, open_signing_key
from tests.support.vpiv import tlv
from tests.support.vpiv.card import DEFAULT_MGMT, PIN_ALWAYS, TOUCH_ALWAYS, TOUCH_CACHED, VirtualYubiKey
from tests.support.vpiv.fixtures import PIN, PUK, pcsc, provision_card, ykcs11, yubikey  # noqa: F401


def _verify(public_key: ec.EllipticCurvePublicKey, payload: bytes, raw: bytes, hash_alg: hashes.HashAlgorithm) -> None:
    n = len(raw) // 2
    der = encode_dss_signature(int.from_bytes(raw[:n], "big"), int.from_bytes(raw[n:], "big"))
    public_key.verify(der, payload, ec.ECDSA(hash_alg))


def test_provision_then_sign_through_ykcs11(yubikey: VirtualYubiKey, ykcs11: Module) -> None:
    events: list[str] = []
    result = provision(yubikey.serial, ProvisionPrompts(lambda d: str(d.serial), {"PIN": PIN, "PUK": PUK}.__getitem__,
                                                        events.append))
    # Born on the card, with the policies asked for; the factory secrets are gone.
    key = yubikey.keys[0x9C]
    assert key.generated and (key.pin_policy, key.touch_policy) == (PIN_ALWAYS, TOUCH_ALWAYS)
    assert result.public_key.public_numbers() == key.private.public_key().public_numbers()
    assert (yubikey.pin, yubikey.puk) == (PIN.encode(), PUK.encode())
    assert not (yubikey.pin_is_default or yubikey.puk_is_default or yubikey.mgmt_is_default)
    # The random management key is on the card, in the PIN-protected object, and nowhere else.
    assert yubikey.mgmt_key != DEFAULT_MGMT and len(yubikey.mgmt_key) == 24
    stored = tlv.parse_dict(tlv.parse_dict(yubikey.objects[0x5FC109])[0x88])[0x89]
    assert stored == yubikey.mgmt_key
    assert yubikey.mgmt_key.hex() not in repr(result.to_dict())
    assert events[0].startswith("resetting the PIV application")

    touches: list[str] = []
    pins_asked: list[object] = []
    before = yubikey.pin_verifications()  # the reset blocks the PIN on purpose, then one VERIFY

    def pin(info: object) -> str:
        pins_asked.append(info)
        return PIN

    signing_key = open_signing_key(yubikey.serial, pin, on_touch=touches.append, module=ykcs11)
    assert yubikey.pin_verifications() == before  # opening spends nothing
    sslib_key = SSlibKey.from_crypto(result.public_key)
    signer = TokenSigner(signing_key, sslib_key)
    for payload in (b"root metadata v1", b"root metadata v2"):
        signature = signer.sign(payload)
        sslib_key.verify_signature(signature, payload)
    # PIN policy ALWAYS: one PIN and one VERIFY per signature, never two; one touch each.
    assert len(pins_asked) == 2
    assert yubikey.pin_verifications() == before + 2
    assert yubikey.touch.requests == 2 and len(touches) == 2
    assert touches[0] == f"YubiKey {yubikey.serial} is blinking"


def test_private_key_is_sensitive_and_never_extractable(yubikey: VirtualYubiKey, ykcs11: Module) -> None:
    provision_card(yubikey)
    key = open_signing_key(yubikey.serial, lambda _i: PIN, module=ykcs11)
    key.sign_raw(b"log in")
    attrs = key.attributes([Attribute.SENSITIVE, Attribute.EXTRACTABLE, Attribute.ALWAYS_SENSITIVE,
                            Attribute.NEVER_EXTRACTABLE, Attribute.LOCAL])
    assert attrs[Attribute.SENSITIVE] and attrs[Attribute.ALWAYS_SENSITIVE]
    assert not attrs[Attribute.EXTRACTABLE] and attrs[Attribute.NEVER_EXTRACTABLE]
    assert attrs[Attribute.LOCAL]  # generated on the device (ykcs11 knows it from the attestation)


def test_p384_with_cached_touch(yubikey: VirtualYubiKey, ykcs11: Module) -> None:
    result = provision_card(yubikey, algorithm="ecdsa-p384", touch="cached")
    assert (yubikey.keys[0x9C].algorithm, yubikey.keys[0x9C].touch_policy) == (0x14, TOUCH_CACHED)
    touches: list[str] = []
    key = open_signing_key(yubikey.serial, lambda _i: PIN, on_touch=touches.append, module=ykcs11)
    assert isinstance(key, YubiKeyKey) and key.algorithm.name == "ecdsa-p384"
    for payload in (b"one", b"two"):
        _verify(result.public_key, payload, key.sign_raw(payload), hashes.SHA384())
    assert yubikey.touch.requests == 1  # cached: the second signature needs no new touch
    assert len(touches) == 2 and "if it blinks" in touches[1]


def test_wrong_serial_typed_changes_nothing(yubikey: VirtualYubiKey) -> None:
    asked: list[str] = []
    prompts = ProvisionPrompts(lambda d: "1234", lambda kind: asked.append(kind) or "x")  # type: ignore[func-returns-value]
    with pytest.raises(ProvisionAbortedError) as e:
        provision(yubikey.serial, prompts)
    assert e.value.message == f"the serial typed (1234) is not {yubikey.serial}; nothing was changed"
    assert e.value.exit_code == 4
    assert asked == [] and yubikey.sent(0xFB) == 0 and yubikey.pin_left == 3


@pytest.mark.parametrize(("pin", "puk", "message"), [
    ("123456", PUK, "the new PIN must not be a factory default (123456 is public)"),
    (PIN, "12345678", "the new PUK must not be a factory default (12345678 is public)"),
    ("12345", PUK, "the new PIN must be 6 to 8 ASCII characters"),
    (PIN, PIN, "the PIN and the PUK must differ"),
])
def test_unusable_new_secrets_are_refused_before_the_reset(yubikey: VirtualYubiKey, pin: str, puk: str,
                                                         message: str) -> None:
    prompts = ProvisionPrompts(lambda d: str(d.serial), {"PIN": pin, "PUK": puk}.__getitem__)
    with pytest.raises(NewPinRejectedError) as e:
        provision(yubikey.serial, prompts)
    assert (e.value.message, e.value.exit_code) == (message, 5)
    assert yubikey.sent(0xFB) == 0 and yubikey.pin_verifications() == 0


def test_signing_key_must_be_the_recorded_one(yubikey: VirtualYubiKey, ykcs11: Module) -> None:
    provision_card(yubikey)
    before = yubikey.pin_verifications()
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(HsmError) as e:
        open_signing_key(yubikey.serial, lambda _i: PIN, module=ykcs11, expected_public=other)
    assert "holds another key than the one recorded" in e.value.message
    assert yubikey.pin_verifications() == before
