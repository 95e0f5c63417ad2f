"""The ``preflight`` step's journal entry: a preflight report, kept whether it passed or not.

The checks themselves (air gap, clock, tool digest, tokens) are ``ceremony.preflight``'s; this
module only journals their report, typed (:class:`ceremony.events.Preflight`), so that a
report of the wrong shape is refused before it is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ceremony.events import Preflight, Recorder, build


def journal_report(c: Recorder, report: Mapping[str, Any]) -> Preflight:
    """Journal a preflight report (``PreflightReport.to_dict()``).

    Raises:
        StateError: the ceremony is sealed.
        WorkspaceError: the report lacks a field, or the journal cannot be written.
    """
    event = build(Preflight, report, "the preflight report")
    c.append(event)
    return event
