"""Rotating offline roles (issue 15): a ceremony continuing a repository whose targets and
delegations it signed reads them back verified, bumps every role's version, says in the
draft's changes what happens to each delegation (added, removed, threshold, paths, keys,
target files), and the result is followed by ngclient and tuf-js from root v1."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import SoftHsm
from tests.support.clients import both_clients_accept
from tests.support.helpers import cli, make_online_keys
from tests.support.roles import Role, RolesPlan, publish_online_roles
from tests.support.tuf_repo import serve

HOLDERS = {k: f"tok-{k}" for k in ("alice", "bob", "carol")}


def ceremony(hsm: SoftHsm, ws: Path, plan: Path, previous: Path | None = None,
             holders: tuple[str, ...] = tuple(HOLDERS)) -> str:
    """init (--previous), keygen whoever needs it, draft, everyone signs, publish; the draft's
    output."""
    r = cli("init", ws, "--plan", plan, *(["--previous", previous] if previous else []))
    assert r.code == 0, r.err
    for k in holders:
        r = cli("keygen", ws, "--keyholder", k, "--pin-file", hsm.pin_file)
        assert r.code in (0, 8), r.err  # 8: keeps the key of the root continued
    draft = cli("draft", ws)
    assert draft.code == 0, draft.err
    for k in holders:
        r = cli("sign", ws, "--keyholder", k, "--pin-file", hsm.pin_file)
        assert r.code == 0, r.err
    r = cli("publish", ws)
    assert r.code == 0, r.err
    return draft.out


def test_delegations_added_removed_and_changed_in_a_rotation(hsm: SoftHsm, tmp_path: Path) -> None:
    hsm.make(*HOLDERS.values())
    d = tmp_path / "plan"
    online = make_online_keys(hsm, d / "online", roles=("snapshot", "timestamp"))
    (d / "doi").mkdir(parents=True)
    (d / "rekor").mkdir()
    (d / "doi" / "policy.json").write_text('{"v": 1}\n')
    (d / "rekor" / "rekor.pub").write_text("a key\n")
    v1 = RolesPlan("v1", HOLDERS, ["alice", "bob"], 1, d / "online", Role("targets", ["alice"], 1),
                   [Role("doi", ["bob", "carol"], 1, paths=["doi/*"], terminating=True,
                         targets=["doi/policy.json"]),
                    Role("testing", ["carol"], 1, paths=["testing/*"])])
    ceremony(hsm, tmp_path / "ws1", v1.write(d / "v1.toml"))

    (d / "doi" / "policy.json").write_text('{"v": 2}\n')
    v2 = RolesPlan("v2", HOLDERS, ["alice", "bob"], 1, d / "online", Role("targets", ["alice"], 1),
                   [Role("doi", ["bob", "alice"], 2, paths=["doi/*", "extra/*"], terminating=True,
                         targets=["doi/policy.json"]),
                    Role("rekor", ["carol"], 1, paths=["rekor/*"], targets=["rekor/rekor.pub"])])
    out = ceremony(hsm, tmp_path / "ws2", v2.write(d / "v2.toml"), tmp_path / "ws1")
    changes = out.split("changes:\n", 1)[1]
    for line in ("delegation doi: threshold 1 -> 2",
                 "delegation doi: paths doi/* (terminating) -> doi/*, extra/* (terminating)",
                 "delegation doi: target doi/policy.json changed (sha256 ",
                 "delegation doi: + add key of alice", "delegation doi: - remove key of carol",
                 "delegation rekor: + added (1 of carol)", "delegation testing: - removed"):
        assert line in changes, changes
    assert "targets version 2: 1 of 1 (alice)" in out  # every role's version follows on
    assert "rekor: + added (1 of carol)" in changes and "key of carol" not in changes.replace(
        "delegation doi: - remove key of carol", "")
    ws2 = (tmp_path / "ws2" / "keys")  # carol (no root key) kept her key, as root keyholders do
    assert not (ws2 / "root-carol.json").exists()
    meta = tmp_path / "ws2" / "metadata"
    assert sorted(p.name for p in meta.glob("*.json") if p.name != "root.json") == [
        "1.rekor.json", "2.doi.json", "2.root.json", "2.targets.json"]  # rekor is new: v1

    repo = tmp_path / "repo"
    shutil.copytree(tmp_path / "ws1" / "metadata", repo / "metadata",
                    ignore=shutil.ignore_patterns("drafts", "*.testing.json"))
    publish_online_roles(tmp_path / "ws2", repo, online.open())
    bootstrap = (tmp_path / "ws1" / "metadata" / "1.root.json").read_bytes()
    with serve(repo) as url:
        both_clients_accept(url, tmp_path / "clients", bootstrap, 2, b'{"v": 2}\n',
                            "doi/policy.json")
        both_clients_accept(url, tmp_path / "clients2", bootstrap, 2, b"a key\n", "rekor/rekor.pub")


def test_previous_targets_that_do_not_verify_are_refused(hsm: SoftHsm, tmp_path: Path) -> None:
    hsm.make(*HOLDERS.values())
    d = tmp_path / "plan"
    make_online_keys(hsm, d / "online", roles=("snapshot", "timestamp"))
    plan = RolesPlan("v1", HOLDERS, ["alice", "bob"], 1, d / "online",
                     Role("targets", ["alice"], 1)).write(d / "v1.toml")
    ceremony(hsm, tmp_path / "ws1", plan, holders=("alice", "bob"))
    repo = tmp_path / "repo"
    shutil.copytree(tmp_path / "ws1" / "metadata", repo, ignore=shutil.ignore_patterns("drafts"))
    targets = repo / "1.targets.json"
    targets.write_text(targets.read_text().replace('"version": 1', '"version": 7'))
    r = cli("init", tmp_path / "ws2", "--plan", plan, "--previous", repo)
    assert r.code == 3, r.err
    assert f"{targets} does not verify against its delegator" in r.err
    assert not (tmp_path / "ws2").exists()


def test_compromised_delegation_key_gives_a_targets_version_signed_offline(
        hsm: SoftHsm, tmp_path: Path) -> None:
    """``compromise --key`` on the key of a delegation's keyholder (no root key): the emergency
    plan leaves it out of the delegation (threshold lowered so it can be met), and the next
    ceremony drafts targets and the delegation v2 without it, signed offline."""
    hsm.make(*HOLDERS.values())
    d = tmp_path / "plan"
    make_online_keys(hsm, d / "online", roles=("snapshot", "timestamp"))
    (d / "doi").mkdir(parents=True)
    (d / "doi" / "policy.json").write_text('{"v": 1}\n')
    v1 = RolesPlan("v1", HOLDERS, ["alice", "bob"], 1, d / "online", Role("targets", ["alice"], 1),
                   [Role("doi", ["bob", "carol"], 2, paths=["doi/*"], terminating=True,
                         targets=["doi/policy.json"])])
    ws1 = tmp_path / "ws1"
    ceremony(hsm, ws1, v1.write(d / "v1.toml"))
    carol = json.loads((ws1 / "keys" / "root-carol.json").read_text())["keyid"]

    r = cli("compromise", ws1, "--key", carol[:16], "--out", tmp_path / "emergency")
    assert r.code == 0, r.err
    assert f"delegation key {carol[:12]} (carol): delegated by targets v1 to doi" in r.out
    assert ("targets v2 is signed offline without the keys of carol: the emergency plan leaves "
            "them out of targets and every delegation") in r.out
    plan = tmp_path / "emergency" / "emergency-plan.toml"
    text = plan.read_text()
    assert '[[delegations]]\nname = "doi"\nkeyholders = ["bob"]\nthreshold = 1' in text
    assert (tmp_path / "emergency" / "doi" / "policy.json").read_text() == '{"v": 1}\n'

    ws2 = tmp_path / "ws2"
    out = ceremony(hsm, ws2, plan, ws1, holders=("alice", "bob"))
    assert "delegation doi: - remove key of carol" in out
    assert "delegation doi: threshold 2 -> 1" in out
    doi = json.loads((ws2 / "metadata" / "2.targets.json").read_text())["signed"]["delegations"]
    assert carol not in doi["roles"][0]["keyids"] and carol not in doi["keys"]
    assert (ws2 / "metadata" / "2.doi.json").is_file()
