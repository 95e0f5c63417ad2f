"""``ceremony yubikey ...``: list, preflight, provision and attest YubiKeys.

``add_commands(sub, add)`` registers them on ``ceremony``'s argparse
subparsers (``add`` is the ``add(name, handler, help_, ws=True)`` helper of
``ceremony.cli.build_parser``)::

    ceremony yubikey list [--json]
    ceremony yubikey preflight [--serial S] [--json]
    ceremony yubikey provision --serial S [--touch always|cached]
                               [--algorithm ecdsa-p256|ecdsa-p384] [--attestation-roots PEM]
                               [--confirm-serial S] [--new-pin-file F --new-puk-file F] [--json]
    ceremony yubikey attest --serial S [--attestation-roots PEM] [--json]

Thin, like the rest of the CLI: the work is in ``hsm.yubikey``; failures are
``HsmError``s that ``ceremony.cli.main`` turns into one ``error:`` line and an
exit code (4 token, 5 PIN, 3 attestation). Questions are asked here, never in
hsm: the serial is typed (or given with ``--confirm-serial`` in scripts), new
PINs are entered twice without echo (or read from files in scripts). Progress
and touch prompts go to stderr so ``--json`` output stays clean.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ceremony.cli.common import Add, Handler, emit as _emit, say as _say
from ceremony.errors import UsageError
from hsm.errors import PinMissingError

if TYPE_CHECKING:
    from ceremony.session import Session


def _trust(args: argparse.Namespace) -> Any:
    from hsm.yubikey.attestation import TrustStore  # lazy: yubikit, pyscard (YubiKey commands only)
    path = getattr(args, "attestation_roots", None)
    if not path:
        return TrustStore.yubico()
    from ceremony.trust_roots import load_trust_store  # lazy: cryptography x509, only for --attestation-roots
    return load_trust_store(Path(path))


def _verdict_lines(v: Any) -> list[str]:
    lines = [f"attestation: {'VERIFIED' if v.ok else 'FAILED'}",
             f"  slot {v.slot}, serial {v.serial}, firmware {'.'.join(map(str, v.firmware or ()))}, "
             f"PIN {v.pin_policy}, touch {v.touch_policy}, {v.form_factor}",
             "  chain: " + " <- ".join(v.chain)]
    lines += [f"  advisory: {a}" for a in v.advisories]
    lines += [f"  problem: {p}" for p in v.problems]
    return lines


# ---- handlers ---------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    from hsm.yubikey import list_yubikeys  # lazy: yubikit, pyscard (YubiKey commands only)
    keys = list_yubikeys()
    lines = [f"{'SERIAL':<10} {'FIRMWARE':<9} {'FORM FACTOR':<16} READER"]
    lines += [f"{k.serial!s:<10} {k.firmware_str:<9} {k.form_factor:<16} {k.reader}" for k in keys]
    if not keys:
        lines = ["no YubiKey present"]
    _emit(args, lines, [k.to_dict() for k in keys])
    return 0


def cmd_preflight(args: argparse.Namespace) -> int:
    from hsm.yubikey.preflight import preflight  # lazy: yubikit, pyscard (YubiKey commands only)
    r = preflight(args.serial)

    def yn(v: bool | None) -> str:
        return "unknown" if v is None else ("YES" if v else "no")

    total = f" of {r.pin_tries_total}" if r.pin_tries_total else ""
    slot = (f"{r.signature_slot.algorithm}, PIN {r.signature_slot.pin_policy}, touch "
            f"{r.signature_slot.touch_policy}, "
            f"{'generated on the device' if r.signature_slot.generated else 'IMPORTED'}"
            if r.signature_slot else "empty")
    lines = [f"{r.device.describe()} (firmware {r.device.firmware_str}, {r.device.form_factor})",
             f"  PIN tries left: {r.pin_tries_left}{total}; PUK tries left: {r.puk_tries_left}",
             f"  factory PIN: {yn(r.factory_pin)}; factory PUK: {yn(r.factory_puk)}; "
             f"factory management key: {yn(r.factory_management_key)}",
             f"  slot 9c: {slot}"]
    lines += [f"  advisory: {a}" for a in r.advisories]
    lines += [f"  problem: {p}" for p in r.problems]
    lines.append(f"ready for a ceremony: {'yes' if r.ready else 'no'}")
    _emit(args, lines, r.to_dict())
    r.require_ready()
    return 0


def _read_secret_file(path: Path, kind: str) -> str:
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as e:
        raise PinMissingError(f"cannot read the new {kind} from {path}: {e.strerror}") from None


def _ask_twice(kind: str) -> str:
    from hsm.yubikey import NewPinRejectedError  # lazy: yubikit, pyscard (YubiKey commands only)
    if not sys.stdin.isatty():
        raise PinMissingError(f"a new {kind} is needed but no terminal is attached",
                              hint=f"give it with --new-{kind.lower()}-file PATH (scripts and CI only)")
    import getpass  # lazy: termios, only when a new PIN is typed

    first = getpass.getpass(f"new {kind} (6-8 characters): ")
    if getpass.getpass(f"new {kind} again: ") != first:
        raise NewPinRejectedError(f"the two {kind} entries differ; nothing was changed")
    return first


def cmd_provision(args: argparse.Namespace) -> int:
    from hsm.yubikey.attestation import attest  # lazy: yubikit, pyscard (YubiKey commands only)
    from hsm.yubikey.provision import provision  # lazy: as above

    trust = _trust(args)  # fail on unreadable roots before anything is reset
    result = provision(args.serial, _provision_prompts(args),
                       algorithm=args.algorithm, touch=args.touch)
    verdict = attest(args.serial, trust)
    lines = [f"{result.device.describe()}: {result.algorithm} key generated on the device in slot 9c "
             f"(PIN {result.pin_policy}, touch {result.touch_policy})",
             "the management key is random and stored PIN-protected on the device (not on disk)",
             result.public_key_pem().rstrip(), *_verdict_lines(verdict)]
    _emit(args, lines, {"provisioned": result.to_dict(), "attestation": verdict.to_dict()})
    verdict.require()
    return 0


def cmd_attest(args: argparse.Namespace) -> int:
    from hsm.yubikey.attestation import attest  # lazy: yubikit, pyscard (YubiKey commands only)
    verdict = attest(args.serial, _trust(args))
    _emit(args, _verdict_lines(verdict), verdict.to_dict())
    verdict.require()
    return 0


# ---- YubiKey keyholders in ``ceremony keygen`` / ``ceremony sign`` ---------------------


def touch_prompt(message: str) -> None:
    """How the CLI surfaces a YubiKey's touch request (stderr, so ``--json`` stays clean)."""
    _say(f"touch your YubiKey now: {message}")


