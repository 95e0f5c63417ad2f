"""``ceremony audit`` on a repository of 50 roles, against python-tuf's own delegation walk.

Builds (software ECDSA keys, python-tuf directly: tests/support/audit_repo.py) a repository of
root (2 versions), targets and 49 terminating delegations, one offline key per role with an
archived YubiKey attestation from the virtual PIV card's test CA, snapshot and timestamp online.
Then times, in one run and interleaved (median of 5):

* python-tuf ``Metadata.verify_delegate`` over every role (root -> targets -> each delegation),
  each file read and parsed: the same signature work as the audit's walk, nothing else;
* python-tuf ngclient: ``refresh()`` then ``get_targetinfo`` for one target in every role,
  from the folder through a file-reading fetcher (no network);
* ``ceremony audit``'s walk alone (``ceremony.audit``, in process, no attestation folder);
* ``ceremony audit`` with the attestation folder (in process: walk + 50 attestation chains);
* ``ceremony audit --json`` as a command (a new process: start-up included).

Ratios are against the ``verify_delegate`` loop.

Run: ``.venv/bin/python bench/bench_audit.py [ROLES]`` (default 50).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_chain import LocalFetcher  # noqa: E402 - the chain bench's folder fetcher, shared
from tuf.api.metadata import Metadata  # noqa: E402
from tuf.ngclient import Updater  # noqa: E402

from ceremony import attestation  # noqa: E402
from ceremony.audit.folder import read_attestations, read_source  # noqa: E402
from ceremony.audit.model import audit  # noqa: E402
from tests.support.audit_repo import attest_all, holder, make_repo, roots_pem  # noqa: E402


def build(folder: Path, roles: int) -> list[str]:
    """The repository (targets + ``roles - 1`` delegations) and its attestations; the names."""
    serials = iter(range(30000001, 30100000))
    root = [holder(n, next(serials)) for n in ("r1", "r2")]
    targets = [holder("t1", next(serials))]
    names = [f"d{i:03d}" for i in range(roles - 1)]
    delegated = {n: [holder(n, next(serials))] for n in names}
    online = holder("online", None, **{"x-tuf-on-ci-online-uri": "gcpkms:bench"})
    repo = make_repo(folder / "metadata", root=root, targets=targets, online=online,
                     delegated=delegated, now=datetime.now(UTC).replace(microsecond=0))
    attest_all(repo, folder / "attestations")
    roots_pem(folder / "roots.pem")
    return names


def time_verify_delegate(meta: Path, names: list[str]) -> float:
    t0 = time.perf_counter()
    root = Metadata.from_bytes((meta / "2.root.json").read_bytes())
    targets = Metadata.from_bytes((meta / "targets.json").read_bytes())
    root.verify_delegate("targets", targets)
    for n in names:
        targets.verify_delegate(n, Metadata.from_bytes((meta / f"{n}.json").read_bytes()))
    return time.perf_counter() - t0


def time_ngclient(meta: Path, names: list[str], work: Path) -> float:
    local = Path(tempfile.mkdtemp(dir=work))
    t0 = time.perf_counter()
    updater = Updater(str(local), "http://local/", str(work), "http://local/targets/",
                      fetcher=LocalFetcher(meta), bootstrap=(meta / "1.root.json").read_bytes())
    updater.refresh()
    for n in names:
        assert updater.get_targetinfo(f"{n}/key.pub") is not None
    return time.perf_counter() - t0


def time_audit(folder: Path, with_attestations: bool) -> float:
    trust = attestation.load_roots(folder / "roots.pem")
    t0 = time.perf_counter()
    source = read_source(folder / "metadata")
    found = read_attestations(folder / "attestations") if with_attestations else []
    result = audit(source, trust.store, at=datetime.now(UTC), attestations=found)
    took = time.perf_counter() - t0
    assert result.passed == with_attestations, [f.message for f in result.findings][:3]
    return took


def time_command(folder: Path) -> float:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "ceremony.cli", "audit", str(folder / "metadata"),
                        "--attestations", str(folder / "attestations"), "--attestation-roots",
                        str(folder / "roots.pem"), "--json"], cwd=ROOT, capture_output=True,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    took = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    return took


def main() -> None:
    roles = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    with tempfile.TemporaryDirectory(prefix="ceremony-audit-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        names = build(folder, roles)
        print(f"built a repository of {roles} roles (targets + {roles - 1} delegations) in "
              f"{time.perf_counter() - t0:.1f} s")
        runs: dict[str, list[float]] = {k: [] for k in ("vd", "ng", "walk", "audit", "cmd")}
        for _ in range(5):  # interleaved, so a busy machine slows every row alike
            runs["vd"].append(time_verify_delegate(folder / "metadata", names))
            runs["ng"].append(time_ngclient(folder / "metadata", names, folder))
            runs["walk"].append(time_audit(folder, False))
            runs["audit"].append(time_audit(folder, True))
            runs["cmd"].append(time_command(folder))
        med = {k: statistics.median(v) for k, v in runs.items()}
        base = med["vd"]
        rows = [("python-tuf Metadata.verify_delegate loop", med["vd"]),
                ("python-tuf ngclient refresh + get_targetinfo per role", med["ng"]),
                ("ceremony audit: walk only (in process)", med["walk"]),
                ("ceremony audit: walk + attestations (in process)", med["audit"]),
                ("ceremony audit --json (a new process)", med["cmd"])]
        print(f"\nAuditing {roles} roles (median of 5 interleaved runs)")
        print(f"{'what':<54} {'seconds':>8} {'vs verify_delegate':>19}")
        for what, secs in rows:
            print(f"{what:<54} {secs:>8.3f} {secs / base:>18.2f}x")


if __name__ == "__main__":
    main()
