"""CLI pieces for taking a root chain on trust: ``--trusted``, ``--expect-root``, and the
fingerprint lines ``init --previous`` and ``import --out`` print (made by
``ceremony.trusted_start.trusted_root_lines``, re-exported here for the faces)."""

from __future__ import annotations

import argparse

from ceremony.trusted_start import trusted_root_lines as trusted_root_lines


def add_trust_options(p: argparse.ArgumentParser, trusted: bool = True) -> None:
    """``--trusted`` (init only) and ``--expect-root`` on a command that takes in a chain."""
    if trusted:
        p.add_argument("--trusted", metavar="ROOT.json",
                       help="the root you already trust (any N.root.json); default: the oldest "
                            "root in the previous chain, taken on trust")
    p.add_argument("--expect-root", metavar="WORDS|HEX",
                   help="refuse the chain unless the root it is trusted from has this "
                        "fingerprint (32 PGP words or 64 hex digits, as `ceremony verify` prints)")
