"""Draft: the next root version, built from the plan and the root keys, journaled unsigned.

The draft is journaled in full (``draft-created``: its signed part and its digest),
so the file ``drafts/N.root.json`` is only a view of it: rebuilt from the journal
when missing, and refused by signing once edited. What the root is, and the checks
it must pass before anyone signs, are the format's (``Format.build_draft``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ceremony import integrity
from ceremony.errors import StateError
from ceremony.events import DraftCreated, build
from ceremony.session import Session


def draft(s: Session, now: datetime | None = None) -> Any:
    """Draft the next root version from the plan and the keys; unsigned.

    Raises:
        StateError: keys missing, or a draft already exists.
        VerificationError: the journal's online keys are not the plan's, a rotation
            would make a root key an online key, or the format refuses the root.
        PlanError: a role would list one public key twice.
    """
    if s.state.draft is not None:
        raise StateError(f"root v{s.state.draft['version']} is already drafted",
                         hint="sign it (`ceremony sign`), or start a new workspace to change it")
    integrity.check_online_keys(s)  # the journal's online keys are the plan's
    made = s.format.build_draft(s.root_keys(), now)
    # the format's fields (notary's ``expiry_capped`` beside the common ones), checked
    s.append(build(DraftCreated, made.fields, "the draft"))
    s._write_derived(s.format.write_draft)
    return made.metadata
