"""Which step the ceremony is at, derived from the journal's state (pure).

Resuming a workspace resumes the TUI here: nothing about progress is kept
anywhere but the journal. The only per-session facts are that this session ran
its own preflight and moved past the export step. (These queries would sit well
in ``ceremony/status.py``; they only use the public Ceremony API.)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ceremony import record
from ceremony.errors import VerificationError
from ceremony.session import Session as CeremonySession
from ceremony.state import SEAL_SIGNATURE


class Step(Enum):
    """The steps shown in the step bar, in ceremony order."""

    PLAN = "Plan"
    PREFLIGHT = "Preflight"
    KEYGEN = "Keys"
    DRAFT = "Draft"
    SIGN = "Sign+publish"
    EXPORT = "Export"
    SEAL = "Seal"
    DONE = "Done"
    WITNESS = "Witnesses"  # enrolment and the sign-off gates: shown under the step they guard


STEPS: list[Step] = [s for s in Step if s is not Step.WITNESS]
DRAFT_APPROVED = "draft-approved"


@dataclass
class Session:
    """What this process has done that the journal does not decide."""

    preflight_passed: bool = False
    export_done: bool = False
    witnesses_enrolled: bool = False  # the room moved on from the enrolment screen


def seal_started(c: CeremonySession) -> bool:
    """Whether any keyholder has sealed (then the ceremony only moves on to the seal)."""
    return any(e.type == SEAL_SIGNATURE for e in c.journal.events)


def next_step(c: CeremonySession, session: Session) -> Step:
    """The step to show after the plan review."""
    st = c.state
    if st.sealed:
        return Step.DONE
    if not session.preflight_passed:
        return Step.PREFLIGHT
    if witness_stage(c, session) is not None:
        return Step.WITNESS
    if seal_started(c):
        return Step.SEAL
    if st.draft_published:
        from ceremony.flows import published_exports  # a draft sent out earlier does not count
        return Step.SEAL if (published_exports(c) or session.export_done) else Step.EXPORT
    if any(c.needs_key(k) for k in c.plan.root.keyholders):
        return Step.KEYGEN
    if st.draft is None or not record.confirmed(c, DRAFT_APPROVED, st.draft_digest):
        return Step.DRAFT
    return Step.SIGN


def witness_stage(c: CeremonySession, session: Session) -> str | None:
    """Which witness screen comes now, if any (``ceremony.flows`` ENROL, PUBLISH or SEAL).

    Enrolment comes first, while anyone listed has not enrolled (until the room moves
    on). Before publish: once "publish" is typed, until it is published (the typed
    confirmation is itself journaled, so the witnesses sign off after it). Before the
    seal: after the export, while too few have signed off the head.
    """
    from ceremony import flows, witness
    p, st = c.plan, c.state
    if not p.witnesses or st.sealed:
        return None
    if not session.witnesses_enrolled and not st.draft_published and \
            not flows.publish_confirmed(c) and any(w not in st.witnesses for w in p.witnesses):
        return flows.ENROL
    if not p.witnesses_required:
        return None
    if st.draft_published:
        exported = bool(flows.published_exports(c)) or session.export_done
        if (exported or seal_started(c)) and not witness.status(c).met:
            return flows.SEAL
        return None
    if st.draft is not None and flows.publish_confirmed(c):
        return flows.PUBLISH
    return None


def keygen_next(c: CeremonySession) -> str | None:
    """The next keyholder who must generate a key, in plan order."""
    return next((k for k in c.plan.root.keyholders if c.needs_key(k)), None)


def signing_candidates(c: CeremonySession) -> list[str]:
    """Keyholders whose signature would still count toward a threshold, plan order first."""
    names = list(c.plan.root.keyholders)
    prev = c.previous_root()
    if prev is not None:
        from ceremony.formats import tuf as tuf_format
        for keyid in prev.signed.roles["root"].keyids:
            name = tuf_format.keyholder_of(prev.signed.keys[keyid])
            if name and name not in names:
                names.append(name)
    out = []
    for name in names:
        try:
            keys = c.signing_keys(name)
        except VerificationError:  # their only key is declared compromised
            continue
        if keys and any(k.keyid not in c.state.signatures for k in keys):
            out.append(name)
    return out


def resume_summary(c: CeremonySession) -> str:
    """One sentence on where a workspace stands, for the plan screen."""
    st = c.state
    if st.sealed:
        return "This ceremony is complete and sealed."
    if len(c.journal.events) <= 1:
        return "New ceremony: nothing has been done yet."
    done = [k for k in c.plan.root.keyholders if not c.needs_key(k)]
    parts = [f"{len(done)} of {len(c.plan.root.keyholders)} root keys ready"]
    if st.draft:
        parts.append(f"root v{st.draft['version']} drafted, signed by "
                     + (", ".join(st.signers()) or "nobody yet"))
    if st.draft_published:
        parts.append("published")
    if seal_started(c):
        parts.append("sealing under way")
    return "Resuming: " + "; ".join(parts) + "."