def add_keygen_options(p: argparse.ArgumentParser) -> None:
    """``ceremony keygen`` options for YubiKey keyholders (``device = "yubikey"`` in the plan)."""
    g = p.add_argument_group("YubiKey keyholders")
    g.add_argument("--provision", action="store_true",
                   help="reset PIV on the keyholder's YubiKey and generate the key now (asks the "
                        "operator to type the serial first); without it, the key already in slot "
                        "9c (from `ceremony yubikey provision`) is adopted")
    g.add_argument("--confirm-serial", type=int, metavar="S",
                   help="with --provision, scripts only: the serial the operator would type")
    g.add_argument("--new-pin-file", type=Path, metavar="PATH",
                   help="with --provision, scripts only: the new PIN")
    g.add_argument("--new-puk-file", type=Path, metavar="PATH",
                   help="with --provision, scripts only: the new PUK")
    g.add_argument("--attestation-roots", metavar="PEM",
                   help="rehearsals only: trust these roots instead of the bundled Yubico roots "
                        "(also CEREMONY_ATTESTATION_ROOTS); recorded in the journal")


def _provision_prompts(args: argparse.Namespace) -> Any:
    from hsm.yubikey.provision import ProvisionPrompts  # lazy: yubikit, pyscard (YubiKey commands only)

    def confirm(device: Any) -> str:
        if args.confirm_serial is not None:
            return str(args.confirm_serial)
        _say(f"This RESETS the PIV application of {device.describe()} (firmware {device.firmware_str}): "
             "every PIV key on it is destroyed.")
        print("Type the serial printed on the YubiKey to go ahead: ", end="", file=sys.stderr, flush=True)
        return sys.stdin.readline().strip()

    def secret(kind: str) -> str:
        path = args.new_pin_file if kind == "PIN" else args.new_puk_file
        return _read_secret_file(path, kind) if path else _ask_twice(kind)

    return ProvisionPrompts(confirm, secret, _say)


