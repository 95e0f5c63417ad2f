"""Notary v1 JSON: Go's canonical form, the signed-envelope wire form, and a self-check.

Why this module exists: notary-server does not hash the bytes we upload. It decodes them into
Go structs and re-serializes them (docker/go ``MarshalCanonical`` for ``signed``, then
``json.Marshal`` of the envelope) to compute the snapshot hashes, yet it serves our bytes. Any
difference, however harmless it looks, breaks every client with ``sha256 checksum for root did not
match`` (reference doc §3.9). So the producer must write exactly Go's bytes, and must be able to
prove it before anything leaves the machine: ``assert_reserializes``.

Rules mirrored (reference doc §3.1, §3.6; docker/go canonical/json encode.go at d30aec9):

* canonical: object keys sorted by UTF-8 byte order, no whitespace, strings escape only ``\\``
  and ``"`` (everything else raw), integers only, ``true``/``false``/``null``, ``bytes`` as
  standard padded base64;
* wire: ``{"signed":<canonical>,"signatures":[{"keyid":…,"method":…,"sig":…}]}`` and Go's HTML
  escaping (``< > & U+2028 U+2029``) applied to the whole document, including the embedded
  canonical bytes. Signatures are made over the *unescaped* canonical bytes.

Values this module refuses, and why: control characters (Go writes them raw in canonical form and
its own envelope encoder then fails), floats (canonical JSON is integers only), integers beyond
2^53 (the verifier re-reads ``signed`` into float64 before re-canonicalizing, so they would not
survive), lone surrogates and invalid UTF-8.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ceremony.errors import VerificationError
from ceremony.inputs import MAX_JSON_DEPTH, json_depth

__all__ = [
    "MAX_EXACT_INTEGER",
    "Signature",
    "SignedDocument",
    "assert_reserializes",
    "canonical_bytes",
    "format_expiry",
    "go_view_problems",
    "html_escape",
    "parse",
    "parse_expiry",
    "serialize",
]

#: Largest magnitude an integer may have and still survive notary's float64 re-read.
MAX_EXACT_INTEGER = 2**53

_HTML_ESCAPES = {
    b"<": b"\\u003c",
    b">": b"\\u003e",
    b"&": b"\\u0026",
    "\u2028".encode(): b"\\u2028",
    "\u2029".encode(): b"\\u2029",
}


# --------------------------------------------------------------------------- canonical


def _path_join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


#: Where a value sits: a path string, or (parent, key) built lazily, only for an error message.
_Path = str | tuple[Any, str | int]


def _render(path: _Path) -> str:
    keys: list[str | int] = []
    while isinstance(path, tuple):
        path, key = path
        keys.append(key)
    for key in reversed(keys):
        path = _path_join(path, key)
    return path


_CONTROL = re.compile(r"[\x00-\x1f]")


def _check_text(text: str, path: _Path) -> bytes:
    control = _CONTROL.search(text)
    if control:
        raise VerificationError(
            f"control character U+{ord(control.group()):04X} in a string at {_render(path)}: "
            "notary cannot serialize it (its canonical JSON writes it raw and the envelope "
            "encoder then rejects the document)"
        )
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise VerificationError(
            f"string at {_render(path)} is not valid Unicode (it holds a lone surrogate)"
        ) from None


def _canonical_string(text: str, path: _Path) -> bytes:
    raw = _check_text(text, path)
    if b"\\" in raw or b'"' in raw:
        raw = raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
    return b'"' + raw + b'"'


def _encode_canonical(value: object, path: _Path, out: list[bytes]) -> None:
    # Error paths are built lazily (``_render``): this runs for every value that is signed.
    # str first (the most common value); bool before int: bool is an int subclass in Python.
    if isinstance(value, str):
        out.append(_canonical_string(value, path))
    elif value is None:
        out.append(b"null")
    elif value is True:
        out.append(b"true")
    elif value is False:
        out.append(b"false")
    elif isinstance(value, int):
        if abs(value) > MAX_EXACT_INTEGER:
            raise VerificationError(
                f"integer {value} at {_render(path)} is beyond ±2^53: notary re-reads numbers "
                "as float64 before checking signatures and would change it"
            )
        out.append(str(int(value)).encode("ascii"))
    elif isinstance(value, float):
        raise VerificationError(
            f"floating-point number {value!r} at {_render(path)}: notary's canonical JSON "
            "allows integers only"
        )
    elif isinstance(value, bytes | bytearray | memoryview):
        out.append(b'"' + base64.b64encode(bytes(value)) + b'"')
    elif isinstance(value, Mapping):
        items: list[tuple[bytes, str, object]] = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise VerificationError(f"object key {key!r} at {_render(path)} is not a string")
            items.append((_check_text(key, (path, key)), key, item))
        items.sort(key=lambda entry: entry[0])
        out.append(b"{")
        for index, (raw_key, key, item) in enumerate(items):
            if index:
                out.append(b",")
            if b"\\" in raw_key or b'"' in raw_key:
                raw_key = raw_key.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
            out.append(b'"' + raw_key + b'":')
            _encode_canonical(item, (path, key), out)
        out.append(b"}")
    elif isinstance(value, list | tuple):
        out.append(b"[")
        for index, item in enumerate(value):
            if index:
                out.append(b",")
            _encode_canonical(item, (path, index), out)
        out.append(b"]")
    else:
        raise VerificationError(
            f"value of type {type(value).__name__} at {_render(path)} has no notary JSON form"
        )


def canonical_bytes(value: object, *, path: str = "signed") -> bytes:
    """Encode ``value`` as docker/go ``MarshalCanonical`` does; these are the bytes signed.

    Args:
        value: dicts (str keys), lists/tuples, str, int, bool, None, and bytes (base64).
        path: where ``value`` sits, used only to name the culprit in error messages.

    Returns:
        The canonical UTF-8 bytes, without HTML escaping.

    Raises:
        VerificationError: a float, an integer beyond 2^53, a control character, a lone
            surrogate, a non-string key or an unsupported type; the message names the path.
    """
    out: list[bytes] = []
    _encode_canonical(value, path, out)
    return b"".join(out)


def html_escape(data: bytes) -> bytes:
    """Apply Go's ``json`` HTML escaping (``< > & U+2028 U+2029``) to encoded JSON bytes.

    Go's envelope encoder runs this over the whole document (``compact(…, escape=true)``), so
    the canonical bytes on the wire differ from the signed bytes exactly here.
    """
    for raw, escaped in _HTML_ESCAPES.items():
        data = data.replace(raw, escaped)
    return data


# --------------------------------------------------------------------------- envelope


@dataclass(frozen=True)
class Signature:
    """One entry of ``signatures``: ``sig`` holds the raw signature bytes (base64 on the wire)."""

    keyid: str
    method: str
    sig: bytes


@dataclass(frozen=True)
class SignedDocument:
    """A parsed Notary metadata file: the ``signed`` object and its signatures, in order."""

    signed: dict[str, Any]
    signatures: tuple[Signature, ...]

    @property
    def payload(self) -> bytes:
        """The bytes every signature is over: canonical JSON of ``signed``.

        This is what notary's verifier computes too: it decodes ``signed`` into a generic map
        and re-canonicalizes it (tuf/signed/verify.go ``VerifySignatures``).
        """
        return canonical_bytes(self.signed)


def serialize(signed: Mapping[str, Any], signatures: Sequence[Signature]) -> bytes:
    """Write the wire bytes notary itself would write for ``signed`` and ``signatures``.

    Args:
        signed: the ``signed`` object (canonicalized here).
        signatures: in the order they should appear; notary keeps the order it reads.

    Returns:
        One line, no trailing newline, byte-identical to Go's serialization.

    Raises:
        VerificationError: ``signed`` holds a value notary cannot serialize, or a signature's
            keyid/method is not a clean string.
    """
    body = canonical_bytes(signed)
    # Go writes keyid/method with its standard encoder; with control characters refused, that
    # equals the canonical string plus the HTML escaping applied to the whole document below.
    parts = []
    for index, signature in enumerate(signatures):
        where = f"signatures[{index}]"
        parts.append(
            b'{"keyid":'
            + _canonical_string(signature.keyid, where + ".keyid")
            + b',"method":'
            + _canonical_string(signature.method, where + ".method")
            + b',"sig":"'
            + base64.b64encode(signature.sig)
            + b'"}'
        )
    return html_escape(b'{"signed":' + body + b',"signatures":[' + b",".join(parts) + b"]}")


def _reject_float(text: str) -> object:
    raise VerificationError(
        f"not notary metadata: the number {text} is not an integer "
        "(notary's canonical JSON allows integers only)"
    )


def _reject_constant(text: str) -> object:
    raise VerificationError(f"not notary metadata: {text} is not JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise VerificationError(f"not notary metadata: the key {key!r} appears twice")
        result[key] = value
    return result


def _strict_b64(text: object, where: str) -> bytes:
    if not isinstance(text, str):
        raise VerificationError(f"not notary metadata: {where} must be a base64 string")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise VerificationError(f"not notary metadata: {where} is not valid base64") from None
    return raw


def parse(data: bytes) -> SignedDocument:
    """Parse a Notary metadata file (root, targets, snapshot, timestamp, delegation).

    Parsing is strict on the envelope (exactly ``signed`` and ``signatures``; each signature
    exactly ``keyid``, ``method``, ``sig``) because Go would silently drop anything else and
    then serve bytes that no longer match its own hash.

    Args:
        data: the file bytes as stored or served.

    Returns:
        The ``signed`` object (plain dicts/lists) and the signatures with ``sig`` decoded.

    Raises:
        VerificationError: not UTF-8, not JSON, a float, NaN, a duplicate key, or not the
            ``{"signed","signatures"}`` shape.
    """
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VerificationError(f"not notary metadata: not UTF-8 ({exc.reason})") from None
    if json_depth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:  # before the parser recurses
        raise VerificationError(f"not notary metadata: it nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        top = json.loads(
            text,
            parse_float=_reject_float,
            parse_constant=_reject_constant,
            object_pairs_hook=_no_duplicates,
        )
    except json.JSONDecodeError as exc:
        raise VerificationError(f"not notary metadata: invalid JSON ({exc})") from None
    if not isinstance(top, dict) or set(top) != {"signed", "signatures"}:
        found = sorted(top) if isinstance(top, dict) else type(top).__name__
        raise VerificationError(
            f"not notary metadata: expected exactly the fields signed and signatures, found {found}"
        )
    signed, raw_signatures = top["signed"], top["signatures"]
    if not isinstance(signed, dict):
        raise VerificationError("not notary metadata: signed must be an object")
    if not isinstance(raw_signatures, list):
        raise VerificationError("not notary metadata: signatures must be a list")
    signatures = []
    for index, entry in enumerate(raw_signatures):
        where = f"signatures[{index}]"
        if not isinstance(entry, dict) or set(entry) != {"keyid", "method", "sig"}:
            raise VerificationError(
                f"not notary metadata: {where} must have exactly keyid, method and sig"
            )
        if not isinstance(entry["keyid"], str) or not isinstance(entry["method"], str):
            raise VerificationError(
                f"not notary metadata: {where} keyid and method must be strings"
            )
        signatures.append(
            Signature(entry["keyid"], entry["method"], _strict_b64(entry["sig"], where + ".sig"))
        )
    return SignedDocument(signed=signed, signatures=tuple(signatures))


# --------------------------------------------------------------------------- expiry

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})\Z"
)


def format_expiry(when: datetime) -> str:
    """Format ``when`` as Go's ``time.RFC3339Nano`` in UTC: ``Z``, fraction without trailing 0s.

    Raises:
        ValueError: ``when`` is naive (a time with no zone is a bug, not an input).
    """
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("expiry must be timezone-aware")
    utc = when.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += "." + f"{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def _split_rfc3339(text: str) -> tuple[datetime, str, str]:
    """Return (whole-second UTC datetime, fraction digits, zone suffix) or raise ValueError."""
    match = _RFC3339.match(text)
    if not match:
        raise ValueError(text)
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    zone = match.group(8)
    naive = datetime(year, month, day, hour, minute, second)  # range-checks every field
    if zone == "Z":
        offset_minutes = 0
    else:
        sign = -1 if zone[0] == "-" else 1
        zh, zm = int(zone[1:3]), int(zone[4:6])
        if zh > 23 or zm > 59:
            raise ValueError(text)
        offset_minutes = sign * (zh * 60 + zm)
    utc = (naive - timedelta(minutes=offset_minutes)).replace(tzinfo=UTC)
    return utc, match.group(7) or "", zone


def parse_expiry(text: str) -> datetime:
    """Parse an RFC 3339 expiry as Go does (fraction beyond microseconds is truncated).

    Raises:
        VerificationError: the text is not an RFC 3339 date-time.
    """
    try:
        utc, fraction, _ = _split_rfc3339(text)
    except ValueError:
        raise VerificationError(f"expires {text!r} is not an RFC 3339 date-time") from None
    micro = int((fraction + "000000")[:6]) if fraction else 0
    return utc.replace(microsecond=micro)


def _go_time(text: str) -> str:
    """What Go's ``time.Time`` JSON round trip makes of ``text`` (RFC3339Nano, same offset)."""
    _, fraction, zone = _split_rfc3339(text)
    fraction = fraction[:9].rstrip("0")  # Go keeps nanoseconds, drops trailing zeros
    zone = "Z" if zone in ("+00:00", "-00:00") else zone
    return text[:19] + ("." + fraction if fraction else "") + zone


