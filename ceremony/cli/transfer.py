"""``ceremony export | import | pack``: bundles across the air gap, by USB stick or QR codes.

Thin: every bundle is written, read back, journaled (and an interrupted export adopted) by
:mod:`ceremony.flows.export`, and read, verified and taken in by :mod:`ceremony.flows.imports`,
the same functions the TUI's screens call; this module parses and prints.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ceremony.cli.common import Add, emit as _emit, open_session
from ceremony.cli.trust import add_trust_options
from ceremony.errors import UsageError


def cmd_export(args: argparse.Namespace) -> int:
    from ceremony import flows  # lazy: the flows package (TUI operations)
    c = open_session(args, write=True)  # the flows' work needs no engine step
    if args.animate:
        bundle, message = flows.bundle_for_display(c)
        if args.max_frames is None and not sys.stdout.isatty():
            raise UsageError("--animate draws on a terminal and runs until stopped; standard output "
                             "is not a terminal", hint="give --max-frames N, or write PNG frames with --qr DIR")
        size = "auto" if args.qr_size == "medium" and not args.qr_size_given else args.qr_size
        shown = flows.animate_export(c, bundle, message, size=size, max_frames=args.max_frames)
        print(f"showed {shown if shown >= 0 else 'some'} frames; bundle digest {bundle.digest}",
              file=sys.stderr)
        return 0
    if args.usb is not None or not args.qr:
        sent = flows.export_usb_to(c, Path(args.usb) if args.usb else None)
    else:
        sent = flows.export_qr_to(c, Path(args.qr), args.qr_size)
    _emit(args, sent.lines, sent.data)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from ceremony import flows  # lazy: the flows package (TUI operations)
    if bool(args.usb) == bool(args.qr):
        raise UsageError("give exactly one of --usb DIR or --qr FILES...")
    if (args.workspace is None) == (args.out is None):
        raise UsageError("give a WORKSPACE (offline side) or --out DIR (either side), not both")
    received = (flows.receive(flows.IMPORT_USB, [Path(args.usb)]) if args.usb
                else flows.receive(flows.IMPORT_QR, [Path(p) for p in args.qr]))
    bundle = received.bundle
    head = [f"{bundle.manifest.kind} bundle for {bundle.manifest.repository} verified "
            f"({len(bundle.files)} files, digest {bundle.digest[:16]}...)", received.words]
    if args.out is not None:
        arrival, written = flows.import_to_folder(bundle, Path(args.out), args.expect_root)
        lines = head + arrival.notes + [f"wrote {p}" for p in written]
        _emit(args, lines, {"kind": bundle.manifest.kind, "files": [str(p) for p in written],
                            "notes": arrival.notes})
        return 0
    if args.expect_root:
        raise UsageError("--expect-root applies to root metadata imported with --out DIR")
    c = open_session(args, write=True)  # the flows' work needs no engine step
    arrival = flows.import_into(c, bundle)
    _emit(args, head + arrival.notes + c.status().lines(),
          {"kind": bundle.manifest.kind, "notes": arrival.notes})
    return 0


def cmd_pack(args: argparse.Namespace) -> int:
    from ceremony import flows  # lazy: the flows package (TUI operations)
    bundle = flows.pack_files(args.kind, args.repository, args.ceremony_id,
                              [Path(f) for f in args.files])
    sent = flows.send_bundle(bundle, args.usb, args.qr, args.qr_size)
    _emit(args, sent.lines, sent.data)
    return 0


def _transport_out(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--usb", metavar="DIR", nargs="?", const="",
                   help="write a bundle folder into DIR (a USB stick); without DIR, list sticks")
    g.add_argument("--qr", metavar="DIR", help="write QR frames (PNG) and a printable sheet into DIR")
    p.add_argument("--qr-size", choices=["small", "medium", "large"], default="medium",
                   help="small: v14, fits a terminal; medium: v25, phones; large: v40, print")


def add_commands(add: Add) -> None:
    """Register export, import and pack (in that order)."""
    p = add("export", cmd_export, "carry the workspace's signed metadata (or its draft) out: USB or QR")
    _transport_out(p)
    p.add_argument("--animate", action="store_true",
                   help="cycle QR frames (plain, then fountain-coded) in this terminal until Ctrl-C")
    p.add_argument("--max-frames", type=int, metavar="N", help="with --animate: stop after N frames")
    p = add("import", cmd_import, "bring a bundle in (USB or QR), verified before use", ws=False)
    p.add_argument("workspace", metavar="WORKSPACE", nargs="?")
    p.add_argument("--usb", metavar="DIR")
    p.add_argument("--qr", metavar="FILE", nargs="+", help="frame images, folders or a video")
    p.add_argument("--out", metavar="DIR", help="write the verified files into DIR")
    add_trust_options(p, trusted=False)
    p = add("pack", cmd_pack, "bundle files (online keys, trusted metadata, signatures) for the "
            "air gap", ws=False)
    p.add_argument("files", metavar="FILE", nargs="+")
    p.add_argument("--kind", required=True,
                   choices=["online-keys", "trusted-metadata", "signature", "draft", "signed-metadata"])
    p.add_argument("--repository", required=True)
    p.add_argument("--ceremony-id", metavar="ID")
    _transport_out(p)
