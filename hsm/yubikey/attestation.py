"""PIV attestation: prove a slot key was generated on a genuine YubiKey, with which policy.

A YubiKey signs a certificate for a slot key ("YubiKey PIV Attestation 9c")
with its per-device f9 key; the f9 certificate chains to Yubico's PIV root,
directly (firmware < 5.7.4) or through intermediates the device does not carry
(5.7.4+). The slot certificate's extensions say the firmware, the serial, the
PIN/touch policy and the form factor. sigstore's root signing used to check
this and stopped (root-signing#1364); a ceremony that cannot show where its
root keys were born has to be taken on trust, so here the check returns a
verdict that can be shown, recorded and re-checked later.

Every link is a signature check against a certificate from the trust store
(pinned by SHA-256, see ``hsm/yubikey_roots/README.md``); no name or system
trust store is consulted. Tests inject their own throwaway CA.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID, ObjectIdentifier

from hsm.errors import AttestationError, KeyNotFoundError
from hsm.pem import PemError, certificates, roots_and_intermediates
from hsm.yubikey.device import mapped_errors, piv_session, select_yubikey

OID_FIRMWARE = ObjectIdentifier("1.3.6.1.4.1.41482.3.3")
OID_SERIAL = ObjectIdentifier("1.3.6.1.4.1.41482.3.7")
OID_POLICY = ObjectIdentifier("1.3.6.1.4.1.41482.3.8")
OID_FORM_FACTOR = ObjectIdentifier("1.3.6.1.4.1.41482.3.9")
SLOT_CN_PREFIX = "YubiKey PIV Attestation "

PIN_POLICIES = {1: "never", 2: "once", 3: "always", 4: "match-once", 5: "match-always"}
TOUCH_POLICIES = {1: "never", 2: "always", 3: "cached"}
FORM_FACTORS = {0: "unknown", 1: "usb-a-keychain", 2: "usb-a-nano", 3: "usb-c-keychain",
                4: "usb-c-nano", 5: "usb-c-lightning", 6: "usb-a-bio", 7: "usb-c-bio"}

ROOTS_DIR = Path(__file__).resolve().parent.parent / "yubikey_roots"
# SHA-256 of the DER of every bundled certificate: a changed file fails closed.
PINNED = {
    "63ece914e54dd87915f34033c85af4c0696ba1512f8add66ced738331207b546": "Yubico PIV Root CA Serial 263751",
    "62760c6a6ef91679f454c8902b80fd009825b3f25da90f1fbace2ec6586cd5a8": "Yubico Attestation Root 1",
    "4698a1d3389c3ec60016c216250f1d0439922832d65142327436376dc2942b55": "Yubico Attestation Intermediate A 1",
    "d4cc3f456fdaf4e7812a21aab1dfe9d8e27d24e2fd2d6f21c9940109f0daa754": "Yubico Attestation Intermediate B 1",
    "6de693f05376f5d8ca29069261e1c8626c75d503bd2edbfd75354cad1f722870": "Yubico PIV Attestation A 1",
    "2d55b7998f4e42569d6d8fa382b6dc77d1dacf07358b19701163892922b17052": "Yubico PIV Attestation B 1",
    "0c90b7d184a36edf50a35f9be935f0c5689bfdcfe5bdd073366cafb49061a440": "Yubico PIV Attestation B2 1",
}


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER, lower-case hex."""
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


