"""Verifying a long root chain: ``ceremony verify`` vs python-tuf's ngclient, side by side.

Builds a chain of N root versions (software ECDSA keys: this measures verification,
not signing; each version rotates one of three root keys and is signed by the old and
the new threshold), then times, in one run and interleaved:

* ``ceremony.chain.walk`` (what ``ceremony verify`` runs), in process;
* ngclient ``Updater.refresh()`` bootstrapped with 1.root.json, walking the same
  chain from a local folder through a file-reading ``FetcherInterface``
  (plus one small timestamp/snapshot/targets, which refresh() requires).

Run: ``.venv/bin/python bench/bench_chain.py [N]`` (default 1000).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from securesystemslib.signer import CryptoSigner  # noqa: E402
from tuf.api.exceptions import DownloadHTTPError  # noqa: E402
from tuf.api.metadata import MetaFile, Metadata, Root, Snapshot, Targets, Timestamp  # noqa: E402
from tuf.api.serialization.json import JSONSerializer  # noqa: E402
from tuf.ngclient import FetcherInterface, Updater, UpdaterConfig  # noqa: E402

from ceremony import chain  # noqa: E402


def build_chain(d: Path, n: int) -> None:
    expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=365)
    signers = [CryptoSigner.generate_ecdsa() for _ in range(3)]
    online = CryptoSigner.generate_ecdsa()
    root = Root(expires=expires)
    for s in signers:
        root.add_key(s.public_key, Root.type)
    root.roles[Root.type].threshold = 2
    for role in ("targets", "snapshot", "timestamp"):
        root.add_key(online.public_key, role)
    md = Metadata(root)
    for s in signers[:2]:
        md.sign(s, append=True)
    (d / "1.root.json").write_bytes(md.to_bytes(JSONSerializer()))
    for v in range(2, n + 1):
        old = signers[:2]
        new = CryptoSigner.generate_ecdsa()
        root.revoke_key(signers[v % 3].public_key.keyid, Root.type)
        signers[v % 3] = new
        root.add_key(new.public_key, Root.type)
        root.version = v
        md = Metadata(root)
        for s in dict.fromkeys([*old, *signers[:2]]):
            md.sign(s, append=True)
        (d / f"{v}.root.json").write_bytes(md.to_bytes(JSONSerializer()))
    for cls, name in ((Targets, "targets"), (Snapshot, "snapshot"), (Timestamp, "timestamp")):
        m = Metadata(cls(expires=expires))
        if name == "snapshot":
            m.signed.meta["targets.json"] = MetaFile(1)
        if name == "timestamp":
            m.signed.snapshot_meta = MetaFile(1)
        m.sign(online)
        (d / (f"1.{name}.json" if name != "timestamp" else "timestamp.json")).write_bytes(
            m.to_bytes(JSONSerializer()))


class LocalFetcher(FetcherInterface):
    """Serves ``http://local/<name>`` from a folder, so ngclient walks a chain with no network."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _fetch(self, url: str) -> Iterator[bytes]:
        path = self.directory / url.rsplit("/", 1)[-1]
        if not path.exists():
            raise DownloadHTTPError(f"{url} not found", 404)
        return iter([path.read_bytes()])


def time_ngclient(d: Path, n: int, work: Path) -> float:
    meta = Path(tempfile.mkdtemp(dir=work))
    config = UpdaterConfig(max_root_rotations=n + 10)
    t0 = time.perf_counter()
    updater = Updater(str(meta), "http://local/", str(work), "http://local/targets/",
                      fetcher=LocalFetcher(d), config=config,
                      bootstrap=(d / "1.root.json").read_bytes())
    updater.refresh()
    took = time.perf_counter() - t0
    assert Metadata.from_file(str(meta / "root.json")).signed.version == n
    return took


def time_ours(d: Path, n: int) -> float:
    t0 = time.perf_counter()
    report = chain.walk((d / "1.root.json").read_bytes(), d)
    took = time.perf_counter() - t0
    assert report.newest_version == n
    return took


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory(prefix="ceremony-chain-") as tmp:
        d = Path(tmp) / "chain"
        d.mkdir()
        t0 = time.perf_counter()
        build_chain(d, n)
        print(f"built a chain of {n} root versions in {time.perf_counter() - t0:.1f} s")
        ours, theirs = [], []
        for _ in range(3):
            ours.append(time_ours(d, n))
            theirs.append(time_ngclient(d, n, Path(tmp)))
        o, t = statistics.median(ours), statistics.median(theirs)
        rows = [("ceremony verify (chain.walk)", f"{o:.3f}", f"{o / t:.2f}x"),
                ("python-tuf ngclient refresh()", f"{t:.3f}", "1.00x")]
        print(f"\nVerifying {n} root versions (median of 3 interleaved runs; target <= 1.0x)")
        print(f"{'what':<32} {'seconds':>8} {'vs ngclient':>12}")
        for r in rows:
            print(f"{r[0]:<32} {r[1]:>8} {r[2]:>12}")


if __name__ == "__main__":
    main()
