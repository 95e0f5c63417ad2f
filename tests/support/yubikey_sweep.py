"""A crash sweep of the YubiKey keygen: SIGKILL it before every write, on the disk and on the card.

``ceremony keygen --provision`` for a YubiKey keyholder writes in two places: the workspace
(journal appends, the key file and ``keys/attestation-NAME.pem``: temporary file, write,
fsync, rename) and the virtual card (PIN and PUK blocked, PIV reset, new PIN, PUK and
management key, the key generated in slot 9c, its certificate stored). A kill can land
between any two of those writes, so the sweep kills at each of them:

* disk points, as :mod:`tests.support.crash_sweep` does: the reference run is traced with
  strace; every state-changing call (and fsync) on a file inside the scenario folder is a
  point, and the run is killed at that call's entry (``inject=SYSCALL:signal=KILL:when=N``).
* card points: the card is in this (the test's) process, behind the real pcscd. In the
  reference run it notes which commands changed its persistent state (PIN, PUK, retry
  counters, management key, keys, objects); a point kills the keygen's process when that
  command arrives, before the card applies it: the card is left exactly as after the
  previous command, which is what any kill between the two leaves (a card applies a
  command whole or not at all).

Every run is a process forked from :mod:`tests.support.crash_sweep`'s warm zygote (here with
yubikit imported too). After the kill the operator's resume is run: the same command again
(it must succeed, or say the key is already recorded), then ``record verify
--allow-unsealed``. What is asserted after every point (:func:`check`): exactly one
``key-generated`` event; the slot holds that key and the card generated exactly one key over
both runs (a second generation would have replaced the first); the key file and the
attestation PEM are the journal's; the workspace's visible files are the reference's; record
verify passes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support import crash_sweep as cs

ROOT = Path(__file__).resolve().parents[2]
NAME = "alice"
# vpiv's card state that outlives a power cycle (VirtualYubiKey.factory_reset sets it all)
PERSISTENT = ("pin", "puk", "pin_left", "puk_left", "pin_is_default", "puk_is_default",
              "mgmt_is_default", "mgmt_algorithm", "mgmt_key", "mgmt_touch", "keys", "objects")
GENERATE = 0x47
ALREADY_DONE = "already has a root key in this ceremony"


# ---- the zygote (runs as a script): crash_sweep's, with yubikit already imported -------------

if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    import importlib
    for _name in ("yubikit.piv", "yubikit.management", "ykman.piv", "ykman.device", "smartcard.System",
                  "hsm.yubikey.attestation", "hsm.yubikey.preflight", "hsm.yubikey.provision",
                  "hsm.yubikey.signing", "hsm.yubikey.device", "ceremony.attestation",
                  "ceremony.record_check", "ceremony.steps.keygen"):
        importlib.import_module(_name)
    raise SystemExit(cs.zygote())


class Zygote(cs.Zygote):
    """:class:`tests.support.crash_sweep.Zygote` started from this file (yubikit imported)."""

    def __init__(self) -> None:
        import subprocess
        import threading
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
        env.pop("CEREMONY_PKCS11_MODULE", None)
        self.proc = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        self.lock = threading.Lock()

    def kill_child(self) -> bool:
        """SIGKILL the command the zygote is running now (its only child: no strace here)."""
        pid = self.proc.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return False
        for child in children:
            os.kill(int(child), signal.SIGKILL)
        return bool(children)


# ---- the card: snapshots, and the hook that kills at a command --------------------------------


def card_state(card: Any) -> dict[str, Any]:
    """The card's persistent state, to put back before each point."""
    return {a: (dict(v) if isinstance(v := getattr(card, a), dict) else v) for a in PERSISTENT}


def card_fingerprint(card: Any) -> tuple[Any, ...]:
    """What a kill could leave different on the card (keys by their public point)."""
    keys = tuple(sorted((slot, k.algorithm, k.public_point(), k.pin_policy, k.touch_policy, k.generated)
                        for slot, k in card.keys.items()))
    return (card.pin, card.puk, card.pin_left, card.puk_left, card.pin_is_default, card.puk_is_default,
            card.mgmt_is_default, card.mgmt_algorithm, card.mgmt_key, card.mgmt_touch, keys,
            tuple(sorted(card.objects.items())))


@dataclass(frozen=True)
class CardPoint:
    """Kill when the card receives the ``ordinal``-th whole command with this ``ins``."""

    ins: int
    ordinal: int

    def describe(self) -> str:
        return f"card command {self.ins:02X} #{self.ordinal}"


