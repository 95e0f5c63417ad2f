"""The ceremony's own calls into the lint (``ceremony.formats.x509.ops``) pass the issuing CA, so
the CA's rules are judged before anyone signs a certificate or a CRL: the authority key
identifier must be the CA's, a CRL names the CA and is signed by a CA with cRLSign, and the
assembled certificate is linted again with its issuer. Each refusal is a VerificationError
(exit 3) naming the rule. The ones a plan can reach are also refused through the CLI with
nothing journaled (tests/e2e/test_x509_ceremony_refusals.py); these are the guards a plan cannot
reach because the builder fills them from the CA itself."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from ceremony.errors import EXIT_VERIFY, VerificationError
from ceremony.formats.x509 import ops
from tests.support.x509_software_ca import LEAF_SUBJECT, SoftwareCa, software_key

LEAF_PROFILE = {"kind": "leaf", "subject": LEAF_SUBJECT, "not_before": "2026-01-01T00:00:00Z",
                "not_after": "2031-01-01T00:00:00Z"}


def test_a_tbs_whose_authority_key_is_not_the_ca_key_is_refused() -> None:
    ca = SoftwareCa.root("ecdsa-p256")
    stranger = software_key("ecdsa-p256").public_key()  # AKI computed from another key than the CA's
    subject = software_key("ecdsa-p256").public_key()
    with pytest.raises(VerificationError) as e:
        ops.certificate_tbs(ops.parse_profile(LEAF_PROFILE, "x509.profile"), subject, ca.certificate.subject,
                            stranger, ops.random_serial(), "ecdsa-p256", (), ca.certificate)
    assert "(rule rfc5280.aki.match)" in e.value.message
    assert e.value.exit_code == EXIT_VERIFY == 3


def test_a_crl_naming_another_issuer_or_signed_by_a_ca_without_crl_sign_is_refused_before_signing() -> None:
    ca = SoftwareCa.root("ecdsa-p256")
    other = SoftwareCa.root("ecdsa-p256", subject="CN=Another Root,O=Acme,C=US")
    when = datetime(2027, 1, 1, tzinfo=UTC)
    entries = [(0x5A0C, when, "keyCompromise")]
    with pytest.raises(VerificationError) as e:  # the CRL names another CA than the one signing it
        ops.crl_tbs(other.certificate.subject, ca.key.public_key(), entries, when,
                    datetime(2027, 2, 1, tzinfo=UTC), 1, "ecdsa-p256", ca.certificate)
    assert "(rule rfc5280.crl.issuer)" in e.value.message and e.value.exit_code == 3

    leaf_key = software_key("ecdsa-p256")
    csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name.from_rfc4514_string(LEAF_SUBJECT))
           .sign(leaf_key, hashes.SHA256()).public_bytes(Encoding.PEM))
    leaf = ca.issue(csr, "leaf", LEAF_SUBJECT)  # digitalSignature only: no cRLSign
    with pytest.raises(VerificationError) as e:
        ops.crl_tbs(leaf.subject, leaf_key.public_key(), entries, when, datetime(2027, 2, 1, tzinfo=UTC), 1,
                    "ecdsa-p256", leaf)
    assert "(rule rfc5280.crl.signer)" in e.value.message and e.value.exit_code == 3


def test_the_assembled_certificate_is_linted_again_with_its_issuer() -> None:
    ca = SoftwareCa.root("ecdsa-p256", path_length=0)
    other = SoftwareCa.root("ecdsa-p256", subject="CN=Another Root,O=Acme,C=US")
    cert = ca.certificate.public_bytes(Encoding.DER)
    ops.lint_certificate(cert, "root")  # alone: a good root
    with pytest.raises(VerificationError) as e:  # as if the other root had issued it: not its name nor key
        ops.lint_certificate(cert, "intermediate", other.certificate)
    assert "(rule rfc5280.issuer.name)" in e.value.message and e.value.exit_code == 3
