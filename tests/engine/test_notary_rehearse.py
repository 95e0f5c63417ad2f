"""`ceremony rehearse --format notary` as CI runs it: a real process, throwaway SoftHSM tokens,
the server's snapshot/timestamp keys made locally (no server, no socket)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ceremony.formats.notary_json import parse

CEREMONY = [sys.executable, "-m", "ceremony.cli"]


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CEREMONY_PIN", "SOFTHSM2_CONF")}
    return subprocess.run([*CEREMONY, *map(str, args)], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=120)


def test_rehearse_a_notary_bootstrap(tmp_path: Path) -> None:
    r = run("rehearse", tmp_path / "ws", "--softhsm-dir", tmp_path / "hsm", "--format", "notary",
            "--keyholders", "3", "--threshold", "2", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["version"] == 1 and data["signers"] == ["alice", "bob"]
    assert "bob signed: root v1: 2/2 - alice, bob signed; threshold met" in r.stderr
    chain = tmp_path / "hsm" / "repository" / "metadata"
    root = parse((chain / "1.root.json").read_bytes())
    assert root.signed["_type"] == "Root" and root.signed["roles"]["root"]["threshold"] == 2
    online = tmp_path / "hsm" / "online"
    for role in ("snapshot", "timestamp", "targets"):
        key = json.loads((online / f"{role}.pub.json").read_text())
        assert (key["kind"], key["role"], key["gun"]) == \
            ("notary-public-key", role, "rehearsal/repository")
        assert root.signed["roles"][role]["keyids"] == [key["keyid"]]
    assert 'format = "notary"' in (tmp_path / "hsm" / "plan.toml").read_text()
    v = run("verify", "--trusted", chain / "1.root.json", chain)
    assert v.returncode == 0 and "chain verified: newest root is v1" in v.stdout
    status = run("status", tmp_path / "ws")
    assert "root v1: 2/2 - alice, bob signed; threshold met" in status.stdout


def test_rehearse_notary_rotations_are_refused_clearly(tmp_path: Path) -> None:
    r = run("rehearse", tmp_path / "ws", "--format", "notary", "--scenario", "targets-rotation")
    assert r.returncode == 64
    assert r.stderr.splitlines() == [
        "error: --format notary rehearses the bootstrap only, not targets-rotation",
        "hint: rehearse notary rotations against a test notary-server; the rotation scenarios "
        "here are TUF only"]
    r = run("rehearse", tmp_path / "ws", "--format", "spki")  # no such format (x509 is one now)
    assert r.returncode == 64 and "argument --format: invalid choice: 'spki'" in r.stderr
    assert not (tmp_path / "ws").exists()
