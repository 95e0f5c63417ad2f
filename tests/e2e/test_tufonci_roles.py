"""A DOI-shaped repository under ``compat = "tuf-on-ci"``: root and offline targets held by
keyholders on SoftHSM, a terminating delegation with a policy file, snapshot and timestamp
online by KMS URI. The ceremony's output is a tuf-on-ci repository (``metadata/root.json``,
``root_history/``, ``targets.json``, ``doi.json``, every role with tuf-on-ci's period fields,
every key with its owner or URI); the real ``tuf-on-ci-sign`` signs a targets signing event
(a new artifact) with alice's SoftHSM key, and ngclient and tuf-js download both the new
artifact and the delegated policy file through the result."""

from __future__ import annotations

import json
from pathlib import Path

from tuf.api.metadata import Metadata, Root

from ceremony import keyids
from ceremony.formats import tuf_layout
from tests.support.clients import both_clients_accept
from tests.support.helpers import cli, make_online_keys
from tests.support.roles import Role
from tests.support.tuf_repo import serve
from tests.support.tufonci import (
    KMS,
    as_piv_9c,
    compat_plan,
    git,
    publish_online,
    seed_repository,
    sign_on_softhsm,
    targets_signing_event,
)

HOLDERS = {"alice": "tok-alice", "bob": "tok-bob"}
POLICY = b'{"policy": "doi", "allow": ["docker.io/library/*"]}\n'
ARTIFACT = b"hello, world\n"
EVENT = "sign/new-artifact"


def _plan(tmp: Path) -> Path:
    files = tmp / "plan"
    (files / "doi").mkdir(parents=True)
    (files / "doi" / "policy.json").write_bytes(POLICY)
    return compat_plan(files / "plan.toml", HOLDERS, 2, files / "online", name="doi",
                       targets=Role("targets", ["alice", "bob"], 1, "90d"),
                       delegations=[Role("doi", ["bob"], 1, "60d", paths=["doi/*"], terminating=True,
                                         targets=["doi/policy.json"])])


def _ceremony(hsm, tmp: Path) -> Path:
    make_online_keys(hsm, tmp / "plan" / "online", roles=("online",))
    hsm.make(*HOLDERS.values())
    ws = tmp / "ws"
    pin = ["--pin-file", hsm.pin_file]
    steps = [["init", ws, "--plan", _plan(tmp)], *(["keygen", ws, "--keyholder", k, *pin] for k in HOLDERS),
             ["draft", ws], *(["sign", ws, "--keyholder", k, *pin] for k in HOLDERS), ["publish", ws]]
    for step in steps:
        r = cli(*step)
        assert r.code == 0, (step, r)
        if step[0] == "draft":  # the room sees where each online key signs
            assert f" at {KMS})" in r.out, r.out
    return ws


def test_compat_roles_are_laid_out_and_annotated_for_tuf_on_ci(hsm, tmp_path):
    ws = _ceremony(hsm, tmp_path)
    files = tuf_layout.repository_files(ws / "metadata")
    assert set(files) == {"metadata/root.json", "metadata/root_history/1.root.json",
                          "metadata/targets.json", "metadata/doi.json"}
    assert files["metadata/targets.json"] == (ws / "metadata" / "1.targets.json").read_bytes()
    targets = json.loads(files["metadata/targets.json"])["signed"]
    doi = json.loads(files["metadata/doi.json"])["signed"]
    assert (targets["x-tuf-on-ci-expiry-period"], targets["x-tuf-on-ci-signing-period"]) == (90, 45)
    assert (doi["x-tuf-on-ci-expiry-period"], doi["x-tuf-on-ci-signing-period"]) == (60, 30)
    (bob_id,) = targets["delegations"]["roles"][0]["keyids"]
    bob = targets["delegations"]["keys"][bob_id]
    assert bob["x-tuf-on-ci-keyowner"] == "@bob" and bob_id == keyids.whole_object_keyid(bob)
    root = json.loads(files["metadata/root.json"])["signed"]
    for role in ("snapshot", "timestamp"):
        (kid,) = root["roles"][role]["keyids"]
        assert root["keys"][kid]["x-tuf-on-ci-online-uri"] == KMS
    owners = sorted(root["keys"][k]["x-tuf-on-ci-keyowner"] for k in root["roles"]["targets"]["keyids"])
    assert owners == ["@alice", "@bob"]
    # the record check reads the tuf-on-ci files as journaled by publish (only the seal is missing)
    r = cli("record", "verify", ws)
    assert (r.code, r.err) == (3, "error: the ceremony is not sealed\n"), r
    assert [line for line in r.out.splitlines() if line.startswith("FAIL")] == \
        ["FAIL the ceremony is not sealed"], r.out


def test_tuf_on_ci_sign_signs_a_targets_event_and_clients_download_through_it(hsm, tmp_path):
    ws = _ceremony(hsm, tmp_path)
    v1 = (ws / "metadata" / "1.root.json").read_bytes()
    root = Metadata.from_bytes(v1).signed
    assert isinstance(root, Root)
    clone, bare = seed_repository(tmp_path / "git", tuf_layout.repository_files(ws / "metadata"))
    targets_signing_event(clone, EVENT, "targets", "hello.txt", ARTIFACT, "targets v2: a new artifact")
    (keyid,) = [k for k in root.roles["targets"].keyids
                if root.keys[k].unrecognized_fields["x-tuf-on-ci-keyowner"] == "@alice"]
    home = tmp_path / "home"
    home.mkdir()
    run = sign_on_softhsm(hsm, clone, EVENT, "alice", home, {keyid: as_piv_9c(hsm, root.keys[keyid])})
    assert "Your signature is requested for role(s) {'targets'}" in run.stdout
    assert " * New artifact 'hello.txt'" in run.stdout

    signed = tmp_path / "signed"
    git(tmp_path, "clone", "--quiet", "--branch", EVENT, str(bare), str(signed))
    md = Metadata.from_bytes((signed / "metadata" / "targets.json").read_bytes())
    assert md.signed.version == 2
    root.verify_delegate("targets", md.signed_bytes, md.signatures)  # 1 of alice, bob: alice
    site = tmp_path / "site"
    (site / "metadata").mkdir(parents=True)
    (site / "metadata" / "1.root.json").write_bytes(v1)
    online = hsm.module.open_key(hsm.module.find_token(label="online"), hsm.pin, "ecdsa-p256", b"online")
    publish_online(site, root, online, {r: (signed / "metadata" / f"{r}.json").read_bytes()
                                        for r in ("targets", "doi")},
                   {"hello.txt": ARTIFACT, "doi/policy.json": POLICY})
    with serve(site) as url:
        both_clients_accept(url, tmp_path / "clients", v1, root_version=1)
        both_clients_accept(url, tmp_path / "clients-doi", v1, root_version=1, target=POLICY,
                            target_name="doi/policy.json")
