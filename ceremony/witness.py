"""FIDO2 witnesses: enrol a security key, sign off the journal head, gate publish and seal.

The plan lists witnesses (``[[witnesses]] name = "..."``) and how many must sign
off before the critical steps (``[ceremony] witnesses_required = N``: publish
and seal). A witness:

1. enrols once (``ceremony witness enroll WS --name W``): a new FIDO2 credential
   on their security key; its public part is journaled (``witness-enrolled``);
2. signs off (``ceremony witness sign WS --name W``): a WebAuthn assertion whose
   challenge is the journal head, i.e. the hash of the last line that is not
   itself a sign-off, so several witnesses sign the same head; the assertion is
   verified with python-fido2's server-side check and journaled
   (``witness-signed``).

``publish`` and ``seal`` then require N valid sign-offs over the head as it
stands; anything journaled after a sign-off (a new preflight, a signature)
moves the head, and the sign-off no longer counts. ``record verify`` re-checks
every sign-off from the recorded bytes alone (:func:`record_checks`).

The security key is a USB FIDO2 key (python-fido2's HID transport). For tests
and rehearsals only, ``CEREMONY_FIDO_DEVICE=module:callable`` names a factory
returning a ``fido2.ctap.CtapDevice`` instead (the test suite's software
authenticator); a live plan refuses it, and the enrolment records which was used.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ceremony.errors import StateError, ThresholdError, UsageError
from ceremony.events import PUBLISHED, SEAL_SIGNATURE, SEALED, WITNESS_ENROLLED, WITNESS_SIGNED
from ceremony.session import Session
from ceremony.steps import witness as steps_witness

ENV_FIDO_DEVICE = "CEREMONY_FIDO_DEVICE"
# Lines a sign-off does not move the head past: other sign-offs, and the seal's own lines.
_TRANSPARENT = (WITNESS_SIGNED, SEAL_SIGNATURE, SEALED)


def open_device(plan: Any, env: Mapping[str, str] | None = None) -> tuple[Any, str]:
    """The witness's security key and how it was found ("USB security key" or the test factory).

    Raises:
        UsageError: ``CEREMONY_FIDO_DEVICE`` for a live plan, or it names no factory.
        TokenNotFoundError / AmbiguousTokenError: no USB key, or several.
    """
    env = os.environ if env is None else env
    spec = env.get(ENV_FIDO_DEVICE)
    if not spec:
        from hsm.fido import find_device
        return find_device(), "USB security key"
    if not plan.rehearsal:
        raise UsageError(f"{ENV_FIDO_DEVICE} is for tests and rehearsals only: a live ceremony "
                         "uses the witness's USB security key", hint=f"unset {ENV_FIDO_DEVICE}")
    module_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
        device = factory()
    except Exception as e:  # noqa: BLE001 - any failure of a test seam is a usage error
        raise UsageError(f"{ENV_FIDO_DEVICE}={spec!r} does not give a FIDO2 device "
                         f"(module:callable): {type(e).__name__}: {e}") from None
    return device, f"test device {spec} (not a security key)"


def gate_target(events: list[Any]) -> Any:
    """The line sign-offs cover now: the last one that is not a sign-off (or part of the seal).

    Raises:
        StateError: the journal is empty.
    """
    for e in reversed(events):
        if e.type not in _TRANSPARENT:
            return e
    raise StateError("the journal is empty")


def _credentials(events: list[Any]) -> dict[str, Any]:
    from hsm.fido import WitnessCredential
    return {e.data["witness"]: WitnessCredential.from_dict(e.data["credential"])
            for e in events if e.type == WITNESS_ENROLLED}


def _valid_signoffs(events: list[Any], target: Any) -> dict[str, int]:
    """Witness -> journal line of a sign-off over ``target`` that verifies."""
    from hsm.fido import WitnessAssertion, WitnessVerificationError, verify_assertion
    creds = _credentials(events)
    out: dict[str, int] = {}
    for e in events:
        if e.type != WITNESS_SIGNED or e.seq <= target.seq or e.data.get("head") != target.hash:
            continue
        who = e.data.get("witness")
        cred = creds.get(who)
        if cred is None or who in out:
            continue
        try:
            verify_assertion(cred, WitnessAssertion.from_dict(e.data["assertion"]),
                             bytes.fromhex(target.hash))
        except (WitnessVerificationError, KeyError, ValueError):
            continue
        out[who] = e.seq
    return out


@dataclass(frozen=True)
class WitnessStatus:
    """Who has signed off the current head, who could still, and who signed an older one."""

    seq: int
    head: str
    required: int
    witnesses: tuple[str, ...]
    enrolled: tuple[str, ...]
    signed: tuple[str, ...]
    stale: dict[str, int] = field(default_factory=dict)  # witness -> the older line they signed

    @property
    def met(self) -> bool:
        return len(self.signed) >= self.required

    @property
    def waiting(self) -> tuple[str, ...]:
        return tuple(w for w in self.witnesses if w not in self.signed)

    def missing(self) -> str:
        """Who is missing, in words: all of them, or "one more of ..."."""
        need = self.required - len(self.signed)
        names = ", ".join(self.waiting)
        if need <= 0:
            return "nobody"
        if need == len(self.waiting):
            return names
        return f"{'one' if need == 1 else need} more of {names}"

    def lines(self) -> list[str]:
        out = [f"witnesses: {len(self.signed)} of {self.required} required signed off journal "
               f"line {self.seq} (head {self.head[:16]}...)"]
        for w in self.witnesses:
            if w in self.signed:
                state = "signed off"
            elif w in self.stale and self.stale[w] == self.seq:
                state = "its sign-off of this line does not verify"
            elif w in self.stale:
                state = f"signed off line {self.stale[w]}, no longer the head"
            elif w in self.enrolled:
                state = "enrolled, not signed off"
            else:
                state = "not enrolled"
            out.append(f"  {w}: {state}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "head": self.head, "required": self.required, "met": self.met,
                "witnesses": list(self.witnesses), "enrolled": list(self.enrolled),
                "signed": list(self.signed), "stale": self.stale}


def status(c: Session) -> WitnessStatus:
    """Where the witnesses stand over the current head."""
    events = c.journal.events
    target = gate_target(events)
    valid = _valid_signoffs(events, target)
    signed = tuple(w for w in c.plan.witnesses if w in valid)
    stale: dict[str, int] = {}
    for e in events:
        w = e.data.get("witness") if e.type == WITNESS_SIGNED else None
        if w and w not in valid:
            stale[w] = int(e.data.get("seq", 0))
    enrolled = tuple(w for w in c.plan.witnesses if w in c.state.witnesses)
    return WitnessStatus(target.seq, target.hash, c.plan.witnesses_required, c.plan.witnesses,
                         enrolled, signed, stale)


def require_witnesses(c: Session, step: str) -> WitnessStatus | None:
    """Refuse ``step`` (publish, seal) until the plan's witnesses have signed off the head.

    Raises:
        ThresholdError: too few valid sign-offs; the message names who is missing.
    """
    if not c.plan.witnesses_required:
        return None
    st = status(c)
    if st.met:
        return st
    n = st.required
    signed = ", ".join(st.signed) or "nobody yet"
    hint = (f"each witness signs off with `ceremony witness sign {c.ws.root} --name NAME` right "
            f"before {step} (a sign-off covers the journal as it stands)")
    stale = [w for w in st.waiting if w in st.stale and st.stale[w] != st.seq]
    if stale:
        hint += "; " + ", ".join(f"{w} signed off line {st.stale[w]}" for w in stale) + \
                ", before later steps were journaled: sign off again"
    broken = [w for w in st.waiting if st.stale.get(w) == st.seq]
    if broken:
        hint += f"; the sign-off recorded for {', '.join(broken)} does not verify: sign off again"
    unenrolled = [w for w in st.waiting if w not in st.enrolled]
    if unenrolled:
        hint += f"; not enrolled yet: {', '.join(unenrolled)} (`ceremony witness enroll`)"
    raise ThresholdError(f"{step} needs {n} witness sign-off{'' if n == 1 else 's'} over journal "
                         f"line {st.seq}; signed off: {signed}; missing: {st.missing()}", hint=hint,
                         verdict=st)


def enroll(c: Session, name: str, device: Any, source: str,
           on_touch: Callable[[str], None] | None = None) -> Any:
    """Enrol ``name``'s security key: a new FIDO2 credential, its public part journaled.

    Raises:
        PlanError: ``name`` is not a witness in the plan.
        StateError: already enrolled, or the ceremony is sealed.
        hsm.errors.HsmError: the security key failed or was not touched.
    """
    from hsm.fido import enroll as fido_enroll
    ready_to_enroll(c, name)
    cred = fido_enroll(device, name, on_touch=on_touch)
    steps_witness.enrolled(c, name, cred.to_dict(), source)
    return cred


def sign(c: Session, name: str, device: Any, on_touch: Callable[[str], None] | None = None) -> WitnessStatus:
    """``name`` signs off the current journal head with their enrolled security key.

    Raises:
        PlanError: ``name`` is not a witness in the plan.
        StateError: not enrolled, already signed off this head, or sealed.
        hsm.errors.HsmError: wrong security key, not touched, or it failed.
    """
    from hsm.fido import sign_off
    target, cred = ready_to_sign(c, name)
    assertion = sign_off(device, cred, bytes.fromhex(target.hash), on_touch=on_touch)
    steps_witness.signed_off(c, name, target.seq, target.hash, assertion.counter,
                             assertion.to_dict())
    return status(c)


def ready_to_enroll(c: Session, name: str) -> None:
    """Refuse an enrolment before any security key is asked for.

    Raises:
        PlanError: not a witness in the plan.
        StateError: already enrolled, or sealed.
    """
    c.plan.witness(name)
    _refuse_if_sealed(c)
    have = c.state.witnesses.get(name)
    if have is not None:
        raise StateError(f"{name} has already enrolled a security key in this ceremony "
                         f"(credential {have['credential']['credential_id'][:16]}...)",
                         hint="a witness enrols once; sign off with `ceremony witness sign`")


def ready_to_sign(c: Session, name: str) -> tuple[Any, Any]:
    """The line to sign off and ``name``'s credential, refusing before any key is asked for.

    Raises:
        PlanError: not a witness in the plan.
        StateError: not enrolled, already signed off this head, or sealed.
    """
    from hsm.fido import WitnessCredential
    c.plan.witness(name)
    _refuse_if_sealed(c)
    enrolled = c.state.witnesses.get(name)
    if enrolled is None:
        raise StateError(f"{name} has not enrolled a security key in this ceremony",
                         hint=f"enrol first: ceremony witness enroll {c.ws.root} --name {name}")
    events = c.journal.events
    target = gate_target(events)
    if name in _valid_signoffs(events, target):
        raise StateError(f"{name} has already signed off journal line {target.seq}")
    return target, WitnessCredential.from_dict(enrolled["credential"])


def _refuse_if_sealed(c: Session) -> None:
    if c.state.sealed:
        raise StateError("the ceremony is sealed; nothing more is recorded",
                         hint="start a new workspace for a new ceremony")


# ---- the record ------------------------------------------------------------------------


def record_checks(ws: Any, events: list[Any]) -> tuple[list[str], list[str]]:
    """Re-check every enrolment and sign-off, and the witness gates of publish and seal.

    Each sign-off must be by an enrolled credential, over the line that was the head
    when it was journaled, verify with python-fido2's server-side check, and carry a
    signature counter above the credential's previous one (a cloned key shows as a
    counter going back). Every ``published`` and ``sealed`` line must be preceded by
    the plan's number of valid sign-offs over its head. Returns (checks, problems).
    """
    from ceremony.plan import parse_plan
    from hsm.fido import (
        WitnessAssertion,
        WitnessCredential,
        WitnessVerificationError,
        verify_assertion,
    )
    checks: list[str] = []
    problems: list[str] = []
    try:
        plan = parse_plan(ws.plan.read_text(encoding="utf-8"))
        required = plan.witnesses_required
    except Exception:  # noqa: BLE001 - the plan check reports an unreadable plan
        required = 0
    creds: dict[str, Any] = {}
    counters: dict[str, int] = {}
    good: dict[int, set[str]] = {}  # target line -> witnesses with a valid sign-off over it
    for i, e in enumerate(events):
        d = e.data
        if e.type == WITNESS_ENROLLED:
            who = d.get("witness")
            try:
                if who in creds:
                    raise WitnessVerificationError(f"{who} enrolled twice")
                creds[who] = WitnessCredential.from_dict(d["credential"])
            except (WitnessVerificationError, KeyError, TypeError) as err:
                problems.append(f"the enrolment at journal line {e.seq} is not usable: "
                                f"{getattr(err, 'message', err)}")
                continue
            checks.append(f"witness {who} enrolled a security key at journal line {e.seq}")
        elif e.type == WITNESS_SIGNED:
            who = d.get("witness")
            where = f"{who}'s sign-off at journal line {e.seq}"
            cred = creds.get(who)
            if cred is None:
                problems.append(f"{where} is by a witness who never enrolled")
                continue
            target = gate_target(events[:i]) if i else None
            if target is None or d.get("seq") != target.seq or d.get("head") != target.hash:
                problems.append(f"{where} claims journal line {d.get('seq')}, which was not the "
                                "journal head when it was journaled")
                continue
            try:
                assertion = WitnessAssertion.from_dict(d["assertion"])
                verify_assertion(cred, assertion, bytes.fromhex(target.hash))
            except (WitnessVerificationError, KeyError, ValueError) as err:
                problems.append(f"{where} does not verify: {getattr(err, 'message', err)}")
                continue
            key = cred.credential_id.hex()
            if assertion.counter and assertion.counter <= counters.get(key, -1):
                problems.append(f"{where}: the security key's signature counter went back "
                                f"({assertion.counter} after {counters[key]}): a cloned key?")
                continue
            counters[key] = assertion.counter
            good.setdefault(target.seq, set()).add(who)
            checks.append(f"{where} verifies (journal line {target.seq}, head {target.hash[:16]}...)")
        elif e.type in (PUBLISHED, SEALED) and required:
            target = gate_target(events[:i])
            names = sorted(good.get(target.seq, set()))
            step = (f"root v{d.get('version')} was published" if e.type == PUBLISHED
                    else "the record was sealed")
            if len(names) < required:
                problems.append(f"{step} at journal line {e.seq} with {len(names)} witness "
                                f"sign-off(s) over line {target.seq}; the plan requires {required}")
            else:
                checks.append(f"{step} at journal line {e.seq} after sign-offs by "
                              f"{', '.join(names)} ({required} required)")
    return checks, problems
