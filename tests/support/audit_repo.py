"""TUF repositories made with python-tuf directly (no ceremony), and YubiKey attestation folders
for their keys, to audit (tests/checks/test_audit_*.py, bench/bench_audit.py).

Keys are software ECDSA P-256 keys (``CryptoSigner``); each can be given a YubiKey serial and
firmware, for which the virtual PIV card's attestation CA (tests/support/vpiv/attestation_ca)
issues the f9 device certificate and the slot-9c attestation, written as sigstore's and
tuf-on-ci's ceremonies archive them: ``<serial>/Slot9CAttestation.pem`` and
``<serial>/SlotF9Intermediate.pem``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding
from securesystemslib.signer import CryptoSigner, Key
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    SuccinctRoles,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from tests.support.vpiv.attestation_ca import TestAttestationCA, default_ca, slot_attestation

NOW = datetime(2026, 12, 1, tzinfo=UTC)


@dataclass
class Holder:
    """One key: its signer, and the YubiKey it is said to live on (serial, firmware)."""

    name: str
    signer: CryptoSigner
    serial: int | None = None
    firmware: tuple[int, int, int] = (5, 7, 1)
    fields: dict[str, Any] = field(default_factory=dict)
    keyid: str | None = None  # another id for the same public key (an alias)

    @property
    def key(self) -> Key:
        k = self.signer.public_key
        return Key.from_dict(self.keyid or k.keyid, dict(k.to_dict(), **self.fields))


def alias(h: Holder, owner: str) -> Holder:
    """``h``'s public key under another id (its whole-object id with another owner field)."""
    from ceremony.keyids import whole_object_keyid
    fields = dict(h.fields, **{"x-tuf-on-ci-keyowner": owner})
    obj = dict(h.signer.public_key.to_dict(), **fields)
    return Holder(h.name, h.signer, h.serial, h.firmware, fields, whole_object_keyid(obj))


def holder(name: str, serial: int | None = None, firmware: tuple[int, int, int] = (5, 7, 1),
           **fields: Any) -> Holder:
    """A fresh P-256 key owned by ``name`` (``x-tuf-on-ci-keyowner``), with ``fields`` added."""
    h = Holder(name, CryptoSigner.generate_ecdsa(), serial, firmware)
    h.fields = {"x-tuf-on-ci-keyowner": f"@{name}", **fields}
    return h


def write_attestation(folder: Path, h: Holder, ca: TestAttestationCA | None = None,
                      serial: int | None = None, name: str | None = None) -> Path:
    """``folder/<serial>/Slot9CAttestation.pem`` + ``SlotF9Intermediate.pem`` for ``h``'s key."""
    ca = ca or default_ca()
    serial = serial if serial is not None else h.serial
    assert serial is not None
    device_cert = ca.device_certificate(serial, h.firmware)
    slot = slot_attestation(ca.device_key(serial), device_cert, 0x9C,
                            h.signer.public_key._crypto_key(),  # type: ignore[attr-defined]
                            h.firmware, serial, 3, 2, 3)
    out = folder / (name or str(serial))
    out.mkdir(parents=True, exist_ok=True)
    (out / "Slot9CAttestation.pem").write_bytes(slot.public_bytes(Encoding.PEM))
    (out / "SlotF9Intermediate.pem").write_bytes(device_cert.public_bytes(Encoding.PEM))
    return out


def roots_pem(path: Path, ca: TestAttestationCA | None = None) -> Path:
    """The attestation CA's roots as a PEM file (``--attestation-roots``)."""
    path.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in (ca or default_ca()).roots))
    return path


def _write(md: Metadata[Any], path: Path) -> None:
    path.write_bytes(md.to_bytes(JSONSerializer()))


def _sign(md: Metadata[Any], *holders: Holder) -> Metadata[Any]:
    for h in holders:
        md.sign(h.signer, append=True)
    return md


@dataclass
class Repo:
    """A repository's holders by role, for tests that change one thing."""

    folder: Path
    root: list[Holder]
    targets: list[Holder]
    online: Holder
    delegated: dict[str, list[Holder]]
    bins: Holder | None

    def offline(self) -> list[Holder]:
        seen: dict[str, Holder] = {}
        for h in [*self.root, *self.targets, *[x for hs in self.delegated.values() for x in hs],
                  *([self.bins] if self.bins else [])]:
            seen.setdefault(h.signer.public_key.keyid, h)
        return list(seen.values())


