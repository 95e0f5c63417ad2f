"""Plans with offline roles beyond root (issue 15), for the roles tests: ``targets`` signed
offline and delegations, written as raw TOML after the roles the plan builder lays out
(:class:`tests.support.plans.Plan`'s ``tail``)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuf.api.metadata import Metadata, MetaFile, Snapshot, Timestamp
from tuf.api.serialization.json import JSONSerializer

from hsm.pkcs11 import TokenKey
from tests.support.plans import Keyholder, Online, Plan
from tests.support.tuf_repo import signer

if TYPE_CHECKING:
    from tests.support.helpers import Run


@dataclass(frozen=True)
class Role:
    """``[roles.targets]`` (``name = "targets"``) or one ``[[delegations]]`` entry."""

    name: str
    keyholders: Sequence[str]
    threshold: int
    expires: str = "365d"
    targets: Sequence[str] = ()
    paths: Sequence[str] | None = None
    path_hash_prefixes: Sequence[str] | None = None
    terminating: bool | None = None
    extra: str | None = None  # raw TOML lines (bad-input tests)

    def lines(self, top: bool = False) -> list[str]:
        out = ["[roles.targets]"] if top else \
            ["[[delegations]]", f"name = {json.dumps(self.name)}"]
        if self.keyholders:
            out.append(f"keyholders = {json.dumps(list(self.keyholders))}")
        out += [f"threshold = {self.threshold}", f'expires = "{self.expires}"']
        if self.targets:
            out.append(f"targets = {json.dumps(list(self.targets))}")
        if self.paths is not None:
            out.append(f"paths = {json.dumps(list(self.paths))}")
        if self.path_hash_prefixes is not None:
            out.append(f"path_hash_prefixes = {json.dumps(list(self.path_hash_prefixes))}")
        if self.terminating is not None:
            out.append(f"terminating = {'true' if self.terminating else 'false'}")
        if self.extra:
            out.append(self.extra)
        return [*out, ""]


@dataclass
class RolesPlan:
    """A TUF plan whose targets (and delegations) are signed offline."""

    name: str
    holders: dict[str, str]  # keyholder -> token label
    root: Sequence[str]
    threshold: int
    online_dir: Path  # snapshot.pub.pem, timestamp.pub.pem
    targets: Role
    delegations: Sequence[Role] = field(default_factory=list)
    extra: str | None = None

    def text(self) -> str:
        tail = []
        tail += self.targets.lines(top=True)
        for role in self.delegations:
            tail += role.lines()
        online = {r: Online([self.online_dir / f"{r}.pub.pem"], "7d") for r in ("snapshot", "timestamp")}
        holders = [Keyholder(k, token=t) for k, t in self.holders.items()]
        return Plan(self.name, holders, self.threshold, online, root=list(self.root),
                    extra=self.extra, tail="\n".join(tail)).text()

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.text())
        return path


def publish_online_roles(ws: Path, repo: Path, online: dict[str, TokenKey], version: int = 1) -> None:
    """A servable repository in ``repo`` from what the ceremony in ``ws`` published: its root,
    targets and delegated roles' metadata and target files as they are, and snapshot (listing
    every targets-type role file) and timestamp signed here by the online test keys."""
    meta = repo / "metadata"
    shutil.copytree(ws / "metadata", meta, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("drafts"))
    if (ws / "targets").exists():
        shutil.copytree(ws / "targets", repo / "targets", dirs_exist_ok=True)
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=7)
    snapshot = Metadata(Snapshot(version=version, expires=expires))
    for f in sorted(meta.glob("*.json")):
        v, _, rest = f.name.partition(".")
        if v.isdigit() and rest != "root.json":
            snapshot.signed.meta[rest] = MetaFile(version=int(v))
    snapshot.sign(signer(online["snapshot"]))
    (meta / f"{version}.snapshot.json").write_bytes(snapshot.to_bytes(JSONSerializer()))
    timestamp = Metadata(Timestamp(version=version, expires=expires))
    timestamp.signed.snapshot_meta = MetaFile(version=version)
    timestamp.sign(signer(online["timestamp"]))
    (meta / "timestamp.json").write_bytes(timestamp.to_bytes(JSONSerializer()))


def small_doi_plan(hsm: Any, tmp: Path, policy: bytes = b'{"policy": "doi"}\n',
                   extra: str | None = None) -> Path:
    """The smallest plan with every kind of offline role: alice alone (token ``tok-alice``)
    holds root, targets and a terminating delegation ``doi`` (``doi/*``, 1 of 1 each) that
    lists one target file ``doi/policy.json`` holding ``policy``; snapshot and timestamp
    online; ``extra``: raw TOML lines at the end of ``[ceremony]``. Returns the plan file
    (under ``tmp/plan``)."""
    # lazy: ceremony.cli (through tests.support.helpers), not needed by the plan-only tests
    from tests.support.helpers import make_online_keys

    hsm.make("tok-alice")
    files = tmp / "plan"
    (files / "doi").mkdir(parents=True)
    (files / "doi" / "policy.json").write_bytes(policy)
    make_online_keys(hsm, files / "online", roles=("snapshot", "timestamp"))
    return RolesPlan(name="roles", holders={"alice": "tok-alice"}, root=["alice"], threshold=1,
                     online_dir=files / "online", targets=Role("targets", ["alice"], 1),
                     delegations=[Role("doi", ["alice"], 1, paths=["doi/*"], terminating=True,
                                       targets=["doi/policy.json"])],
                     extra=extra).write(files / "plan.toml")


def signed_small_roles(hsm: Any, tmp: Path, policy: bytes = b'{"policy": "doi"}\n',
                       extra: str | None = None) -> Path:
    """:func:`small_doi_plan`'s ceremony in ``tmp/ws`` through the CLI: initialised, alice's
    key made, drafted and signed (every role at threshold), ready to publish. Returns the
    workspace; the target file is ``tmp/plan/doi/policy.json``."""
    # lazy: ceremony.cli (through tests.support.helpers), not needed by the plan-only tests
    from tests.support.helpers import cli

    plan = small_doi_plan(hsm, tmp, policy, extra)
    ws = tmp / "ws"
    for step in (("init", ws, "--plan", plan),
                 ("keygen", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file),
                 ("draft", ws), ("sign", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file)):
        r = cli(*step)
        assert r.code == 0, r.err
    return ws


def usb_round_trip(ws: Path, tmp: Path) -> Run:
    """Export the published ceremony in ``ws`` to a new folder ``tmp/stick`` and import it
    into ``tmp/in``, both of which must succeed; the import's run (its report on ``out``)."""
    # lazy: ceremony.cli (through tests.support.helpers), not needed by the plan-only tests
    from tests.support.helpers import cli

    stick = tmp / "stick"
    stick.mkdir()
    r = cli("export", ws, "--usb", stick)
    assert r.code == 0, r.err
    r = cli("import", "--usb", stick, "--out", tmp / "in")
    assert r.code == 0, r.err
    return r
