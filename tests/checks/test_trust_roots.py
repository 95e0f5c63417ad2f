"""One loader of PEM trust roots (``ceremony.trust_roots`` over ``hsm.pem``), used by keygen,
verify and ``yubikey attest``: bounded, strict PEM, every refusal naming the file and what is
wrong, exit code 3 (verification), nothing written."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ceremony import attestation, trust_roots
from ceremony.cli import yubikey as cli_yubikey
from hsm.errors import AttestationError
from hsm.pem import PemError, certificates
from hsm.yubikey.attestation import TrustStore
from tests.base.test_input_fuzz import ROOT
from tests.support.helpers import Run, cli

HINT = "hint: give a file of PEM certificates (-----BEGIN CERTIFICATE-----) and nothing else"


def _cert(name: str, issuer: tuple[str, ec.EllipticCurvePrivateKey] | None = None
          ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_name, issuer_key = issuer if issuer else (name, key)
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(issuer_key, hashes.SHA256()))
    return cert, key


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def ca() -> tuple[bytes, bytes, ec.EllipticCurvePrivateKey]:
    """A self-signed root and an intermediate it issued, as PEM; and the root's key."""
    root, key = _cert("Test Root")
    inter, _ = _cert("Test Intermediate", ("Test Root", key))
    return _pem(root), _pem(inter), key


def verify_with(tmp_path: Path, roots: Path) -> Run:
    """``ceremony verify --attestation-roots ROOTS``: the roots are read before anything else."""
    trusted = tmp_path / "1.root.json"
    trusted.write_text(json.dumps(ROOT))
    return cli("verify", "--trusted", trusted, tmp_path, "--attestation-roots", roots)


def refused(tmp_path: Path, roots: Path, message: str) -> None:
    """The CLI, keygen's trust and ``yubikey attest``'s trust all refuse with ``message``."""
    before = sorted(p.name for p in tmp_path.iterdir())
    r = verify_with(tmp_path, roots)
    assert (r.code, r.err.splitlines()[0]) == (3, f"error: the attestation roots {roots} {message}"), r.err
    assert "Traceback" not in r.out + r.err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({*before, "1.root.json"})
    for load in (lambda: attestation.trust_for(SimpleNamespace(rehearsal=True), roots, env={}),
                 lambda: cli_yubikey._trust(argparse.Namespace(attestation_roots=str(roots)))):
        with pytest.raises(AttestationError) as e:
            load()
        assert e.value.message == f"the attestation roots {roots} {message}"


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    roots = tmp_path / "roots.pem"
    roots.write_bytes(b"\n  \n")
    refused(tmp_path, roots, "is empty: it holds no certificate")
    assert HINT in verify_with(tmp_path, roots).err


def test_a_file_that_is_not_pem_is_refused(tmp_path: Path) -> None:
    roots = tmp_path / "roots.pem"
    roots.write_text(json.dumps(ROOT))
    refused(tmp_path, roots, "is not PEM: line 1 is not a -----BEGIN CERTIFICATE----- line")
    roots.write_bytes(b"\xff\xfe binary")
    refused(tmp_path, roots, "is not PEM: it is not ASCII text")


