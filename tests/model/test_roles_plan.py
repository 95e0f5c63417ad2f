"""The plan's roles beyond root (issue 15): offline targets and delegations, validated before
anything is written. Each bad input: its exact message, exit 2, no workspace."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ceremony import role_paths
from ceremony.errors import PlanError
from ceremony.plan import parse_plan
from tests.support.helpers import cli
from tests.support.plans import Keyholder, Online, Plan
from tests.support.roles import Role, RolesPlan

HOLDERS = {k: f"tok-{k}" for k in ("alice", "bob", "carol", "dave")}


def online_dir(tmp: Path) -> Path:
    d = tmp / "online"
    d.mkdir(parents=True, exist_ok=True)
    for role in ("snapshot", "timestamp"):
        pub = ec.generate_private_key(ec.SECP256R1()).public_key()
        (d / f"{role}.pub.pem").write_bytes(pub.public_bytes(Encoding.PEM,
                                                             PublicFormat.SubjectPublicKeyInfo))
    return d


def plan(tmp: Path, delegations: list[Role], targets: Role | None = None) -> Path:
    p = RolesPlan("roles", HOLDERS, ["alice", "bob", "carol"], 2, online_dir(tmp),
                  targets or Role("targets", ["alice", "bob"], 2), delegations)
    return p.write(tmp / "plan.toml")


def refused(tmp: Path, path: Path, message: str) -> None:
    r = cli("init", tmp / "ws", "--plan", path)
    assert (r.code, message in r.err) == (2, True), r.err
    assert not (tmp / "ws").exists()


def test_a_plan_with_offline_targets_and_delegations_parses(tmp_path: Path) -> None:
    p = parse_plan(plan(tmp_path, [
        Role("doi", ["carol", "dave"], 2, paths=["doi/*"], terminating=True),
        Role("bins", ["dave"], 1, path_hash_prefixes=["00", "8f"])]).read_text()
        .replace("terminating = true", "terminating = false"))
    assert [r.name for r in p.online] == ["snapshot", "timestamp"]
    assert [(r.name, r.keyholders, r.threshold, r.terminating) for r in p.offline] == [
        ("targets", ("alice", "bob"), 2, False), ("doi", ("carol", "dave"), 2, False),
        ("bins", ("dave",), 1, False)]
    assert p.signers == ("alice", "bob", "carol", "dave")  # dave holds no root key


def test_delegation_overlapping_a_terminating_sibling_is_refused(tmp_path: Path) -> None:
    refused(tmp_path, plan(tmp_path, [
        Role("doi", ["carol", "dave"], 2, paths=["doi/*"], terminating=True),
        Role("testing", ["dave"], 1, paths=["testing/*", "d*/policy.json"])]),
        "delegation 'testing' overlaps its terminating sibling 'doi': 'd*/policy.json' and "
        "'doi/*' can match the same target")


def test_delegations_overlapping_without_a_terminating_one_are_allowed(tmp_path: Path) -> None:
    parse_plan(plan(tmp_path, [Role("a", ["carol"], 1, paths=["x/*"]),
                               Role("b", ["dave"], 1, paths=["x/y*"])]).read_text())


def test_role_threshold_above_its_keyholders_is_refused(tmp_path: Path) -> None:
    refused(tmp_path, plan(tmp_path, [Role("doi", ["carol", "dave"], 3, paths=["doi/*"])]),
            "delegations[0] (doi).threshold is 3 but the role has only 2 keyholders: it could "
            "never be met")
    refused(tmp_path, plan(tmp_path, [], Role("targets", ["alice", "bob"], 3)),
            "roles.targets.threshold is 3 but the role has only 2 keyholders: it could never be met")


@pytest.mark.parametrize("name", ["root", "targets", "snapshot", "timestamp"])
def test_delegated_role_named_like_a_top_level_role_is_refused(tmp_path: Path, name: str) -> None:
    refused(tmp_path, plan(tmp_path, [Role(name, ["carol"], 1, paths=["doi/*"])]),
            f"delegations[0].name is {name!r}, the name of a top-level role: a delegated role "
            "needs a name of its own")


def test_missing_target_file_is_refused_at_init(tmp_path: Path) -> None:
    refused(tmp_path, plan(tmp_path, [Role("doi", ["carol"], 1, paths=["doi/*"],
                                           targets=["doi/policy.json"])]),
            f"delegation 'doi': target file {tmp_path / 'doi' / 'policy.json'} does not exist")


def test_target_outside_the_roles_paths_is_refused(tmp_path: Path) -> None:
    refused(tmp_path, plan(tmp_path, [Role("doi", ["carol"], 1, paths=["doi/*"],
                                           targets=["rekor/key.pub"])]),
            "delegations[0] (doi).targets lists 'rekor/key.pub', which its paths do not cover "
            "(doi/*): no client would ever look for it there")


def test_delegations_need_offline_targets(tmp_path: Path) -> None:
    d = online_dir(tmp_path)
    online = {r: Online([d / f"{r}.pub.pem"]) for r in ("snapshot", "timestamp")}
    online["targets"] = Online([d / "snapshot.pub.pem"])
    text = Plan("x", [Keyholder("alice", token="a")], 1, online,
                tail="\n".join(Role("doi", ["alice"], 1, paths=["doi/*"]).lines())).text()
    with pytest.raises(PlanError, match=r"\[\[delegations\]\] need targets signed offline"):
        parse_plan(text)


def test_a_format_that_signs_only_root_refuses_offline_roles(tmp_path: Path) -> None:
    p = RolesPlan("roles", HOLDERS, ["alice"], 1, online_dir(tmp_path),
                  Role("targets", ["alice"], 1), extra='format = "notary"')
    with pytest.raises(PlanError, match="format 'notary' signs only root offline"):
        parse_plan(p.text())


@pytest.mark.parametrize(("a", "b", "meet"), [
    ("doi/*", "doi/x.json", True), ("doi/*", "testing/*", False), ("d*/p", "doi/*", True),
    ("*", "a/b", False), ("a?c", "abc", True), ("a*c", "a*d", False), ("*x*", "*y*", True),
    ("ab*", "*ba", True), ("abc", "abd", False)])
def test_pattern_overlap_as_clients_match(a: str, b: str, meet: bool) -> None:
    assert role_paths.patterns_meet(a, b) is meet
    assert role_paths.patterns_meet(b, a) is meet


def test_hash_prefix_overlap() -> None:
    assert role_paths.overlap(None, ["ab"], None, ["abc"]) == ("ab", "abc")
    assert role_paths.overlap(None, ["ab"], None, ["ac"]) is None
    assert role_paths.overlap(["x/*"], None, None, ["00"]) == ("x/*", "00")


def test_delegation_with_both_or_neither_of_keyholders_and_keys_is_refused(tmp_path: Path) -> None:
    both = Role("doi", ["carol"], 1, paths=["doi/*"], extra='keys = ["online/snapshot.pub.pem"]')
    refused(tmp_path, plan(tmp_path, [both]),
            "delegations[0] (doi) needs exactly one of keyholders (keys on their tokens, signed in "
            "this ceremony) or keys (public key files of keys held elsewhere)")
    refused(tmp_path, plan(tmp_path, [Role("doi", [], 1, paths=["doi/*"])]),
            "delegations[0] (doi) needs exactly one of keyholders")


def test_delegation_to_keys_held_elsewhere(tmp_path: Path) -> None:
    p = parse_plan(plan(tmp_path, [Role("partner", [], 1, paths=["p/*"],
                                        extra='keys = ["online/snapshot.pub.pem"]')]).read_text())
    role = p.offline_role("partner")
    assert role is not None and (role.key_paths, role.signed_here) == (("online/snapshot.pub.pem",), False)
    refused(tmp_path, plan(tmp_path, [Role("partner", [], 2, paths=["p/*"],
                                           extra='keys = ["online/snapshot.pub.pem"]')]),
            "delegations[0] (partner).threshold is 2 but the role has only 1 keys: it could never be met")
