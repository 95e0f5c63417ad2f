"""A workspace journaled by the previous release still replays, verifies and continues.

tests/support/corpus/workspaces/ holds workspaces written by the release at commit becff8d (made by
tests/support/corpus/make_workspaces.py with that release's code; see its docstring), with the
throwaway SoftHSM token store their keyholders' keys live on. Each is copied into a fresh
folder, opened with today's code, replayed event by event through ``ceremony.events``, checked
(``record verify``, ``status``) and carried on to its end (the missing signature, publish,
``verify``); the sealed one is verified and refuses any further step.

Absolute paths: every journal's ``initialized`` event names the plan's folder (``plan_dir``)
where that release read the plan. It was a scratch folder deleted after the corpus was made,
so on any checkout it is missing and ``ceremony.integrity`` checks the online keys against
the copies ``init`` made in ``keys/`` (its documented fallback); the test asserts that folder is
absent, so a machine where it exists cannot silently take the other path.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ceremony import events, journal
from ceremony.engine import Ceremony
from tests.conftest import SoftHsm
from tests.support.helpers import cli

CORPUS = Path(__file__).resolve().parents[1] / "support" / "corpus" / "workspaces"


def _open(hsm: SoftHsm, tmp: Path, name: str) -> Path:
    """A copy of corpus workspace ``name`` in ``tmp``, its tokens in ``hsm``'s store."""
    shutil.copytree(CORPUS / "softhsm-tokens", hsm.dir.tokens, dirs_exist_ok=True)
    hsm.module.refresh()
    ws = tmp / name
    shutil.copytree(CORPUS / name, ws)
    plan_dir = journal.read(ws / "journal.jsonl")[0].data["plan_dir"]
    assert not Path(plan_dir).exists(), f"{plan_dir} exists here: the corpus test needs it absent"
    return ws


def ok(run: object) -> str:
    """The output of a CLI run that must succeed."""
    code, out, err = run.code, run.out, run.err  # type: ignore[attr-defined]
    assert code == 0, err
    return str(out)


def _replays(ws: Path) -> list[events.TypedEvent]:
    """Every journal line parsed to its typed event, each writing back the data it was read from."""
    lines = journal.read(ws / "journal.jsonl")
    typed = [events.parse(e) for e in lines]
    for e, t in zip(lines, typed, strict=True):
        assert (t.TYPE, t.to_data()) == (e.type, e.data)
    return typed


@pytest.mark.parametrize("name", ["tuf-midsign", "notary-midsign", "tuf-rotation-midsign"])
def test_a_workspace_stopped_mid_signing_continues_to_publish(hsm: SoftHsm, tmp_path: Path,
                                                                name: str) -> None:
    ws = _open(hsm, tmp_path, name)
    typed = _replays(ws)
    assert any(isinstance(t, events.SignatureAdded) for t in typed)
    state = Ceremony.open(ws, write=False).state
    assert (state.signers(), sorted(state.keys), state.published) == (
        ["alice"], ["alice", "bob"] if name != "tuf-rotation-midsign" else ["carol"], [])
    status = ok(cli("status", ws))
    assert "alice" in status and "threshold met" not in status
    assert "not sealed yet (allowed)" in ok(cli("record", "verify", ws, "--allow-unsealed"))

    signed = ok(cli("sign", ws, "--keyholder", "bob", "--pin-file", hsm.pin_file))
    assert signed.splitlines()[-1].endswith("threshold met"), signed
    version = 2 if name == "tuf-rotation-midsign" else 1
    assert f"published root v{version}" in ok(cli("publish", ws))
    meta = ws / "metadata"
    if name == "tuf-rotation-midsign":
        shutil.copy(ws / "previous" / "1.root.json", meta)
    if name == "notary-midsign":
        assert "newest" in ok(cli("verify", "--trusted", meta / "1.root.json", meta, "--json"))
    else:
        assert f"chain verified: newest root is v{version}" in ok(
            cli("verify", "--trusted", meta / "1.root.json", meta))
    assert "threshold met" in ok(cli("status", ws))
    verified = ok(cli("record", "verify", ws, "--allow-unsealed"))
    assert f"metadata/{version}.root.json is the journaled draft, signed at threshold" in verified
    after = _replays(ws)
    assert isinstance(after[-1], events.Published) and after[-1].version == version
    assert [t.TYPE for t in after[:len(typed)]] == [t.TYPE for t in typed]


def test_the_sealed_workspace_still_verifies_and_refuses_more(hsm: SoftHsm, tmp_path: Path) -> None:
    ws = _open(hsm, tmp_path, "tuf-sealed")
    typed = _replays(ws)
    assert isinstance(typed[-1], events.Sealed)
    kinds = {t.TYPE for t in typed}
    assert {events.WITNESS_ENROLLED, events.WITNESS_SIGNED, events.EXPORTED,
            events.SEAL_SIGNATURE} <= kinds
    verified = ok(cli("record", "verify", ws))
    assert "record verified: 23 journal lines" in verified
    assert "threshold met" in ok(cli("status", ws))
    refused = cli("sign", ws, "--keyholder", "bob", "--pin-file", hsm.pin_file)
    assert refused.code == 8, refused.err
    assert refused.err.splitlines()[-2:] == [
        "error: the ceremony is sealed; nothing more can be done in this workspace",
        "hint: start a new workspace (e.g. init --previous) for the next change"]
    assert journal.read(ws / "journal.jsonl")[-1].type == events.SEALED  # nothing appended


def test_the_recovered_torn_line_and_the_confirmation_replay(hsm: SoftHsm, tmp_path: Path) -> None:
    ws = _open(hsm, tmp_path, "tuf-midsign")
    typed = _replays(ws)
    recovered = [t for t in typed if isinstance(t, events.JournalRecovered)]
    assert len(recovered) == 1 and (ws / recovered[0].set_aside).is_file()
    confirmed = [t for t in typed if isinstance(t, events.Confirmed)]
    assert [c.what for c in confirmed] == ["draft"]
    ok(cli("record", "report", ws))
    text = (ws / "record" / "transcript.txt").read_text()
    assert "confirmed draft: the room read the draft's digest words aloud" in text
    assert f"set_aside={recovered[0].set_aside}" in text
    document = json.loads((ws / "record" / "transcript.json").read_text())
    assert document["journal_seq"] == len(typed)
