"""Publish: the signed root written out once every threshold is met, then journaled.

The draft is checked again first (its file, the files it was derived from, the
thresholds, the plan's witnesses); what is written is the format's
(``Format.write_published``), and its digest goes into the ``published`` event.
"""

from __future__ import annotations

from pathlib import Path

from ceremony import integrity
from ceremony.errors import StateError, ThresholdError
from ceremony.events import Published
from ceremony.lock import note
from ceremony.session import Session, sha256
from ceremony.witness import require_witnesses
from ceremony.workspace import refuse_other_outputs, remove_temporaries, write_missing_outputs


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
    roles = s.roles_format()
    # every input of the other roles re-checked (target files re-hashed) before any write
    extra = roles.roles_to_publish() if roles is not None else {}
    refuse_other_outputs(s.ws.root, extra)  # before anything is written, as the root's files
    for folder in (s.ws.metadata, s.ws.root / "targets"):  # what a publish cut short left
        for path in remove_temporaries(folder):
            note(f"removed {path.relative_to(s.ws.root)}, the temporary file of a write cut short")
    s.format.write_draft()  # a sign killed after its journal line left the file behind
    data, written = s.format.write_published(md)
    files = [p.name for p in written]
    outputs = {name: sha256(body) for name, body in s.format.published_files().items()}
    write_missing_outputs(s.ws.root, extra)
    written += [s.ws.root / rel for rel in extra]
    s.append(Published(version=version, sha256=sha256(data), files=files,
                       roles={rel: sha256(content) for rel, content in extra.items()} or None,
                       outputs=outputs))
    return written
