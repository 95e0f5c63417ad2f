"""Preflight: is this machine air-gapped, is its clock sane, which tool and tokens are here?

Shown before anything else in every session and journaled, so the record says
on which machine, with which build of the tool and under which clock each part
of the ceremony ran.

The module is split in two on purpose:

* **probes** read the machine (``/sys``, ``/proc``, the installed package files,
  the PKCS#11 module, the clock). Their roots are parameters, so a test builds a
  fake ``/sys`` tree with an interface up instead of mocking the tool;
* :func:`evaluate` is pure: facts plus the plan's ``rehearsal`` flag and the
  clock floor in, a :class:`PreflightReport` of findings out.

On a live ceremony any network interface up, default route or unblocked radio
refuses the ceremony; on a rehearsal they are warnings. A clock earlier than the
newest trusted time known to the workspace is refused either way: metadata
drafted under it would get the wrong expiry.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ceremony
import hsm
from ceremony import __version__
from ceremony.airgap import Interface, Route, read_interfaces, read_routes, read_sys_file, sys_class
from ceremony.errors import PreflightError, StateError
from ceremony.frozen import frozen
from ceremony.steps.preflight import journal_report
from hsm.errors import HsmError

if TYPE_CHECKING:  # a top import would be a cycle: ceremony.session imports this module
    from ceremony.session import Session

# A clock before this is a dead RTC battery or a reset, never a real ceremony date.
MIN_PLAUSIBLE = datetime(2024, 1, 1, tzinfo=UTC)
# Two laptops in one room may disagree by seconds; the check is for clocks days off.
CLOCK_TOLERANCE = timedelta(seconds=60)

OK, WARN, FAIL = "ok", "warn", "fail"
DEFAULT_ROOTS = ("/sys", "/proc")

# Libraries whose versions the record names next to the tool's own digest.
LIBRARIES = ("tuf", "securesystemslib", "python-pkcs11", "cryptography", "textual", "rich")


# ---- facts ------------------------------------------------------------------------


@frozen
class Radio:
    """An rfkill-controlled radio (wifi, bluetooth, wwan, ...)."""

    name: str
    type: str
    soft_blocked: bool
    hard_blocked: bool

    @property
    def blocked(self) -> bool:
        return self.soft_blocked or self.hard_blocked


@frozen
class ToolDigest:
    """The installed ``ceremony`` and ``hsm`` packages, file by file."""

    version: str
    sha256: str
    files: tuple[tuple[str, str], ...]  # (relative path, sha256)

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "sha256": self.sha256, "file_count": len(self.files)}


@frozen
class Facts:
    """Everything the probes read, before any judgement."""

    interfaces: tuple[Interface, ...]
    routes: tuple[Route, ...]
    radios: tuple[Radio, ...]
    clock: datetime
    tool: ToolDigest
    libraries: dict[str, str]
    tokens: tuple[dict[str, Any], ...]  # TokenInfo.to_dict() each
    token_error: str | None
    host: dict[str, str]
    # Where the probes read the machine: ("/sys", "/proc") unless a test (or the hidden
    # --sys-root/--proc-root options) pointed them at files describing another machine.
    roots: tuple[str, str] = ("/sys", "/proc")


# ---- probes (I/O) -------------------------------------------------------------------


def read_radios(sys_root: Path = Path("/sys")) -> list[Radio]:
    """Radios from ``<sys_root>/class/rfkill`` (none on machines without rfkill)."""
    out = []
    for d in sys_class(sys_root, "rfkill"):
        out.append(Radio(read_sys_file(d / "name") or d.name, read_sys_file(d / "type") or "unknown",
                         read_sys_file(d / "soft") == "1", read_sys_file(d / "hard") == "1"))
    return out


def package_roots() -> list[Path]:
    """Where the ``ceremony`` and ``hsm`` packages are installed."""
    return [Path(ceremony.__file__).parent, Path(hsm.__file__).parent]


def tool_digest(roots: Iterable[Path] | None = None, version: str | None = None) -> ToolDigest:
    """sha256 of every installed file of the tool (byte code caches excluded).

    The top digest covers ``path NUL sha256 LF`` per file, sorted by path, so a
    file added, removed, renamed or changed gives another digest.
    """
    if version is None:
        version = __version__
    files = []
    for root in (package_roots() if roots is None else roots):
        root = Path(root)
        for p in sorted(root.rglob("*")):
            if "__pycache__" in p.parts or not p.is_file() or p.is_symlink():
                continue
            rel = f"{root.name}/{p.relative_to(root).as_posix()}"
            files.append((rel, hashlib.sha256(p.read_bytes()).hexdigest()))
    files.sort()
    top = hashlib.sha256(b"".join(f"{n}\0{d}\n".encode() for n, d in files)).hexdigest()
    return ToolDigest(version, top, tuple(files))


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries the ceremony trusts."""
    from importlib.metadata import PackageNotFoundError, version  # lazy: importlib.metadata, only when a preflight runs
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def host_facts(proc_root: Path = Path("/proc"), hostname: str | None = None) -> dict[str, str]:
    """Which machine and boot this is: a copied workspace shows the change of machine."""
    boot_id = read_sys_file(Path(proc_root) / "sys" / "kernel" / "random" / "boot_id")
    return {"hostname": hostname or platform.node(), "boot_id": boot_id or "unknown",
            "platform": sys.platform}


