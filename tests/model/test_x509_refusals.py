"""Every bad input the pure X.509 layer names: refused with its exact sentence, rule and exit code.

CSRs are made by ``openssl req`` as a requester would (tests/support/x509_software_ca.py). A
refusal here means nothing reaches the CA key: lint runs on the TBSCertificate, before any
signature, and ``read_csr`` runs before any TBS is built.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
from asn1crypto import algos, x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given, settings, strategies as st

from ceremony.errors import VerificationError
from ceremony.formats.x509 import der, lint, profile
from ceremony.formats.x509.csr import MAX_CSR_BYTES, read_csr
from tests.support.x509_software_ca import INTERMEDIATE_SUBJECT, LEAF_SUBJECT, SoftwareCa, make_csr, openssl

HINT = "nothing was signed; fix the plan or ask for a new CSR"


@pytest.fixture(scope="module")
def root() -> SoftwareCa:
    return SoftwareCa.root("ecdsa-p256")


def _refused(exc: pytest.ExceptionInfo[VerificationError], message: str) -> None:
    assert exc.value.message == message
    assert exc.value.exit_code == 3


def _leaf_tbs(root: SoftwareCa, tmp_path: Path, *extensions: str, kind: str = "leaf") -> bytes:
    subject = LEAF_SUBJECT if kind == "leaf" else INTERMEDIATE_SUBJECT
    csr = make_csr(tmp_path, "req", subject, extensions=extensions)
    return root.tbs_from_csr(read_csr(csr.read_bytes()), kind, subject)


# --------------------------------------------------------------------------- lint, before signing


def test_a_csr_asking_for_server_auth_is_refused_with_the_rule(root: SoftwareCa, tmp_path: Path) -> None:
    tbs = _leaf_tbs(root, tmp_path, "extendedKeyUsage=serverAuth")
    with pytest.raises(VerificationError) as exc:
        lint.refuse_if_violations(tbs, "leaf")
    _refused(exc, "the leaf certificate breaks 1 rule: a code-signing certificate must not carry the extended "
                  "key usage serverAuth; only codeSigning (or no EKU) is allowed (rule notary.leaf.eku)")
    assert exc.value.hint == HINT


@pytest.mark.parametrize("eku, name", [
    ("anyExtendedKeyUsage", "anyExtendedKeyUsage"), ("clientAuth", "clientAuth"),
    ("emailProtection", "emailProtection"), ("timeStamping", "timeStamping"),
    ("codeSigning,serverAuth", "serverAuth"),
])
def test_every_forbidden_leaf_eku_is_refused(root: SoftwareCa, tmp_path: Path, eku: str, name: str) -> None:
    tbs = _leaf_tbs(root, tmp_path, f"extendedKeyUsage={eku}")
    with pytest.raises(VerificationError) as exc:
        lint.refuse_if_violations(tbs, "leaf")
    _refused(exc, f"the leaf certificate breaks 1 rule: a code-signing certificate must not carry the extended "
                  f"key usage {name}; only codeSigning (or no EKU) is allowed (rule notary.leaf.eku)")


def test_a_leaf_eku_other_than_code_signing_is_refused(root: SoftwareCa, tmp_path: Path) -> None:
    tbs = _leaf_tbs(root, tmp_path, "extendedKeyUsage=codeSigning,OCSPSigning")
    assert [str(v) for v in lint.lint(tbs, "leaf")] == [
        "a code-signing certificate's extended key usage must be codeSigning alone (or absent) "
        "(rule notary.leaf.eku)"]


def test_a_leaf_with_key_cert_sign_is_refused(root: SoftwareCa, tmp_path: Path) -> None:
    tbs = _leaf_tbs(root, tmp_path, "keyUsage=critical,digitalSignature,keyCertSign")
    with pytest.raises(VerificationError) as exc:
        lint.refuse_if_violations(tbs, "leaf")
    _refused(exc, "the leaf certificate breaks 1 rule: a code-signing certificate must not assert keyCertSign "
                  "or cRLSign: it could sign certificates (rule notary.leaf.key_cert_sign)")


def test_a_leaf_key_usage_beyond_digital_signature_or_not_critical_is_refused(root: SoftwareCa,
                                                                              tmp_path: Path) -> None:
    tbs = _leaf_tbs(root, tmp_path, "keyUsage=digitalSignature,keyEncipherment")
    assert [str(v) for v in lint.lint(tbs, "leaf")] == [
        "a code-signing certificate's keyUsage must be marked critical (rule notary.leaf.key_usage)",
        "a code-signing certificate's keyUsage must be digitalSignature only, not also keyEncipherment "
        "(rule notary.leaf.key_usage)"]


def test_a_leaf_asking_to_be_a_ca_is_refused(root: SoftwareCa, tmp_path: Path) -> None:
    tbs = _leaf_tbs(root, tmp_path, "basicConstraints=critical,CA:TRUE")
    assert [v.rule for v in lint.lint(tbs, "leaf")] == ["notary.leaf.basic_constraints"]


def test_a_ca_without_critical_key_usage_is_refused(root: SoftwareCa, tmp_path: Path) -> None:
    tbs = _leaf_tbs(root, tmp_path, "keyUsage=keyCertSign,cRLSign", kind="intermediate")
    with pytest.raises(VerificationError) as exc:
        lint.refuse_if_violations(tbs, "intermediate")
    _refused(exc, "the intermediate certificate breaks 1 rule: a CA certificate's keyUsage must be marked "
                  "critical (rule notary.ca.key_usage)")


def test_a_ca_without_key_cert_sign_or_critical_ca_basic_constraints_is_refused(root: SoftwareCa,
                                                                                 tmp_path: Path) -> None:
    tbs = _leaf_tbs(root, tmp_path, "keyUsage=critical,digitalSignature", "basicConstraints=CA:TRUE",
                    kind="intermediate")
    with pytest.raises(VerificationError) as exc:
        lint.refuse_if_violations(tbs, "intermediate", "Acme Signing CA")
    _refused(exc, "the intermediate certificate Acme Signing CA breaks 2 rules: a CA certificate needs "
                  "basicConstraints marked critical with cA true (rule notary.ca.basic_constraints); a CA "
                  "certificate's keyUsage must assert keyCertSign (rule notary.ca.key_usage)")


def test_a_root_key_below_rsa_3072_is_refused(tmp_path: Path) -> None:
    key = rsa.generate_private_key(65537, 2048)
    prof = profile.parse_profile({"kind": "root", "subject": "CN=R,O=A,ST=WA,C=US", "not_before":
                                  "2026-01-01T00:00:00Z", "not_after": "2030-01-01T00:00:00Z",
                                  "key_algorithm": "rsa-3072"}, "x509.root")
    tbs = profile.tbs_certificate(prof, key.public_key(), prof.subject, key.public_key(), 5)
    assert [str(v) for v in lint.lint(tbs, "root")] == [
        "the root's key is RSA-2048; a root CA key here is EC P-256/P-384 or RSA of at least 3072 bits "
        "(rule ceremony.root.key)"]


def test_a_sha1_signature_algorithm_is_refused_by_lint(root: SoftwareCa, tmp_path: Path) -> None:
    # cryptography will not sign with SHA-1, so announce it in the TBS the way a forger would.
    tbs = der.with_signature_algorithm(_leaf_tbs(root, tmp_path), algos.SignedDigestAlgorithm(
        {"algorithm": "sha1_ecdsa"}), "certificate")
    with pytest.raises(VerificationError) as exc:
        lint.refuse_if_violations(tbs, "leaf")
    _refused(exc, "the leaf certificate breaks 1 rule: the signature algorithm uses SHA-1, which the Notary "
                  "Project refuses (rule notary.signature.sha1)")


def test_lint_of_garbage_is_a_verification_error_not_a_traceback() -> None:
    with pytest.raises(VerificationError) as exc:
        lint.lint(b"\x30\x03\x02\x01\x01 not a certificate", "leaf")
    assert exc.value.message.startswith("the certificate to lint is neither a certificate nor a TBSCertificate (")
    assert exc.value.exit_code == 3


def test_serials_outside_rfc5280_are_refused(root: SoftwareCa) -> None:
    prof = profile.parse_profile({"kind": "leaf", "subject": LEAF_SUBJECT, "not_before": "2026-01-01T00:00:00Z",
                                  "not_after": "2027-01-01T00:00:00Z"}, "x509.leaf")
    key = root.key.public_key()
    for serial in (0, -1, 2**159):
        with pytest.raises(VerificationError) as exc:
            profile.tbs_certificate(prof, key, root.certificate.subject, key, serial)
        _refused(exc, "the serial number must be positive and at most 20 octets (RFC 5280 4.1.2.2)")


# --------------------------------------------------------------------------- CSRs


def test_an_rsa_1024_csr_is_refused(tmp_path: Path) -> None:
    csr = make_csr(tmp_path, "weak", LEAF_SUBJECT, key="rsa:1024")
    with pytest.raises(VerificationError) as exc:
        read_csr(csr.read_bytes())
    _refused(exc, "the CSR's key is RSA-1024; the Notary Project requires RSA of at least 2048 bits "
                  "(rule notary.key.size)")
    assert exc.value.hint == "ask the requester for a new CSR with an RSA-3072 or EC P-256 key"


def test_a_sha1_csr_is_refused(tmp_path: Path) -> None:
    csr = make_csr(tmp_path, "sha1", LEAF_SUBJECT, digest="sha1")
    with pytest.raises(VerificationError) as exc:
        read_csr(csr.read_bytes())
    _refused(exc, "the CSR is signed with SHA-1, which the Notary Project refuses (rule notary.signature.sha1)")


def test_a_csr_whose_signature_does_not_verify_is_refused(tmp_path: Path) -> None:
    csr = x509.load_pem_x509_csr(make_csr(tmp_path, "ok", LEAF_SUBJECT).read_bytes())
    data = bytearray(csr.public_bytes(Encoding.DER))
    # Change one byte of the signed subject (the "Acme" in O=Acme): same length, valid DER.
    at = data.index(b"Acme")
    data[at] = ord("B")
    with pytest.raises(VerificationError) as exc:
        read_csr(bytes(data))
    _refused(exc, "the CSR's own signature does not verify: it was altered, or not made by the key it carries "
                  "(rule csr.signature)")


def test_a_csr_on_a_curve_outside_the_notary_project_is_refused(tmp_path: Path) -> None:
    csr = make_csr(tmp_path, "k1", LEAF_SUBJECT, key="ec:secp256k1")
    with pytest.raises(VerificationError) as exc:
        read_csr(csr.read_bytes())
    _refused(exc, "the CSR's key is on the curve secp256k1; the Notary Project requires P-256, P-384 or P-521 "
                  "(rule notary.key.size)")


def test_an_ed25519_csr_is_refused() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name.from_rfc4514_string(LEAF_SUBJECT))
           .sign(key, None))
    with pytest.raises(VerificationError) as exc:
        read_csr(csr.public_bytes(Encoding.PEM))
    _refused(exc, "the CSR's key is Ed25519; the Notary Project allows RSA and ECDSA keys only "
                  "(rule notary.key.type)")


def test_a_good_csr_is_read_with_its_requested_extensions(tmp_path: Path) -> None:
    csr = make_csr(tmp_path, "ok", LEAF_SUBJECT, key="ec:P-384", extensions=("extendedKeyUsage=codeSigning",))
    info = read_csr(csr.read_bytes())
    assert info.key_description == "EC P-384"
    assert info.signature_hash == "sha256"
    assert info.subject.rfc4514_string() == LEAF_SUBJECT
    assert [e.oid for e in info.extensions] == [x509.ExtensionOID.EXTENDED_KEY_USAGE]
    assert read_csr(info.der) == info  # DER in, same answer


@pytest.mark.parametrize("data, message", [
    (b"", "the CSR is empty"),
    (b" \n\t", "the CSR is empty"),
    (b"x" * (MAX_CSR_BYTES + 1), f"the CSR is {MAX_CSR_BYTES + 1} bytes; a certificate request is at most "
                                 f"{MAX_CSR_BYTES} bytes: this is not one"),
    (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
     "the CSR is PEM but not a CERTIFICATE REQUEST block (or its base64 is damaged)"),
    (b"-----BEGIN CERTIFICATE REQUEST-----\nA$AA\n-----END CERTIFICATE REQUEST-----\n",
     "the CSR is PEM but not a CERTIFICATE REQUEST block (or its base64 is damaged)"),
    (b"-----BEGIN CERTIFICATE REQUEST-----\nAAA\n-----END CERTIFICATE REQUEST-----\n",
     "the CSR's PEM base64 is damaged"),
])
def test_garbage_and_oversize_csrs_are_refused_with_their_sentence(data: bytes, message: str) -> None:
    with pytest.raises(VerificationError) as exc:
        read_csr(data)
    _refused(exc, message)


def test_two_csrs_in_one_file_or_bytes_after_the_der_are_refused(tmp_path: Path) -> None:
    one = make_csr(tmp_path, "a", LEAF_SUBJECT).read_bytes()
    with pytest.raises(VerificationError) as exc:
        read_csr(one + one)
    _refused(exc, "the CSR file holds 2 certificate requests; give exactly one")
    der = x509.load_pem_x509_csr(one).public_bytes(Encoding.DER)
    with pytest.raises(VerificationError) as exc:
        read_csr(der + b"\x00")
    assert exc.value.exit_code == 3


def test_random_bytes_are_not_a_csr(tmp_path: Path) -> None:
    with pytest.raises(VerificationError) as exc:
        read_csr(b"\x30\x82\x01\x00" + bytes(range(200)))
    assert exc.value.message.startswith("the CSR is not a PKCS#10 certificate request (")
    pem = b"-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(b"garbage" * 10) + \
        b"-----END CERTIFICATE REQUEST-----\n"
    with pytest.raises(VerificationError) as exc:
        read_csr(pem)
    assert exc.value.message.startswith("the CSR is not a PKCS#10 certificate request (")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_give_a_verification_error_or_a_csr_never_a_traceback(data: bytes) -> None:
    try:
        read_csr(data)
    except VerificationError as e:
        assert e.exit_code == 3 and e.message


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_given_to_lint_give_a_verification_error_never_a_traceback(data: bytes) -> None:
    try:
        lint.lint(data, "leaf")
    except VerificationError as e:
        assert e.exit_code == 3 and e.message


# --------------------------------------------------------------------------- RFC 5280 encodings


def _edit_tbs(tbs: bytes, **fields: object) -> bytes:
    parsed = asn1_x509.TbsCertificate.load(tbs)
    for name, value in fields.items():
        parsed[name] = value
    return bytes(parsed.dump(force=True))


def test_time_encodings_follow_rfc5280_and_a_wrong_one_is_refused(root: SoftwareCa, tmp_path: Path) -> None:
    info = read_csr(make_csr(tmp_path, "req", LEAF_SUBJECT).read_bytes())
    prof = profile.parse_profile({"kind": "leaf", "subject": LEAF_SUBJECT, "not_before": "2026-01-01T00:00:00Z",
                                  "not_after": "2051-01-01T00:00:00Z"}, "x509.leaf")
    key = root.key.public_key()
    tbs = profile.tbs_certificate(prof, info.public_key, root.certificate.subject, key, 8)
    assert lint.lint(tbs, "leaf") == []  # 2051 as GeneralizedTime, 2026 as UTCTime
    validity = asn1_x509.Validity({"not_before": asn1_x509.Time(name="general_time", value=prof.not_before),
                                   "not_after": asn1_x509.Time(name="general_time", value=prof.not_after)})
    assert [str(v) for v in lint.lint(_edit_tbs(tbs, validity=validity), "leaf")] == [
        "notBefore (2026) is encoded as general_time; RFC 5280 4.1.2.5 requires UTCTime through 2049 "
        "(rule rfc5280.validity.encoding)"]


def test_unique_identifiers_are_refused(root: SoftwareCa, tmp_path: Path) -> None:
    tbs = _edit_tbs(_leaf_tbs(root, tmp_path), subject_unique_id=b"\x01\x02")
    assert [v.rule for v in lint.lint(tbs, "leaf")] == ["rfc5280.unique_id"]


def test_a_critical_key_identifier_is_refused(root: SoftwareCa, tmp_path: Path) -> None:
    tbs = asn1_x509.TbsCertificate.load(_leaf_tbs(root, tmp_path))
    extensions = tbs["extensions"]
    for ext in extensions:
        if ext["extn_id"].native == "key_identifier":
            ext["critical"] = True
    tbs["extensions"] = extensions
    assert [str(v) for v in lint.lint(bytes(tbs.dump(force=True)), "leaf")] == [
        "the subject key identifier is marked critical; RFC 5280 4.2.1.1/4.2.1.2 say it MUST NOT be "
        "(rule rfc5280.key_identifier.critical)"]


def test_a_certificate_whose_two_algorithm_fields_differ_is_refused(root: SoftwareCa, tmp_path: Path) -> None:
    tbs = _leaf_tbs(root, tmp_path)
    cert = asn1_x509.Certificate.load(profile.assemble_certificate(tbs, b"\x00"))
    cert["signature_algorithm"] = algos.SignedDigestAlgorithm({"algorithm": "sha384_ecdsa"})
    parsed = x509.load_der_x509_certificate(bytes(cert.dump(force=True)))
    assert "rfc5280.signature.match" in [v.rule for v in lint.lint(parsed, "leaf")]


def test_a_csr_after_openssl_text_output_is_read(tmp_path: Path) -> None:
    csr = make_csr(tmp_path, "text", LEAF_SUBJECT)
    described = subprocess.run([openssl(), "req", "-in", str(csr), "-text"], check=True, capture_output=True).stdout
    assert not described.startswith(b"-----BEGIN")
    assert read_csr(described).subject.rfc4514_string() == LEAF_SUBJECT
