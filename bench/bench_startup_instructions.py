"""Start-up as instructions executed: the rows of ``bench_startup.py``, counted by valgrind.

Run: ``.venv/bin/python bench/bench_startup_instructions.py`` (needs ``valgrind``; about 20 s
a row). Why a second table: the wall clock of a shared machine moves by half with its load,
so a cut of a few per cent cannot be seen in ``bench_startup.py``'s figures; the number of
instructions a command executes (callgrind's ``Ir``) does not depend on the load, and on a
quiet machine the wall-clock ratios tracked these closely (issue 14's targets are ratios to
``python -c 'import tuf.api.metadata'``). What it does not count: waiting for the disk and
the kernel's work, which the wall clock includes.

Each row is run once untimed (bytecode compiled, as an installed tool has it), then once under
``valgrind --tool=callgrind``; ``PYTHONHASHSEED=0`` keeps a run's hashing the same.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_startup import Rig, Row, rows, table  # noqa: E402 - the bench folder is put on the path first


def instructions(row: Row, env: dict[str, str]) -> int:
    """The instructions ``row``'s command executes (after one untimed run).

    Raises:
        SystemExit: valgrind printed no count, or the command did not end as the row expects.
    """
    argv = row.argv()
    first = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL)
    if first.returncode != row.code or row.expect not in first.stdout + first.stderr:
        sys.exit(f"{row.name}: exit {first.returncode}, expected {row.code} with {row.expect!r}:\n"
                 f"{first.stdout}{first.stderr}")
    run = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                          *row.argv()], env=env, cwd=ROOT, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL)
    found = re.search(r"Collected : (\d+)", run.stderr)
    if found is None:
        sys.exit(f"{row.name}: valgrind printed no instruction count:\n{run.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="bench-startup-ir-") as tmp:
        rig = Rig(Path(tmp))
        env = {**rig.env, "PYTHONHASHSEED": "0"}
        measured = rows(rig)
        counts = {row.name: instructions(row, env) for row in measured}
        tuf = counts["python -c 'import tuf.api.metadata'"]
        body = []
        for row in measured:
            ratio = counts[row.name] / tuf
            verdict = ""
            if row.target == "step":
                verdict = f"<= 1.3x: {'met' if ratio <= 1.3 else 'NOT met'}"
            body.append((row.name, f"{counts[row.name] / 1e6:.0f}M", f"{ratio:.2f}x", verdict))
        table("Start-up in instructions (callgrind Ir, one run per row)",
              ("command", "instructions", "vs tuf", "issue 14 (steps)"), body)


if __name__ == "__main__":
    main()
