"""The structure of TUF root metadata, checked before python-tuf parses it.

python-tuf's errors on malformed metadata are about its own code ("'str' object has no
attribute ...", a bare ``KeyError``); an auditor handed a broken root needs the field and
the value at fault: ``signed.roles.root.threshold: "two" is not an integer``. This checks
the shape the TUF specification gives root metadata before python-tuf sees it, and refuses a
few things python-tuf lets through (a version
``true``, ``consistent_snapshot: "yes"``, a role listing a key id the root does not hold, a
key value that is not an object). The first problem found is returned; the meaning
(signatures, thresholds) is python-tuf's and ours after it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

_TOP_ROLES = ("root", "targets", "snapshot", "timestamp")


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 100 else text[:97] + "..."


class _Problem(Exception):
    pass


def _need(obj: dict[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise _Problem(f"{where}.{key} is missing" if where else f"{key} is missing")
    return obj[key]


def _dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Problem(f"{where}: {_show(value)} is not an object")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _Problem(f"{where}: {_show(value)} is not a string")
    return value


def _int(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Problem(f"{where}: {_show(value)} is not an integer")
    if value < minimum:
        raise _Problem(f"{where}: {value} is below {minimum}")
    return value


def parse_checked(data: bytes) -> tuple[Any, str | None]:
    """Parse a metadata file's JSON (UTF-8, as python-tuf reads it) and check its structure.

    Returns:
        (the document, None) when sound (root metadata fully, any other type up to its
        ``_type``), else (None, the first problem, naming the field and its value).
    """
    try:
        doc = json.loads(data.decode("utf-8"))
    except RecursionError:
        return None, "the JSON is nested too deeply"
    except (UnicodeDecodeError, ValueError) as e:
        return None, f"not JSON ({e})"
    try:
        _check(doc)
    except _Problem as p:
        return None, str(p)
    except RecursionError:
        return None, "the JSON is nested too deeply"
    return doc, None


def root_shape_problem(data: bytes) -> str | None:
    """The first structural problem of a root metadata file, naming the field; None if sound.

    Checked: JSON with ``signed`` and ``signatures``; each signature's ``keyid`` and
    ``sig``; ``signed._type``, ``spec_version``, ``version`` (integer >= 1), ``expires``
    (``YYYY-MM-DDTHH:MM:SSZ``), ``consistent_snapshot`` (boolean, optional); every key's
    ``keytype``, ``scheme`` and ``keyval`` object; the four top-level roles, each with a
    ``keyids`` list of distinct strings naming listed keys and a ``threshold`` integer >= 1.
    """
    return parse_checked(data)[1]


def _check(doc: Any) -> None:
    doc = _dict(doc, "the file")
    sigs = _need(doc, "signatures", "")
    if not isinstance(sigs, list):
        raise _Problem(f"signatures: {_show(sigs)} is not a list")
    for i, sig in enumerate(sigs):
        sig = _dict(sig, f"signatures[{i}]")
        _str(_need(sig, "keyid", f"signatures[{i}]"), f"signatures[{i}].keyid")
        _str(_need(sig, "sig", f"signatures[{i}]"), f"signatures[{i}].sig")
    signed = _dict(_need(doc, "signed", ""), "signed")
    kind = _str(_need(signed, "_type", "signed"), "signed._type")
    if kind != "root":
        return  # not root: the caller says so by type
    _str(_need(signed, "spec_version", "signed"), "signed.spec_version")
    _int(_need(signed, "version", "signed"), "signed.version", 1)
    expires = _str(_need(signed, "expires", "signed"), "signed.expires")
    try:
        datetime.strptime(expires, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise _Problem(f"signed.expires: {_show(expires)} is not a UTC time "
                       "YYYY-MM-DDTHH:MM:SSZ") from None
    if "consistent_snapshot" in signed and not isinstance(signed["consistent_snapshot"], bool):
        raise _Problem(f"signed.consistent_snapshot: {_show(signed['consistent_snapshot'])} "
                       "is not true or false")
    keys = _dict(_need(signed, "keys", "signed"), "signed.keys")
    for keyid, key in keys.items():
        where = f"signed.keys.{keyid}"
        key = _dict(key, where)
        _str(_need(key, "keytype", where), f"{where}.keytype")
        _str(_need(key, "scheme", where), f"{where}.scheme")
        _dict(_need(key, "keyval", where), f"{where}.keyval")
    roles = _dict(_need(signed, "roles", "signed"), "signed.roles")
    for role in _TOP_ROLES:
        where = f"signed.roles.{role}"
        entry = _dict(_need(roles, role, "signed.roles"), where)
        keyids = _need(entry, "keyids", where)
        if not isinstance(keyids, list):
            raise _Problem(f"{where}.keyids: {_show(keyids)} is not a list")
        for j, keyid in enumerate(keyids):
            _str(keyid, f"{where}.keyids[{j}]")
            if keyid in keyids[:j]:
                raise _Problem(f"{where}.keyids[{j}]: {_show(keyid)} is listed twice")
            if keyid not in keys:
                raise _Problem(f"{where}.keyids[{j}]: {_show(keyid)} is not in signed.keys")
        _int(_need(entry, "threshold", where), f"{where}.threshold", 1)
