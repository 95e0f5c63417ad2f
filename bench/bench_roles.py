"""A rehearsal of the DOI-shaped repository against a root-only rehearsal, in one run.

``ceremony rehearse --scenario doi`` bootstraps root 3 of 5, offline targets 2 of 4 and three
terminating delegations (doi 2 of 7, testing 2 of 4, rekor 2 of 4) on throwaway SoftHSM
tokens, signs every role at its threshold (one ``sign`` per keyholder covers every role they
hold) and verifies the delegation tree with python-tuf; ``--scenario bootstrap`` with 5
keyholders and a threshold of 3 is the same ceremony with root alone. Both run in process,
interleaved, N times each; the table gives the median and best wall time of each and their
ratio. What the ratio measures: 7 keygens instead of 5, 14 signatures over 5 payloads instead
of 3 over one, the target files hashed, and the tree walk.

Run: ``.venv/bin/python bench/bench_roles.py [N]`` (default 3).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from ceremony.rehearse import rehearse


def once(scenario: str) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-roles-") as tmp:
        start = time.perf_counter()
        rehearse(Path(tmp) / "ws", keyholders=5, threshold=3, softhsm_dir=Path(tmp) / "hsm",
                 scenario=scenario)
        return time.perf_counter() - start


def main(n: int) -> None:
    times: dict[str, list[float]] = {"bootstrap": [], "doi": []}
    for _ in range(n):
        for scenario in times:
            times[scenario].append(once(scenario))
    base = statistics.median(times["bootstrap"])
    print(f"{'rehearsal':<34}{'median s':>10}{'best s':>10}{'x root-only':>13}")
    for scenario, label in (("bootstrap", "root only (5 keyholders, 3 of 5)"),
                            ("doi", "doi (root, targets, 3 delegations)")):
        med = statistics.median(times[scenario])
        print(f"{label:<34}{med:>10.2f}{min(times[scenario]):>10.2f}{med / base:>13.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
