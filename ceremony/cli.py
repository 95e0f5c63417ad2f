"""``ceremony``: the scripted face of the tool. Thin: parse, call the engine, render.

Every expected failure is a ``CeremonyError`` or ``HsmError`` and ends as one
``error:`` line (plus a ``hint:``) and its exit code, never a traceback. Heavy
modules (python-tuf, python-pkcs11, Textual) are imported inside the commands
so ``ceremony --help`` starts fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from ceremony.cli_common import emit as _emit, open_workspace as _open
from ceremony.errors import EXIT_INTERNAL, EXIT_USAGE, UsageError

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad usage; 2 means "plan invalid" here, so use 64."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _module(args: argparse.Namespace, plan_module: str | None = None) -> Any:
    from hsm.pkcs11 import get_module, resolve_module_path
    return get_module(resolve_module_path(getattr(args, "pkcs11_module", None), plan_module))


def _pin(args: argparse.Namespace, plan: Any = None) -> Any:
    """The PIN source; a live ``plan`` (not a rehearsal) refuses ``CEREMONY_PIN``."""
    from ceremony.interaction import pin_provider
    live = plan is not None and not plan.rehearsal
    return pin_provider(getattr(args, "pin_file", None), live=live)


# ---- commands ------------------------------------------------------------------


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
    from ceremony.engine import Ceremony
    if (args.trusted or args.expect_root) and not args.previous:
        raise UsageError("--trusted and --expect-root name the start of a --previous chain")
    from ceremony.resume import refuse_finished_init
    refuse_finished_init(Path(args.workspace), Path(args.plan))
    c = Ceremony.init(Path(args.workspace), Path(args.plan),
                      Path(args.previous) if args.previous else None,
                      trusted=Path(args.trusted) if args.trusted else None,
                      expect_root=args.expect_root)
    p = c.plan
    lines = [f"ceremony {p.name!r} ({p.format}, repository {p.repository}) initialised in {args.workspace}",
             f"root: {p.root.threshold} of {len(p.root.keyholders)} ({', '.join(p.root.keyholders)})"]
    prev = c.state.init.get("previous")
    if prev:
        start = prev.get("trusted_version", 1)
        lines.append(f"continues root v{prev['version']} (chain verified from {start}.root.json)")
        from ceremony.cli_trust import trusted_root_lines
        lines += trusted_root_lines(start, prev.get("trusted_sha256"), args.expect_root,
                                    bool(args.trusted))
    if p.rehearsal:
        lines.append("REHEARSAL: recorded as such")
    if p.out_of_band:
        lines.append("OUT-OF-BAND ROOT: clients must be given the new root directly")
    from ceremony.compromise import describe_declared
    declared = describe_declared(c)
    if declared:
        lines.append("declared compromised (never sign, never kept): " + ", ".join(declared))
    for w in c.state.init.get("warnings", []):
        print(f"warning: {w}", file=sys.stderr)
    todo = [k for k in p.root.keyholders if c.needs_key(k)]
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
    from ceremony.cli_yubikey import keygen_kwargs, keygen_lines
    rec = c.keygen(args.keyholder, _module(args, c.plan.pkcs11_module), _pin(args, c.plan),
                   **keygen_kwargs(args, c))
    from ceremony.fingerprint import fingerprint_words
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
    from ceremony.fingerprint import digest_words
    lines = [f"drafted root v{md.signed.version} (digest {c.state.draft_digest})",
             f"digest words (read aloud): {digest_words(c.state.draft_digest)}"]
    lines += c.describe(md)
    lines.append("changes:")
    lines += ["  " + d for d in changes]
    _emit(args, lines, {"version": md.signed.version, "digest": c.state.draft_digest,
                        "digest_words": digest_words(c.state.draft_digest), "changes": changes})
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    c = _open(args)
    c.draft_metadata()
    tokens = c.token_for(args.keyholder)  # refuses a compromised key before any token is asked for
    if tokens:
        print(f"{args.keyholder}: insert {tokens}", file=sys.stderr)
    from ceremony.cli_yubikey import sign_kwargs
    res = c.sign(args.keyholder, _module(args, c.plan.pkcs11_module), _pin(args, c.plan),
                 **sign_kwargs(c))
    _emit(args, [f"{res.keyholder} signed root v{res.status.version} with {res.token}",
                 *res.status.lines()],
          {"keyholder": res.keyholder, "keyids": res.keyids, "status": res.status.to_dict()})
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    c = _open(args, write=False)  # a reader: no lock, changes nothing
    from ceremony.status import ceremony_status
    report = ceremony_status(c)
    _emit(args, report.lines(), report.to_dict())
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    c = _open(args)
    paths = c.publish()
    _emit(args, [f"published root v{c.state.draft['version']}: " + ", ".join(str(p) for p in paths)],
          {"version": c.state.draft["version"], "files": [str(p) for p in paths]})
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from ceremony import chain
    from ceremony.trusted_start import fingerprint_text, parse_instant, root_fingerprint
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
    failed = [a for a in attested if not a.ok]
    if failed:
        from ceremony.errors import VerificationError
        raise VerificationError(
            "the attestation of " + ", ".join(f"{a.name}'s root key" for a in failed)
            + f" does not verify: {failed[0].problems[0]}",
            hint="the key may not have been generated on the YubiKey its metadata names")
    if published.expired:
        raise chain.expired_error(report)
    return 0


def _newest_keys(report: Any) -> list[dict[str, Any]]:
    """The newest root's keys with the rule each id follows (``ceremony.keyids``)."""
    from ceremony.formats import tuf as tuf_format
    from ceremony.keyids import describe_keys
    return describe_keys(report.newest.signed, tuf_format.key_name)


