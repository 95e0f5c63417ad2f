"""The printable script follows the plan and carries the plan digest on every page."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import SoftHsm
from tests.helpers import bootstrap_setup, cli


def test_script_lists_every_step_with_fingerprints(hsm: SoftHsm, tmp_path: Path) -> None:
    s = bootstrap_setup(hsm, tmp_path, 3, 2)
    ws = tmp_path / "ws"
    assert cli("init", ws, "--plan", s.plan).code == 0
    r = cli("script", ws, "--json")
    assert r.code == 0, r.err
    titles = [st["title"] for st in json.loads(r.out)["steps"]]
    assert titles == ["Check the plan", "Generate alice's root key", "Generate bob's root key",
                      "Generate carol's root key", "Draft root v1", "alice signs", "bob signs",
                      "carol signs", "Publish", "Verify", "Carry the result out"]
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
