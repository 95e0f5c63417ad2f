"""M-of-N approval of every CA signature: the statement, its words, and the threshold check.

Approvers' keys are real SoftHSM tokens (``TokenKey.sign_raw``, as in the ceremony), so the
statement's verification is proven against what tokens actually return (ECDSA r||s, Ed25519,
RSA-PSS). Refusals: an approval over another digest / CA / ceremony, a second approval by the
same approver, an approver the plan does not name, and too few approvals (exit 6).
"""

from __future__ import annotations

import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ceremony.errors import ThresholdError, VerificationError
from ceremony.fingerprint import digest_words
from ceremony.formats.x509 import approval
from hsm.pkcs11 import TokenKey
from tests.conftest import SoftHsm

TBS = b"\x30\x03\x02\x01\x05"  # stands for a TBSCertificate: the statement only digests it
PLAN = "acme-ca:5f1d"


@pytest.fixture
def ca_key() -> ec.EllipticCurvePublicKey:
    return ec.generate_private_key(ec.SECP384R1()).public_key()


@pytest.fixture
def approvers(hsm: SoftHsm) -> dict[str, TokenKey]:
    hsm.make("alice", "bob", "carol")
    keys = {}
    for i, (name, alg) in enumerate([("alice", "ecdsa-p256"), ("bob", "ed25519"), ("carol", "ecdsa-p384")]):
        keys[name] = hsm.module.generate(hsm.module.find_token(label=name), hsm.pin, alg, f"approver-{name}",
                                         bytes([i + 1]))
    return keys


def _statement(ca_key: ec.EllipticCurvePublicKey, tbs: bytes = TBS, plan: str = PLAN) -> bytes:
    return approval.approval_statement("certificate", tbs, ca_key, plan, "leaf CN=Acme Release Signer, serial 7f")


def test_the_statement_binds_kind_digest_ca_and_plan(ca_key: ec.EllipticCurvePublicKey) -> None:
    statement = _statement(ca_key)
    fields = json.loads(statement)
    assert fields == {"context": "ceremony x509 approval v1", "kind": "certificate",
                      "tbs_sha256": hashlib.sha256(TBS).hexdigest(), "ca": approval.ca_identity(ca_key),
                      "plan": PLAN, "label": "leaf CN=Acme Release Signer, serial 7f"}
    assert approval.parse_statement(statement).tbs_sha256 == fields["tbs_sha256"]
    assert _statement(ca_key, tbs=TBS + b"\x00") != statement
    assert approval.approval_statement("crl", TBS, ca_key, PLAN, "CRL 2") != statement


def test_the_room_reads_the_digest_in_words(ca_key: ec.EllipticCurvePublicKey) -> None:
    digest = hashlib.sha256(TBS).hexdigest()
    assert approval.approval_words(_statement(ca_key)) == (
        "Approve the CA signing this certificate: leaf CN=Acme Release Signer, serial 7f\n"
        f"  CA key {approval.ca_identity(ca_key)[:16]}, ceremony {PLAN}\n"
        f"  to-be-signed SHA-256 {digest}\n"
        f"  in words: {digest_words(digest)}")


def test_threshold_of_distinct_token_approvals_passes(ca_key: ec.EllipticCurvePublicKey,
                                                      approvers: dict[str, TokenKey]) -> None:
    statement = _statement(ca_key)
    given = [(name, approvers[name].sign_raw(statement)) for name in ("alice", "bob", "carol")]
    public = {name: key.public_key() for name, key in approvers.items()}
    assert approval.check_approvals(statement, given, public, 3) == ["alice", "bob", "carol"]


def test_approvals_below_the_threshold_are_refused_with_exit_6(ca_key: ec.EllipticCurvePublicKey,
                                                                approvers: dict[str, TokenKey]) -> None:
    statement = _statement(ca_key)
    public = {name: key.public_key() for name, key in approvers.items()}
    with pytest.raises(ThresholdError) as exc:
        approval.check_approvals(statement, [("alice", approvers["alice"].sign_raw(statement))], public, 2)
    assert (exc.value.message, exc.value.exit_code) == (
        "1 of 2 required approvals (alice): the CA key does not sign", 6)
    with pytest.raises(ThresholdError) as exc:
        approval.check_approvals(statement, [], public, 1)
    assert exc.value.message == "0 of 1 required approvals: the CA key does not sign"