# --------------------------------------------------------------------------- Go struct view
#
# The server re-serializes through Go structs (tuf/data/{root,targets,snapshot,timestamp,
# types,keys,roles}.go at v0.7.0): unknown fields vanish, absent ones come back as zero values
# (``null`` for maps, slices and []byte), times are re-formatted, bytes re-encoded. A schema
# here is: a scalar kind name, ("map", schema), ("list", schema), ("ptr", schema), or a dict of
# field -> (schema, omitempty).

_Schema = Any

_KEY: _Schema = {
    "keytype": ("str", False),
    "keyval": ({"public": ("bytes", False), "private": ("bytes", False)}, False),
}
_FILEMETA: _Schema = {
    "length": ("int", False),
    "hashes": (("map", "bytes"), False),
    "custom": ("raw", True),
}
_COMMON = {"_type": ("str", False), "expires": ("time", False), "version": ("int", False)}
_ROOT_ROLE: _Schema = {"keyids": (("list", "str"), False), "threshold": ("int", False)}
_ROOT: _Schema = {
    **_COMMON,
    "keys": (("map", _KEY), False),
    "roles": (("map", ("ptr", _ROOT_ROLE)), False),
    "consistent_snapshot": ("bool", False),
}
_DELEGATION_ROLE: _Schema = {
    "keyids": (("list", "str"), False),
    "threshold": ("int", False),
    "name": ("str", False),
    "paths": (("list", "str"), True),
}
_TARGETS: _Schema = {
    **_COMMON,
    "targets": (("map", _FILEMETA), False),
    "delegations": (
        {"keys": (("map", _KEY), False), "roles": (("list", ("ptr", _DELEGATION_ROLE)), False)},
        False,
    ),
}
_META: _Schema = {**_COMMON, "meta": (("map", _FILEMETA), False)}
_SCHEMAS = {"Root": _ROOT, "Targets": _TARGETS, "Snapshot": _META, "Timestamp": _META}
_ZERO = {"str": "", "int": 0, "bool": False, "time": "0001-01-01T00:00:00Z"}


