"""FIDO2 witness sign-offs before publish and seal, and the typed publish confirmation."""

from __future__ import annotations

from dataclasses import dataclass

from ceremony.engine import Ceremony
from ceremony.flows.tokens import TouchCallback
from ceremony.session import Session

PUBLISH_CONFIRMED = "publish-confirmed"
ENROL, PUBLISH, SEAL = "enroll", "publish", "seal"


@dataclass(frozen=True)
class WitnessView:
    """What the witness screen shows for one stage (enrolment, or the gate before a step)."""

    stage: str
    sentence: str  # "publish needs 2 witness sign-offs: signed off: wendy; waiting for ..."
    lines: list[str]  # one per witness, and the head to compare
    choices: list[tuple[str, str]]  # (witness, what selecting them does)
    met: bool


def publish_confirmed(c: Session) -> bool:
    """Whether the typed "publish" for the current draft is in the journal."""
    from ceremony import record
    return c.state.draft_digest is not None and \
        record.confirmed(c, PUBLISH_CONFIRMED, c.state.draft_digest)


def gate_sentence(c: Session, step: str) -> str:
    """Where the witnesses stand before ``step`` (publish, seal), in one sentence."""
    from ceremony import witness
    st = witness.status(c)
    n = st.required
    head = f"{step} needs {n} witness sign-off{'' if n == 1 else 's'}: signed off: " + \
        (", ".join(st.signed) or "nobody yet")
    if st.met:
        return head + f"; that is enough to {step}"
    return head + f"; waiting for {st.missing()}"


def witness_view(c: Session, stage: str) -> WitnessView:
    """The enrolment list, or the sign-off gate before publish/seal, as lines and choices."""
    from ceremony import witness
    from ceremony.fingerprint import fingerprint_words
    st = witness.status(c)
    p = c.plan
    if stage == ENROL:
        sentence = (f"{len(st.enrolled)} of {len(st.witnesses)} witnesses enrolled"
                    + (f" ({', '.join(st.enrolled)})" if st.enrolled else "")
                    + (f"; {st.required} must sign off before publish and before seal"
                       if st.required else "; sign-offs are optional in this plan"))
        lines = [f"  {w}: {'enrolled' if w in st.enrolled else 'not enrolled'}"
                 for w in p.witnesses]
        choices = [(w, f"{w:<10} enrol a security key") for w in p.witnesses
                   if w not in st.enrolled]
        return WitnessView(stage, sentence, lines, choices, len(st.enrolled) >= st.required)
    sentence = gate_sentence(c, stage)
    lines = [f"journal line {st.seq}, head words: {fingerprint_words(st.head, 4)}",
             *st.lines()[1:]]
    choices = []
    for w in st.waiting:
        if w in st.enrolled:
            choices.append((w, f"{w:<10} sign off journal line {st.seq}"))
        else:
            choices.append((w, f"{w:<10} enrol first (later sign-offs are then needed again)"))
    return WitnessView(stage, sentence, lines, choices, st.met)


def witness_act(c: Session, name: str, on_touch: TouchCallback | None = None,
                env: dict[str, str] | None = None) -> list[str]:
    """``ceremony witness enroll`` when ``name`` has not enrolled, else ``ceremony witness
    sign``: refuses before the security key is asked for; returns lines for the room.

    Raises:
        PlanError: not a witness in the plan.
        StateError: already signed off this head, or sealed.
        UsageError: the test seam named for a live plan.
        HsmError: no security key, the wrong one, not touched.
    """
    from ceremony import witness
    if name not in c.state.witnesses:
        witness.ready_to_enroll(c, name)
        device, source = witness.open_device(c.plan, env)
        cred = witness.enroll(c, name, device, source, on_touch=on_touch)
        return [f"{name} enrolled a security key ({source}, AAGUID {cred.aaguid})"]
    target, _cred = witness.ready_to_sign(c, name)
    device, _source = witness.open_device(c.plan, env)
    witness.sign(c, name, device, on_touch=on_touch)
    return [f"{name} signed off journal line {target.seq}"]


def confirm_publish(c: Ceremony, by: str) -> bool:
    """The typed "publish": journal it (once per draft), then publish unless the plan's
    witnesses must first sign off the journal as it now stands. True when published.

    Raises:
        ThresholdError: a threshold is not met.
        StateError: sealed, or already published.
    """
    from ceremony import record, witness
    if not publish_confirmed(c):
        v = (c.state.draft or {})["version"]  # publishing: there is a draft
        record.confirm(c, PUBLISH_CONFIRMED, f"publish root v{v} confirmed by typing 'publish'",
                       c.state.draft_digest, by)
    if c.plan.witnesses_required and not witness.status(c).met:
        return False
    c.publish()
    return True
