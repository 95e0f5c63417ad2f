"""A software stand-in for a CA key on a token, and outside tools for the X.509 model tests.

The CA's private key is a ``cryptography`` key here, but it is used exactly as a token is: it
signs the TBS bytes the pure layer built and returns what ``TokenKey.sign_raw`` returns (raw
r||s for ECDSA, PSS-SHA256 salt 32 for RSA); the pure layer converts and splices. CSRs are
made by ``openssl req``, outside the tool, as a requester would. ``bench/bench_x509.py`` uses
this module too (no pytest in it).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import ClientVerifier, Criticality, ExtensionPolicy, PolicyBuilder, Store

from ceremony.formats.x509 import crl as x509_crl, der, lint, profile
from ceremony.formats.x509.csr import CsrInfo, read_csr

NOT_BEFORE = datetime(2026, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2036, 1, 1, tzinfo=UTC)
#: A moment inside every certificate's validity: verifiers are pinned to it.
CHECK_TIME = datetime(2027, 6, 1, tzinfo=UTC)
ROOT_SUBJECT = "CN=Acme Root CA,O=Acme,ST=WA,C=US"
INTERMEDIATE_SUBJECT = "CN=Acme Signing CA,O=Acme,ST=WA,C=US"
LEAF_SUBJECT = "CN=Acme Release Signer,O=Acme,ST=WA,C=US"


def openssl() -> str:
    """The openssl binary (a missing binary fails the test: softhsm-setup/debian-packages.txt)."""
    path = shutil.which("openssl")
    assert path, "openssl is required (softhsm-setup/debian-packages.txt)"
    return path


def venv_tool(name: str) -> str:
    """A console script installed beside this Python (pkilint's lint_pkix_cert, lint_crl)."""
    path = Path(sys.executable).parent / name
    assert path.exists(), f"{name} is required: pip install pkilint (pyproject's test extra)"
    return str(path)


def software_key(algorithm: str) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    """A private key like the one a token would generate for ``algorithm`` (hsm names)."""
    if algorithm == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "ecdsa-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if algorithm == "rsa-3072":
        return rsa.generate_private_key(65537, 3072)
    raise ValueError(algorithm)


def token_sign(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, data: bytes, hash_name: str) -> bytes:
    """Sign like a token and return the DER signature X.509 carries (ECDSA via raw r||s)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(der.HASH_NAMES[hash_name]())))
        size = (key.curve.key_size + 7) // 8
        raw = r.to_bytes(size, "big") + s.to_bytes(size, "big")
        return der.ecdsa_signature_der(raw, key.public_key())
    algorithm = der.HASH_NAMES[hash_name]()
    return key.sign(data, padding.PSS(padding.MGF1(algorithm), algorithm.digest_size), algorithm)


def make_csr(folder: Path, name: str, subject: str, *, key: str = "ec:P-256", digest: str = "sha256",
             extensions: tuple[str, ...] = ()) -> Path:
    """A CSR made by ``openssl req`` (key spec ``ec:<curve>`` or ``rsa:<bits>``), as a requester would."""
    folder.mkdir(parents=True, exist_ok=True)
    kind, _, param = key.partition(":")
    key_opts = (["-newkey", "ec", "-pkeyopt", f"ec_paramgen_curve:{param}"] if kind == "ec"
                else ["-newkey", f"rsa:{param}"])
    subj = "/" + "/".join(reversed(subject.split(",")))
    cmd = [openssl(), "req", "-new", *key_opts, "-nodes", "-keyout", str(folder / f"{name}.key"),
           "-out", str(folder / f"{name}.csr"), "-subj", subj, f"-{digest}"]
    for ext in extensions:
        cmd += ["-addext", ext]
    subprocess.run(cmd, check=True, capture_output=True)
    return folder / f"{name}.csr"


@dataclass
class SoftwareCa:
    """A CA whose key is in software but used like a token's; issues through the pure layer."""

    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    certificate: x509.Certificate
    issued: list[x509.Certificate] = field(default_factory=list)

    @property
    def hash_name(self) -> str:
        """The hash the token signs with for this key."""
        return der.hash_for_key(self.key.public_key())

    @classmethod
    def root(cls, algorithm: str, subject: str = ROOT_SUBJECT, path_length: int | None = 1) -> SoftwareCa:
        """A self-signed root, linted before signing and verified after."""
        key = software_key(algorithm)
        table: dict[str, object] = {"kind": "root", "subject": subject, "not_before": "2026-01-01T00:00:00Z",
                                    "not_after": "2036-01-01T00:00:00Z", "key_algorithm": algorithm}
        if path_length is not None:
            table["path_length"] = path_length
        prof = profile.parse_profile(table, "x509.root")
        public = key.public_key()
        tbs = profile.tbs_certificate(prof, public, prof.subject, public, profile.random_serial())
        lint.refuse_if_violations(tbs, "root")
        cert = x509.load_der_x509_certificate(
            profile.assemble_certificate(tbs, token_sign(key, tbs, der.hash_for_key(public))))
        profile.verify_issued(cert, cert)
        return cls(key, cert)

    def tbs_from_csr(self, info: CsrInfo, kind: str, subject: str, *, path_length: int | None = None,
                     serial: int | None = None) -> bytes:
        """The TBSCertificate for a CSR (requested extensions carried in), not yet linted."""
        table: dict[str, object] = {"kind": kind, "subject": subject, "not_before": "2026-01-01T00:00:00Z",
                                    "not_after": "2031-01-01T00:00:00Z"}
        if path_length is not None:
            table["path_length"] = path_length
        prof = profile.parse_profile(table, f"x509.{kind}")
        public = self.key.public_key()
        return profile.tbs_certificate(prof, info.public_key, self.certificate.subject, public,
                                       serial or profile.random_serial(), requested=info.extensions)

    def sign_tbs(self, tbs: bytes) -> x509.Certificate:
        """Sign a TBSCertificate like the token, splice, verify against this CA."""
        cert = x509.load_der_x509_certificate(profile.assemble_certificate(tbs, token_sign(self.key, tbs,
                                                                                         self.hash_name)))
        profile.verify_issued(cert, self.certificate)
        self.issued.append(cert)
        return cert

    def issue(self, csr: bytes, kind: str, subject: str, *, path_length: int | None = None) -> x509.Certificate:
        """Read the CSR, build, lint (refusing), sign, verify: one issuance through the pure layer."""
        info = read_csr(csr)
        tbs = self.tbs_from_csr(info, kind, subject, path_length=path_length)
        lint.refuse_if_violations(tbs, kind, issuer=self.certificate)
        return self.sign_tbs(tbs)

    def crl(self, revoked: list[tuple[int, datetime, str]], number: int) -> x509.CertificateRevocationList:
        """A CRL linted, signed like the token, verified."""
        tbs = x509_crl.tbs_crl(self.certificate.subject, self.key.public_key(), revoked,
                               datetime(2027, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC), number)
        lint.refuse_crl_if_violations(tbs, issuer=self.certificate)
        data = x509_crl.assemble_crl(tbs, token_sign(self.key, tbs, self.hash_name))
        x509_crl.verify_crl(data, self.certificate)
        return x509.load_der_x509_crl(data)


def pem(item: x509.Certificate | x509.CertificateRevocationList) -> bytes:
    """PEM bytes of a certificate or CRL."""
    return item.public_bytes(Encoding.PEM)


def hashes_for(name: str) -> hashes.HashAlgorithm:
    """A ``cryptography`` hash object by name."""
    return der.HASH_NAMES[name]()


def _code_signing_eku(_policy: object, _cert: x509.Certificate, value: x509.ExtensionType | None) -> None:
    assert isinstance(value, x509.ExtendedKeyUsage)
    if list(value) != [ExtendedKeyUsageOID.CODE_SIGNING]:
        raise ValueError("EKU must be codeSigning alone")


def _leaf_key_usage(_policy: object, _cert: x509.Certificate, value: x509.ExtensionType | None) -> None:
    assert isinstance(value, x509.KeyUsage)
    if not value.digital_signature or value.key_cert_sign or value.crl_sign:
        raise ValueError("keyUsage must be digitalSignature")


def _ca_key_usage(_policy: object, _cert: x509.Certificate, value: x509.ExtensionType | None) -> None:
    assert isinstance(value, x509.KeyUsage)
    if not value.key_cert_sign:
        raise ValueError("a CA's keyUsage must assert keyCertSign")


def code_signing_verifier(root: x509.Certificate) -> ClientVerifier:
    """cryptography's client verifier with a Notary Project code-signing extension policy."""
    ee = (ExtensionPolicy.permit_all()
          .require_present(x509.KeyUsage, Criticality.CRITICAL, _leaf_key_usage)
          .require_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _code_signing_eku))
    ca = (ExtensionPolicy.permit_all()
          .require_present(x509.BasicConstraints, Criticality.CRITICAL, None)
          .require_present(x509.KeyUsage, Criticality.CRITICAL, _ca_key_usage))
    return (PolicyBuilder().store(Store([root])).time(CHECK_TIME)
            .extension_policies(ca_policy=ca, ee_policy=ee).build_client_verifier())
