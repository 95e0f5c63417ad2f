"""``ceremony script | verify``: the printable script of a ceremony, and a published chain
checked as a client would check it.

Thin: the script is :func:`ceremony.flows.script.write_script` (the TUI's too) over
:mod:`ceremony.script`; the chain walk is :func:`ceremony.chain.verify_published` and its verdict
:func:`ceremony.flows.audit.require_verified`. This
module parses and prints.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ceremony.cli.common import Add, emit as _emit, open_workspace as _open


def cmd_script(args: argparse.Namespace) -> int:
    from ceremony.flows.script import write_script  # lazy: the flows package (TUI operations)
    from ceremony.script import steps  # lazy: the script's views of the journal (status, plan)
    c = _open(args, write=False)  # a reader: the script is a view of the plan and journal
    out = write_script(c, Path(args.out) if args.out else None)
    _emit(args, [f"printable script written to {out}",
                 *[f"{i}. {s.title}: {s.command}" for i, s in enumerate(steps(c), start=1)]],
          {"file": str(out), "steps": [s.__dict__ for s in steps(c)]})
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from ceremony import chain  # lazy: python-tuf (the chain walk)
    from ceremony.flows.audit import require_verified  # lazy: the flows package (TUI operations)
    from ceremony.trusted_start import fingerprint_text, parse_instant, root_fingerprint  # lazy: hashlib
    at = parse_instant(args.at) if args.at else None
    published = chain.verify_published(Path(args.trusted), Path(args.metadata_dir),
                                       args.attestation_roots, at=at, check_expiry=False)
    report, trust, attested = published.report, published.trust, published.attested
    newest_fp = root_fingerprint(report.newest_bytes)
    lines = [f"trusted root v{report.trusted_version} ({args.trusted})"]
    if at is not None:
        lines.append(f"judged at {at:%Y-%m-%d %H:%M:%S} UTC")
    lines += [*chain.report_lines(report, at=published.at), *published.folder,
              f"trusted root v{report.trusted_version} fingerprint (read aloud to whoever takes "
              f"this chain on trust): {fingerprint_text(root_fingerprint(report.trusted_bytes))}",
              f"newest root v{report.newest_version} fingerprint: {fingerprint_text(newest_fp)}",
              *chain.attestation_lines(report, attested, trust)]
    _emit(args, lines, {"trusted_version": report.trusted_version, "versions": report.versions,
                        "newest": report.newest_version,
                        "statuses": [s.to_dict() for s in report.statuses],
                        "chain": chain.chain_entries(report, published.at),
                        "folder": published.folder, "expired": published.expired,
                        "at": published.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "newest_fingerprint": newest_fp,
                        "trusted_fingerprint": root_fingerprint(report.trusted_bytes),
                        "attestations": [a.to_dict() for a in attested],
                        "newest_keys": _newest_keys(report)})
    require_verified(published)
    return 0


def _newest_keys(report: Any) -> list[dict[str, Any]]:
    """The newest root's keys with the rule each id follows (``ceremony.keyids``)."""
    from ceremony.formats import tuf as tuf_format  # lazy: python-tuf
    from ceremony.keyids import describe_keys  # lazy: python-tuf, the formats
    return describe_keys(report.newest.signed, tuf_format.key_name)


def add_commands(add: Add) -> None:
    """Register script and verify (in that order)."""
    p = add("script", cmd_script, "write the printable ceremony script for this plan (HTML)")
    p.add_argument("--out", metavar="FILE")
    p = add("verify", cmd_verify, "verify an N.root.json chain from a trusted root", ws=False)
    p.add_argument("--trusted", required=True, metavar="ROOT.json",
                   help="the root you already trust, any N.root.json: the walk starts after it")
    p.add_argument("metadata_dir", metavar="METADATA_DIR")
    p.add_argument("--at", metavar="TIME",
                   help="judge expiry at this instant (ISO 8601 UTC, e.g. 2027-03-01T12:00:00Z) "
                        "instead of now")
    p.add_argument("--attestation-roots", metavar="PEM",
                   help="check YubiKey attestations against these roots instead of the bundled "
                        "Yubico roots (rehearsals and tests)")