def cmd_rehearse(args: argparse.Namespace) -> int:
    from ceremony.rehearse import rehearse
    result = rehearse(Path(args.workspace), keyholders=args.keyholders, threshold=args.threshold,
                      softhsm_dir=Path(args.softhsm_dir) if args.softhsm_dir else None,
                      algorithm=args.algorithm, scenario=args.scenario, fmt=args.format,
                      log=lambda m: print(m, file=sys.stderr), keep_tokens=args.keep_tokens)
    _emit(args, result.lines(), result.to_dict())
    return 0


def cmd_export_draft(args: argparse.Namespace) -> int:
    from ceremony.detached import export_draft
    c = _open(args)
    out = Path(args.out) if args.out else c.ws.out / f"{c.state.draft['version']}.root.draft.json"
    export_draft(c, out)
    from ceremony.fingerprint import digest_words
    words = digest_words(c.state.draft_digest)
    _emit(args, [f"draft of root v{c.state.draft['version']} written to {out}",
                 f"digest {c.state.draft_digest}", f"digest words (read aloud): {words}",
                 ("read the words to the keyholder over another channel (phone, video); they "
                  "sign with --expect-digest WORDS (and, for a rotation, their own --trusted "
                  "root)")],
          {"file": str(out), "digest": c.state.draft_digest, "digest_words": words})
    return 0


def cmd_sign_draft(args: argparse.Namespace) -> int:
    from ceremony.detached import review_draft, sign_draft
    from ceremony.draft_trust import BRING_WORDS, confirm_digest
    path, trusted = Path(args.file), Path(args.trusted) if args.trusted else None
    review = review_draft(path, args.keyholder, trusted)  # before any PIN prompt or token
    print(f"trusted root: {review.anchor.source}", file=sys.stderr)
    for line in review.changes:
        print("  " + line, file=sys.stderr)
    words = args.expect_digest
    if words is None:
        if not sys.stdin.isatty():
            raise UsageError(f"confirm the draft's digest with --expect-digest WORDS|HEX: "
                             f"{BRING_WORDS}", hint="nothing was signed and no token was touched")
        print("Type the digest words the ceremony read aloud to you (or its hex digest):",
              file=sys.stderr)
        words = sys.stdin.readline()
    confirm_digest(review.draft.digest, words)
    print("digest words match", file=sys.stderr)
    version = review.draft.draft.signed.version
    out = Path(args.out) if args.out else path.with_name(f"{version}.root.sig-{args.keyholder}.json")
    from ceremony.cli_yubikey import touch_prompt
    sign_draft(path, args.keyholder, _module(args), _pin(args), out, on_touch=touch_prompt,
               trusted=trusted, expect_digest=words)
    _emit(args, [f"{args.keyholder} signed root v{version}: {out}"],
          {"file": str(out), "keyholder": args.keyholder, "digest": review.draft.digest,
           "trusted": review.anchor.source})
    return 0


