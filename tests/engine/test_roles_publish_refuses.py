"""A roles publish never overwrites: a file in the place of one of its outputs (a role's
metadata, a target file) holding other bytes, or a link, is refused before anything is written
(exit 3), as the root's own file and an X.509 CA's are. (That the very bytes a publish cut
short wrote are kept, and the publish finishes, is the publish crash sweep's to show:
tests/engine/test_crash_sweep_publish.py.)"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.conftest import SoftHsm
from tests.support.helpers import cli
from tests.support.roles import signed_small_roles

POLICY = b'{"policy": "doi"}\n'
# clients fetch a target by its hash-prefixed name (consistent snapshots)
POLICY_FILE = f"targets/doi/{hashlib.sha256(POLICY).hexdigest()}.policy.json"


@pytest.mark.parametrize("rel", ["metadata/1.targets.json", "metadata/1.doi.json", POLICY_FILE])
def test_another_file_in_an_outputs_place_is_refused_and_nothing_is_written(
        hsm: SoftHsm, tmp_path: Path, rel: str) -> None:
    ws = signed_small_roles(hsm, tmp_path, POLICY)
    journal = (ws / "journal.jsonl").read_bytes()
    (ws / rel).parent.mkdir(parents=True, exist_ok=True)
    (ws / rel).write_bytes(b'{"not": "this ceremony\'s"}\n')
    before = sorted(p.relative_to(ws).as_posix() for p in ws.rglob("*") if "drafts" not in p.parts)
    r = cli("publish", ws)
    assert r.code == 3, r.err
    assert f"error: {rel} already exists; an output is never overwritten; nothing was published" in r.err
    assert (ws / "journal.jsonl").read_bytes() == journal
    assert (ws / rel).read_bytes() == b'{"not": "this ceremony\'s"}\n'
    assert not (ws / "metadata" / "1.root.json").exists()
    after = sorted(p.relative_to(ws).as_posix() for p in ws.rglob("*") if "drafts" not in p.parts)
    assert after == before


def test_a_link_in_an_outputs_place_is_refused(hsm: SoftHsm, tmp_path: Path) -> None:
    ws = signed_small_roles(hsm, tmp_path, POLICY)
    (ws / "metadata" / "1.targets.json").symlink_to(tmp_path / "elsewhere.json")
    r = cli("publish", ws)
    assert r.code == 3, r.err
    assert "error: metadata/1.targets.json already exists; an output is never overwritten" in r.err
    assert not (tmp_path / "elsewhere.json").exists()
