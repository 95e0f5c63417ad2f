"""The rotation lifecycle as docs/ceremony-runbook.md writes it, each hop taken by a client.

bootstrap (the runbook's ``ceremony`` story) -> rotation (``rotation``) -> rotation ->
emergency after a compromise -> rotation (``lifecycle``): every block runs as the page shows
it, through the same machinery as tests/e2e/test_runbook.py (SoftHSM tokens, one process per
command), each hop carried by ``export --usb`` and ``import --usb --out repository/metadata``.
After every hop the online side's folder is published with timestamp/snapshot/targets signed
by the newest root's online keys, ``ceremony verify`` checks it as a client reads it, and
python-tuf's ngclient, which trusted the previous version, updates to the new one and
downloads a target.
"""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot, TargetFile, Targets, Timestamp
from tuf.api.serialization.json import JSONSerializer
from tuf.ngclient import Updater

from ceremony.keys import key_from_crypto
from tests.e2e import test_runbook as runbook
from tests.support.helpers import cli
from tests.support.tuf_repo import serve


class OnlineSide:
    """The online side's private keys (recorded as the world makes them) and its publishing."""

    def __init__(self) -> None:
        self.signers: dict[str, CryptoSigner] = {}  # keyid -> signer
        self.release = 0

    def make_pem(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        private = ec.generate_private_key(ec.SECP256R1())
        public = private.public_key()
        path.write_bytes(public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
        key = key_from_crypto(public)
        self.signers[key.keyid] = CryptoSigner(private, key)

    def publish(self, metadata: Path, version: int, site: Path) -> None:
        """``site``: root versions 1..``version`` of ``metadata`` and a new release of the
        online roles signed by root ``version``'s online keys."""
        if site.exists():
            shutil.rmtree(site)
        meta, tdir = site / "metadata", site / "targets"
        meta.mkdir(parents=True)
        tdir.mkdir()
        for v in range(1, version + 1):
            shutil.copy(metadata / f"{v}.root.json", meta)
        shutil.copy(meta / f"{version}.root.json", meta / "root.json")
        root: Root = Metadata[Root].from_file(str(meta / "root.json")).signed
        self.release += 1
        n = self.release
        expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=7)
        body = f"acme update {n}\n".encode()
        (tdir / f"{hashlib.sha256(body).hexdigest()}.update.txt").write_bytes(body)
        (tdir / "update.txt").write_bytes(body)

        def sign(md: Metadata, role: str) -> bytes:
            for keyid in root.roles[role].keyids:
                md.sign(self.signers[keyid], append=True)
            return md.to_bytes(JSONSerializer())

        consistent = root.consistent_snapshot
        targets = Metadata(Targets(version=n, expires=expires))
        targets.signed.targets["update.txt"] = TargetFile.from_data("update.txt", body, ["sha256"])
        t_bytes = sign(targets, "targets")
        (meta / (f"{n}.targets.json" if consistent else "targets.json")).write_bytes(t_bytes)
        snapshot = Metadata(Snapshot(version=n, expires=expires))
        snapshot.signed.meta["targets.json"] = MetaFile(version=n)
        s_bytes = sign(snapshot, "snapshot")
        (meta / (f"{n}.snapshot.json" if consistent else "snapshot.json")).write_bytes(s_bytes)
        timestamp = Metadata(Timestamp(version=n, expires=expires))
        timestamp.signed.snapshot_meta = MetaFile(version=n)
        (meta / "timestamp.json").write_bytes(sign(timestamp, "timestamp"))


class Client:
    """One ngclient that keeps its trusted metadata from hop to hop."""

    def __init__(self, home: Path) -> None:
        self.meta = home / "metadata"
        self.downloads = home / "downloads"
        self.meta.mkdir(parents=True)
        self.downloads.mkdir()
        self.bootstrap: bytes | None = None

    def update(self, site: Path) -> tuple[int, bytes]:
        with serve(site) as url:
            updater = Updater(str(self.meta), f"{url}/metadata/", str(self.downloads),
                              f"{url}/targets/", bootstrap=self.bootstrap)
            self.bootstrap = None  # from now on the client trusts what it stored
            updater.refresh()
            info = updater.get_targetinfo("update.txt")
            assert info is not None
            path = updater.download_target(info)
        version = Metadata.from_file(str(self.meta / "root.json")).signed.version
        return version, Path(path).read_bytes()


def test_bootstrap_rotation_rotation_emergency_rotation(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        request: pytest.FixtureRequest) -> None:
    t = tmp_path
    online = OnlineSide()
    monkeypatch.setattr(runbook, "_public_pem", online.make_pem)
    blocks, problems = runbook.read_blocks(runbook.RUNBOOK.read_text(encoding="utf-8"))
    assert problems == []
    runbook.prepare_world(t)
    zygote = runbook.start_zygote(t)
    request.addfinalizer(lambda: (zygote.terminate(), zygote.wait(10)))
    live = runbook.Pass("live", t, runbook.base_env(t),
                        [("softhsm-setup/", f"{runbook.REPO}/softhsm-setup/"),
                         ("photos/", "out/qr/"), ("/media/", f"{t}/media/")], t / "fake")
    runbook.make_sticks(t, blocks)
    repo = t / "repository" / "metadata"
    client = Client(t / "client")
    seen = 0

    def hop() -> None:
        """Every version new in the online folder, published and taken by the client."""
        nonlocal seen
        newest = max(int(p.name.split(".")[0]) for p in repo.glob("*.root.json"))
        assert (repo / "root.json").read_bytes() == (repo / f"{newest}.root.json").read_bytes()
        for version in range(seen + 1, newest + 1):
            site = t / "site"
            online.publish(repo, version, site)
            checked = cli("verify", "--trusted", site / "metadata" / "1.root.json",
                          site / "metadata")
            assert checked.code == 0, checked.err
            assert f"chain verified: newest root is v{version}" in checked.out
            assert "timestamp.json: timestamp v" in checked.out
            if client.bootstrap is None and seen == 0:
                client.bootstrap = (repo / "1.root.json").read_bytes()
            got, body = client.update(site)
            assert (got, body) == (version, f"acme update {online.release}\n".encode())
            seen = version

    outputs = []
    for name in ("ceremony", "rotation", "lifecycle"):
        for block in blocks:
            if block.scenario == name and block.skip is None:
                outputs.append(runbook.run_block(block, live).stdout)
                if name != "rotation" and (repo / "1.root.json").exists():
                    hop()
    assert seen == 5
    text = "\n".join(outputs)
    # the command compromise printed is the one the runbook runs next
    assert "  ceremony init NEW_WORKSPACE --plan incident-2/emergency-plan.toml --previous " \
        "rotation-2028/metadata" in text
    assert "root chain verified from the trusted root v4 already in repository/metadata up to v5" \
        in text
    # the client's final root is the one the last ceremony published
    assert (client.meta / "root.json").read_bytes() == \
        (t / "rotation-2029" / "metadata" / "5.root.json").read_bytes()
