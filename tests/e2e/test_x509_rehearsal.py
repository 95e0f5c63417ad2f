"""Issue 16's "done when": ``ceremony rehearse --scenario x509`` makes a root CA (its key born on a
SoftHSM token, with Notation's trust store and trust policy), an intermediate CA (its key born on
its own token, certified by the root CA key), a code-signing leaf issued by the intermediate from
a CSR made outside the tool, and the intermediate's CRL revoking the leaf, each step a whole
ceremony under 2-of-3 approvals; the three-level chain is judged by openssl (``-untrusted``, and
``-crl_check`` after the revocation), cryptography's client verifier with a code-signing policy
(the intermediate in the untrusted pool), and pkilint."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509

from tests.support.helpers import cli
from tests.support.x509_ceremony import code_signing_verifier, openssl, pkilint


def test_rehearse_x509_root_intermediate_leaf_crl_and_notation_trust(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    r = cli("rehearse", "--scenario", "x509", "--keyholders", "3", "--threshold", "2", ws,
            "--softhsm-dir", tmp_path / "hsm")
    assert r.code == 0, r.err
    assert "intermediate: ca.pem signed by alice, bob, ca" in r.out  # the root CA key certified it
    assert "crl: crl-1.pem signed by alice, bob, ica" in r.out  # the intermediate's key signs its CRL
    assert ("chained through chain.pem to the root CN=Rehearsal Root CA,O=Rehearsal,ST=Nowhere,C=ZZ, "
            "1 issued certificate(s) and 1 CRL(s) signed by it") in r.out

    root_pem = ws / "metadata" / "ca.pem"
    root = x509.load_pem_x509_certificate(root_pem.read_bytes())
    final = Path(f"{ws}.crl") / "metadata"
    inter_pem = final / "ca.pem"  # the intermediate CA's folder, continued by the leaf and CRL
    inter = x509.load_pem_x509_certificate(inter_pem.read_bytes())
    assert inter.issuer == root.subject and inter.subject != root.subject
    assert (final / "chain.pem").read_bytes() == root_pem.read_bytes()
    # the intermediate's key was born on its own token: ca.json names it with that token
    state = json.loads((final / "ca.json").read_text())
    ca_key = state["keys"][state["ca_key"]]
    assert (ca_key["x-ceremony-keyholder"], ca_key["x-ceremony-token-label"]) == ("ica", "rehearsal-ica")
    # the root's own folder, continued: the intermediate is a certificate it issued
    issuer = Path(f"{ws}.intermediate") / "metadata" / "issuer"
    assert (issuer / f"issued-{inter.serial_number:x}.pem").read_bytes() == inter_pem.read_bytes()
    assert f"{inter.serial_number:x}" in json.loads((issuer / "ca.json").read_text())["serials"]

    [leaf_file] = sorted(final.glob("issued-*.pem"))
    leaf = x509.load_pem_x509_certificate(leaf_file.read_bytes())
    assert leaf.issuer == inter.subject
    crl_file = final / "crl-1.pem"

    v = openssl("verify", "-CAfile", root_pem, inter_pem)
    assert v.returncode == 0, v.stdout + v.stderr
    v = openssl("verify", "-CAfile", root_pem, "-untrusted", inter_pem, leaf_file)
    assert v.returncode == 0, v.stdout + v.stderr
    v = openssl("verify", "-CAfile", root_pem, leaf_file)  # without the intermediate: no chain
    assert v.returncode != 0
    for cert in (root_pem, inter_pem, leaf_file):
        p = pkilint("lint_pkix_cert", "lint", "-s", "ERROR", cert)
        assert (p.returncode, p.stdout.strip(), p.stderr) == (0, "", ""), cert.name
    p = pkilint("lint_crl", "lint", "-t", "CRL", "-p", "PKIX", "-s", "ERROR", crl_file)
    assert (p.returncode, p.stdout.strip(), p.stderr) == (0, "", "")
    crl = x509.load_pem_x509_crl(crl_file.read_bytes())
    assert crl.issuer == inter.subject and crl.is_signature_valid(inter.public_key())
    v = openssl("verify", "-crl_check", "-CAfile", root_pem, "-untrusted", inter_pem,
                "-CRLfile", crl_file, leaf_file)
    assert v.returncode != 0 and "certificate revoked" in v.stdout + v.stderr

    at = datetime.now(UTC) + timedelta(days=1)
    assert code_signing_verifier(root, at).verify(leaf, [inter]).chain == [leaf, inter, root]

    notation = ws / "metadata" / "notation"
    assert (notation / "truststore" / "x509" / "ca" / "rehearsal" / "rehearsal-ca.pem").read_bytes() == \
        root_pem.read_bytes()
    policy = json.loads((notation / "trustpolicy.json").read_text())
    assert policy["trustPolicies"][0]["trustStores"] == ["ca:rehearsal"]
    assert policy["trustPolicies"][0]["trustedIdentities"] == [
        "x509.subject: CN=Rehearsal Code Signing,O=Rehearsal,ST=Nowhere,C=ZZ"]

    for step in ("", ".intermediate", ".leaf", ".crl"):
        r = cli("record", "verify", Path(f"{ws}{step}"), "--allow-unsealed")
        assert r.code == 0, r.out + r.err
    assert not (tmp_path / "hsm" / "softhsm").exists()  # the throwaway tokens are gone


def test_rehearse_format_x509_without_its_scenario_is_a_usage_error() -> None:
    r = cli("rehearse", "--format", "x509", "/nonexistent/ws")
    assert r.code == 64, r.err
    assert "error: --format x509 rehearses the x509 only, not bootstrap" in r.err
    assert "an X.509 CA is rehearsed whole: `ceremony rehearse --scenario x509 WORKSPACE`" in r.err
