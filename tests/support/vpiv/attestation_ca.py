"""A throwaway PIV attestation PKI shaped like Yubico's, for the virtual card.

Real YubiKeys carry a per-device attestation key in slot f9 whose certificate
("Yubico PIV Attestation") is issued by Yubico's PIV root (firmware < 5.7.4) or
by an intermediate that is *not* on the device (5.7.4 and later: "Yubico PIV
Attestation B 1" under "Yubico Attestation Root 1"). The f9 key signs one
certificate per slot ("YubiKey PIV Attestation 9c") carrying Yubico's
extensions. The shapes here follow genuine certificates (read from go-piv's
test data): RSA-2048 issuers, sha256WithRSAEncryption, the issuer's validity
copied into the leaf, raw (not DER-wrapped) firmware/policy/form-factor values
and a DER INTEGER serial.

Every name says "vpiv" or "test" where a real Yubico name would be ambiguous,
so a test certificate can never be mistaken for a Yubico one.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID, ObjectIdentifier

OID_FIRMWARE = ObjectIdentifier("1.3.6.1.4.1.41482.3.3")
OID_SERIAL = ObjectIdentifier("1.3.6.1.4.1.41482.3.7")
OID_POLICY = ObjectIdentifier("1.3.6.1.4.1.41482.3.8")
OID_FORM_FACTOR = ObjectIdentifier("1.3.6.1.4.1.41482.3.9")

# Yubico's PIV root is valid 2016-03-14 .. 2052-04-17 and its leaves copy that.
NOT_BEFORE = dt.datetime(2016, 3, 14, tzinfo=dt.UTC)
NOT_AFTER = dt.datetime(2052, 4, 17, tzinfo=dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def der_integer(value: int) -> bytes:
    """DER INTEGER encoding (the serial extension is a DER INTEGER)."""
    body = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big")
    return bytes([0x02, len(body)]) + body


@functools.cache
def _rsa_key(label: str) -> rsa.RSAPrivateKey:
    """One RSA-2048 key per label per process: key generation dominates test time."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _ca_cert(subject: str, key: rsa.RSAPrivateKey, issuer: str, issuer_key: rsa.RSAPrivateKey,
             path_length: int) -> x509.Certificate:
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key())
    return (x509.CertificateBuilder()
            .subject_name(_name(subject)).issuer_name(_name(issuer))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOT_BEFORE).not_valid_after(NOT_AFTER)
            .add_extension(ski, critical=False)
            .add_extension(aki, critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                           critical=True)
            .sign(issuer_key, hashes.SHA256()))


@dataclass
class TestAttestationCA:
    """A root (and, for the 2024-style chain, one intermediate) that issues f9 certificates.

    ``layered=False`` mimics firmware < 5.7.4 (root signs the f9 certificate);
    ``layered=True`` mimics 5.7.4+ (an intermediate the device does not carry).
    """

    label: str = "vpiv"
    layered: bool = False
    roots: list[x509.Certificate] = field(init=False)
    intermediates: list[x509.Certificate] = field(init=False)

    __test__ = False  # not a pytest class

    def __post_init__(self) -> None:
        root_cn = f"Test PIV Root CA Serial 263751 ({self.label}, not Yubico)"
        root_key = _rsa_key(f"{self.label}/root")
        root = _ca_cert(root_cn, root_key, root_cn, root_key, 1 if not self.layered else 2)
        self.roots = [root]
        self.intermediates = []
        self._issuer_cn, self._issuer_key = root_cn, root_key
        if self.layered:
            inter_cn = f"Test PIV Attestation B 1 ({self.label}, not Yubico)"
            inter_key = _rsa_key(f"{self.label}/intermediate")
            self.intermediates = [_ca_cert(inter_cn, inter_key, root_cn, root_key, 1)]
            self._issuer_cn, self._issuer_key = inter_cn, inter_key

    def device_key(self, serial: int) -> rsa.RSAPrivateKey:
        """The f9 attestation key of the virtual card with this serial."""
        return _rsa_key(f"{self.label}/device/{serial}")

    def device_certificate(self, serial: int, firmware: tuple[int, int, int]) -> x509.Certificate:
        """The f9 certificate ("Yubico PIV Attestation"), issued by this CA."""
        key = self.device_key(serial)
        return (x509.CertificateBuilder()
                .subject_name(_name("Yubico PIV Attestation")).issuer_name(_name(self._issuer_cn))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(NOT_BEFORE).not_valid_after(NOT_AFTER)
                .add_extension(x509.UnrecognizedExtension(OID_FIRMWARE, bytes(firmware)), critical=False)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .sign(self._issuer_key, hashes.SHA256()))


def slot_attestation(device_key: rsa.RSAPrivateKey, device_cert: x509.Certificate, slot: int,
                     public_key: object, firmware: tuple[int, int, int], serial: int,
                     pin_policy: int, touch_policy: int, form_factor: int) -> x509.Certificate:
    """What ATTEST (0xF9) returns: the slot key certified by the f9 key."""
    return (x509.CertificateBuilder()
            .subject_name(_name(f"YubiKey PIV Attestation {slot:02x}"))
            .issuer_name(device_cert.subject)
            .public_key(public_key)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(device_cert.not_valid_before_utc)
            .not_valid_after(device_cert.not_valid_after_utc)
            .add_extension(x509.UnrecognizedExtension(OID_FIRMWARE, bytes(firmware)), critical=False)
            .add_extension(x509.UnrecognizedExtension(OID_SERIAL, der_integer(serial)), critical=False)
            .add_extension(x509.UnrecognizedExtension(OID_POLICY, bytes([pin_policy, touch_policy])),
                           critical=False)
            .add_extension(x509.UnrecognizedExtension(OID_FORM_FACTOR, bytes([form_factor])),
                           critical=False)
            .sign(device_key, hashes.SHA256()))


@functools.cache
def default_ca() -> TestAttestationCA:
    """The CA every virtual card uses unless a test gives another one."""
    return TestAttestationCA()
