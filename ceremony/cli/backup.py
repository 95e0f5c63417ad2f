"""``ceremony backup`` and ``ceremony restore``: the copy a damaged journal asks for.

``add_commands(sub, add)`` registers them on ``ceremony``'s argparse subparsers::

    ceremony backup WORKSPACE DEST [--json]
    ceremony restore BACKUP WORKSPACE [--json]

Thin: the work, and every check, is in :mod:`ceremony.backup`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ceremony.cli.common import Add, emit as _emit


def cmd_backup(args: argparse.Namespace) -> int:
    from ceremony.backup import backup  # lazy: the lock and hsm.pkcs11 (backup only)
    b = backup(Path(args.workspace), Path(args.dest))
    line = (f"backup of {args.workspace} written to {b.path}: {b.files} files, journal "
            f"{b.events} events, head {b.head}")
    _emit(args, [line], b.to_dict())
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from ceremony.backup import restore  # lazy: as above (restore only)
    b = restore(Path(args.backup), Path(args.workspace))
    lines = [(f"restored {b.path} from {args.backup}: {b.files} files, journal {b.events} "
              f"events, head {b.head} (verified)")]
    if b.kept_aside is not None:
        lines += [f"the damaged workspace is kept at {b.kept_aside} ({b.damage})",
                  "steps done after the backup was taken must be done again"]
    _emit(args, lines, b.to_dict())
    return 0


def add_commands(sub: Any, add: Add) -> None:
    """Register ``backup`` and ``restore``."""
    p = add("backup", cmd_backup, "copy the workspace, with a manifest of digests, to a new folder")
    p.add_argument("dest", metavar="DEST")
    p = add("restore", cmd_restore, "put a verified backup in place (a damaged workspace is kept "
            "aside)", ws=False)
    p.add_argument("backup", metavar="BACKUP")
    p.add_argument("workspace", metavar="WORKSPACE")
