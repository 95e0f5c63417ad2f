"""Writing the record: the transcript and the printable report, the report showing the offline
check's verdict.

Its own module because it puts the two halves together: :mod:`ceremony.record` renders the
transcript and the report, :mod:`ceremony.record_check` re-checks a workspace and, to compare
``record/report.html``, renders the report again through :mod:`ceremony.record`. The report
shows the check's verdict, so whoever writes it sits above both (no import cycle).
"""

from __future__ import annotations

from pathlib import Path

from ceremony import journal as journal_mod
from ceremony.record import report, write_transcript
from ceremony.record_check import check_record
from ceremony.workspace import Workspace, atomic_write


def write_record(ws: Workspace, out: Path | None = None) -> list[Path]:
    """Write the transcript and the HTML report from the (checked) journal.

    Raises:
        WorkspaceError: the journal is broken.
    """
    events = journal_mod.read(ws.journal)
    paths = write_transcript(ws, events)
    target = out or ws.record / "report.html"
    verdict = check_record(ws.root, require_seal=False, check_report=False)
    atomic_write(target, report(ws.root, verdict).encode())
    return [*paths, target]
