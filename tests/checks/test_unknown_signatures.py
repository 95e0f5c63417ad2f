"""Signatures by keys a role does not list: python-tuf (and notary) ignore them, this tool
refuses them ("we decide what is signed"), naming the file, the role and the key id, exit 3,
nothing written. Every reader of a TUF role: the root chain at ``verify``, ``init --previous``,
``import`` (roots and the targets a bundle carries), ``audit``, the online files ``verify``
follows, and a travelling draft. What stays allowed: a root signed by the previous root's keys
(a rotation), and a trusted root vN carrying vN-1's signatures (not here to compare with).

Chains are made with software keys (tests/support/chain_factory.py): nothing touches a token.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from securesystemslib.signer import CryptoSigner, Signature
from tuf.api.metadata import Metadata, Root, TargetFile, Targets
from tuf.api.serialization.json import JSONSerializer

from ceremony.detached import DRAFT_KIND
from ceremony.errors import EXIT_VERIFY
from ceremony.formats import tuf as tuf_format
from ceremony.transport import Bundle
from ceremony.transport.usb import export_usb
from tests.checks.test_audit_bad_input import refused as audit_refused
from tests.checks.test_trusted_start import plan  # noqa: F401 - the fixture
from tests.support.audit_repo import holder, roots_pem, standard_repo
from tests.support.chain_factory import NOW, World, publish_online, standard_chain
from tests.support.helpers import cli

REFUSED = "a signature the role does not ask for is refused, not ignored"


@pytest.fixture
def world() -> World:
    return World()


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (to show nothing was written)."""
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def stray_signature(path: Path) -> str:
    """Append a valid signature by a key no role lists to the metadata at ``path``; its key id."""
    md = Metadata.from_bytes(path.read_bytes())
    mallory = CryptoSigner.generate_ecdsa()
    md.sign(mallory, append=True)
    path.write_bytes(md.to_bytes(JSONSerializer(compact=False)))
    return mallory.public_key.keyid


def stray_root(tmp: Path, world: World) -> tuple[Path, str]:
    """A chain v1..v3, v2 signed at both thresholds and also by mallory (python-tuf accepts it)."""
    d = tmp / "chain"
    standard_chain(d, world, 3)
    kid = stray_signature(d / "2.root.json")
    v1 = Metadata[Root].from_bytes((d / "1.root.json").read_bytes()).signed
    v2 = Metadata[Root].from_bytes((d / "2.root.json").read_bytes())
    v1.verify_delegate(Root.type, v2.signed_bytes, v2.signatures)  # the clients' verdict: fine
    v2.signed.verify_delegate(Root.type, v2.signed_bytes, v2.signatures)
    return d, kid


def root_message(kid: str, name: str = "2.root.json", version: int = 2) -> str:
    whose = f"the root role of root v{version}" + (f" or of previous root v{version - 1}"
                                                    if version > 1 else "")
    return f"error: {name} carries a signature by key id {kid[:16]}, which is not a key of {whose}: {REFUSED}"


# ---- roots -----------------------------------------------------------------------------------


def test_verify_refuses_a_root_signed_at_threshold_and_by_an_unknown_key(tmp_path: Path,
                                                                        world: World) -> None:
    d, kid = stray_root(tmp_path, world)
    before = tree(d)
    r = cli("verify", "--trusted", d / "1.root.json", d)
    assert r.code == EXIT_VERIFY, (r.out, r.err)
    assert root_message(kid) in r.err, r.err
    assert tree(d) == before


def test_a_trusted_v1_signed_by_a_key_not_its_own_is_refused(tmp_path: Path, world: World) -> None:
    d = tmp_path / "chain"
    standard_chain(d, world, 2)
    kid = stray_signature(d / "1.root.json")
    r = cli("verify", "--trusted", d / "1.root.json", d)
    assert r.code == EXIT_VERIFY, (r.out, r.err)
    assert root_message(kid, str(d / "1.root.json"), 1) in r.err, r.err


def test_a_previous_roots_key_signing_the_next_root_is_a_rotation_not_a_stranger(
        tmp_path: Path, world: World) -> None:
    """v2 drops carol, and carol signs v2 too: her key is v1's, which v2 must satisfy."""
    d = tmp_path / "chain"
    d.mkdir()
    (d / "1.root.json").write_bytes(world.sign(world.root(1, ["alice", "bob", "carol"], 2),
                                               "alice", "bob"))
    v2 = world.sign(world.root(2, ["alice", "bob", "dave"], 2), "alice", "bob", "carol", "dave")
    (d / "2.root.json").write_bytes(v2)
    (d / "root.json").write_bytes(v2)
    r = cli("verify", "--trusted", d / "1.root.json", d)
    assert r.code == 0, r.err
    assert "chain verified: newest root is v2" in r.out
    # v2 as the trusted root alone: carol's signature (a v1 key) cannot be judged, and is not refused
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(d / "2.root.json", alone)
    r = cli("verify", "--trusted", alone / "2.root.json", alone)
    assert r.code == 0, r.err


