"""``ceremony rehearse``: the whole ceremony on throwaway SoftHSM tokens, no prompts.

Thin: the run is :func:`ceremony.rehearse.rehearse`; progress goes to stderr, the summary to
stdout (or ``--json``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ceremony.cli.common import Add, emit as _emit
from ceremony.formats.registry import DEFAULT, names


def cmd_rehearse(args: argparse.Namespace) -> int:
    from ceremony.rehearse import rehearse  # lazy: the engine, SoftHSM set-up, python-tuf
    result = rehearse(Path(args.workspace), keyholders=args.keyholders, threshold=args.threshold,
                      softhsm_dir=Path(args.softhsm_dir) if args.softhsm_dir else None,
                      algorithm=args.algorithm, scenario=args.scenario, fmt=args.format,
                      log=lambda m: print(m, file=sys.stderr), keep_tokens=args.keep_tokens,
                      online_uri=args.online_uri)
    _emit(args, result.lines(), result.to_dict())
    return 0


def add_commands(add: Add) -> None:
    """Register ``rehearse``."""
    p = add("rehearse", cmd_rehearse, "the whole ceremony on throwaway SoftHSM tokens, no prompts")
    p.add_argument("--keyholders", type=int, default=5, metavar="N")
    p.add_argument("--threshold", type=int, default=3, metavar="M")
    p.add_argument("--algorithm", default="ecdsa-p256")
    p.add_argument("--softhsm-dir", metavar="DIR", help="where to make the throwaway tokens")
    p.add_argument("--keep-tokens", action="store_true",
                   help="keep the throwaway tokens afterwards (removed by default)")
    p.add_argument("--scenario", default="bootstrap",
                   help="bootstrap (default), targets-rotation, root-rotation, emergency-targets, "
                        "emergency-root, doi (a Docker Official Images-shaped repository)")
    p.add_argument("--online-uri", metavar="URI",
                   help="doi only: snapshot and timestamp share one online key named by this "
                        "signer URI (awskms:, gcpkms:, azurekms:, hv:), in a tuf-on-ci plan")
    p.add_argument("--format", default=DEFAULT, choices=list(names()),
                   help="tuf (default) or notary (a Notary v1 collection; bootstrap only)")
