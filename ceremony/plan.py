"""The plan: one TOML file saying what the ceremony is, validated before any token is touched.

The plan is the desired state of the root: who holds root keys and on which
token, the thresholds, the online keys, the expiry periods. Validation is strict
(boulder's rule): an unknown key or an impossible value is an error naming the
field, so a typo cannot silently change a ceremony.

Parsing the structure (:func:`parse_plan`) is separate from reading the online
public key files it names (:func:`load_online_keys`): the workspace keeps its own
copy of those keys from ``init`` on, so later steps never depend on files
outside it.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from ceremony import role_paths
from ceremony.errors import PlanError
from ceremony.formats import registry, tuf_compat
from ceremony.frozen import frozen
from ceremony.inputs import check_text, decode_utf8, load_toml, read_input_file
from ceremony.keyids import public_identity
from ceremony.keys import PublicKeyFile, load_public_key_file
from hsm.algorithms import ALGORITHMS, DEFAULT_ALGORITHM

ROOT = "root"
ONLINE_ROLES = ("targets", "snapshot", "timestamp")
ROLES = (ROOT, *ONLINE_ROLES)
DEVICES = ("pkcs11", "yubikey")
YUBIKEY_ALGORITHMS = ("ecdsa-p256", "ecdsa-p384")  # what ykcs11 signs and YubiKeys generate
TOUCH_POLICIES = ("always", "cached")

# Patterns, compiled by re on first use (not at import: start-up time).
_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"  # always fullmatch: "$" allows a final newline
_DURATION = r"([0-9]{1,12})([hdwy])"
_KEYID = r"[0-9a-f]{64}"
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1),
          "y": timedelta(days=365)}
#: The longest expiry a plan may ask for. Metadata dates must stay far inside year 9999 (where
#: Python's datetime, and so python-tuf, stop); no root should outlive its keyholders' careers.
MAX_DURATION = timedelta(days=100 * 365)
MAX_DURATION_TEXT = "100y"
#: What a plan file may weigh: a plan is a few KB.
MAX_PLAN_FILE = 256 * 1024
#: A bundle manifest carries the repository as text of at most 200 printable characters
#: (ceremony/transport/bundle.py); a longer name could never be exported.
MAX_REPOSITORY = 200
#: CK_TOKEN_INFO holds a token label in 32 bytes and a serial in 16 (PKCS#11 2.40, 3.2):
#: a longer value can never match a token.
MAX_TOKEN_LABEL_BYTES = 32
MAX_TOKEN_SERIAL_BYTES = 16
#: Thresholds, counts: far above any ceremony, far below any overflow.
MAX_COUNT = 1000


@frozen
class Keyholder:
    """A person who holds one root key on one token (named by label and/or serial).

    ``device = "yubikey"``: the token is the YubiKey with serial ``serial``; the key
    lives in PIV slot 9c with PIN policy ALWAYS and touch policy ``touch``, and its
    attestation is verified and recorded at keygen.
    """

    name: str
    token: str | None
    serial: str | None
    algorithm: str
    device: str = "pkcs11"
    touch: str | None = None  # YubiKeys only: "always" (default) or "cached"

    @property
    def is_yubikey(self) -> bool:
        return self.device == "yubikey"


@frozen
class RootRole:
    """Who holds the root keys and how many must sign."""

    keyholders: tuple[str, ...]
    threshold: int
    expires: timedelta
    signing_period: timedelta | None = None  # compat = "tuf-on-ci": x-tuf-on-ci-signing-period


@frozen
class OnlineRole:
    """An online role (targets, snapshot, timestamp): public keys made elsewhere."""

    name: str
    key_paths: tuple[str, ...]
    threshold: int
    expires: timedelta
    uris: tuple[str, ...] = ()  # signer URIs, by position in key_paths (ceremony.formats.tuf_compat)
    signing_period: timedelta | None = None  # compat = "tuf-on-ci": x-tuf-on-ci-signing-period


@frozen
class OfflineRole:
    """A role beyond root signed offline at a threshold: ``targets`` made offline, or a role
    ``targets`` delegates to (``paths`` or ``path_hash_prefixes``, ``terminating``).

    ``keyholders`` sign it with the key on their token (the one key a keyholder holds serves
    every role the plan gives them, as tuf-on-ci's signers do). ``targets`` are files of the
    plan's folder, listed in the role hashed and sized, under their relative path.
    """

    name: str
    keyholders: tuple[str, ...]
    threshold: int
    expires: timedelta
    targets: tuple[str, ...] = ()
    paths: tuple[str, ...] | None = None
    path_hash_prefixes: tuple[str, ...] | None = None
    terminating: bool = False
    # A delegation to keys held elsewhere (public key files, as online roles name them): the
    # ceremony lists it in targets and signs nothing of it (``keyholders`` is then empty).
    key_paths: tuple[str, ...] = ()

    @property
    def signed_here(self) -> bool:
        """Whether this ceremony signs the role (its keyholders are in the plan)."""
        return bool(self.keyholders)

    @property
    def delegated(self) -> bool:
        """Whether ``targets`` delegates this role (every offline role but ``targets``)."""
        return self.name != "targets"


@frozen
class Plan:
    """A validated plan."""

    name: str
    format: str
    repository: str
    pkcs11_module: str | None
    rehearsal: bool
    consistent_snapshot: bool
    expiry_warning: timedelta
    keyholders: tuple[Keyholder, ...]
    root: RootRole
    online: tuple[OnlineRole, ...]
    # Emergency only: the previous root's threshold can no longer be met by honest keys, so
    # the new root is distributed to clients out of band and only its own threshold counts.
    out_of_band: bool = False
    # FIDO2 witnesses (by name) and how many must sign off the journal head before
    # the critical steps (publish, seal).
    witnesses: tuple[str, ...] = ()
    witnesses_required: int = 0
    # Emergency only: key ids of the previous root declared compromised. They never sign
    # this ceremony's root, never count, and are never kept in it (see ceremony/compromise.py).
    compromised_keys: tuple[str, ...] = ()
    # Roles beyond root signed offline (issue 15): ``targets`` when the plan gives it
    # keyholders, then the delegated roles in the plan's order (``[[delegations]]``).
    offline: tuple[OfflineRole, ...] = ()
    # "tuf-on-ci": keys and roles carry the fields tuf-on-ci reads (ceremony.formats.tuf_compat).
    compat: str | None = None

    @property
    def signers(self) -> tuple[str, ...]:
        """Every keyholder who holds a key in this ceremony: root's, then those only the
        offline roles name, in plan order."""
        names = list(self.root.keyholders)
        for role in self.offline:
            names += [k for k in role.keyholders if k not in names]
        return tuple(names)

    def offline_role(self, name: str) -> OfflineRole | None:
        """The offline role called ``name``, if the plan has one."""
        return next((r for r in self.offline if r.name == name), None)

    def witness(self, name: str) -> str:
        """The witness called ``name``.

        Raises:
            PlanError: no such witness in the plan.
        """
        if name in self.witnesses:
            return name
        known = ", ".join(self.witnesses) or "none"
        raise PlanError(f"no witness {name!r} in the plan (witnesses: {known})",
                        hint="witnesses are listed in the plan as [[witnesses]] name = \"...\"")

    def keyholder(self, name: str) -> Keyholder:
        """The keyholder called ``name``.

        Raises:
            PlanError: no such keyholder in the plan.
        """
        for k in self.keyholders:
            if k.name == name:
                return k
        known = ", ".join(k.name for k in self.keyholders)
        raise PlanError(f"no keyholder {name!r} in the plan (keyholders: {known})")

    def online_role(self, name: str) -> OnlineRole:
        """The online role called ``name`` (always present in a valid plan)."""
        return next(r for r in self.online if r.name == name)


def parse_duration(value: Any, field: str) -> timedelta:
    """Parse ``"365d"``-style durations (h, d, w, y = 365 days).

    Raises:
        PlanError: not a positive duration.
    """
    if not isinstance(value, str) or not (m := re.fullmatch(_DURATION, value)) or int(m.group(1)) == 0:
        raise PlanError(f"{field} must be a positive duration such as \"365d\", \"12w\" or \"48h\", "
                        f"not {value[:40] if isinstance(value, str) else value!r}")
    count, unit = int(m.group(1)), _UNITS[m.group(2)]
    # Compare before multiplying: a huge count would overflow timedelta itself.
    if count > MAX_DURATION // unit:
        raise PlanError(f"{field} is {value[:40]!r}, longer than any expiry this tool makes "
                        f"(at most {MAX_DURATION_TEXT}, i.e. {MAX_DURATION.days} days)")
    return count * unit


def format_duration(value: timedelta) -> str:
    """Inverse of :func:`parse_duration` for whole days or hours."""
    if value.total_seconds() % 86400 == 0:
        return f"{int(value.total_seconds() // 86400)}d"
    return f"{int(value.total_seconds() // 3600)}h"


class _Table:
    """A TOML table being validated: every key must be read, or it is unknown."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise PlanError(f"{where} must be a table")
        self.data = data
        self.where = where
        self.seen: set[str] = set()

    def _field(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if default is not ...:
                return default  # a misspelling of it is left over, and refused, at done()
            misspelt = _close(key, [k for k in self.data if k not in self.seen], 0.75)
            if misspelt:
                raise PlanError(f"unknown field {self._field(misspelt)} in the plan "
                                f"(did you mean `{key}`?)",
                                hint="check the spelling; unknown fields are never ignored")
            raise PlanError(f"{self._field(key)} is required")
        value = self.data[key]
        # TOML booleans are ints in Python: keep them apart.
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise PlanError(f"{self._field(key)} must be {_kind_name(kind)}, not a boolean")
        if not isinstance(value, kind):
            raise PlanError(f"{self._field(key)} must be {_kind_name(kind)}")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_COUNT:
            raise PlanError(f"{self._field(key)} is {str(value)[:30]}, far beyond any ceremony "
                            f"(at most {MAX_COUNT})")
        return value

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            # a field asked for and absent is the likeliest meaning of a misspelt one
            close = (_close(unknown[0], sorted(self.seen - set(self.data)), 0.75)
                     or _close(unknown[0], sorted(self.seen), 0.6))
            guess = f" (did you mean `{close}`?)" if close else ""
            raise PlanError(f"unknown field {self._field(unknown[0])} in the plan{guess}",
                            hint="check the spelling; unknown fields are never ignored")

    def text(self, key: str, default: Any = ..., *, max_chars: int | None = None,
             max_bytes: int | None = None) -> Any:
        """A string field that names something: printable, trimmed, within bounds.

        Raises:
            PlanError: naming the field and what is wrong with it.
        """
        value = self.get(key, str, default)
        if value is None:
            return value
        problem = check_text(value, max_chars=max_chars, max_bytes=max_bytes)
        if problem:
            raise PlanError(f"{self._field(key)} {value[:40]!r} {problem}")
        return value


def _close(word: str, candidates: list[str], cutoff: float) -> str | None:
    """The candidate ``word`` most likely misspells, if any (only on the way to a refusal)."""
    import difflib  # lazy: ~3M instructions, for a plan that is refused anyway

    found = difflib.get_close_matches(word, candidates, n=1, cutoff=cutoff)
    return found[0] if found else None


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", bool: "true or false", list: "a list",
             dict: "a table"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _threshold(table: _Table, count: int, members: str) -> int:
    value = table.get("threshold", int)
    if value < 1:
        raise PlanError(f"{table.where}.threshold must be at least 1, not {value}")
    if value > count:
        raise PlanError(f"{table.where}.threshold is {value} but the role has only {count} "
                        f"{members}: it could never be met")
    return value


def _string_list(table: _Table, key: str) -> tuple[str, ...]:
    items = table.get(key, list)
    if not items:
        raise PlanError(f"{table.where}.{key} must not be empty")
    for item in items:
        if not isinstance(item, str) or not item:
            raise PlanError(f"{table.where}.{key} must list non-empty strings")
        problem = check_text(item, max_chars=4096)
        if problem:
            raise PlanError(f"{table.where}.{key} lists {item[:40]!r}, which {problem}")
    dupes = sorted({i for i in items if items.count(i) > 1})
    if dupes:
        raise PlanError(f"{table.where}.{key} lists {dupes[0]!r} twice")
    return tuple(items)


def _compromised_keys(cer: _Table) -> tuple[str, ...]:
    """``ceremony.compromised_keys``: full hex key ids (64 digits), each once."""
    if cer.get("compromised_keys", list, None) is None:
        return ()
    ids = _string_list(cer, "compromised_keys")
    for keyid in ids:
        if not re.fullmatch(_KEYID, keyid):
            raise PlanError(f"ceremony.compromised_keys: {keyid!r} is not a key id "
                            "(64 lower-case hex digits, as the root lists it)")
    return ids


def parse_plan(text: str) -> Plan:
    """Parse and validate a plan's TOML text (without reading any key file).

    Raises:
        PlanError: the text is not TOML, or a field is unknown, missing or impossible.
    """
    data = load_toml(text, "the plan", error=PlanError)
    top = _Table(data, "")

    cer = _Table(top.get("ceremony", dict), "ceremony")
    name = cer.get("name", str)
    if not re.fullmatch(_NAME, name):
        raise PlanError("ceremony.name must be 1-64 letters, digits, '.', '_' or '-', "
                        "starting with a letter or digit")
    fmt = cer.get("format", str, registry.DEFAULT)
    if fmt not in registry.names():
        raise PlanError(f"ceremony.format must be one of {', '.join(registry.names())}, not {fmt!r}")
    repository = cer.get("repository", str)
    if not repository.strip():
        raise PlanError("ceremony.repository must not be empty")
    problem = check_text(repository, max_chars=MAX_REPOSITORY)
    if problem:
        raise PlanError(f"ceremony.repository {repository[:40]!r} {problem}",
                        hint="the repository name travels in every bundle's manifest: "
                             f"1 to {MAX_REPOSITORY} printable characters")
    module = cer.text("pkcs11_module", None, max_chars=4096)
    rehearsal = cer.get("rehearsal", bool, False)
    consistent = cer.get("consistent_snapshot", bool, True)
    warning = parse_duration(cer.get("expiry_warning", str, "30d"), "ceremony.expiry_warning")
    out_of_band = cer.get("out_of_band", bool, False)
    witnesses_required = cer.get("witnesses_required", int, 0)
    compromised = _compromised_keys(cer)
    compat = tuf_compat.parse_compat(cer.get("compat", str, None), fmt)
    cer.done()

    raw_holders = top.get("keyholders", list)
    if not raw_holders:
        raise PlanError("keyholders must list at least one keyholder")
    holders: list[Keyholder] = []
    for i, raw in enumerate(raw_holders):
        t, kname = _named(raw, "keyholders", i)
        token = t.text("token", None, max_bytes=MAX_TOKEN_LABEL_BYTES)
        serial = t.text("serial", None, max_bytes=MAX_TOKEN_SERIAL_BYTES)
        device = t.get("device", str, "pkcs11")
        if token is None and serial is None and device != "yubikey":
            raise PlanError(f"keyholders[{i}] ({kname}) needs a token label (token = ...) "
                            "or a token serial (serial = ...)")
        algorithm = t.get("algorithm", str, DEFAULT_ALGORITHM)
        if algorithm not in ALGORITHMS:
            raise PlanError(f"keyholders[{i}].algorithm must be one of "
                            f"{', '.join(sorted(ALGORITHMS))}, not {algorithm!r}")
        touch = t.get("touch", str, None)
        _check_device(i, kname, device, token, serial, algorithm, touch)
        if device == "yubikey" and touch is None:
            touch = "always"
        t.done()
        holders.append(Keyholder(kname, token, serial, algorithm, device, touch))
    _check_unique(holders)

    roles = _Table(top.get("roles", dict), "roles")
    r = _Table(roles.get(ROOT, dict), "roles.root")
    members = _string_list(r, "keyholders")
    known = {h.name for h in holders}
    for m in members:
        if m not in known:
            raise PlanError(f"roles.root.keyholders names {m!r}, who is not in keyholders")
    root = RootRole(members, _threshold(r, len(members), "keyholders"),
                    parse_duration(r.get("expires", str), "roles.root.expires"),
                    _signing_period(r, compat))
    r.done()

    online = []
    offline: list[OfflineRole] = []
    klass = registry.format_class(fmt)
    for role in klass.online_roles:  # a format may have none (x509)
        t = _Table(roles.get(role, dict), f"roles.{role}")
        if role == "targets" and "keyholders" in t.data:
            offline.append(_offline_targets(t, known))
            continue
        paths = _string_list(t, "keys")
        online.append(OnlineRole(role, paths, _threshold(t, len(paths), "keys"),
                                 parse_duration(t.get("expires", str), f"roles.{role}.expires"),
                                 tuf_compat.check_uris(role, t.get("uris", list, None), len(paths), fmt),
                                 _signing_period(t, compat)))
        t.done()
    roles.done()
    offline += _delegations(top.get("delegations", list, []), known, bool(offline))
    witnesses = _witnesses(top.get("witnesses", list, []))
    if witnesses_required < 0:
        raise PlanError(f"ceremony.witnesses_required must be 0 or more, not {witnesses_required}")
    if witnesses_required > len(witnesses):
        raise PlanError(f"ceremony.witnesses_required is {witnesses_required} but the plan lists "
                        f"only {len(witnesses)} witness{'' if len(witnesses) == 1 else 'es'}: "
                        "it could never be met")
    if own := klass.plan_table:  # the format's own table ([x509]): its check_plan reads it
        top.get(own, dict, None)
    top.done()
    plan = Plan(name, fmt, repository, module, rehearsal, consistent, warning, tuple(holders),
                root, tuple(online), out_of_band, witnesses, witnesses_required, compromised,
                offline=tuple(offline), compat=compat)
    if offline and not klass.offline_roles:
        raise PlanError(f"format {fmt!r} signs only root offline: roles.targets.keyholders and "
                        "[[delegations]] need format = \"tuf\"")
    registry.format_class(fmt).check_plan(plan, text)  # the format's own rules (witnesses, devices)
    return plan


def _check_device(i: int, name: str, device: str, token: str | None, serial: str | None,
                  algorithm: str, touch: str | None) -> None:
    """A keyholder's ``device``, ``touch`` and what a YubiKey allows of the other fields.

    Raises:
        PlanError: naming the field.
    """
    where = f"keyholders[{i}]"
    if device not in DEVICES:
        raise PlanError(f"{where}.device must be \"pkcs11\" or \"yubikey\", not {device!r}")
    if device != "yubikey":
        if touch is not None:
            raise PlanError(f"{where}.touch only applies to device = \"yubikey\"")
        return
    if serial is None:
        raise PlanError(f"{where} ({name}) has device = \"yubikey\" and needs the YubiKey's "
                        "serial (serial = \"12345678\", as printed on its case)")
    if not serial.isascii() or not serial.isdigit() or len(serial) > 10:
        raise PlanError(f"{where}.serial must be the YubiKey's serial number (digits only), "
                        f"not {serial!r}")
    if token is not None:
        raise PlanError(f"{where}.token does not apply to a YubiKey: it is chosen by serial")
    if algorithm not in YUBIKEY_ALGORITHMS:
        raise PlanError(f"{where}.algorithm must be {' or '.join(YUBIKEY_ALGORITHMS)} for a "
                        f"YubiKey, not {algorithm!r}")
    if touch is not None and touch not in TOUCH_POLICIES:
        raise PlanError(f"{where}.touch must be \"always\" or \"cached\", not {touch!r}")


def _signing_period(table: _Table, compat: str | None) -> timedelta | None:
    """``roles.ROLE.signing_period`` (tuf-on-ci's re-signing window), with compat only.

    Raises:
        PlanError: not a duration, or given without ``ceremony.compat``.
    """
    value = table.get("signing_period", str, None)
    if value is None:
        return None
    if compat is None:
        raise PlanError(f"{table.where}.signing_period only applies with ceremony.compat = "
                        f"\"{tuf_compat.TUF_ON_CI}\"")
    return parse_duration(value, f"{table.where}.signing_period")


def _named(item: Any, array: str, i: int) -> tuple[_Table, str]:
    """Item ``i`` of the array of tables ``array`` (keyholders, witnesses, delegations) and its
    ``name``, which must be letters, digits, '.', '_' or '-'.

    Raises:
        PlanError: the item is not a table, or its name is missing or malformed.
    """
    t = _Table(item, f"{array}[{i}]")
    name = t.get("name", str)
    if not re.fullmatch(_NAME, name):
        raise PlanError(f"{array}[{i}].name {name!r} must be letters, digits, '.', '_' or '-'")
    return t, name


def _witnesses(raw: list[Any]) -> tuple[str, ...]:
    """``[[witnesses]]``: each a table with a unique ``name``.

    Raises:
        PlanError: naming the field.
    """
    names: list[str] = []
    for i, item in enumerate(raw):
        t, wname = _named(item, "witnesses", i)
        if wname in names:
            raise PlanError(f"witness {wname!r} appears twice in witnesses")
        t.done()
        names.append(wname)
    return tuple(names)


def _check_unique(holders: list[Keyholder]) -> None:
    seen_names: set[str] = set()
    seen_tokens: dict[tuple[str, str], str] = {}
    for h in holders:
        if h.name in seen_names:
            raise PlanError(f"keyholder {h.name!r} appears twice in keyholders")
        seen_names.add(h.name)
        for kind, value in (("token", h.token), ("serial", h.serial)):
            if value is None:
                continue
            other = seen_tokens.get((kind, value))
            if other is not None:
                raise PlanError(f"keyholders {other!r} and {h.name!r} name the same {kind} "
                                f"{value!r}: each root key needs its own token")
            seen_tokens[(kind, value)] = h.name


def load_plan(path: Path) -> Plan:
    """Read and validate the plan at ``path``.

    Raises:
        PlanError: unreadable or invalid.
    """
    return parse_plan(read_plan_text(path))


def read_plan_text(path: Path) -> str:
    """The text of the plan file at ``path``: a regular file, bounded, strict UTF-8.

    Raises:
        PlanError: missing, not a regular file (a FIFO, a folder), too large, or not UTF-8.
    """
    data = read_input_file(path, MAX_PLAN_FILE, "the plan", error=PlanError,
                           too_large="far larger than any plan")
    return decode_utf8(data, f"the plan {path}", error=PlanError)


def load_online_keys(plan: Plan, base: Path) -> dict[str, list[PublicKeyFile]]:
    """Read every online public key the plan names (paths relative to ``base``).

    Raises:
        PlanError: a file is missing, is not a public key, is a private key, or is
            listed twice in one role.
    """
    out: dict[str, list[PublicKeyFile]] = {}
    for role in plan.online:
        keys = []
        for i, rel in enumerate(role.key_paths):
            keys.append(load_public_key_file(base / rel, f"roles.{role.name}.keys[{i}]"))
        ids = [k.key.keyid for k in keys]
        for k in keys:
            if ids.count(k.key.keyid) > 1:
                raise PlanError(f"roles.{role.name}.keys lists the same key twice ({k.source})")
        _refuse_aliases(role.name, keys)
        out[role.name] = keys
    return out


def _refuse_aliases(role: str, keys: list[PublicKeyFile]) -> None:
    """Refuse two files holding one public key (under two ids): it would count twice.

    Raises:
        PlanError: two files of ``role`` hold the same public key.
    """
    seen: dict[bytes, PublicKeyFile] = {}
    for k in keys:
        first = seen.setdefault(public_identity(k.key), k)
        if first is not k:
            raise PlanError(f"roles.{role}.keys lists the same key twice ({first.source} and "
                            f"{k.source}, under ids {first.key.keyid[:12]} and {k.key.keyid[:12]})")


def shared_online_keys(online: dict[str, list[PublicKeyFile]]) -> list[str]:
    """Warnings for a key used by more than one online role (allowed, but weakens separation)."""
    seen: dict[bytes, str] = {}
    warnings = []
    for role, keys in online.items():
        for k in keys:
            other = seen.setdefault(public_identity(k.key), role)
            if other != role:
                warnings.append(f"the same key ({k.key.keyid[:12]}) is used by {other} and {role}: "
                                "a compromise of one role is a compromise of both")
    return warnings


def client_warnings(plan: Plan) -> list[str]:
    """What a plan asks of the clients that some cannot do (measured, not guessed)."""
    p384 = [k for k in plan.root.keyholders if plan.keyholder(k).algorithm == "ecdsa-p384"]
    if not p384:
        return []
    return [f"root keys of {', '.join(p384)} are ecdsa-p384: tuf-js clients before 6.0.2 check "
            "P-384 signatures against a SHA-256 hash and refuse such roots (python-tuf accepts "
            "them); choose ecdsa-p256 if your clients use tuf-js"]


#: A delegated role may not take a top-level role's name (TUF's metadata file names would
#: collide, and clients look those names up as top-level roles).
TOP_LEVEL_ROLES = (ROOT, *ONLINE_ROLES)
_HASH_PREFIX = r"[0-9a-f]{1,64}"  # compiled by re on first use


def _keyholder_list(t: _Table, known: set[str]) -> tuple[str, ...]:
    members = _string_list(t, "keyholders")
    for m in members:
        if m not in known:
            raise PlanError(f"{t.where}.keyholders names {m!r}, who is not in keyholders")
    return members


def _target_files(t: _Table) -> tuple[str, ...]:
    """``targets``: files of the plan's folder, by relative path (the target's name).

    Raises:
        PlanError: a path is absolute, climbs out of the plan's folder or is listed twice.
    """
    if t.get("targets", list, None) is None:
        return ()
    files = _string_list(t, "targets")
    for f in files:
        parts = f.split("/")
        if f.startswith("/") or "\\" in f or any(p in ("", ".", "..") for p in parts):
            raise PlanError(f"{t.where}.targets lists {f[:60]!r}: a target is a file of the "
                            "plan's folder named by its relative path (no '..', no leading '/')")
        problem = target_name_problem(f)
        if problem is not None:  # refused here, not only at export after every signature
            raise PlanError(f"{t.where}.targets lists {f[:60]!r}: {problem}",
                            hint="rename the file (and its path in the plan)")
    return files


#: A component of a target path as an export bundle can name it (bundles carry plain names).
_PLAIN_COMPONENT = r"[A-Za-z0-9][A-Za-z0-9._-]*"
#: The longest target path whose bundle name (``target+`` and the path, ``+`` for ``/``) fits
#: the 128 characters a bundle's file names may have.
MAX_TARGET_PATH = 128 - len("target+")


def target_name_problem(path: str) -> str | None:
    """Why target ``path`` could not travel in an export bundle, else None: one rule for
    the plan check and for export (:func:`ceremony.formats.tuf_roles.bundle_target_name`).

    A bundle names a target ``target+`` and its path with ``+`` for ``/``, so a ``+``, a
    space or a leading dot in a component cannot be named (``a+b`` and ``a/b`` would be one
    name). Refusing at the plan check, before keys are made and roles signed, is cheaper
    for the room than a bundle format that escapes names, which every receiver would need.
    """
    bad = next((part for part in path.split("/") if not re.fullmatch(_PLAIN_COMPONENT, part)), None)
    if bad is not None:
        return (f"its path component {bad!r} is not a plain name (letters, digits, '.', '-', "
                "'_', not starting with '.', '-' or '_'), so it cannot travel in a bundle")
    if len(path) > MAX_TARGET_PATH:
        return (f"its path has {len(path)} characters, more than {MAX_TARGET_PATH}, so its bundle "
                "name would not fit in 128")
    return None


def _offline_targets(t: _Table, known: set[str]) -> OfflineRole:
    """``[roles.targets]`` with ``keyholders``: targets signed offline, like root."""
    members = _keyholder_list(t, known)
    role = OfflineRole("targets", members, _threshold(t, len(members), "keyholders"),
                       parse_duration(t.get("expires", str), "roles.targets.expires"),
                       _target_files(t))
    t.done()
    return role


def _delegations(raw: list[Any], known: set[str], targets_offline: bool) -> list[OfflineRole]:
    """``[[delegations]]``: the roles ``targets`` delegates to, each signed offline.

    Raises:
        PlanError: naming the delegation and the field (a top-level role's name, a name used
            twice, a threshold above its keyholders, paths overlapping a terminating sibling,
            a target file outside the role's paths).
    """
    if raw and not targets_offline:
        raise PlanError("[[delegations]] need targets signed offline: give roles.targets "
                        "keyholders and a threshold instead of online keys",
                        hint="the delegations are listed in targets.json, which the keyholders sign")
    out: list[OfflineRole] = []
    for i, item in enumerate(raw):
        t, name = _named(item, "delegations", i)
        if name in TOP_LEVEL_ROLES:
            raise PlanError(f"delegations[{i}].name is {name!r}, the name of a top-level role: "
                            "a delegated role needs a name of its own")
        if any(r.name == name for r in out):
            raise PlanError(f"delegation {name!r} appears twice in delegations")
        t.where = f"delegations[{i}] ({name})"
        if ("keyholders" in t.data) == ("keys" in t.data):
            raise PlanError(f"{t.where} needs exactly one of keyholders (keys on their tokens, "
                            "signed in this ceremony) or keys (public key files of keys held "
                            "elsewhere)")
        key_paths = _string_list(t, "keys") if "keys" in t.data else ()
        members = _keyholder_list(t, known) if not key_paths else ()
        threshold = _threshold(t, len(members or key_paths), "keys" if key_paths else "keyholders")
        paths = t.get("paths", list, None)
        prefixes = t.get("path_hash_prefixes", list, None)
        if (paths is None) == (prefixes is None):
            raise PlanError(f"{t.where} needs exactly one of paths or path_hash_prefixes "
                            "(which targets the role may sign for)")
        paths = _string_list(t, "paths") if paths is not None else None
        prefixes = _string_list(t, "path_hash_prefixes") if prefixes is not None else None
        for p in prefixes or ():
            if not re.fullmatch(_HASH_PREFIX, p):
                raise PlanError(f"{t.where}.path_hash_prefixes lists {p[:70]!r}, not a prefix "
                                "of a sha256 in lower-case hex")
        for p in paths or ():
            if "[" in p or "]" in p:
                raise PlanError(f"{t.where}.paths lists {p[:60]!r}: only '*' and '?' patterns "
                                "are supported (character classes could not be checked for overlap)")
        role = OfflineRole(name, members, threshold,
                           parse_duration(t.get("expires", str), f"{t.where}.expires"),
                           _target_files(t), paths, prefixes, t.get("terminating", bool, False),
                           key_paths)
        t.done()
        if key_paths and role.targets:
            raise PlanError(f"{t.where}.targets: a delegation to keys held elsewhere lists its "
                            "own targets, signed where its keys are; this ceremony signs none")
        for target in role.targets:
            if not role_paths.covers(role.paths, role.path_hash_prefixes, target):
                raise PlanError(f"{t.where}.targets lists {target!r}, which its paths do not "
                                f"cover ({', '.join(role.paths or role.path_hash_prefixes or ())}): "
                                "no client would ever look for it there")
        out.append(role)
    _refuse_overlaps(out)
    return out


def _refuse_overlaps(roles: list[OfflineRole]) -> None:
    """Refuse a delegation whose paths overlap a terminating sibling's: which of the two
    answers for a target would depend on the order clients search them.

    Raises:
        PlanError: naming both roles and the overlapping patterns.
    """
    for i, a in enumerate(roles):
        for b in roles[i + 1:]:
            if not (a.terminating or b.terminating):
                continue
            term, other = (a, b) if a.terminating else (b, a)
            both = role_paths.overlap(other.paths, other.path_hash_prefixes, term.paths,
                                      term.path_hash_prefixes)
            if both is None:
                continue
            raise PlanError(f"delegation {other.name!r} overlaps its terminating sibling "
                            f"{term.name!r}: {both[0]!r} and {both[1]!r} can match the same "
                            "target", hint="give each terminating delegation paths of its own")


def load_delegation_keys(plan: Plan, base: Path) -> dict[str, list[PublicKeyFile]]:
    """The public keys of the delegations to keys held elsewhere (``keys``), read from
    ``base`` like online keys (journaled at init, beside them).

    Raises:
        PlanError: a key file is missing, not a public key, or listed twice in one role.
    """
    out: dict[str, list[PublicKeyFile]] = {}
    for role in (r for r in plan.offline if r.key_paths):
        keys = [load_public_key_file(base / rel, f"delegation {role.name!r} keys[{j}]")
                for j, rel in enumerate(role.key_paths)]
        _refuse_aliases(role.name, keys)
        out[role.name] = keys
    return out
