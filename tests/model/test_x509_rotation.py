"""Rotation: a new root CA cross-signed by the old one, and what lint says between issuer and issued.

Verifiers that trust only the old root reach a leaf under the new root through the
cross-certificate; verifiers that trust the new root need nothing else. Judged by
``openssl verify``, ``cryptography``'s client verifier and ``pkilint``.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from ceremony.errors import VerificationError
from ceremony.formats.x509 import lint, profile
from ceremony.formats.x509.csr import read_csr
from tests.support.x509_software_ca import (
    CHECK_TIME,
    INTERMEDIATE_SUBJECT,
    LEAF_SUBJECT,
    SoftwareCa,
    code_signing_verifier,
    make_csr,
    openssl,
    pem,
    venv_tool,
)

NEW_ROOT = "CN=Acme Root CA 2,O=Acme,ST=WA,C=US"


def _cross(old: SoftwareCa, new: SoftwareCa) -> x509.Certificate:
    tbs = profile.cross_certificate_tbs(new.certificate, old.certificate, profile.random_serial())
    lint.refuse_if_violations(tbs, "intermediate", "cross-signing the new root", issuer=old.certificate)
    return old.sign_tbs(tbs)


def test_a_leaf_under_the_new_root_verifies_from_the_old_root_through_the_cross_certificate(tmp_path: Path) -> None:
    old = SoftwareCa.root("ecdsa-p256", path_length=None)
    new = SoftwareCa.root("ecdsa-p384", subject=NEW_ROOT, path_length=1)
    cross = _cross(old, new)
    assert (cross.subject, cross.public_key(), cross.issuer) == (new.certificate.subject,
                                                                  new.certificate.public_key(), old.certificate.subject)
    inter_cert = new.issue(make_csr(tmp_path, "i", INTERMEDIATE_SUBJECT).read_bytes(), "intermediate",
                           INTERMEDIATE_SUBJECT, path_length=0)
    inter = SoftwareCa(load_pem_private_key((tmp_path / "i.key").read_bytes(), None), inter_cert)  # type: ignore[arg-type]
    leaf = inter.issue(make_csr(tmp_path, "l", LEAF_SUBJECT).read_bytes(), "leaf", LEAF_SUBJECT)
    files = {"old.pem": old.certificate, "new.pem": new.certificate, "cross.pem": cross, "inter.pem": inter_cert,
             "leaf.pem": leaf}
    for name, cert in files.items():
        (tmp_path / name).write_bytes(pem(cert))
    (tmp_path / "untrusted.pem").write_bytes(pem(cross) + pem(inter_cert))
    at = ["-attime", str(int(CHECK_TIME.timestamp()))]
    for anchor, untrusted in (("old.pem", "untrusted.pem"), ("new.pem", "inter.pem")):
        result = subprocess.run([openssl(), "verify", "-x509_strict", *at, "-CAfile", str(tmp_path / anchor),
                                 "-untrusted", str(tmp_path / untrusted), str(tmp_path / "leaf.pem")],
                                capture_output=True, text=True)
        assert (result.returncode, result.stdout.strip()) == (0, f"{tmp_path / 'leaf.pem'}: OK"), result.stderr
    verified = code_signing_verifier(old.certificate).verify(leaf, [cross, inter_cert])
    assert verified.chain == [leaf, inter_cert, cross, old.certificate]
    result = subprocess.run([venv_tool("lint_pkix_cert"), "lint", "-s", "ERROR", str(tmp_path / "cross.pem")],
                            capture_output=True, text=True)
    assert (result.returncode, result.stdout.strip()) == (0, "")


def test_an_old_root_whose_path_length_leaves_no_room_is_refused_before_cross_signing() -> None:
    old = SoftwareCa.root("ecdsa-p256", path_length=1)
    new = SoftwareCa.root("ecdsa-p256", subject=NEW_ROOT, path_length=1)
    tbs = profile.cross_certificate_tbs(new.certificate, old.certificate, 77)
    with pytest.raises(VerificationError) as exc:
        lint.refuse_if_violations(tbs, "intermediate", "cross-signing the new root", issuer=old.certificate)
    assert (exc.value.message, exc.value.exit_code) == (
        "the intermediate certificate cross-signing the new root breaks 1 rule: the signing CA allows 1 CA(s) "
        "below it, so this CA's pathLenConstraint must be at most 0 (rule ceremony.path_length.nested)", 3)


def test_a_ca_with_path_length_zero_cannot_issue_another_ca(tmp_path: Path) -> None:
    root = SoftwareCa.root("ecdsa-p256", path_length=0)
    tbs = root.tbs_from_csr(read_csr(make_csr(tmp_path, "i", INTERMEDIATE_SUBJECT).read_bytes()), "intermediate",
                            INTERMEDIATE_SUBJECT)
    with pytest.raises(VerificationError) as exc:
        lint.refuse_if_violations(tbs, "intermediate", issuer=root.certificate)
    assert exc.value.message == (
        "the intermediate certificate breaks 1 rule: the signing CA's pathLenConstraint is 0: it may issue leaf "
        "certificates only, not another CA (rule rfc5280.issuer.path_length)")


def test_a_certificate_outliving_its_ca_or_naming_another_issuer_is_refused(tmp_path: Path) -> None:
    root = SoftwareCa.root("ecdsa-p256")
    other = SoftwareCa.root("ecdsa-p256", subject="CN=Other Root,O=Other,ST=WA,C=US")
    info = read_csr(make_csr(tmp_path, "l", LEAF_SUBJECT).read_bytes())
    prof = profile.parse_profile({"kind": "leaf", "subject": LEAF_SUBJECT, "not_before": "2026-01-01T00:00:00Z",
                                  "not_after": "2040-01-01T00:00:00Z"}, "x509.leaf")
    tbs = profile.tbs_certificate(prof, info.public_key, root.certificate.subject, root.key.public_key(), 5)
    assert [str(v) for v in lint.lint(tbs, "leaf", issuer=root.certificate)] == [
        "the validity 2026-01-01 .. 2040-01-01 is not inside the signing CA's 2026-01-01 .. 2036-01-01: the chain "
        "would fail verification in the difference (rule ceremony.validity.nested)"]
    assert [v.rule for v in lint.lint(tbs, "leaf", issuer=other.certificate)] == [
        "rfc5280.issuer.name", "ceremony.validity.nested", "rfc5280.aki.match"]


def test_a_leaf_cannot_sign(tmp_path: Path) -> None:
    root = SoftwareCa.root("ecdsa-p256")
    leaf_ca = SoftwareCa(root.key, root.issue(make_csr(tmp_path, "l", LEAF_SUBJECT).read_bytes(), "leaf",
                                              LEAF_SUBJECT))
    tbs = leaf_ca.tbs_from_csr(read_csr(make_csr(tmp_path, "x", LEAF_SUBJECT).read_bytes()), "leaf", LEAF_SUBJECT)
    assert "rfc5280.issuer.ca" in [v.rule for v in lint.lint(tbs, "leaf", issuer=leaf_ca.certificate)]


def test_roots_that_never_overlap_cannot_be_cross_signed() -> None:
    old = SoftwareCa.root("ecdsa-p256", path_length=None)
    new = SoftwareCa.root("ecdsa-p256", subject=NEW_ROOT)
    with pytest.raises(VerificationError) as exc:
        profile.cross_certificate_tbs(new.certificate, old.certificate, 9,
                                      not_after=datetime(2025, 1, 1, tzinfo=UTC))
    assert exc.value.message == "the old and the new root are never valid at the same time: nothing to cross-sign"
