"""Start-up of the commands a ceremony runs, side by side with importing python-tuf.

Run: ``.venv/bin/python bench/bench_startup.py [N]`` (N repetitions per row, default 7; or
``make bench`` for every benchmark). Issue 14's targets: ``ceremony status WS`` <= 0.25 s, and
each keyholder step's start-up <= 1.3 x ``python -c 'import tuf.api.metadata'``.

Every row is a fresh process of the venv's Python running this checkout (``PYTHONPATH`` set to
it, ``from ceremony.cli import main`` as the console script does), timed from ``fork`` to exit
(wall clock), with bytecode compiled beforehand as an installed tool has it
(``PYTHONDONTWRITEBYTECODE`` is dropped; the cache goes to the bench's temporary folder, never
into the checkout). The rows run round-robin, one repetition of each row per round, so a slow moment
of the shared machine hits every row alike; the table gives the median and its ratio to the
tuf row of the same run. ``python -c pass`` is the floor no command can go below. The CPU
columns (user + system time of the child, from ``getrusage``) barely move when other work
shares the machine, where the wall clock doubles: read them when the load is high.

What "start-up" is, per row (the bench checks each ends as stated, else it fails):

* ``import tuf.api.metadata, filelock``: python-tuf and the workspace lock's library, no
  command: the share of every step that changes a workspace (it takes the lock before it
  reaches for a token) that is ``filelock``'s import alone.
* ``--help``, ``status WS``: the whole command (WS is made here: a rehearsal plan on throwaway
  SoftHSM tokens, three keyholders, threshold 2, keys generated, v1 drafted, alice signed).
* ``keygen``, ``sign``, ``sign-draft``: the command until it reaches for the token. They run
  with ``--pkcs11-module`` naming a file that does not exist, so each stops at the first token
  access with exit 4 and "PKCS#11 module ... does not exist": everything before it (argument
  parsing, imports, opening the workspace and replaying its journal, the plan, the draft
  review and digest check for ``sign-draft``) is in the figure; the token's own work (login,
  generation, signing) is not, since it is the token's time, not the tool's. The stop comes
  where the handler resolves the module, before the engine's step runs: ``keygen``'s own step
  module (``ceremony.steps.keygen``: ctypes, the PIN audit, ~8 ms), which the engine loads when
  ``c.keygen`` is called, is therefore outside the keygen row, though a real keygen loads it
  before touching the token. ``sign`` loads its step module with the engine, inside the row.
* ``import-signature``, ``export --usb``, ``import --usb``: no token is involved, so the whole
  command, each on a fresh copy of WS (and a fresh USB folder), copied outside the timing.

Read the first table for what an operator waits for. Its step rows include the step's own
work before the token (opening the workspace, replaying the journal, reading the plan,
verifying the draft and its signatures so far): work python-tuf's import row does not do.

A second table measures start-up in the narrower sense of *loading the code*: for each
``status`` and step row, a probe process (``python -c PROBE``) parses the same arguments with
the CLI's own parser (:func:`ceremony.cli.parse_args`, as ``main`` does) and imports exactly
the modules the real command had loaded when it ended (recorded once, untimed, from the real
run's ``sys.modules``; a probe that cannot import one of them fails the bench), and does no work:
no workspace opened, no journal replayed, no file read. Its figures are imports plus argument
parsing up to the command's dispatch, side by side with ``import tuf.api.metadata`` (the same
tuf row as above, of the same run). The issue's targets are judged on both tables, each
labelled; neither replaces the other.

A third table gives, per row, what ``-X importtime`` counts for the imports of one run (the
sum of the top-level imports' cumulative times; importtime itself slows imports, so it reads
high against the wall clock) and the number of modules loaded: the share start-up spends
importing, and which rows pay for python-tuf (``tuf`` loaded: yes/no).
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hsm import softhsm  # noqa: E402
from hsm.pkcs11 import get_module, resolve_module_path  # noqa: E402

PIN = "bench-pin-1234"
MISSING_MODULE = "/nonexistent/bench-no-such-pkcs11.so"
CLI = "import sys; from ceremony.cli import main; sys.exit(main())"
# The real command, writing the names of the modules it loaded (in load order) to argv[1].
RECORD = ("import sys, json\nout = sys.argv.pop(1)\nfrom ceremony.cli import main\n"
          "try:\n    code = main()\nfinally:\n"
          "    json.dump([m for m in sys.modules if m != '__main__'], open(out, 'w'))\n"
          "sys.exit(code)")
# Loading the code only: the command's arguments parsed by the CLI's parser, then every module
# the real command loaded imported (from the list in argv[1]); no handler runs. A few names are
# not importable by name (a package puts them in sys.modules itself): they must be there at the end.
PROBE = ("import sys, json, importlib\nmods = json.load(open(sys.argv.pop(1)))\n"
         "from ceremony.cli import parse_args\nparse_args(sys.argv[1:])\n"
         "for m in mods:\n    try:\n        importlib.import_module(m)\n"
         "    except ImportError:\n        pass  # a name a package registers itself (_openssl): checked below\n"
         "missing = [m for m in mods if m not in sys.modules]\n"
         "print(f'probe: {len(mods)} modules, {len(missing)} missing {missing[:5]}')")
STATUS_TARGET_S = 0.25
STEP_TARGET_RATIO = 1.3
TOKEN_STOP = f"PKCS#11 module {MISSING_MODULE} (from --pkcs11-module) does not exist"


@dataclass
class Row:
    """One command measured: how to run it, what its end must look like, its timings."""

    name: str
    argv: Callable[[], list[str]]  # fresh arguments per run (copies made here, untimed)
    code: int = 0
    expect: str = ""  # text its stdout+stderr must hold, so a row that fails early is not timed
    target: str = ""  # "status" or "step": which of the targets applies
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)


class Rig:
    """Throwaway tokens, a plan, and the workspaces the rows run against."""

    def __init__(self, base: Path) -> None:
        from ceremony.online.rehearsal_keys import ONLINE_TOKEN, make_online_keys
        from ceremony.rehearse import keyholder_names, write_plan

        self.base = base
        self.dir = softhsm.create(base / "softhsm")
        softhsm.activate(self.dir)
        self.names = keyholder_names(3)
        for name in self.names:
            softhsm.init_token(self.dir, f"rehearsal-{name}", PIN)
        softhsm.init_token(self.dir, ONLINE_TOKEN, PIN)
        module = get_module(resolve_module_path(env={}))
        module.refresh()
        make_online_keys(module, module.find_token(label=ONLINE_TOKEN), lambda _i=None: PIN, base / "online")
        self.plan = base / "plan.toml"
        write_plan(self.plan, "bench", self.names, 2, "ecdsa-p256", base / "online")
        self.pin = base / "pin"
        self.pin.write_text(PIN)
        # Bytecode as an installed tool has it: compiled once (by the untimed warm-up run) into a
        # cache of the bench's own, so no row pays for compiling the checkout's sources.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.env = {**env, "PYTHONPATH": str(ROOT), "SOFTHSM2_CONF": str(self.dir.conf),
                    "PYTHONPYCACHEPREFIX": str(base / "pycache")}
        self.copies = 0

        self.fresh = base / "fresh"  # initialised, no key yet: keygen's start
        self.ws = base / "ws"  # keys, draft v1, alice signed: mid-signing
        self.ceremony("init", self.fresh, "--plan", self.plan)
        self.ceremony("init", self.ws, "--plan", self.plan)
        for name in self.names:
            self.ceremony("keygen", self.ws, "--keyholder", name, "--pin-file", self.pin)
        self.ceremony("draft", self.ws)
        self.ceremony("sign", self.ws, "--keyholder", "alice", "--pin-file", self.pin)
        self.draft = base / "1.root.draft.json"
        exported = self.ceremony("export-draft", self.ws, "--out", self.draft)
        found = re.search(r"digest ([0-9a-f]{64})", exported)
        if found is None:
            sys.exit(f"bench setup failed: export-draft printed no digest:\n{exported}")
        self.digest = found.group(1)
        self.signature = base / "1.root.sig-bob.json"
        self.ceremony("sign-draft", self.draft, "--keyholder", "bob", "--pin-file", self.pin,
                      "--expect-digest", self.digest, "--out", self.signature)
        self.bundle_dir = base / "signature-usb"
        self.bundle_dir.mkdir()
        self.ceremony("pack", "--kind", "signature", "--repository", "rehearsal/repository",
                      "--usb", self.bundle_dir, self.signature)

    def ceremony(self, *args: str | Path) -> str:
        """Run one command to build the rig; any failure stops the bench with its output."""
        run = subprocess.run([sys.executable, "-c", CLI, *map(str, args)], env=self.env, cwd=ROOT,
                             capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"bench setup failed: ceremony {' '.join(map(str, args))}: exit {run.returncode}\n"
                     f"{run.stdout}{run.stderr}")
        return run.stdout + run.stderr

    def copy(self) -> Path:
        """A fresh copy of the mid-signing workspace (the lock files go with it, unheld)."""
        self.copies += 1
        dest = self.base / "copies" / f"ws-{self.copies}"
        shutil.copytree(self.ws, dest)
        return dest

    def empty_dir(self) -> Path:
        self.copies += 1
        dest = self.base / "copies" / f"usb-{self.copies}"
        dest.mkdir(parents=True)
        return dest


def rows(rig: Rig) -> list[Row]:
    py = [sys.executable, "-c"]
    c = [sys.executable, "-c", CLI]
    stop = ["--pkcs11-module", MISSING_MODULE]
    return [
        Row("python -c pass (floor)", lambda: [*py, "pass"]),
        Row("python -c 'import tuf.api.metadata'", lambda: [*py, "import tuf.api.metadata"]),
        # What the workspace lock's library adds to python-tuf by itself (every step that
        # changes a workspace takes the lock before it touches a token): its share of each ratio.
        Row("python -c 'import tuf.api.metadata, filelock'",
            lambda: [*py, "import tuf.api.metadata, filelock"]),
        Row("ceremony --help", lambda: [*c, "--help"], expect="usage: ceremony"),
        Row("ceremony status WS", lambda: [*c, "status", str(rig.ws)], expect="next: ceremony sign",
            target="status"),
        Row("keygen, to the token", lambda: [*c, "keygen", str(rig.fresh), "--keyholder", "bob", *stop],
            code=4, expect=TOKEN_STOP, target="step"),
        Row("sign, to the token", lambda: [*c, "sign", str(rig.ws), "--keyholder", "bob", *stop],
            code=4, expect=TOKEN_STOP, target="step"),
        Row("sign-draft, to the token", lambda: [*c, "sign-draft", str(rig.draft), "--keyholder", "carol",
                                                 "--expect-digest", rig.digest, *stop],
            code=4, expect=TOKEN_STOP, target="step"),
        Row("import-signature (whole)", lambda: [*c, "import-signature", str(rig.copy()), str(rig.signature)],
            expect="1 signature(s)", target="step"),
        Row("export --usb (whole)", lambda: [*c, "export", str(rig.copy()), "--usb", str(rig.empty_dir())],
            expect="bundle written", target="step"),
        Row("import --usb (whole)", lambda: [*c, "import", str(rig.copy()), "--usb", str(rig.bundle_dir)],
            expect="signature(s) added", target="step"),
    ]


def probe_rows(rig: Rig, measured: list[Row]) -> list[Row]:
    """For each status and step row, its probe: the same arguments parsed, the same modules
    imported (recorded from one untimed real run), no work done."""
    out = []
    for row in measured:
        if not row.target:
            continue
        argv = row.argv()
        modules = rig.base / f"modules-{len(out)}.json"
        run = subprocess.run([argv[0], "-c", RECORD, str(modules), *argv[3:]], env=rig.env, cwd=ROOT,
                             capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if run.returncode != row.code or row.expect not in run.stdout + run.stderr:
            sys.exit(f"{row.name}: recording its modules failed (exit {run.returncode}):\n{run.stdout}{run.stderr}")
        count = len(json.loads(modules.read_text()))
        args = argv[3:]
        out.append(Row(row.name.split(",")[0].split(" (")[0] + ": imports + parsing",
                       lambda args=args, modules=modules: [sys.executable, "-c", PROBE, str(modules), *args],
                       expect=f"probe: {count} modules, 0 missing", target=row.target))
    return out


def run_once(row: Row, env: dict[str, str]) -> tuple[float, float]:
    """Wall clock and CPU time (user + system) of one run of ``row``."""
    argv = row.argv()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    run = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = run.stdout + run.stderr
    if run.returncode != row.code or row.expect not in out:
        sys.exit(f"{row.name}: exit {run.returncode} (expected {row.code}), output does not say "
                 f"{row.expect!r}; not timed:\n{out}")
    return wall, cpu


IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def import_profile(row: Row, env: dict[str, str]) -> tuple[float, int, bool]:
    """Seconds of imports (top-level cumulative sum), modules loaded, and whether tuf was."""
    argv = row.argv()
    run = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], env=env, cwd=ROOT, capture_output=True,
                         text=True, stdin=subprocess.DEVNULL)
    total_us, modules, tuf = 0, 0, False
    for line in run.stderr.splitlines():
        m = IMPORT_LINE.match(line)
        if not m:
            continue
        modules += 1
        tuf = tuf or m.group(4) == "tuf"
        if len(m.group(3)) == 1:  # one space: a top-level import of the process
            total_us += int(m.group(2))
    return total_us / 1e6, modules, tuf


def table(title: str, header: tuple[str, ...], body: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in body:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


def verdicts(rows_: list[Row], tuf: float, tuf_cpu: float) -> list[tuple[str, ...]]:
    body: list[tuple[str, ...]] = []
    for row in rows_:
        med = statistics.median(row.walls)
        if row.target == "status":
            verdict = f"target <= {STATUS_TARGET_S:.2f} s: {'met' if med <= STATUS_TARGET_S else 'NOT met'}"
        elif row.target == "step":
            verdict = f"target <= {STEP_TARGET_RATIO}x: {'met' if med <= STEP_TARGET_RATIO * tuf else 'NOT met'}"
        else:
            verdict = ""
        cpu = statistics.median(row.cpus)
        body.append((row.name, f"{med:.3f}", f"{min(row.walls):.3f}", f"{med / tuf:.2f}x", verdict,
                     f"{cpu:.3f}", f"{cpu / tuf_cpu:.2f}x"))
    return body


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        rig = Rig(Path(tmp))
        measured = rows(rig)
        for row in measured:  # warm the page cache and the .pyc files; untimed
            run_once(row, rig.env)
        probes = probe_rows(rig, measured)
        for row in probes:  # untimed, as above
            run_once(row, rig.env)
        for _ in range(n):
            for row in [*measured, *probes]:
                wall, cpu = run_once(row, rig.env)
                row.walls.append(wall)
                row.cpus.append(cpu)
        loads.append(os.getloadavg()[0])
        profiles = {row.name: import_profile(row, rig.env) for row in measured}

    tuf = statistics.median(measured[1].walls)
    tuf_cpu = statistics.median(measured[1].cpus)
    header = ("command", "wall median", "wall min", "vs tuf", "issue 14", "CPU median", "CPU vs tuf")
    table(f"Start-up, the real command (to the token, or whole), {n} runs per row, round-robin "
          "(seconds; the issue's targets are on the wall clock)", header, verdicts(measured, tuf, tuf_cpu))
    table("Start-up as loading the code: imports + argument parsing to the command's dispatch, no work "
          "(probe processes, same run and tuf row as above)", header,
          verdicts([*measured[:2], *probes], tuf, tuf_cpu))
    cores = os.cpu_count() or 1
    print(f"load average {loads[0]:.1f} before, {loads[1]:.1f} after, on {cores} cores")
    if max(loads) > cores:
        print("WARNING: the machine was busy with other work; the wall-clock verdicts above are not "
              "trustworthy (a slow tuf row makes every ratio look good): read the CPU columns, or run again")
    table("Imports of one run (python -X importtime; reads high, importtime slows imports)",
          ("command", "imports s", "modules", "tuf loaded"),
          [(row.name, f"{profiles[row.name][0]:.3f}", str(profiles[row.name][1]),
            "yes" if profiles[row.name][2] else "no") for row in measured])


if __name__ == "__main__":
    main()
