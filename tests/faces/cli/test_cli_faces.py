"""The CLI is a thin face over one operations layer (issue 14).

What is checked: the export of a travelling draft before anything is drafted is refused with
the operator's sentence and exit 8 (it used to end as an internal error, exit 70, when the CLI
computed the file name itself); ``ceremony export`` and the TUI's export write the same bundle
through ``ceremony.flows.export`` (the CLI's ``--json`` facts are the flow's); ``python -m
ceremony.cli --help`` starts without loading python-tuf, python-pkcs11, the QR stack or
Textual (each command loads its own heavy modules when it runs).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ceremony import flows
from ceremony.engine import Ceremony
from tests.conftest import SoftHsm
from tests.support.helpers import bootstrap_setup, cli

ROOT = Path(__file__).resolve().parents[3]


def test_export_draft_before_a_draft_is_refused_as_step_order(hsm: SoftHsm, tmp_path: Path) -> None:
    s = bootstrap_setup(hsm, tmp_path, n=2, threshold=1)
    ws = tmp_path / "ws"
    assert cli("init", ws, "--plan", s.plan).code == 0
    r = cli("export-draft", ws)
    assert r.code == 8, r.err
    assert "internal error" not in r.err and "error: " in r.err
    assert not list(ws.rglob("*.root.draft.json"))  # nothing written


def test_cli_export_is_the_flow_export(hsm: SoftHsm, tmp_path: Path) -> None:
    """The CLI's --json facts are those of ``flows.export_usb_to``, and the same bundle lands
    on the stick; the same export again to that stick is refused as already journaled (exit 7)."""
    s = bootstrap_setup(hsm, tmp_path, n=2, threshold=1)
    ws = tmp_path / "ws"
    assert cli("init", ws, "--plan", s.plan).code == 0
    for name in s.names:
        assert cli("keygen", ws, "--keyholder", name, "--pin-file", hsm.pin_file).code == 0
    assert cli("draft", ws).code == 0
    stick = tmp_path / "stick"
    stick.mkdir()
    r = cli("export", ws, "--usb", stick, "--json")
    assert r.code == 0, r.err
    facts = json.loads(r.out)
    assert facts["transport"] == "usb" and Path(facts["path"]).parent == stick
    again = cli("export", ws, "--usb", stick)
    assert again.code == 7 and "this very export, already journaled" in again.err
    c = Ceremony.open(ws)
    other = tmp_path / "stick2"
    other.mkdir()
    sent = flows.export_usb_to(c, other)
    assert set(sent.data) == set(facts) and sent.data["bundle_sha256"] != ""
    assert [e["transport"] for e in Ceremony.open(ws, write=False).state.exports] == ["usb", "usb"]


def test_help_loads_no_heavy_module() -> None:
    code = ("import sys, runpy\n"
            "sys.argv = ['ceremony', '--help']\n"
            "try:\n"
            "    runpy.run_module('ceremony.cli', run_name='__main__')\n"
            "except SystemExit:\n"
            "    pass\n"
            "heavy = [m for m in ('tuf', 'pkcs11', 'securesystemslib', 'qrcode', 'textual', 'PIL',\n"
            "                     'ceremony.engine', 'ceremony.flows', 'hsm.pkcs11')\n"
            "         if m in sys.modules]\n"
            "print('HEAVY', heavy, file=sys.stderr)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert "usage: ceremony" in r.stdout
    assert "HEAVY []" in r.stderr, r.stderr
