"""The root certificate builder and notary's certificate/GUN rules, without a server.

A software key whose callback returns raw r||s stands in for the token; the end-to-end proof
that the real client accepts these certificates is in test_notary_online.py.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from ceremony.errors import PlanError, VerificationError
from ceremony.formats.notary_keys import (
    canonical_key_id,
    ecdsa_raw_to_der,
    entry_key_id,
    go_pem,
    key_id,
    normalize_spki,
    public_key_entry,
    spki_der,
    x509_key_entry,
)
from ceremony.formats.notary_x509 import (
    build_root_certificate,
    gun_problem,
    match_cn_to_gun,
    root_certificate_problems,
    validate_gun,
)
from tests.support.notary_fixtures import software_sign_raw

GUN = "registry.example.com/team/app"
NOW = datetime(2026, 11, 23, 12, 30, 45, 987654, UTC)


@pytest.fixture(scope="module")
def p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def test_certificate_fields_are_notarys(p256: ec.EllipticCurvePrivateKey) -> None:
    cert = build_root_certificate(GUN, p256.public_key(), software_sign_raw(p256), now=NOW)
    assert cert.version is x509.Version.v3
    assert cert.subject == cert.issuer
    assert cert.subject.rfc4514_string() == f"CN={GUN}"
    assert cert.signature_algorithm_oid == x509.SignatureAlgorithmOID.ECDSA_WITH_SHA256
    assert cert.not_valid_before_utc == NOW.replace(microsecond=0)
    assert cert.not_valid_after_utc == NOW.replace(microsecond=0) + timedelta(days=3650)
    assert 0 < cert.serial_number < 2**128
    extensions = {ext.oid: ext for ext in cert.extensions}
    assert list(extensions) == [
        x509.ExtensionOID.KEY_USAGE,
        x509.ExtensionOID.EXTENDED_KEY_USAGE,
        x509.ExtensionOID.BASIC_CONSTRAINTS,
    ]
    tbs = asn1_x509.Certificate.load(_der(cert))["tbs_certificate"]
    raw = {ext["extn_id"].native: ext for ext in tbs["extensions"]}
    assert raw["key_usage"]["critical"].native is True
    assert raw["key_usage"]["extn_value"].contents == bytes.fromhex("030205a0")
    assert raw["extended_key_usage"]["critical"].native is False
    assert raw["extended_key_usage"]["extn_value"].parsed.native == ["code_signing"]
    assert raw["basic_constraints"]["critical"].native is True
    assert raw["basic_constraints"]["extn_value"].contents == bytes.fromhex("3000")
    assert tbs["validity"]["not_before"].name == "utc_time"
    assert tbs["signature"].dump() == bytes.fromhex("300a06082a8648ce3d040302")
    cert.verify_directly_issued_by(cert)


def test_cn_string_type_follows_go(p256: ec.EllipticCurvePrivateKey) -> None:
    sign = software_sign_raw(p256)
    cases = (("example.com/app", "printable_string"), ("example.com/my_app", "utf8_string"))
    for gun, kind in cases:
        cert = build_root_certificate(gun, p256.public_key(), sign, now=NOW)
        tbs = asn1_x509.Certificate.load(_der(cert))["tbs_certificate"]
        assert tbs["subject"].chosen[0][0]["value"].name == kind
        assert tbs["subject"].chosen[0][0]["value"].native == gun


def test_generalized_time_after_2049(p256: ec.EllipticCurvePrivateKey) -> None:
    now = datetime(2045, 1, 1, tzinfo=UTC)
    cert = build_root_certificate(GUN, p256.public_key(), software_sign_raw(p256), now=now)
    validity = asn1_x509.Certificate.load(_der(cert))["tbs_certificate"]["validity"]
    assert validity["not_before"].name == "utc_time"
    assert validity["not_after"].name == "general_time"


def test_p384_and_rsa_certificates() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    cert = build_root_certificate(GUN, p384.public_key(), software_sign_raw(p384), now=NOW)
    cert.verify_directly_issued_by(cert)
    assert x509_key_entry(cert)["keytype"] == "ecdsa-x509"

    key = rsa.generate_private_key(65537, 2048)
    cert = build_root_certificate(
        GUN, key.public_key(), lambda m: key.sign(m, padding.PKCS1v15(), hashes.SHA256()), now=NOW
    )
    cert.verify_directly_issued_by(cert)
    assert cert.signature_algorithm_oid == x509.SignatureAlgorithmOID.RSA_WITH_SHA256
    tbs = asn1_x509.Certificate.load(_der(cert))["tbs_certificate"]
    assert tbs["signature"].dump() == bytes.fromhex("300d06092a864886f70d01010b0500")
    assert tbs["subject_public_key_info"]["algorithm"].dump().endswith(b"\x05\x00")
    assert x509_key_entry(cert)["keytype"] == "rsa-x509"


def test_wrong_token_key_is_caught_before_anything_is_returned(
    p256: ec.EllipticCurvePrivateKey,
) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(VerificationError) as raised:
        build_root_certificate(GUN, p256.public_key(), software_sign_raw(other), now=NOW)
    assert raised.value.message == (
        "the token's signature over the root certificate does not verify with the key's "
        "public half: a different key, or a mechanism that does not hash with SHA-256, was used"
    )


def test_der_signature_from_token_is_refused(p256: ec.EllipticCurvePrivateKey) -> None:
    def der_sign(message: bytes) -> bytes:
        return p256.sign(message, ec.ECDSA(hashes.SHA256()))

    with pytest.raises(VerificationError) as raised:
        build_root_certificate(GUN, p256.public_key(), der_sign, now=NOW)
    assert raised.value.message.startswith("the token returned a ")
    assert raised.value.message.endswith("-byte signature; raw r||s for this curve is 64 bytes")


def test_small_rsa_key_is_refused() -> None:
    key = rsa.generate_private_key(65537, 1024)
    with pytest.raises(VerificationError) as raised:
        build_root_certificate(GUN, key.public_key(), lambda m: b"", now=NOW)
    assert raised.value.message == "RSA key of 1024 bits; notary needs at least 2048"


# --------------------------------------------------------------------------- validator


def _software_cert(
    key: ec.EllipticCurvePrivateKey,
    cn: str,
    *,
    start: datetime,
    days: int = 3650,
    ca: bool = False,
    algorithm: hashes.HashAlgorithm | None = None,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(key, algorithm or hashes.SHA256())
    )


def test_validator_reasons(p256: ec.EllipticCurvePrivateKey) -> None:
    good = _software_cert(p256, GUN, start=NOW)
    assert root_certificate_problems([good], GUN, now=NOW) == []
    wildcard = _software_cert(p256, "registry.example.com/*", start=NOW)
    assert root_certificate_problems([wildcard], GUN, now=NOW) == []
    other = _software_cert(p256, "other/app", start=NOW)
    assert root_certificate_problems([other], GUN, now=NOW) == [
        f"the certificate's CN is 'other/app' but the GUN is '{GUN}'; notary needs the CN to "
        "equal the GUN (or be a prefix ending in '*')"
    ]
    expired = _software_cert(p256, GUN, start=datetime(2015, 1, 1, tzinfo=UTC), days=365)
    assert root_certificate_problems([expired], GUN, now=NOW) == [
        "the certificate expired at 2016-01-01 00:00:00 UTC; notary drops it"
    ]
    assert root_certificate_problems([expired], GUN, now=NOW, check_expiry=False) == []
    future = _software_cert(p256, GUN, start=NOW + timedelta(days=1, seconds=1))
    assert root_certificate_problems([future], GUN, now=NOW) == [
        "the certificate is not valid before 2026-11-24 12:30:46 UTC, more than one day from "
        "now; notary treats it as expired"
    ]
    almost = _software_cert(p256, GUN, start=NOW + timedelta(hours=23))
    assert root_certificate_problems([almost], GUN, now=NOW) == []
    ca = _software_cert(p256, GUN, start=NOW, ca=True)
    assert root_certificate_problems([ca], GUN, now=NOW) == [
        "the first certificate is a CA (basicConstraints CA:TRUE); notary needs the leaf "
        "certificate first and drops the key",
        "the bundle holds 0 leaf (non-CA) certificates; notary needs exactly one",
    ]
    assert root_certificate_problems([good, good], GUN, now=NOW) == [
        "the bundle holds 2 leaf (non-CA) certificates; notary needs exactly one"
    ]
    assert root_certificate_problems([good, ca], GUN, now=NOW) == []
    assert root_certificate_problems([], GUN) == ["the root key carries no certificate"]


def test_validator_refuses_sha1_and_small_rsa() -> None:
    # cryptography no longer signs with SHA-1, and notary does not check the signature of a
    # TOFU root certificate anyway: relabel a SHA-256 certificate as SHA-1 with asn1crypto.
    small = rsa.generate_private_key(65537, 1024)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, GUN)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(small.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=30))
        .sign(small, hashes.SHA256())
    )
    parsed = asn1_x509.Certificate.load(_der(cert))
    sha1 = asn1_x509.SignedDigestAlgorithm({"algorithm": "sha1_rsa", "parameters": None})
    tbs = parsed["tbs_certificate"].copy()
    tbs["signature"] = sha1
    relabelled = asn1_x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": sha1,
            "signature_value": parsed["signature_value"].native,
        }
    )
    cert = x509.load_der_x509_certificate(relabelled.dump(force=True))
    assert root_certificate_problems([cert], GUN, now=NOW) == [
        "the certificate is signed with SHA-1, which notary refuses",
        "the certificate's RSA key has 1024 bits; notary needs 2048",
    ]


def test_match_cn_to_gun_mirrors_notary() -> None:
    assert match_cn_to_gun("a/b", "a/b")
    assert not match_cn_to_gun("a/b", "a/bc")
    assert match_cn_to_gun("a/*", "a/bc")
    assert match_cn_to_gun("a/**", "a/bc")  # TrimRight removes every trailing '*'
    assert not match_cn_to_gun("b/*", "a/bc")


# --------------------------------------------------------------------------- GUN


@pytest.mark.parametrize(
    ("gun", "message"),
    [
        ("", "the GUN is empty"),
        ("x" * 256, "the GUN is 256 bytes long; notary allows at most 255"),
        ("é" * 128, "the GUN is 256 bytes long; notary allows at most 255"),
        (
            "docker.io/*",
            "the GUN contains '*', which notary-server's routes refuse ('*' only marks a "
            "wildcard certificate CN)",
        ),
        ("a?b", "the GUN contains '?', which would change the URL notary builds from it"),
        ("a#b", "the GUN contains '#', which would change the URL notary builds from it"),
        ("a%20b", "the GUN contains '%', which would change the URL notary builds from it"),
        ("a\tb", "the GUN contains the control character U+0009"),
        ("a\x7fb", "the GUN contains the control character U+007F"),
        ("a\ud800", "the GUN is not valid Unicode"),
        *[
            (
                gun,
                "the GUN must be clean '/'-separated names: no leading or trailing '/', no "
                "'//', no '.' or '..' segment (notary cleans the URL path and would use another "
                "GUN)",
            )
            for gun in ("/a", "a/", "a//b", "a/./b", "a/../b", "..", ".")
        ],
    ],
)
def test_bad_guns(gun: str, message: str) -> None:
    assert gun_problem(gun) == message
    with pytest.raises(PlanError) as raised:
        validate_gun(gun)
    assert raised.value.message == f"repository {gun!r} is not a valid notary GUN: {message}"


@pytest.mark.parametrize(
    "gun", ["example.com/app", "docker.io/library/alpine", "a b", "héllo", "a..b", "x" * 255]
)
def test_good_guns(gun: str) -> None:
    assert gun_problem(gun) is None
    assert validate_gun(gun) == gun


def test_certificate_builder_validates_the_gun(p256: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(PlanError):
        build_root_certificate("a/../b", p256.public_key(), software_sign_raw(p256))


# --------------------------------------------------------------------------- keys


def test_go_pem_layout() -> None:
    pem = go_pem("CERTIFICATE", bytes(range(256)))
    lines = pem.decode().split("\n")
    assert lines[0] == "-----BEGIN CERTIFICATE-----"
    assert all(len(line) == 64 for line in lines[1:-3])
    assert lines[-2] == "-----END CERTIFICATE-----" and lines[-1] == ""
    with_headers = go_pem("PRIVATE KEY", b"k", {"role": "targets", "gun": "g"}).decode()
    assert with_headers.startswith("-----BEGIN PRIVATE KEY-----\ngun: g\nrole: targets\n\naw==\n")


def test_key_ids_and_spki(p256: ec.EllipticCurvePrivateKey) -> None:
    entry = public_key_entry(p256.public_key())
    assert entry["keyval"]["private"] is None
    expected = key_id("ecdsa", spki_der(p256.public_key()))
    assert entry_key_id(entry) == canonical_key_id(entry) == expected
    cert = build_root_certificate(GUN, p256.public_key(), software_sign_raw(p256), now=NOW)
    x509_entry = x509_key_entry(cert)
    assert canonical_key_id(x509_entry) == entry_key_id(entry) != entry_key_id(x509_entry)


def test_rsa_spki_gets_null_parameters() -> None:
    key = rsa.generate_private_key(65537, 2048).public_key()
    spki = spki_der(key)
    pkcs1 = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    assert normalize_spki(pkcs1) == spki
    assert bytes.fromhex("06092a864886f70d0101010500") in spki  # rsaEncryption + NULL
    without_null = spki.replace(
        bytes.fromhex("300d06092a864886f70d0101010500"), bytes.fromhex("300b06092a864886f70d010101")
    )
    length = (len(without_null) - 4).to_bytes(2, "big")
    without_null = bytes([0x30, 0x82]) + length + without_null[4:]
    assert normalize_spki(without_null) == spki
    with pytest.raises(VerificationError):
        normalize_spki(b"\x30\x00")


def test_raw_to_der_refuses_odd_lengths() -> None:
    with pytest.raises(VerificationError) as raised:
        ecdsa_raw_to_der(b"\x01\x02\x03")
    assert raised.value.message == "an ECDSA r||s signature has an even length, not 3"


def test_offline_format_modules_pull_in_no_network_client() -> None:
    # The offline side must never open a socket; keep every HTTP/TLS client out of its imports.
    # (``socket`` itself is imported by asn1crypto for IP address parsing, so it is not checked.)
    code = (
        "import sys\n"
        "import ceremony.formats.notary_json, ceremony.formats.notary_keys\n"
        "import ceremony.formats.notary_x509\n"
        "print(sorted(m for m in ('ceremony.online', 'urllib.request', 'http.client', 'ssl')"
        " if m in sys.modules))\n"
    )
    done = subprocess.run(  # noqa: S603 - the running interpreter, fixed code
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.stdout.strip() == "[]"
