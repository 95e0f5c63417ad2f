"""How the tool asks people for things: PINs now, confirmations and touch later.

The token layer never prompts; it calls a ``PinProvider``. Here are the PIN
sources, in the order the CLI consults them: ``--pin-file PATH``, the
``CEREMONY_PIN`` environment variable (for scripts and CI only: the environment
of a process is visible to its user), then a prompt without echo on a terminal.
A PIN is held only for the login call and is never printed, logged or written.
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

from hsm.errors import PinMissingError
from hsm.pkcs11 import PinProvider, TokenInfo

ENV_PIN = "CEREMONY_PIN"


def pin_provider(pin_file: Path | None = None, env: dict[str, str] | None = None,
                 interactive: bool | None = None) -> PinProvider:
    """A PIN source following the documented order.

    Raises (when called):
        PinMissingError: no source gave a PIN.
    """
    env = os.environ if env is None else env

    def provide(info: TokenInfo) -> str:
        if pin_file is not None:
            try:
                return Path(pin_file).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as e:
                raise PinMissingError(f"cannot read the PIN file {pin_file}: {e.strerror}") from None
        if env.get(ENV_PIN):
            return env[ENV_PIN]
        tty = sys.stdin.isatty() if interactive is None else interactive
        if not tty:
            raise PinMissingError(
                f"a PIN is needed for {info.describe()} but no terminal is attached",
                hint=f"give it with --pin-file PATH or {ENV_PIN} (scripts and CI only)")
        low = " (retry count is LOW: be careful)" if info.pin_count_low else ""
        if info.pin_attempts_left is not None:
            low = f" ({info.pin_attempts_left} tries left before the PIN blocks)"
        return getpass.getpass(f"PIN for {info.describe()}{low}: ")

    return provide
