"""CLI commands for the record, the seal, the preflight and the TUI.

``add_commands(sub, add)`` registers them on ``ceremony``'s argparse
subparsers (``add`` is the ``add(name, handler, help_)`` helper from
``ceremony.cli.build_parser``):

    ceremony preflight WORKSPACE [--clock-confirmed]
    ceremony seal WORKSPACE [--pin-file PATH] [--pkcs11-module PATH]
    ceremony record verify WORKSPACE [--allow-unsealed]
    ceremony record report WORKSPACE [--out FILE]
    ceremony record compare LIVE REHEARSAL
    ceremony tui WORKSPACE [--pin-file PATH] [--pkcs11-module PATH] [--plan PLAN.toml [--previous DIR]]
    ceremony tui WORKSPACE --audit
    ceremony tui --draft FILE --keyholder NAME [--trusted ROOT|DIR] [--out SIG] [--pin-file PATH] [--pkcs11-module PATH]

Handlers are thin, like the rest of the CLI: parse, call ``ceremony.preflight``
/ ``ceremony.record`` / the TUI, render. Expected failures propagate as
``CeremonyError``/``HsmError`` to ``ceremony.cli.main``, which prints the
operator sentence and exits with its code.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ceremony.cli.common import (
    Add,
    emit as _emit,
    module as _module,
    pin as _pin,
    refuse_env_pin,
    token_opts as _token_opts,
)
from ceremony.cli.yubikey import touch_prompt as _touch_prompt
from ceremony.errors import EXIT_VERIFY, EXIT_WORKSPACE, CeremonyError, UsageError
from hsm.errors import HsmError

# ---- handlers ---------------------------------------------------------------------


def cmd_preflight(args: argparse.Namespace) -> int:
    """Check the machine, journal the result, refuse a live ceremony that fails."""
    from ceremony import preflight  # lazy: the machine probes (preflight only)
    from ceremony.engine import Ceremony  # lazy: python-tuf, securesystemslib, the formats
    c = Ceremony.open(Path(args.workspace))
    confirmed = args.clock_confirmed or _ask_clock(args)
    try:
        module, error = _module(args, c.plan.pkcs11_module), None
    except HsmError as e:
        module, error = None, e.message
    probes = preflight.Probes(Path(args.sys_root), Path(args.proc_root))
    report = preflight.run_preflight(c, probes, module, error, confirmed)
    try:
        preflight.record_preflight(c, report)
    finally:
        _emit(args, report.lines(), report.to_dict())
    return 0


def _ask_clock(args: argparse.Namespace) -> bool:
    """On a terminal, show the UTC time and ask the operator to confirm it."""
    if getattr(args, "json", False) or not sys.stdin.isatty():
        return False
    from ceremony.preflight import utc_text  # lazy: the machine probes (preflight only)
    now = datetime.now(UTC)
    answer = input(f"The clock says {utc_text(now)}. Does a wall clock showing UTC agree? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def cmd_seal(args: argparse.Namespace) -> int:
    """Seal the journal head with every root signer's token (all present)."""
    from ceremony.engine import Ceremony  # lazy: python-tuf, securesystemslib, the formats
    from ceremony.steps import seal as steps_seal  # lazy: the record and its checks, python-tuf
    c = Ceremony.open(Path(args.workspace))
    rewrite_only = not args.keyholder and c.state.sealed  # the record is written again: no token
    st = steps_seal.rewrite_record(c) if rewrite_only else _seal_with_tokens(args, c)
    lines = [st.describe()]
    if st.done:
        lines.append(f"record written to {c.ws.record}")
    _emit(args, lines, {"seq": st.seq, "head": st.head, "sealed": list(st.sealed),
                        "waiting": list(st.waiting), "done": st.done})
    return 0


def _seal_with_tokens(args: argparse.Namespace, c: Any) -> Any:
    """``seal`` for one keyholder (``--keyholder``) or every token at once; what is refused
    without a token (sealed, out of order, no preflight) is refused before the PKCS#11 module
    is loaded or a PIN file read."""
    from ceremony.steps import seal as steps_seal  # lazy: the record and its checks, python-tuf
    refuse_env_pin(args, c.plan)
    steps_seal.check_seal(c, args.keyholder)
    pin = _pin(args, c.plan)  # live: never CEREMONY_PIN
    module = _module(args, c.plan.pkcs11_module)
    if args.keyholder:
        st = steps_seal.seal_sign(c, args.keyholder, module, pin, on_touch=_touch_prompt)
        return st if st.waiting else steps_seal.seal_finish(c)
    return steps_seal.seal(c, module, pin, on_touch=_touch_prompt)


