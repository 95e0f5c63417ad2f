"""What comes next in a ceremony: one answer for ``status``, the TUI and the printable script.

The room must never hear two different "next" steps from the tool: ``ceremony status`` (text
and ``--json``), the TUI's step screens and the printable script's "next" marker all render
the one :class:`NextStep` that :func:`decide` returns. :func:`decide` is pure: it reads a
:class:`Facts` snapshot (taken from the journal's state, the plan and the journal by
:func:`facts_of`) and, for the TUI, what this sitting did that the journal does not record
(:class:`Sitting`); it does no I/O and knows no UI.

The CLI and the TUI walk the same order; where they differ, it is by what a sitting adds: the
TUI has the room re-run the preflight every sitting, asks for a typed approval of the draft
and a typed "publish" (both journaled), and lets the room move on from the witness enrolment.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from enum import Enum
from typing import TYPE_CHECKING, Any

from ceremony.errors import CeremonyError
from ceremony.frozen import frozen
from ceremony.state import SEAL_SIGNATURE

if TYPE_CHECKING:  # types only: the engine is loaded by whoever opened the ceremony
    from ceremony.formats.base import ThresholdStatus
    from ceremony.plan import Keyholder
    from ceremony.session import Session

#: The export kind of the published metadata (a travelling draft sent out earlier does not count).
SIGNED_METADATA = "signed-metadata"
#: What the TUI journals (``confirmed``) when the room approves the draft it read aloud.
DRAFT_APPROVED = "draft-approved"
#: What the TUI journals when the room types "publish" (witnesses then sign off after it).
PUBLISH_CONFIRMED = "publish-confirmed"
WS = "WORKSPACE"


class Stage(Enum):
    """The kinds of next step, in ceremony order."""

    PREFLIGHT = "preflight"
    ENROL = "witness-enroll"
    KEYGEN = "keygen"
    DRAFT = "draft"
    SIGN = "sign"
    PUBLISH_GATE = "witness-publish"  # witnesses sign off the head before publish
    PUBLISH = "publish"
    EXPORT = "export"
    SEAL_GATE = "witness-seal"  # witnesses sign off the head before the seal
    SEAL = "seal"
    DONE = "done"


@frozen
class Sitting:
    """What one TUI sitting did that the journal does not decide (the CLI has no sitting).

    Attributes:
        preflight_passed: this sitting ran its own preflight and it passed.
        export_done: the room moved past the export step in this sitting.
        witnesses_enrolled: the room moved on from the witness enrolment.
    """

    preflight_passed: bool = False
    export_done: bool = False
    witnesses_enrolled: bool = False


@frozen
class Facts:
    """Everything the next step depends on, read from one workspace (see :func:`facts_of`)."""

    rehearsal: bool
    sealed: bool
    preflight_passed: bool  # a journaled preflight passed
    keys_needed: tuple[str, ...]  # keyholders who must still generate a key, plan order
    draft_version: int | None
    draft_published: bool
    draft_approved: bool  # the TUI's typed approval of the current draft is journaled
    publish_confirmed: bool  # the TUI's typed "publish" for the current draft is journaled
    thresholds_met: bool
    unsigned: tuple[str, ...]  # whose signature a threshold not met still waits for
    exported: bool  # the published metadata has been exported (journaled)
    seal_started: bool
    witnesses: tuple[str, ...] = ()
    witnesses_required: int = 0
    enrolled: tuple[str, ...] = ()
    witnesses_met: bool = True
    witnesses_waiting: tuple[str, ...] = ()  # not signed off the head yet, plan order
    tokens: tuple[tuple[str, str], ...] = ()  # keyholder -> which token, as the room says it
    sealers_waiting: tuple[str, ...] = ()  # keyholders who signed the published root, not yet sealed


@frozen
class NextStep:
    """The one next step: what, the command, who acts, which token, why it waits.

    Attributes:
        stage: the kind of step.
        command: the CLI command that does it (``WORKSPACE`` for the folder).
        who: who acts ("alice", "administrator", "wendy, victor", ...).
        keyholder: the keyholder the step is for (keygen, sign), else None.
        token: which token to bring ("" when no token is needed).
        note: why this step, as ``status`` says it in parentheses ("" for none).
        waiting: what the ceremony is waiting for, in words ("" when nothing).
    """

    stage: Stage
    command: str
    who: str = ""
    keyholder: str | None = None
    token: str = ""
    note: str = ""
    waiting: str = ""

    def line(self) -> str:
        """The ``next:`` line of ``ceremony status``."""
        return self.command + (f" ({self.note})" if self.note else "")

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage.value, "command": self.command, "who": self.who,
                "keyholder": self.keyholder, "token": self.token, "note": self.note,
                "waiting": self.waiting}


def token_text(holder: Keyholder) -> str:
    """Which token a keyholder brings, as the script and the next step say it."""
    if holder.device == "yubikey":
        return f"YubiKey serial {holder.serial}, PIV slot 9c, touch {holder.touch}"
    return " / ".join(filter(None, [f"label {holder.token}" if holder.token else None,
                                     f"serial {holder.serial}" if holder.serial else None]))


def published_exports(c: Session) -> list[dict[str, Any]]:
    """Journaled exports of the published metadata (a draft sent out earlier does not count)."""
    return [e for e in c.state.exports if e.get("kind") == SIGNED_METADATA]


def seal_started(c: Session) -> bool:
    """Whether any keyholder has sealed (then the ceremony only moves on to the seal)."""
    return any(e.type == SEAL_SIGNATURE for e in c.journal.events)


def waiting_signers(thresholds: ThresholdStatus | None) -> tuple[str, ...]:
    """Whose signature a threshold not met still waits for (old root's first, then new)."""
    if thresholds is None:
        return ()
    names = [n for v in (thresholds.old, thresholds.new) if v and not v.met for n in v.unsigned]
    # then the other roles' (one keyholder's sign covers every role they hold)
    more = [n for v in thresholds.roles if not v.met for n in v.unsigned if n not in names]
    return tuple(names + list(dict.fromkeys(more)))


def facts_of(c: Session, thresholds: ThresholdStatus | None = None) -> Facts:
    """Read the facts the next step depends on from an opened ceremony (no writes).

    ``thresholds`` is the draft's :meth:`status` when the caller has it already (``status``).
    """
    plan, st = c.plan, c.state
    if st.draft and thresholds is None:
        thresholds = c.status()
    digest = st.draft_digest
    approved = confirmed = False
    if digest is not None:
        # lazy: the journal's confirmations, once there is a draft
        from ceremony.steps.confirm import confirmed as done
        approved = done(c, DRAFT_APPROVED, digest)
        confirmed = done(c, PUBLISH_CONFIRMED, digest)
    tokens = tuple((name, token_text(plan.keyholder(name))) for name in plan.signers)
    extra: dict[str, Any] = {}
    if plan.witnesses and not st.sealed:
        from ceremony import witness  # lazy: only for a plan with witnesses (status)
        ws = witness.status(c)
        extra = {"witnesses": tuple(plan.witnesses), "witnesses_required": ws.required,
               "enrolled": ws.enrolled, "witnesses_met": ws.met, "witnesses_waiting": ws.waiting}
    if st.draft_published and not st.sealed:
        from ceremony import seal  # lazy: only once published (status)
        # a published root that cannot be read: the seal itself says so, status still answers
        with suppress(CeremonyError):
            extra["sealers_waiting"] = seal.seal_status(c.ws, c.journal.events).waiting
    return Facts(
        rehearsal=plan.rehearsal, sealed=bool(st.sealed),
        preflight_passed=bool(st.preflight and st.preflight.get("passed")),
        keys_needed=tuple(c.keyholders_waiting()),
        draft_version=st.draft["version"] if st.draft else None,
        draft_published=bool(st.draft_published),
        draft_approved=approved, publish_confirmed=confirmed,
        thresholds_met=bool(thresholds is not None and thresholds.verified),
        unsigned=waiting_signers(thresholds), exported=bool(published_exports(c)),
        seal_started=seal_started(c), tokens=tokens, **extra)


def witness_gate(f: Facts, sitting: Sitting | None = None) -> Stage | None:
    """Which witness step comes now, if any: enrolment, or the sign-offs before publish/seal.

    Enrolment comes first while someone listed has not enrolled: in the TUI until the room
    moves on, from the CLI while too few have enrolled for the sign-offs the plan requires.
    Before publish: in the TUI once "publish" is typed (the typed confirmation is itself
    journaled, so the witnesses sign off after it; the witness screen then publishes), from
    the CLI once the thresholds are met and too few have signed off. Before the seal: after
    the export (or once sealing began), while too few have signed off the head.
    """
    if not f.witnesses or f.sealed:
        return None
    before_publish = not f.draft_published and not f.publish_confirmed
    unenrolled = any(w not in f.enrolled for w in f.witnesses)
    if sitting is not None:
        if not sitting.witnesses_enrolled and before_publish and unenrolled:
            return Stage.ENROL
    elif before_publish and len(f.enrolled) < f.witnesses_required:
        return Stage.ENROL
    if not f.witnesses_required:
        return None
    if f.draft_published:
        exported = f.exported or (sitting is not None and sitting.export_done)
        return Stage.SEAL_GATE if (exported or f.seal_started) and not f.witnesses_met else None
    if f.draft_version is None:
        return None
    if sitting is not None:  # the TUI's witness screen publishes ("p") once they have signed off
        return Stage.PUBLISH_GATE if f.publish_confirmed else None
    return Stage.PUBLISH_GATE if (f.publish_confirmed or f.thresholds_met) and not f.witnesses_met \
        else None


def decide(f: Facts, sitting: Sitting | None = None) -> NextStep:
    """The one next step for these facts; ``sitting`` is the TUI's (None from the CLI)."""
    if f.sealed:
        return NextStep(Stage.DONE, "nothing: the record is sealed",
                        note=f"ceremony record verify {WS} to check it")
    token_steps_left = bool(f.keys_needed) or not f.draft_published
    if sitting is not None and not sitting.preflight_passed:
        return _preflight("the room runs the preflight at the start of every sitting")
    if not f.rehearsal and token_steps_left and not f.preflight_passed:
        return _preflight("a live ceremony's token steps need it")
    gate = witness_gate(f, sitting)
    if gate is not None:
        return _witness_step(f, gate)
    if f.seal_started or (f.draft_published and
                          (f.exported or (sitting is not None and sitting.export_done))):
        return NextStep(Stage.SEAL, f"ceremony seal {WS} --keyholder NAME",
                        who=_names(f.sealers_waiting) or "each keyholder who signed",
                        note="a keyholder who signed",
                        waiting=("a seal from " + _names(f.sealers_waiting)) if f.sealers_waiting
                        else "")
    if f.draft_published:
        return NextStep(Stage.EXPORT, f"ceremony export {WS} --usb DIR (or --qr DIR)",
                        who="administrator, witnesses")
    if f.keys_needed:
        name = f.keys_needed[0]
        return NextStep(Stage.KEYGEN, f"ceremony keygen {WS} --keyholder {name}", who=name,
                        keyholder=name, token=dict(f.tokens).get(name, ""))
    if f.draft_version is None:
        return NextStep(Stage.DRAFT, f"ceremony draft {WS}", who="administrator, everyone reviews")
    if sitting is not None and not f.draft_approved:
        return NextStep(Stage.DRAFT, f"ceremony status {WS}", who="everyone",
                        waiting=f"the room reads root v{f.draft_version} aloud and approves it")
    if f.thresholds_met:
        return NextStep(Stage.PUBLISH, f"ceremony publish {WS}", who="administrator")
    if not f.unsigned:
        return NextStep(Stage.SIGN, "sign", waiting="a threshold is not met and no keyholder "
                        "who could still sign is known")
    name = f.unsigned[0]
    return NextStep(Stage.SIGN, f"ceremony sign {WS} --keyholder {name}", who=name, keyholder=name,
                    token=dict(f.tokens).get(name, ""),
                    waiting="a signature from " + _names(f.unsigned))


def next_step(c: Session, sitting: Sitting | None = None,
              thresholds: ThresholdStatus | None = None) -> NextStep:
    """:func:`decide` over an opened ceremony's facts (:func:`facts_of`)."""
    return decide(facts_of(c, thresholds), sitting)


def _preflight(note: str) -> NextStep:
    return NextStep(Stage.PREFLIGHT, f"ceremony preflight {WS}", who="administrator, witnesses",
                    note=note)


def _witness_step(f: Facts, stage: Stage) -> NextStep:
    if stage is Stage.ENROL:
        todo = [w for w in f.witnesses if w not in f.enrolled]
        return NextStep(stage, f"ceremony witness enroll {WS} --name {todo[0]}", who=_names(todo),
                        token="a FIDO2 security key",
                        waiting=f"{len(f.enrolled)} of {len(f.witnesses)} witnesses enrolled")
    step = "publish" if stage is Stage.PUBLISH_GATE else "seal"
    waiting = list(f.witnesses_waiting) or list(f.witnesses)
    first = waiting[0]
    verb = "sign" if first in f.enrolled else "enroll"
    n = f.witnesses_required
    return NextStep(stage, f"ceremony witness {verb} {WS} --name {first}", who=_names(waiting),
                    token="a FIDO2 security key",
                    note=f"{step} needs {n} witness sign-off{'' if n == 1 else 's'}",
                    waiting="a sign-off from " + _names(waiting))


def _names(names: Sequence[str]) -> str:
    return ", ".join(names)
