"""The crash sweep of the newer publishes (tests/support/publish_sweep.py): a publish of offline
roles (targets, a delegation, target files; plain and under ``compat = "tuf-on-ci"``, which adds
root_history/ and the unversioned role files) and the X.509 CA's four publishes (root,
intermediate, issue, CRL), each killed at every write it makes, then resumed with status,
publish, record verify and export; the workspace must come out byte-identical to an uncrashed
run's and the bundle carry the same files.

The keys, drafts and signatures are made once per test, in process on SoftHSM; each kill point
copies the signed workspace. The points are counted against the writes each publish is known
to make (which files, replaced or never replaced, which new folders), so a sweep that reaches
nothing, or misses a write, fails. The figures are printed (``-s`` shows them)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SoftHsm
from tests.e2e.test_x509_intermediate import _intermediate as intermediate
from tests.support import crash_sweep as cs, publish_sweep as ps
from tests.support.helpers import cli, make_online_keys
from tests.support.roles import Role, RolesPlan
from tests.support.tufonci import TARGET, compat_plan
from tests.support.x509_ceremony import (
    APPROVERS,
    CA,
    LEAF_SUBJECT,
    NOTATION_TABLE,
    ROOT_TABLE,
    crl_table,
    draft_next,
    issue_table,
    make_csr,
    run,
    x509_plan,
)

pytestmark = pytest.mark.slow

HOLDERS = {k: f"tok-{k}" for k in ("alice", "bob", "carol")}
POLICY = b'{"allow": ["docker.io/library/*"]}\n'
README = b"listed by targets itself\n"


@pytest.fixture
def work(tmp_path: Path) -> Iterator[Path]:
    """A scratch folder in memory when there is one (the sweep copies a workspace per point)."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        d = Path(tempfile.mkdtemp(prefix="publish-sweep-", dir=shm))
        yield d
        shutil.rmtree(d, ignore_errors=True)
    else:
        yield tmp_path / "work"


def prepared(ws: Path, work: Path, name: str) -> Path:
    """A scenario folder for the sweep: a copy of the signed workspace ``ws`` as ``ws/``, and an
    empty ``stick/`` for the export that ends every resume."""
    folder = work / f"{name}-prepared"
    shutil.copytree(ws, folder / "ws", symlinks=True)
    (folder / "stick").mkdir()
    return folder


def sweep(work: Path, scenarios: dict[str, Path]) -> tuple[list[ps.Reference], list[ps.Outcome]]:
    """Every kill point of every scenario (name -> prepared folder) on two warm zygotes; fails
    naming each point whose resume needed a repair."""
    zygotes = [cs.Zygote(ps.PRELOAD) for _ in range(2)]
    try:
        refs = [ps.build_reference(zygotes[0], name, folder, work) for name, folder in scenarios.items()]
        outcomes = ps.sweep(zygotes, refs, work)
    finally:
        for z in zygotes:
            z.close()
    figures = ps.summary(refs, outcomes)
    print("\npublish crash sweep:", json.dumps(figures, indent=1))
    failures = [f"{o.reference}: publish killed at {o.call.syscall} #{o.call.ordinal} "
                f"({o.call.path}): {o.problems}" for o in outcomes if o.problems]
    assert not failures, "\n".join(failures[:20])
    assert figures["killed"] == figures["kill points"] == sum(len(ps.kill_points(r.calls)) for r in refs)
    return refs, outcomes


def test_a_publish_of_offline_roles_killed_at_every_write_resumes_byte_identical(
        hsm: SoftHsm, tmp_path: Path, work: Path) -> None:
    assert shutil.which("strace"), "strace is required (softhsm-setup/debian-packages.txt)"
    files = tmp_path / "plan"
    (files / "doi").mkdir(parents=True)
    (files / "doi" / "policy.json").write_bytes(POLICY)
    (files / "README.txt").write_bytes(README)
    hsm.make(*HOLDERS.values())
    make_online_keys(hsm, files / "online", roles=("snapshot", "timestamp"))
    plan = RolesPlan("roles-sweep", HOLDERS, ["alice", "bob", "carol"], 2, files / "online",
                     Role("targets", ["alice", "bob"], 2, "90d", targets=["README.txt"]),
                     [Role("doi", ["carol"], 1, "60d", paths=["doi/*"], terminating=True,
                           targets=["doi/policy.json"])]).write(files / "plan.toml")
    ws = signed(hsm, tmp_path / "ws", plan, HOLDERS)
    # the same under compat = "tuf-on-ci": root_history/ and the unversioned role files too
    files = tmp_path / "toc-plan"
    (files / "doi").mkdir(parents=True)
    (files / "doi" / "policy.json").write_bytes(POLICY)
    make_online_keys(hsm, files / "online", label="toc-online", roles=("online",))
    toc = {k: f"toc-{k}" for k in ("alice", "bob")}
    hsm.make(*toc.values())
    plan = compat_plan(files / "plan.toml", toc, 2, files / "online", name="doi",
                       delegations=[Role("doi", ["bob"], 1, "60d", paths=["doi/*"], terminating=True,
                                         targets=["doi/policy.json"])])
    toc_ws = signed(hsm, tmp_path / "toc-ws", plan, toc)
    refs, outcomes = sweep(work, {"roles": prepared(ws, work, "roles"),
                                  "roles-tuf-on-ci": prepared(toc_ws, work, "roles-tuf-on-ci")})
    readme, hello, policy = (hashlib.sha256(b).hexdigest() for b in (README, TARGET, POLICY))
    common = {"metadata/drafts/1.root.json": "rename",  # the draft, again (a sign cut short)
              "metadata/1.root.json": "link", "metadata/root.json": "rename",
              "metadata/1.targets.json": "link", "metadata/1.doi.json": "link",
              f"targets/doi/{policy}.policy.json": "link"}
    expected = {
        "roles": (common | {f"targets/{readme}.README.txt": "link"}, ["targets", "targets/doi"], 50),
        "roles-tuf-on-ci": (common | {f"targets/{hello}.hello.txt": "link",
                                      "metadata/root_history/1.root.json": "link",
                                      "metadata/targets.json": "link", "metadata/doi.json": "link"},
                            ["metadata/root_history", "targets", "targets/doi"], 69),
    }
    for ref in refs:
        files, dirs, count = expected[ref.name]
        assert ps.written(ref.calls) == files, ref.name
        assert ps.made_dirs(ref.calls) == dirs, ref.name
        points = [o for o in outcomes if o.reference == ref.name]
        assert len(points) == ps.expected_points(files, dirs) == count, ref.name
        # killed at the journal's fsync or the lock's release: published, nothing to redo
        assert sum(o.resumed == "already published" for o in points) == 2, ref.name


