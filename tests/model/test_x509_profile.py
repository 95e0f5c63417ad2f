"""The plan side of the pure X.509 layer: profiles, CRL reasons and entries; each refusal's exact sentence.

Plan errors exit 2 (``PlanError``); what would reach a signature exits 3.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from asn1crypto import crl as asn1_crl
from cryptography import x509

from ceremony.errors import PlanError, VerificationError
from ceremony.formats.x509 import crl as x509_crl, der, lint, profile
from tests.support.x509_software_ca import ROOT_SUBJECT, SoftwareCa

BASE: dict[str, Any] = {"kind": "root", "subject": ROOT_SUBJECT, "not_before": "2026-01-01T00:00:00Z",
                        "not_after": "2036-01-01T00:00:00Z", "path_length": 1, "key_algorithm": "ecdsa-p384"}


def _plan_error(table: dict[str, Any], message: str) -> None:
    with pytest.raises(PlanError) as exc:
        profile.parse_profile(table, "x509.root")
    assert exc.value.message == message
    assert exc.value.exit_code == 2


def test_a_root_profile_parses_with_absolute_utc_times() -> None:
    prof = profile.parse_profile(BASE, "x509.root")
    assert prof == profile.CertProfile(kind="root", subject=ROOT_SUBJECT,
                                       not_before=datetime(2026, 1, 1, tzinfo=UTC),
                                       not_after=datetime(2036, 1, 1, tzinfo=UTC), path_length=1,
                                       key_algorithm="ecdsa-p384")
    toml_time = {**BASE, "not_before": datetime(2026, 1, 1, tzinfo=UTC)}  # what tomllib gives for ...Z
    assert profile.parse_profile(toml_time, "x509.root").not_before == prof.not_before


@pytest.mark.parametrize("change, message", [
    ({"kind": "ca"}, "x509.root.kind must be one of root, intermediate, leaf, not 'ca'"),
    ({"subject": ""}, 'x509.root.subject must be a distinguished name such as "CN=Acme Root CA,O=Acme,ST=WA,C=US"'),
    ({"subject": "CN=A+O=B"}, "x509.root.subject 'CN=A+O=B' has a multi-valued RDN ('+'); Notation refuses those"),
    ({"subject": "CN=A,CN=B"}, "x509.root.subject 'CN=A,CN=B' names CN twice; Notation needs each attribute once"),
    ({"not_before": "2026-01-01 00:00:00"},
     "x509.root.not_before must be an absolute UTC time such as 2026-01-01T00:00:00Z, not '2026-01-01 00:00:00'"),
    ({"not_before": datetime(2026, 1, 1)},
     "x509.root.not_before must be in UTC (end it with Z): a local time would mean another instant on another "
     "machine"),
    ({"not_after": datetime(2036, 1, 1, tzinfo=timezone(timedelta(hours=2)))},
     "x509.root.not_after must be in UTC (end it with Z): a local time would mean another instant on another "
     "machine"),
    ({"not_after": "2025-01-01T00:00:00Z"},
     "x509.root.not_after (2025-01-01T00:00:00Z) must be after x509.root.not_before (2026-01-01T00:00:00Z)"),
    ({"path_length": -1}, "x509.root.path_length must be an integer from 0 to 16"),
    ({"path_length": True}, "x509.root.path_length must be an integer from 0 to 16"),
    ({"key_algorithm": "rsa-2048"}, "x509.root.key_algorithm must be one of ecdsa-p256, ecdsa-p384, rsa-3072 "
                                    "(EC P-256/P-384 or RSA >= 3072), not 'rsa-2048'"),
    ({"key_algorithm": "ed25519"}, "x509.root.key_algorithm must be one of ecdsa-p256, ecdsa-p384, rsa-3072 "
                                   "(EC P-256/P-384 or RSA >= 3072), not 'ed25519'"),
    ({"validity": "10y"}, "unknown field x509.root.validity in the plan"),
])
def test_a_bad_profile_field_is_named(change: dict[str, Any], message: str) -> None:
    _plan_error({**BASE, **change}, message)


def test_missing_fields_and_misplaced_ones_are_named() -> None:
    _plan_error({k: v for k, v in BASE.items() if k != "not_after"}, "x509.root.not_after is required")
    _plan_error({k: v for k, v in BASE.items() if k != "key_algorithm"},
                "x509.root.key_algorithm is required for a root: one of ecdsa-p256, ecdsa-p384, rsa-3072")
    leaf = {**BASE, "kind": "leaf", "subject": "CN=Signer,O=Acme,ST=WA,C=US"}
    _plan_error({k: v for k, v in leaf.items() if k != "path_length"},
                "x509.root.key_algorithm applies to a root only: the key of an intermediate or leaf certificate "
                "comes from its CSR")
    _plan_error({k: v for k, v in leaf.items() if k != "key_algorithm"},
                "x509.root.path_length applies to a CA only, not to a leaf (RFC 5280 4.2.1.9)")


def test_a_leaf_subject_notation_cannot_match_is_refused_at_plan_time() -> None:
    _plan_error({"kind": "leaf", "subject": "CN=Signer,O=Acme", "not_before": "2026-01-01T00:00:00Z",
                 "not_after": "2027-01-01T00:00:00Z"},
                "x509.root.subject lacks C, ST: Notation matches a signing certificate only by a subject with C, "
                "ST and O (rule notation.leaf.subject)")


# --------------------------------------------------------------------------- CRLs


def test_reasons_are_rfc5280_names_and_remove_from_crl_is_refused() -> None:
    assert x509_crl.parse_reason("keyCompromise") == "keyCompromise"
    with pytest.raises(PlanError) as exc:
        x509_crl.parse_reason("key_compromise", "x509.revoke[0].reason")
    assert exc.value.message == (
        "x509.revoke[0].reason must be an RFC 5280 reason: unspecified, keyCompromise, cACompromise, "
        "affiliationChanged, superseded, cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise; "
        "not 'key_compromise'")
    with pytest.raises(PlanError) as exc:
        x509_crl.parse_reason("removeFromCRL", "x509.revoke[0].reason")
    assert exc.value.message.startswith("x509.revoke[0].reason removeFromCRL is for delta CRLs")


@pytest.fixture(scope="module")
def ca() -> SoftwareCa:
    return SoftwareCa.root("ecdsa-p256")


def _tbs_crl(ca: SoftwareCa, entries: list[tuple[int, datetime, str]], **kw: Any) -> bytes:
    args: dict[str, Any] = {"this_update": datetime(2027, 1, 1, tzinfo=UTC),
                            "next_update": datetime(2027, 2, 1, tzinfo=UTC), "crl_number": 3, **kw}
    return x509_crl.tbs_crl(ca.certificate.subject, ca.key.public_key(), entries, **args)


def test_an_unspecified_reason_writes_no_reason_code(ca: SoftwareCa) -> None:
    when = datetime(2026, 6, 1, tzinfo=UTC)
    crl = ca.crl([(11, when, "unspecified"), (12, when, "superseded")], 4)
    first, second = crl.get_revoked_certificate_by_serial_number(11), crl.get_revoked_certificate_by_serial_number(12)
    assert first is not None and second is not None
    assert len(first.extensions) == 0
    assert second.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.superseded


@pytest.mark.parametrize("entries, kw, message", [
    ([(5, datetime(2026, 6, 1, tzinfo=UTC), "superseded")] * 2, {}, "the serial 5 is listed twice in the CRL"),
    ([(0, datetime(2026, 6, 1, tzinfo=UTC), "superseded")], {},
     "the revoked serial 0 is not a certificate serial (positive, at most 20 octets)"),
    ([(5, datetime(2026, 6, 1, tzinfo=UTC), "bogus")], {},
     "the revocation reason must be an RFC 5280 reason: unspecified, keyCompromise, cACompromise, "
     "affiliationChanged, superseded, cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise; "
     "not 'bogus'"),
    ([], {"next_update": datetime(2026, 1, 1, tzinfo=UTC)}, "the CRL's nextUpdate must be after its thisUpdate"),
    ([], {"this_update": datetime(2027, 1, 1)}, "the CRL's thisUpdate has no time zone; give it in UTC"),
    ([], {"crl_number": -1}, "the CRL number must be a non-negative integer of at most 20 octets (RFC 5280 5.2.3)"),
])
def test_bad_crl_inputs_are_refused(ca: SoftwareCa, entries: list[tuple[int, datetime, str]], kw: dict[str, Any],
                                    message: str) -> None:
    with pytest.raises(VerificationError) as exc:
        _tbs_crl(ca, entries, **kw)
    assert (exc.value.message, exc.value.exit_code) == (message, 3)


def test_a_crl_signed_by_another_key_or_naming_another_issuer_is_refused(ca: SoftwareCa) -> None:
    other = SoftwareCa.root("ecdsa-p256", subject="CN=Other Root,O=Other,ST=WA,C=US")
    crl = other.crl([], 1)
    with pytest.raises(VerificationError) as exc:
        x509_crl.verify_crl(crl, ca.certificate)
    assert exc.value.message == ("the CRL's issuer 'CN=Other Root,O=Other,ST=WA,C=US' is not the CA's subject "
                                 "'CN=Acme Root CA,O=Acme,ST=WA,C=US'")
    # Same name, other key: the signature check catches it.
    impostor = SoftwareCa.root("ecdsa-p256")
    with pytest.raises(VerificationError) as exc:
        x509_crl.verify_crl(impostor.crl([], 1), ca.certificate)
    assert exc.value.message == "the signature on the CRL does not verify with the issuer's public key"


def test_a_certificate_from_another_ca_key_is_refused_after_signing(ca: SoftwareCa) -> None:
    impostor = SoftwareCa.root("ecdsa-p256")  # same subject, other key
    with pytest.raises(VerificationError) as exc:
        profile.verify_issued(impostor.certificate, ca.certificate)
    assert exc.value.message == ("the certificate's authority key identifier is not the CA's subject key "
                                 "identifier: it names another CA key")
    with pytest.raises(VerificationError) as exc:
        profile.verify_issued(impostor.certificate, ca.key.public_key())
    assert exc.value.message == "the signature on the certificate does not verify with the issuer's public key"


def test_a_token_signature_of_the_wrong_size_is_refused(ca: SoftwareCa) -> None:
    key = ca.key.public_key()
    assert isinstance(key, der.ec.EllipticCurvePublicKey)
    with pytest.raises(VerificationError) as exc:
        der.ecdsa_signature_der(b"\x01" * 63, key)
    assert exc.value.message == "the token returned a 63-byte ECDSA signature; raw r||s on secp256r1 is 64 bytes"


@pytest.mark.parametrize("data", [b"", b"\x30\x00", b"junk" * 10])
def test_garbage_tbs_is_refused_at_the_splice(data: bytes) -> None:
    with pytest.raises(VerificationError) as exc:
        profile.assemble_certificate(data, b"\x00")
    assert exc.value.message.startswith("the to-be-signed certificate is not valid DER (")
    with pytest.raises(VerificationError) as exc:
        x509_crl.assemble_crl(data, b"\x00")
    assert exc.value.message.startswith("the to-be-signed crl is not valid DER (")


@pytest.mark.parametrize("data", [b"", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", b"x" * 50])
def test_garbage_certificates_and_crls_are_verification_errors(data: bytes) -> None:
    with pytest.raises(VerificationError) as exc:
        profile.load_certificate(data)
    assert exc.value.message.startswith("the certificate is not an X.509 certificate (")
    with pytest.raises(VerificationError) as exc:
        x509_crl.load_crl(data)
    assert exc.value.message.startswith("the CRL is not an X.509 CRL (")


# --------------------------------------------------------------------------- CRL lint


def _edit_crl(tbs: bytes, edit: Any) -> bytes:
    parsed = asn1_crl.TbsCertList.load(tbs)
    edit(parsed)
    return bytes(parsed.dump(force=True))


def test_crls_this_layer_builds_lint_clean(ca: SoftwareCa) -> None:
    crl = ca.crl([(11, datetime(2026, 6, 1, tzinfo=UTC), "keyCompromise")], 2)
    assert lint.lint_crl(crl, issuer=ca.certificate) == []
    assert lint.lint_crl(_tbs_crl(ca, []), issuer=ca.certificate) == []


def test_a_crl_without_next_update_or_with_a_critical_number_is_refused_before_signing(ca: SoftwareCa) -> None:
    tbs = _tbs_crl(ca, [])

    def drop_next_update(t: Any) -> None:
        t["next_update"] = None

    def critical_number(t: Any) -> None:
        extensions = t["crl_extensions"]
        for ext in extensions:
            if ext["extn_id"].native == "crl_number":
                ext["critical"] = True
        t["crl_extensions"] = extensions

    with pytest.raises(VerificationError) as exc:
        lint.refuse_crl_if_violations(_edit_crl(tbs, drop_next_update), "number 3", issuer=ca.certificate)
    assert (exc.value.message, exc.value.exit_code) == (
        "the CRL number 3 breaks 1 rule: the CRL has no nextUpdate; conforming CAs MUST include it (RFC 5280 "
        "5.1.2.5), and status tracks it (rule rfc5280.crl.next_update)", 3)
    assert [str(v) for v in lint.lint_crl(_edit_crl(tbs, critical_number))] == [
        "the CRL's CRLNumber extension is marked critical; RFC 5280 5.2 defines it as non-critical "
        "(rule rfc5280.crl.critical)"]


def test_crl_entries_with_reason_unspecified_or_listed_twice_are_refused(ca: SoftwareCa) -> None:
    when = datetime(2026, 6, 1, tzinfo=UTC)
    tbs = _tbs_crl(ca, [(11, when, "superseded")])

    def unspecified_twice(t: Any) -> None:
        entries = t["revoked_certificates"]
        entry = entries[0]
        extensions = entry["crl_entry_extensions"]
        extensions[0]["extn_value"] = "unspecified"
        entry["crl_entry_extensions"] = extensions
        entries.append(asn1_crl.RevokedCertificate.load(entry.dump(force=True)))
        t["revoked_certificates"] = entries

    assert [v.rule for v in lint.lint_crl(_edit_crl(tbs, unspecified_twice))] == [
        "rfc5280.crl.reason", "rfc5280.crl.duplicate", "rfc5280.crl.reason"]


def test_a_crl_checked_against_another_ca_is_refused(ca: SoftwareCa) -> None:
    other = SoftwareCa.root("ecdsa-p256", subject="CN=Other Root,O=Other,ST=WA,C=US")
    assert [v.rule for v in lint.lint_crl(ca.crl([], 1), issuer=other.certificate)] == [
        "rfc5280.crl.issuer", "rfc5280.aki.match"]
    with pytest.raises(VerificationError) as exc:
        lint.lint_crl(b"nonsense")
    assert exc.value.message.startswith("the CRL to lint is neither a CRL nor a TBSCertList (")
