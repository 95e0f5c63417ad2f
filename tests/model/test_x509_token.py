"""The pure X.509 layer around a real token: a SoftHSM CA key signs what the layer builds.

``TokenKey.sign_raw`` is what the ceremony calls: ECDSA r||s over the curve's own hash, RSA as
PSS-SHA256 with a 32-byte salt. This proves the algorithm the TBS announces (``der``) is the
one the token really uses, for each root algorithm, with ``openssl verify`` as the judge.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ceremony.formats.x509 import der, lint, profile
from ceremony.formats.x509.csr import read_csr
from hsm.pkcs11 import TokenKey
from tests.conftest import SoftHsm
from tests.support.x509_software_ca import CHECK_TIME, LEAF_SUBJECT, ROOT_SUBJECT, make_csr, openssl, pem


def _token_signature(key: TokenKey, tbs: bytes) -> bytes:
    raw = key.sign_raw(tbs)
    public = key.public_key()
    return der.ecdsa_signature_der(raw, public) if isinstance(public, ec.EllipticCurvePublicKey) else raw


@pytest.mark.parametrize("alg", ["ecdsa-p256", "ecdsa-p384", "rsa-3072"])
def test_a_token_ca_key_signs_a_root_and_a_leaf_that_openssl_verifies(hsm: SoftHsm, tmp_path: Path,
                                                                      alg: str) -> None:
    hsm.make("ca")
    key = hsm.module.generate(hsm.module.find_token(label="ca"), hsm.pin, alg, "root-ca", b"\x01")
    public = key.public_key()
    assert not isinstance(public, ec.EllipticCurvePublicKey) or der.hash_for_key(public) == (
        "sha384" if alg == "ecdsa-p384" else "sha256")
    root_profile = profile.parse_profile({"kind": "root", "subject": ROOT_SUBJECT, "key_algorithm": alg,
                                          "not_before": "2026-01-01T00:00:00Z",
                                          "not_after": "2036-01-01T00:00:00Z"}, "x509.root")
    assert isinstance(public, der.PublicKey)
    tbs = profile.tbs_certificate(root_profile, public, root_profile.subject, public, profile.random_serial())
    lint.refuse_if_violations(tbs, "root")
    root = x509.load_der_x509_certificate(profile.assemble_certificate(tbs, _token_signature(key, tbs)))
    profile.verify_issued(root, root)

    info = read_csr(make_csr(tmp_path, "leaf", LEAF_SUBJECT).read_bytes())
    leaf_profile = profile.parse_profile({"kind": "leaf", "subject": LEAF_SUBJECT,
                                          "not_before": "2026-01-01T00:00:00Z",
                                          "not_after": "2028-01-01T00:00:00Z"}, "x509.leaf")
    tbs = profile.tbs_certificate(leaf_profile, info.public_key, root.subject, public, profile.random_serial(),
                                  requested=info.extensions)
    lint.refuse_if_violations(tbs, "leaf")
    leaf = x509.load_der_x509_certificate(profile.assemble_certificate(tbs, _token_signature(key, tbs)))
    profile.verify_issued(leaf, root)

    (tmp_path / "root.pem").write_bytes(pem(root))
    (tmp_path / "leaf.pem").write_bytes(pem(leaf))
    result = subprocess.run([openssl(), "verify", "-x509_strict", "-attime", str(int(CHECK_TIME.timestamp())),
                             "-CAfile", str(tmp_path / "root.pem"), str(tmp_path / "leaf.pem")],
                            capture_output=True, text=True)
    assert (result.returncode, result.stdout.strip()) == (0, f"{tmp_path / 'leaf.pem'}: OK"), result.stderr