@dataclass
class Probes:
    """Where the probes look. Tests point these at fake trees; nothing is mocked."""

    sys_root: Path = Path("/sys")
    proc_root: Path = Path("/proc")
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    roots: list[Path] | None = None  # package roots for the tool digest
    hostname: str | None = None  # None: this machine's name

    def gather(self, module: Any | None = None, module_error: str | None = None) -> Facts:
        """Read everything. ``module`` is a loaded ``hsm.pkcs11.Module`` (or None)."""
        tokens: tuple[dict[str, Any], ...] = ()
        error = module_error
        if module is not None and error is None:
            try:
                tokens = tuple(t.to_dict() for t in module.tokens())
            except HsmError as e:
                error = e.message
        return Facts(tuple(read_interfaces(self.sys_root)), tuple(read_routes(self.proc_root)),
                     tuple(read_radios(self.sys_root)),
                     self.clock().astimezone(UTC).replace(microsecond=0),
                     tool_digest(self.roots), library_versions(), tokens, error,
                     host_facts(self.proc_root, self.hostname),
                     (str(self.sys_root), str(self.proc_root)))


# ---- judgement (pure) ----------------------------------------------------------------


@frozen
class Finding:
    """One check's outcome, in a sentence for the room."""

    check: str
    status: str  # ok, warn, fail
    message: str


@frozen
class ClockFloor:
    """The latest time the workspace knows has already happened, and where it comes from."""

    time: datetime
    source: str


