"""Issue 16's "done when": ``ceremony rehearse --scenario x509`` makes a root CA (its key born on a
SoftHSM token, with Notation's trust store and trust policy), an intermediate and a code-signing
leaf from CSRs made outside the tool, revokes the leaf by a CRL, each step a whole ceremony under
2-of-3 approvals; the result is judged by openssl (``-crl_check`` after the revocation),
cryptography's client verifier with a code-signing policy, and pkilint."""

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
    assert "crl: crl-1.pem signed by alice, bob, ca" in r.out
    assert "self-signed, 2 issued certificate(s) and 1 CRL(s) signed by it" in r.out

    final = Path(f"{ws}.crl") / "metadata"
    ca_pem = final / "ca.pem"
    root = x509.load_pem_x509_certificate(ca_pem.read_bytes())
    inter_file = next((Path(f"{ws}.intermediate") / "metadata").glob("issued-*.pem"))
    leaf_name = next(p.name for p in (Path(f"{ws}.leaf") / "metadata").glob("issued-*.pem")
                     if p.name != inter_file.name)
    leaf_file = final / leaf_name
    crl_file = final / "crl-1.pem"
    leaf = x509.load_pem_x509_certificate(leaf_file.read_bytes())

    for cert in (ca_pem, final / inter_file.name, leaf_file):
        v = openssl("verify", "-CAfile", ca_pem, cert)
        assert v.returncode == 0, v.stdout + v.stderr
        p = pkilint("lint_pkix_cert", "lint", "-s", "ERROR", cert)
        assert (p.returncode, p.stdout.strip(), p.stderr) == (0, "", ""), cert.name
    p = pkilint("lint_crl", "lint", "-t", "CRL", "-p", "PKIX", "-s", "ERROR", crl_file)
    assert (p.returncode, p.stdout.strip(), p.stderr) == (0, "", "")
    v = openssl("verify", "-crl_check", "-CAfile", ca_pem, "-CRLfile", crl_file, leaf_file)
    assert v.returncode != 0 and "certificate revoked" in v.stdout + v.stderr
    v = openssl("verify", "-crl_check", "-CAfile", ca_pem, "-CRLfile", crl_file, final / inter_file.name)
    assert v.returncode == 0, v.stdout + v.stderr

    at = datetime.now(UTC) + timedelta(days=1)
    assert code_signing_verifier(root, at).verify(leaf, []).chain == [leaf, root]

    notation = ws / "metadata" / "notation"
    assert (notation / "truststore" / "x509" / "ca" / "rehearsal" / "rehearsal-ca.pem").read_bytes() == \
        ca_pem.read_bytes()
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
