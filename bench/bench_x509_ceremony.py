"""Issuing one code-signing certificate through the whole X.509 ceremony on SoftHSM tokens vs
``openssl x509 -req`` signing the same kind of CSR with a key file (issue 16's benchmark).

* ``ceremony issue``: the engine in process, as the CLI steps run it one after another: init
  from the CA's published folder (every file and the CA verified), draft (CSR checked, TBS
  built and linted), two approvals on the approvers' tokens, the CA signature on the CA's token
  (refused below threshold, verified), publish (assembled, verified against the CA, linted
  again, written with the CA's new state);
* ``openssl x509 -req``: a subprocess signing a CSR with the CA's key file and an extension file;
* ``openssl version``: the bare process start, to read the row above against.

The root CA is made once by ``rehearse``'s first step. Run: ``.venv/bin/python
bench/bench_x509_ceremony.py [N]`` (default 5 issuances per row; median reported).
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat  # noqa: E402

from ceremony.engine import Ceremony  # noqa: E402
from ceremony.formats.x509.rehearsal import plan_for  # noqa: E402
from ceremony.plan import load_plan  # noqa: E402
from hsm import softhsm  # noqa: E402
from hsm.pkcs11 import get_module, resolve_module_path  # noqa: E402

NAMES = ["alice", "bob", "carol"]
PIN = "bench-x509-pin"
EXTENSIONS = """basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=codeSigning
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
"""


def _ceremony(workspace: Path, plan: Path, previous: Path | None, module: object) -> None:
    c = Ceremony.init(workspace, plan, previous)
    for k in c.plan.root.keyholders:
        if c.needs_key(k):
            c.keygen(k, module, lambda _i=None: PIN)  # type: ignore[arg-type]
    c.draft()
    for k in ("alice", "bob", "ca"):
        c.sign(k, module, lambda _i=None: PIN)  # type: ignore[arg-type]
    c.publish()
    c.close()


def _median(times: list[float]) -> float:
    return statistics.median(times) * 1000


def main(n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-x509-") as tmp:
        base = Path(tmp)
        hsm = softhsm.create(base / "softhsm")
        softhsm.activate(hsm)
        module = get_module(resolve_module_path(env={}))
        root_plan = plan_for("root", base, NAMES, 2, "ecdsa-p256", None)
        for holder in load_plan(root_plan).keyholders:
            assert holder.token is not None
            softhsm.init_token(hsm, holder.token, PIN)
        module.refresh()
        _ceremony(base / "root", root_plan, None, module)
        root_dir = base / "root" / "metadata"

        ours: list[float] = []
        for i in range(n):
            step = base / f"leaf-{i}"
            plan = plan_for("leaf", step, NAMES, 2, "ecdsa-p256", root_dir)
            start = time.perf_counter()
            _ceremony(step / "ws", plan, root_dir, module)
            ours.append(time.perf_counter() - start)

        key = ec.generate_private_key(ec.SECP256R1())
        (base / "ca.key").write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
        (base / "ext.cnf").write_text(EXTENSIONS)
        csr = next((base / "leaf-0").rglob("leaf.csr"))
        theirs: list[float] = []
        bare: list[float] = []
        exe = shutil.which("openssl") or "openssl"
        subprocess.run([exe, "req", "-x509", "-new", "-key", str(base / "ca.key"), "-subj",
                        "/CN=Bench CA/O=Bench/ST=Nowhere/C=ZZ", "-days", "3650", "-out", str(base / "ca-sw.pem")],
                       check=True, capture_output=True)  # the openssl side's CA: its key in a file
        for i in range(n):
            start = time.perf_counter()
            subprocess.run([exe, "x509", "-req", "-in", str(csr), "-CA", str(base / "ca-sw.pem"),
                            "-CAkey", str(base / "ca.key"), "-set_serial", str(1000 + i), "-days", "365",
                            "-sha256", "-extfile", str(base / "ext.cnf"), "-out", str(base / f"o{i}.pem")],
                           check=True, capture_output=True)
            theirs.append(time.perf_counter() - start)
            start = time.perf_counter()
            subprocess.run([exe, "version"], check=True, capture_output=True)
            bare.append(time.perf_counter() - start)
        module.close()  # type: ignore[attr-defined]

    ref = _median(theirs)
    print(f"{'issuance of one code-signing certificate (median of ' + str(n) + ')':<62} {'ms':>9} {'ratio':>7}")
    for label, times in (("ceremony issue (init, draft+lint, 2 approvals, CA sign, publish)", ours),
                         ("openssl x509 -req (key file)", theirs), ("openssl version (process start)", bare)):
        print(f"{label:<62} {_median(times):>9.1f} {_median(times) / ref:>7.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
