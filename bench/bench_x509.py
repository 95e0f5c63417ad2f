"""Issuing one code-signing certificate from a CSR: the pure X.509 layer vs ``openssl x509 -req``.

Same CSR (made by ``openssl req``), same CA key (software, in a key file for openssl; used like
a token by the pure layer), same extensions, timed in one run and interleaved, per CA algorithm:

* ``ceremony``: read and verify the CSR, build the TBS, lint it, sign (as a token would: raw
  signature, spliced), verify the certificate against the CA, in process;
* ``ceremony + 2-of-3 approvals``: the same, plus the approval statement, two approvals made
  with software ECDSA keys and ``check_approvals`` (the token's own signing time is not here:
  on a real token it dominates, and it is the same for both sides);
* ``openssl x509 -req``: a subprocess signing the CSR with the key file and an extension file
  (RSA with ``rsa_padding_mode:pss``, as the token signs);
* ``openssl version``: the bare process start, to read the previous row against.

Ratios are against ``openssl x509 -req``. Run: ``.venv/bin/python bench/bench_x509.py [N]``
(default 30 issuances per row and algorithm; median reported).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature  # noqa: E402
from cryptography.hazmat.primitives.hashes import SHA256  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat  # noqa: E402

from ceremony.formats.x509 import approval, lint  # noqa: E402
from ceremony.formats.x509.csr import read_csr  # noqa: E402
from tests.support.x509_software_ca import LEAF_SUBJECT, SoftwareCa, make_csr, openssl, pem  # noqa: E402

ALGORITHMS = ("ecdsa-p256", "ecdsa-p384", "rsa-3072")
EXTENSIONS = """basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=codeSigning
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
"""


def _approver_sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")  # raw r||s, as a token returns it


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    approvers = {name: ec.generate_private_key(ec.SECP256R1()) for name in ("alice", "bob", "carol")}
    approver_keys = {name: key.public_key() for name, key in approvers.items()}
    print(f"Issuing one code-signing certificate from a CSR (median of {n}, interleaved; ratio vs openssl x509 -req)")
    print(f"{'CA key':<11} {'what':<34} {'ms':>8} {'ratio':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        csr_path = make_csr(work, "leaf", LEAF_SUBJECT)
        csr = csr_path.read_bytes()
        (work / "ext.cnf").write_text(EXTENSIONS)
        for alg in ALGORITHMS:
            ca = SoftwareCa.root(alg)
            (work / "ca.pem").write_bytes(pem(ca.certificate))
            (work / "ca.key").write_bytes(ca.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
            sigopts = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"] \
                if alg.startswith("rsa") else []

            def ours(ca: SoftwareCa = ca) -> None:
                ca.issue(csr, "leaf", LEAF_SUBJECT)

            def ours_approved(ca: SoftwareCa = ca) -> None:
                tbs = ca.tbs_from_csr(read_csr(csr), "leaf", LEAF_SUBJECT)
                lint.refuse_if_violations(tbs, "leaf")
                statement = approval.approval_statement("certificate", tbs, ca.key.public_key(), "bench:0",
                                                        "leaf for the bench")
                given = [(name, _approver_sign(approvers[name], statement)) for name in ("alice", "bob")]
                approval.check_approvals(statement, given, approver_keys, 2)
                ca.sign_tbs(tbs)

            def with_openssl(sigopts: list[str] = sigopts) -> None:
                subprocess.run([openssl(), "x509", "-req", "-in", str(csr_path), "-CA", str(work / "ca.pem"),
                                "-CAkey", str(work / "ca.key"), "-set_serial", "0x1234abcd", "-days", "365",
                                "-extfile", str(work / "ext.cnf"), *sigopts, "-out", str(work / "out.pem")],
                               check=True, capture_output=True)

            def bare_openssl() -> None:
                subprocess.run([openssl(), "version"], check=True, capture_output=True)

            rows: dict[str, Callable[[], None]] = {
                "ceremony (lint, sign, verify)": ours, "ceremony + 2-of-3 approvals": ours_approved,
                "openssl x509 -req": with_openssl, "openssl version (process start)": bare_openssl}
            times: dict[str, list[float]] = {k: [] for k in rows}
            for _ in range(n):
                for what, fn in rows.items():
                    t0 = time.perf_counter()
                    fn()
                    times[what].append(time.perf_counter() - t0)
            med = {k: statistics.median(v) for k, v in times.items()}
            base = med["openssl x509 -req"]
            for what, secs in med.items():
                print(f"{alg:<11} {what:<34} {secs * 1000:>8.2f} {secs / base:>6.2f}x")


if __name__ == "__main__":
    main()