class CardHook:
    """Wraps ``card.transmit``: counts whole commands by INS, notes which changed the card's
    persistent state, counts key generations, and kills the command's process at ``kill_at``."""

    def __init__(self, card: Any, zygote: Zygote | None = None) -> None:
        self.card, self.zygote = card, zygote
        self.inner = type(card).transmit.__get__(card)
        self.kill_at: CardPoint | None = None
        self.killed = False
        self.counts: dict[int, int] = {}
        self.changing: list[CardPoint] = []
        self.generated = 0
        card.transmit = self.transmit

    def reset(self, state: dict[str, Any], kill_at: CardPoint | None = None) -> None:
        """Put the card back to ``state`` (powered off) and arm the hook."""
        with self.card.lock:
            for a, v in state.items():
                setattr(self.card, a, dict(v) if isinstance(v, dict) else v)
            self.card.power_off()
            self.card.apdu_log.clear()
        self.kill_at, self.killed, self.counts, self.changing, self.generated = kill_at, False, {}, [], 0

    def transmit(self, apdu: bytes) -> bytes:
        whole = len(apdu) > 1 and not apdu[0] & 0x10 and apdu[1] != 0xC0
        point = None
        if whole:
            self.counts[apdu[1]] = self.counts.get(apdu[1], 0) + 1
            point = CardPoint(apdu[1], self.counts[apdu[1]])
            if point == self.kill_at and self.zygote is not None and not self.killed:
                self.killed = self.zygote.kill_child()
                return b"\x6f\x00"  # never applied: the process is gone
        before = card_fingerprint(self.card)
        out = self.inner(apdu)
        if point is not None and card_fingerprint(self.card) != before:
            self.changing.append(point)
            if point.ins == GENERATE:
                self.generated += 1
        return out


# ---- the scenario ---------------------------------------------------------------------------


@dataclass
class Scenario:
    """A workspace after ``init`` with one YubiKey keyholder, and the keygen to sweep."""

    base: Path  # holds ``ws`` and the plan; copied for every point
    argv: list[str]
    card_before: dict[str, Any]
    generates: int  # keys the keygen makes on the card: 1 provisioning, 0 adopting


def make_scenario(base: Path, serial: int, files: dict[str, Path], provision: bool,
                  card: Any) -> Scenario:
    """Plan (alice on YubiKey ``serial``, threshold 1, software online keys), ``init``."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from tests.support.helpers import cli
    from tests.support.plans import Keyholder, Plan, online_roles
    online = base / "plan" / "online"
    online.mkdir(parents=True)
    for role in ("targets", "snapshot", "timestamp"):
        (online / f"{role}.pub.pem").write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key()
                                                 .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    plan = Plan("yk-sweep", [Keyholder(NAME, device="yubikey", serial=str(serial), touch="always")], 1,
                online_roles(online)).write(base / "plan" / "plan.toml")
    # the zygote's children read SOFTHSM2_CONF here: keygen loads the module before it
    # knows the keyholder's token is a YubiKey (no token is used)
    (base / "softhsm" / "tokens").mkdir(parents=True)
    (base / "softhsm" / "softhsm2.conf").write_text(
        "directories.tokendir = softhsm/tokens\nobjectstore.backend = file\nlog.level = ERROR\n")
    r = cli("init", base / "ws", "--plan", plan)
    assert r.code == 0, r.err
    argv = ["keygen", "ws", "--keyholder", NAME, "--attestation-roots", str(files["roots"])]
    if provision:
        argv += ["--provision", "--confirm-serial", str(serial), "--new-pin-file", str(files["pin"]),
                 "--new-puk-file", str(files["puk"])]
    return Scenario(base, argv, card_state(card), 1 if provision else 0)


@dataclass
class Reference:
    """The uncrashed keygen: its disk points, its card points, what it left."""

    final: Path
    disk: list[cs.Call]
    card: list[CardPoint]
    skipped: dict[str, int]


def build_reference(z: Zygote, hook: CardHook, sc: Scenario, work: Path) -> Reference:
    """Run the keygen once, traced, noting every state change on the disk and on the card."""
    run_dir = work / "reference"
    cs.copy_scenario(sc.base, run_dir)
    hook.reset(sc.card_before)
    trace = work / "trace.txt"
    code = z.run(run_dir, sc.argv, work / "reference.out",
                 ["-yy", "-e", "trace=" + ",".join(cs.KILL_SYSCALLS), "-o", str(trace)])
    assert code != cs.NOT_TRACED, "strace could not attach (ptrace not permitted here); the sweep needs it"
    assert code == 0, (work / "reference.out").read_text()
    calls = cs.parse_trace(trace.read_text(), run_dir.resolve(), sc.base, 0)
    disk, skipped = cs.select_points(calls, stride=1, full_stride=1, every_command=True)
    assert hook.generated == sc.generates
    card_points = list(hook.changing)
    code = z.run(run_dir, ["record", "verify", "ws", "--allow-unsealed"], work / "reference-verify.out")
    assert code == 0, (work / "reference-verify.out").read_text()
    return Reference(run_dir, disk, card_points, skipped)


# ---- one point ------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one kill point did."""

    point: str
    killed: bool
    left: str = ""  # what the kill left, as a class (see :func:`left_by_kill`)
    resumed: str = ""  # "ok", "already done", or the failure
    resume_output: str = ""
    generated: int = 0  # keys the card generated over the killed run and the resume
    problems: list[str] = field(default_factory=list)
    debris: list[str] = field(default_factory=list)


