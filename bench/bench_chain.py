"""Verifying a long root chain: ``ceremony verify`` vs python-tuf's ngclient, side by side.

Builds a chain of N root versions (software ECDSA keys: this measures verification,
not signing; each version rotates one of three root keys and is signed by the old and
the new threshold), then times, in one run and interleaved:

* ``ceremony.chain.walk`` (the root walk of ``ceremony verify``), in process;
* ``ceremony.chain.verify_published`` (all of ``ceremony verify``: the walk, ``root.json``
  against the newest root, timestamp -> snapshot -> targets), in process;
* python-tuf's own ``TrustedMetadataSet`` (the trust core of ngclient, no fetcher), fed
  ``1.root.json`` then ``update_root`` with every later version read from the folder;
* ngclient ``Updater.refresh()`` bootstrapped with 1.root.json, walking the same
  chain from a local folder through a file-reading ``FetcherInterface``
  (plus one small timestamp/snapshot/targets, which refresh() requires).

The ratios are against ``TrustedMetadataSet``: the same work (each version checked against
the previous root's threshold and its own) without the updater's I/O around it.

Run: ``.venv/bin/python bench/bench_chain.py [N]`` (default 1000).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from securesystemslib.signer import CryptoSigner  # noqa: E402
from tuf.api.exceptions import DownloadHTTPError  # noqa: E402
from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot, Targets, Timestamp  # noqa: E402
from tuf.api.serialization.json import JSONSerializer  # noqa: E402
from tuf.ngclient import FetcherInterface, Updater, UpdaterConfig  # noqa: E402
from tuf.ngclient._internal.trusted_metadata_set import TrustedMetadataSet  # noqa: E402
from tuf.ngclient.config import EnvelopeType  # noqa: E402

from ceremony import chain  # noqa: E402


def build_chain(d: Path, n: int) -> None:
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=365)
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
    (d / "root.json").write_bytes((d / f"{n}.root.json").read_bytes())


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


def time_verify(d: Path, n: int) -> float:
    t0 = time.perf_counter()
    published = chain.verify_published(d / "1.root.json", d)
    took = time.perf_counter() - t0
    assert published.report.newest_version == n and len(published.folder) == 4
    return took


def time_trusted_set(d: Path, n: int) -> float:
    t0 = time.perf_counter()
    trusted = TrustedMetadataSet((d / "1.root.json").read_bytes(), EnvelopeType.METADATA)
    for v in range(2, n + 1):
        trusted.update_root((d / f"{v}.root.json").read_bytes())
    took = time.perf_counter() - t0
    assert trusted.root.version == n
    return took


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory(prefix="ceremony-chain-") as tmp:
        d = Path(tmp) / "chain"
        d.mkdir()
        t0 = time.perf_counter()
        build_chain(d, n)
        print(f"built a chain of {n} root versions in {time.perf_counter() - t0:.1f} s")
        runs: dict[str, list[float]] = {"walk": [], "verify": [], "tms": [], "ngclient": []}
        for _ in range(5):  # interleaved, so a busy machine slows every column alike
            runs["walk"].append(time_ours(d, n))
            runs["verify"].append(time_verify(d, n))
            runs["tms"].append(time_trusted_set(d, n))
            runs["ngclient"].append(time_ngclient(d, n, Path(tmp)))
        med = {k: statistics.median(v) for k, v in runs.items()}
        base = med["tms"]
        rows = [("ceremony verify: root walk (chain.walk)", med["walk"]),
                ("ceremony verify: whole folder (verify_published)", med["verify"]),
                ("python-tuf TrustedMetadataSet.update_root", med["tms"]),
                ("python-tuf ngclient refresh()", med["ngclient"])]
        print(f"\nVerifying {n} root versions (median of 5 interleaved runs; target: ~1.0x "
              "TrustedMetadataSet)")
        print(f"{'what':<50} {'seconds':>8} {'vs TrustedMetadataSet':>22}")
        for what, secs in rows:
            print(f"{what:<50} {secs:>8.3f} {secs / base:>21.2f}x")


if __name__ == "__main__":
    main()