def cmd_record_verify(args: argparse.Namespace) -> int:
    """Check the journal chain, outputs, transcript and seal, offline."""
    from ceremony import record_check  # lazy: python-tuf, the formats (record verify only)
    v = record_check.check_record(Path(args.workspace), require_seal=not args.allow_unsealed)
    _emit(args, v.lines(), v.to_dict())
    if v.ok:
        return 0
    for p in v.problems:
        print(f"error: {p}", file=sys.stderr)
    return EXIT_WORKSPACE if v.journal_broken else EXIT_VERIFY


def cmd_record_report(args: argparse.Namespace) -> int:
    """Write the transcript and the printable HTML report."""
    from ceremony import record_write  # lazy: the record's views, python-tuf
    from ceremony.workspace import Workspace  # lazy: read by the record commands only
    ws = Workspace(Path(args.workspace))
    ws.check()
    out = Path(args.out) if args.out else None
    paths = record_write.write_record(ws, out)
    _emit(args, [f"wrote {p}" for p in paths], {"files": [str(p) for p in paths]})
    return 0


def cmd_record_compare(args: argparse.Namespace) -> int:
    """Compare a live ceremony's record with a rehearsal of the same plan (exit 3 on a
    difference the rehearsal does not explain)."""
    from ceremony import journal  # lazy: read by the record commands only
    from ceremony.compare import compare  # lazy: as above
    from ceremony.workspace import Workspace  # lazy: as above
    records = []
    for root in (args.live, args.rehearsal):
        ws = Workspace(Path(root))
        ws.check()
        records.append(journal.read(ws.journal))
    result = compare(*records)
    _emit(args, result.lines(), result.to_dict())
    if result.difference is None:
        return 0
    print(f"error: the live ceremony left the rehearsed script: {result.difference.line()}",
          file=sys.stderr)
    return EXIT_VERIFY


def cmd_tui(args: argparse.Namespace) -> int:
    """Open the workspace in the TUI; the PIN comes from a file/env only if one is given."""
    if args.previous is not None and args.plan is None:
        raise UsageError("--previous starts a rotation and needs --plan (a new workspace)")
    if args.draft is not None:
        if not args.keyholder:
            raise UsageError("--draft needs --keyholder NAME: who signs it")
        if args.workspace or args.plan or args.audit:
            raise UsageError("--draft signs a travelling draft; it takes no WORKSPACE, --plan "
                             "or --audit")
    else:
        if args.keyholder or args.out or args.trusted:
            raise UsageError("--keyholder, --trusted and --out go with --draft FILE")
        if not args.workspace:
            raise UsageError("name the WORKSPACE (or sign a travelling draft with --draft FILE "
                             "--keyholder NAME)")
        if args.audit and args.plan is not None:
            raise UsageError("--audit checks an existing workspace; it takes no --plan")
    scripted = None
    if args.pin_file is not None or os.environ.get("CEREMONY_PIN"):
        from ceremony.interaction import pin_provider  # lazy: hsm.pkcs11 (python-pkcs11)
        scripted = pin_provider(args.pin_file, interactive=False, live=_live_plan(args))
    from ceremony.tui.app import make_app  # lazy: Textual, the heaviest dependency (tui only)
    app = make_app(Path(args.workspace or "."), module_path=args.pkcs11_module,
                   pin_provider=scripted, plan=args.plan, previous=args.previous,
                   draft=args.draft, keyholder=args.keyholder, signature_out=args.out,
                   audit=args.audit, trusted=args.trusted)
    code = app.run()
    return int(code or app.exit_code or 0)


