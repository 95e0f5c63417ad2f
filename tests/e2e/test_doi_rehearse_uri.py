"""``rehearse --scenario doi --online-uri URI``: the DOI-shaped repository rehearsed as
tuf-on-ci's, snapshot and timestamp on one online key named by its KMS URI (a throwaway
token key stands in; the KMS is never contacted), and the refusals of the flag."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.helpers import cli
from tests.support.tufonci import KMS


def test_rehearse_doi_names_the_online_key_by_its_uri(tmp_path: Path) -> None:
    r = cli("rehearse", tmp_path / "ws", "--scenario", "doi", "--softhsm-dir", tmp_path / "hsm",
            "--online-uri", KMS)
    assert r.code == 0, r.err
    assert f'online: snapshot and timestamp by one key named {KMS} (compat = "tuf-on-ci")' in r.out
    assert "verified: doi v1: signed at threshold, 2 target file(s) verified" in r.out, r.out
    plan = (tmp_path / "hsm" / "plan-doi.toml").read_text()
    assert 'compat = "tuf-on-ci"' in plan and plan.count(f'uris = ["{KMS}"]') == 2
    root = json.loads((tmp_path / "hsm" / "repository" / "metadata" / "1.root.json").read_bytes())["signed"]
    (keyid,) = root["roles"]["snapshot"]["keyids"]
    assert root["roles"]["timestamp"]["keyids"] == [keyid]
    assert root["keys"][keyid]["x-tuf-on-ci-online-uri"] == KMS
    assert all(k.get("x-tuf-on-ci-keyowner") for i, k in root["keys"].items() if i != keyid)


def test_online_uri_of_an_unknown_scheme_is_refused(tmp_path: Path) -> None:
    r = cli("rehearse", tmp_path / "ws", "--scenario", "doi", "--softhsm-dir", tmp_path / "hsm",
            "--online-uri", "vault:transit/keys/online")
    assert r.code == 64, r.err
    assert ("--online-uri 'vault:transit/keys/online' is not an online signer URI this tool "
            "records: its scheme must be one of awskms:, gcpkms:, azurekms:, hv:") in r.err, r.err
    assert not (tmp_path / "hsm").exists() and not (tmp_path / "ws").exists()


def test_online_uri_outside_the_doi_scenario_is_refused(tmp_path: Path) -> None:
    r = cli("rehearse", tmp_path / "ws", "--online-uri", KMS, "--softhsm-dir", tmp_path / "hsm")
    assert r.code == 64, r.err
    assert "error: --online-uri applies to --scenario doi only, not bootstrap" in r.err, r.err
    assert not (tmp_path / "hsm").exists() and not (tmp_path / "ws").exists()
