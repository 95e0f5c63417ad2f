"""PIV attestation: the verdict on a provisioned key, and every way it must fail.

The virtual cards attest with a throwaway test CA; the bundled Yubico roots are
checked on a genuine chain from a real YubiKey (tests/support/vpiv/genuine.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from hsm.errors import KeyNotFoundError
from hsm.yubikey import AttestationError
from hsm.yubikey.attestation import TrustStore, attest, verify_attestation
from tests.support.vpiv.attestation_ca import TestAttestationCA, default_ca
from tests.support.vpiv.card import VirtualYubiKey
from tests.support.vpiv.fixtures import next_serial, pcsc, provision_card, yubikey  # noqa: F401
from tests.support.vpiv.genuine import DEVICE_CERT, DEVICE_CERT_2024, SLOT_9A_ATTESTATION, SLOT_9C_ATTESTATION_2024
from tests.support.vpiv.harness import PcscHarness


def _trust(ca: TestAttestationCA) -> TrustStore:
    return TrustStore(tuple(ca.roots), tuple(ca.intermediates), "test")


def test_provisioned_key_attests(yubikey: VirtualYubiKey) -> None:
    result = provision_card(yubikey)
    verdict = attest(yubikey.serial, _trust(default_ca()))
    assert verdict.ok, verdict.problems
    assert (verdict.slot, verdict.serial, verdict.firmware) == ("9c", yubikey.serial, (5, 7, 1))
    assert (verdict.pin_policy, verdict.touch_policy, verdict.form_factor) == ("always", "always", "usb-a-keychain")
    assert verdict.chain == ["CN=YubiKey PIV Attestation 9c", "CN=Yubico PIV Attestation",
                             "CN=Test PIV Root CA Serial 263751 (vpiv\\, not Yubico)"]
    assert verdict.public_key.public_numbers() == result.public_key.public_numbers()
    record = verdict.to_dict()
    assert record["ok"] and record["attestation"].startswith("-----BEGIN CERTIFICATE-----")
    # The record carries enough to re-check later, offline, without the device.
    again = verify_attestation(x509.load_pem_x509_certificate(record["attestation"].encode()),
                               x509.load_pem_x509_certificate(record["device_certificate"].encode()),
                               _trust(default_ca()), expected_serial=yubikey.serial)
    assert again.ok
    verdict.require()


def test_chain_from_another_ca_is_rejected(yubikey: VirtualYubiKey) -> None:
    provision_card(yubikey)
    verdict = attest(yubikey.serial, _trust(TestAttestationCA(label="other")))
    assert not verdict.ok and verdict.root_fingerprint is None
    assert verdict.problems == ["the device certificate does not chain to a trusted test root "
                                "(issuer: CN=Test PIV Root CA Serial 263751 (vpiv\\, not Yubico))"]
    with pytest.raises(AttestationError) as e:
        verdict.require()
    assert e.value.exit_code == 3
    assert e.value.message.startswith("the attestation does not verify: the device certificate does not chain")


def test_virtual_card_does_not_pass_as_a_yubikey(yubikey: VirtualYubiKey) -> None:
    provision_card(yubikey)
    verdict = attest(yubikey.serial, TrustStore.yubico())
    assert not verdict.ok and "does not chain to a trusted yubico root" in verdict.problems[0]


def test_serial_that_differs_from_the_device(yubikey: VirtualYubiKey) -> None:
    provision_card(yubikey)
    yubikey.attestation_serial = 11111111  # a chain lifted from another YubiKey
    verdict = attest(yubikey.serial, _trust(default_ca()))
    assert verdict.problems == [f"the attestation names serial 11111111, but the device is YubiKey {yubikey.serial}"]


def test_attestation_of_another_key_than_the_slot_holds(yubikey: VirtualYubiKey) -> None:
    provision_card(yubikey)
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.support.vpiv.attestation_ca import slot_attestation
    # Genuinely signed by this device's f9 key, but for a key that is not in the slot.
    foreign = slot_attestation(yubikey.device_key, yubikey.device_cert, 0x9C,
                               ec.generate_private_key(ec.SECP256R1()).public_key(), (5, 7, 1),
                               yubikey.serial, 3, 2, 1)
    verdict = verify_attestation(foreign, yubikey.device_cert, _trust(default_ca()),
                                 expected_public_key=yubikey.keys[0x9C].private.public_key())
    assert verdict.problems == ["the attested key is not the key in the slot"]


def test_weak_policies_are_problems(yubikey: VirtualYubiKey) -> None:
    # Provisioned by hand, the way a careless tool would: PIN once, no touch.
    from yubikit.piv import DEFAULT_MANAGEMENT_KEY, KEY_TYPE, PIN_POLICY, SLOT, TOUCH_POLICY

    from hsm.yubikey import select_yubikey
    from hsm.yubikey.device import piv_session
    with piv_session(select_yubikey(yubikey.serial)) as session:
        session.authenticate(DEFAULT_MANAGEMENT_KEY)
        session.generate_key(SLOT.SIGNATURE, KEY_TYPE.ECCP256, PIN_POLICY.ONCE, TOUCH_POLICY.NEVER)
    verdict = attest(yubikey.serial, _trust(default_ca()))
    assert verdict.problems == ["the key's PIN policy is once, not always",
                                "the key's touch policy is never, not always or cached"]


def test_empty_slot(yubikey: VirtualYubiKey) -> None:
    with pytest.raises(KeyNotFoundError) as e:
        attest(yubikey.serial, _trust(default_ca()))
    assert e.value.message == f"slot 9c of YubiKey {yubikey.serial} holds no key generated on the device"


def test_2024_style_chain_needs_the_intermediate(pcsc: PcscHarness) -> None:
    ca = TestAttestationCA(label="layered", layered=True)
    card = VirtualYubiKey(serial=next_serial(), version=(5, 7, 4), ca=ca)
    pcsc.insert(card)
    try:
        provision_card(card)
        assert attest(card.serial, _trust(ca)).ok
        without = attest(card.serial, TrustStore(tuple(ca.roots), (), "test"))
        assert not without.ok and "does not chain" in without.problems[0]
        assert len(attest(card.serial, _trust(ca)).chain) == 4
    finally:
        pcsc.remove_all()


def test_bundled_yubico_roots_verify_a_genuine_chain() -> None:
    trust = TrustStore.yubico()
    assert sorted(str(r.subject.rfc4514_string()) for r in trust.roots) == [
        "CN=Yubico Attestation Root 1", "CN=Yubico PIV Root CA Serial 263751"]
    assert len(trust.intermediates) == 5
    device = x509.load_pem_x509_certificate(DEVICE_CERT)
    slot = x509.load_pem_x509_certificate(SLOT_9A_ATTESTATION)
    verdict = verify_attestation(slot, device, trust, expected_slot="9a", expected_serial=15732500,
                                 allowed_pin_policies=("once",), allowed_touch_policies=("never",))
    assert verdict.ok, verdict.problems
    assert (verdict.serial, verdict.firmware, verdict.form_factor) == (15732500, (5, 4, 3), "usb-c-nano")
    assert verdict.root_fingerprint == "63ece914e54dd87915f34033c85af4c0696ba1512f8add66ced738331207b546"
    assert verdict.advisories == ["YSA-2024-03: firmware 5.4.3 is affected (Infineon ECDSA side channel)"]
    # The same genuine chain is refused for a ceremony key (PIN once, no touch) and for another serial.
    strict = verify_attestation(slot, device, trust, expected_slot="9a", expected_serial=12345678)
    assert strict.problems == ["the attestation names serial 15732500, but the device is YubiKey 12345678",
                               "the key's PIN policy is once, not always",
                               "the key's touch policy is never, not always or cached"]


def test_bundled_yubico_roots_verify_a_genuine_2024_chain() -> None:
    """Firmware 5.7.4: f9 under PIV Attestation B 1 -> Intermediate B 1 -> Attestation Root 1."""
    device = x509.load_pem_x509_certificate(DEVICE_CERT_2024)
    slot = x509.load_pem_x509_certificate(SLOT_9C_ATTESTATION_2024)
    verdict = verify_attestation(slot, device, TrustStore.yubico(), expected_slot="9c",
                                 expected_serial=38906121, expected_firmware=(5, 7, 4))
    assert verdict.ok, verdict.problems
    assert verdict.chain == ["CN=YubiKey PIV Attestation 9c", "CN=Yubico PIV Attestation",
                             "CN=Yubico PIV Attestation B 1", "CN=Yubico Attestation Intermediate B 1",
                             "CN=Yubico Attestation Root 1"]
    assert (verdict.pin_policy, verdict.touch_policy, verdict.form_factor) == ("always", "always", "usb-c-keychain")
    assert verdict.root_fingerprint == "62760c6a6ef91679f454c8902b80fd009825b3f25da90f1fbace2ec6586cd5a8"
    assert verdict.advisories == []
    # Without the bundled intermediates the same genuine chain does not verify.
    bare = TrustStore(TrustStore.yubico().roots, (), "yubico")
    assert verify_attestation(slot, device, bare, expected_slot="9c").problems == [
        "the device certificate does not chain to a trusted yubico root "
        "(issuer: CN=Yubico PIV Attestation B 1)"]


def test_every_bundled_intermediate_is_signed_by_the_bundle() -> None:
    """Each pinned intermediate (B2 1 included) has a signature path to a bundled root."""
    trust = TrustStore.yubico()
    by_subject = {c.subject: c for c in (*trust.roots, *trust.intermediates)}
    names = set()
    for cert in trust.intermediates:
        names.add(cert.subject.rfc4514_string())
        current, hops = cert, 0
        while current.issuer != current.subject:
            parent = by_subject[current.issuer]
            current.verify_directly_issued_by(parent)
            current, hops = parent, hops + 1
        assert current in trust.roots and hops <= 2
    assert names == {"CN=Yubico Attestation Intermediate A 1", "CN=Yubico Attestation Intermediate B 1",
                     "CN=Yubico PIV Attestation A 1", "CN=Yubico PIV Attestation B 1",
                     "CN=Yubico PIV Attestation B2 1"}


def test_genuine_slot_certificate_under_a_foreign_device_certificate_fails() -> None:
    slot = x509.load_pem_x509_certificate(SLOT_9A_ATTESTATION)
    ca = default_ca()
    foreign_device = ca.device_certificate(15732500, (5, 4, 3))
    verdict = verify_attestation(slot, foreign_device, TrustStore.yubico(), expected_slot="9a",
                                 allowed_pin_policies=("once",), allowed_touch_policies=("never",))
    assert verdict.problems[0] == "the slot attestation is not signed by the device's attestation key (f9)"


def test_bundled_roots_are_pinned(tmp_path: Path) -> None:
    from hsm.yubikey.attestation import ROOTS_DIR
    for f in ROOTS_DIR.glob("*.pem"):
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "extra.pem").write_bytes(default_ca().roots[0].public_bytes(Encoding.PEM))
    with pytest.raises(AttestationError) as e:
        TrustStore.yubico(tmp_path)
    assert e.value.message == f"the bundled Yubico roots in {tmp_path} are not the pinned set"
