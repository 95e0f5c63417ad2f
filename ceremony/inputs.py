"""The read boundary: every file and byte string that comes from outside, bounded and typed.

Why one module: a ceremony reads plans, key files, previous chains, drafts, signatures,
bundles and QR photos brought by other people, on other machines, some of them hostile. Each
reader used to check a little (a size here, a decode there); what one forgot ended as a
traceback (a NaN, a lone surrogate, JSON nested ten thousand deep) or a hang (a FIFO where a
file was expected). Here every such check is made once, before any parser sees the bytes:

* :func:`read_input_file` refuses a FIFO, device, socket or folder at once (``stat`` first,
  then ``open`` with ``O_NONBLOCK`` and ``fstat`` on the descriptor, so a file swapped for a
  FIFO in between cannot block), and reads at most ``limit`` bytes;
* :func:`load_json` decodes strict UTF-8, refuses nesting deeper than a bound *before* the
  parser recurses, NaN and Infinity, integers longer than any real field, duplicate keys and
  lone surrogates;
* :func:`toml_text` does the same for a plan's TOML;
* :func:`check_text` says whether a name is printable, trimmed and short enough.

Every refusal is the caller's error class (``PlanError`` for a plan, ``VerificationError``
for what crossed the air gap), with a sentence naming the file.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from ceremony.errors import VerificationError

ErrorClass = Callable[[str], Exception]  # a CeremonyError or HsmError subclass

#: Nesting deeper than this is no metadata, manifest or signature file (a root is 5 deep).
MAX_JSON_DEPTH = 32
#: A plan nests tables and arrays 3 deep; anything near this is not a plan.
MAX_TOML_DEPTH = 16
#: Digits of the longest integer any field may carry (versions, sizes, thresholds).
MAX_INT_DIGITS = 20

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _label(path: Path, what: str) -> str:
    return f"{what} {path}" if what else str(path)


def file_kind(mode: int) -> str | None:
    """What a non-regular file is, in words (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def check_regular(path: Path | str, what: str = "", *,
                  error: ErrorClass = VerificationError) -> None:
    """Refuse ``path`` unless it is an existing regular file (symbolic links followed).

    For readers that hand a path to a library (an image or video decoder): they must never
    be given a FIFO, which would block them forever.

    Raises:
        CeremonyError: ``error`` naming the file: missing, or a FIFO, device, socket or folder.
    """
    p = Path(path)
    label = _label(p, what)
    try:
        st = os.stat(p)
    except (FileNotFoundError, NotADirectoryError):
        raise error(f"{label} does not exist") from None
    except OSError as e:
        raise error(f"cannot read {label}: {e.strerror}") from None
    except ValueError:
        raise error(f"{label} is not a usable file name") from None
    kind = file_kind(st.st_mode)
    if kind is not None:
        raise error(f"{label} is {kind}, not a regular file; it was not opened")


def _open_nonblocking(p: Path, label: str, error: ErrorClass, extra: int = 0) -> int:
    """A read-only descriptor opened with ``O_NONBLOCK``, so a FIFO named as a file returns at
    once instead of hanging the command (the caller ``fstat``s it before reading).

    Raises:
        CeremonyError: ``error``: the file is missing or cannot be opened.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        return os.open(p, flags | extra)
    except FileNotFoundError:
        raise error(f"{label} does not exist") from None
    except OSError as e:
        raise error(f"cannot read {label}: {e.strerror}") from None


def open_input_file(path: Path | str, what: str = "", *,
                    error: ErrorClass = VerificationError) -> BinaryIO:
    """Open a regular file for reading, refusing (without blocking) anything else.

    For readers that stream (a video demuxer): the descriptor is opened with ``O_NONBLOCK``
    and checked with ``fstat`` before it is handed on.

    Raises:
        CeremonyError: ``error`` naming the file: missing, unreadable or not a regular file.
    """
    p = Path(path)
    label = _label(p, what)
    check_regular(p, what, error=error)
    fd = _open_nonblocking(p, label, error)
    try:
        kind = file_kind(os.fstat(fd).st_mode)
        if kind is not None:
            raise error(f"{label} is {kind}, not a regular file; it was not opened")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_input_file(path: Path | str, limit: int, what: str = "", *,
                    error: ErrorClass = VerificationError, too_large: str | None = None,
                    follow_symlinks: bool = True) -> bytes:
    """Read a regular file of at most ``limit`` bytes, never blocking on what is not one.

    Args:
        path: the file.
        limit: the most bytes it may hold.
        what: how the operator knows it ("the plan", "roles.targets.keys[0]: key file"); the
            messages read "<what> <path> ...".
        error: the error class to raise (its exit code is the caller's).
        too_large: the end of the oversize message ("far larger than any root metadata").
        follow_symlinks: False refuses a symbolic link (USB sticks).

    Raises:
        CeremonyError: ``error`` naming the file: missing, unreadable, not a regular file,
            larger than ``limit``, or grown while it was read.
    """
    p = Path(path)
    label = _label(p, what)
    check_regular_at = os.stat if follow_symlinks else os.lstat
    try:
        st = check_regular_at(p)
    except (FileNotFoundError, NotADirectoryError):
        raise error(f"{label} does not exist") from None
    except OSError as e:
        raise error(f"cannot read {label}: {e.strerror}") from None
    except ValueError:
        raise error(f"{label} is not a usable file name") from None
    if stat.S_ISLNK(st.st_mode):
        raise error(f"{label} is a symbolic link; only plain files are read here")
    _check_stat(st, label, limit, error, too_large)
    fd = _open_nonblocking(p, label, error, 0 if follow_symlinks else os.O_NOFOLLOW)
    try:
        # The descriptor is what is read: a file swapped for a FIFO after the stat is caught
        # here, and O_NONBLOCK made its open return at once.
        _check_stat(os.fstat(fd), label, limit, error, too_large)
        chunks = []
        remaining = limit + 1  # one more than allowed, to notice a file that grew
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as e:
        raise error(f"cannot read {label}: {e.strerror}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise error(f"{label} grew while it was read; it was not used")
    return data


def _check_stat(st: os.stat_result, label: str, limit: int, error: ErrorClass,
                too_large: str | None) -> None:
    kind = file_kind(st.st_mode)
    if kind is not None:
        raise error(f"{label} is {kind}, not a regular file; it was not read")
    if st.st_size > limit:
        raise error(f"{label} is {st.st_size} bytes, "
                    + (too_large or f"more than the {limit} this tool reads there"))


# ---- text ---------------------------------------------------------------------------


def decode_utf8(data: bytes, what: str, *, error: ErrorClass = VerificationError) -> str:
    """Strict UTF-8 (no byte order mark), naming the line of the first bad byte.

    Raises:
        CeremonyError: ``error``: not UTF-8.
    """
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise error(f"{what} is not UTF-8 text (byte {e.start + 1}, line {line}: "
                    f"{data[e.start:e.start + 1]!r})") from None
    if text.startswith("\ufeff"):
        raise error(f"{what} starts with a byte order mark; save it as plain UTF-8")
    return text


def check_text(value: str, *, max_chars: int | None = None, max_bytes: int | None = None) -> str | None:
    """Why ``value`` is not a usable name or label, or None when it is.

    Usable: not empty, printable (no control, format or separator characters, no lone
    surrogate), no leading or trailing whitespace, within the length bounds.
    """
    if not value:
        return "is empty"
    if value != value.strip():
        return "has leading or trailing whitespace"
    if not value.isprintable():
        bad = next(c for c in value if not c.isprintable())
        return f"holds the unprintable character U+{ord(bad):04X}"
    if max_chars is not None and len(value) > max_chars:
        return f"is {len(value)} characters long; at most {max_chars}"
    if max_bytes is not None:
        size = len(value.encode("utf-8"))
        if size > max_bytes:
            return f"is {size} bytes long in UTF-8; at most {max_bytes}"
    return None


# ---- nesting ------------------------------------------------------------------------

_JSON_TOKENS = r'["\\\[\]{}]'  # compiled by re on first use


def json_depth(text: str, bound: int) -> int:
    """The deepest bracket nesting of JSON ``text`` (strings skipped), stopping past ``bound``.

    Linear and without recursion: it runs before the parser, which would recurse once per
    level. Malformed text gives some depth; the parser refuses it afterwards.
    """
    if text.count("[") + text.count("{") <= bound:
        return 0
    depth = deepest = 0
    in_string = False
    skip_to = -1
    for m in re.finditer(_JSON_TOKENS, text):
        pos = m.start()
        if pos < skip_to:
            continue
        c = m.group()
        if in_string:
            if c == "\\":
                skip_to = pos + 2  # the escaped character, whatever it is
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > bound:
                    return deepest
        elif c in "]}":
            depth -= 1
    return deepest


_TOML_TOKENS = r"""[#"'\[\]{}\n.]"""  # compiled by re on first use


def toml_depth(text: str, bound: int) -> int:
    """The deepest array/inline-table nesting of TOML ``text``, stopping past ``bound``.

    Strings (basic, literal, multi-line) and comments are skipped, so a bracket in a value
    never counts. Table headers (``[a]``, ``[[a]]``) count while they are open, which is
    harmless: they close on their line. A dotted key (``a.b.c = 1``) nests a table per dot,
    so dots on one line that are not inside a number count as well.
    """
    if text.count("[") + text.count("{") <= bound and text.count(".") <= bound:
        return 0
    depth = deepest = dots = 0
    i, n = 0, len(text)
    while i < n:
        m = re.compile(_TOML_TOKENS).search(text, i)  # cached by re after the first
        if m is None:
            break
        pos, c = m.start(), m.group()
        if c == "#":
            end = text.find("\n", pos)
            i = n if end < 0 else end + 1
        elif c in "\"'":
            i = _toml_string_end(text, pos, c)
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > bound:
                return deepest
            i = pos + 1
        elif c in "]}":
            depth -= 1
            i = pos + 1
        elif c == ".":
            if not (0 < pos < n - 1 and text[pos - 1].isdigit() and text[pos + 1].isdigit()):
                dots += 1
                if dots > bound:
                    return dots
            i = pos + 1
        else:  # a new line
            dots = 0
            i = pos + 1
    return deepest


def _toml_string_end(text: str, start: int, quote: str) -> int:
    """The index after the string opening at ``start`` (len(text) if it never closes)."""
    n = len(text)
    delim = quote * 3 if text.startswith(quote * 3, start) else quote
    i = start + len(delim)
    while i < n:
        if quote == '"' and text[i] == "\\":
            i += 2
            continue
        if text.startswith(delim, i):
            i += len(delim)
            while i < n and text[i] == quote:  # up to two quotes may end a multi-line string
                i += 1
            return i
        if len(delim) == 1 and text[i] == "\n":
            return i  # a one-line string never spans lines: the parser will say so
        i += 1
    return n


# ---- JSON -----------------------------------------------------------------------------


class _Refused(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"the key {key!r} appears twice in one object")
        out[key] = value
    return out


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _float(text: str) -> float:
    if len(text) > 64:
        raise _Refused(f"a number of {len(text)} characters")
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text[:20]} is out of range")
    return value


def _int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise _Refused(f"an integer of {digits} digits, longer than any field holds")
    return int(text)


def _lone_surrogate(value: Any) -> str | None:
    """The first string (key or value) that holds a lone surrogate (``"\\ud800"``), if any."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            strings = [item]
        elif isinstance(item, dict):
            strings = list(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
            continue
        else:
            continue
        for s in strings:
            try:
                s.encode("utf-8")
            except UnicodeEncodeError:
                return s
    return None


def load_json(data: bytes | str, what: str, *, error: ErrorClass = VerificationError,
              max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON from outside: strict UTF-8, bounded nesting, finite numbers, unique keys,
    no lone surrogates.

    Raises:
        CeremonyError: ``error``: "<what> is not valid JSON: <why>" (or not UTF-8).
    """
    text = data if isinstance(data, str) else decode_utf8(data, what, error=error)
    depth = json_depth(text, max_depth)
    if depth > max_depth:
        raise error(f"{what} is not valid JSON: it nests deeper than {max_depth} levels")
    try:
        value = json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_int,
                           object_pairs_hook=_no_duplicates)
    except _Refused as e:
        raise error(f"{what} is not valid JSON: {e}") from None
    except RecursionError:  # pragma: no cover - json_depth bounds the nesting first
        raise error(f"{what} is not valid JSON: it nests too deep") from None
    except ValueError as e:
        raise error(f"{what} is not valid JSON: {e}") from None
    bad = _lone_surrogate(value)
    if bad is not None:
        raise error(f"{what} is not valid JSON: a string holds a lone surrogate "
                    f"({bad.encode('utf-8', 'backslashreplace').decode('ascii', 'replace')[:40]})")
    return value


def check_json(data: bytes, what: str, *, error: ErrorClass = VerificationError,
               max_depth: int = MAX_JSON_DEPTH) -> bytes:
    """``data`` unchanged, after :func:`load_json` accepted it (for readers that hand the
    bytes on to another parser, e.g. python-tuf's).

    Raises:
        CeremonyError: see :func:`load_json`.
    """
    load_json(data, what, error=error, max_depth=max_depth)
    return data


# ---- TOML -----------------------------------------------------------------------------


def load_toml(data: bytes | str, what: str, *, error: ErrorClass,
              max_depth: int = MAX_TOML_DEPTH) -> dict[str, Any]:
    """Parse TOML from outside: strict UTF-8, bounded nesting, numbers within reason.

    Raises:
        CeremonyError: ``error``: not UTF-8, nested too deep, a number too large, or not TOML.
    """
    text = data if isinstance(data, str) else decode_utf8(data, what, error=error)
    depth = toml_depth(text, max_depth)
    if depth > max_depth:
        raise error(f"{what} is not valid TOML: it nests arrays or tables deeper than "
                    f"{max_depth} levels")
    try:
        value = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise error(f"{what} is not valid TOML: {e}") from None
    except RecursionError:  # pragma: no cover - toml_depth bounds the nesting first
        raise error(f"{what} is not valid TOML: it nests too deep") from None
    except (ValueError, OverflowError) as e:
        # int(): more digits than Python converts (sys.get_int_max_str_digits)
        raise error(f"{what} is not valid TOML: a number is far too large ({str(e)[:60]})") from None
    if value_depth(value, max_depth) > max_depth:  # dotted keys (a.b.c...) nest without brackets
        raise error(f"{what} is not valid TOML: it nests tables deeper than {max_depth} levels")
    return value


def value_depth(value: Any, bound: int) -> int:
    """How deep dicts and lists nest in a parsed value (iterative; stops past ``bound``)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        if deepest > bound:
            return deepest
        stack.extend((child, depth) for child in children)
    return deepest
