"""``ceremony tokens | init | keygen | draft | sign | status | publish``: the ceremony's own steps.

Thin: each handler parses its arguments, calls the engine's step (or :mod:`ceremony.flows`)
and prints what the room reads. Token and PIN sources come from :mod:`ceremony.cli.common`;
YubiKey options and prompts from :mod:`ceremony.cli.yubikey`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ceremony.cli.common import (
    Add,
    emit as _emit,
    module as _module,
    open_session,
    open_workspace as _open,
    pin as _pin,
    refuse_env_pin,
    token_opts,
)
from ceremony.cli.trust import add_trust_options, trusted_root_lines
from ceremony.cli.yubikey import add_keygen_options, keygen_kwargs, keygen_lines, sign_kwargs
from ceremony.errors import StateError
from ceremony.fingerprint import digest_words, fingerprint_words

if TYPE_CHECKING:
    from ceremony.engine import Ceremony


def cmd_tokens(args: argparse.Namespace) -> int:
    module = _module(args)
    tokens = module.tokens()
    lines = [f"PKCS#11 module: {module.path}",
             f"{'LABEL':<24} {'SERIAL':<18} {'MANUFACTURER':<20} {'MODEL':<16} PIN"]
    lines += [f"{t.label:<24} {t.serial:<18} {t.manufacturer:<20} {t.model:<16} {t.pin_state}"
              for t in tokens]
    if not tokens:
        lines = [lines[0], "no tokens present"]
    _emit(args, lines, {"module": module.path, "tokens": [t.to_dict() for t in tokens]})
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from ceremony.flows.new import init_ceremony  # lazy: python-tuf, the engine and formats
    c, declared, todo = init_ceremony(Path(args.workspace), Path(args.plan),
                                      Path(args.previous) if args.previous else None,
                                      trusted=Path(args.trusted) if args.trusted else None,
                                      expect_root=args.expect_root)
    p = c.plan
    own = c.format.init_lines()  # a format that says its signers itself (x509)
    lines = [f"ceremony {p.name!r} ({p.format}, repository {p.repository}) initialised in {args.workspace}",
             *(own if own is not None else
               [f"root: {p.root.threshold} of {len(p.root.keyholders)} ({', '.join(p.root.keyholders)})"])]
    prev = c.state.init.get("previous")
    if prev and own is None:
        start = prev.get("trusted_version", 1)
        lines.append(f"continues root v{prev['version']} (chain verified from {start}.root.json)")
        lines += trusted_root_lines(start, prev.get("trusted_sha256"), args.expect_root,
                                    bool(args.trusted))
    if p.rehearsal:
        lines.append("REHEARSAL: recorded as such")
    if p.out_of_band:
        lines.append("OUT-OF-BAND ROOT: clients must be given the new root directly")
    if declared:
        lines.append("declared compromised (never sign, never kept): " + ", ".join(declared))
    for w in c.state.init.get("warnings", []):
        print(f"warning: {w}", file=sys.stderr)
    if todo:
        lines.append("next: ceremony keygen WORKSPACE --keyholder NAME for " + ", ".join(todo))
    _emit(args, lines, {"workspace": args.workspace, "ceremony_id": c.state.init["ceremony_id"],
                        "needs_keygen": todo,
                        "trusted_root": {"version": prev.get("trusted_version", 1),
                                         "fingerprint": prev.get("trusted_sha256")}
                        if prev else None})
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    c = _open(args)
    from ceremony.steps.keygen import check_keygen  # lazy: ctypes, PIN audit, attestation (~8 ms), keygen only
    refuse_env_pin(args, c.plan)
    kwargs = keygen_kwargs(args, c)  # the command line's own refusals (usage) first
    check_keygen(c, args.keyholder)  # a refusal known without the token comes before it is opened
    rec = c.keygen(args.keyholder, _module(args, c.plan.pkcs11_module), _pin(args, c.plan),
                   **kwargs)
    words = fingerprint_words(rec.keyid)
    head = keygen_lines(rec) or [f"{rec.keyholder}: {rec.algorithm} key generated on token "
                                 f"{rec.token_label!r} (serial {rec.token_serial})"]
    _emit(args, [*head, f"key id {rec.keyid}", f"read aloud: {words}"],
          {"keyholder": rec.keyholder, "keyid": rec.keyid, "algorithm": rec.algorithm,
           "token_label": rec.token_label, "token_serial": rec.token_serial, "uri": rec.uri,
           "device": rec.device, "attestation": rec.attestation})
    return 0


def cmd_draft(args: argparse.Namespace) -> int:
    c = _open(args)
    md = c.draft()
    changes = c.changes(md)
    _version, digest = _drafted(c)
    lines = [f"drafted root v{md.signed.version} (digest {digest})",
             f"digest words (read aloud): {digest_words(digest)}"]
    lines += c.describe(md)
    lines.append("changes:")
    lines += ["  " + d for d in changes]
    _emit(args, lines, {"version": md.signed.version, "digest": digest,
                        "digest_words": digest_words(digest), "changes": changes})
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    c = _open(args)
    c.draft_metadata()
    from ceremony.steps.sign import check_sign  # lazy: the sign step, not needed by status
    refuse_env_pin(args, c.plan)
    check_sign(c, args.keyholder)  # a refusal known without the token comes before it is opened
    tokens = c.token_for(args.keyholder)  # refuses a compromised key before any token is asked for
    if tokens:
        print(f"{args.keyholder}: insert {tokens}", file=sys.stderr)
    res = c.sign(args.keyholder, _module(args, c.plan.pkcs11_module), _pin(args, c.plan),
                 **sign_kwargs(c))
    what = f"root v{res.status.version}" if res.roles in ([], ["root"]) else \
        f"{', '.join(res.roles)} (draft of root v{res.status.version})"
    _emit(args, [f"{res.keyholder} signed {what} with {res.token}", *res.status.lines()],
          {"keyholder": res.keyholder, "keyids": res.keyids, "roles": res.roles,
           "status": res.status.to_dict()})
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    c = open_session(args)  # a reader: no lock, changes nothing, runs no step
    from ceremony.status import ceremony_status  # lazy: python-tuf, the formats (status only)
    report = ceremony_status(c)
    _emit(args, report.lines(), report.to_dict())
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    c = _open(args)
    paths = c.publish()
    version, _digest = _drafted(c)
    _emit(args, [f"published root v{version}: " + ", ".join(str(p) for p in paths)],
          {"version": version, "files": [str(p) for p in paths]})
    return 0


def _drafted(c: Ceremony) -> tuple[int, str]:
    """The journaled draft's version and digest (after ``draft`` or ``publish`` there is one).

    Raises:
        StateError: nothing drafted (the engine's steps refuse that first).
    """
    draft, digest = c.state.draft, c.state.draft_digest
    if draft is None or digest is None:
        raise StateError("nothing is drafted yet", hint="run `ceremony draft WORKSPACE` first")
    return int(draft["version"]), digest


def add_commands(add: Add) -> None:
    """Register tokens, init, keygen, draft, sign, status and publish (in that order)."""
    p = add("tokens", cmd_tokens, "list tokens with label, serial and PIN state", ws=False)
    p.add_argument("--pkcs11-module", metavar="PATH")
    p = add("init", cmd_init, "start a ceremony in a new workspace from a plan")
    p.add_argument("--plan", required=True, metavar="PLAN.toml")
    p.add_argument("--previous", metavar="METADATA_DIR",
                   help="continue a repository: a folder of its N.root.json chain (any versions), "
                        "or the workspace (or its metadata/) that published the current root")
    add_trust_options(p)
    p = add("keygen", cmd_keygen, "generate a keyholder's root key on their token")
    p.add_argument("--keyholder", required=True, metavar="NAME")
    token_opts(p)
    add_keygen_options(p)
    add("draft", cmd_draft, "draft the next root version from the plan and the keys")
    p = add("sign", cmd_sign, "add a keyholder's signature to the draft")
    p.add_argument("--keyholder", required=True, metavar="NAME")
    token_opts(p)
    add("status", cmd_status, "thresholds (signed / missing, by keyholder) and expiries")
    add("publish", cmd_publish, "write metadata/N.root.json once every threshold is met")