def make_repo(folder: Path, *, root: list[Holder], targets: list[Holder], online: Holder,
              delegated: dict[str, list[Holder]] | None = None, bins: Holder | None = None,
              bin_bits: int = 3, root_versions: int = 2, expires: timedelta = timedelta(days=365),
              root_extra: list[Holder] | None = None, targets_threshold: int = 1,
              skip: tuple[str, ...] = (), now: datetime = NOW) -> Repo:
    """Write a repository: ``root_versions`` roots (each signed by all ``root`` holders),
    ``targets`` (offline, ``targets_threshold``), one terminating delegation per ``delegated``
    entry (paths ``NAME/*``), and under role ``bins`` (when ``bins`` is given) succinct hash
    bins (``2**bin_bits`` of them) all signed by it; snapshot and timestamp by ``online``.
    ``root_extra`` keys are also listed in the root role (aliases, shared keys); ``skip``
    names roles whose file is not written; expiries count from ``now``."""
    folder.mkdir(parents=True, exist_ok=True)
    delegated = delegated or {}
    exp = now + expires
    r = Root(expires=exp, consistent_snapshot=False)
    for h in root + (root_extra or []):
        r.add_key(h.key, "root")
    for h in targets:
        r.add_key(h.key, "targets")
    for role in ("snapshot", "timestamp"):
        r.add_key(online.key, role)
    r.roles["root"].threshold = len(root)
    r.roles["targets"].threshold = targets_threshold
    for v in range(1, root_versions + 1):
        r.version = v
        md = _sign(Metadata(r), *root)
        _write(md, folder / f"{v}.root.json")
    _write(md, folder / "root.json")

    t = Targets(expires=exp)
    t.targets["policy.json"] = TargetFile.from_data("policy.json", b"{}", ["sha256"])
    roles: dict[str, DelegatedRole] = {}
    keys: dict[str, Key] = {}
    for name, holders in delegated.items():
        for h in holders:
            keys[h.key.keyid] = h.key
        roles[name] = DelegatedRole(name, [h.key.keyid for h in holders], 1, True, paths=[f"{name}/*"])
    if bins is not None:
        keys[bins.key.keyid] = bins.key
        roles["bins"] = DelegatedRole("bins", [bins.key.keyid], 1, True, paths=["bins/*"])
    if roles:
        t.delegations = Delegations(keys, roles)
    meta: dict[str, MetaFile] = {}
    if "targets" not in skip:
        _write(_sign(Metadata(t), *targets), folder / "targets.json")
    meta["targets.json"] = MetaFile(1)
    for name, holders in delegated.items():
        d = Targets(expires=exp)
        d.targets[f"{name}/key.pub"] = TargetFile.from_data(f"{name}/key.pub", name.encode(), ["sha256"])
        if name not in skip:
            _write(_sign(Metadata(d), holders[0]), folder / f"{name}.json")
        meta[f"{name}.json"] = MetaFile(1)
    if bins is not None:
        parent = Targets(expires=exp)
        succinct = SuccinctRoles([bins.key.keyid], 1, bin_bits, "bin")
        parent.delegations = Delegations({bins.key.keyid: bins.key}, succinct_roles=succinct)
        _write(_sign(Metadata(parent), bins), folder / "bins.json")
        meta["bins.json"] = MetaFile(1)
        for name in succinct.get_roles():
            if "bin-files" in skip:
                break
            _write(_sign(Metadata(Targets(expires=exp)), bins), folder / f"{name}.json")
            meta[f"{name}.json"] = MetaFile(1)
    snap = Snapshot(expires=now + timedelta(days=7), meta=meta)
    _write(_sign(Metadata(snap), online), folder / "snapshot.json")
    ts = Timestamp(expires=now + timedelta(days=1), snapshot_meta=MetaFile(1))
    _write(_sign(Metadata(ts), online), folder / "timestamp.json")
    return Repo(folder, root, targets, online, delegated, bins)


def standard_repo(folder: Path, firmware: tuple[int, int, int] = (5, 7, 1)) -> Repo:
    """A DOI-shaped repository: root 2 of 2, targets 1 of 2, delegations ``doi`` and
    ``rekor`` (terminating), 8 hash bins under ``bins``; snapshot and timestamp online (a KMS
    URI in ``x-tuf-on-ci-online-uri``). Every offline key has a serial (10000001...)."""
    serials = iter(range(10000001, 10000100))
    root = [holder(n, next(serials), firmware) for n in ("alice", "bob")]
    targets = [root[0], holder("carol", next(serials), firmware)]
    delegated = {"doi": [holder("dave", next(serials), firmware)],
                 "rekor": [holder("erin", next(serials), firmware)]}
    bins = holder("frank", next(serials), firmware)
    online = holder("online", None, **{"x-tuf-on-ci-online-uri": "gcpkms:projects/p/keys/online"})
    online.fields.pop("x-tuf-on-ci-keyowner")
    return make_repo(folder, root=root, targets=targets, online=online, delegated=delegated, bins=bins)


def attest_all(repo: Repo, folder: Path, ca: TestAttestationCA | None = None) -> Path:
    """An attestation folder for every offline key of ``repo``."""
    for h in repo.offline():
        if h.serial is not None:
            write_attestation(folder, h, ca)
    return folder
