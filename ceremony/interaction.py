"""How the tool asks people for things: PINs now, confirmations and touch later.

The token layer never prompts; it calls a ``PinProvider``. Here are the PIN
sources, in the order the CLI consults them: ``--pin-file PATH``, the
``CEREMONY_PIN`` environment variable (for scripts and CI only: the environment
of a process is visible to its user), then a prompt without echo on a terminal.
A PIN is held only for the login call and is never printed, logged or written.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path

from ceremony.errors import PinFileError, UsageError
from ceremony.inputs import file_kind
from hsm.errors import PinMissingError
from hsm.pkcs11 import PinProvider, TokenInfo

ENV_PIN = "CEREMONY_PIN"
#: A PIN file holds one line; anything larger is not a PIN file.
MAX_PIN_FILE = 4096


def check_pin_file(pin_file: Path) -> None:
    """Refuse a ``--pin-file`` that cannot give a PIN, before any token is touched.

    A pipe is allowed (``--pin-file <(pass show token)`` keeps the PIN off the disk); a folder,
    a device or a missing file is not.

    Raises:
        PinFileError: naming the file and what is wrong (exit 66, never "PIN incorrect").
    """
    try:
        st = os.stat(pin_file)
    except (FileNotFoundError, NotADirectoryError):
        raise PinFileError(f"the PIN file {pin_file} does not exist",
                           hint="no token was touched; give an existing file with --pin-file") from None
    except OSError as e:
        raise PinFileError(f"cannot read the PIN file {pin_file}: {e.strerror}") from None
    except ValueError:
        raise PinFileError(f"the PIN file {pin_file!r} is not a usable file name") from None
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
        raise PinFileError(f"the PIN file {pin_file} is {file_kind(st.st_mode)}, not a file")
    if st.st_size > MAX_PIN_FILE:
        raise PinFileError(f"the PIN file {pin_file} is {st.st_size} bytes: not a PIN file")
    if not os.access(pin_file, os.R_OK):
        raise PinFileError(f"cannot read the PIN file {pin_file}: permission denied")


def _read_pin_file(pin_file: Path) -> str:
    """The PIN in ``pin_file`` (its first line, without the line end).

    Raises:
        PinFileError: missing, unreadable, not UTF-8 or empty.
    """
    check_pin_file(pin_file)
    try:
        with open(pin_file, "rb") as f:
            data = f.read(MAX_PIN_FILE + 1)
    except OSError as e:
        raise PinFileError(f"cannot read the PIN file {pin_file}: {e.strerror}") from None
    try:
        pin = data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise PinFileError(f"the PIN file {pin_file} is not UTF-8 text") from None
    if not pin:
        raise PinFileError(f"the PIN file {pin_file} is empty",
                           hint="no token was touched, so no PIN try was spent")
    return pin


def pin_provider(pin_file: Path | None = None, env: dict[str, str] | None = None,
                 interactive: bool | None = None, *, live: bool = False) -> PinProvider:
    """A PIN source following the documented order.

    ``live``: the plan is not a rehearsal. ``CEREMONY_PIN`` is then refused at once (it is
    for rehearsals and CI: a process's environment is visible to its user, and copied into
    every child it starts); the PIN comes from ``--pin-file`` or the prompt.

    Raises:
        PinFileError: ``pin_file`` is missing or unreadable (checked now, read when needed).
        UsageError: ``live`` and the PIN would come from ``CEREMONY_PIN``.
        PinMissingError (when called): no source gave a PIN.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    if pin_file is not None:
        check_pin_file(Path(pin_file))
        if Path(pin_file).is_file():  # a pipe can be read once only: it is read when needed
            _read_pin_file(Path(pin_file))  # empty or not UTF-8: refused before any step
    elif live and environ.get(ENV_PIN):
        raise UsageError(f"{ENV_PIN} is for rehearsals and CI only; this is a live ceremony "
                         "(rehearsal = false in the plan): nothing was done",
                         hint=f"unset {ENV_PIN}; type the PIN when asked, or give --pin-file PATH")

    def provide(info: TokenInfo) -> str:
        if pin_file is not None:
            return _read_pin_file(Path(pin_file))
        if environ.get(ENV_PIN):
            return environ[ENV_PIN]
        tty = sys.stdin.isatty() if interactive is None else interactive
        if not tty:
            raise PinMissingError(
                f"a PIN is needed for {info.describe()} but no terminal is attached",
                hint=f"give it with --pin-file PATH or {ENV_PIN} (scripts and CI only)")
        low = " (retry count is LOW: be careful)" if info.pin_count_low else ""
        if info.pin_attempts_left is not None:
            low = f" ({info.pin_attempts_left} tries left before the PIN blocks)"
        import getpass  # lazy: termios, only when a PIN is typed

        return getpass.getpass(f"PIN for {info.describe()}{low}: ")

    return provide
