"""`ceremony rehearse` as CI runs it: a real process, throwaway SoftHSM tokens, every scenario."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CEREMONY = [sys.executable, "-m", "ceremony.cli"]


def run(*args: str | Path, env_extra: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CEREMONY_PIN", "SOFTHSM2_CONF")}
    env.update(env_extra or {})
    return subprocess.run([*CEREMONY, *map(str, args)], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=120)


@pytest.mark.parametrize("scenario", ["bootstrap", "targets-rotation", "root-rotation",
                                      "emergency-targets", "emergency-root"])
def test_rehearse_scenarios(tmp_path: Path, scenario: str) -> None:
    r = run("rehearse", tmp_path / "ws", "--softhsm-dir", tmp_path / "hsm", "--scenario", scenario,
            "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    expected = 1 if scenario == "bootstrap" else 2
    assert data["version"] == expected
    chain = tmp_path / "hsm" / "repository" / "metadata"
    v = run("verify", "--trusted", chain / "1.root.json", chain)
    assert v.returncode == 0 and f"newest root is v{expected}" in v.stdout
    if scenario == "emergency-root":
        assert "carol signed: previous root v1" in r.stderr
        assert "alice signed: previous root" not in r.stderr  # compromised keys are not used
    # The throwaway tokens are gone (they hold private keys); what was made stays.
    assert not (tmp_path / "hsm" / "softhsm").exists()
    assert (tmp_path / "hsm" / "plan.toml").is_file() and (tmp_path / "ws" / "journal.jsonl").is_file()


def test_rehearse_keeps_its_tokens_when_asked(tmp_path: Path) -> None:
    r = run("rehearse", tmp_path / "ws", "--softhsm-dir", tmp_path / "hsm", "--keyholders", "2",
            "--threshold", "1", "--keep-tokens")
    assert r.returncode == 0, r.stderr
    conf = tmp_path / "hsm" / "softhsm" / "softhsm2.conf"
    assert f"throwaway tokens kept: {tmp_path / 'hsm' / 'softhsm'} (SOFTHSM2_CONF={conf})" in r.stdout
    tokens = run("tokens", "--json", env_extra={"SOFTHSM2_CONF": str(conf)})
    assert tokens.returncode == 0, tokens.stderr
    assert {"rehearsal-alice", "rehearsal-bob"} <= {t["label"] for t in json.loads(tokens.stdout)["tokens"]}


def test_rehearse_refuses_impossible_numbers(tmp_path: Path) -> None:
    r = run("rehearse", tmp_path / "ws", "--keyholders", "3", "--threshold", "4")
    assert (r.returncode, r.stderr.strip()) == (64, "error: --threshold must be between 1 and "
                                                    "--keyholders (3)")
    r = run("rehearse", tmp_path / "ws", "--scenario", "nope")
    assert r.returncode == 64 and "--scenario must be one of bootstrap" in r.stderr
    assert not (tmp_path / "ws").exists()