def test_an_approval_over_another_digest_is_refused(ca_key: ec.EllipticCurvePublicKey,
                                                   approvers: dict[str, TokenKey]) -> None:
    statement = _statement(ca_key)
    other = _statement(ca_key, tbs=b"\x30\x03\x02\x01\x06")
    public = {name: key.public_key() for name, key in approvers.items()}
    with pytest.raises(VerificationError) as exc:
        approval.check_approvals(statement, [("bob", approvers["bob"].sign_raw(other))], public, 1)
    assert (exc.value.message, exc.value.exit_code) == (
        "the approval by bob does not verify over this statement: it approves another digest, CA or ceremony, "
        "or was made by another key", 3)


def test_an_approval_for_another_ca_or_ceremony_is_refused(ca_key: ec.EllipticCurvePublicKey,
                                                           approvers: dict[str, TokenKey]) -> None:
    statement = _statement(ca_key)
    other_ca = _statement(ec.generate_private_key(ec.SECP384R1()).public_key())
    other_plan = _statement(ca_key, plan="other-ca:0000")
    public = {name: key.public_key() for name, key in approvers.items()}
    for replayed in (other_ca, other_plan):
        with pytest.raises(VerificationError, match="^the approval by carol does not verify over this statement"):
            approval.check_approvals(statement, [("carol", approvers["carol"].sign_raw(replayed))], public, 1)


def test_a_second_approval_by_the_same_approver_is_refused(ca_key: ec.EllipticCurvePublicKey,
                                                           approvers: dict[str, TokenKey]) -> None:
    statement = _statement(ca_key)
    public = {name: key.public_key() for name, key in approvers.items()}
    twice = [("alice", approvers["alice"].sign_raw(statement)), ("alice", approvers["alice"].sign_raw(statement))]
    with pytest.raises(VerificationError) as exc:
        approval.check_approvals(statement, twice, public, 2)
    assert (exc.value.message, exc.value.exit_code) == ("a second approval by alice: each approver counts once", 3)


def test_an_approver_the_plan_does_not_name_is_refused(ca_key: ec.EllipticCurvePublicKey,
                                                       approvers: dict[str, TokenKey]) -> None:
    statement = _statement(ca_key)
    public = {"alice": approvers["alice"].public_key()}
    with pytest.raises(VerificationError) as exc:
        approval.check_approvals(statement, [("mallory", approvers["bob"].sign_raw(statement))], public, 1)
    assert exc.value.message == "'mallory' is not an approver in the plan; their approval does not count"


@pytest.mark.parametrize("data, message", [
    (b"not json", "the approval statement is not ASCII JSON"),
    (b'{"kind":"certificate"}', "the approval statement does not have exactly the fields context, kind, "
                                "tbs_sha256, ca, plan, label"),
    (b"x" * 5000, "the approval statement is too long to be one"),
])
def test_a_malformed_statement_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(VerificationError) as exc:
        approval.parse_statement(data)
    assert (exc.value.message, exc.value.exit_code) == (message, 3)


def test_a_non_canonical_statement_is_refused(ca_key: ec.EllipticCurvePublicKey) -> None:
    spaced = json.dumps(json.loads(_statement(ca_key)), indent=1).encode()
    with pytest.raises(VerificationError) as exc:
        approval.parse_statement(spaced)
    assert exc.value.message == "the approval statement is not in canonical form (sorted keys, no spaces)"


def test_an_rsa_token_approver_counts_too(ca_key: ec.EllipticCurvePublicKey, hsm: SoftHsm) -> None:
    hsm.make("dave")
    dave = hsm.module.generate(hsm.module.find_token(label="dave"), hsm.pin, "rsa-3072", "approver-dave", b"\x09")
    statement = _statement(ca_key)
    assert approval.check_approvals(statement, [("dave", dave.sign_raw(statement))],
                                    {"dave": dave.public_key()}, 1) == ["dave"]
    with pytest.raises(VerificationError, match="^the approval by dave does not verify over this statement"):
        approval.check_approvals(statement, [("dave", dave.sign_raw(_statement(ca_key, plan="x:1")))],
                                 {"dave": dave.public_key()}, 1)
