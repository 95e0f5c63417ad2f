"""``state.fold``: the session folds each appended event into the state it has instead of
replaying the whole journal again. Folding the rest of a journal onto the replay of any prefix
must give exactly the replay of the whole, and must leave the state it started from as it was
(a caller may still hold it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ceremony.journal import read
from ceremony.state import State, fold, replay

CORPUS = Path(__file__).resolve().parents[1] / "support" / "corpus" / "workspaces"
JOURNALS = sorted(p / "journal.jsonl" for p in CORPUS.iterdir() if (p / "journal.jsonl").is_file())


def _facts(s: State) -> dict[str, object]:
    return dict(vars(s))


@pytest.mark.parametrize("path", JOURNALS, ids=lambda p: p.parent.name)
def test_folding_the_rest_onto_any_prefix_is_the_whole_replay(path: Path) -> None:
    events = read(path)
    assert len(events) > 5
    whole = _facts(replay(events))
    for k in range(len(events) + 1):
        start = replay(events[:k])
        before = _facts(start.copy())
        assert _facts(fold(start, events[k:])) == whole, f"after line {k}"
        assert _facts(start) == before, f"folding changed the state it started from (line {k})"


def test_one_event_at_a_time_as_the_session_appends() -> None:
    events = read(JOURNALS[0])
    s = State()
    for e in events:
        s = fold(s, [e])
    assert _facts(s) == _facts(replay(events))