def test_a_private_key_block_is_refused_and_never_quoted(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    roots = tmp_path / "roots.pem"
    roots.write_bytes(pem)
    refused(tmp_path, roots, "holds a PRIVATE KEY block (line 1), not a certificate; only "
                             "CERTIFICATE blocks belong in a trust root file")
    r = verify_with(tmp_path, roots)
    assert pem.decode().splitlines()[1] not in r.out + r.err


def test_a_public_key_block_after_a_certificate_is_refused(
        tmp_path: Path, ca: tuple[bytes, bytes, ec.EllipticCurvePrivateKey]) -> None:
    root, _inter, key = ca
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    roots = tmp_path / "roots.pem"
    roots.write_bytes(root + public)
    line = len(root.splitlines()) + 1
    refused(tmp_path, roots, f"holds a PUBLIC KEY block (line {line}), not a certificate; only "
                             "CERTIFICATE blocks belong in a trust root file")


def test_a_file_too_big_is_refused_unread(tmp_path: Path) -> None:
    roots = tmp_path / "roots.pem"
    roots.write_bytes(b"-" * (trust_roots.MAX_ROOTS_BYTES + 1))
    refused(tmp_path, roots, f"is {trust_roots.MAX_ROOTS_BYTES + 1} bytes, more than the "
                             f"{trust_roots.MAX_ROOTS_BYTES} bytes a PEM bundle of trust roots may "
                             "hold; it is not a certificate bundle")


def test_a_directory_is_refused(tmp_path: Path) -> None:
    roots = tmp_path / "roots"
    roots.mkdir()
    refused(tmp_path, roots, "is a folder, not a regular file; it was not read")


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    refused(tmp_path, tmp_path / "nowhere.pem", "does not exist")


def test_text_between_blocks_and_broken_blocks_are_refused(
        tmp_path: Path, ca: tuple[bytes, bytes, ec.EllipticCurvePrivateKey]) -> None:
    root, inter, _key = ca
    roots = tmp_path / "roots.pem"
    n = len(root.splitlines())
    roots.write_bytes(root + b"subject=CN = Test Intermediate\n" + inter)
    refused(tmp_path, roots, f"is not strict PEM: line {n + 1} is text outside any certificate block")
    roots.write_bytes(root.rsplit(b"-----END", 1)[0])
    refused(tmp_path, roots, "is not PEM: the certificate block of line 1 has no -----END "
                             "CERTIFICATE----- line")
    roots.write_bytes(root.replace(b"\n", b"\n*not base64*\n", 1))
    refused(tmp_path, roots, "is not PEM: line 2, inside the certificate block of line 1, is not base64")
    roots.write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    refused(tmp_path, roots, "holds a block (line 1) that is not a valid X.509 certificate")
    roots.write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END PUBLIC KEY-----\n")
    refused(tmp_path, roots, "is not PEM: the block of line 1 ends with -----END PUBLIC KEY----- (line 3)")


def test_intermediates_without_their_root_are_refused(
        tmp_path: Path, ca: tuple[bytes, bytes, ec.EllipticCurvePrivateKey]) -> None:
    _root, inter, _key = ca
    roots = tmp_path / "roots.pem"
    roots.write_bytes(inter)
    refused(tmp_path, roots, "holds no self-signed root certificate")


def test_a_good_bundle_loads_the_same_store_everywhere(
        tmp_path: Path, ca: tuple[bytes, bytes, ec.EllipticCurvePrivateKey]) -> None:
    root, inter, _key = ca
    roots = tmp_path / "roots.pem"
    roots.write_bytes(b"\n" + inter + b"\n\n" + root)  # blank lines between blocks are fine
    store = trust_roots.load_trust_store(roots)
    names = ([c.subject.rfc4514_string() for c in store.roots],
             [c.subject.rfc4514_string() for c in store.intermediates], store.name)
    assert names == (["CN=Test Root"], ["CN=Test Intermediate"], "roots.pem")
    keygen = attestation.trust_for(SimpleNamespace(rehearsal=True), roots, env={})
    attest = cli_yubikey._trust(argparse.Namespace(attestation_roots=str(roots)))
    for other in (keygen.store, attest):
        assert (other.roots, other.intermediates, other.name) == (store.roots, store.intermediates,
                                                                  store.name)


def test_the_bundled_yubico_roots_pass_the_strict_parser() -> None:
    store = TrustStore.yubico()
    assert store.name == "yubico" and len(store.roots) == 2 and len(store.intermediates) == 5


def test_the_parser_alone_names_no_file() -> None:
    with pytest.raises(PemError) as e:
        certificates(b"")
    assert str(e.value) == "is empty: it holds no certificate"