def signed(hsm: SoftHsm, ws: Path, plan: Path, holders: dict[str, str]) -> Path:
    """A TUF workspace of ``plan`` with every keyholder's key made and every role signed."""
    pin = ("--pin-file", hsm.pin_file)
    for argv in [("init", ws, "--plan", plan), *[("keygen", ws, "--keyholder", k, *pin) for k in holders],
                 ("draft", ws), *[("sign", ws, "--keyholder", k, *pin) for k in holders]]:
        r = cli(*argv)
        assert r.code == 0, (argv, r.err)
    return ws


def test_the_x509_publishes_killed_at_every_write_resume_byte_identical(
        hsm: SoftHsm, tmp_path: Path, work: Path) -> None:
    assert shutil.which("strace"), "strace is required (softhsm-setup/debian-packages.txt)"
    scenarios: dict[str, Path] = {}

    def publish(name: str, ws: Path, *signers: str) -> Path:
        run(ws, hsm, *signers)
        scenarios[name] = prepared(ws, work, name)
        r = cli("publish", ws)
        assert r.code == 0, r.err
        return ws / "metadata"

    hsm.make(*[f"x509-{k}" for k in (*APPROVERS, CA)])
    plan = x509_plan(tmp_path / "root-plan" / "plan.toml", "acme-root", ROOT_TABLE + NOTATION_TABLE)
    ws = tmp_path / "root-ws"
    for argv in [("init", ws, "--plan", plan),
                 *[("keygen", ws, "--keyholder", k, "--pin-file", hsm.pin_file) for k in (*APPROVERS, CA)],
                 ("draft", ws)]:
        r = cli(*argv)
        assert r.code == 0, (argv, r.err)
    root_dir = publish("x509-root", ws, "alice", "bob", CA)
    ws = intermediate(hsm, tmp_path, root_dir)
    r = cli("draft", ws)
    assert r.code == 0, r.err
    inter_dir = publish("x509-intermediate", ws, "bob", "carol", CA)
    (tmp_path / "leaf-plan").mkdir()
    make_csr(tmp_path / "leaf-plan" / "leaf.csr", LEAF_SUBJECT)
    leaf_dir = publish("x509-issue", draft_next(tmp_path, "leaf", issue_table("leaf", LEAF_SUBJECT, "leaf.csr"),
                                                inter_dir / "issuer"), "alice", "carol", CA)
    [leaf] = [p for p in leaf_dir.glob("issued-*.pem") if p.name not in {q.name for q in inter_dir.glob("issuer/*")}]
    serial = int(leaf.name.removeprefix("issued-").removesuffix(".pem"), 16)
    publish("x509-crl", draft_next(tmp_path, "crl", crl_table(serial), leaf_dir), "bob", "carol", CA)
    refs, outcomes = sweep(work, scenarios)
    inter = next(f for f in ps.written(refs[1].calls) if f.startswith("metadata/issuer/issued-"))
    inter = inter.removeprefix("metadata/issuer/")
    notation = "metadata/notation/truststore/x509/ca/acme"
    expected = {  # each publish: its draft again (a sign cut short), then every output, linked
        "x509-root": (["metadata/ca.pem", f"{notation}/acme-signing.pem",
                       "metadata/notation/trustpolicy.json", "metadata/ca.json"],
                      ["metadata/notation", *(notation.rsplit("/", k)[0] for k in (3, 2, 1, 0))]),
        "x509-intermediate": (["metadata/ca.pem", "metadata/issuer/ca.pem", f"metadata/issuer/{inter}",
                               "metadata/issuer/ca.json", "metadata/chain.pem", "metadata/ca.json"],
                              ["metadata/issuer"]),
        "x509-issue": ([f"metadata/{leaf.name}", "metadata/ca.pem", f"metadata/{inter}", "metadata/ca.json"], []),
        "x509-crl": (["metadata/crl-1.pem", "metadata/ca.pem", f"metadata/{inter}", f"metadata/{leaf.name}",
                      "metadata/ca.json"], []),
    }
    for version, ref in enumerate(refs, start=1):
        names, dirs = expected[ref.name]
        files = {f"metadata/drafts/{version}.root.json": "rename"} | dict.fromkeys(names, "link")
        assert ps.written(ref.calls) == files, ref.name
        assert ps.made_dirs(ref.calls) == dirs, ref.name
        points = [o for o in outcomes if o.reference == ref.name]
        assert len(points) == ps.expected_points(files, dirs), ref.name
        assert sum(o.resumed == "already published" for o in points) == 2, ref.name
    assert len(outcomes) == 42 + 50 + 37 + 43
