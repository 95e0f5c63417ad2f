"""``ceremony``: the scripted face of the tool. Thin: parse, call the operations, render.

One module per command group, each registering its commands with ``add_commands``:
:mod:`~ceremony.cli.keys` (tokens, init, keygen, draft, sign, status, publish),
:mod:`~ceremony.cli.detached` (export-draft, sign-draft, import-signature),
:mod:`~ceremony.cli.emergency` (compromise), :mod:`~ceremony.cli.transfer` (export, import,
pack), :mod:`~ceremony.cli.views` (script, verify), :mod:`~ceremony.cli.rehearse`,
:mod:`~ceremony.cli.record` (preflight, seal, record, tui), :mod:`~ceremony.cli.notary`,
:mod:`~ceremony.cli.yubikey`, :mod:`~ceremony.cli.witness`, :mod:`~ceremony.cli.backup`.
The work is in :mod:`ceremony.flows` (shared with the TUI), the engine's steps, and
:mod:`ceremony.online.notary_ops`.

Every expected failure is a ``CeremonyError`` or ``HsmError`` and ends as one
``error:`` line (plus a ``hint:``) and its exit code, never a traceback: this module's
``main`` is the one place that mapping is made. Heavy modules (python-tuf, python-pkcs11,
Textual) are imported inside the commands so ``ceremony --help`` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn, cast

from ceremony import __version__
from ceremony.cli.common import Handler
from ceremony.errors import EXIT_BROKEN_PIPE, EXIT_INTERNAL, EXIT_USAGE, CeremonyError, UsageError
from hsm.errors import HsmError

if TYPE_CHECKING:  # the command groups, each loaded by _group() when its command runs
    from ceremony.cli import (  # noqa: F401 - the package's real dependencies, named
        audit,
        backup,
        detached,
        emergency,
        keys,
        notary,
        record,
        rehearse,
        transfer,
        views,
        witness,
        yubikey,
    )


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad usage; 2 means "plan invalid" here, so use 64."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


# ---- parser --------------------------------------------------------------------

#: The command groups (modules of this package), in the order ``ceremony --help`` lists them;
#: those whose ``add_commands`` also takes the subparsers action (for nested commands).
GROUPS = ("keys", "detached", "emergency", "transfer", "views", "rehearse", "record", "notary",
          "yubikey", "witness", "backup", "audit")
_NESTING = frozenset({"record", "notary", "yubikey", "witness", "backup"})

#: Each command, and the group that registers it (tests/faces/cli/test_cli_parser.py keeps this
#: equal to what the groups register).
COMMANDS: dict[str, str] = {
    "tokens": "keys", "init": "keys", "keygen": "keys", "draft": "keys", "sign": "keys",
    "status": "keys", "publish": "keys",
    "export-draft": "detached", "sign-draft": "detached", "import-signature": "detached",
    "compromise": "emergency",
    "export": "transfer", "import": "transfer", "pack": "transfer",
    "script": "views", "verify": "views",
    "rehearse": "rehearse",
    "preflight": "record", "seal": "record", "tui": "record", "record": "record",
    "notary": "notary", "yubikey": "yubikey", "witness": "witness",
    "backup": "backup", "restore": "backup",
    "audit": "audit",
}


class _Retry(Exception):
    """A parse with one command group found something to complain about: the full tree says it."""


class _TrialParser(_Parser):
    """The parser of one command group: any error is said by the full tree instead, so that
    every usage error reads exactly as it always has."""

    def error(self, message: str) -> NoReturn:
        raise _Retry(message)


def _group(name: str) -> object:
    """The command group module ``ceremony.cli.<name>``."""
    # lazy: each group's own imports (trust-root loaders, YubiKey options, notary): only the command run pays
    return importlib.import_module(f"{__name__}.{name}")


class _NotBuilt:
    """Stands in for the subparser of a command that is not being run: whatever its group adds
    to it (arguments, groups, defaults) is dropped, so only the command run is built."""

    def __getattr__(self, name: str) -> Callable[..., _NotBuilt]:
        return self._drop

    def _drop(self, *_args: object, **_kwargs: object) -> _NotBuilt:
        return self


def build_parser(groups: Sequence[str] = GROUPS, parser_class: type[_Parser] = _Parser,
                 only: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``ceremony``: every command (the default), or only those of ``groups``
    (a command that runs needs its own subparser, not the 26 others: ~20 ms), or of those
    only the command ``only`` (its group's other subparsers are not built: ~5M instructions)."""
    ap = parser_class(prog="ceremony", description="Hardware-backed offline root key ceremonies "
                      "for TUF repositories and Notary v1 collections.")
    ap.add_argument("--version", action="store_true", help="print the tool's version and exit")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", parser_class=parser_class)

    def add(name: str, handler: Handler, help_: str, ws: bool = True) -> argparse.ArgumentParser:
        if only is not None and name != only:
            return cast("argparse.ArgumentParser", _NotBuilt())
        p = sub.add_parser(name, help=help_, description=help_)
        if ws:
            p.add_argument("workspace", metavar="WORKSPACE")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.set_defaults(handler=handler)
        return p

    for name in groups:  # in the order ``ceremony --help`` lists them
        module = _group(name)
        if name in _NESTING:
            module.add_commands(sub, add)  # type: ignore[attr-defined]
        else:
            module.add_commands(add)  # type: ignore[attr-defined]
    return ap


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """``argv`` parsed with the subparser of its command alone when it names one (and asks for
    no help), else with the full tree; output and errors are the full tree's either way.

    Raises:
        SystemExit: ``--help`` (exit 0) or a usage error (exit 64), as argparse does.
    """
    command = next((a for a in argv if not a.startswith("-")), None)
    if command in COMMANDS and not any(a in ("-h", "--help") for a in argv):
        try:
            return build_parser((COMMANDS[command],), _TrialParser, command).parse_args(argv)
        except _Retry:
            pass  # the full tree below reports it, word for word as always
    return build_parser().parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; map expected failures to their exit codes."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    args.qr_size_given = any(a.startswith("--qr-size") for a in argv)
    if args.version:
        return _quiet_on_broken_pipe(lambda: print(f"ceremony {__version__}"))
    if not getattr(args, "handler", None):
        build_parser().print_help()
        return EXIT_USAGE
    from ceremony.lock import Sitting  # lazy: filelock and hsm.pkcs11, not needed by --help
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
        if "CEREMONY_DEBUG" in os.environ:
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
