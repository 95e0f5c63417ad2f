"""The DOI-shaped repository of issue 15 (root 3/5, offline targets 2/4, terminating
delegations doi 2/7, testing 2/4, rekor 2/4 with policy and key files as targets, snapshot
and timestamp online): ``rehearse --scenario doi`` makes and verifies it on throwaway
SoftHSM tokens, and the same plan run step by step on the suite's SoftHSM is accepted by
python-tuf's ngclient and tuf-js down to each delegation's targets."""

from __future__ import annotations

from pathlib import Path

from ceremony.engine import Ceremony
from ceremony.rehearse import DOI_HOLDERS, DOI_ROLES, write_doi_plan
from tests.conftest import SoftHsm
from tests.support.clients import both_clients_accept
from tests.support.helpers import cli, make_online_keys
from tests.support.roles import publish_online_roles
from tests.support.tuf_repo import serve


def test_rehearse_scenario_doi_makes_and_verifies_the_repository(tmp_path: Path) -> None:
    r = cli("rehearse", tmp_path / "ws", "--scenario", "doi", "--softhsm-dir", tmp_path / "hsm")
    assert r.code == 0, r.err
    assert "doi: root v1, targets and 3 delegations signed by alice, bob, carol, dave, erin" in r.out
    for line in ("verified: targets v1: signed at threshold, 0 target file(s) verified",
                 "verified: doi v1: signed at threshold, 2 target file(s) verified",
                 "verified: testing v1: signed at threshold, 1 target file(s) verified",
                 "verified: rekor v1: signed at threshold, 1 target file(s) verified"):
        assert line in r.out, r.out
    meta = tmp_path / "hsm" / "repository" / "metadata"
    assert sorted(p.name for p in meta.glob("1.*.json")) == [
        "1.doi.json", "1.rekor.json", "1.root.json", "1.targets.json", "1.testing.json"]
    assert not (tmp_path / "hsm" / "softhsm").exists()  # the throwaway tokens are gone


def test_rehearse_doi_is_refused_for_notary(tmp_path: Path) -> None:
    r = cli("rehearse", tmp_path / "ws", "--scenario", "doi", "--format", "notary")
    assert r.code == 64 and "--format notary rehearses the bootstrap only, not doi" in r.err, r.err


def test_doi_shaped_repository_is_accepted_by_both_clients(hsm: SoftHsm, tmp_path: Path) -> None:
    hsm.make(*[f"rehearsal-{k}" for k in DOI_HOLDERS])
    online = make_online_keys(hsm, tmp_path / "online", roles=("snapshot", "timestamp"))
    plan = tmp_path / "plan-doi.toml"
    write_doi_plan(plan, "ecdsa-p256", tmp_path / "online")
    ws = tmp_path / "ws"
    c = Ceremony.init(ws, plan)
    for k in c.plan.signers:
        c.keygen(k, hsm.module, hsm.pin)
    c.draft()
    signed = []
    for k in DOI_HOLDERS:
        if c.status().verified:
            break
        signed.append(c.sign(k, hsm.module, hsm.pin).roles)
    assert signed[0] == ["root", "targets", "doi"]  # alice: one sign, every role she holds
    c.publish()
    c.close()
    repo = tmp_path / "repo"
    publish_online_roles(ws, repo, online.open())
    bootstrap = (ws / "metadata" / "1.root.json").read_bytes()
    with serve(repo) as url:
        for role, (_holders, _t, _pattern, targets) in DOI_ROLES.items():
            for i, target in enumerate(targets):
                both_clients_accept(url, tmp_path / "clients" / f"{role}{i}", bootstrap, 1,
                                    (tmp_path / target).read_bytes(), target)
