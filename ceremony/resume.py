"""Re-running a step after a crash: outputs written before the step was journaled.

Each step writes its outputs, then journals; a process killed in between has written
something the journal does not know yet. Most steps simply write it again (atomic
replace, or an O_EXCL file whose bytes are recomputed and compared). A USB export
cannot: its bundle carries a creation time, and a stick "carries one bundle" (QR frames
go to an empty folder), so the re-run would refuse what the interrupted run wrote. This
module recognises that bundle (read back from the stick, or decoded from the frames):
verified, for this ceremony, with exactly the files the re-run would send, and made at the
journal's current head (nothing was journaled since). Then it is adopted and journaled as
the export; a bundle the journal already records as
exported there is refused as done (exit 7, like any stick that holds a bundle).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from ceremony.errors import CeremonyError, WorkspaceError
from ceremony.fingerprint import fingerprint_words
from ceremony.journal import read
from ceremony.session import Session
from ceremony.workspace import Workspace

if TYPE_CHECKING:  # no cycle: ceremony.transport costs ~0.19 s (qrcode, PIL), not needed by init
    from ceremony.transport import Bundle


def refuse_finished_init(root: Path, plan_path: Path) -> None:
    """Refuse ``init`` on a workspace already initialised from this very plan, saying that
    init had finished (its process may have died before it said so), instead of the generic
    "choose a new folder".

    Raises:
        WorkspaceError: ``root`` holds a ceremony whose journal starts from this plan.
    """
    ws = Workspace(Path(root))
    try:
        if not ws.journal.is_file() or not Path(plan_path).is_file():
            return
        events = read(ws.journal)
        digest = hashlib.sha256(Path(plan_path).read_bytes()).hexdigest()
    except (CeremonyError, OSError):
        return  # the usual checks say what is wrong
    if events and events[0].data.get("plan_sha256") == digest:
        raise WorkspaceError(f"{root} already holds a ceremony initialised from this plan: "
                             "init had finished",
                             hint=f"go on with the next step; `ceremony status {root}` shows it")


def adoptable_usb_bundle(c: Session, bundle: Bundle, folder: Path) -> tuple[Path, Bundle] | None:
    """The bundle (folder, read back) that an interrupted ``export --usb`` left in ``folder``,
    or ``None``.

    Raises:
        WorkspaceError: the folder holds this bundle and the journal already records its export.
    """
    from ceremony.transport import find_bundles, import_usb  # lazy: qrcode, PIL (~0.19 s)
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        return None
    for path in find_bundles(folder):
        try:
            found = import_usb(path)
        except CeremonyError:
            continue  # not a bundle we could have written: the usual refusal follows
        if _ours(c, bundle, found, f"{folder} already holds a bundle ({path.name}): this very "
                 "export, already journaled", "use a fresh stick for another copy"):
            return path, found
    return None


def adoptable_qr_frames(c: Session, bundle: Bundle, folder: Path) -> Bundle | None:
    """The bundle carried by the frames an interrupted ``export --qr`` left in ``folder``
    (written to a hidden folder and renamed into place, so whole or absent), or ``None``.

    Raises:
        WorkspaceError: the frames carry this bundle and the journal already records its export.
    """
    from ceremony.transport import import_qr  # lazy: qrcode, PIL (~0.19 s)
    folder = Path(folder).expanduser()
    frames = sorted(folder.glob("frame-*.png")) if folder.is_dir() and not folder.is_symlink() else []
    if not frames or not (folder / "sheet.html").is_file():
        return None
    try:
        found = import_qr(frames)
    except CeremonyError:
        return None
    ours = _ours(c, bundle, found, f"{folder} already exists and is not an empty folder: it holds "
                 "this very export's QR frames, already journaled",
                 "choose an empty folder for another copy")
    return found if ours else None


def _ours(c: Session, bundle: Bundle, found: Bundle, refusal: str, another: str) -> bool:
    """Whether ``found`` is the bundle this export would write, made at the journal's head
    (an interrupted export). Refuses one whose export is already journaled.

    Raises:
        WorkspaceError: ``found`` was exported and journaled already.
    """
    m, mine = found.manifest, bundle.manifest
    same = (m.kind, m.repository, m.ceremony_id) == (mine.kind, mine.repository, mine.ceremony_id) \
        and dict(found.files) == dict(bundle.files)
    if not same:
        return False
    if found.digest in {e.get("bundle_sha256") for e in c.state.exports}:
        raise WorkspaceError(refusal, hint=f"nothing was written; {another}")
    return bool(m.journal_head == c.state.head)


def usb_export_lines(bundle: Bundle, path: Path) -> list[str]:
    """What the room hears when an interrupted export's bundle (or frames) is adopted."""
    return [(f"{bundle.manifest.kind} bundle already in {path} from an interrupted export: "
             "read back, verified, journaled now"),
            f"bundle digest {bundle.digest}", f"read aloud: {fingerprint_words(bundle.digest)}"]
