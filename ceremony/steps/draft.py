"""Draft: the next root version, built from the plan and the root keys, journaled unsigned.

The draft is journaled in full (``draft-created``: its signed part and its digest),
so the file ``drafts/N.root.json`` is only a view of it: rebuilt from the journal
when missing, and refused by signing once edited.
"""

from __future__ import annotations

from datetime import datetime

from tuf.api.metadata import Metadata, Root

from ceremony import integrity
from ceremony.errors import StateError, VerificationError
from ceremony.events import DraftCreated
from ceremony.formats import tuf as tuf_format
from ceremony.keyids import public_identity
from ceremony.session import Session


def draft(s: Session, now: datetime | None = None) -> Metadata[Root]:
    """Draft the next root version from the plan and the keys; unsigned.

    Raises:
        StateError: keys missing, or a draft already exists.
        VerificationError: the journal's online keys are not the plan's, or a rotation
            would make a root key an online key.
    """
    if s.state.draft is not None:
        raise StateError(f"root v{s.state.draft['version']} is already drafted",
                         hint="sign it (`ceremony sign`), or start a new workspace to change it")
    integrity.check_online_keys(s)  # the journal's online keys are the plan's
    prev = s.previous_root()
    now = now or tuf_format.utcnow()
    version = prev.signed.version + 1 if prev else 1
    md = s.build_draft(version, now, s.online_keys())
    if prev is not None:
        check_rotation(prev.signed, md.signed)
    s.append(DraftCreated(version=version, digest=tuf_format.signed_digest(md),
                          signed=md.signed.to_dict(), created=now.isoformat()))
    s._write_derived(s._write_draft)
    return md


def check_rotation(old: Root, new: Root) -> None:
    """Refuse rotations no client could follow, before anyone signs.

    Raises:
        VerificationError: a root key is reused as an online key.
    """
    # the key, not its id: one key has many ids
    root_ids = {public_identity(new.keys[k]): k for k in new.roles[Root.type].keyids}
    for role in tuf_format.ONLINE_ROLES:
        shared = {root_ids[i] for k in new.roles[role].keyids
                  if (i := public_identity(new.keys[k])) in root_ids}
        if shared:
            raise VerificationError(f"a {role} key is also a root key ({sorted(shared)[0][:12]}); "
                                    "online keys must never be root keys")
