"""``ceremony export-draft | sign-draft | import-signature``: a keyholder who signs elsewhere.

Thin: the draft file is written by :func:`ceremony.flows.export.export_draft_file`, a
signature comes back in through :func:`ceremony.flows.imports.import_signature_file`; the
keyholder's side (``sign-draft``) reviews the draft against their own trusted root before any
PIN prompt or token, and signs, through :mod:`ceremony.flows.remote` (the TUI's ``--draft``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ceremony.cli.common import Add, emit as _emit, module as _module, open_session, pin as _pin, token_opts
from ceremony.cli.yubikey import touch_prompt
from ceremony.errors import UsageError


def cmd_export_draft(args: argparse.Namespace) -> int:
    from ceremony.flows.export import export_draft_file  # lazy: the flows package (TUI operations)
    c = open_session(args, write=True)  # the flows' work needs no engine step
    sent = export_draft_file(c, Path(args.out) if args.out else None)
    _emit(args, [*sent.lines,
                 ("read the words to the keyholder over another channel (phone, video); they "
                  "sign with --expect-digest WORDS (and, for a rotation, their own --trusted "
                  "root)")],
          sent.data)
    return 0


def cmd_sign_draft(args: argparse.Namespace) -> int:
    from ceremony.draft_trust import BRING_WORDS  # lazy: hashlib, dataclasses (not needed by --help)
    from ceremony.flows.remote import confirm_words, remote_draft, sign_remote  # lazy: the flows package
    trusted = Path(args.trusted) if args.trusted else None
    # Reviewed against the keyholder's own trusted root before any PIN prompt or token.
    rd = remote_draft(Path(args.file), args.keyholder, Path(args.out) if args.out else None, trusted)
    print(f"trusted root: {rd.anchor}", file=sys.stderr)
    for line in rd.changes:
        print("  " + line, file=sys.stderr)
    words = args.expect_digest
    if words is None:
        if not sys.stdin.isatty():
            raise UsageError(f"confirm the draft's digest with --expect-digest WORDS|HEX: "
                             f"{BRING_WORDS}", hint="nothing was signed and no token was touched")
        print("Type the digest words the ceremony read aloud to you (or its hex digest):",
              file=sys.stderr)
        words = sys.stdin.readline()
    confirm_words(rd, words)
    print("digest words match", file=sys.stderr)
    out = sign_remote(rd, _module(args), _pin(args), words, on_touch=touch_prompt)
    _emit(args, [f"{args.keyholder} signed root v{rd.version}: {out}"],
          {"file": str(out), "keyholder": args.keyholder, "digest": rd.digest,
           "trusted": rd.anchor})
    return 0


def cmd_import_signature(args: argparse.Namespace) -> int:
    from ceremony.flows.imports import import_signature_file  # lazy: the flows package (TUI operations)
    c = open_session(args, write=True)  # the flows' work needs no engine step
    added = import_signature_file(c, Path(args.file))
    st = c.status()
    _emit(args, [f"imported {len(added)} signature(s) from {args.file}", *st.lines()],
          {"keyids": added, "status": st.to_dict()})
    return 0


def add_commands(add: Add) -> None:
    """Register export-draft, sign-draft and import-signature (in that order)."""
    p = add("export-draft", cmd_export_draft, "write the draft as a file that can travel to a keyholder")
    p.add_argument("--out", metavar="FILE")
    p = add("sign-draft", cmd_sign_draft, "sign a travelling draft file; writes a detached signature",
            ws=False)
    p.add_argument("file", metavar="FILE")
    p.add_argument("--keyholder", required=True, metavar="NAME")
    p.add_argument("--out", metavar="FILE")
    p.add_argument("--trusted", metavar="ROOT.json|DIR",
                   help="your own copy of the current trusted root (or chain folder); the "
                        "changes are shown against it (not needed for a first root v1)")
    p.add_argument("--expect-digest", metavar="WORDS|HEX",
                   help="the digest words (or hex) the ceremony read aloud to you; without "
                        "it, asked for on a terminal")
    token_opts(p)
    p = add("import-signature", cmd_import_signature, "take a detached signature into the workspace")
    p.add_argument("file", metavar="FILE")