class _GoDecodeError(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path} {message}")


def _go_value(schema: _Schema, value: Any, path: str) -> Any:
    """Return what Go would write back for ``value`` decoded into ``schema``."""
    if isinstance(schema, dict):
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise _GoDecodeError(path, "must be an object")
        result = {}
        for name, (field_schema, omitempty) in schema.items():
            sub = _path_join(path, name)
            written = _go_value(field_schema, value.get(name), sub)
            if omitempty and (written is None or written == []):
                continue
            result[name] = written
        return result
    if isinstance(schema, tuple):
        kind, inner = schema
        if value is None:
            return None
        if kind == "ptr":
            return _go_value(inner, value, path)
        if kind == "map":
            if not isinstance(value, dict):
                raise _GoDecodeError(path, "must be an object")
            return {k: _go_value(inner, v, _path_join(path, k)) for k, v in value.items()}
        if not isinstance(value, list):
            raise _GoDecodeError(path, "must be a list")
        return [_go_value(inner, v, _path_join(path, i)) for i, v in enumerate(value)]
    if schema == "raw":
        return value
    if value is None:
        return None if schema == "bytes" else _ZERO[schema]
    if schema == "bytes":
        if not isinstance(value, str):
            raise _GoDecodeError(path, "must be a base64 string")
        try:
            raw = base64.b64decode(value.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise _GoDecodeError(path, "is not valid base64") from None
        return base64.b64encode(raw).decode("ascii")
    if schema == "time":
        if not isinstance(value, str):
            raise _GoDecodeError(path, "must be an RFC 3339 string")
        try:
            return _go_time(value)
        except ValueError:
            raise _GoDecodeError(path, "is not an RFC 3339 date-time") from None
    if schema == "bool":
        if not isinstance(value, bool):
            raise _GoDecodeError(path, "must be true or false")
        return value
    if schema == "int":
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**63:
            raise _GoDecodeError(path, "must be a 64-bit integer")
        return value
    if not isinstance(value, str):
        raise _GoDecodeError(path, "must be a string")
    return value


def _first_difference(ours: Any, gos: Any, path: str) -> str | None:
    if isinstance(ours, dict) and isinstance(gos, dict):
        for key in sorted(set(ours) | set(gos), key=lambda k: k.encode("utf-8")):
            sub = _path_join(path, key)
            if key not in gos:
                return f"{sub} is not a notary field; notary-server would drop it"
            if key not in ours:
                return (
                    f"{sub} is missing; notary-server would write "
                    f"{canonical_bytes(gos[key], path=sub).decode('utf-8')}"
                )
            found = _first_difference(ours[key], gos[key], sub)
            if found:
                return found
        return None
    if isinstance(ours, list) and isinstance(gos, list) and len(ours) == len(gos):
        for index, (a, b) in enumerate(zip(ours, gos, strict=True)):
            found = _first_difference(a, b, _path_join(path, index))
            if found:
                return found
        return None
    if type(ours) is type(gos) and ours == gos:
        return None
    shown_ours = canonical_bytes(ours, path=path).decode("utf-8")
    shown_gos = canonical_bytes(gos, path=path).decode("utf-8")
    return f"{path} is {shown_ours}; notary-server would write {shown_gos}"


def go_view_problems(document: SignedDocument) -> list[str]:
    """Compare a parsed document with what notary-server's Go structs would write back.

    Returns:
        Operator sentences, empty when the server's re-serialization equals the document.

    Raises:
        VerificationError: ``signed`` holds something canonical JSON cannot encode.
    """
    problems = []
    signed_type = document.signed.get("_type")
    schema = _SCHEMAS.get(signed_type) if isinstance(signed_type, str) else None
    if schema is None:
        problems.append(
            f"signed._type is {signed_type!r}; notary knows Root, Targets, Snapshot and Timestamp"
        )
    else:
        try:
            gos = _go_value(schema, document.signed, "signed")
        except _GoDecodeError as exc:
            problems.append(f"{exc}; notary-server cannot decode it")
        else:
            found = _first_difference(document.signed, gos, "signed")
            if found:
                problems.append(found)
    for index, signature in enumerate(document.signatures):
        if signature.method != signature.method.lower():
            problems.append(
                f"signatures[{index}].method is {signature.method!r}; notary-server would "
                f"write {signature.method.lower()!r}"
            )
    return problems


def _show_around(data: bytes, offset: int) -> str:
    start = max(0, offset - 24)
    return data[start : offset + 24].decode("utf-8", errors="replace")


def assert_reserializes(data: bytes) -> None:
    """Refuse bytes that notary would not write identically: the last gate before upload.

    Two checks: the bytes equal ``serialize(parse(data))`` (Go's encoder rules), and the parsed
    document equals what notary-server's Go structs would write back (no unknown fields, no
    missing ``"private":null``, expiry in Go's RFC3339Nano form, lower-case method, …).

    Raises:
        VerificationError: with the first byte offset or the field that differs.
    """
    document = parse(data)
    again = serialize(document.signed, document.signatures)
    if again != data:
        offset = next(
            (i for i, (a, b) in enumerate(zip(data, again, strict=False)) if a != b),
            min(len(data), len(again)),
        )
        raise VerificationError(
            f"metadata is not in notary's byte-exact form: it differs from notary's "
            f"serialization at byte {offset} (file: …{_show_around(data, offset)}…, notary: "
            f"…{_show_around(again, offset)}…); notary-server would hash different bytes and "
            "every client would fail with 'sha256 checksum … did not match'"
        )
    problems = go_view_problems(document)
    if problems:
        raise VerificationError(
            "metadata is not in notary's byte-exact form: "
            + "; ".join(problems)
            + "; every client would fail with 'sha256 checksum … did not match'"
        )
