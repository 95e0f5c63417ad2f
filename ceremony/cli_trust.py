"""CLI pieces for taking a root chain on trust: ``--trusted``, ``--expect-root``, and the
fingerprint lines ``init --previous`` and ``import --out`` print (see ceremony.trusted_start)."""

from __future__ import annotations

import argparse


def add_trust_options(p: argparse.ArgumentParser, trusted: bool = True) -> None:
    """``--trusted`` (init only) and ``--expect-root`` on a command that takes in a chain."""
    if trusted:
        p.add_argument("--trusted", metavar="ROOT.json",
                       help="the root you already trust (any N.root.json); default: the oldest "
                            "root in the previous chain, taken on trust")
    p.add_argument("--expect-root", metavar="WORDS|HEX",
                   help="refuse the chain unless the root it is trusted from has this "
                        "fingerprint (32 PGP words or 64 hex digits, as `ceremony verify` prints)")


def trusted_root_lines(version: int, fingerprint: str | None, expected: str | None,
                       explicit: bool) -> list[str]:
    """What the room reads about the root a chain was taken from."""
    if not fingerprint:
        return []
    from ceremony.trusted_start import fingerprint_text
    lines = [f"trusted root v{version} fingerprint: {fingerprint_text(fingerprint)}"]
    if expected:
        lines.append("  matches --expect-root")
    elif not explicit:
        lines.append("  trust on first use: compare these words with the ones read aloud by "
                     "whoever holds the repository (or give --expect-root)")
    return lines