def left_by_kill(where: Path, card: Any) -> str:
    """The state a kill left, as a short class: what the journal holds for alice, which of
    her files exist, whether slot 9c holds a key."""
    types = [json.loads(x)["type"] for x in (where / "ws" / "journal.jsonl").read_text().splitlines()]
    parts = ["intent" if "keygen-intent" in types else "no intent",
             "key journaled" if "key-generated" in types else "no key journaled",
             *[f"{n} present" for n in (f"root-{NAME}.json", f"attestation-{NAME}.pem")
               if (where / "ws" / "keys" / n).exists()],
             "slot full" if 0x9C in card.keys else "slot empty"]
    return ", ".join(parts)


def run_point(z: Zygote, hook: CardHook, sc: Scenario, ref: Reference, where: Path,
              disk: cs.Call | None = None, card: CardPoint | None = None) -> Outcome:
    """Kill the keygen at one point, resume it as the operator would, check the end."""
    cs.copy_scenario(sc.base, where)
    hook.reset(sc.card_before, card)
    out = where / "killed.out"
    if disk is not None:
        name = f"{disk.syscall} #{disk.ordinal} ({disk.path})"
        code = z.run(where, sc.argv, out, ["-o", "/dev/null", "-e", f"trace={disk.syscall}", "-e",
                                           f"inject={disk.syscall}:signal=KILL:when={disk.ordinal}"])
    else:
        assert card is not None
        name = card.describe()
        code = z.run(where, sc.argv, out)
    o = Outcome(name, code == -signal.SIGKILL and (card is None or hook.killed))
    if not o.killed:
        o.problems.append(f"not killed (exit {code}): {out.read_text()[-400:]}")
        return o
    o.left = left_by_kill(where, hook.card)
    hook.kill_at = None
    generated_before = hook.generated
    log = where / "resume.out"
    code = z.run(where, sc.argv, log)
    text = log.read_text()
    o.resumed = "ok" if code == 0 else ("already done" if ALREADY_DONE in text else f"exit {code}")
    o.resume_output = text
    o.generated = hook.generated
    if "Traceback" in text or o.resumed.startswith("exit"):
        o.problems.append(f"resume: {o.resumed}: {text[-600:]}")
        return o
    if o.resumed == "already done" and generated_before != hook.generated:
        o.problems.append("the card generated a key in a keygen that says it was already done")
    check(where, sc, ref, hook, o)
    code = z.run(where, ["record", "verify", "ws", "--allow-unsealed"], where / "verify.out")
    if code != 0:
        o.problems.append(f"record verify: exit {code}: {(where / 'verify.out').read_text()[-600:]}")
    return o


def check(where: Path, sc: Scenario, ref: Reference, hook: CardHook, o: Outcome) -> None:
    """One key, journaled once, in the slot, made once; files the journal's; nothing else."""
    from ceremony.attestation import journaled_pem
    ws = where / "ws"
    events = [json.loads(x) for x in (ws / "journal.jsonl").read_text().splitlines()]
    generated = [e["data"] for e in events if e["type"] == "key-generated"]
    if len(generated) != 1:
        o.problems.append(f"{len(generated)} key-generated events")
        return
    key = generated[0]
    if o.generated != sc.generates:
        o.problems.append(f"the card generated {o.generated} keys over the killed run and the resume "
                          f"(the keygen makes {sc.generates})")
    slot = hook.card.keys.get(0x9C)
    public = key["key"]["keyval"]["public"]
    if slot is None or _public_pem(slot) != public:
        o.problems.append("slot 9c does not hold the journaled key")
    kf = json.loads((ws / "keys" / f"root-{NAME}.json").read_text())
    if kf.get("keyid") != key["keyid"]:
        o.problems.append(f"keys/root-{NAME}.json is not the journaled key")
    if (ws / "keys" / f"attestation-{NAME}.pem").read_text() != journaled_pem(key):
        o.problems.append(f"keys/attestation-{NAME}.pem is not the journaled attestation")
    vis, hidden = cs.visible_files(ws)
    rvis, rhidden = cs.visible_files(ref.final / "ws")
    if vis != rvis:
        o.problems.append(f"files differ from the reference: {sorted(set(vis) ^ set(rvis))}")
    o.debris += sorted(set(hidden) - set(rhidden))  # a killed write's temporary file (readers skip it)


def _public_pem(slot_key: Any) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    return str(slot_key.private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
               .decode())


# ---- the whole sweep ------------------------------------------------------------------------


@dataclass
class Sweep:
    """A finished sweep: the reference and every point's outcome."""

    reference: Reference
    outcomes: list[Outcome]


def sweep(work: Path, sc: Scenario, hook: CardHook, z: Zygote) -> Sweep:
    """Every disk point and every card point of the keygen, one after the other (one card)."""
    ref = build_reference(z, hook, sc, work)
    hook.zygote = z
    outcomes = [run_point(z, hook, sc, ref, work / "point", disk=c) for c in ref.disk]
    outcomes += [run_point(z, hook, sc, ref, work / "point", card=p) for p in ref.card]
    shutil.rmtree(work / "point", ignore_errors=True)
    return Sweep(ref, outcomes)
