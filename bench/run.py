"""Run every benchmark under bench/ (files named bench_*.py), one after another.

``make bench`` calls this; each benchmark prints its own table.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
failed = []
for script in sorted(here.glob("bench_*.py")):
    print(f"\n=== {script.name}", flush=True)
    if subprocess.run([sys.executable, str(script)]).returncode != 0:
        failed.append(script.name)
if failed:
    print("failed: " + ", ".join(failed), file=sys.stderr)
    sys.exit(1)