def test_init_previous_refuses_it_and_writes_nothing(tmp_path: Path, world: World,
                                                     plan: Path) -> None:  # noqa: F811
    d, kid = stray_root(tmp_path, world)
    r = cli("init", tmp_path / "ws", "--plan", plan, "--previous", d)
    assert r.code == EXIT_VERIFY, (r.out, r.err)
    assert root_message(kid) in r.err, r.err
    assert not (tmp_path / "ws").exists()


def pack(files: list[Path], stick: Path, kind: str = "signed-metadata") -> str:
    """``ceremony pack`` checks what it packs as import does: it refuses, and packs nothing;
    the same files are then put on ``stick`` as a bundle made without that check (someone
    else's pack). Returns pack's refusal."""
    stick.mkdir()
    r = cli("pack", *files, "--kind", kind, "--repository", "test/repo", "--usb", stick)
    assert r.code == EXIT_VERIFY, (r.out, r.err)
    assert list(stick.iterdir()) == []
    export_usb(Bundle.from_files(kind, "test/repo", "c1", {f.name: f.read_bytes() for f in files}),
               stick)
    return r.err


def test_import_refuses_it_and_writes_nothing(tmp_path: Path, world: World) -> None:
    d, kid = stray_root(tmp_path, world)
    assert root_message(kid) in pack([d / f"{v}.root.json" for v in (1, 2, 3)] + [d / "root.json"],
                                     tmp_path / "stick")
    r = cli("import", "--usb", tmp_path / "stick", "--out", tmp_path / "in")
    assert r.code == EXIT_VERIFY, (r.out, r.err)
    assert root_message(kid) in r.err, r.err
    assert not (tmp_path / "in").exists()


def test_audit_refuses_it(tmp_path: Path) -> None:
    repo = standard_repo(tmp_path / "metadata")
    kid = stray_signature(repo.folder / "2.root.json")
    (repo.folder / "root.json").write_bytes((repo.folder / "2.root.json").read_bytes())
    audit_refused(repo.folder, roots_pem(tmp_path / "roots.pem"), None,
                  root_message(kid).removeprefix("error: "))


# ---- the roles beside a root -------------------------------------------------------------------


def test_audit_refuses_a_role_signed_by_a_key_it_does_not_list(tmp_path: Path) -> None:
    repo = standard_repo(tmp_path / "metadata")
    md = Metadata.from_bytes((repo.folder / "targets.json").read_bytes())
    mallory = holder("mallory")
    md.sign(mallory.signer, append=True)
    (repo.folder / "targets.json").write_bytes(md.to_bytes(JSONSerializer()))
    audit_refused(repo.folder, roots_pem(tmp_path / "roots.pem"), None,
                  f"targets.json carries a signature by key id {mallory.key.keyid[:16]}, which is "
                  f"not a key of the targets role as root v2 lists it: {REFUSED}")


def test_verify_refuses_an_online_file_signed_by_a_key_its_role_does_not_list(
        tmp_path: Path, world: World) -> None:
    d = tmp_path / "repo"
    standard_chain(d, world, 3)
    publish_online(d, world)
    kid = stray_signature(d / "timestamp.json")
    r = cli("verify", "--trusted", d / "1.root.json", d)
    assert r.code == EXIT_VERIFY, (r.out, r.err)
    assert (f"error: timestamp.json carries a signature by key id {kid[:16]}, which is not a key "
            f"of the timestamp role as root v3 lists it: {REFUSED}") in r.err, r.err


def targets_bundle(tmp: Path, world: World, change) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    """1.root.json and 1.targets.json (signed by the online key, then ``change``d), packed."""
    src = tmp / "src"
    src.mkdir()
    (src / "1.root.json").write_bytes(world.sign(world.root(1, ["alice", "bob"], 2), "alice", "bob"))
    targets = Metadata(Targets(version=1, expires=NOW.replace(year=NOW.year + 1)))
    targets.signed.targets["hello.txt"] = TargetFile.from_data("hello.txt", b"hello\n", ["sha256"])
    targets.sign(world.online)
    change(targets, src / "1.targets.json")
    pack([src / "1.root.json", src / "1.targets.json"], tmp / "stick")
    return tmp / "stick", tmp / "in"


def test_import_refuses_a_targets_file_signed_by_a_key_root_does_not_give_targets(
        tmp_path: Path, world: World) -> None:
    mallory = CryptoSigner.generate_ecdsa()

    def stray(md: Metadata[Targets], path: Path) -> None:
        md.sign(mallory, append=True)
        path.write_bytes(md.to_bytes(JSONSerializer()))

    stick, out = targets_bundle(tmp_path, world, stray)
    r = cli("import", "--usb", stick, "--out", out)
    assert r.code == EXIT_VERIFY, (r.out, r.err)
    assert (f"error: 1.targets.json in the bundle carries a signature by key id "
            f"{mallory.public_key.keyid[:16]}, which is not a key of the targets role as root v1 "
            f"lists it: {REFUSED}") in r.err, r.err
    assert not out.exists()


