"""Taking a root chain in: ``init --previous`` and ``import --out`` at any version, the trusted
root's fingerprint words shown in full, ``--expect-root`` refusing a forged chain, and
``import --out`` moving ``root.json`` forward rotation after rotation.

Chains are made with software keys (tests/support/chain_factory.py): nothing here touches a token.
The same path with real tokens and ngclient is tests/e2e/test_lifecycle.py.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ceremony.errors import EXIT_USAGE, EXIT_VERIFY
from ceremony.trusted_start import fingerprint_text
from ceremony.words import pgp_words
from tests.support.chain_factory import World, standard_chain
from tests.support.helpers import cli
from tests.support.plans import plan_toml


def words(path: Path) -> str:
    return fingerprint_text(hashlib.sha256(path.read_bytes()).hexdigest())


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    d = tmp_path / "plan"
    (d / "online").mkdir(parents=True)
    for role in ("targets", "snapshot", "timestamp"):
        pub = ec.generate_private_key(ec.SECP256R1()).public_key()
        (d / "online" / f"{role}.pub.pem").write_bytes(
            pub.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    holders = {k: f"{k}-key" for k in ("alice", "bob", "carol")}
    text = plan_toml("next", holders, list(holders), 2,
                     {r: [f"online/{r}.pub.pem"] for r in ("targets", "snapshot", "timestamp")})
    (d / "plan.toml").write_text(text)
    return d / "plan.toml"


def pack(files: list[Path], stick: Path) -> None:
    r = cli("pack", *files, "--kind", "signed-metadata", "--repository", "test/repo",
            "--usb", stick)
    assert r.code == 0, r.err


# ---- init --previous ---------------------------------------------------------------------------


def test_init_previous_from_a_chain_starting_at_v3(tmp_path: Path, world: World, plan: Path) -> None:
    full = tmp_path / "full"
    standard_chain(full, world, 5)
    chain = tmp_path / "chain"
    chain.mkdir()
    for v in (3, 4, 5):
        shutil.copy(full / f"{v}.root.json", chain)
    r = cli("init", tmp_path / "ws", "--plan", plan, "--previous", chain)
    assert r.code == 0, r.err
    assert "continues root v5 (chain verified from 3.root.json)" in r.out
    assert f"trusted root v3 fingerprint: {words(chain / '3.root.json')}" in r.out
    assert len(words(chain / "3.root.json").replace(" / ", " ").split()) == 32  # full length
    assert "trust on first use: compare these words" in r.out
    assert sorted(p.name for p in (tmp_path / "ws" / "previous").glob("*.root.json")) == \
        ["3.root.json", "4.root.json", "5.root.json"]


def test_init_previous_with_an_explicit_trusted_root(tmp_path: Path, world: World,
                                                     plan: Path) -> None:
    chain = tmp_path / "chain"
    standard_chain(chain, world, 4)
    r = cli("init", tmp_path / "ws", "--plan", plan, "--previous", chain,
            "--trusted", chain / "2.root.json")
    assert r.code == 0, r.err
    assert "continues root v4 (chain verified from 2.root.json)" in r.out
    assert "trust on first use" not in r.out


def test_init_previous_takes_a_continuing_workspaces_metadata(tmp_path: Path, world: World,
                                                              plan: Path) -> None:
    """A workspace that published v2 holds v1 in previous/ and v2 in metadata/: the command
    ``compromise`` prints (``--previous WS/metadata``) takes both."""
    chain = tmp_path / "chain"
    standard_chain(chain, world, 2)
    ws = tmp_path / "rotation"
    (ws / "previous").mkdir(parents=True)
    (ws / "metadata").mkdir()
    (ws / "journal.jsonl").write_text("")
    shutil.copy(chain / "1.root.json", ws / "previous")
    shutil.copy(chain / "2.root.json", ws / "metadata")
    shutil.copy(chain / "2.root.json", ws / "metadata" / "root.json")
    r = cli("init", tmp_path / "next", "--plan", plan, "--previous", ws / "metadata")
    assert r.code == 0, r.err
    assert "continues root v2 (chain verified from 1.root.json)" in r.out
    r = cli("init", tmp_path / "next-ws", "--plan", plan, "--previous", ws)  # the workspace itself
    assert r.code == 0, r.err
    assert "continues root v2 (chain verified from 1.root.json)" in r.out
    # two different copies of one version are refused
    other = World()
    standard_chain(tmp_path / "other", other, 1)
    shutil.copy(tmp_path / "other" / "1.root.json", ws / "metadata" / "1.root.json")
    r = cli("init", tmp_path / "next2", "--plan", plan, "--previous", ws / "metadata")
    assert r.code == EXIT_VERIFY
    assert f"error: {ws / 'previous' / '1.root.json'} and {ws / 'metadata' / '1.root.json'} are " \
        "two different root v1" in r.err
    assert not (tmp_path / "next2").exists()


def test_init_previous_forged_chain_refused_with_expect_root(tmp_path: Path, world: World,
                                                             plan: Path) -> None:
    real = tmp_path / "real"
    standard_chain(real, world, 2)
    expected = words(real / "1.root.json")
    forged = tmp_path / "forged"
    standard_chain(forged, World(), 2)  # the attacker's own self-signed root, then v2
    r = cli("init", tmp_path / "ws", "--plan", plan, "--previous", forged, "--expect-root", expected)
    assert r.code == EXIT_VERIFY, r.err
    assert "error: the trusted root 1.root.json is not the root you expected: its fingerprint " \
        f"is {words(forged / '1.root.json')}; expected {expected} (they differ from word" in r.err
    assert "hint: nothing was written; the chain may be forged" in r.err
    assert not (tmp_path / "ws").exists()
    # without --expect-root the forged chain's own words are shown for the room to compare
    r = cli("init", tmp_path / "ws", "--plan", plan, "--previous", forged)
    assert r.code == 0, r.err
    assert f"trusted root v1 fingerprint: {words(forged / '1.root.json')}" in r.out
    assert expected not in r.out
    # the real chain matches, by words or by hex, in any case
    hexd = hashlib.sha256((real / "1.root.json").read_bytes()).hexdigest()
    for given in (expected, expected.upper(), hexd):
        target = tmp_path / f"ok-{len(given)}-{given[:3]}"
        r = cli("init", target, "--plan", plan, "--previous", real, "--expect-root", given)
        assert r.code == 0, r.err
        assert "  matches --expect-root" in r.out


def test_expect_root_that_cannot_be_read(tmp_path: Path, world: World, plan: Path) -> None:
    chain = tmp_path / "chain"
    standard_chain(chain, world, 1)
    r = cli("init", tmp_path / "ws", "--plan", plan, "--previous", chain,
            "--expect-root", "aardvark aardvark")
    assert r.code == EXIT_USAGE
    assert "error: --expect-root: word 2 ('aardvark') is not a three-syllable PGP word" in r.err
    r = cli("init", tmp_path / "ws", "--plan", plan, "--previous", chain,
            "--expect-root", " ".join(pgp_words(bytes(8))))
    assert r.code == EXIT_USAGE
    assert "error: --expect-root names 8 word(s); a root fingerprint is 32 PGP words" in r.err
    r = cli("init", tmp_path / "ws", "--plan", plan, "--expect-root", "00" * 32)
    assert r.code == EXIT_USAGE and "name the start of a --previous chain" in r.err
    assert not (tmp_path / "ws").exists()


# ---- import --out: trust on first use, then rotation after rotation ------------------------------


def test_import_out_follows_rotation_after_rotation(tmp_path: Path, world: World) -> None:
    chain = tmp_path / "chain"
    standard_chain(chain, world, 4, root_json=False)
    repo = tmp_path / "repository" / "metadata"
    for v in (1, 2, 3, 4):
        stick = tmp_path / f"stick-{v}"
        stick.mkdir()
        staged = tmp_path / f"staged-{v}"
        staged.mkdir()
        shutil.copy(chain / f"{v}.root.json", staged)
        shutil.copy(chain / f"{v}.root.json", staged / "root.json")
        if v == 1:
            pack([staged / "1.root.json", staged / "root.json"], stick)
            r = cli("import", "--usb", stick, "--out", repo)
            assert r.code == 0, r.err
            assert "root chain verified from the bundle's own 1.root.json (trust on first use" in r.out
            assert f"trusted root v1 fingerprint: {words(chain / '1.root.json')}" in r.out
        else:  # each export carries its new version (and the chain before it)
            files = [chain / f"{k}.root.json" for k in range(1, v)] + [staged / f"{v}.root.json",
                                                                      staged / "root.json"]
            pack(files, stick)
            r = cli("import", "--usb", stick, "--out", repo)
            assert r.code == 0, r.err
            assert f"root chain verified from the trusted root v{v - 1} already in {repo} up " \
                f"to v{v}" in r.out
            assert "fingerprint" not in r.out
        assert (repo / "root.json").read_bytes() == (chain / f"{v}.root.json").read_bytes()
    assert cli("verify", "--trusted", repo / "1.root.json", repo).code == 0


def test_import_out_refuses_a_forged_next_version(tmp_path: Path, world: World) -> None:
    chain = tmp_path / "chain"
    standard_chain(chain, world, 1)
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(chain / "1.root.json", repo)
    shutil.copy(chain / "root.json", repo)
    attacker = World()
    md = attacker.root(2, ["mallory", "oscar"], 2)
    staged = tmp_path / "staged"
    staged.mkdir()
    (staged / "2.root.json").write_bytes(attacker.sign(md, "mallory", "oscar"))
    shutil.copy(staged / "2.root.json", staged / "root.json")
    stick = tmp_path / "stick"
    stick.mkdir()
    pack([staged / "2.root.json", staged / "root.json"], stick)
    before = (repo / "root.json").read_bytes()
    r = cli("import", "--usb", stick, "--out", repo)
    assert r.code == EXIT_VERIFY
    assert "error: 2.root.json is not signed at threshold: previous root v1: 0/2" in r.err
    assert (repo / "root.json").read_bytes() == before and not (repo / "2.root.json").exists()


def test_import_out_forged_chain_refused_with_expect_root(tmp_path: Path, world: World) -> None:
    real = tmp_path / "real"
    standard_chain(real, world, 2)
    forged = tmp_path / "forged"
    standard_chain(forged, World(), 2)
    stick = tmp_path / "stick"
    stick.mkdir()
    pack([forged / "1.root.json", forged / "2.root.json", forged / "root.json"], stick)
    repo = tmp_path / "repo"
    r = cli("import", "--usb", stick, "--out", repo, "--expect-root", words(real / "1.root.json"))
    assert r.code == EXIT_VERIFY
    assert "error: the bundle's own 1.root.json is not the root you expected: its fingerprint " \
        f"is {words(forged / '1.root.json')}" in r.err
    assert not repo.exists()
    r = cli("import", "--usb", stick, "--out", repo)
    assert r.code == 0 and f"trusted root v1 fingerprint: {words(forged / '1.root.json')}" in r.out


def test_the_auditor_walks_a_continuing_workspace_from_its_previous_chain(tmp_path: Path,
                                                                          world: World) -> None:
    from ceremony.flows.audit import audit_chain
    chain = tmp_path / "chain"
    standard_chain(chain, world, 3)
    ws = tmp_path / "rotation"
    (ws / "previous").mkdir(parents=True)
    (ws / "metadata").mkdir()
    (ws / "journal.jsonl").write_text("")
    assert audit_chain(ws / "metadata") == (["nothing published yet: no chain to walk"], None)
    for v in (1, 2):
        shutil.copy(chain / f"{v}.root.json", ws / "previous")
    shutil.copy(chain / "3.root.json", ws / "metadata")
    shutil.copy(chain / "3.root.json", ws / "metadata" / "root.json")
    lines, ok = audit_chain(ws / "metadata")
    assert ok is True, lines
    assert lines[0] == "trusted root v1 (previous/1.root.json)"
    assert "chain verified: newest root is v3, expires" in "\n".join(lines)
    (ws / "metadata" / "root.json").write_bytes(b"{}")
    lines, ok = audit_chain(ws / "metadata")
    assert ok is False and lines[0].startswith(f"FAIL {ws / 'metadata' / 'root.json'} is not root "
                                               "metadata")


def test_import_out_never_replaces_a_root_json_no_chain_vouches_for(tmp_path: Path,
                                                                    world: World) -> None:
    chain = tmp_path / "chain"
    standard_chain(chain, world, 2)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "root.json").write_bytes(b"{}")  # something, but no N.root.json to trust it by
    stick = tmp_path / "stick"
    stick.mkdir()
    pack([chain / "1.root.json", chain / "2.root.json", chain / "root.json"], stick)
    r = cli("import", "--usb", stick, "--out", repo)
    assert r.code == 7
    assert f"error: {repo / 'root.json'} already exists with other content; nothing was written." \
        in r.err
    assert (repo / "root.json").read_bytes() == b"{}" and not (repo / "1.root.json").exists()
