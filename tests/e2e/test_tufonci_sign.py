"""The proof with the real tool: a repository seeded from a ``compat = "tuf-on-ci"`` ceremony is
continued by ``tuf-on-ci-sign`` (0.21.0, its own virtualenv) signing a signing event with a
SoftHSM key through its PKCS#11 setting, and python-tuf's ngclient and tuf-js accept the result.

The signing event is what tuf-on-ci's ``close()`` makes of a root change: version + 1, expiry
from ``x-tuf-on-ci-expiry-period``, every signature replaced by an empty placeholder, the root
written to ``metadata/root.json`` and ``metadata/root_history/2.root.json``; pushed as the branch
``sign/root-v2`` to the bare remote. The tool signs with the key whose ``x-tuf-on-ci-keyowner`` is
its user (``@alice``), found on SoftHSM by its ini file's ``[signing-keys]`` URI ``hsm:2?label=``
(PIV slot 9c's key id, 2, which the test gives the ceremony's key), and pushes the branch.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path

import pytest
from tuf.api.metadata import Metadata, Root, Signature

from ceremony import keyids
from ceremony.errors import VerificationError
from ceremony.formats import tuf_layout
from hsm.pkcs11 import TokenKey
from tests.support.clients import both_clients_accept
from tests.support.helpers import cli, make_online_keys, run_steps
from tests.support.tuf_repo import serve
from tests.support.tufonci import (
    KMS,
    TARGET,
    as_piv_9c,
    compat_plan,
    git,
    publish_online,
    seed_repository,
    sign_on_softhsm,
)

EVENT = "sign/root-v2"


def _ceremony(hsm, tmp: Path) -> tuple[Path, TokenKey]:
    """root and targets 1 of alice on SoftHSM; snapshot and timestamp online by KMS URI."""
    online = make_online_keys(hsm, tmp / "online", roles=("online",))
    hsm.make("tok-alice")
    plan = compat_plan(tmp / "plan" / "plan.toml", {"alice": "tok-alice"}, 1, tmp / "online")
    run_steps(hsm, tmp / "ws", plan, None, ["alice"])
    return tmp / "ws", online.open()["online"]


def test_ceremony_output_is_a_tuf_on_ci_repository(hsm, tmp_path):
    ws, _online = _ceremony(hsm, tmp_path)
    meta = ws / "metadata"
    root_bytes = (meta / "root.json").read_bytes()
    assert (meta / "root_history" / "1.root.json").read_bytes() == root_bytes
    assert set(tuf_layout.repository_files(meta)) == {"metadata/root.json", "metadata/targets.json",
                                                      "metadata/root_history/1.root.json"}
    signed = json.loads(root_bytes)["signed"]
    assert signed["x-tuf-on-ci-expiry-period"] == 365
    assert signed["x-tuf-on-ci-signing-period"] == 182
    assert signed["roles"]["timestamp"]["x-tuf-on-ci-expiry-period"] == 2
    assert signed["roles"]["snapshot"]["x-tuf-on-ci-signing-period"] == 182
    root_key = signed["keys"][signed["roles"]["root"]["keyids"][0]]
    assert root_key["x-tuf-on-ci-keyowner"] == "@alice"
    ts_id = signed["roles"]["timestamp"]["keyids"][0]
    assert signed["keys"][ts_id]["x-tuf-on-ci-online-uri"] == KMS
    assert signed["roles"]["snapshot"]["keyids"] == [ts_id]  # one online key, as tuf-on-ci has it
    for keyid, key in signed["keys"].items():  # tuf-on-ci's rule: the whole object, x- fields too
        assert keyid == keyids.whole_object_keyid(key)
    r = cli("status", ws)
    assert r.code == 0 and "published" in r.out, r
    (meta / "root.json").write_bytes(root_bytes + b"\n")
    with pytest.raises(VerificationError) as e:
        tuf_layout.repository_files(meta)
    assert str(e.value) == ("metadata/root.json is not the newest root of root_history/ (v1): it was "
                            "changed after publish")
    (meta / "root.json").write_bytes(root_bytes)
    # a history file changed after publish is never handed on as the repository's
    (meta / "root_history" / "1.root.json").write_bytes(root_bytes.replace(b'"version": 1', b'"version": 1 '))
    with pytest.raises(VerificationError) as e:
        tuf_layout.repository_files(meta)
    assert str(e.value) == ("metadata/root_history/1.root.json is not the root the workspace "
                            f"published or continued (journal: sha256 {sha256(root_bytes).hexdigest()[:16]}...)")


def _signing_event(clone: Path) -> bytes:
    """Root v2 as tuf-on-ci's close() leaves it for signing, on branch EVENT, pushed."""
    git(clone, "checkout", "--quiet", "-b", EVENT)
    md = Metadata.from_bytes((clone / "metadata" / "root.json").read_bytes())
    assert isinstance(md.signed, Root)
    md.signed.version = 2
    days = md.signed.unrecognized_fields["x-tuf-on-ci-expiry-period"]
    md.signed.expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
    md.signatures.clear()
    for keyid in md.signed.roles["root"].keyids:
        md.signatures[keyid] = Signature(keyid, "")
    data = md.to_bytes()
    (clone / "metadata" / "root.json").write_bytes(data)
    (clone / "metadata" / "root_history" / "2.root.json").write_bytes(data)
    git(clone, "commit", "--quiet", "-am", "root v2: signing event")
    git(clone, "push", "--quiet", "origin", EVENT)
    git(clone, "checkout", "--quiet", "main")
    return data


