"""The X.509 ceremony's test harness (issue 16): its plans, CSRs made outside the tool, whole
ceremonies run through the CLI on SoftHSM tokens, and the outside tools that judge the result
(openssl, pkilint)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store

from tests.conftest import SoftHsm
from tests.support.helpers import cli
from tests.support.plans import Keyholder, Plan

APPROVERS = ("alice", "bob", "carol")
CA = "ca"
ROOT_SUBJECT = "CN=Acme Signing Root,O=Acme,ST=WA,C=US"
INTERMEDIATE_SUBJECT = "CN=Acme Signing CA 1,O=Acme,ST=WA,C=US"
LEAF_SUBJECT = "CN=Acme Release Signing,O=Acme,ST=WA,C=US"


def x509_plan(path: Path, name: str, table: str, *, threshold: int = 2,
              ca_algorithm: str = "ecdsa-p256", ca: str = CA, extra: tuple[str, ...] = ()) -> Path:
    """A plan with ``format = "x509"``: the approvers and the CA key's holder (and ``extra``
    keyholders, each on the token ``x509-NAME``: an intermediate CA key's holder), ``[x509]`` as
    given."""
    holders = [Keyholder(k, token=f"x509-{k}") for k in APPROVERS]
    holders.append(Keyholder(ca, token=f"x509-{ca}", algorithm=ca_algorithm))
    holders += [Keyholder(k, token=f"x509-{k}") for k in extra]
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


def publish_root(hsm: SoftHsm, tmp: Path) -> Path:
    """The root ceremony signed and published; its ``metadata/`` folder."""
    ws = root_ceremony(hsm, tmp)
    run(ws, hsm, "alice", "bob", CA)
    r = cli("publish", ws)
    assert r.code == 0, r.err
    return ws / "metadata"


def next_ceremony(hsm: SoftHsm, tmp: Path, name: str, table: str, previous: Path,
                  approvers: tuple[str, ...] = ("bob", "carol")) -> Path:
    """A ceremony continuing the CA in ``previous``: the keys are kept (same tokens), drafted,
    approved, CA-signed, published; its ``metadata/`` folder."""
    ws = draft_next(tmp, name, table, previous)
    run(ws, hsm, *approvers, CA)
    r = cli("publish", ws)
    assert r.code == 0, r.err
    return ws / "metadata"


def draft_next(tmp: Path, name: str, table: str, previous: Path) -> Path:
    plan = x509_plan(tmp / f"{name}-plan" / "plan.toml", name, table)
    ws = tmp / f"{name}-ws"
    r = cli("init", ws, "--plan", plan, "--previous", previous)
    assert r.code == 0, r.err
    r = cli("draft", ws)
    assert r.code == 0, r.err
    return ws


def crl_table(serial: int) -> str:
    return f"""[x509]
operation = "crl"
ca = "{CA}"
[[x509.revoke]]
serial = "{serial:x}"
reason = "keyCompromise"
revoked_at = "2026-06-01T00:00:00Z"
"""


def pkilint(tool: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / tool
    assert exe.exists(), f"{tool} is required (pip install pkilint: the test extra)"
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=120)


def _leaf_checks(_policy: object, _cert: x509.Certificate, value: x509.ExtensionType | None) -> None:
    if isinstance(value, x509.ExtendedKeyUsage) and list(value) != [ExtendedKeyUsageOID.CODE_SIGNING]:
        raise ValueError("EKU must be codeSigning alone")
    if isinstance(value, x509.KeyUsage) and (not value.digital_signature or value.key_cert_sign):
        raise ValueError("keyUsage must be digitalSignature")


def code_signing_verifier(root: x509.Certificate, at: datetime) -> Any:
    ee = (ExtensionPolicy.permit_all()
          .require_present(x509.KeyUsage, Criticality.CRITICAL, _leaf_checks)
          .require_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _leaf_checks))
    ca = (ExtensionPolicy.permit_all()
          .require_present(x509.BasicConstraints, Criticality.CRITICAL, None)
          .require_present(x509.KeyUsage, Criticality.CRITICAL, None))
    return (PolicyBuilder().store(Store([root])).time(at)
            .extension_policies(ca_policy=ca, ee_policy=ee).build_client_verifier())
