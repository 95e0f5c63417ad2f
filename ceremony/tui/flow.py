"""Which screen the TUI shows, from :mod:`ceremony.next_step` (pure).

Resuming a workspace resumes the TUI here: nothing about progress is kept anywhere but
the journal. The step itself is decided once, by :func:`ceremony.next_step.decide`, for
``status``, the printable script and this TUI alike; this module only maps it onto the
step bar, with what this sitting did that the journal does not record (:class:`Session`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from ceremony import next_step as nxt
from ceremony.errors import VerificationError
from ceremony.flows.witnesses import ENROL, PUBLISH, SEAL
from ceremony.next_step import DRAFT_APPROVED as DRAFT_APPROVED, seal_started as seal_started

if TYPE_CHECKING:  # types only: the engine is loaded by whoever opened the ceremony
    from ceremony.session import Session as CeremonySession


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

#: The screen for each kind of next step (signing and the typed "publish" share one screen).
SCREEN_OF: dict[nxt.Stage, Step] = {
    nxt.Stage.PREFLIGHT: Step.PREFLIGHT, nxt.Stage.ENROL: Step.WITNESS,
    nxt.Stage.KEYGEN: Step.KEYGEN, nxt.Stage.DRAFT: Step.DRAFT, nxt.Stage.SIGN: Step.SIGN,
    nxt.Stage.PUBLISH_GATE: Step.WITNESS, nxt.Stage.PUBLISH: Step.SIGN,
    nxt.Stage.EXPORT: Step.EXPORT, nxt.Stage.SEAL_GATE: Step.WITNESS, nxt.Stage.SEAL: Step.SEAL,
    nxt.Stage.DONE: Step.DONE}
#: The witness screen's stage (``ceremony.flows`` ENROL, PUBLISH, SEAL) for each witness step.
WITNESS_STAGE: dict[nxt.Stage, str] = {nxt.Stage.ENROL: ENROL, nxt.Stage.PUBLISH_GATE: PUBLISH,
                                       nxt.Stage.SEAL_GATE: SEAL}


@dataclass
class Session:
    """What this process has done that the journal does not decide."""

    preflight_passed: bool = False
    export_done: bool = False
    witnesses_enrolled: bool = False  # the room moved on from the enrolment screen

    def sitting(self) -> nxt.Sitting:
        """This session's facts as :func:`ceremony.next_step.decide` takes them."""
        return nxt.Sitting(self.preflight_passed, self.export_done, self.witnesses_enrolled)


def next_step(c: CeremonySession, session: Session) -> Step:
    """The step to show after the plan review."""
    return SCREEN_OF[nxt.next_step(c, session.sitting()).stage]


def witness_stage(c: CeremonySession, session: Session) -> str | None:
    """Which witness screen comes now, if any (``ceremony.flows`` ENROL, PUBLISH or SEAL);
    see :func:`ceremony.next_step.witness_gate`."""
    gate = nxt.witness_gate(nxt.facts_of(c), session.sitting())
    return None if gate is None else WITNESS_STAGE[gate]


def keygen_next(c: CeremonySession) -> str | None:
    """The next keyholder who must generate a key, in plan order."""
    return next(iter(c.keyholders_waiting()), None)


def signing_candidates(c: CeremonySession) -> list[str]:
    """Keyholders whose signature would still count toward a threshold, plan order first; for a
    format whose signers sign in order (``signers_in_order``: an X.509 CA's approvers before its
    CA key), those the next step waits for first, in its order."""
    names = list(c.plan.signers)
    prev = c.previous_root()
    if prev is not None:
        for keyid in prev.signed.roles["root"].keyids:
            name = c.format.keyholder_of(prev.signed.keys[keyid])
            if name and name not in names:
                names.append(name)
    out = []
    for name in names:
        try:
            keys = c.signing_keys(name)
        except VerificationError:  # their only key is declared compromised
            continue
        roles = c.roles_format()  # the roles beyond root drafted with it, if any
        role_keys = roles.role_keys_of(name) if roles is not None else {}
        if any(k.keyid not in c.state.signatures for k in keys) or any(
                k.keyid not in c.state.role_signatures.get(role, {})
                for role, ks in role_keys.items() for k in ks):
            out.append(name)
    if not (c.format.signers_in_order and c.state.draft):
        return out
    # a format whose second threshold waits for the first (x509: the approvers, then the CA key):
    # whom the next step waits for first, in its order, then the rest in plan order
    waiting = nxt.waiting_signers(c.status())
    return sorted(out, key=lambda n: waiting.index(n) if n in waiting else len(waiting))


def resume_summary(c: CeremonySession) -> str:
    """One sentence on where a workspace stands, for the plan screen."""
    st = c.state
    if st.sealed:
        return "This ceremony is complete and sealed."
    if len(c.journal.events) <= 1:
        return "New ceremony: nothing has been done yet."
    waiting = c.keyholders_waiting()
    done = [k for k in c.plan.signers if k not in waiting]
    parts = [f"{len(done)} of {len(c.plan.signers)} root keys ready"]
    if st.draft:
        parts.append(f"root v{st.draft['version']} drafted, signed by "
                     + (", ".join(st.signers()) or "nobody yet"))
    if st.draft_published:
        parts.append("published")
    if seal_started(c):
        parts.append("sealing under way")
    return "Resuming: " + "; ".join(parts) + "."
