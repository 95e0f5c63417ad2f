"""Notary tagging-key rotation: the ceremony's offline part vs the notary CLI's ``key rotate``.

Run: ``.venv/bin/python bench/bench_notary.py [--reps N]`` (``make bench`` runs every bench).

One run, same machine, interleaved repetitions:

* **ceremony, offline part** (in-process engine, as a ceremony laptop runs it): ``draft`` +
  M root signatures on SoftHSM (each token logged in afresh, as when keyholders bring their
  tokens one by one) + the byte-exact self-check; the rows also show ``init --previous``
  (verifying the chain and copying it in) and ``publish`` (writing N.root.json, root.json,
  the chain and the sidecar) on their own and as a whole;
* **ceremony, online part**: ``ceremony notary publish`` (fetch the current targets, check it,
  re-sign it with the new tagging key, self-check, ONE multipart upload, read back);
* **notary CLI**: ``notary key rotate GUN targets`` on a CLI-made collection (new key in
  software, root re-signed with the on-disk root key, published), a process per call;
* **ceremony CLI, cold**: the same offline steps as separate ``ceremony`` processes (Python
  start-up included), for reference.

The target is the offline part (draft + M signatures + self-check) at <= 1.0x the notary CLI's
wall time. Absolute numbers move by +-30 % on a shared machine; the ratios are what matter.
Each timed segment starts after a short pause, so neither side pays for the other's
background work on the server.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "support"))

from notary_harness import DEFAULT_PASSPHRASES, start_notary  # noqa: E402

from hsm import softhsm  # noqa: E402

PIN = "bench-pin-1234"
NAMES = ["alice", "bob", "carol", "dave", "erin"]


def _table(title: str, rows: list[tuple[str, ...]], header: tuple[str, ...]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))


def _plan(path: Path, name: str, gun: str, holders: list[str], threshold: int, targets: Path,
          keys: Path) -> Path:
    lines = ["[ceremony]", f'name = "{name}"', 'format = "notary"', f'repository = "{gun}"',
             "rehearsal = true", ""]  # SoftHSM on a networked machine: a rehearsal
    for h in holders:
        lines += ["[[keyholders]]", f'name = "{h}"', f'token = "bench-{h}"', ""]
    lines += ["[roles.root]", "keyholders = [" + ", ".join(f'"{h}"' for h in holders) + "]",
              f"threshold = {threshold}", 'expires = "3650d"', ""]
    for role, key in (("targets", targets), ("snapshot", keys / "snapshot.pub.json"),
                      ("timestamp", keys / "timestamp.pub.json")):
        lines += [f"[roles.{role}]", f'keys = ["{key}"]', "threshold = 1", 'expires = "1095d"',
                  ""]
    path.write_text("\n".join(lines))
    return path


class Series:
    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}

    def add(self, name: str, seconds: float) -> None:
        self.samples.setdefault(name, []).append(seconds)

    def median_ms(self, name: str) -> float:
        return statistics.median(self.samples[name]) * 1000


SETTLE = 0.25


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """Wall time of ``fn()``, started after a short pause: the server and signer finish the
    previous upload's background work (2 CPUs here) before either side is timed."""
    time.sleep(SETTLE)
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--signers", type=int, nargs="*", default=[1, 3])
    args = parser.parse_args()

    from ceremony.engine import Ceremony
    from ceremony.online.notary import NotaryServer
    from ceremony.online.notary_ops import fetch_keys, publish_collection, tagging_key
    from hsm.pkcs11 import get_module, resolve_module_path

    tmp = Path(tempfile.mkdtemp(prefix="bench-notary-"))
    stack = start_notary(tmp / "stack")
    try:
        d = softhsm.create(tmp / "softhsm")
        softhsm.activate(d)
        for name in NAMES[: max(args.signers)]:
            softhsm.init_token(d, f"bench-{name}", PIN)
        module = get_module(resolve_module_path(env={}))
        module.refresh()
        pin = lambda _info=None: PIN  # noqa: E731
        pin_file = tmp / "pin"
        pin_file.write_text(PIN)
        server = NotaryServer(stack.url, stack.ca_file)
        series = Series()

        # The notary CLI's own collection, rotated by `notary key rotate GUN targets`.
        cli_gun = "bench.example.com/notary-cli"
        cli_trust = tmp / "cli-trust"
        stack.notary(cli_trust, "init", cli_gun, "--publish").check()

        chains: dict[int, Path] = {}
        for m in args.signers:
            gun = f"bench.example.com/ceremony-{m}"
            holders = NAMES[:m]
            keys = tmp / f"keys-{m}"
            fetch_keys(server, gun, keys)
            t1 = tagging_key(gun, tmp / f"t-{m}-0.pem")
            ws = tmp / f"ws-{m}-0"
            c = Ceremony.init(ws, _plan(tmp / f"p-{m}-0.toml", f"b{m}", gun, holders, m,
                                        Path(t1["public"]), keys))
            for h in holders:
                c.keygen(h, module, pin)
            c.draft()
            for h in holders:
                c.sign(h, module, pin)
            c.publish()
            publish_collection(ws / "metadata", server, gun, Path(t1["private"]))
            chains[m] = ws / "metadata"

        for rep in range(1, args.reps + 1):
            wall, result = timed(lambda: subprocess.run(
                ["notary", "-s", stack.url, "--tlscacert", str(stack.ca_file), "-d",
                 str(cli_trust), "key", "rotate", cli_gun, "targets"],
                capture_output=True, text=True, check=False,
                env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp),
                     **DEFAULT_PASSPHRASES}))
            assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
            series.add("notary key rotate targets (CLI)", wall)

            for m in args.signers:
                gun = f"bench.example.com/ceremony-{m}"
                holders = NAMES[:m]
                keys = tmp / f"keys-{m}"
                tk = tagging_key(gun, tmp / f"t-{m}-{rep}.pem")
                plan = _plan(tmp / f"p-{m}-{rep}.toml", f"b{m}", gun, holders, m,
                             Path(tk["public"]), keys)
                ws = tmp / f"ws-{m}-{rep}"
                module.close()  # every keyholder logs in to their token
                t_init, c = timed(partial(Ceremony.init, ws, plan, chains[m]))

                def offline_core(c: Ceremony = c, holders: list[str] = holders) -> None:
                    from ceremony.formats.notary_json import assert_reserializes
                    c.draft()
                    for h in holders:
                        c.sign(h, module, pin)
                    assert c.status().verified
                    assert_reserializes(c.draft_metadata().to_bytes())  # type: ignore[attr-defined]

                t_core, _ = timed(offline_core)
                t_pub, _ = timed(c.publish)
                series.add(f"M={m}: draft + {m} sig + self-check", t_core)
                series.add(f"M={m}: init --previous", t_init)
                series.add(f"M={m}: publish (write files)", t_pub)
                series.add(f"M={m}: offline whole (init..publish)", t_init + t_core + t_pub)
                t_up, _ = timed(partial(publish_collection, ws / "metadata", server, gun,
                                                   Path(tk["private"])))
                series.add(f"M={m}: online: notary publish", t_up)
                chains[m] = ws / "metadata"

        # Cold CLI processes (Python start-up in every step), fewer repetitions.
        m = args.signers[0]
        for rep in range(3):
            gun = f"bench.example.com/ceremony-{m}"
            tk = tagging_key(gun, tmp / f"cold-{rep}.pem")
            plan = _plan(tmp / f"cold-{rep}.toml", f"c{m}", gun, NAMES[:m], m,
                         Path(tk["public"]), tmp / f"keys-{m}")
            ws = tmp / f"cold-ws-{rep}"
            steps = [["init", str(ws), "--plan", str(plan), "--previous", str(chains[m])],
                     ["draft", str(ws)],
                     *[["sign", str(ws), "--keyholder", h, "--pin-file", str(pin_file)]
                       for h in NAMES[:m]],
                     ["publish", str(ws)]]
            start = time.perf_counter()
            for step in steps:
                subprocess.run([sys.executable, "-m", "ceremony.cli", *step], check=True,
                               capture_output=True, cwd=ROOT)
            series.add(f"M={m}: ceremony CLI, {len(steps)} cold processes",
                       time.perf_counter() - start)

        base = series.median_ms("notary key rotate targets (CLI)")
        rows = []
        for name in series.samples:
            ms = series.median_ms(name)
            rows.append((name, f"{ms:8.1f}", f"{min(series.samples[name]) * 1000:8.1f}",
                         f"{ms / base:5.2f}x", str(len(series.samples[name]))))
        _table(f"tagging-key rotation, median of {args.reps} (cold CLI: 3), vs `notary key "
               "rotate targets`", rows, ("what", "median ms", "min ms", "vs CLI", "n"))
        worst = max(series.median_ms(f"M={m}: draft + {m} sig + self-check") / base
                    for m in args.signers)
        print(f"\ntarget: offline part (draft + M signatures + self-check) <= 1.0x the notary "
              f"CLI: worst {worst:.2f}x -> {'met' if worst <= 1.0 else 'NOT met'}")
        return 0
    finally:
        module_close = sys.modules.get("hsm.pkcs11")
        if module_close is not None:
            module_close.close_all()  # type: ignore[attr-defined]
        stack.stop()


if __name__ == "__main__":
    raise SystemExit(main())
