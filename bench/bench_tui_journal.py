"""Benchmarks: TUI launch, journal append with fsync, replay of a 10 000-event journal.

    .venv/bin/python bench/bench_tui_journal.py [--runs N] [--dir DIR]

Prints one table. Targets (issue 4): TUI launch to first interactive screen
<= 1.0 s; replay of a 10 000-event journal <= 0.5 s. The TUI is timed as a
person sees it: the real ``ceremony tui`` process on an 80x24 pseudo-terminal,
from spawn to the first screen that answers keys ("Opening ...") and to the
plan review ("Press enter to continue."). The journal is the real one
(``ceremony.journal``), on the file system given by ``--dir``.

The replay's chain check hashes each line's own bytes (ceremony.journal.canonical_from_line);
the bench first proves those bytes equal the canonical encoding.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import pty
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# ---- TUI launch -------------------------------------------------------------------------------


def make_workspace(base: Path) -> Path:
    """A rehearsal workspace whose online keys are made in software (no token needed)."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from ceremony.engine import Ceremony
    from ceremony.rehearse import write_plan
    online = base / "online"
    online.mkdir(parents=True)
    for role in ("targets", "snapshot", "timestamp"):
        pub = ec.generate_private_key(ec.SECP256R1()).public_key()
        (online / f"{role}.pub.pem").write_bytes(
            pub.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    write_plan(base / "plan.toml", "bench", ["alice", "bob", "carol"], 2, "ecdsa-p256", online)
    return Ceremony.init(base / "ws", base / "plan.toml").ws.root


def tui_command(ws: Path) -> list[str]:
    return [str(Path(sys.executable).parent / "ceremony"), "tui", str(ws)]


def launch_once(cmd: list[str]) -> tuple[float, float]:
    """Seconds from spawn to the first screen, and to the plan review, on an 80x24 pty."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = dict(os.environ, TERM="xterm-256color", PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    buf, first = b"", None
    try:
        while b"Press enter to continue" not in buf:
            ready, _, _ = select.select([master], [], [], 10)
            if not ready:
                raise RuntimeError(f"the TUI showed nothing useful: {buf[-300:]!r}")
            buf += os.read(master, 65536)
            if first is None and (b"Opening" in buf or b"Press enter" in buf):
                first = time.perf_counter() - start
        plan = time.perf_counter() - start
    finally:
        proc.kill()
        proc.wait()
        os.close(master)
    return first or plan, plan


# ---- journal ------------------------------------------------------------------------------


def event_data(i: int) -> tuple[str, dict[str, Any]]:
    """Realistic event bodies (sizes as in a real ceremony), cycling through kinds."""
    h = hashlib.sha256(str(i).encode()).hexdigest()
    kind = i % 4
    if kind == 0:
        return "signature-added", {"keyholder": "alice", "keyid": h, "sig": (h * 3)[:142],
                                   "draft": h, "token_serial": "0123456789abcdef"}
    if kind == 1:  # with what canonical JSON writes raw: control, non-ASCII, astral characters
        odd = " C:\\new\\u0041 \\o/" if i % 100 == 1 else ""  # rare literal backslashes
        return "confirmed", {"what": "draft-approved", "by": "Zoë Ødegård",
                             "text": f"root v1\tapproved — ✓ 😀\nby the room \"as read\"{odd}",
                             "digest": h}
    if kind == 2:  # a public key as PEM: newlines in every key event
        pem = ("-----BEGIN PUBLIC KEY-----\n" + h[:64] + "\n" + h[:24] + "==\n"
               "-----END PUBLIC KEY-----\n")
        return "key-generated", {"keyholder": f"k{i}", "keyid": h, "algorithm": "ecdsa-p256",
                                 "key": {"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256",
                                         "keyval": {"public": pem}},
                                 "token_label": f"tok-{i}", "token_serial": h[:16],
                                 "key_id_hex": h[:32], "uri": f"pkcs11:token=tok-{i};id=%01"}
    return "preflight", {"passed": True, "clock": "2031-01-01T00:00:00Z",
                         "findings": [{"check": "network", "status": "ok",
                                       "message": "no network interface up besides loopback"}],
                         "tool": {"version": "0.1.0", "sha256": h, "file_count": 70},
                         "host": {"hostname": "ceremony-laptop", "boot_id": h[:36]}}


def bench_append(directory: Path, n: int) -> list[float]:
    from ceremony.journal import Journal
    j = Journal.create(directory / "append.jsonl")
    j.append("initialized", {"ceremony_id": "bench"})
    times = []
    for i in range(n):
        t, d = event_data(i)
        start = time.perf_counter()
        j.append(t, d)
        times.append(time.perf_counter() - start)
    return times


def write_journal(path: Path, n: int) -> None:
    """A valid n-event journal, written directly (appending 10 000 fsyncs takes a while)."""
    from securesystemslib.formats import encode_canonical
    prev, lines = "0" * 64, []
    for i in range(n):
        pem = ("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n"
               "-----END PUBLIC KEY-----\n")
        t, d = (("initialized", {"ceremony_id": "bench", "online_keys": {"targets": [
            {"keyval": {"public": pem}}]}}) if i == 0 else event_data(i))
        body = {"seq": i + 1, "time": "2031-01-01T00:00:00Z", "type": t, "data": d, "prev": prev}
        prev = hashlib.sha256(encode_canonical(body).encode()).hexdigest()
        lines.append(json.dumps({**body, "hash": prev}, sort_keys=True, separators=(",", ":")))
    path.write_text("\n".join(lines) + "\n")


def bench_replay(path: Path, runs: int) -> dict[str, list[float]]:
    from ceremony.journal import Journal
    from ceremony.state import replay
    out: dict[str, list[float]] = {"read": [], "fold": [], "total": []}
    for _ in range(runs):
        start = time.perf_counter()
        j = Journal.open(path)
        mid = time.perf_counter()
        replay(j.events)
        end = time.perf_counter()
        out["read"].append(mid - start)
        out["fold"].append(end - mid)
        out["total"].append(end - start)
    # The chain check hashes each line's own bytes: prove those are the canonical bytes.
    from securesystemslib.formats import encode_canonical

    from ceremony.journal import canonical_from_line
    for line in path.read_bytes().splitlines():
        obj = json.loads(line)
        body = {k: obj[k] for k in ("seq", "time", "type", "data", "prev")}
        assert canonical_from_line(line) == encode_canonical(body).encode()
    return out


# ---- table --------------------------------------------------------------------------------------


def row(name: str, values: list[float], unit: str, scale: float, target: float | None) -> str:
    med = statistics.median(values) * scale
    lo, hi = min(values) * scale, max(values) * scale
    verdict = "" if target is None else ("PASS" if med <= target else "FAIL")
    tgt = "" if target is None else f"<= {target:g} {unit}"
    return (f"| {name:<46} | {med:>9.3f} | {lo:>9.3f} | {hi:>9.3f} | {unit:<4} | {tgt:<10} "
            f"| {verdict:<4} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--appends", type=int, default=200)
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--dir", type=Path, default=None, help="where the journals go (fsync matters)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="bench-ceremony-", dir=args.dir))

    ws = make_workspace(base / "tui")
    cmd = tui_command(ws)
    launch_once(cmd)  # warm the page cache and byte-code, as a second launch would be
    launches = [launch_once(cmd) for _ in range(args.runs)]
    appends = bench_append(base, args.appends)
    path = base / "replay.jsonl"
    write_journal(path, args.events)
    replays = bench_replay(path, args.runs)

    head = (f"| {'benchmark':<46} | {'median':>9} | {'min':>9} | {'max':>9} | unit | "
            f"{'target':<10} | ok   |")
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; journals in {base}")
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    print(row("TUI launch -> first interactive screen", [a for a, _ in launches], "s", 1, 1.0))
    print(row("TUI launch -> plan review shown", [b for _, b in launches], "s", 1, None))
    print(row(f"journal append + fsync (per event, n={args.appends})", appends, "ms", 1000, None))
    print(row(f"replay {args.events} events: read + verify chain", replays["read"], "s", 1, None))
    print(row(f"replay {args.events} events: fold into State", replays["fold"], "s", 1, None))
    print(row(f"replay {args.events} events: total", replays["total"], "s", 1, 0.5))
    p95 = sorted(appends)[int(len(appends) * 0.95) - 1] * 1000
    print(f"journal append p95 {p95:.3f} ms; {len(appends) / sum(appends):.0f} events/s")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