@dataclass(frozen=True)
class TrustStore:
    """Roots an attestation must chain to, plus intermediates the device does not carry."""

    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()
    name: str = "custom"

    @classmethod
    def yubico(cls, directory: Path = ROOTS_DIR) -> TrustStore:
        """Yubico's PIV attestation roots and intermediates bundled with the tool.

        Raises:
            AttestationError: a bundled file is missing or is not the pinned certificate.
        """
        certs: list[x509.Certificate] = []
        for path in sorted(directory.glob("*.pem")):
            try:
                certs += certificates(path.read_bytes())
            except OSError as e:
                raise AttestationError(f"cannot read the bundled Yubico roots {path}: {e.strerror}",
                                       hint="restore hsm/yubikey_roots from the release") from None
            except PemError as e:
                raise AttestationError(f"the bundled Yubico roots {path} {e}",
                                       hint="restore hsm/yubikey_roots from the release") from None
        seen = {fingerprint(c) for c in certs}
        if seen != set(PINNED):
            raise AttestationError(f"the bundled Yubico roots in {directory} are not the pinned set",
                                   hint="restore hsm/yubikey_roots from the release")
        return cls.from_certificates(tuple(certs), "yubico")

    @classmethod
    def from_certificates(cls, certs: tuple[x509.Certificate, ...], name: str = "custom") -> TrustStore:
        """A store from a parsed bundle: its self-signed roots, and the rest as intermediates.

        Raises:
            PemError: no self-signed root among them.
        """
        roots, inters = roots_and_intermediates(certs)
        return cls(roots, inters, name)

    @classmethod
    def from_pem(cls, roots_pem: bytes, intermediates_pem: bytes = b"", name: str = "custom") -> TrustStore:
        """A store from PEM bundles (tests, or a site that pins its own CA), read strictly.

        Raises:
            PemError: a bundle is not strict PEM certificates (``hsm.pem``).
        """
        inters = certificates(intermediates_pem) if intermediates_pem else ()
        return cls(certificates(roots_pem), inters, name)


