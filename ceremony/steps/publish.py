"""Publish: the signed root written out once every threshold is met, then journaled.

The draft is checked again first (its file, the files it was derived from, the
thresholds, the plan's witnesses); what is written is the format's
(``Session._write_published``), and its digest goes into the ``published`` event.
"""

from __future__ import annotations

from pathlib import Path

from ceremony import integrity
from ceremony.errors import StateError, ThresholdError
from ceremony.events import Published
from ceremony.session import Session, sha256
from ceremony.witness import require_witnesses


def publish(s: Session) -> list[Path]:
    """Write ``metadata/N.root.json`` and ``metadata/root.json`` once every threshold is met.

    Raises:
        ThresholdError: a threshold is not met (the verdict says who is missing), or too
            few of the plan's witnesses signed off.
        StateError: nothing drafted, or this version is already published.
        VerificationError: the draft or a file it was derived from was changed.
    """
    s.require_token_step()
    md = s.draft_metadata()
    version = md.signed.version
    if version in s.state.published:
        raise StateError(f"root v{version} is already published")
    s.check_draft_file()
    integrity.check_draft(s)  # re-derived from the plan and the key files
    st = s.status()
    if not st.verified:
        raise ThresholdError(f"root v{version} cannot be published below threshold: "
                             + "; ".join(st.lines()), verdict=st)
    require_witnesses(s, "publish")  # the plan's FIDO2 witnesses signed off this head
    s._write_draft()  # a sign killed after its journal line left the file behind
    data, written = s._write_published(md)
    s.append(Published(version=version, sha256=sha256(data), files=[p.name for p in written]))
    return written
