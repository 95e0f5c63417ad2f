"""Re-running a step after a crash: outputs written before the step was journaled.

Each step writes its outputs, then journals; a process killed in between has written
something the journal does not know yet. Most steps simply write it again (atomic
replace, or an O_EXCL file whose bytes are recomputed and compared). A USB export
cannot: its bundle carries a creation time, and a stick "carries one bundle", so the
re-run would refuse the stick that holds the interrupted run's bundle. This module
recognises that bundle: verified, for this ceremony, with exactly the files the re-run
would send, and made at the journal's current head (nothing was journaled since). Then
it is adopted and journaled as the export; a bundle the journal already records as
exported there is refused as done (exit 7, like any stick that holds a bundle).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ceremony.errors import CeremonyError, WorkspaceError


def adoptable_usb_bundle(c: Any, bundle: Any, folder: Path) -> tuple[Path, Any] | None:
    """The bundle (folder, read back) that an interrupted ``export --usb`` left in ``folder``,
    or ``None``.

    Raises:
        WorkspaceError: the folder holds this bundle and the journal already records its export.
    """
    from ceremony.transport import find_bundles, import_usb
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        return None
    journaled = {e.get("bundle_sha256"): e for e in c.state.exports}
    for path in find_bundles(folder):
        try:
            found = import_usb(path)
        except CeremonyError:
            continue  # not a bundle we could have written: the usual refusal follows
        m, mine = found.manifest, bundle.manifest
        same = (m.kind, m.repository, m.ceremony_id) == (mine.kind, mine.repository, mine.ceremony_id) \
            and dict(found.files) == dict(bundle.files)
        if not same:
            continue
        if found.digest in journaled:
            raise WorkspaceError(f"{folder} already holds a bundle ({path.name}): this very "
                                 "export, already journaled",
                                 hint="nothing was written; use a fresh stick for another copy")
        if m.journal_head == c.state.head:
            return path, found
    return None


def usb_export_lines(bundle: Any, path: Path) -> list[str]:
    """What the room hears when an interrupted export's bundle is adopted."""
    from ceremony.fingerprint import fingerprint_words
    return [(f"{bundle.manifest.kind} bundle already on {path} from an interrupted export: "
             "read back, verified, journaled now"),
            f"bundle digest {bundle.digest}", f"read aloud: {fingerprint_words(bundle.digest)}"]
