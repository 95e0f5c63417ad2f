"""Root -> intermediate -> code-signing leaf through the pure X.509 layer, judged by outside tools.

A software key used like a token (tests/support/x509_software_ca.py) signs what the pure layer
builds; the CSRs are made by ``openssl req``. The judges are tools nobody here wrote:
``openssl verify`` (with ``-crl_check_all`` before and after the leaf is revoked),
``cryptography``'s ``PolicyBuilder`` client verifier with a code-signing extension policy, and
``pkilint`` (``lint_pkix_cert`` / ``lint_crl``) on every certificate and CRL, with no finding at
ERROR level or above. Each root algorithm a token makes here (P-256, P-384, RSA-3072) is run.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.verification import (
    VerificationError as ChainError,
)

from ceremony.formats.x509 import lint
from ceremony.formats.x509.csr import read_csr
from tests.support.x509_software_ca import (
    CHECK_TIME,
    INTERMEDIATE_SUBJECT,
    LEAF_SUBJECT,
    SoftwareCa,
    code_signing_verifier,
    hashes_for,
    make_csr,
    openssl,
    pem,
    venv_tool,
)

ALGORITHMS = ("ecdsa-p256", "ecdsa-p384", "rsa-3072")


@dataclass
class Pki:
    """One built chain and its files."""

    folder: Path
    root: SoftwareCa
    intermediate: SoftwareCa
    leaf: x509.Certificate
    crl_root: x509.CertificateRevocationList
    crl_before: x509.CertificateRevocationList
    crl_after: x509.CertificateRevocationList

    def path(self, name: str) -> str:
        return str(self.folder / name)


@pytest.fixture(scope="module", params=ALGORITHMS)
def pki(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp(f"pki-{request.param}")
    root = SoftwareCa.root(request.param)
    inter_csr = make_csr(folder / "req", "intermediate", INTERMEDIATE_SUBJECT, key="ec:P-384")
    inter_cert = root.issue(inter_csr.read_bytes(), "intermediate", INTERMEDIATE_SUBJECT, path_length=0)
    # The intermediate's key was made by openssl: load it to sign like its token would.
    inter_key = load_pem_private_key((folder / "req" / "intermediate.key").read_bytes(), None)
    intermediate = SoftwareCa(inter_key, inter_cert)  # type: ignore[arg-type]
    leaf_csr = make_csr(folder / "req", "leaf", LEAF_SUBJECT, key="rsa:2048",
                        extensions=("extendedKeyUsage=codeSigning",))
    leaf = intermediate.issue(leaf_csr.read_bytes(), "leaf", LEAF_SUBJECT)
    crl_root = root.crl([], 1)
    crl_before = intermediate.crl([], 1)
    crl_after = intermediate.crl([(leaf.serial_number, datetime(2026, 12, 1, tzinfo=UTC), "keyCompromise")], 2)
    files = {"root.pem": pem(root.certificate), "intermediate.pem": pem(inter_cert), "leaf.pem": pem(leaf),
             "crl-root.pem": pem(crl_root), "crl-before.pem": pem(crl_before), "crl-after.pem": pem(crl_after)}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return Pki(folder, root, intermediate, leaf, crl_root, crl_before, crl_after)


def _verify(pki: Pki, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([openssl(), "verify", "-x509_strict", "-attime", str(int(CHECK_TIME.timestamp())),
                           "-CAfile", pki.path("root.pem"), "-untrusted", pki.path("intermediate.pem"),
                           *extra, pki.path("leaf.pem")], capture_output=True, text=True)


def test_openssl_verifies_the_chain(pki: Pki) -> None:
    result = _verify(pki)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{pki.path('leaf.pem')}: OK"


def test_openssl_crl_check_passes_before_and_fails_after_the_revocation(pki: Pki) -> None:
    root_crl = ("-CRLfile", pki.path("crl-root.pem"))
    before = _verify(pki, "-crl_check_all", *root_crl, "-CRLfile", pki.path("crl-before.pem"))
    assert before.returncode == 0, before.stderr
    after = _verify(pki, "-crl_check_all", *root_crl, "-CRLfile", pki.path("crl-after.pem"))
    assert after.returncode != 0
    assert "error 23 at 0 depth lookup: certificate revoked" in after.stderr


def test_cryptography_client_verifier_with_a_code_signing_policy_accepts_the_chain(pki: Pki) -> None:
    verifier = code_signing_verifier(pki.root.certificate)
    verified = verifier.verify(pki.leaf, [pki.intermediate.certificate])
    assert verified.chain == [pki.leaf, pki.intermediate.certificate, pki.root.certificate]


def test_the_verifier_policy_bites_on_a_server_auth_leaf_that_lint_refused(pki: Pki, tmp_path: Path) -> None:
    # Built past lint on purpose (sign_tbs skips it), to show both judges refuse the same leaf.
    info_csr = make_csr(tmp_path, "server", LEAF_SUBJECT, extensions=("extendedKeyUsage=serverAuth",))
    tbs = pki.intermediate.tbs_from_csr(read_csr(info_csr.read_bytes()), "leaf", LEAF_SUBJECT)
    assert [v.rule for v in lint.lint(tbs, "leaf")] == ["notary.leaf.eku"]
    bad = pki.intermediate.sign_tbs(tbs)
    verifier = code_signing_verifier(pki.root.certificate)
    with pytest.raises(ChainError, match="EKU must be codeSigning alone"):
        verifier.verify(bad, [pki.intermediate.certificate])


@pytest.mark.parametrize("name", ["root.pem", "intermediate.pem", "leaf.pem"])
def test_pkilint_finds_no_error_in_any_certificate(pki: Pki, name: str) -> None:
    result = subprocess.run([venv_tool("lint_pkix_cert"), "lint", "-s", "ERROR", pki.path(name)],
                            capture_output=True, text=True)
    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, "", "")


@pytest.mark.parametrize("name", ["crl-root.pem", "crl-before.pem", "crl-after.pem"])
def test_pkilint_finds_no_error_in_any_crl(pki: Pki, name: str) -> None:
    result = subprocess.run([venv_tool("lint_crl"), "lint", "-t", "CRL", "-p", "PKIX", "-s", "ERROR", pki.path(name)],
                            capture_output=True, text=True)
    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, "", "")


def test_every_certificate_passes_our_own_lint_after_signing(pki: Pki) -> None:
    assert lint.lint(pki.root.certificate, "root") == []
    assert lint.lint(pki.intermediate.certificate, "intermediate") == []
    assert lint.lint(pki.leaf, "leaf") == []


def test_the_crl_lists_the_revoked_leaf_with_its_reason(pki: Pki) -> None:
    entry = pki.crl_after.get_revoked_certificate_by_serial_number(pki.leaf.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    assert pki.crl_before.get_revoked_certificate_by_serial_number(pki.leaf.serial_number) is None
    assert pki.crl_after.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2


def test_pkilint_does_report_an_error_when_there_is_one(pki: Pki, tmp_path: Path) -> None:
    # The judge can say no: a CA certificate without keyUsage and SKI, built past our lint.
    from_csr = read_csr(make_csr(tmp_path, "bare", INTERMEDIATE_SUBJECT).read_bytes())
    tbs = pki.root.tbs_from_csr(from_csr, "intermediate", INTERMEDIATE_SUBJECT)
    rebuilt = (x509.CertificateBuilder().subject_name(lint.as_certificate(tbs).subject)
               .issuer_name(pki.root.certificate.subject).public_key(from_csr.public_key).serial_number(7)
               .not_valid_before(datetime(2026, 1, 1)).not_valid_after(datetime(2027, 1, 1)))
    for ext in lint.as_certificate(tbs).extensions:
        if isinstance(ext.value, x509.BasicConstraints | x509.AuthorityKeyIdentifier):
            rebuilt = rebuilt.add_extension(ext.value, ext.critical)
    bad = rebuilt.sign(pki.root.key, hashes_for(pki.root.hash_name))
    assert [v.rule for v in lint.lint(bad, "intermediate")] == ["rfc5280.ski", "notary.ca.key_usage"]
    (tmp_path / "bad.pem").write_bytes(pem(bad))
    result = subprocess.run([venv_tool("lint_pkix_cert"), "lint", "-s", "ERROR", str(tmp_path / "bad.pem")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "pkix.certificate_skid_ca_missing (ERROR)" in result.stdout
    assert "pkix.ca_certificate_no_ku_extension (ERROR)" in result.stdout
