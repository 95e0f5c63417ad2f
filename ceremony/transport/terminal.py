"""Animated QR in a terminal: frames drawn with half-block characters, cycling.

Why half blocks: one character cell is about twice as tall as wide, so one cell per column and
two modules per row (``▀ ▄ █``) draws square modules, and a version 14 code with a 2-module
border fits 80 columns (77). A code that would wrap or scroll is destroyed, so the size is
checked against the terminal before anything is drawn, and drawing is refused if it does not
fit.

Polarity: by default the lines carry ANSI colours (black on bright white), so the code reads
the same whatever the terminal theme. Without colours, light modules are drawn as blocks,
which is right for the usual light-on-dark terminal; ``invert`` flips it for dark-on-light
themes. zxing reads either; some phone scanners read only dark-on-light.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Iterator
from typing import TextIO

from ceremony.errors import UsageError
from ceremony.transport import frames as _frames
from ceremony.transport.qr import QrCode, QrSize, encode_qr, frame_capacity, qr_size
from ceremony.words import pgp_words

__all__ = ["TERMINAL_BORDER", "animate", "check_fits", "fit_size", "render_terminal"]

TERMINAL_BORDER = 2
_CHARS = {(True, True): "█", (True, False): "▀", (False, True): "▄", (False, False): " "}
_ANSI_ON = "\x1b[30;107m"  # black foreground, bright white background
_ANSI_OFF = "\x1b[0m"
_MIN_VERSION = 5


def terminal_cells(modules: int, border: int = TERMINAL_BORDER) -> tuple[int, int]:
    """(columns, lines) a code of ``modules`` per side needs."""
    side = modules + 2 * border
    return side, (side + 1) // 2


def check_fits(
    modules: int, columns: int, lines: int, border: int = TERMINAL_BORDER, what: str = "the code"
) -> None:
    """Refuse to draw a code the terminal would wrap or scroll.

    Raises:
        UsageError: with the size needed and the size available.
    """
    need_cols, need_lines = terminal_cells(modules, border)
    if need_cols > columns or need_lines > lines:
        raise UsageError(
            f"The terminal is {columns}x{lines} but {what} needs {need_cols}x{need_lines} "
            "(columns x lines); enlarge the window or the font, choose a smaller --qr-size, "
            "or write PNG files with --qr DIR.",
        )


def fit_size(columns: int, lines: int, ec_level: str = "M", reserve_lines: int = 1) -> QrSize:
    """The largest QR version (at least 5) that fits, for "sized to the terminal".

    Raises:
        UsageError: not even a version 5 code fits.
    """
    for version in range(40, _MIN_VERSION - 1, -1):
        cols, rows = terminal_cells(4 * version + 17)
        if cols <= columns and rows <= lines - reserve_lines:
            return QrSize("terminal", version, ec_level, f"fits {columns}x{lines}")
    check_fits(4 * _MIN_VERSION + 17, columns, lines - reserve_lines, what="the smallest code")
    raise AssertionError("unreachable")  # pragma: no cover


def render_terminal(
    code: QrCode, border: int = TERMINAL_BORDER, color: bool = True, invert: bool = False
) -> list[str]:
    """Lines of half-block characters drawing ``code`` with a ``border``-module quiet zone."""
    side = code.size + 2 * border
    # "Ink" is what the block characters draw: dark modules when colours are forced (black on
    # white), light modules on a plain light-on-dark terminal; invert swaps.
    ink_is_dark = color != invert
    out = []
    for top in range(0, side, 2):
        cells = []
        for x in range(side):
            upper = code.is_dark(x - border, top - border) == ink_is_dark
            lower = top + 1 < side and code.is_dark(x - border, top + 1 - border) == ink_is_dark
            cells.append(_CHARS[(upper, lower)])
        line = "".join(cells)
        out.append(f"{_ANSI_ON}{line}{_ANSI_OFF}" if color else line)
    return out


def animate(
    message: bytes,
    size: str | QrSize = "auto",
    out: TextIO | None = None,
    fps: float = 5.0,
    max_frames: int | None = None,
    terminal_size: tuple[int, int] | None = None,
    color: bool = True,
    stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Cycle the message's frames on the terminal: plain frames first, then fountain frames.

    ``size="auto"`` takes the largest code that fits the terminal; a named size is checked and
    refused if it does not fit. Returns the number of frames shown (stops at ``max_frames``,
    when ``stop()`` is true, or on Ctrl-C, which the caller may catch).

    Raises:
        UsageError: the code does not fit the terminal.
    """
    stream = out if out is not None else sys.stdout
    columns, lines = terminal_size or shutil.get_terminal_size((80, 24))
    if size == "auto":
        preset = fit_size(columns, lines)
    else:
        preset = qr_size(size)
        check_fits(preset.modules, columns, lines - 1, what=f"a {preset.name} QR frame")
    frame_bytes = frame_capacity(preset.version, preset.ec_level)
    mid = _frames.message_id(message)
    label = " ".join(pgp_words(mid[:4]))
    shown = 0
    stream.write("\x1b[2J")
    for raw in _stream(message, frame_bytes):
        if stop() or (max_frames is not None and shown >= max_frames):
            break
        frame = _frames.parse_frame(raw)
        code = encode_qr(raw, preset.version, preset.ec_level)
        status = f"{frame.label} - message {label} - Ctrl-C to stop"[:columns]
        stream.write("\x1b[H" + "\n".join(render_terminal(code, color=color)) + "\n" + status)
        stream.write("\x1b[K")
        stream.flush()
        shown += 1
        sleep(1.0 / fps)
    stream.write("\n")
    return shown


def _stream(message: bytes, frame_bytes: int) -> Iterator[bytes]:
    return _frames.fountain_frames(message, frame_bytes)