def test_import_refuses_a_targets_file_listing_one_signature_twice(tmp_path: Path,
                                                                   world: World) -> None:
    def twice(md: Metadata[Targets], path: Path) -> None:
        doc = json.loads(md.to_bytes(JSONSerializer()))
        doc["signatures"].append(dict(doc["signatures"][0]))
        path.write_text(json.dumps(doc))

    stick, out = targets_bundle(tmp_path, world, twice)
    r = cli("import", "--usb", stick, "--out", out)
    assert r.code == EXIT_VERIFY, (r.out, r.err)
    assert (f"error: 1.targets.json in the bundle lists a signature under key id "
            f"{world.online.public_key.keyid[:12]} twice: a key signs once, and clients refuse "
            "the file") in r.err, r.err
    assert not out.exists()


# ---- a travelling draft ----------------------------------------------------------------------


def test_a_draft_carrying_a_signature_by_a_key_of_neither_root_is_refused(tmp_path: Path,
                                                                          world: World) -> None:
    v1 = Metadata[Root].from_bytes(world.sign(world.root(1, ["alice", "bob"], 2), "alice", "bob"))
    draft = world.root(2, ["alice", "bob", "carol"], 2)
    mallory = CryptoSigner.generate_ecdsa()
    draft.sign(mallory)
    draft.signatures[world.holder("alice").public_key.keyid] = Signature(
        world.holder("alice").public_key.keyid, "00")  # a root key's entry: not a stranger's
    doc = {"kind": DRAFT_KIND, "format": "tuf", "repository": "test/repo", "ceremony_id": "c1",
           "version": 2, "digest": tuf_format.signed_digest(draft), "draft": draft.to_dict(),
           "previous": v1.to_dict()}
    src = tmp_path / "src"
    src.mkdir()
    (src / "2.root.draft.json").write_text(json.dumps(doc))
    message = (f"error: 2.root.draft.json (draft) carries a signature by key id "
               f"{mallory.public_key.keyid[:16]}, which is not a key of the root role of the draft "
               f"(root v2) or of the previous root (v1): {REFUSED}")
    assert message in pack([src / "2.root.draft.json"], tmp_path / "stick", "draft")
    r = cli("import", "--usb", tmp_path / "stick", "--out", tmp_path / "in")
    assert r.code == EXIT_VERIFY, (r.out, r.err)
    assert message in r.err, r.err
    assert not (tmp_path / "in").exists()


# ---- notary ----------------------------------------------------------------------------------


def test_a_notary_root_with_a_strangers_or_a_repeated_signature_is_refused(hsm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """notary counts only its root keys' signatures and ignores the rest, as python-tuf does."""
    from tests.engine.test_notary_ceremony_offline import online_keys, run, write_plan

    hsm.make("tok-alice")
    keys, targets = online_keys(tmp_path / "keys")
    ws = tmp_path / "ws"
    run(hsm, ws, write_plan(tmp_path, "v1", keys, targets))
    from dataclasses import replace

    from ceremony.formats.notary_json import parse, serialize

    published = parse((ws / "metadata" / "1.root.json").read_bytes())
    (alice,) = published.signatures
    for name, signatures, message in (
        ("stranger", [alice, replace(alice, keyid="ab" * 32)],
         f"carries a signature by key id {'ab' * 8}, which is not a key of the root role of root "
         f"v1: {REFUSED}"),
        ("twice", [alice, alice],
         f"lists a signature under key id {alice.keyid[:16]} 2 times: a key signs once"),
    ):
        d = tmp_path / name
        d.mkdir()
        (d / "1.root.json").write_bytes(serialize(published.signed, signatures))
        before = tree(d)
        r = cli("verify", "--trusted", d / "1.root.json", d)
        assert r.code == EXIT_VERIFY, (r.out, r.err)
        assert f"error: {d / '1.root.json'} {message}" in r.err, r.err
        assert tree(d) == before


# ---- one key id's signature listed twice, in a role file ---------------------------------------


def _listed_twice(path: Path) -> str:
    doc = json.loads(path.read_bytes())
    doc["signatures"].append(dict(doc["signatures"][0]))
    path.write_text(json.dumps(doc))
    return str(doc["signatures"][0]["keyid"])


def test_verify_names_an_online_file_listing_one_signature_twice(tmp_path: Path,
                                                                 world: World) -> None:
    d = tmp_path / "repo"
    standard_chain(d, world, 2)
    publish_online(d, world)
    kid = _listed_twice(d / "timestamp.json")
    r = cli("verify", "--trusted", d / "1.root.json", d)
    assert r.code == EXIT_VERIFY, (r.out, r.err)
    assert (f"error: timestamp.json lists a signature under key id {kid[:12]} twice: a key signs "
            "once, and clients refuse the file") in r.err, r.err


def test_audit_names_a_role_listing_one_signature_twice(tmp_path: Path) -> None:
    repo = standard_repo(tmp_path / "metadata")
    kid = _listed_twice(repo.folder / "targets.json")
    audit_refused(repo.folder, roots_pem(tmp_path / "roots.pem"), None,
                  f"targets.json lists a signature under key id {kid[:12]} twice: a key signs once, "
                  "and clients refuse the file")
