"""Rehearsal-to-live parity: did the live ceremony follow the rehearsed script?

A rehearsal runs the plan's script on throwaway tokens; the live ceremony runs it on the real
ones. Their journals must then hold the same *steps in the same order*, and differ only where
they must: keys and key ids, token serials and labels, times, ceremony ids, digests (of the
plan, drafts, published files, bundles), the rehearsal flag, and the preflight findings a
rehearsal only warns on.

:func:`compare` is pure: two lists of journal events in, a :class:`Comparison` out, naming the
first unexpected difference (step number, both journal lines, what differs) or none.

What counts as a step:

* every journal event except ``preflight`` (a session marker: a crash, a spare laptop or a
  second day adds sessions without changing the script) and a ``keygen-intent`` that its
  ``key-generated`` completes (a resumed keygen is one step);
* each step is reduced to its *shape*: what the script fixes (who, which role, which version,
  thresholds, expiry periods, transports, kinds), never what the tokens or the clock chose.

Preflight is checked on its own: in a live record every step the engine guards with the
preflight (keygen, signing on a token, publish) must come after a passing one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ceremony.events import (
    BY_TYPE,
    Confirmed,
    DraftCreated,
    Exported,
    Imported,
    Initialized,
    JournalRecovered,
    KeyGenerated,
    KeygenIntent,
    KeygenRecovered,
    PinAttempt,
    Preflight,
    Published,
    Sealed,
    SealSignature,
    SignatureAdded,
    TypedEvent,
    WitnessEnrolled,
    WitnessSigned,
    parse,
)
from ceremony.journal import Event

ROLES = ("root", "targets", "snapshot", "timestamp")

# Fields of unknown event types that differ between any two runs by nature.
_VOLATILE = frozenset({
    "keyid", "keyids", "key", "sig", "signature", "digest", "sha256", "bundle_sha256", "head",
    "hash", "ceremony_id", "time", "created", "token_serial", "token_label", "serial", "uri",
    "key_id_hex", "target", "certificate", "canonical_keyid", "object_label", "plan_sha256",
    "seq", "draft", "path", "file", "tool", "counter", "assertion", "attestation",
})
# Hex digests and ids, UUIDs, and ISO times: values a run chooses, never the script.
_HEXISH = re.compile(r"^(?:[0-9a-fA-F]{16,}|[0-9a-fA-F-]{36}"
                     r"|\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:?\d\d)?)$")

Field = tuple[str, Any]


@dataclass(frozen=True)
class Step:
    """One step of a ceremony as the script sees it."""

    number: int  # 1-based position among the steps
    line: int  # the journal line (seq) it comes from
    kind: str  # the event type
    fields: tuple[Field, ...]  # the shape: what the script fixes
    text: str  # the step in words

    @property
    def shape(self) -> tuple[str, tuple[Field, ...]]:
        return self.kind, self.fields

    def same(self, other: Step) -> bool:
        return self.shape == other.shape


@dataclass(frozen=True)
class Difference:
    """The first place where the live record leaves the rehearsed script."""

    step: int
    kind: str  # missing (LIVE skipped it), extra (LIVE only), different, order, preflight
    what: str
    live_line: int | None
    rehearsal_line: int | None

    def line(self) -> str:
        where = ", ".join(f"{name} line {n}" for name, n in
                          (("LIVE", self.live_line), ("REHEARSAL", self.rehearsal_line))
                          if n is not None)
        return f"step {self.step}" + (f" ({where})" if where else "") + f": {self.what}"

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "kind": self.kind, "what": self.what,
                "live_line": self.live_line, "rehearsal_line": self.rehearsal_line}


@dataclass
class Comparison:
    """The verdict: the steps on each side, the expected differences, the first unexpected one."""

    live: list[Step]
    rehearsal: list[Step]
    expected: list[str] = field(default_factory=list)
    difference: Difference | None = None

    @property
    def parity(self) -> bool:
        return self.difference is None

    def lines(self) -> list[str]:
        out = [f"LIVE: {len(self.live)} steps; REHEARSAL: {len(self.rehearsal)} steps"]
        if self.expected:
            out.append("expected differences:")
            out += [f"  - {e}" for e in self.expected]
        if self.difference is None:
            out.append(f"parity: the live ceremony followed the rehearsal step by step "
                       f"({len(self.live)} steps)")
        else:
            out.append("first unexpected difference: " + self.difference.line())
            out.append("parity FAILED")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"parity": self.parity, "live_steps": len(self.live),
                "rehearsal_steps": len(self.rehearsal), "expected": self.expected,
                "difference": self.difference.to_dict() if self.difference else None,
                "live": [s.text for s in self.live],
                "rehearsal": [s.text for s in self.rehearsal]}


# ---- steps --------------------------------------------------------------------------------


def steps(events: Sequence[Event]) -> list[Step]:
    """The ceremony's steps, in journal order (pure).

    Preflights are left out (see the module docstring), and so is a keygen intent that its
    generated key completes, with what a resumed keygen removed after a crash, and so are PIN
    attempts and journal tails set aside (a typo or a power cut is not a different ceremony).
    """
    typed = [(e, _typed(e)) for e in events]
    completed = {t.keyholder for _, t in typed if isinstance(t, KeyGenerated)}
    names = _key_names(t for _, t in typed)
    out: list[Step] = []
    draft_version: int | None = None
    draft_root: set[str] = set()
    for e, t in typed:
        if isinstance(t, (Preflight, PinAttempt, JournalRecovered)):
            continue
        if isinstance(t, (KeygenIntent, KeygenRecovered)) and t.keyholder in completed:
            continue  # how a key came to be made (after a crash, too) is not a step
        if isinstance(t, DraftCreated):
            draft_version = t.version
            roles = t.signed.get("roles") or {}
            draft_root = set((roles.get("root") or {}).get("keyids") or [])
        kind, fields, text = _shape(e, t, names, draft_version, draft_root)
        out.append(Step(len(out) + 1, e.seq, kind, fields, text))
    return out


def _typed(e: Event) -> TypedEvent | None:
    """The typed event, or ``None`` for a type this release does not know (a newer release
    wrote it): such a step is compared field by field, its volatile fields left out.

    Raises:
        WorkspaceError: an event of a known type is malformed (names the line and the field).
    """
    return parse(e) if e.type in BY_TYPE else None


def _key_names(events: Iterable[TypedEvent | None]) -> dict[str, str]:
    """keyid -> keyholder, from generated keys and the keyholder fields of drafted keys."""
    names: dict[str, str] = {}
    for t in events:
        if isinstance(t, KeyGenerated):
            names[t.keyid] = t.keyholder
        elif isinstance(t, DraftCreated):
            for keyid, key in (t.signed.get("keys") or {}).items():
                holder = key.get("x-ceremony-keyholder") if isinstance(key, dict) else None
                if holder:
                    names.setdefault(keyid, holder)
    return names


def _shape(e: Event, t: TypedEvent | None, names: dict[str, str], version: int | None,
           draft_root: set[str]) -> tuple[str, tuple[Field, ...], str]:
    d = e.data
    match t:
        case Initialized():
            prev = t.previous or {}
            online = []
            for role, keys in sorted(t.online_keys.items()):
                schemes = ", ".join(sorted(f"{k.get('keytype')}/{k.get('scheme')}" for k in keys))
                online.append((f"{role} keys", f"{len(keys)} ({schemes})"))
            fields = (("format", t.format), ("repository", t.repository),
                      ("continues root", prev.get("version")), *online,
                      ("tool version", t.tool_version))
            cont = f", continuing root v{prev['version']}" if prev.get("version") else ""
            return e.type, fields, f"init: {t.format} ceremony for {t.repository}{cont}"
        case KeygenIntent():
            fields = (("keyholder", t.keyholder), ("algorithm", t.algorithm))
            return e.type, fields, (f"{t.keyholder} began generating an {t.algorithm} key "
                                    "(never finished)")
        case KeyGenerated():
            fields = (("keyholder", t.keyholder), ("algorithm", t.algorithm))
            return e.type, fields, f"{t.keyholder} generated an {t.algorithm} key"
        case DraftCreated():
            return e.type, _draft_fields(d, names), f"drafted root v{t.version}"
        case SignatureAdded():
            how = "imported a detached signature" if t.imported else "signed on the token"
            which = ("a key of the new root" if t.keyid in draft_root
                     else "a key of the previous root only")
            fields = (("keyholder", t.keyholder), ("root version", version), ("how", how),
                      ("key", which))
            verb = "'s detached signature was imported" if t.imported else " signed"
            return e.type, fields, f"{t.keyholder}{verb} root v{version} with {which}"
        case Published():
            files = tuple(t.files)
            return (e.type, (("version", t.version), ("files", files)),
                    f"published root v{t.version} ({', '.join(files)})")
        case Exported():
            fields = (("kind", t.kind), ("transport", t.transport), ("files", tuple(sorted(t.files))))
            return e.type, fields, f"exported the {t.kind} bundle by {t.transport}"
        case Imported():
            fields = (("kind", t.kind), ("files", len(t.files)))
            return e.type, fields, f"imported a {t.kind} bundle"
        case Confirmed():
            return e.type, (("what", t.what), ("by", t.by)), f"{t.by} confirmed {t.what}"
        case SealSignature():
            return e.type, (("keyholder", t.keyholder),), f"{t.keyholder} sealed the journal"
        case WitnessEnrolled():
            return (e.type, (("witness", t.witness),),
                    f"witness {t.witness} enrolled a security key")
        case WitnessSigned():
            return (e.type, (("witness", t.witness),),
                    f"witness {t.witness} signed off the journal")
        case Sealed():
            who = tuple(sorted({str(s.get("keyholder")) for s in t.signatures}))
            return e.type, (("sealed by", who),), f"record sealed by {', '.join(who)}"
        case _:
            pass  # the rest compares field by field, volatile fields left out
    return e.type, tuple(sorted((k, _generic(v, k)) for k, v in d.items())), e.type


def _draft_fields(d: dict[str, Any], names: dict[str, str]) -> tuple[Field, ...]:
    signed = d.get("signed") or {}
    roles = signed.get("roles") or {}
    keys = signed.get("keys") or {}
    fields: list[Field] = [("version", d.get("version"))]
    root_ids = (roles.get("root") or {}).get("keyids") or []
    members = sorted(names.get(k, "a kept key") for k in root_ids)
    fields.append(("root keyholders", ", ".join(members)))
    for role in [*ROLES, *sorted(set(roles) - set(ROLES))]:
        r = roles.get(role)
        if not isinstance(r, dict):
            continue
        ids = r.get("keyids") or []
        schemes = sorted({f"{keys.get(k, {}).get('keytype')}/{keys.get(k, {}).get('scheme')}"
                          for k in ids})
        fields += [(f"{role} threshold", r.get("threshold")),
                   (f"{role} keys", f"{len(ids)} ({', '.join(schemes)})")]
    fields.append(("root expiry", _period(d.get("created"), signed.get("expires"))))
    for name in ("consistent_snapshot", "spec_version"):
        if name in signed:
            fields.append((name, signed[name]))
    if "expiry_capped" in d:
        fields.append(("expiry capped", d["expiry_capped"]))
    return tuple(fields)


def _period(start: Any, end: Any) -> str | None:
    """``end - start`` as the plan writes it ("365d", "36h"), to the hour."""
    a, b = _time(start), _time(end)
    if a is None or b is None:
        return None
    hours = round((b - a).total_seconds() / 3600)
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _generic(value: Any, key: str = "") -> Any:
    """A hashable form of an unknown event's data with what differs by nature masked."""
    if key in _VOLATILE:
        return "*"
    if isinstance(value, dict):
        return tuple(sorted((k, _generic(v, k)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_generic(v) for v in value)
    if isinstance(value, str) and _HEXISH.match(value):
        return "*"
    return value


# ---- comparison ---------------------------------------------------------------------------


def compare(live: Sequence[Event], rehearsal: Sequence[Event]) -> Comparison:
    """Compare a live ceremony's journal with a rehearsal's (pure).

    Args:
        live: the live ceremony's events, as :func:`ceremony.journal.read` returns them.
        rehearsal: the rehearsal's events.

    Returns:
        the verdict; ``difference`` is the first unexpected difference, or None (parity).
    """
    ls, rs = steps(live), steps(rehearsal)
    result = Comparison(ls, rs, expected=_expected(live, rehearsal, ls))
    found = [d for d in (_sequence_difference(ls, rs), _preflight_difference(live, ls))
             if d is not None]
    result.difference = min(found, key=lambda d: d.step) if found else None
    return result


def _run(a: Sequence[Step], b: Sequence[Step]) -> int:
    """How many steps match from the start of ``a`` and ``b``."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if not x.same(y):
            break
        n += 1
    return n


def _sequence_difference(ls: list[Step], rs: list[Step]) -> Difference | None:
    i = 0
    while i < len(ls) and i < len(rs) and ls[i].same(rs[i]):
        i += 1
    if i == len(ls) == len(rs):
        return None
    if i == len(ls):
        r = rs[i]
        return Difference(i + 1, "missing", f"LIVE stops here; REHEARSAL went on: {r.text}",
                          None, r.line)
    if i == len(rs):
        lv = ls[i]
        return Difference(i + 1, "extra", f"LIVE has an extra step not in REHEARSAL: {lv.text}",
                          lv.line, None)
    lv, r = ls[i], rs[i]
    if i + 1 < len(ls) and i + 1 < len(rs) and lv.same(rs[i + 1]) and ls[i + 1].same(r):
        return Difference(i + 1, "order", f"steps in another order: LIVE did '{lv.text}' "
                          f"before '{r.text}'; REHEARSAL the other way round", lv.line, r.line)
    options = [("different", _run(ls[i + 1:], rs[i + 1:])),
               ("missing", _run(ls[i:], rs[i + 1:])),
               ("extra", _run(ls[i + 1:], rs[i:]))]
    kind = max(options, key=lambda o: o[1])[0]  # ties keep the first: different
    if kind == "missing":
        return Difference(i + 1, kind, f"LIVE skipped a step of REHEARSAL: {r.text}",
                          lv.line, r.line)
    if kind == "extra":
        return Difference(i + 1, kind, f"LIVE has an extra step not in REHEARSAL: {lv.text}",
                          lv.line, r.line)
    return Difference(i + 1, kind, _different(lv, r), lv.line, r.line)


def _different(lv: Step, r: Step) -> str:
    if lv.kind != r.kind:
        return f"LIVE: {lv.text}; REHEARSAL: {r.text}"
    theirs = dict(r.fields)
    mine = dict(lv.fields)
    changed = [f"{name}: LIVE {_show(mine.get(name))}, REHEARSAL {_show(theirs.get(name))}"
               for name in dict.fromkeys([*mine, *theirs]) if mine.get(name) != theirs.get(name)]
    return f"LIVE: {lv.text}; REHEARSAL: {r.text} ({'; '.join(changed)})"


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


_TOKEN_STEPS = (KeygenIntent, KeyGenerated, Published)  # the steps the engine guards


def _preflight_difference(live: Sequence[Event], ls: list[Step]) -> Difference | None:
    """A live token step with no passing preflight before it (rehearsals need none)."""
    init = _init(live)
    if init is None or init.rehearsal:
        return None
    by_line = {s.line: s for s in ls}
    passed = False
    for e in live:
        t = _typed(e)
        if isinstance(t, Preflight):
            passed = t.passed
            continue
        token_step = isinstance(t, _TOKEN_STEPS) or (isinstance(t, SignatureAdded) and not t.imported)
        if token_step and not passed and e.seq in by_line:
            s = by_line[e.seq]
            return Difference(s.number, "preflight", f"LIVE ran '{s.text}' without a passing "
                              "preflight before it", e.seq, None)
    return None


def _expected(live: Sequence[Event], rehearsal: Sequence[Event], ls: list[Step]) -> list[str]:
    """The differences that are expected, in words (for the record, not a verdict)."""
    out: list[str] = []
    li, ri = _init(live), _init(rehearsal)
    flag = {True: "a rehearsal", False: "live"}
    out.append(f"rehearsal flag: LIVE is {flag[bool(li and li.rehearsal)]}, REHEARSAL is "
               f"{flag[bool(ri and ri.rehearsal)]}")
    if (li and li.name) != (ri and ri.name):
        out.append(f"plan name: LIVE {li and li.name!r}, REHEARSAL {ri and ri.name!r}")
    out.append("ceremony ids, plan digests, times, keys and key ids, token labels and serials, "
               "signatures, draft, file and bundle digests")
    if live and rehearsal:
        out.append(f"times: LIVE {live[0].time} to {live[-1].time}, REHEARSAL "
                   f"{rehearsal[0].time} to {rehearsal[-1].time}")
    out.append("preflight: LIVE " + _sessions(live) + "; REHEARSAL " + _sessions(rehearsal))
    return out


def _init(events: Sequence[Event]) -> Initialized | None:
    """The journal's ``initialized`` event (its first line), if it has one."""
    first = _typed(events[0]) if events else None
    return first if isinstance(first, Initialized) else None


def _sessions(events: Sequence[Event]) -> str:
    pf = [t for t in map(_typed, events) if isinstance(t, Preflight)]
    if not pf:
        return "no preflight"
    refused = sum(1 for t in pf if not t.passed)
    warned = sorted({f.get("check", "?") for t in pf for f in t.findings if f.get("status") == "warn"})
    text = f"{len(pf)} session(s)"
    if refused:
        text += f", {refused} refused"
    if warned:
        text += f", warnings on {', '.join(warned)}"
    return text
