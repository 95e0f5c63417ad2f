"""An X.509 plan is refused at ``init`` (exit 2, the field named, nothing created) when its
``[x509]`` table does not fit: no table, an unknown operation or field, the CA holder missing from
``roles.root``, a threshold the approvers cannot meet, a profile of the wrong kind for the
operation, a CA key algorithm the profile does not name; and a previous CA folder that was
changed is refused (exit 3) before anything is copied in."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from ceremony.words import pgp_words_text
from tests.conftest import SoftHsm
from tests.support.helpers import cli
from tests.support.x509_ceremony import (
    LEAF_SUBJECT,
    ROOT_TABLE,
    issue_table,
    make_csr,
    publish_root,
    x509_plan,
)

INTERMEDIATE = issue_table("intermediate", "CN=Acme Signing CA 1,O=Acme,ST=WA,C=US", "x.csr").replace(
    'operation = "issue"', 'operation = "intermediate"').replace('csr = "x.csr"', 'intermediate = "carol"')
CASES = {
    "no table": ("", 2, "a plan with format = \"x509\" needs an [x509] table (operation, ca, ...)"),
    "operation": (ROOT_TABLE.replace('operation = "root"', 'operation = "mint"'), 2,
                  "x509.operation must be one of root, intermediate, issue, crl, cross-sign, not 'mint'"),
    "unknown field": (ROOT_TABLE.replace('ca = "ca"', 'ca = "ca"\nserial = "01"'), 2,
                      "unknown field x509.serial in the plan"),
    "ca holder": (ROOT_TABLE.replace('ca = "ca"', 'ca = "dave"'), 2,
                  "x509.ca must name the keyholder holding the CA key, one of roles.root.keyholders "
                  "(alice, bob, carol, ca)"),
    "threshold": (ROOT_TABLE, 4, "roles.root.threshold is 4 but only 3 approver(s) are listed beside the "
                                 "CA key's holder ca: it could never be met"),
    "kind": (ROOT_TABLE.replace('kind = "root"', 'kind = "intermediate"').replace(
        'key_algorithm = "ecdsa-p256"\n', ""), 2,
        "x509.profile.kind is 'intermediate', but operation = \"root\" makes a root certificate"),
    "algorithm": (ROOT_TABLE.replace('key_algorithm = "ecdsa-p256"', 'key_algorithm = "ecdsa-p384"'), 2,
                  "x509.profile.key_algorithm is 'ecdsa-p384' but the CA key's holder ca generates "
                  "'ecdsa-p256' (keyholders[].algorithm)"),
    "issue without csr": (issue_table("leaf", LEAF_SUBJECT, "x.csr").replace('csr = "x.csr"\n', ""), 2,
                          "x509.csr is required for operation = \"issue\""),
    "crl with profile": (ROOT_TABLE.replace('operation = "root"', 'operation = "crl"'), 2,
                         "x509.revoke is required for operation = \"crl\""),
    "intermediate without its holder": (INTERMEDIATE.replace('intermediate = "carol"\n', ""), 2,
                                        "x509.intermediate is required for operation = \"intermediate\""),
    "intermediate held by the CA": (INTERMEDIATE.replace('intermediate = "carol"', 'intermediate = "ca"'), 2,
                                    "x509.intermediate must name the keyholder whose token makes the "
                                    "intermediate CA's key, one of roles.root.keyholders (alice, bob, "
                                    "carol, ca) other than the CA's ca"),
    "intermediate unknown": (INTERMEDIATE.replace('intermediate = "carol"', 'intermediate = "dave"'), 2,
                             "x509.intermediate must name the keyholder whose token makes the "
                             "intermediate CA's key, one of roles.root.keyholders (alice, bob, "
                             "carol, ca) other than the CA's ca"),
    "intermediate on a root": (ROOT_TABLE.replace('ca = "ca"', 'ca = "ca"\nintermediate = "carol"'), 2,
                               "x509.intermediate does not apply to operation = \"root\""),
    "intermediate leaves too few approvers": (
        INTERMEDIATE, 3, "roles.root.threshold is 3 but only 2 approver(s) are listed beside the CA key's "
                         "holder ca: it could never be met"),
    "intermediate of a leaf profile": (INTERMEDIATE.replace('kind = "intermediate"', 'kind = "leaf"').replace(
        "path_length = 0\n", ""), 2,
                                       "x509.profile.kind is 'leaf', but operation = \"intermediate\" "
                                       "makes an intermediate certificate"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_plan_that_does_not_fit_is_refused_at_init(case: str, tmp_path: Path) -> None:
    table, threshold, message = CASES[case]
    plan = x509_plan(tmp_path / "plan" / "plan.toml", "bad", table, threshold=threshold)
    r = cli("init", tmp_path / "ws", "--plan", plan)
    assert (r.code, r.err.splitlines()[0]) == (2, f"error: {message}")
    assert not (tmp_path / "ws").exists()


def test_a_previous_ca_folder_changed_after_publish_is_refused(hsm: SoftHsm, tmp_path: Path) -> None:
    root_dir = publish_root(hsm, tmp_path)
    (tmp_path / "p").mkdir()
    make_csr(tmp_path / "p" / "leaf.csr", LEAF_SUBJECT)
    plan = x509_plan(tmp_path / "p" / "plan.toml", "leaf", issue_table("leaf", LEAF_SUBJECT, "leaf.csr"))

    r = cli("init", tmp_path / "ws0", "--plan", plan)  # an issue needs the CA it continues
    assert (r.code, "operation = \"issue\" continues a CA: init needs --previous CA_DIR" in r.err) == (2, True)

    pem = (root_dir / "ca.pem").read_bytes()
    (root_dir / "ca.pem").write_bytes(pem.replace(b"\n", b"\r\n"))  # same certificate, other bytes
    r = cli("init", tmp_path / "ws1", "--plan", plan, "--previous", root_dir)
    assert r.code == 3, r.err
    assert r.err.splitlines()[0].startswith(f"error: {root_dir}/ca.pem is not the file ca.json lists (sha256 ")
    assert r.err.splitlines()[0].endswith("...); refusing to continue this CA")
    assert not (tmp_path / "ws1").exists()
    (root_dir / "ca.pem").write_bytes(pem)
    der = x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)
    other = hashlib.sha256(b"another CA").hexdigest()
    r = cli("init", tmp_path / "ws2", "--plan", plan, "--previous", root_dir, "--expect-root", other)
    assert r.code == 3, r.err
    assert f"error: the CA certificate {root_dir}/ca.pem is not the root you expected" in r.err
    assert not (tmp_path / "ws2").exists()

    r = cli("init", tmp_path / "ws3", "--plan", plan, "--previous", root_dir)
    assert r.code == 0, r.err  # the unchanged folder continues, trusted on first use: said so
    init = json.loads((tmp_path / "ws3" / "journal.jsonl").read_text().splitlines()[0])["data"]
    assert init["warnings"] == [f"the CA certificate in {root_dir} was trusted on first use: compare its "
                                "fingerprint with the one recorded when the CA was made: "
                                + pgp_words_text(hashlib.sha256(der).digest())]
    r = cli("init", tmp_path / "ws4", "--plan", plan, "--previous", root_dir,
            "--expect-root", hashlib.sha256(der).hexdigest())
    assert r.code == 0, r.err
    assert json.loads((tmp_path / "ws4" / "journal.jsonl").read_text().splitlines()[0])["data"]["warnings"] == []

    other = tmp_path / "other-ca.pem"  # a CA certificate the room trusts, not this folder's
    other_root = publish_root_elsewhere(tmp_path)
    other.write_bytes(other_root)
    r = cli("init", tmp_path / "ws5", "--plan", plan, "--previous", root_dir, "--trusted", other)
    assert r.code == 3, r.err
    assert f"error: {root_dir}/ca.pem is not the CA certificate in {other}: refusing to continue this CA" in r.err
    assert not (tmp_path / "ws5").exists()
    r = cli("init", tmp_path / "ws6", "--plan", plan, "--previous", root_dir, "--trusted", root_dir / "ca.pem")
    assert r.code == 0, r.err


def publish_root_elsewhere(tmp: Path) -> bytes:
    """A self-signed CA certificate made in software (the room's other CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name.from_rfc4514_string("CN=Other CA,O=Other,ST=WA,C=US")
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now.replace(year=now.year + 1))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(Encoding.PEM)


def test_a_cross_signing_needs_both_approval_sets_in_its_threshold(hsm: SoftHsm, tmp_path: Path) -> None:
    old = publish_root(hsm, tmp_path)
    (tmp_path / "p").mkdir()
    table = '[x509]\noperation = "cross-sign"\nca = "ca"\nnew_ca = "new-root"\n'
    plan = x509_plan(tmp_path / "p" / "plan.toml", "cross", table, threshold=3)
    r = cli("init", tmp_path / "ws0", "--plan", plan, "--previous", old)  # no new root folder
    assert (r.code, r.err.splitlines()[0]) == (2, f"error: x509.new_ca: {tmp_path / 'p' / 'new-root'} is not a "
                                                  "folder (the new root CA's published metadata/)")
    shutil.copytree(old, tmp_path / "p" / "new-root")  # the old root itself, as the "new" one
    r = cli("init", tmp_path / "ws1", "--plan", plan, "--previous", old)
    assert r.code == 3, r.err
    assert f"error: x509.new_ca names the CA {old} already is: a root does not cross-sign itself" in r.err
    assert not (tmp_path / "ws0").exists() and not (tmp_path / "ws1").exists()