def keygen_kwargs(args: argparse.Namespace, c: Session) -> dict[str, Any]:
    """Extra arguments of ``Ceremony.keygen`` for a YubiKey keyholder ({} for any other).

    Raises:
        UsageError: YubiKey options for a keyholder whose token is not a YubiKey.
    """
    holder = c.plan.keyholder(args.keyholder)
    if not holder.is_yubikey:
        if getattr(args, "provision", False):
            raise UsageError(f"{holder.name}'s token is a PKCS#11 token, not a YubiKey: there is "
                             "nothing to provision", hint="run keygen without --provision")
        return {}
    roots = getattr(args, "attestation_roots", None)
    if roots:
        from ceremony.attestation import trust_for  # lazy: python-tuf, cryptography (YubiKey keygen only)
        trust_for(c.plan, roots)  # a bad command line is refused before any step runs
    return {"on_touch": touch_prompt, "attestation_roots": roots,
            "provision": _provision_prompts(args) if getattr(args, "provision", False) else None}


def sign_kwargs(c: Session) -> dict[str, Any]:
    """Extra arguments of ``Ceremony.sign``: the touch prompt, when the plan has YubiKeys."""
    return {"on_touch": touch_prompt} if any(h.is_yubikey for h in c.plan.keyholders) else {}


def keygen_lines(rec: Any) -> list[str] | None:
    """The first line ``ceremony keygen`` prints for a YubiKey key (None for other tokens)."""
    if rec.device != "yubikey" or not rec.attestation:
        return None
    v = rec.attestation.get("verdict", {})
    how = "provisioned now" if rec.attestation.get("mode") == "provision" else "adopted"
    return [f"{rec.keyholder}: {rec.algorithm} key in slot 9c of YubiKey {rec.token_serial} ({how}), "
            f"attested: generated on the device, firmware {v.get('firmware')}, PIN "
            f"{v.get('pin_policy')}, touch {v.get('touch_policy')}",
            *[f"advisory: {a}" for a in v.get("advisories", [])]]


# ---- registration -----------------------------------------------------------------


def add_commands(sub: Any, add: Add) -> None:
    """Register ``ceremony yubikey list|preflight|provision|attest``.

    Args:
        sub: the ``_SubParsersAction`` of ``ceremony.cli.build_parser``.
        add: its ``add(name, handler, help_, ws=True)`` helper.
    """
    yk = add("yubikey", _need_action, "YubiKey PIV: list, preflight, provision, attest", ws=False)
    ysub = yk.add_subparsers(dest="yubikey_command", metavar="ACTION", parser_class=type(yk))

    def action(name: str, handler: Handler, help_: str) -> argparse.ArgumentParser:
        p = ysub.add_parser(name, help=help_, description=help_)
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.set_defaults(handler=handler)
        return p

    def roots(p: argparse.ArgumentParser) -> None:
        p.add_argument("--attestation-roots", metavar="PEM",
                       help="trust these roots (+ intermediates) instead of the bundled Yubico roots")

    action("list", cmd_list, "YubiKeys present: serial, firmware, form factor")
    p = action("preflight", cmd_preflight,
               "firmware advisories, PIN/PUK tries left, factory defaults; spends no PIN try")
    p.add_argument("--serial", type=int, metavar="S", help="which YubiKey (needed when several are present)")
    p = action("provision", cmd_provision,
               "reset PIV and generate the root key on the YubiKey (after the serial is typed)")
    p.add_argument("--serial", type=int, required=True, metavar="S")
    p.add_argument("--touch", choices=("always", "cached"), default="always")
    p.add_argument("--algorithm", choices=("ecdsa-p256", "ecdsa-p384"), default="ecdsa-p256")
    p.add_argument("--confirm-serial", type=int, metavar="S",
                   help="scripts only: the serial the operator would type")
    p.add_argument("--new-pin-file", type=Path, metavar="PATH", help="scripts only: the new PIN")
    p.add_argument("--new-puk-file", type=Path, metavar="PATH", help="scripts only: the new PUK")
    roots(p)
    p = action("attest", cmd_attest, "verify the slot-9c attestation of a YubiKey")
    p.add_argument("--serial", type=int, required=True, metavar="S")
    roots(p)


def _need_action(args: argparse.Namespace) -> int:
    raise UsageError("say what to do: ceremony yubikey list|preflight|provision|attest")
