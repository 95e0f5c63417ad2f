"""``ceremony witness ...``: FIDO2 witnesses enrol, sign off the journal head, and see where they stand.

``add_commands(sub, add)`` registers them on ``ceremony``'s argparse subparsers::

    ceremony witness enroll WORKSPACE --name W [--json]
    ceremony witness sign WORKSPACE --name W [--json]
    ceremony witness status WORKSPACE [--json]

Thin, like the rest of the CLI: the work is in :mod:`ceremony.witness` and
:mod:`hsm.fido`. Touch requests and progress go to stderr, so ``--json`` output
stays clean. The security key is the one USB FIDO2 key plugged in; tests and
rehearsals may name a software authenticator with ``CEREMONY_FIDO_DEVICE``
(see :mod:`ceremony.witness`).
"""

from __future__ import annotations

import argparse
from typing import Any

from ceremony.cli.common import Add, Handler, emit as _emit, open_workspace as _open, say as _say
from ceremony.errors import UsageError
from ceremony.fingerprint import fingerprint_words


def cmd_enroll(args: argparse.Namespace) -> int:
    from ceremony import witness  # lazy: python-fido2, the engine (witness commands only)
    c = _open(args)
    witness.ready_to_enroll(c, args.name)  # refuse before asking for a security key
    device, source = witness.open_device(c.plan)
    cred = witness.enroll(c, args.name, device, source, on_touch=_say)
    st = witness.status(c)
    lines = [f"{args.name} enrolled a security key ({source}, AAGUID {cred.aaguid})",
             f"credential {cred.to_dict()['credential_id']}",
             f"enrolled witnesses: {', '.join(st.enrolled)} ({len(st.enrolled)} of "
             f"{len(st.witnesses)} in the plan; {st.required} must sign off publish and seal)"]
    _emit(args, lines, {"witness": args.name, "credential": cred.to_dict(), "device": source,
                        "status": st.to_dict()})
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    from ceremony import witness  # lazy: python-fido2, the engine (witness commands only)
    c = _open(args)
    target, _cred = witness.ready_to_sign(c, args.name)  # refuse before asking for a security key
    device, _source = witness.open_device(c.plan)
    _say(f"{args.name}: signing off journal line {target.seq} (head words: "
         f"{fingerprint_words(target.hash)})")
    st = witness.sign(c, args.name, device, on_touch=_say)
    lines = [f"{args.name} signed off journal line {st.seq} (head {st.head})", *st.lines()]
    _emit(args, lines, {"witness": args.name, "status": st.to_dict()})
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from ceremony import witness  # lazy: python-fido2, the engine (witness commands only)
    c = _open(args)
    st = witness.status(c)
    _emit(args, st.lines(), st.to_dict())
    return 0


def _need_action(args: argparse.Namespace) -> int:
    raise UsageError("say what to do: ceremony witness enroll|sign|status")


def add_commands(sub: Any, add: Add) -> None:
    """Register ``ceremony witness enroll|sign|status``.

    Args:
        sub: the ``_SubParsersAction`` of ``ceremony.cli.build_parser``.
        add: its ``add(name, handler, help_, ws=True)`` helper.
    """
    w = add("witness", _need_action, "FIDO2 witnesses: enrol a security key, sign off the journal "
            "head (publish and seal need the plan's number of sign-offs)", ws=False)
    wsub = w.add_subparsers(dest="witness_command", metavar="ACTION", parser_class=type(w))

    def action(name: str, handler: Handler, help_: str, named: bool = True) -> None:
        p = wsub.add_parser(name, help=help_, description=help_)
        p.add_argument("workspace", metavar="WORKSPACE")
        if named:
            p.add_argument("--name", required=True, metavar="WITNESS", help="as listed in the plan")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.set_defaults(handler=handler)

    action("enroll", cmd_enroll, "enrol the witness's FIDO2 security key (public data journaled)")
    action("sign", cmd_sign, "sign off the journal head with the witness's security key")
    action("status", cmd_status, "who has signed off the journal head", named=False)
