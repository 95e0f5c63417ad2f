"""The crash sweep (tests/support/crash_sweep.py): a 3-of-5 CLI ceremony killed before every
state-changing syscall, resumed by re-running the same commands, compared with an uncrashed
run. The figures are printed (``-s`` shows them) and written to ``crash-sweep.json`` in the
test's folder; every figure that counts a failure must be 0. ``CEREMONY_CRASH_SWEEP=full``
samples nothing (every distinct state of every keygen; several minutes)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import crash_sweep as cs

pytestmark = pytest.mark.slow


@pytest.fixture
def work(tmp_path: Path) -> Iterator[Path]:
    """A scratch folder in memory when there is one: a kill makes no use of fsync, and the
    sweep fsyncs thousands of times."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        d = Path(tempfile.mkdtemp(prefix="crash-sweep-", dir=shm))
        yield d
        shutil.rmtree(d, ignore_errors=True)
    else:
        yield tmp_path


def test_sigkill_before_every_state_change_resumes_without_repair(work: Path, tmp_path: Path) -> None:
    assert shutil.which("strace"), "strace is required (softhsm-setup/debian-packages.txt)"
    s = cs.sweep(work, workers=2, full=os.environ.get("CEREMONY_CRASH_SWEEP") == "full")
    figures = cs.summary(s)
    (tmp_path / "crash-sweep.json").write_text(json.dumps(figures, indent=1))
    print("\ncrash sweep:", json.dumps(figures, indent=1))
    failures = [f"{' '.join(cs.COMMANDS[o.call.command])} killed at {o.call.syscall} "
                f"#{o.call.ordinal} ({o.call.path}): {o.problems}"
                for o in s.outcomes if o.problems]
    assert not failures, "\n".join(failures[:20])
    assert figures["kill points"] >= 200
    assert figures["killed"] == figures["kill points"]
    assert figures["double keygens"] == figures["orphans"] == figures["manual repairs"] == 0
    # Every command was killed somewhere, and the windows that matter were reached: inside
    # SoftHSM's key generation (half-made objects), between the key file and its journal
    # line, between the published file's link and its journal line, and inside the export.
    killed_in = {cs.COMMANDS[p.command][0] for p in s.points}
    assert killed_in == {argv[0] for argv in cs.COMMANDS}
    paths = [p.path for p in s.points]
    assert any(p.endswith(".object") and not p.endswith("token.object") for p in paths)
    assert any(p.startswith("ws/keys/") for p in paths)
    # killed at the unlink of the temporary file: the published file is linked, not journaled
    assert any(p.syscall == "unlink" and p.path.startswith("ws/metadata/") for p in s.points)
    assert any(p.startswith("stick/") for p in paths)
    assert figures["keygen recoveries journaled"] > 0  # half-made objects were found and removed