def _live_plan(args: argparse.Namespace) -> bool:
    """Whether the TUI opens a live ceremony (its workspace's or ``--plan``'s plan says
    ``rehearsal = false``); False when neither can be read (the TUI then says why)."""
    from ceremony.plan import parse_plan, read_plan_text  # lazy: the plan's checks (tomllib, keys)
    try:
        if args.plan is not None:
            return not parse_plan(read_plan_text(Path(args.plan))).rehearsal
        plan = Path(args.workspace or ".") / "plan.toml"
        if args.workspace and plan.is_file():
            return not parse_plan(read_plan_text(plan)).rehearsal
    except CeremonyError:
        return False
    return False


# ---- registration -------------------------------------------------------------------


def add_commands(sub: Any, add: Add) -> None:
    """Register preflight, seal, record verify/report and tui on ``ceremony``'s subparsers.

    Args:
        sub: the ``_SubParsersAction`` of ``ceremony.cli.build_parser``.
        add: its ``add(name, handler, help_, ws=True)`` helper.
    """
    p = add("preflight", cmd_preflight, "check the air gap, clock, tool digest and tokens; "
            "journal the result")
    p.add_argument("--clock-confirmed", action="store_true",
                   help="the operator has compared the UTC clock with a wall clock")
    p.add_argument("--pkcs11-module", metavar="PATH")
    p.add_argument("--sys-root", default="/sys", help=argparse.SUPPRESS)
    p.add_argument("--proc-root", default="/proc", help=argparse.SUPPRESS)

    p = add("seal", cmd_seal, "sign the journal head with the root keys that signed the root")
    p.add_argument("--keyholder", metavar="NAME", help="seal with this keyholder's token only")
    _token_opts(p)

    p = add("tui", cmd_tui, "walk through the ceremony in a terminal UI", ws=False)
    p.add_argument("workspace", metavar="WORKSPACE", nargs="?")
    _token_opts(p)
    p.add_argument("--plan", metavar="PLAN.toml", type=Path,
                   help="start a new ceremony: WORKSPACE does not exist yet; the plan is "
                        "reviewed on screen, then the workspace is created")
    p.add_argument("--previous", metavar="DIR", type=Path,
                   help="with --plan: the previous root's metadata folder (a rotation)")
    p.add_argument("--audit", action="store_true",
                   help="the auditor's view, read-only: record verify, record report and the "
                        "published chain")
    p.add_argument("--draft", metavar="FILE", type=Path,
                   help="a keyholder elsewhere: review and sign this travelling draft "
                        "(no WORKSPACE)")
    p.add_argument("--keyholder", metavar="NAME", help="with --draft: who signs")
    p.add_argument("--out", metavar="SIG", type=Path,
                   help="with --draft: the signature file (default beside the draft)")
    p.add_argument("--trusted", metavar="ROOT|DIR", type=Path,
                   help="with --draft: your own copy of the current trusted root (or chain "
                        "folder); the changes are shown against it")

    rec = sub.add_parser("record", help="verify the record, or write its printable report",
                         description="The ceremony's record: transcript, seal and report.")
    rsub = rec.add_subparsers(dest="record_command", metavar="ACTION", parser_class=type(rec))
    rsub.required = True
    v = rsub.add_parser("verify", help="check the journal chain and the seal, offline")
    v.add_argument("workspace", metavar="WORKSPACE")
    v.add_argument("--allow-unsealed", action="store_true",
                   help="check a ceremony still under way (no seal yet)")
    v.add_argument("--json", action="store_true", help="machine-readable output")
    v.set_defaults(handler=cmd_record_verify)
    r = rsub.add_parser("report", help="write record/transcript.* and the printable HTML report")
    r.add_argument("workspace", metavar="WORKSPACE")
    r.add_argument("--out", metavar="FILE",
                   help="where to write the HTML (default record/report.html)")
    r.add_argument("--json", action="store_true", help="machine-readable output")
    r.set_defaults(handler=cmd_record_report)
    c = rsub.add_parser("compare", help="compare a live ceremony's record with a rehearsal of "
                        "the same plan: same steps, same order, only the expected differences")
    c.add_argument("live", metavar="LIVE", help="the live ceremony's workspace")
    c.add_argument("rehearsal", metavar="REHEARSAL", help="the rehearsal's workspace")
    c.add_argument("--json", action="store_true", help="machine-readable output")
    c.set_defaults(handler=cmd_record_compare)