def test_tuf_on_ci_sign_continues_the_ceremony_and_clients_accept(hsm, tmp_path):
    ws, online = _ceremony(hsm, tmp_path)
    v1 = (ws / "metadata" / "root.json").read_bytes()
    clone, bare = seed_repository(tmp_path / "git", tuf_layout.repository_files(ws / "metadata"))
    unsigned = _signing_event(clone)
    root = Metadata.from_bytes(v1).signed
    assert isinstance(root, Root)
    keyid = root.roles["root"].keyids[0]  # alice's

    home = tmp_path / "home"
    home.mkdir()
    run = sign_on_softhsm(hsm, clone, EVENT, "alice", home, {keyid: as_piv_9c(hsm, root.keys[keyid])})
    assert "Your signature is requested for role(s) {'root'}" in run.stdout

    # the remote's signing-event branch holds root v2, signed by alice's SoftHSM key
    check = tmp_path / "check"
    git(tmp_path, "clone", "--quiet", "--branch", EVENT, str(bare), str(check))
    v2 = (check / "metadata" / "root.json").read_bytes()
    assert (check / "metadata" / "root_history" / "2.root.json").read_bytes() == v2
    md = Metadata.from_bytes(v2)
    assert md.signed.version == 2 and v2 != unsigned
    assert json.loads(v2)["signed"] == json.loads(unsigned)["signed"]
    v1_root = Metadata.from_bytes(v1).signed
    assert isinstance(v1_root, Root)
    v1_root.verify_delegate("root", md.signed_bytes, md.signatures)
    md.signed.verify_delegate("root", md.signed_bytes, md.signatures)

    # clients: trust v1, walk to the tool's v2, download a target through the online roles
    site = tmp_path / "site"
    (site / "metadata").mkdir(parents=True)
    for path in sorted((check / "metadata" / "root_history").glob("*.root.json")):
        shutil.copy(path, site / "metadata" / path.name)
    assert isinstance(md.signed, Root)
    publish_online(site, md.signed, online, {"targets": (ws / "metadata" / "targets.json").read_bytes()},
                   {"hello.txt": TARGET})
    with serve(site) as url:
        both_clients_accept(url, tmp_path / "clients", v1, root_version=2)

