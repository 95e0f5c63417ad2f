"""Small helpers every CLI module shares: output, stderr notes, opening a workspace, the token
options and where the PKCS#11 module and the PIN come from.

Kept apart from :mod:`ceremony.cli` so the command groups (keys, transfer, record, notary,
yubikey, witness, ...) can use them without importing the main parser. Light on purpose:
everything here is imported by ``ceremony --help``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ceremony.engine import Ceremony
    from ceremony.plan import Plan
    from ceremony.session import Session
    from hsm.pkcs11 import Module, PinProvider

Handler = Callable[[argparse.Namespace], int]
#: ``build_parser``'s ``add(name, handler, help_, ws=True)``: registers one command.
Add = Callable[..., argparse.ArgumentParser]


def emit(args: argparse.Namespace, text: str | list[str], data: Any) -> None:
    """Print ``data`` as JSON with ``--json``, else the human lines."""
    if getattr(args, "json", False):
        print(json.dumps(data, indent=1, sort_keys=True))
    else:
        print(text if isinstance(text, str) else "\n".join(text))


def say(message: str) -> None:
    """A note for the operator on stderr (keeps ``--json`` stdout clean)."""
    print(message, file=sys.stderr, flush=True)


def open_workspace(args: argparse.Namespace, write: bool = True) -> Ceremony:
    """The ceremony in ``args.workspace`` (its journal and plan checked); to change it
    (``write``), held by this process for the command (see :mod:`ceremony.lock`)."""
    from ceremony.engine import Ceremony  # lazy: python-tuf, securesystemslib, the formats
    return Ceremony.open(Path(args.workspace), write=write)


def open_session(args: argparse.Namespace, write: bool = False) -> Session:
    """The ceremony in ``args.workspace`` (its journal and plan checked) as a session alone,
    without the engine's steps: for the views (``status``, no lock) and the commands whose work
    is in ``ceremony.flows`` (``export``, ``import``, ...: ``write``, held as
    :func:`open_workspace` holds it)."""
    from ceremony.session import Session  # lazy: python-tuf and the formats; not the steps (token key lookup, x509)
    return Session.open(Path(args.workspace), write=write)


def token_opts(p: argparse.ArgumentParser) -> None:
    """``--pkcs11-module`` and ``--pin-file`` on a command that uses a token."""
    p.add_argument("--pkcs11-module", metavar="PATH", help="PKCS#11 module (overrides plan and env)")
    p.add_argument("--pin-file", metavar="PATH", type=Path,
                   help="read the PIN from this file (else CEREMONY_PIN, else a prompt)")


def module(args: argparse.Namespace, plan_module: str | None = None) -> Module:
    """The PKCS#11 module: ``--pkcs11-module``, else the plan's, else the environment's.

    Raises:
        HsmError: the module cannot be found or loaded.
    """
    from hsm.pkcs11 import get_module, resolve_module_path  # lazy: python-pkcs11
    return get_module(resolve_module_path(getattr(args, "pkcs11_module", None), plan_module))


def pin(args: argparse.Namespace, plan: Plan | None = None) -> PinProvider:
    """The PIN source; a live ``plan`` (not a rehearsal) refuses ``CEREMONY_PIN``."""
    from ceremony.interaction import pin_provider  # lazy: hsm.pkcs11 (python-pkcs11)
    live = plan is not None and not plan.rehearsal
    return pin_provider(getattr(args, "pin_file", None), live=live)


def refuse_env_pin(args: argparse.Namespace, plan: Plan) -> None:
    """Refuse ``CEREMONY_PIN`` for a live ``plan`` now, reading no PIN: a usage error comes
    before the step's own refusals, and those before the PIN file is read (:func:`pin`).

    Raises:
        UsageError: ``plan`` is live, no ``--pin-file`` and ``CEREMONY_PIN`` is set.
    """
    if getattr(args, "pin_file", None) is None:
        pin(args, plan)  # without a PIN file: the environment check alone, nothing is read
