"""``ceremony compromise``: the emergency response worked out, and a plan written for review.

Thin: the assessment and the plan are :func:`ceremony.flows.emergency.respond` (the TUI's
emergency screen uses the same module); this module parses and prints.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ceremony.cli.common import Add, emit as _emit, open_workspace as _open


def cmd_compromise(args: argparse.Namespace) -> int:
    from ceremony.flows.emergency import respond  # lazy: the flows package (TUI operations)
    c = _open(args)
    a, plan_path = respond(c, keys=args.key, keyholders=args.keyholder, role=args.role,
                           targets=Path(args.targets) if args.targets else None,
                           out=Path(args.out) if args.out else None)
    lines = [*a.lines, "follow-up on the online side:", *[f"  - {f}" for f in a.follow_up]]
    if plan_path is not None:
        lines += [f"emergency plan written to {plan_path} - review it, add the new online keys, then:",
                  f"  ceremony init NEW_WORKSPACE --plan {plan_path} --previous {c.ws.metadata}"]
    else:
        lines.append("no emergency plan was written: the online side's follow-up above is the response")
    _emit(args, lines, {"plan": str(plan_path) if plan_path else None, "compromised_root": a.compromised_root,
                        "replace_online": a.replace_online, "in_band": a.in_band,
                        "new_threshold": a.new_threshold, "follow_up": a.follow_up,
                        "compromised_keys": a.compromised_keyids, "delegated": a.delegated})
    return 0


def add_commands(add: Add) -> None:
    """Register ``compromise``."""
    p = add("compromise", cmd_compromise, "emergency: work out a compromise and write a plan for review")
    p.add_argument("--key", metavar="KEYID", action="append", help="repeat for several keys")
    p.add_argument("--keyholder", metavar="NAME", action="append", help="repeat for several")
    p.add_argument("--role", metavar="ROLE", help="root (every root key), targets, snapshot or timestamp")
    p.add_argument("--targets", metavar="FILE",
                   help="the current targets.json (TUF), to recognise delegation keys given with --key")
    p.add_argument("--out", metavar="DIR")
