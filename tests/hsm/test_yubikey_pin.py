"""Bad inputs around PIN, presence and touch: the tool stops, says why, and never spends a try it need not.

Each test checks the operator sentence, the exit code, and (through the card's
APDU log) how many PIN verifications actually reached the card.
"""

from __future__ import annotations

import pytest

from hsm.errors import (
    AmbiguousTokenError,
    DeviceRemovedError,
    PinFinalTryError,
    PinIncorrectError,
    PinLockedError,
    TokenNotFoundError,
)
from hsm.pkcs11 import Module
from hsm.yubikey import FactoryDefaultsError, TouchTimeoutError, select_yubikey
from hsm.yubikey.preflight import preflight
from hsm.yubikey.signing import open_signing_key
from tests.support.vpiv.card import NeverTouched, PulledOnTouch, Touch, VirtualYubiKey
from tests.support.vpiv.fixtures import (  # noqa: F401
    PIN,
    next_serial,
    pcsc,
    provision_card,
    two_yubikeys,
    ykcs11,
    yubikey,
)
from tests.support.vpiv.harness import PcscHarness


class Pins:
    """A PIN provider that records every time it is asked."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.asked = 0

    def __call__(self, _info: object) -> str:
        self.asked += 1
        return self.answers.pop(0)


def test_wrong_pin_stops_at_once_and_says_how_many_tries_are_left(yubikey: VirtualYubiKey,
                                                                   ykcs11: Module) -> None:
    provision_card(yubikey)
    before = yubikey.pin_verifications()
    pins = Pins("7654321", PIN)
    key = open_signing_key(yubikey.serial, pins, module=ykcs11)
    with pytest.raises(PinIncorrectError) as e:
        key.sign_raw(b"payload")
    assert e.value.message == f"the PIN for YubiKey {yubikey.serial} was refused; 2 tries left"
    assert e.value.hint == "the tool never retries a PIN: check it and run this step again"
    assert e.value.exit_code == 5
    assert pins.asked == 1 and yubikey.pin_verifications() == before + 1 and yubikey.pin_left == 2


def test_wrong_pin_on_a_later_signature(yubikey: VirtualYubiKey, ykcs11: Module) -> None:
    provision_card(yubikey)
    key = open_signing_key(yubikey.serial, Pins(PIN, "0000000"), module=ykcs11)
    key.sign_raw(b"first")
    with pytest.raises(PinIncorrectError) as e:
        key.sign_raw(b"second")  # PIN policy ALWAYS: the second signature has its own VERIFY
    assert e.value.message == f"the PIN for YubiKey {yubikey.serial} was refused; 2 tries left"


def test_one_try_left_is_refused_before_any_verify(yubikey: VirtualYubiKey, ykcs11: Module) -> None:
    provision_card(yubikey)
    yubikey.pin_left = 1
    before = yubikey.pin_verifications()
    pins = Pins(PIN)
    with pytest.raises(PinFinalTryError) as e:
        open_signing_key(yubikey.serial, pins, module=ykcs11)
    assert e.value.message == f"YubiKey {yubikey.serial} has 1 PIN try left; the tool will not risk blocking it"
    assert e.value.exit_code == 5
    assert pins.asked == 0 and yubikey.pin_verifications() == before


def test_one_try_left_between_signatures_is_refused_too(yubikey: VirtualYubiKey, ykcs11: Module) -> None:
    provision_card(yubikey)
    pins = Pins(PIN, PIN)
    key = open_signing_key(yubikey.serial, pins, module=ykcs11)
    key.sign_raw(b"first")
    before = yubikey.pin_verifications()
    yubikey.pin_left = 1  # e.g. someone else tried wrong PINs in between
    with pytest.raises(PinFinalTryError):
        key.sign_raw(b"second")
    assert pins.asked == 1 and yubikey.pin_verifications() == before


def test_blocked_pin(yubikey: VirtualYubiKey, ykcs11: Module) -> None:
    provision_card(yubikey)
    yubikey.pin_left = 0
    before = yubikey.pin_verifications()
    with pytest.raises(PinLockedError) as e:
        open_signing_key(yubikey.serial, Pins(PIN), module=ykcs11)
    assert e.value.message == f"the PIN of YubiKey {yubikey.serial} is blocked (0 tries left)"
    assert e.value.exit_code == 5 and yubikey.pin_verifications() == before
    report = preflight(yubikey.serial)
    assert "the PIN is blocked" in report.problems and not report.ready


def test_factory_defaults_are_found_without_spending_a_try(yubikey: VirtualYubiKey) -> None:
    report = preflight(yubikey.serial)
    assert report.problems == ["the factory PIN (123456) is still set",
                               "the factory PUK (12345678) is still set",
                               "the factory management key is still set"]
    assert (report.pin_tries_left, report.pin_tries_total, report.puk_tries_left) == (3, 3, 3)
    with pytest.raises(FactoryDefaultsError) as e:
        report.require_ready()
    assert e.value.exit_code == 4
    assert e.value.message.startswith(f"YubiKey {yubikey.serial} is not fit for a ceremony: the factory PIN")
    assert e.value.hint == f"run `ceremony yubikey provision --serial {yubikey.serial}`"
    assert yubikey.pin_verifications() == 0 and yubikey.pin_left == 3


def test_provisioned_key_passes_preflight(yubikey: VirtualYubiKey) -> None:
    provision_card(yubikey)
    report = preflight(yubikey.serial)
    assert report.ready and report.problems == [] and report.advisories == []
    assert report.signature_slot is not None
    assert (report.signature_slot.pin_policy, report.signature_slot.touch_policy) == ("always", "always")
    report.require_ready()


def test_old_firmware_is_flagged_with_the_advisory(pcsc: PcscHarness) -> None:
    card = VirtualYubiKey(serial=next_serial(), version=(5, 4, 3))
    pcsc.insert(card)
    try:
        provision_card(card)
        report = preflight(card.serial)
        assert report.ready  # an advisory informs; it does not block
        [advisory] = report.advisories
        assert advisory.startswith("YSA-2024-03: firmware 5.4.3 is affected")
    finally:
        pcsc.remove_all()


def test_firmware_without_metadata_cannot_be_cleared_safely(pcsc: PcscHarness, ykcs11: Module) -> None:
    card = VirtualYubiKey(serial=next_serial(), version=(5, 2, 7))
    pcsc.insert(card)
    try:
        report = preflight(card.serial)
        assert report.factory_pin is None and not report.ready
        assert "cannot report whether the factory PIN" in report.problems[0]
        assert card.pin_verifications() == 0 and report.pin_tries_left == 3
        # Still provisionable (3DES management key before 5.4) and usable: the
        # slot's policies come from its attestation instead of metadata.
        provision_card(card)
        assert card.mgmt_algorithm == 0x03 and not card.mgmt_is_default
        key = open_signing_key(card.serial, Pins(PIN), module=ykcs11)
        assert (key.pin_policy, key.touch_policy) == ("always", "always")
        key.sign_raw(b"old firmware")
        from hsm.yubikey.attestation import TrustStore, attest
        from tests.support.vpiv.attestation_ca import default_ca
        assert attest(card.serial, TrustStore(tuple(default_ca().roots))).ok
    finally:
        pcsc.remove_all()


def test_two_yubikeys_and_no_serial_asks_which(two_yubikeys: tuple[VirtualYubiKey, VirtualYubiKey],
                                              ykcs11: Module) -> None:
    first, second = two_yubikeys
    with pytest.raises(AmbiguousTokenError) as e:
        select_yubikey()
    assert e.value.message == (f"2 YubiKeys are present (serials {first.serial}, {second.serial}); "
                               "the tool will not guess which")
    assert e.value.hint == "say which one, by serial: --serial SERIAL (or remove the others)"
    assert e.value.exit_code == 4
    assert select_yubikey(second.serial).serial == second.serial
    provision_card(second)
    key = open_signing_key(second.serial, Pins(PIN), module=ykcs11)
    key.sign_raw(b"the right key")
    assert second.touch.requests == 1 and first.pin_verifications() == 0


def test_absent_serial(yubikey: VirtualYubiKey) -> None:
    with pytest.raises(TokenNotFoundError) as e:
        select_yubikey(99999999)
    assert e.value.message == f"YubiKey 99999999 is not present (present: {yubikey.serial})"


def test_device_removed_mid_signature(yubikey: VirtualYubiKey, ykcs11: Module) -> None:
    provision_card(yubikey)
    key = open_signing_key(yubikey.serial, Pins(PIN, PIN), module=ykcs11)
    yubikey.touch = PulledOnTouch()  # the operator pulls the key instead of touching it
    with pytest.raises(DeviceRemovedError) as e:
        key.sign_raw(b"payload")
    assert e.value.message == f"YubiKey {yubikey.serial} was removed while signing; nothing was signed"
    assert e.value.exit_code == 4


def test_signing_works_again_after_the_key_is_reinserted(pcsc: PcscHarness, yubikey: VirtualYubiKey,
                                                         ykcs11: Module) -> None:
    provision_card(yubikey)
    key = open_signing_key(yubikey.serial, Pins(PIN), module=ykcs11)
    yubikey.touch = PulledOnTouch()
    with pytest.raises(DeviceRemovedError):
        key.sign_raw(b"payload")
    pcsc.wait_present(pcsc.slots[0].reader_name, False)
    pcsc.slots[0].card = None
    yubikey.touch = Touch()  # this time the operator touches
    pcsc.insert(yubikey)
    again = open_signing_key(yubikey.serial, Pins(PIN), module=ykcs11)
    again.sign_raw(b"payload")


def test_touch_timeout(yubikey: VirtualYubiKey, ykcs11: Module) -> None:
    provision_card(yubikey)
    touches: list[str] = []
    key = open_signing_key(yubikey.serial, Pins(PIN), on_touch=touches.append, module=ykcs11)
    yubikey.touch = NeverTouched(timeout=0.3)
    with pytest.raises(TouchTimeoutError) as e:
        key.sign_raw(b"payload")
    assert e.value.message == f"YubiKey {yubikey.serial} was not touched in time; nothing was signed"
    assert e.value.hint == "run this step again and touch the YubiKey while it blinks"
    assert e.value.exit_code == 4 and len(touches) == 1 and yubikey.pin_left == 3


def test_sign_digest_on_a_p384_yubikey_has_its_own_pin_and_sha256(yubikey: VirtualYubiKey,
                                                                   ykcs11: Module) -> None:
    # Notary's ecdsa method over a P-384 card key: the inherited TokenKey.sign_digest goes through
    # the YubiKey's PIN-per-signature path, and a refused PIN is the same operator error.
    import hashlib

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from hsm.verify import raw_to_der

    provision_card(yubikey, algorithm="ecdsa-p384")
    pins = Pins(PIN, "0000000")
    key = open_signing_key(yubikey.serial, pins, module=ykcs11)
    before = yubikey.pin_verifications()
    sig = key.sign_digest(hashlib.sha256(b"payload").digest(), "sha256")
    public = key.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp384r1"
    public.verify(raw_to_der(sig), b"payload", ec.ECDSA(hashes.SHA256()))
    assert pins.asked == 1 and yubikey.pin_verifications() == before + 1
    with pytest.raises(PinIncorrectError) as e:
        key.sign_digest(hashlib.sha256(b"second").digest())
    assert e.value.message == f"the PIN for YubiKey {yubikey.serial} was refused; 2 tries left"
    assert e.value.exit_code == 5