def cmd_import_signature(args: argparse.Namespace) -> int:
    from ceremony.detached import import_signature
    c = _open(args)
    added = import_signature(c, Path(args.file))
    st = c.status()
    _emit(args, [f"imported {len(added)} signature(s) from {args.file}", *st.lines()],
          {"keyids": added, "status": st.to_dict()})
    return 0


def cmd_compromise(args: argparse.Namespace) -> int:
    from ceremony.compromise import assess, current_root, delegations_of, read_targets, write_plan
    c = _open(args)
    root = current_root(c)
    delegations = None
    if args.targets:
        if c.plan.format != "tuf":
            raise UsageError("--targets reads TUF targets metadata; a Notary collection's delegations "
                             "are removed with `notary delegation remove` on the online side")
        path = Path(args.targets)
        delegations = delegations_of(root, read_targets(path), str(path))
    a = assess(root, c.plan, keys=args.key, keyholders=args.keyholder, role=args.role,
               delegations=delegations)
    lines = [*a.lines, "follow-up on the online side:", *[f"  - {f}" for f in a.follow_up]]
    plan_path = None
    if a.needs_root_change:
        out = Path(args.out) if args.out else c.ws.out / "emergency"
        plan_path = write_plan(c, a, out)
        lines += [f"emergency plan written to {plan_path} - review it, add the new online keys, then:",
                  f"  ceremony init NEW_WORKSPACE --plan {plan_path} --previous {c.ws.metadata}"]
    else:
        lines.append("no emergency plan was written: the online side's follow-up above is the response")
    _emit(args, lines, {"plan": str(plan_path) if plan_path else None, "compromised_root": a.compromised_root,
                        "replace_online": a.replace_online, "in_band": a.in_band,
                        "new_threshold": a.new_threshold, "follow_up": a.follow_up,
                        "compromised_keys": a.compromised_keyids, "delegated": a.delegated})
    return 0


def cmd_script(args: argparse.Namespace) -> int:
    from ceremony.script import render_html, steps
    from ceremony.workspace import atomic_write
    c = _open(args, write=False)  # a reader: the script is a view of the plan and journal
    out = Path(args.out) if args.out else c.ws.record / "script.html"
    atomic_write(out, render_html(c).encode())
    _emit(args, [f"printable script written to {out}",
                 *[f"{i}. {s.title}: {s.command}" for i, s in enumerate(steps(c), start=1)]],
          {"file": str(out), "steps": [s.__dict__ for s in steps(c)]})
    return 0


def _send(args: argparse.Namespace, bundle: Any) -> tuple[list[str], dict[str, Any], Path]:
    """Write ``bundle`` to the transport the arguments name."""
    from ceremony.errors import WorkspaceError
    from ceremony.fingerprint import digest_words
    from ceremony.transport import export_qr, export_usb, find_bundles, list_removable_mounts
    if args.usb is not None or not args.qr:
        target = args.usb
        if not target:
            mounts = list_removable_mounts()
            if not mounts:
                raise UsageError("no removable drive is mounted; name the folder with --usb DIR")
            names = "; ".join(f"{m.mountpoint} ({m.device})" for m in mounts)
            raise UsageError(f"choose the stick with --usb DIR; mounted removable drives: {names}")
        existing = find_bundles(Path(target))
        if existing:
            raise WorkspaceError(f"{target} already holds a bundle ({existing[0].name}); "
                                 "a stick carries one bundle at a time",
                                 hint="use a fresh stick or folder; nothing was written")
        path = export_usb(bundle, Path(target))
        lines = [f"{bundle.manifest.kind} bundle written to {path} and read back",
                 f"bundle digest {bundle.digest}", f"read aloud: {digest_words(bundle.digest)}"]
        return lines, {"transport": "usb", "path": str(path), "bundle_sha256": bundle.digest}, path
    out = export_qr(bundle, Path(args.qr), size=args.qr_size)
    lines = [f"{bundle.manifest.kind} bundle as {len(out.frames)} QR frame(s) ({args.qr_size}) in "
             f"{out.directory}", f"printable sheet: {out.sheet}",
             f"message words (read aloud): {out.message_words}"]
    return lines, {"transport": "qr", "frames": [str(f) for f in out.frames], "sheet": str(out.sheet),
                   "message_sha256": out.message_sha256}, out.directory


