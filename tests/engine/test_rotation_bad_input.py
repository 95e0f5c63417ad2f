"""Rotation bad inputs: each refused with its message and exit code, nothing lost."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import SoftHsm
from tests.support.helpers import (
    cli,
    online_key_paths,
    published_v1,
    run_steps,
)
from tests.support.plans import plan_toml

THREE = {k: f"tok-{k}" for k in ("alice", "bob", "carol")}
ROLES = ("targets", "snapshot", "timestamp")


_paths = online_key_paths


@pytest.fixture
def chain(hsm: SoftHsm, tmp_path: Path) -> Path:
    """A published chain v1, v2 (carol removed in v2) in tmp/repo."""
    repo = published_v1(hsm, tmp_path)
    p2 = tmp_path / "p2.toml"
    p2.write_text(plan_toml("v2", THREE, ["alice", "bob"], 2, _paths(tmp_path / "a")))
    run_steps(hsm, tmp_path / "ws2", p2, repo, ["alice", "bob"])
    shutil.copy(tmp_path / "ws2" / "metadata" / "2.root.json", repo)
    return repo


def _init(tmp_path: Path, repo: Path, plan_text: str, name: str = "ws3"):
    p = tmp_path / f"{name}.toml"
    p.write_text(plan_text)
    return cli("init", tmp_path / name, "--plan", p, "--previous", repo)


def test_previous_chain_with_gap_bad_signature_or_going_backwards(chain: Path, tmp_path: Path) -> None:
    text = plan_toml("v3", THREE, ["alice", "bob"], 2, _paths(tmp_path / "a"))
    broken = tmp_path / "broken"
    # a gap
    shutil.copytree(chain, broken)
    (broken / "2.root.json").rename(broken / "3.root.json")
    r = _init(tmp_path, broken, text, "gap")
    assert (r.code, r.err.strip()) == (3, "error: root version 2 is missing, but 3.root.json exists: "
                                          "the chain has a gap")
    assert not (tmp_path / "gap").exists()
    # a bad signature
    shutil.rmtree(broken)
    shutil.copytree(chain, broken)
    doc = json.loads((broken / "2.root.json").read_text())
    doc["signed"]["expires"] = "2099-01-01T00:00:00Z"
    (broken / "2.root.json").write_text(json.dumps(doc))
    r = _init(tmp_path, broken, text, "badsig")
    assert r.code == 3
    assert "error: 2.root.json is not signed at threshold: previous root v1: 0/2" in r.err
    # going backwards
    shutil.rmtree(broken)
    shutil.copytree(chain, broken)
    shutil.copy(chain / "1.root.json", broken / "2.root.json")
    r = _init(tmp_path, broken, text, "back")
    assert (r.code, r.err.strip()) == (3, "error: 2.root.json holds root version 1, not 2: a rolled-back version")


def test_root_key_as_online_key_refused_and_shared_online_key_warned(chain: Path, tmp_path: Path) -> None:
    root = json.loads((chain / "2.root.json").read_text())["signed"]
    alice = next(k for k in root["roles"]["root"]["keyids"]
                 if root["keys"][k]["x-ceremony-keyholder"] == "alice")
    key = {f: v for f, v in root["keys"][alice].items() if not f.startswith("x-")}
    (tmp_path / "alice-as-targets.json").write_text(json.dumps(key))
    paths = _paths(tmp_path / "a")
    paths["targets"] = [str(tmp_path / "alice-as-targets.json")]
    r = _init(tmp_path, chain, plan_toml("v3", THREE, ["alice", "bob"], 2, paths), "reuse")
    assert r.code == 2
    assert "the targets key is a root key (alice) of root v2; a root key must never be an online key" in r.err
    paths = _paths(tmp_path / "a")
    paths["snapshot"] = paths["timestamp"]
    r = _init(tmp_path, chain, plan_toml("v3", THREE, ["alice", "bob"], 2, paths), "shared")
    assert r.code == 0
    assert "warning: the same key" in r.err and "is used by snapshot and timestamp" in r.err


def test_plan_removing_every_root_key_or_impossible_threshold(chain: Path, tmp_path: Path) -> None:
    r = _init(tmp_path, chain, plan_toml("v3", THREE, [], 1, _paths(tmp_path / "a")), "empty")
    assert (r.code, r.err.strip()) == (2, "error: roles.root.keyholders must not be empty")
    r = _init(tmp_path, chain, plan_toml("v3", THREE, ["alice"], 2, _paths(tmp_path / "a")), "never")
    assert r.code == 2 and "roles.root.threshold is 2 but the role has only 1 keyholders" in r.err


def test_signature_from_a_revoked_key_is_refused(hsm: SoftHsm, chain: Path, tmp_path: Path) -> None:
    r = _init(tmp_path, chain, plan_toml("v3", THREE, ["alice", "bob"], 2, _paths(tmp_path / "a")))
    assert r.code == 0, r.err
    ws = tmp_path / "ws3"
    assert cli("draft", ws).code == 0
    # carol's key was removed in v2: she can no longer sign, and a signature made by her key
    # and smuggled in as a detached signature is refused.
    r = cli("sign", ws, "--keyholder", "carol", "--pin-file", hsm.pin_file)
    assert (r.code, r.err.splitlines()[-1]) == (3, "error: carol holds no key in root v3 or the previous "
                                                   "root v2: their signature would count toward no threshold")
    from ceremony.engine import Ceremony
    c = Ceremony.open(ws)
    v1 = json.loads((chain / "1.root.json").read_text())["signed"]
    carol_id = next(k for k in v1["roles"]["root"]["keyids"]
                    if v1["keys"][k]["x-ceremony-keyholder"] == "carol")
    uri = v1["keys"][carol_id]["x-ceremony-key-uri"]
    from hsm.uri import parse_uri
    tk = hsm.module.open_key(hsm.module.find_token(label="tok-carol"), hsm.pin, "ecdsa-p256",
                             parse_uri(uri).key_id)
    from hsm.verify import raw_to_der
    sig = raw_to_der(tk.sign_raw(c.draft_metadata().signed_bytes)).hex()
    forged = {"kind": "ceremony-signature", "repository": "test/repo",
              "ceremony_id": c.state.init["ceremony_id"], "version": 3, "digest": c.state.draft_digest,
              "keyholder": "carol", "signatures": [{"keyid": carol_id, "sig": sig}]}
    f = tmp_path / "carol.sig.json"
    f.write_text(json.dumps(forged))
    journal = (ws / "journal.jsonl").read_bytes()
    r = cli("import-signature", ws, f)
    assert r.code == 3
    assert (f"the signature is from a revoked key (removed in root v2) ({carol_id[:12]}); "
            "it counts toward no threshold") in r.err
    assert (ws / "journal.jsonl").read_bytes() == journal


def test_status_lists_every_role_expiry_and_warns(hsm: SoftHsm, chain: Path, tmp_path: Path) -> None:
    from tests.support.helpers import OnlineKeys
    from tests.support.tuf_repo import publish_online
    keys = OnlineKeys(hsm, "online-a", {r: r.encode() for r in ROLES})
    publish_online(tmp_path / "site", keys.open(), version=1)  # 7-day expiries
    for f in (tmp_path / "site" / "metadata").iterdir():
        shutil.copy(f, chain)
    r = _init(tmp_path, chain, plan_toml("v3", THREE, ["alice", "bob"], 2, _paths(tmp_path / "a")))
    assert r.code == 0, r.err
    st = cli("status", tmp_path / "ws3")
    assert st.code == 0
    lines = st.out.splitlines()
    assert any(ln.strip().startswith("root v2 (current): expires") and "WARNING" not in ln for ln in lines)
    for role in ROLES:
        assert any(ln.strip().startswith(f"{role} v1: expires") and ln.endswith("WARNING: expires soon")
                   for ln in lines), st.out
    data = json.loads(cli("status", tmp_path / "ws3", "--json").out)
    assert {e["role"].split()[0]: e["warn"] for e in data["expiries"]} == {
        "root": False, "targets": True, "snapshot": True, "timestamp": True}
