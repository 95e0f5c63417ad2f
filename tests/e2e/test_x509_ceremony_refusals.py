"""Issue 16's bad inputs, each refused through the CLI with its rule or reason and exit code, and
nothing signed or published: a CSR asking for serverAuth, an intermediate whose keyUsage is not
critical, an RSA-1024, a SHA-1 and a forged CSR, an approval over another digest (and approvals
below the threshold, and a second approval by the same approver: see test_x509_ceremony)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from ceremony.session import Session
from tests.conftest import SoftHsm
from tests.support.helpers import cli
from tests.support.x509_ceremony import (
    CA,
    INTERMEDIATE_SUBJECT,
    LEAF_SUBJECT,
    ROOT_SUBJECT,
    crl_table,
    issue_table,
    publish_root,
    root_ceremony,
    run,
    x509_plan,
)


def _lines(ws: Path) -> list[str]:
    return [json.loads(line)["type"] for line in (ws / "journal.jsonl").read_text().splitlines()]


def _issue_ws(hsm: SoftHsm, tmp: Path, kind: str, subject: str, csr: bytes) -> tuple[Path, Path, Path]:
    """A published root, and an issue ceremony's plan for ``csr``: (root folder, plan, workspace)."""
    root_dir = publish_root(hsm, tmp)
    (tmp / "issue-plan").mkdir()
    (tmp / "issue-plan" / "req.csr").write_bytes(csr)
    plan = x509_plan(tmp / "issue-plan" / "plan.toml", "issue", issue_table(kind, subject, "req.csr"))
    return root_dir, plan, tmp / "issue-ws"


def _csr(subject: str, *, eku: list[x509.ObjectIdentifier] | None = None,
         key_usage: x509.KeyUsage | None = None) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name.from_rfc4514_string(subject))
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if key_usage is not None:
        builder = builder.add_extension(key_usage, critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.PEM)


def _refused_at_draft(ws: Path, root_dir: Path, plan: Path) -> str:
    r = cli("init", ws, "--plan", plan, "--previous", root_dir)
    assert r.code == 0, r.err
    before = _lines(ws)
    r = cli("draft", ws)
    assert r.code == 3, r.err
    assert _lines(ws) == before  # nothing journaled
    assert not list((ws / "metadata").rglob("*.pem")) and not (ws / "metadata" / "drafts" / "2.root.json").exists()
    return r.err


def test_a_leaf_csr_asking_for_server_auth_is_refused_before_anyone_signs(hsm: SoftHsm, tmp_path: Path) -> None:
    root_dir, plan, ws = _issue_ws(hsm, tmp_path, "leaf", LEAF_SUBJECT,
                                   _csr(LEAF_SUBJECT, eku=[ExtendedKeyUsageOID.SERVER_AUTH]))
    err = _refused_at_draft(ws, root_dir, plan)
    assert ("error: the leaf certificate breaks 1 rule: a code-signing certificate must not carry the "
            "extended key usage serverAuth; only codeSigning (or no EKU) is allowed (rule notary.leaf.eku)") in err


def test_an_intermediate_whose_key_usage_is_not_critical_is_refused(hsm: SoftHsm, tmp_path: Path) -> None:
    usage = x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False)
    root_dir, plan, ws = _issue_ws(hsm, tmp_path, "intermediate", INTERMEDIATE_SUBJECT,
                                   _csr(INTERMEDIATE_SUBJECT, key_usage=usage))
    err = _refused_at_draft(ws, root_dir, plan)
    assert ("the intermediate certificate breaks 1 rule: a CA certificate's keyUsage must be marked critical "
            "(rule notary.ca.key_usage)") in err


def _openssl_csr(tmp: Path, name: str, *args: str) -> bytes:
    exe = shutil.which("openssl")
    assert exe, "openssl is required"
    out = tmp / f"{name}.csr"
    subprocess.run([exe, "req", "-new", "-nodes", "-keyout", str(tmp / f"{name}.key"), "-subj",
                    "/CN=Acme Release Signing/O=Acme/ST=WA/C=US", "-out", str(out), *args],
                   check=True, capture_output=True, timeout=60)
    return out.read_bytes()


def _forged(csr_pem: bytes) -> bytes:
    der = bytearray(x509.load_pem_x509_csr(csr_pem).public_bytes(Encoding.DER))
    der[-3] ^= 0x01  # inside the signature's last INTEGER: the CSR parses, its signature fails
    return bytes(der)