def _receive(args: argparse.Namespace) -> tuple[Any, str]:
    """The verified bundle, and the words to compare with those its ``export`` read aloud
    (the bundle digest's for a USB bundle, the QR message id's for frames), full length."""
    from ceremony.fingerprint import digest_words
    from ceremony.transport import decode_frames, import_usb
    if args.usb:
        bundle = import_usb(Path(args.usb))
        return bundle, f"bundle words (compare with those read aloud at export): {digest_words(bundle.digest)}"
    result = decode_frames([Path(p) for p in args.qr])
    return result.bundle, ("message words (compare with those read aloud at export): "
                           f"{result.message_words}")


def cmd_export(args: argparse.Namespace) -> int:
    from ceremony.transfer import record_export, workspace_bundle
    c = _open(args)
    bundle = workspace_bundle(c)
    if args.animate:
        from ceremony.transport import animate, bundle_message
        if args.max_frames is None and not sys.stdout.isatty():
            raise UsageError("--animate draws on a terminal and runs until stopped; standard output "
                             "is not a terminal", hint="give --max-frames N, or write PNG frames with --qr DIR")
        size = "auto" if args.qr_size == "medium" and not args.qr_size_given else args.qr_size
        try:
            shown = animate(bundle_message(bundle), size=size, max_frames=args.max_frames)
        except KeyboardInterrupt:
            shown = -1
        record_export(c, bundle, "qr-animated", Path("terminal"))
        print(f"showed {shown if shown >= 0 else 'some'} frames; bundle digest {bundle.digest}",
              file=sys.stderr)
        return 0
    from ceremony.resume import adoptable_qr_frames, adoptable_usb_bundle, usb_export_lines
    adopted = adoptable_usb_bundle(c, bundle, Path(args.usb)) if args.usb else None
    if adopted is None and args.qr and not args.usb:
        frames = adoptable_qr_frames(c, bundle, Path(args.qr))
        adopted = (Path(args.qr), frames) if frames is not None else None
    if adopted is not None:  # written by an export killed before it was journaled
        where, found = adopted
        how = "usb" if args.usb else "qr"
        record_export(c, found, how, where)
        _emit(args, usb_export_lines(found, where),
              {"transport": how, "path": str(where), "bundle_sha256": found.digest})
        return 0
    lines, data, where = _send(args, bundle)
    record_export(c, bundle, data["transport"], where)
    _emit(args, lines, data)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from ceremony.transfer import import_to_dir, import_to_workspace
    if bool(args.usb) == bool(args.qr):
        raise UsageError("give exactly one of --usb DIR or --qr FILES...")
    if (args.workspace is None) == (args.out is None):
        raise UsageError("give a WORKSPACE (offline side) or --out DIR (either side), not both")
    bundle, words = _receive(args)
    head = [f"{bundle.manifest.kind} bundle for {bundle.manifest.repository} verified "
            f"({len(bundle.files)} files, digest {bundle.digest[:16]}...)", words]
    if args.out is not None:
        arrival, written = import_to_dir(bundle, Path(args.out), args.expect_root)
        lines = head + arrival.notes + [f"wrote {p}" for p in written]
        _emit(args, lines, {"kind": bundle.manifest.kind, "files": [str(p) for p in written],
                            "notes": arrival.notes})
        return 0
    if args.expect_root:
        raise UsageError("--expect-root applies to root metadata imported with --out DIR")
    c = _open(args)
    arrival = import_to_workspace(c, bundle)
    _emit(args, head + arrival.notes + c.status().lines(),
          {"kind": bundle.manifest.kind, "notes": arrival.notes})
    return 0


def cmd_pack(args: argparse.Namespace) -> int:
    from ceremony.inputs import read_input_file
    from ceremony.transfer import check_arrival
    from ceremony.transport import Bundle
    from ceremony.transport.bundle import MAX_FILE_BYTES
    files = {}
    for f in args.files:
        p = Path(f)  # a regular file, bounded: never a FIFO that would block
        files[p.name] = read_input_file(p, MAX_FILE_BYTES, error=UsageError,
                                        too_large="larger than any file a bundle carries")
    bundle = Bundle.from_files(args.kind, args.repository, args.ceremony_id or "-", files)
    check_arrival(bundle, None)  # send only what the receiver will accept
    lines, data, _ = _send(args, bundle)
    _emit(args, lines, data)
    return 0


