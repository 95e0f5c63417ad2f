"""Throwaway SoftHSM tokens in a private folder, for rehearsals, demos and CI.

Each folder has its own ``softhsm2.conf`` and token directory, so nothing touches
the system's tokens. SoftHSM reads ``SOFTHSM2_CONF`` when the module is
initialised, so :func:`activate` must run before the module is first loaded (or
be followed by ``Module.refresh()``).

SoftHSM keeps keys in files protected by the PIN: it is a stand-in for hardware
during rehearsals and tests, never a place for a real root key.

Run as ``python -m hsm.softhsm DIR LABEL...`` to make tokens from a shell
(PIN from ``CEREMONY_PIN`` or ``--pin-file``; the SO PIN is random and discarded).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from hsm.errors import HsmError, ModuleLoadError

UTIL = "softhsm2-util"


@dataclass(frozen=True)
class SoftHsmDir:
    """A private SoftHSM configuration: ``conf`` points at ``tokens/`` beside it."""

    root: Path

    @property
    def conf(self) -> Path:
        """The ``softhsm2.conf`` to export as ``SOFTHSM2_CONF``."""
        return self.root / "softhsm2.conf"

    @property
    def tokens(self) -> Path:
        """The token directory."""
        return self.root / "tokens"


def create(root: Path) -> SoftHsmDir:
    """Create (or reuse) a private SoftHSM folder at ``root``."""
    d = SoftHsmDir(Path(root).resolve())
    d.tokens.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not d.conf.exists():
        d.conf.write_text(
            f"directories.tokendir = {d.tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
        )
    return d


def activate(d: SoftHsmDir) -> None:
    """Point this process (and its children) at ``d``."""
    os.environ["SOFTHSM2_CONF"] = str(d.conf)


def require_util() -> str:
    """Path of ``softhsm2-util``.

    Raises:
        ModuleLoadError: SoftHSM is not installed (a missing SoftHSM is an error, never a skip).
    """
    path = shutil.which(UTIL)
    if path is None:
        raise ModuleLoadError("softhsm2-util not found: SoftHSM is not installed",
                              hint="run softhsm-setup/install.sh")
    return path


def init_token(d: SoftHsmDir, label: str, pin: str) -> None:
    """Initialise a fresh token labelled ``label`` with user PIN ``pin``.

    The SO PIN is random and thrown away: throwaway tokens need no recovery.
    softhsm2-util only takes PINs as arguments, so they are briefly visible in
    the process list of this machine; acceptable for throwaway tokens only.

    Raises:
        HsmError: softhsm2-util failed.
    """
    if not 4 <= len(pin) <= 255:
        raise HsmError("a SoftHSM PIN must be 4 to 255 characters")
    so_pin = secrets.token_hex(8)
    env = dict(os.environ, SOFTHSM2_CONF=str(d.conf))
    proc = subprocess.run(
        [require_util(), "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", so_pin],
        env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    if proc.returncode != 0:
        raise HsmError(f"softhsm2-util could not create token {label!r}: {proc.stderr.strip()}")


def main(argv: list[str] | None = None) -> int:
    """Shell entry point: make tokens in DIR, print the SOFTHSM2_CONF to export."""
    ap = argparse.ArgumentParser(prog="python -m hsm.softhsm", description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("labels", nargs="+")
    ap.add_argument("--pin-file", type=Path)
    args = ap.parse_args(argv)
    pin = args.pin_file.read_text().strip() if args.pin_file else os.environ.get("CEREMONY_PIN", "")
    if not pin:
        print("error: give the new tokens' PIN in CEREMONY_PIN or --pin-file", file=sys.stderr)
        return 5
    d = create(args.dir)
    try:
        for label in args.labels:
            init_token(d, label, pin)
            print(f"created token {label!r}", file=sys.stderr)
    except HsmError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return e.exit_code
    print(f"export SOFTHSM2_CONF={d.conf}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