@dataclass
class PreflightReport:
    """The findings of one preflight, and the facts behind them."""

    rehearsal: bool
    facts: Facts
    floor: ClockFloor
    clock_confirmed: bool
    findings: list[Finding]

    @property
    def problems(self) -> list[Finding]:
        """Findings that refuse the ceremony."""
        return [f for f in self.findings if f.status == FAIL]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.status == WARN]

    @property
    def passed(self) -> bool:
        """True when nothing refuses the ceremony (warnings allowed)."""
        return not self.problems

    def lines(self) -> list[str]:
        """The report as the CLI prints it."""
        mark = {OK: "ok  ", WARN: "WARN", FAIL: "FAIL"}
        out = [f"{mark[f.status]} {f.check}: {f.message}" for f in self.findings]
        verdict = "passed" if self.passed else "REFUSED"
        if self.passed and self.warnings and self.rehearsal:
            verdict += " (rehearsal: warnings only)"
        out.append(f"preflight {verdict}")
        return out

    def to_dict(self) -> dict[str, Any]:
        """What the journal keeps: findings and facts, no secrets (there are none here)."""
        f = self.facts
        return {
            "passed": self.passed,
            "rehearsal": self.rehearsal,
            "clock": _iso(f.clock),
            "clock_confirmed": self.clock_confirmed,
            "clock_floor": {"time": _iso(self.floor.time), "source": self.floor.source},
            "findings": [asdict(x) for x in self.findings],
            "interfaces_up": [i.name for i in f.interfaces if i.up],
            "default_routes": [asdict(r) for r in f.routes],
            "radios_unblocked": [r.name for r in f.radios if not r.blocked],
            "tool": f.tool.to_dict(),
            "libraries": f.libraries,
            "tokens": [{k: t[k] for k in ("label", "serial", "manufacturer", "model", "pin_state")}
                       for t in f.tokens],
            "host": f.host,
        } | ({} if f.roots == DEFAULT_ROOTS else
             {"probes": {"sys_root": f.roots[0], "proc_root": f.roots[1]}})


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_text(dt: datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS UTC``, the one way times are shown to people."""
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def evaluate(facts: Facts, rehearsal: bool, floor: ClockFloor, clock_confirmed: bool,
             planned_tokens: Iterable[tuple[str, str | None, str | None]] = (),
             trusted_expiry: tuple[str, datetime] | None = None) -> PreflightReport:
    """Judge the facts. Pure: the same facts give the same report.

    Args:
        facts: what the probes read.
        rehearsal: the plan's ``rehearsal`` flag (air-gap failures become warnings).
        floor: the clock must not be earlier than this.
        clock_confirmed: the operator compared the UTC time shown with a wall clock.
        planned_tokens: (keyholder, token label, serial) from the plan, to say whose
            token is present.
        trusted_expiry: (name, expiry) of the root the ceremony continues, if any.
    """
    gap = WARN if rehearsal else FAIL
    note = " (allowed: rehearsal)" if rehearsal else ""
    findings: list[Finding] = []

    up = [i for i in facts.interfaces if i.up]
    if up:
        names = ", ".join(f"{i.name} ({i.operstate})" for i in up)
        findings.append(Finding("network", gap, f"interface up: {names}{note}"))
    else:
        findings.append(Finding("network", OK, "no network interface up besides loopback"))
    if facts.routes:
        names = ", ".join(f"{r.family} via {r.interface}" for r in facts.routes)
        findings.append(Finding("route", gap, f"default route present: {names}{note}"))
    else:
        findings.append(Finding("route", OK, "no default route"))
    radios = [r for r in facts.radios if not r.blocked]
    wifi = [i for i in facts.interfaces if i.wireless]
    if radios:
        names = ", ".join(f"{r.name} ({r.type})" for r in radios)
        findings.append(Finding("wireless", gap, f"radio not blocked: {names}{note}"))
    elif wifi:
        findings.append(Finding("wireless", gap, "wireless interface present with no rfkill "
                                f"switch: {', '.join(i.name for i in wifi)}{note}"))
    else:
        findings.append(Finding("wireless", OK, "no unblocked radio"))

    clock = facts.clock
    if clock + CLOCK_TOLERANCE < floor.time:
        findings.append(Finding("clock", FAIL, f"the clock says {utc_text(clock)}, earlier than "
                                f"{floor.source} ({utc_text(floor.time)}): set the clock to UTC"))
    elif clock_confirmed:
        findings.append(Finding("clock", OK, f"{utc_text(clock)}, confirmed by the operator"))
    else:
        findings.append(Finding("clock", WARN if rehearsal else FAIL,
                                f"{utc_text(clock)} not yet confirmed against a wall clock"
                                + (" (rehearsal)" if rehearsal else "")))

    if trusted_expiry is not None and trusted_expiry[1] <= clock:
        # Still rotatable (clients accept a new root signed by the old threshold), but say so.
        findings.append(Finding("expiry", WARN, f"the current {trusted_expiry[0]} expired at "
                                f"{utc_text(trusted_expiry[1])}: clients refuse it until the new "
                                "root is published"))

    t = facts.tool
    files = f"{len(t.files)} file" + ("" if len(t.files) == 1 else "s")
    findings.append(Finding("tool", OK, f"ceremony {t.version}, {files}, sha256 {t.sha256[:16]}"))

    if facts.token_error:
        findings.append(Finding("tokens", WARN, f"cannot list tokens: {facts.token_error}"))
    elif not facts.tokens:
        findings.append(Finding("tokens", WARN, "no token present yet"))
    else:
        owners = _owners(facts.tokens, planned_tokens)
        for tok in sorted(facts.tokens, key=lambda t: (t["label"], t["serial"])):
            who = f" [{owners[tok['serial']]}]" if tok["serial"] in owners else ""
            bad = tok["pin_state"] in ("locked", "final try")
            findings.append(Finding("token", WARN if bad else OK,
                                    f"{tok['label']} (serial {tok['serial']}), PIN "
                                    f"{tok['pin_state']}{who}"))
    return PreflightReport(rehearsal, facts, floor, clock_confirmed, findings)


def _owners(tokens: Iterable[dict[str, Any]],
            planned: Iterable[tuple[str, str | None, str | None]]) -> dict[str, str]:
    """Token serial -> the keyholder whose token it is, by the plan's label/serial."""
    owners = {}
    tokens = list(tokens)
    for holder, label, serial in planned:
        for t in tokens:
            if (label is None or t["label"] == label) and (serial is None or t["serial"] == serial):
                owners[t["serial"]] = holder
    return owners


# ---- the ceremony side ----------------------------------------------------------------


def clock_floor(c: Session) -> ClockFloor:
    """The newest time the workspace proves has passed.

    TUF root metadata carries no signing time, so the floor is the newest of:
    every journaled event (init is when the previous chain was verified and
    copied in; drafts record when they were drafted), an ``x-ceremony-created``
    field on any trusted root if the drafting side writes one, and a fixed
    plausibility floor.
    """
    best = ClockFloor(MIN_PLAUSIBLE, "the earliest plausible ceremony date")
    for e in c.journal.events:
        t = _parse_time(e.time)
        if t is not None and t > best.time:
            best = ClockFloor(t, f"journal line {e.seq} ({e.type})")
        created = _parse_time(e.data.get("created")) if isinstance(e.data, dict) else None
        if created is not None and created > best.time:
            best = ClockFloor(created, f"the draft journaled at line {e.seq}")
    for path in _trusted_root_files(c):
        t = _root_created(path)
        if t is not None and t > best.time:
            best = ClockFloor(t, f"the signing time of {path.parent.name}/{path.name}")
    return best


def _trusted_root_files(c: Session) -> list[Path]:
    out = []
    for d in (c.ws.previous, c.ws.metadata):
        if d.is_dir():
            out += sorted(d.glob("*.root.json"))
    return out


def _root_created(path: Path) -> datetime | None:
    try:
        signed = json.loads(path.read_bytes())["signed"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return _parse_time(signed.get("x-ceremony-created")) if isinstance(signed, dict) else None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def run_preflight(c: Session, probes: Probes | None = None, module: Any | None = None,
                  module_error: str | None = None,
                  clock_confirmed: bool = False) -> PreflightReport:
    """Read the machine and judge it for ceremony ``c`` (nothing is journaled yet)."""
    probes = probes or Probes()
    facts = probes.gather(module, module_error)
    planned = [(k.name, k.token, k.serial) for k in c.plan.keyholders]
    return evaluate(facts, c.plan.rehearsal, clock_floor(c), clock_confirmed, planned,
                    trusted_expiry(c))


def trusted_expiry(c: Session) -> tuple[str, datetime] | None:
    """The expiry of the root this ceremony continues (rotations), if any."""
    prev = c.previous_root()
    if prev is None:
        return None
    return f"root v{prev.signed.version}", prev.signed.expires


def record_preflight(c: Session, report: PreflightReport) -> None:
    """Journal the report, then refuse if it failed.

    A refused preflight is journaled too: the record shows every attempt.

    Raises:
        StateError: the ceremony is already sealed (nothing more is recorded).
        PreflightError: a check refuses the ceremony; the message names it.
    """
    if c.state.sealed:
        raise StateError("the ceremony is sealed; nothing more is recorded",
                         hint="start a new workspace for a new ceremony")
    journal_report(c, report.to_dict())
    if not report.passed:
        first = report.problems[0]
        more = len(report.problems) - 1
        raise PreflightError(
            f"preflight refused the ceremony: {first.check}: {first.message}"
            + (f" (and {more} more)" if more else ""),
            hint="disconnect the network and block every radio (rfkill block all), set the clock "
                 "to UTC, then run the preflight again; only a plan with rehearsal = true may "
                 "run connected")


