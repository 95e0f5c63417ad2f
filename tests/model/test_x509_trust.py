"""Notation's trust store and trust policy from the plan, with Notation's own validation rules.

The rules mirror notation-go ``verifier/trustpolicy`` (version 1.0); each refusal is a plan
error (exit 2) with Notation's reason, so a policy Notation would refuse never leaves the room.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography import x509

from ceremony.errors import PlanError, VerificationError
from ceremony.formats.x509 import trust
from tests.support.x509_software_ca import LEAF_SUBJECT, SoftwareCa

POLICY: dict[str, Any] = {"name": "acme-images", "registry_scopes": ["registry.acme.example/team/app"],
                          "level": "strict", "identities": [LEAF_SUBJECT]}


def _table(**policy: Any) -> dict[str, Any]:
    return {"store": "acme", "policies": [{**POLICY, **policy}]}


@pytest.fixture(scope="module")
def root() -> SoftwareCa:
    return SoftwareCa.root("ecdsa-p256")


def test_the_trust_material_is_the_store_folder_and_the_policy(root: SoftwareCa) -> None:
    plan = trust.parse_trust(_table())
    files = trust.trust_material(plan, {"acme-root": root.certificate})
    assert sorted(files) == ["trustpolicy.json", "x509/ca/acme/acme-root.pem"]
    assert x509.load_pem_x509_certificate(files["x509/ca/acme/acme-root.pem"]) == root.certificate
    assert json.loads(files["trustpolicy.json"]) == {"version": "1.0", "trustPolicies": [{
        "name": "acme-images", "registryScopes": ["registry.acme.example/team/app"],
        "signatureVerification": {"level": "strict"}, "trustStores": ["ca:acme"],
        "trustedIdentities": [f"x509.subject: {LEAF_SUBJECT}"]}]}
    trust.validate_trust_policy(json.loads(files["trustpolicy.json"]))


def test_a_skip_statement_carries_no_store_or_identity_and_wildcards_stand_alone() -> None:
    plan = trust.parse_trust({"store": "acme", "policies": [
        {**POLICY, "registry_scopes": ["*"], "identities": ["*"]},
        {"name": "public", "registry_scopes": ["docker.io/library/alpine"], "level": "skip"}]})
    doc = trust.trust_policy(plan)
    assert doc["trustPolicies"][0]["trustedIdentities"] == ["*"]
    assert doc["trustPolicies"][1] == {"name": "public", "registryScopes": ["docker.io/library/alpine"],
                                       "signatureVerification": {"level": "skip"}}


@pytest.mark.parametrize("table, message", [
    ({"store": "../etc", "policies": [POLICY]},
     "x509.trust.store '../etc' must be 1-128 letters, digits, '_', '.' or '-' (not '.' or '..'): it becomes a "
     "file or folder name, and Notation allows no other"),
    ({"store": "acme"}, "x509.trust.policies must list at least one trust policy statement ([[x509.trust.policies]])"),
    ({"policies": [POLICY]}, "x509.trust.store is required: the name of Notation's trust store (ca:<store>)"),
    ({"store": "acme", "policies": [POLICY], "stores": []}, "unknown field x509.trust.stores in the plan"),
    (_table(level="lenient"),
     "x509.trust.policies[0].level must be one of strict, permissive, audit, skip, not 'lenient'"),
    (_table(registry_scopes=["registry.acme.example/*"]),
     "x509.trust.policies[0].registry_scopes: registry scope 'registry.acme.example/*' has a wildcard; Notation "
     "accepts '*' alone or a fully qualified repository such as registry.example.com/team/app"),
    (_table(registry_scopes=["https://registry.acme.example/app"]),
     "x509.trust.policies[0].registry_scopes: registry scope 'https://registry.acme.example/app' is not valid; "
     "Notation needs a fully qualified repository without scheme or tag, such as registry.example.com/team/app"),
    (_table(registry_scopes=["registry.acme.example/App"]),
     "x509.trust.policies[0].registry_scopes: registry scope 'registry.acme.example/App' is not valid; "
     "Notation needs a fully qualified repository without scheme or tag, such as registry.example.com/team/app"),
    (_table(registry_scopes=["*", "registry.acme.example/app"]),
     "x509.trust.policies[0].registry_scopes: the wildcard scope '*' cannot be combined with other scopes"),
    (_table(identities=["CN=Signer,O=Acme,C=US"]),
     "x509.trust.policies[0].identities: trusted identity 'CN=Signer,O=Acme,C=US' has no ST; Notation needs C, "
     "ST and O at a minimum"),
    (_table(identities=["CN=A+O=B,ST=WA,C=US"]),
     "x509.trust.policies[0].identities: trusted identity 'CN=A+O=B,ST=WA,C=US' has a multi-valued RDN, which "
     "Notation refuses"),
    (_table(identities=["*", LEAF_SUBJECT]),
     "x509.trust.policies[0].identities: the wildcard identity '*' cannot be combined with other identities"),
    (_table(identities=["O=Acme,ST=WA,C=US", LEAF_SUBJECT]),
     "x509.trust.policies[0].identities: trusted identities 'O=Acme,ST=WA,C=US' and "
     "'CN=Acme Release Signer,O=Acme,ST=WA,C=US' overlap (one is a subset of the other); Notation refuses that"),
    (_table(level="skip"),
     "x509.trust.policies[0]: level skip verifies nothing, so it takes no identities (Notation refuses a skip "
     "statement with trust stores or identities)"),
    ({"store": "acme", "policies": [{k: v for k, v in POLICY.items() if k != "identities"}]},
     "x509.trust.policies[0].identities is required: the subjects trusted to sign (or [\"*\"])"),
    (_table(identities=[LEAF_SUBJECT, LEAF_SUBJECT]),
     "x509.trust.policies[0].identities lists 'CN=Acme Release Signer,O=Acme,ST=WA,C=US' twice"),
])
def test_a_policy_notation_would_refuse_is_refused_at_plan_time(table: dict[str, Any], message: str) -> None:
    with pytest.raises(PlanError) as exc:
        trust.parse_trust(table)
    assert (exc.value.message, exc.value.exit_code) == (message, 2)


def test_a_scope_in_two_statements_or_two_statements_with_one_name_are_refused() -> None:
    with pytest.raises(PlanError) as exc:
        trust.parse_trust({"store": "acme", "policies": [POLICY, {**POLICY, "name": "other"}]})
    assert exc.value.message == ("registry scope 'registry.acme.example/team/app' is in two trust policy "
                                 "statements; Notation allows one statement per scope")
    with pytest.raises(PlanError) as exc:
        trust.parse_trust({"store": "acme", "policies": [POLICY, {**POLICY, "registry_scopes": ["a.example/b"]}]})
    assert exc.value.message == "two trust policy statements are named 'acme-images'; names must be unique"


def test_a_policy_read_back_is_checked_with_the_same_rules() -> None:
    with pytest.raises(VerificationError) as exc:
        trust.validate_trust_policy({"version": "2.0", "trustPolicies": []})
    assert (exc.value.message, exc.value.exit_code) == (
        "the trust policy's version is '2.0'; Notation supports \"1.0\"", 3)
    doc = trust.trust_policy(trust.parse_trust(_table()))
    doc["trustPolicies"][0]["trustStores"] = ["ca:../x"]
    with pytest.raises(VerificationError) as exc:
        trust.validate_trust_policy(doc)
    assert exc.value.message.startswith("trust policy statement 'acme-images': trust store name '../x' must be")
    doc["trustPolicies"][0]["trustStores"] = ["ca:acme"]
    doc["trustPolicies"][0]["trustedIdentities"] = ["x509.san: foo"]
    with pytest.raises(VerificationError) as exc:
        trust.validate_trust_policy(doc)
    assert exc.value.message == ("trust policy statement 'acme-images': trusted identity 'x509.san: foo' is not "
                                 "\"x509.subject: <DN>\"")


def test_store_files_refuse_unsafe_names_and_non_ca_certificates(root: SoftwareCa) -> None:
    with pytest.raises(PlanError) as exc:
        trust.trust_store_files("acme", {"../root": root.certificate})
    assert exc.value.message.startswith("the root certificate's file name '../root' must be 1-128 letters")
    with pytest.raises(PlanError) as exc:
        trust.trust_store_files("acme", {"a/b": root.certificate})
    assert exc.value.message.startswith("the root certificate's file name 'a/b' must be")
    leaf = SoftwareCa.root("ecdsa-p256")
    leaf_cert = leaf.certificate
    not_ca = (x509.CertificateBuilder().subject_name(leaf_cert.subject).issuer_name(leaf_cert.subject)
              .public_key(leaf.key.public_key()).serial_number(3).not_valid_before(leaf_cert.not_valid_before_utc)
              .not_valid_after(leaf_cert.not_valid_after_utc)
              .sign(leaf.key, leaf_cert.signature_hash_algorithm))
    with pytest.raises(VerificationError) as exc:
        trust.trust_store_files("acme", {"leaf": not_ca})
    assert exc.value.message == "the certificate 'leaf' for the trust store is not a CA certificate"


def test_a_policy_read_back_with_the_same_identity_twice_is_refused() -> None:
    doc = trust.trust_policy(trust.parse_trust(_table()))
    doc["trustPolicies"][0]["trustedIdentities"] *= 2
    with pytest.raises(VerificationError) as exc:
        trust.validate_trust_policy(doc)
    assert exc.value.message == (
        f"trust policy statement 'acme-images': trusted identities '{LEAF_SUBJECT}' and '{LEAF_SUBJECT}' overlap "
        "(one is a subset of the other); Notation refuses that")