@dataclass
class AttestationVerdict:
    """What the attestation proves, and every reason it does not (``problems``)."""

    slot: str | None
    serial: int | None
    firmware: tuple[int, int, int] | None
    pin_policy: str | None
    touch_policy: str | None
    form_factor: str | None
    public_key: Any
    chain: list[str]
    root_fingerprint: str | None
    attestation_pem: str
    device_certificate_pem: str
    problems: list[str] = field(default_factory=list)
    advisories: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def require(self) -> None:
        """Raise :class:`AttestationError` naming the first problem, if any."""
        if self.problems:
            raise AttestationError(f"the attestation does not verify: {'; '.join(self.problems)}",
                                   hint="the key may not have been generated on this YubiKey; do not use it")

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the record and for ``x-`` fields in root metadata (re-checkable)."""
        pub = self.public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
        return {"ok": self.ok, "slot": self.slot, "serial": self.serial,
                "firmware": "{}.{}.{}".format(*self.firmware) if self.firmware else None,
                "pin_policy": self.pin_policy, "touch_policy": self.touch_policy,
                "form_factor": self.form_factor, "public_key": pub, "chain": self.chain,
                "root_sha256": self.root_fingerprint, "attestation": self.attestation_pem,
                "device_certificate": self.device_certificate_pem,
                "problems": self.problems, "advisories": self.advisories}


def _same_key(a: Any, b: Any) -> bool:
    spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return bool(a.public_bytes(*spki) == b.public_bytes(*spki))


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _chain(device_cert: x509.Certificate, trust: TrustStore) -> tuple[list[x509.Certificate], str | None]:
    """Device certificate up to a trusted root, every link a signature check."""
    path, current = [device_cert], device_cert
    for _ in range(4):
        root = next((r for r in trust.roots if _issued_by(current, r)), None)
        if root is not None:
            return path + [root], None
        parent = next((i for i in trust.intermediates if _issued_by(current, i) and _is_ca(i)), None)
        if parent is None:
            break
        path.append(parent)
        current = parent
    issuer = current.issuer.rfc4514_string()
    return path, f"the device certificate does not chain to a trusted {trust.name} root (issuer: {issuer})"


def _ext(cert: x509.Certificate, oid: ObjectIdentifier) -> bytes | None:
    try:
        value = cert.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None
    return getattr(value, "value", None)


def slot_policies(attestation: x509.Certificate) -> tuple[str, str]:
    """(PIN policy, touch policy) as an attestation states them (for firmware without metadata).

    Raises:
        ValueError: the policy extension is missing or malformed.
    """
    raw = _ext(attestation, OID_POLICY)
    if raw is None or len(raw) != 2:
        raise ValueError("PIN/touch policy extension missing or not 2 bytes")
    return PIN_POLICIES.get(raw[0], f"unknown({raw[0]})"), TOUCH_POLICIES.get(raw[1], f"unknown({raw[1]})")


def _der_uint(raw: bytes) -> int:
    if len(raw) < 3 or raw[0] != 0x02 or raw[1] != len(raw) - 2:
        raise ValueError("not a DER INTEGER")
    return int.from_bytes(raw[2:], "big", signed=True)


def verify_attestation(attestation: x509.Certificate, device_certificate: x509.Certificate,
                       trust: TrustStore, *, expected_serial: int | None = None,
                       expected_slot: str = "9c", expected_public_key: Any = None,
                       expected_firmware: tuple[int, int, int] | None = None,
                       allowed_pin_policies: tuple[str, ...] = ("always",),
                       allowed_touch_policies: tuple[str, ...] = ("always", "cached"),
                       now: dt.datetime | None = None) -> AttestationVerdict:
    """Check a slot attestation and its device certificate; never raises for a bad chain.

    Every failed check is a sentence in ``problems`` (so a UI can show them all);
    call :meth:`AttestationVerdict.require` to turn them into an error.
    """
    now = now or dt.datetime.now(dt.UTC)
    problems: list[str] = []
    advisories: list[str] = []

    if not _issued_by(attestation, device_certificate):
        problems.append("the slot attestation is not signed by the device's attestation key (f9)")
    path, chain_problem = _chain(device_certificate, trust)
    if chain_problem:
        problems.append(chain_problem)
    for cert in [attestation, *path]:
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            problems.append(f"{cert.subject.rfc4514_string()} is not valid at {now:%Y-%m-%d}")

    cns = attestation.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(cns[0].value) if cns else ""
    slot = cn[len(SLOT_CN_PREFIX):].lower() if cn.startswith(SLOT_CN_PREFIX) else None
    if slot != expected_slot:
        problems.append(f"the attestation is for slot {slot or '(unknown)'}, not {expected_slot}")

    firmware = serial = pin_policy = touch_policy = form_factor = None
    try:
        raw = _ext(attestation, OID_FIRMWARE)
        if raw is None or len(raw) != 3:
            raise ValueError("firmware extension missing or not 3 bytes")
        firmware = (raw[0], raw[1], raw[2])
        raw = _ext(attestation, OID_SERIAL)
        if raw is None:
            raise ValueError("serial extension missing")
        serial = _der_uint(raw)
        raw = _ext(attestation, OID_POLICY)
        if raw is None or len(raw) != 2:
            raise ValueError("PIN/touch policy extension missing or not 2 bytes")
        pin_policy = PIN_POLICIES.get(raw[0], f"unknown({raw[0]})")
        touch_policy = TOUCH_POLICIES.get(raw[1], f"unknown({raw[1]})")
        raw = _ext(attestation, OID_FORM_FACTOR)
        form_factor = FORM_FACTORS.get(raw[0] & 0x3F, f"unknown({raw[0]})") if raw else "unknown"
        if raw and raw[0] & 0x80:
            form_factor += " (FIPS)"
    except ValueError as e:
        problems.append(f"the attestation is malformed: {e}")

    if expected_serial is not None and serial is not None and serial != expected_serial:
        problems.append(f"the attestation names serial {serial}, but the device is YubiKey {expected_serial}")
    if pin_policy is not None and pin_policy not in allowed_pin_policies:
        problems.append(f"the key's PIN policy is {pin_policy}, not {' or '.join(allowed_pin_policies)}")
    if touch_policy is not None and touch_policy not in allowed_touch_policies:
        problems.append(f"the key's touch policy is {touch_policy}, not {' or '.join(allowed_touch_policies)}")
    if expected_firmware is not None and firmware is not None and firmware != tuple(expected_firmware):
        problems.append("the attestation's firmware {} differs from the device's {}".format(
            ".".join(map(str, firmware)), ".".join(map(str, expected_firmware))))
    if expected_public_key is not None and not _same_key(attestation.public_key(), expected_public_key):
        problems.append("the attested key is not the key in the slot")
    if firmware is not None and firmware < (5, 7, 0):
        advisories.append("YSA-2024-03: firmware {} is affected (Infineon ECDSA side channel)".format(
            ".".join(map(str, firmware))))

    return AttestationVerdict(
        slot, serial, firmware, pin_policy, touch_policy, form_factor, attestation.public_key(),
        [c.subject.rfc4514_string() for c in [attestation, *path]],
        fingerprint(path[-1]) if not chain_problem else None,
        attestation.public_bytes(Encoding.PEM).decode(),
        device_certificate.public_bytes(Encoding.PEM).decode(), problems, advisories)


def attest(serial: int, trust: TrustStore, **expect: Any) -> AttestationVerdict:
    """Fetch the slot-9c attestation and the f9 certificate from YubiKey ``serial`` and verify them.

    The serial, firmware and slot key the device reports are what the
    attestation must match.

    Raises:
        TokenNotFoundError / DeviceRemovedError: the key is not there.
        KeyNotFoundError: slot 9c holds no key.
    """
    from yubikit.core import NotSupportedError  # lazy: yubikit (~0.4 s, optional [yubikey] extra)
    from yubikit.core.smartcard import SW, ApduError  # lazy: yubikit (~0.4 s, optional [yubikey] extra)
    from yubikit.piv import SLOT  # lazy: yubikit (~0.4 s, optional [yubikey] extra)
    device = select_yubikey(serial)
    with piv_session(device) as session, mapped_errors(device, "attesting slot 9c"):
        try:
            try:
                slot_key = session.get_slot_metadata(SLOT.SIGNATURE).public_key
            except NotSupportedError:
                slot_key = None  # firmware < 5.3 has no metadata; the chain and serial still count
            attestation = session.attest_key(SLOT.SIGNATURE)
        except ApduError as e:
            if e.sw in (SW.REFERENCE_DATA_NOT_FOUND, SW.INCORRECT_PARAMETERS):
                raise KeyNotFoundError(f"slot 9c of {device.describe()} holds no key generated on the device",
                                       hint="provision it with `ceremony yubikey provision`") from None
            raise
        device_certificate = session.get_certificate(SLOT.ATTESTATION)
    expect.setdefault("expected_serial", device.serial)
    expect.setdefault("expected_firmware", device.firmware)
    expect.setdefault("expected_public_key", slot_key)
    return verify_attestation(attestation, device_certificate, trust, **expect)


def public_key_sha256(public_key: Any) -> str:
    """Hex SHA-256 of a public key's SubjectPublicKeyInfo (DER): how a slot key is named in
    the journal before the key is recorded (``keygen-intent``)."""
    return hashlib.sha256(public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).hexdigest()


def slot_public_key(serial: int) -> Any | None:
    """The public key in slot 9c of YubiKey ``serial``, or None when the slot holds no key.

    Read without a PIN (slot metadata; the slot's attestation on firmware before 5.3,
    which only answers for a key generated on the device), so a keygen can note what
    the slot held before it is reset, and tell after a crash whether a key was made.

    Raises:
        TokenNotFoundError / DeviceRemovedError: the key is not there.
    """
    from yubikit.core import NotSupportedError  # lazy: yubikit (~0.4 s, optional [yubikey] extra)
    from yubikit.core.smartcard import SW, ApduError  # lazy: yubikit (~0.4 s, optional [yubikey] extra)
    from yubikit.piv import SLOT  # lazy: yubikit (~0.4 s, optional [yubikey] extra)
    device = select_yubikey(serial)
    with piv_session(device) as session, mapped_errors(device, "reading slot 9c"):
        try:
            try:
                return session.get_slot_metadata(SLOT.SIGNATURE).public_key
            except NotSupportedError:  # firmware < 5.3: no metadata
                return session.attest_key(SLOT.SIGNATURE).public_key()
        except ApduError as e:
            if e.sw in (SW.REFERENCE_DATA_NOT_FOUND, SW.INCORRECT_PARAMETERS):
                return None
            raise