# ---- parser --------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="ceremony", description="Hardware-backed offline root key ceremonies "
                 "for TUF repositories and Notary v1 collections.")
    ap.add_argument("--version", action="store_true", help="print the tool's version and exit")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add(name: str, handler: Handler, help_: str, ws: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        if ws:
            p.add_argument("workspace", metavar="WORKSPACE")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.set_defaults(handler=handler)
        return p

    def token_opts(p: argparse.ArgumentParser) -> None:
        p.add_argument("--pkcs11-module", metavar="PATH", help="PKCS#11 module (overrides plan and env)")
        p.add_argument("--pin-file", metavar="PATH", type=Path,
                       help="read the PIN from this file (else CEREMONY_PIN, else a prompt)")

    p = add("tokens", cmd_tokens, "list tokens with label, serial and PIN state", ws=False)
    p.add_argument("--pkcs11-module", metavar="PATH")
    p = add("init", cmd_init, "start a ceremony in a new workspace from a plan")
    p.add_argument("--plan", required=True, metavar="PLAN.toml")
    p.add_argument("--previous", metavar="METADATA_DIR",
                   help="continue a repository: a folder of its N.root.json chain (any versions), "
                        "or the workspace (or its metadata/) that published the current root")
    from ceremony.cli_trust import add_trust_options
    add_trust_options(p)
    p = add("keygen", cmd_keygen, "generate a keyholder's root key on their token")
    p.add_argument("--keyholder", required=True, metavar="NAME")
    token_opts(p)
    from ceremony.cli_yubikey import add_keygen_options
    add_keygen_options(p)
    add("draft", cmd_draft, "draft the next root version from the plan and the keys")
    p = add("sign", cmd_sign, "add a keyholder's signature to the draft")
    p.add_argument("--keyholder", required=True, metavar="NAME")
    token_opts(p)
    add("status", cmd_status, "thresholds (signed / missing, by keyholder) and expiries")
    add("publish", cmd_publish, "write metadata/N.root.json once every threshold is met")
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
    p = add("compromise", cmd_compromise, "emergency: work out a compromise and write a plan for review")
    p.add_argument("--key", metavar="KEYID", action="append", help="repeat for several keys")
    p.add_argument("--keyholder", metavar="NAME", action="append", help="repeat for several")
    p.add_argument("--role", metavar="ROLE", help="root (every root key), targets, snapshot or timestamp")
    p.add_argument("--targets", metavar="FILE",
                   help="the current targets.json (TUF), to recognise delegation keys given with --key")
    p.add_argument("--out", metavar="DIR")
    def transport_out(p: argparse.ArgumentParser) -> None:
        g = p.add_mutually_exclusive_group()
        g.add_argument("--usb", metavar="DIR", nargs="?", const="",
                       help="write a bundle folder into DIR (a USB stick); without DIR, list sticks")
        g.add_argument("--qr", metavar="DIR", help="write QR frames (PNG) and a printable sheet into DIR")
        p.add_argument("--qr-size", choices=["small", "medium", "large"], default="medium",
                       help="small: v14, fits a terminal; medium: v25, phones; large: v40, print")

    p = add("export", cmd_export, "carry the workspace's signed metadata (or its draft) out: USB or QR")
    transport_out(p)
    p.add_argument("--animate", action="store_true",
                   help="cycle QR frames (plain, then fountain-coded) in this terminal until Ctrl-C")
    p.add_argument("--max-frames", type=int, metavar="N", help="with --animate: stop after N frames")
    p = add("import", cmd_import, "bring a bundle in (USB or QR), verified before use", ws=False)
    p.add_argument("workspace", metavar="WORKSPACE", nargs="?")
    p.add_argument("--usb", metavar="DIR")
    p.add_argument("--qr", metavar="FILE", nargs="+", help="frame images, folders or a video")
    p.add_argument("--out", metavar="DIR", help="write the verified files into DIR")
    from ceremony.cli_trust import add_trust_options
    add_trust_options(p, trusted=False)
    p = add("pack", cmd_pack, "bundle files (online keys, trusted metadata, signatures) for the "
            "air gap", ws=False)
    p.add_argument("files", metavar="FILE", nargs="+")
    p.add_argument("--kind", required=True,
                   choices=["online-keys", "trusted-metadata", "signature", "draft", "signed-metadata"])
    p.add_argument("--repository", required=True)
    p.add_argument("--ceremony-id", metavar="ID")
    transport_out(p)
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
    p = add("rehearse", cmd_rehearse, "the whole ceremony on throwaway SoftHSM tokens, no prompts")
    p.add_argument("--keyholders", type=int, default=5, metavar="N")
    p.add_argument("--threshold", type=int, default=3, metavar="M")
    p.add_argument("--algorithm", default="ecdsa-p256")
    p.add_argument("--softhsm-dir", metavar="DIR", help="where to make the throwaway tokens")
    p.add_argument("--keep-tokens", action="store_true",
                   help="keep the throwaway tokens afterwards (removed by default)")
    p.add_argument("--scenario", default="bootstrap",
                   help="bootstrap (default), targets-rotation, root-rotation, emergency-targets, "
                        "emergency-root")
    p.add_argument("--format", default="tuf", choices=["tuf", "notary"],
                   help="tuf (default) or notary (a Notary v1 collection; bootstrap only)")
    from ceremony.cli_notary import add_commands as add_notary_commands
    from ceremony.cli_record import add_commands as add_record_commands
    from ceremony.cli_yubikey import add_commands as add_yubikey_commands
    add_record_commands(sub, add)
    add_notary_commands(sub, add)
    add_yubikey_commands(sub, add)
    from ceremony.cli_witness import add_commands as add_witness_commands
    add_witness_commands(sub, add)
    from ceremony.cli_backup import add_commands as add_backup_commands
    add_backup_commands(sub, add)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; map expected failures to their exit codes."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.qr_size_given = any(a.startswith("--qr-size") for a in argv)
    if args.version:
        from ceremony import __version__
        return _quiet_on_broken_pipe(lambda: print(f"ceremony {__version__}"))
    if not getattr(args, "handler", None):
        build_parser().print_help()
        return EXIT_USAGE
    from ceremony.errors import CeremonyError
    from ceremony.lock import Sitting
    from hsm.errors import HsmError
    sitting = Sitting(f"ceremony {args.command}")  # releases the workspace lock it took
    try:
        with sitting:
            code = args.handler(args)
            sys.stdout.flush()  # a closed pipe shows here, inside the handling below
            return code
    except BrokenPipeError:
        return _broken_pipe()
    except (CeremonyError, HsmError) as e:
        print(f"error: {e.message}", file=sys.stderr)
        if e.hint:
            print(f"hint: {e.hint}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("error: interrupted; every step already reported as done is in the journal",
              file=sys.stderr)
        return 130
    except UsageError as e:  # pragma: no cover - covered by CeremonyError
        print(f"error: {e.message}", file=sys.stderr)
        return e.exit_code
    except Exception as e:  # noqa: BLE001 - the one place internal errors are caught
        print(f"internal error: {type(e).__name__}: {e}", file=sys.stderr)
        print("hint: this is a bug; the journal holds every completed step", file=sys.stderr)
        if "CEREMONY_DEBUG" in __import__("os").environ:
            raise
        return EXIT_INTERNAL
    finally:
        for note in sitting.notes:
            print(f"warning: {note}", file=sys.stderr)
        if "hsm.pkcs11" in sys.modules:
            sys.modules["hsm.pkcs11"].close_all()  # log out: a command is one sitting


def _broken_pipe() -> int:
    """Standard output's reader went away (``ceremony status WS | head -1``): end quietly.

    The command's work is done; only output nobody reads was dropped. Exit 141 (128 +
    SIGPIPE), as a shell reports for any writer whose reader left; standard output is pointed
    at /dev/null so the interpreter's final flush does not complain either.
    """
    import os

    from ceremony.errors import EXIT_BROKEN_PIPE
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # in-process callers give a StringIO
        pass
    return EXIT_BROKEN_PIPE


def _quiet_on_broken_pipe(write: Callable[[], None]) -> int:
    try:
        write()
        sys.stdout.flush()
    except BrokenPipeError:
        return _broken_pipe()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
