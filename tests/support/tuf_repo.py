"""The online side of a TUF repository, for tests: sign targets/snapshot/timestamp with the
online keys (on SoftHSM), serve the folder on 127.0.0.1, and run python-tuf's ngclient (with
tuf-js beside it, tests/support/clients.py)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from securesystemslib.signer import Key
from tuf.api.metadata import Metadata, MetaFile, Snapshot, TargetFile, Targets, Timestamp
from tuf.api.serialization.json import JSONSerializer
from tuf.ngclient import Updater

from ceremony.keys import key_from_crypto
from hsm.pkcs11 import TokenKey
from hsm.signer import TokenSigner


def signer(tk: TokenKey) -> TokenSigner:
    return TokenSigner(tk, key_from_crypto(tk.public_key()))


def publish_online(repo: Path, online: dict[str, TokenKey], version: int = 1,
                   target: bytes = b"hello, world\n", target_name: str = "hello.txt",
                   snapshot_version: int | None = None, root_version: int = 1) -> None:
    """Write targets, snapshot and timestamp (consistent snapshots) signed by ``online``."""
    meta = repo / "metadata"
    meta.mkdir(parents=True, exist_ok=True)
    tdir = repo / "targets"
    tdir.mkdir(parents=True, exist_ok=True)
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=7)
    sha = hashlib.sha256(target).hexdigest()
    (tdir / f"{sha}.{target_name}").write_bytes(target)
    targets = Metadata(Targets(version=version, expires=expires))
    targets.signed.targets[target_name] = TargetFile.from_data(target_name, target, ["sha256"])
    targets.sign(signer(online["targets"]))
    (meta / f"{version}.targets.json").write_bytes(targets.to_bytes(JSONSerializer()))
    sv = snapshot_version or version
    snapshot = Metadata(Snapshot(version=sv, expires=expires))
    snapshot.signed.meta["targets.json"] = MetaFile(version=version)
    snapshot.sign(signer(online["snapshot"]))
    (meta / f"{sv}.snapshot.json").write_bytes(snapshot.to_bytes(JSONSerializer()))
    timestamp = Metadata(Timestamp(version=sv, expires=expires))
    timestamp.signed.snapshot_meta = MetaFile(version=sv)
    timestamp.sign(signer(online["timestamp"]))
    (meta / "timestamp.json").write_bytes(timestamp.to_bytes(JSONSerializer()))


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on 127.0.0.1 (a free port); yields the base URL."""
    handler = partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def client_download(base_url: str, client_dir: Path, bootstrap: bytes,
                    target_name: str = "hello.txt") -> tuple[int, bytes]:
    """Refresh with ngclient from ``bootstrap`` and download a target; returns (root version, bytes).

    tuf-js runs the same refresh (tests/support/clients.py) and must agree: the same root version and
    bytes when ngclient accepts, a refusal when ngclient raises (whose exception propagates).
    So every test written against ngclient also proves its scenario with a second client.
    """
    from tests.support.clients import tufjs_refresh
    try:
        result = _ngclient_download(base_url, client_dir, bootstrap, target_name)
    except Exception as e:
        theirs = tufjs_refresh(base_url, client_dir / "tuf-js", bootstrap, target_name)
        assert not theirs.ok, f"ngclient refused ({type(e).__name__}: {e}), but {theirs}"
        raise
    theirs = tufjs_refresh(base_url, client_dir / "tuf-js", bootstrap, target_name)
    assert theirs.ok and (theirs.root_version, theirs.target) == result, \
        f"ngclient accepted root v{result[0]}, but {theirs}"
    return result


def _ngclient_download(base_url: str, client_dir: Path, bootstrap: bytes,
                       target_name: str) -> tuple[int, bytes]:
    meta_dir = client_dir / "metadata"
    dl_dir = client_dir / "downloads"
    meta_dir.mkdir(parents=True, exist_ok=True)
    dl_dir.mkdir(parents=True, exist_ok=True)
    updater = Updater(str(meta_dir), f"{base_url}/metadata/", str(dl_dir), f"{base_url}/targets/",
                      bootstrap=bootstrap)
    updater.refresh()
    info = updater.get_targetinfo(target_name)
    assert info is not None, f"{target_name} not found by the client"
    path = updater.download_target(info)
    root_version = Metadata.from_file(str(meta_dir / "root.json")).signed.version
    return root_version, Path(path).read_bytes()


def tuf_key(tk: TokenKey) -> Key:
    return key_from_crypto(tk.public_key())