def test_weak_or_forged_csrs_are_refused_at_init_and_nothing_is_created(hsm: SoftHsm, tmp_path: Path) -> None:
    root_dir = publish_root(hsm, tmp_path)
    cases = {
        "rsa1024": (_openssl_csr(tmp_path, "rsa1024", "-newkey", "rsa:1024"),
                    "the CSR's key is RSA-1024; the Notary Project requires RSA of at least 2048 bits "
                    "(rule notary.key.size)"),
        "sha1": (_openssl_csr(tmp_path, "sha1", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-sha1"),
                 "the CSR is signed with SHA-1, which the Notary Project refuses (rule notary.signature.sha1)"),
        "forged": (_forged(_csr(LEAF_SUBJECT)), "(rule csr.signature)"),
    }
    for name, (data, message) in cases.items():
        folder = tmp_path / f"{name}-plan"
        folder.mkdir()
        (folder / "req.csr").write_bytes(data)
        plan = x509_plan(folder / "plan.toml", name, issue_table("leaf", LEAF_SUBJECT, "req.csr"))
        ws = tmp_path / f"{name}-ws"
        r = cli("init", ws, "--plan", plan, "--previous", root_dir)
        assert (r.code, message in r.err) == (3, True), (name, r.err)
        assert not ws.exists(), name


def test_an_approval_over_another_digest_does_not_count_and_the_ca_key_does_not_sign(
        hsm: SoftHsm, tmp_path: Path) -> None:
    ws = root_ceremony(hsm, tmp_path)  # drafted
    # alice approves another TBS (another ceremony of the same CA keys would have another serial):
    # her signature is real, by her token key, over another statement; it is journaled here as
    # if it approved this draft (what a forged or mixed-up approval file would carry)
    twin = tmp_path / "twin-ws"
    shutil.copytree(ws, twin)
    for f in (twin / "journal.jsonl",):
        lines = f.read_text().splitlines()
        f.write_text("\n".join(lines[:-1]) + "\n")  # drop the draft: draft the twin anew
    shutil.rmtree(twin / "metadata" / "drafts")
    r = cli("draft", twin)
    assert r.code == 0, r.err
    run(twin, hsm, "alice")
    approval = next(e["data"] for e in map(json.loads, (twin / "journal.jsonl").read_text().splitlines())
                    if e["type"] == "signature-added")
    ours = json.loads((ws / "metadata" / "drafts" / "1.root.json").read_text())["signed"]["tbs_sha256"]
    assert approval["tbs_sha256"] != ours
    s = Session.open(ws)
    try:
        s.record("signature-added", {**approval, "draft": s.state.draft_digest})
    finally:
        s.close()

    r = cli("status", ws, "--json")
    assert json.loads(r.out)["thresholds"]["old"]["signed"] == []
    r = cli("sign", ws, "--keyholder", CA, "--pin-file", hsm.pin_file)
    assert r.code == 6, r.err
    assert (f"the CA key does not sign the root certificate {ROOT_SUBJECT} before its approvals verify: "
            f"approvals of the root certificate {ROOT_SUBJECT}: 0/2 - nobody has signed; waiting for 2 of "
            "alice, bob, carol") in r.err
    r = cli("publish", ws)
    assert r.code == 6, r.err
    assert not (ws / "metadata" / "ca.pem").exists()


def test_a_certificate_outliving_its_ca_is_refused_by_the_ca_rules(hsm: SoftHsm, tmp_path: Path) -> None:
    root_dir, plan, ws = _issue_ws(hsm, tmp_path, "leaf", LEAF_SUBJECT, _csr(LEAF_SUBJECT))
    text = plan.read_text()
    assert text.count('not_after = "2031-01-01T00:00:00Z"') == 1
    plan.write_text(text.replace('not_after = "2031-01-01T00:00:00Z"', 'not_after = "2040-01-01T00:00:00Z"'))
    err = _refused_at_draft(ws, root_dir, plan)
    assert "(rule ceremony.validity.nested)" in err and err.startswith("error: the leaf certificate breaks 1 rule")


def test_a_crl_revoking_a_serial_the_ca_never_issued_is_refused(hsm: SoftHsm, tmp_path: Path) -> None:
    root_dir = publish_root(hsm, tmp_path)
    (tmp_path / "crl-plan").mkdir()
    plan = x509_plan(tmp_path / "crl-plan" / "plan.toml", "crl", crl_table(0x5A0C))
    err = _refused_at_draft(tmp_path / "crl-ws", root_dir, plan)
    assert err.splitlines()[0] == ("error: x509.revoke names serial 5a0c, which this CA never issued "
                                   "(its ca.json lists every serial)")
