"""The printable script follows the plan and carries the plan digest on every page."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import SoftHsm
from tests.support.helpers import bootstrap_setup, cli


def test_script_lists_every_step_with_fingerprints(hsm: SoftHsm, tmp_path: Path) -> None:
    s = bootstrap_setup(hsm, tmp_path, 3, 2)
    ws = tmp_path / "ws"
    assert cli("init", ws, "--plan", s.plan).code == 0
    r = cli("script", ws, "--json")
    assert r.code == 0, r.err
    titles = [st["title"] for st in json.loads(r.out)["steps"]]
    assert titles == ["Create the workspace from the plan", "Check the plan", "Generate alice's root key",
                      "Generate bob's root key", "Generate carol's root key", "Draft root v1", "alice signs",
                      "bob signs", "carol signs", "Publish", "Verify", "Carry the result out",
                      "Seal the record"]
    html = (ws / "record" / "script.html").read_text()
    digest = json.loads((ws / "journal.jsonl").read_text().splitlines()[0])["data"]["plan_sha256"]
    assert f"plan sha256 {digest}" in html and "<header>" in html
    assert "fingerprint read aloud: ____" in html
    assert cli("keygen", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file).code == 0
    cli("script", ws)
    html = (ws / "record" / "script.html").read_text()
    from ceremony.fingerprint import fingerprint_words
    keyid = json.loads((ws / "keys" / "root-alice.json").read_text())["keyid"]
    assert f"expected fingerprint: {fingerprint_words(keyid)}" in html


def test_script_includes_witness_steps(hsm: SoftHsm, tmp_path: Path) -> None:
    from tests.support.helpers import make_online_keys
    from tests.support.plans import plan_toml
    make_online_keys(hsm, tmp_path / "a", label="online-a")
    paths = {r: [str(tmp_path / "a" / f"{r}.pub.pem")] for r in ("targets", "snapshot", "timestamp")}
    plan = tmp_path / "p.toml"
    plan.write_text(plan_toml("w", {"alice": "tok-alice"}, ["alice"], 1, paths,
                              witnesses_required=1, witnesses=("wendy",)))
    assert cli("init", tmp_path / "ws", "--plan", plan).code == 0
    titles = [st["title"] for st in json.loads(cli("script", tmp_path / "ws", "--json").out)["steps"]]
    assert titles[2] == "Witnesses enrol their security keys"
    assert titles.index("Witnesses sign off before publish") == titles.index("Publish") - 1
    assert titles[-2:] == ["Witnesses sign off before the seal", "Seal the record"]


def test_live_script_starts_with_init_and_preflight(hsm: SoftHsm, tmp_path: Path) -> None:
    """A live plan's keygen refuses to run without a preflight, so the room's script has it
    before the first key, right after init; a rehearsal's script does not."""
    from tests.support.helpers import make_online_keys
    from tests.support.plans import plan_toml
    make_online_keys(hsm, tmp_path / "a", label="online-a")
    paths = {r: [str(tmp_path / "a" / f"{r}.pub.pem")] for r in ("targets", "snapshot", "timestamp")}
    plan = tmp_path / "p.toml"
    plan.write_text(plan_toml("live", {"alice": "tok-alice"}, ["alice"], 1, paths, rehearsal=False))
    assert cli("init", tmp_path / "ws", "--plan", plan).code == 0
    steps = json.loads(cli("script", tmp_path / "ws", "--json").out)["steps"]
    titles = [st["title"] for st in steps]
    assert titles[:4] == ["Create the workspace from the plan", "Check the plan",
                          "Preflight: air gap, clock, tool digest, tokens",
                          "Generate alice's root key"]
    assert steps[0]["command"] == "ceremony init WORKSPACE --plan PLAN.toml"
    assert steps[2]["command"] == "ceremony preflight WORKSPACE"
    status = cli("status", tmp_path / "ws")
    assert "next: ceremony preflight WORKSPACE (a live ceremony's token steps need it)" in status.out
