"""Where a ceremony stands: keys, draft thresholds by name, expiries, the next step.

One report object rendered by the CLI (text or ``--json``) and the TUI alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ceremony.formats.base import ThresholdStatus
from ceremony.next_step import NextStep, next_step, published_exports

if TYPE_CHECKING:  # types only: the engine is loaded by whoever opened the ceremony
    from ceremony.formats.protocol import SignedRoot
    from ceremony.session import Session


@dataclass(frozen=True)
class Expiry:
    """One role's expiry, and whether it falls inside the warning window."""

    role: str
    expires: datetime
    warn: bool
    expired: bool

    def describe(self) -> str:
        flag = " EXPIRED" if self.expired else (" WARNING: expires soon" if self.warn else "")
        return f"{self.role}: expires {self.expires:%Y-%m-%d %H:%M:%S} UTC{flag}"


@dataclass
class StatusReport:
    """Everything ``ceremony status`` shows."""

    name: str
    rehearsal: bool
    keys_done: list[str]
    keys_needed: list[str]
    draft_version: int | None
    thresholds: ThresholdStatus | None
    published: list[int]
    expiries: list[Expiry] = field(default_factory=list)
    next_step: str = ""  # the ``next:`` line (ceremony.next_step, as the TUI and script see it)
    next: NextStep | None = None
    compromised: list[str] = field(default_factory=list)  # keys the plan declares compromised
    exported: list[str] = field(default_factory=list)  # how the published metadata went out
    sealed: bool = False
    torn_bytes: int = 0  # an incomplete last journal line, left out (ceremony.journal.Torn)

    def lines(self) -> list[str]:
        out = [f"ceremony {self.name}" + (" (REHEARSAL)" if self.rehearsal else "")]
        out.append("root keys: " + (", ".join(self.keys_done) or "none yet")
                   + (f"; still to generate: {', '.join(self.keys_needed)}" if self.keys_needed else ""))
        if self.compromised:
            out.append("declared compromised (never sign, never kept): " + ", ".join(self.compromised))
        if self.thresholds is not None:
            out.append(f"draft root v{self.draft_version}:")
            out += ["  " + line for line in self.thresholds.lines()]
            out.append("  publishable: " + ("yes" if self.thresholds.verified else "no"))
        if self.published:
            out.append("published: " + ", ".join(f"v{v}" for v in self.published)
                       + ("; exported: " + ", ".join(self.exported) if self.exported else
                          "; not exported yet"))
        if self.expiries:
            out.append("expiries:")
            out += ["  " + e.describe() for e in self.expiries]
        if self.torn_bytes:
            out.append(f"journal: an incomplete last line ({self.torn_bytes} bytes) is left out: an "
                       "append cut short by a crash, or one being written now; the next command "
                       "that changes the workspace sets it aside into recovery/")
        out.append("next: " + self.next_step)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "rehearsal": self.rehearsal, "keys_done": self.keys_done,
                "keys_needed": self.keys_needed, "draft_version": self.draft_version,
                "thresholds": self.thresholds.to_dict() if self.thresholds else None,
                "published": self.published, "next": self.next_step, "compromised": self.compromised,
                "exported": self.exported, "sealed": self.sealed,
                "journal_torn_bytes": self.torn_bytes,
                "next_step": self.next.to_dict() if self.next else None,
                "expiries": [{"role": e.role, "expires": e.expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                              "warn": e.warn, "expired": e.expired} for e in self.expiries]}


def expiries(root: SignedRoot, online: dict[str, dict[str, Any]], window: timedelta,
             now: datetime | None = None) -> list[Expiry]:
    """Every role's expiry that is known offline: root's, and the online roles' from the
    metadata the ceremony continued from (``init --previous``)."""
    now = now or datetime.now(UTC)
    out = [Expiry("root", root.expires, root.expires - window <= now, root.expires <= now)]
    for role, info in online.items():
        when = datetime.strptime(str(info["expires"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        label = f"{role} v{info['version']}" + ("" if info.get("verified") else " (signature NOT valid)")
        out.append(Expiry(label, when, when - window <= now, when <= now))
    return out


def ceremony_status(c: Session) -> StatusReport:
    """Build the report for a :class:`ceremony.engine.Ceremony`."""
    plan, st = c.plan, c.state
    needed = c.keyholders_waiting()
    done = [k for k in plan.root.keyholders if k not in needed]
    report = StatusReport(plan.name, plan.rehearsal, done, needed,
                          st.draft["version"] if st.draft else None, None, list(st.published))
    prev = c.previous_root()
    if plan.compromised_keys:  # an emergency's plan
        from ceremony.compromise import describe_declared  # lazy: emergencies only (~14M instructions)

        report.compromised = describe_declared(c)
    torn = c.journal.torn
    report.torn_bytes = len(torn.data) if torn is not None else 0
    if st.draft:
        report.thresholds = c.status()
    online = (st.init.get("previous") or {}).get("online", {})
    if prev is not None:
        report.expiries = expiries(prev.signed, online, plan.expiry_warning)
        report.expiries[0] = Expiry(f"root v{prev.signed.version} (current)", *_fields(report.expiries[0]))
    if st.draft:
        draft = c.draft_metadata().signed
        e = expiries(draft, {}, plan.expiry_warning)[0]
        label = "published" if st.draft_published else "draft"
        report.expiries.insert(0, Expiry(f"root v{draft.version} ({label})", *_fields(e)))
    report.exported = [f"{x.get('transport')} {x.get('target')}" for x in published_exports(c)]
    report.sealed = bool(st.sealed)
    report.next = next_step(c, thresholds=report.thresholds)
    report.next_step = report.next.line()
    return report


def _fields(e: Expiry) -> tuple[datetime, bool, bool]:
    return e.expires, e.warn, e.expired
