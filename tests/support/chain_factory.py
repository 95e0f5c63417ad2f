"""Root chains and online metadata made with software keys, for tests of what verify reads.

Verification needs no token: these chains are built with securesystemslib's CryptoSigner so
an attack table runs in milliseconds. Keyholders are named through the ceremony's
``x-ceremony-keyholder`` field so messages read as the room would hear them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from securesystemslib.signer import CryptoSigner, Key
from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot, TargetFile, Targets, Timestamp
from tuf.api.serialization.json import JSONSerializer

from ceremony.formats import tuf as tuf_format

NOW = datetime.now(UTC).replace(microsecond=0)


def named(signer: CryptoSigner, name: str) -> Key:
    """``signer``'s public key with its keyholder's name in the ceremony's x- field."""
    key = signer.public_key
    data = {"keytype": key.keytype, "scheme": key.scheme, "keyval": dict(key.keyval),
            tuf_format.X_KEYHOLDER: name}
    return Key.from_dict(key.keyid, data)


@dataclass
class World:
    """Root keyholders (software keys) and one online key for every online role."""

    holders: dict[str, CryptoSigner] = field(default_factory=dict)
    online: CryptoSigner = field(default_factory=CryptoSigner.generate_ecdsa)

    def holder(self, name: str) -> CryptoSigner:
        if name not in self.holders:
            self.holders[name] = CryptoSigner.generate_ecdsa()
        return self.holders[name]

    def root(self, version: int, members: list[str], threshold: int,
             expires: datetime | None = None, consistent: bool = True) -> Metadata[Root]:
        """An unsigned root ``version`` with ``members`` as root keys."""
        root = Root(version=version, expires=expires or NOW + timedelta(days=365),
                    consistent_snapshot=consistent)
        for name in members:
            root.add_key(named(self.holder(name), name), Root.type)
        root.roles[Root.type].threshold = threshold
        for role in ("targets", "snapshot", "timestamp"):
            root.add_key(self.online.public_key, role)
        return Metadata(root)

    def sign(self, md: Metadata[Root], *names: str) -> bytes:
        for name in names:
            md.sign(self.holder(name), append=True)
        return tuf_format.to_bytes(md)


def standard_chain(d: Path, world: World, n: int = 3, *, root_json: bool = True,
                   newest_expires: datetime | None = None) -> None:
    """``1.root.json`` .. ``n.root.json``: alice, bob, carol at 2 of 3, then each version
    swaps one keyholder for a new one (dave, erin, ...) and is signed by the two who stay
    (the old and the new threshold both); ``root.json`` is a copy of the newest."""
    d.mkdir(parents=True, exist_ok=True)
    members = ["alice", "bob", "carol"]
    pool = ["dave", "erin", "frank", "grace", "heidi"]
    data = world.sign(world.root(1, members, 2), "alice", "bob")
    (d / "1.root.json").write_bytes(data)
    for v in range(2, n + 1):
        old = list(members)
        members = [m for m in members if m != members[(v + 1) % 3]] + [pool[v - 2]]
        expires = newest_expires if v == n and newest_expires else None
        md = world.root(v, members, 2, expires)
        data = world.sign(md, *[m for m in old if m in members])
        (d / f"{v}.root.json").write_bytes(data)
    if root_json:
        (d / "root.json").write_bytes(data)


def publish_online(d: Path, world: World, version: int = 1, *,
                   expires: datetime | None = None, consistent: bool = True) -> None:
    """``timestamp.json``, ``N.snapshot.json`` and ``N.targets.json`` (consistent snapshots;
    else ``snapshot.json`` and ``targets.json``), each signed by the online key, with hashes,
    as an online side publishes them."""
    when = expires or NOW + timedelta(days=7)
    target = b"hello, world\n"
    targets = Metadata(Targets(version=version, expires=when))
    targets.signed.targets["hello.txt"] = TargetFile.from_data("hello.txt", target, ["sha256"])
    targets.sign(world.online)
    t_bytes = targets.to_bytes(JSONSerializer())
    (d / (f"{version}.targets.json" if consistent else "targets.json")).write_bytes(t_bytes)
    snapshot = Metadata(Snapshot(version=version, expires=when))
    snapshot.signed.meta["targets.json"] = MetaFile(
        version=version, length=len(t_bytes), hashes={"sha256": hashlib.sha256(t_bytes).hexdigest()})
    snapshot.sign(world.online)
    s_bytes = snapshot.to_bytes(JSONSerializer())
    (d / (f"{version}.snapshot.json" if consistent else "snapshot.json")).write_bytes(s_bytes)
    timestamp = Metadata(Timestamp(version=version, expires=when))
    timestamp.signed.snapshot_meta = MetaFile(
        version=version, length=len(s_bytes), hashes={"sha256": hashlib.sha256(s_bytes).hexdigest()})
    timestamp.sign(world.online)
    (d / "timestamp.json").write_bytes(timestamp.to_bytes(JSONSerializer()))


def edit(path: Path, change: object) -> None:
    """Rewrite the JSON at ``path`` through ``change(document)`` (no re-signing)."""
    doc = json.loads(path.read_bytes())
    change(doc)  # type: ignore[operator]
    path.write_text(json.dumps(doc, indent=1))
