"""Small helpers every CLI module shares: output, stderr notes, opening a workspace.

Kept apart from ``ceremony.cli`` so the command groups (record, notary, yubikey, witness)
can use them without importing the main parser.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def emit(args: argparse.Namespace, text: str | list[str], data: Any) -> None:
    """Print ``data`` as JSON with ``--json``, else the human lines."""
    if getattr(args, "json", False):
        print(json.dumps(data, indent=1, sort_keys=True))
    else:
        print(text if isinstance(text, str) else "\n".join(text))


def say(message: str) -> None:
    """A note for the operator on stderr (keeps ``--json`` stdout clean)."""
    print(message, file=sys.stderr, flush=True)


def open_workspace(args: argparse.Namespace, write: bool = True) -> Any:
    """The ceremony in ``args.workspace`` (its journal and plan checked); to change it
    (``write``), held by this process for the command (see :mod:`ceremony.lock`)."""
    from ceremony.engine import Ceremony
    return Ceremony.open(Path(args.workspace), write=write)
