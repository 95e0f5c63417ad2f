"""Key ids, recomputed; and which ids are one key, so a threshold counts keys, not ids.

The TUF specification defines a key id as the sha256 of the canonical JSON of the key
object *as published*: custom fields (ours are ``x-ceremony-*``) included. Strict clients
(tough, used by sigstore-rs and tuftool) recompute it that way and refuse a root whose ids
do not match; python-tuf and securesystemslib hash only ``{keytype, scheme, keyval}``.
So keys made here get whole-object ids, and a key read from elsewhere may carry either
(:data:`WHOLE` or :data:`STANDARD`); any other id is refused with the key named, since a
client that does not recompute ids would trust a key under a name an attacker chose.

Ids never identify a key for counting: one public key can be listed under two ids (two
rules, or two sets of custom fields), and a client that counts ids counts it twice.
:func:`role_verdict` groups a role's ids by public key material and counts each key once,
for every format (Notary's own id rule lives in ``ceremony.formats.notary_keys``).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives import serialization
from securesystemslib.exceptions import FormatError
from securesystemslib.formats import encode_canonical

from ceremony.errors import PlanError, VerificationError
from ceremony.formats.base import KeyIdInfo, RoleVerdict

WHOLE = "whole-object"
"""The id is the sha256 of the canonical key object as published (the TUF specification)."""
STANDARD = "standard-fields"
"""The id is the sha256 of ``{keytype, scheme, keyval}`` only (python-tuf, securesystemslib)."""
BOTH = "whole-object=standard-fields"
"""A key with no custom fields: both rules give the same id (python-tuf's keys usually)."""
NOTARY = "notary"
"""The id follows Notary's rule: ``{keytype, keyval: {private: null, public}}``."""


def whole_object_keyid(key_object: Mapping[str, Any]) -> str:
    """The TUF specification's key id: sha256 over the canonical JSON of the whole key object
    (every field as published, custom ``x-`` fields included; never a ``keyid`` field)."""
    body = {k: v for k, v in key_object.items() if k != "keyid"}
    return hashlib.sha256(_canonical(body)).hexdigest()


def standard_keyid(keytype: str, scheme: str, keyval: Mapping[str, Any]) -> str:
    """The id python-tuf and securesystemslib compute: over keytype, scheme and keyval only."""
    body = {"keytype": keytype, "scheme": scheme, "keyval": dict(keyval)}
    return hashlib.sha256(_canonical(body)).hexdigest()


def _canonical(obj: Any) -> bytes:
    """OLPC canonical JSON, as TUF hashes it (securesystemslib's encoder).

    Raises:
        ValueError: a value canonical JSON cannot hold (a float, say): no id is a hash of it.
    """
    try:
        return str(encode_canonical(obj)).encode()
    except FormatError as e:
        raise ValueError(f"the key cannot be written as canonical JSON: {e}") from None


def _object(key: Any) -> dict[str, Any]:
    """The published object of a securesystemslib key (or of a plain key dict)."""
    return dict(key) if isinstance(key, Mapping) else dict(key.to_dict())


def tuf_keyid_rule(keyid: str, key: Any) -> str | None:
    """Which rule ``keyid`` follows for ``key`` (an sslib ``Key`` or its dict): :data:`WHOLE`,
    :data:`STANDARD`, :data:`BOTH` (no custom fields: the two agree), or None for neither."""
    obj = _object(key)
    try:
        whole = keyid == whole_object_keyid(obj)
    except ValueError:
        whole = False
    try:
        standard = keyid == standard_keyid(obj["keytype"], obj["scheme"], obj["keyval"])
    except (KeyError, TypeError, ValueError):
        standard = False
    if whole and standard:
        return BOTH
    return WHOLE if whole else STANDARD if standard else None


def check_tuf_keyid(keyid: str, key: Any, who: str, where: str = "") -> str:
    """Refuse ``key`` listed under ``keyid`` unless the id is one of the two accepted hashes.

    ``who`` names the key for the room (its keyholder, or "the targets key"); ``where`` the
    file it was read from. Returns the rule the id follows.

    Raises:
        VerificationError: the id matches neither rule (exit 3), with both computed ids.
    """
    rule = tuf_keyid_rule(keyid, key)
    if rule is not None:
        return rule
    obj = _object(key)
    try:
        standard = standard_keyid(obj["keytype"], obj["scheme"], obj["keyval"])
    except (KeyError, TypeError, ValueError):
        standard = "(none: the key lacks keytype, scheme or keyval)"
    try:
        whole = whole_object_keyid(obj)
    except ValueError:
        whole = "(none: the key holds a value canonical JSON cannot encode)"
    prefix = f"{where}: " if where else ""
    raise VerificationError(
        f"{prefix}{who} is listed under key id {keyid}, which does not match the key: "
        f"calculated {whole} over the whole key object and {standard} over "
        "keytype, scheme and keyval",
        hint="a key id is a hash of the key; one that matches neither is a key under a name "
             "someone chose, and is never trusted")


def check_root_keyids(root: Any, where: str, name: Callable[[Any], str]) -> dict[str, str]:
    """Recompute the id of every key a TUF root lists; keyid -> the rule it follows.

    ``name(key)`` names a key for the room (e.g. ``ceremony.formats.tuf.key_name``).

    Raises:
        VerificationError: a key is listed under an id that matches neither rule.
    """
    roles_of: dict[str, list[str]] = {}
    for role_name, role in root.roles.items():
        for keyid in role.keyids:
            roles_of.setdefault(keyid, []).append(role_name)
    rules = {}
    for keyid, key in root.keys.items():
        roles = roles_of.get(keyid, [])
        who = name(key) if "root" in roles else (
            f"the {' and '.join(roles)} key" if roles else "an unused key")
        label = who if keyid[:12] in who else f"{who} ({keyid[:12]})"
        rules[keyid] = check_tuf_keyid(keyid, key, label, where)
    return rules


def new_tuf_keyid(key_object: Mapping[str, Any]) -> str:
    """The id a key made (or brought in without one) gets here: the whole-object id. Compute it
    only once every field of the key is final (an attestation included)."""
    return whole_object_keyid(key_object)


# ---- one key, however many ids ------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _material(keytype: str, scheme: str, keyval_json: str) -> bytes:
    """SubjectPublicKeyInfo DER of a TUF key's public value, or its canonical keyval when the
    key is one this tool cannot parse (then two ids are one key only if their keyval is)."""
    # lazy: securesystemslib.signer (over 100 ms), which `import ceremony.plan` must not load
    from securesystemslib.signer import SSlibKey

    try:
        crypto = SSlibKey("0" * 64, keytype, scheme, json.loads(keyval_json))._crypto_key()
        return crypto.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    except Exception:  # noqa: BLE001 - unparseable: compare the published value instead
        return b"keyval:" + keyval_json.encode()


def public_identity(key: Any) -> bytes:
    """What makes two listed keys one key: the public key material (SPKI DER), whatever the
    id, scheme or custom fields. Works for securesystemslib keys and for keys offering a
    ``public_key()`` (notary keys, whose certificates may differ around one public key)."""
    public_key = getattr(key, "public_key", None)
    if callable(public_key):
        try:
            return public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
        except Exception:  # noqa: BLE001 - an unreadable key is only ever equal to itself
            return b"unreadable:" + str(id(key)).encode()
    obj = _object(key)
    return _material(str(obj.get("keytype")), str(obj.get("scheme")),
                     json.dumps(obj.get("keyval"), sort_keys=True))


def alias_groups(keyids: Sequence[str], keys: Mapping[str, Any]) -> list[list[str]]:
    """``keyids`` grouped by public key, in listing order: one group per distinct key (ids
    missing from ``keys`` are left out, as a client skips them)."""
    groups: dict[bytes, list[str]] = {}
    for keyid in keyids:
        if keyid in keys:
            groups.setdefault(public_identity(keys[keyid]), []).append(keyid)
    return list(groups.values())


def _times(n: int) -> str:
    return {2: "twice", 3: "three times"}.get(n, f"{n} times")


def alias_note(group: Sequence[str], keys: Mapping[str, Any], name: Callable[[Any], str]) -> str:
    """How the room hears that one key is listed under several ids."""
    names = list(dict.fromkeys(name(keys[k]) for k in group))
    ids = [k[:12] for k in group]
    under = ", ".join(ids[:-1]) + f" and {ids[-1]}"
    if len(names) == 1:
        return f"{names[0]}'s key is listed {_times(len(group))}, under ids {under}: it counts once"
    return (f"one key is listed {_times(len(group))}, as " + ", ".join(names[:-1])
            + f" and {names[-1]} (ids {under}): it counts once")


def role_verdict(label: str, threshold: int, keyids: Sequence[str], keys: Mapping[str, Any],
                 signed_by: Callable[[str], bool], name: Callable[[Any], str],
                 rule_of: Callable[[str, Any], str | None] | None = None) -> RoleVerdict:
    """Count a role's signatures by distinct public key: a key listed under several ids is
    signed when any of its ids carries a valid signature, and counts once.

    ``signed_by(keyid)`` says whether a valid signature is attached under that id;
    ``rule_of(keyid, key)`` which id rule it follows (for ``--json``).
    """
    signed: list[str] = []
    unsigned: list[str] = []
    notes: list[str] = []
    groups = alias_groups(keyids, keys)
    for group in groups:
        who = name(keys[group[0]])
        (signed if any(signed_by(k) for k in group) else unsigned).append(who)
        if len(group) > 1:
            notes.append(alias_note(group, keys, name))
    if notes and len(groups) < threshold:
        notes.append(f"only {len(groups)} distinct key{'s' if len(groups) != 1 else ''} for a "
                     f"threshold of {threshold}: it can never be met")
    infos = tuple(KeyIdInfo(name(keys[k]), k, (rule_of(k, keys[k]) if rule_of else None) or "unknown")
                  for k in keyids if k in keys)
    return RoleVerdict(label, threshold, tuple(signed), tuple(unsigned), tuple(notes), infos)


def alias_notes(root: Any, role: str, name: Callable[[Any], str]) -> list[str]:
    """One sentence per public key that ``root`` lists more than once in ``role`` (a TUF
    ``Root`` or a notary root view: both offer ``roles[role].keyids`` and ``keys``)."""
    return [alias_note(g, root.keys, name)
            for g in alias_groups(root.roles[role].keyids, root.keys) if len(g) > 1]


def refuse_aliases(role: str, keys: Sequence[Any], name: Callable[[Any], str]) -> None:
    """Refuse to draft a role that lists one public key twice (under two ids), before anyone
    signs: clients that count ids would count that keyholder twice.

    Raises:
        PlanError: two of ``keys`` are one public key (exit 2), naming their holders.
    """
    by_id = {k.keyid: k for k in keys}
    for group in alias_groups([k.keyid for k in keys], by_id):
        if len(group) > 1:
            names = list(dict.fromkeys(name(by_id[k]) for k in group))
            ids = " and ".join(k[:12] for k in group)
            who = (f"{names[0]}'s key {_times(len(group))}, under ids {ids}" if len(names) == 1
                   else f"one key {_times(len(group))}, as " + " and ".join(names)
                   + f" (ids {ids})")
            raise PlanError(f"the {role} role would list {who}: one key counts once toward a "
                            "threshold", hint="give each keyholder (and each online key) its own key")


def repeated_signatures(data: bytes) -> str | None:
    """What is wrong when a metadata file lists one key id's signature more than once (python-tuf
    refuses such a file, so every client does), said for the room; None if nothing is.

    Never raises: ``data`` that is not JSON is someone else's verdict.
    """
    try:
        sigs = json.loads(data).get("signatures")
        ids = [s.get("keyid") for s in sigs if isinstance(s, dict)]
    except (ValueError, AttributeError, TypeError):
        return None
    for keyid in dict.fromkeys(ids):
        n = ids.count(keyid)
        if n > 1 and isinstance(keyid, str):
            return (f"lists a signature under key id {keyid[:12]} {_times(n)}: a key signs once, "
                    "and clients refuse the file")
    return None


def refuse_unknown_signatures(signed_ids: Iterable[str], allowed: Collection[str], what: str,
                              whose: str) -> None:
    """Refuse a file that carries a signature under a key id its role does not list.

    python-tuf (and notary) ignore such an entry: it counts for nothing toward a threshold.
    We refuse it instead: this tool decides what is signed, and a signature by a key nobody
    asked to sign is someone's attempt, a leftover of another ceremony, or a mistake, and in
    every case not something to pass on. ``allowed`` is every key id whose signature belongs
    there (for a root: its own root role's and the previous root's, which it must satisfy too);
    ``what`` names the file and ``whose`` the role(s).

    Raises:
        VerificationError: a signature by a key id outside ``allowed`` (its first 16 hex).
    """
    stray = next((k for k in signed_ids if k not in allowed), None)
    if stray is not None:
        raise VerificationError(
            f"{what} carries a signature by key id {str(stray)[:16]}, which is not a key of "
            f"{whose}: a signature the role does not ask for is refused, not ignored",
            hint="only the role's own keys sign it; ask who added the entry, and take the file "
                 "from a copy without it")


def describe_keys(root: Any, name: Callable[[Any], str]) -> list[dict[str, Any]]:
    """Every key a root lists, for ``--json``: who holds it, its roles, its id and the rule the
    id follows (TUF roots and notary root views alike)."""
    out = []
    for keyid, key in root.keys.items():
        if hasattr(key, "entry"):  # a notary key: notary's own rule
            # lazy: notary_keys (~5 ms), not loaded by ceremony.plan nor by the TUF keygen and sign steps
            from ceremony.formats.notary_keys import entry_key_id
            try:
                rule: str | None = NOTARY if entry_key_id(key.entry) == keyid else None
            except VerificationError:
                rule = None
        else:
            rule = tuf_keyid_rule(keyid, key)
        roles = [r for r, role in root.roles.items() if keyid in role.keyids]
        out.append({"name": name(key), "keyid": keyid, "roles": roles,
                    "keyid_rule": rule or "unknown"})
    return out
