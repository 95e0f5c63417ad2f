"""Every journal event the ceremony writes, typed: one frozen dataclass per event type
(``@frozen``: :mod:`ceremony.frozen`, for start-up).

The journal (:mod:`ceremony.journal`) stores each event as ``{"type": ..., "data": {...}}``;
this module is the one place that knows which types exist, which fields each carries and
what each says to the people in the room. Replay (:mod:`ceremony.state`), the transcript and
report (:mod:`ceremony.record`), compare and the record check consume the classes below, so
a renamed field fails mypy in every consumer instead of silently reading ``None``, and a new
event type is one class here plus the consumers' cases.

The on-disk journal does not change: :meth:`Event.to_data` gives exactly the ``data`` dict
the previous release wrote, and :func:`parse` reads what it wrote. Because the journal is read
from disk (and may have been carried across the air gap), :func:`parse` is strict: an unknown
type, a missing field or a field of the wrong JSON type is a :class:`WorkspaceError` naming the
journal line and the field, never a ``KeyError`` deep inside a consumer.

Fields a format or a device owns (Notary's ``certificate``, ``canonical_keyid`` and
``expiry_capped``, a signature's ``method``, ...) travel in ``format_fields``: a mapping of the
data members this module does not declare. The core neither reads nor types them (typing them
here would make the events depend on every format, and a third format would have to edit this
file); they round-trip untouched through :func:`parse` and :meth:`Event.to_data`, and the format
that wrote them reads them back with its own checks.

This module imports nothing from ``ceremony`` but :mod:`ceremony.errors` and
:mod:`ceremony.frozen`: it sits under the journal and the state, so neither has to import
the other to know an event type.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import Any, ClassVar, Protocol, TypeVar, Union, get_args, get_origin, get_type_hints

from ceremony.errors import WorkspaceError
from ceremony.frozen import frozen

#: Who acts when no keyholder or witness does (the transcript's default actor).
ADMIN = "administrator"

#: How a hex digest is read aloud (``ceremony.fingerprint.fingerprint_words``), passed in by
#: the caller so that this module needs no word list.
Words = Callable[[str], str]

_OMIT = "omit_if_none"


def _optional() -> Any:
    """A field that today's writers leave out of ``data`` when it has no value (``None``).

    Returns:
        the dataclass field; :meth:`Event.to_data` omits it when ``None``, :func:`parse`
        accepts its absence.
    """
    return field(default=None, metadata={_OMIT: True})


class JournalLine(Protocol):
    """What :func:`parse` needs of a journal line (``ceremony.journal.Event``)."""

    @property
    def seq(self) -> int: ...  # noqa: D102

    @property
    def type(self) -> str: ...  # noqa: D102

    @property
    def data(self) -> dict[str, Any]: ...  # noqa: D102


@frozen
class Event:
    """Base of every journal event: its type string, its data, and how the record tells it.

    Subclasses declare their ``data`` members as dataclass fields (a field with a default may
    be absent from a journal line; one made with :func:`_optional` is also left out of
    :meth:`to_data` when ``None``, as today's writers do).
    """

    TYPE: ClassVar[str] = ""
    format_fields: Mapping[str, Any] = field(default_factory=dict, kw_only=True)

    def to_data(self) -> dict[str, Any]:
        """The ``data`` dict the journal stores for this event (the previous release's shape)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "format_fields":
                continue
            value = getattr(self, f.name)
            if value is None and f.metadata.get(_OMIT):
                continue
            out[f.name] = value
        out.update(self.format_fields)
        return out

    # ---- how the transcript and report tell it (pure) ----

    def actor(self) -> str:
        """Who acted (a keyholder, a witness, the administrator)."""
        return ADMIN

    def token(self) -> str | None:
        """The token (serial, else label) the step used, if any."""
        return None

    def digests(self) -> dict[str, str]:
        """The digests the transcript lists for this step (name -> hex)."""
        return {}

    def sentence(self, words: Words) -> str:
        """What the transcript and the report say of this event (one operator sentence)."""
        raise NotImplementedError  # every concrete event type says its own


# ---- the events, in the order a ceremony usually produces them -----------------------------


class _KeyholderStep(Event):
    """An event of a keyholder's token step: the keyholder acted, with the token's serial."""

    keyholder: str  # declared by each event class, in its own field order
    token_serial: str | None

    def actor(self) -> str:
        """The keyholder."""
        return self.keyholder

    def token(self) -> str | None:
        """The token's serial."""
        return self.token_serial


@frozen
class Initialized(Event):
    """``ceremony init``: the plan's digest, the online keys, the previous root, the tool."""

    TYPE: ClassVar[str] = "initialized"
    ceremony_id: str
    plan_sha256: str
    name: str
    format: str
    repository: str
    rehearsal: bool
    online_keys: dict[str, list[dict[str, Any]]]
    previous: dict[str, Any] | None
    tool_version: str
    warnings: list[Any]
    # Where the plan's key files are: ``ceremony.integrity`` re-reads them before drafting.
    plan_dir: str | None = _optional()

    def digests(self) -> dict[str, str]:
        """The plan, the previous root and the online keys."""
        dig = {"plan.toml": self.plan_sha256}
        if self.previous:
            dig[f"previous {self.previous['version']}.root.json"] = self.previous["sha256"]
        for role, keys in self.online_keys.items():
            for k in keys:
                dig[f"{role} key"] = k["keyid"]
        return dig

    def sentence(self, words: Words) -> str:
        """The ceremony's name, format, repository, rehearsal flag and tool version."""
        rehearsal = "; REHEARSAL" if self.rehearsal else ""
        return (f"ceremony {self.name!r} initialised ({self.format}, repository "
                f"{self.repository}){rehearsal}, tool {self.tool_version}")


@frozen
class Preflight(Event):
    """A preflight report (``ceremony.preflight``): findings and facts, no secrets."""

    TYPE: ClassVar[str] = "preflight"
    passed: bool
    rehearsal: bool
    clock: str
    clock_confirmed: bool
    clock_floor: dict[str, Any]
    findings: list[dict[str, Any]]
    interfaces_up: list[str]
    default_routes: list[dict[str, Any]]
    radios_unblocked: list[str]
    tool: dict[str, Any]
    libraries: dict[str, str]
    tokens: list[dict[str, Any]]
    host: dict[str, str]
    # Where the probes read the machine, when a test pointed them elsewhere.
    probes: dict[str, str] | None = _optional()

    def digests(self) -> dict[str, str]:
        """The running tool's digest."""
        return {"tool": str(self.tool.get("sha256", ""))}

    def sentence(self, words: Words) -> str:
        """The verdict, the host, the clock and the warnings."""
        verdict = "passed" if self.passed else "REFUSED"
        warn = [str(f.get("check")) for f in self.findings if f.get("status") == "warn"]
        extra = f"; warnings: {', '.join(warn)}" if warn else ""
        conf = "confirmed" if self.clock_confirmed else "not confirmed"
        elsewhere = ""
        if self.probes:  # the hidden --sys-root/--proc-root: a test's set-up, said in the record
            elsewhere = (f"; it read the machine from {self.probes.get('sys_root')} and "
                         f"{self.probes.get('proc_root')}, not /sys and /proc: no evidence of "
                         "this machine's air gap")
        return (f"preflight {verdict} on {self.host.get('hostname', '?')}; clock {self.clock} "
                f"({conf}){extra}{elsewhere}")


@frozen
class KeygenIntent(_KeyholderStep):
    """A keygen about to touch a token: the random CKA_ID it will use (resumable after a crash).

    A YubiKey's intent also says the device, the mode (provision or adopt), the slot, the
    touch policy and the attestation trust.
    """

    TYPE: ClassVar[str] = "keygen-intent"
    keyholder: str
    key_id_hex: str
    object_label: str | None
    algorithm: str
    token_label: str | None
    token_serial: str | None
    device: str | None = _optional()
    mode: str | None = _optional()
    yubikey_serial: int | None = _optional()
    slot: str | None = _optional()
    touch: str | None = _optional()
    trust: str | None = _optional()
    # YubiKey: sha256 of slot 9c's public key (SPKI) when the intent was journaled: the key
    # being adopted, or (provision) the key the reset will destroy; None for an empty slot.
    # After a crash, a key in the slot that is not this one was made by this keygen.
    slot_key_sha256: str | None = _optional()

    def to_data(self) -> dict[str, Any]:
        """As :meth:`Event.to_data`; a YubiKey's intent names each of its fields, even empty."""
        data = super().to_data()
        if self.device is not None:
            for name in ("mode", "yubikey_serial", "slot", "touch", "trust"):
                data.setdefault(name, getattr(self, name))
        return data

    def token(self) -> str | None:
        """The token's serial, else its label."""
        if self.device == "yubikey":
            return self.token_serial
        return self.token_serial or self.token_label

    def sentence(self, words: Words) -> str:
        """What is about to be generated, where."""
        if self.device == "yubikey":
            what = "reset PIV on and generate" if self.mode == "provision" else "adopt"
            return (f"about to {what} an {self.algorithm} key in slot 9c of YubiKey "
                    f"{self.yubikey_serial} (PIN always, touch {self.touch}); "
                    f"attestation trusted to {self.trust}")
        return (f"about to generate an {self.algorithm} key with id {self.key_id_hex[:8]}... "
                f"on token {self.token_label!r}")


@frozen
class KeyGenerated(_KeyholderStep):
    """A root key made (or adopted) on a token: its public key and where it lives."""

    TYPE: ClassVar[str] = "key-generated"
    keyholder: str
    key: dict[str, Any]  # the format's key entry (TUF: the key dict with x- fields)
    keyid: str
    algorithm: str
    token_label: str | None
    token_serial: str | None
    key_id_hex: str
    uri: str
    device: str | None = _optional()  # "yubikey"; absent: a PKCS#11 token
    attestation: dict[str, Any] | None = _optional()  # YubiKeys: mode, verdict, trust

    def digests(self) -> dict[str, str]:
        """The key id."""
        return {"keyid": self.keyid}

    def sentence(self, words: Words) -> str:
        """The key, the token, and the key id's words."""
        if self.device == "yubikey":
            v = (self.attestation or {}).get("verdict") or {}
            return (f"{self.algorithm} key {self.keyid[:12]} in slot 9c of YubiKey "
                    f"{self.token_serial}, attested (firmware {v.get('firmware')}, "
                    f"PIN {v.get('pin_policy')}, touch {v.get('touch_policy')}); "
                    f"words: {words(self.keyid)}")
        return (f"generated {self.algorithm} key {self.keyid[:12]} on token "
                f"{self.token_label!r}; words: {words(self.keyid)}")


@frozen
class KeygenRecovered(_KeyholderStep):
    """A resumed keygen removed what its interrupted attempt left on the token."""

    TYPE: ClassVar[str] = "keygen-recovered"
    keyholder: str
    key_id_hex: str
    token_label: str | None
    token_serial: str | None
    removed: list[dict[str, Any]]
    adopted: bool

    def token(self) -> str | None:
        """The token's serial, else its label."""
        return self.token_serial or self.token_label

    def sentence(self, words: Words) -> str:
        """What was removed, and why."""
        gone = "; ".join(f"{r.get('object')} {str(r.get('key_id_hex') or '(no id)')[:8]}: "
                         f"{r.get('why')}" for r in self.removed)
        return (f"resumed an interrupted keygen on token {self.token_label!r}; "
                f"removed what it left: {gone}")


@frozen
class DraftCreated(Event):
    """The root drafted: its version, the digest of its signed bytes, the signed part."""

    TYPE: ClassVar[str] = "draft-created"
    version: int
    digest: str
    signed: dict[str, Any]
    created: str
    # Roles beyond root signed offline with it (a TUF plan's targets and delegations): role
    # name -> its version, digest and signed part. Absent: only root is drafted, as before.
    roles: dict[str, Any] | None = _optional()

    def digests(self) -> dict[str, str]:
        """The draft's digest (and each other role's)."""
        return {"draft": self.digest} | {f"draft {name}": str(r.get("digest", ""))
                                         for name, r in (self.roles or {}).items()
                                         if isinstance(r, Mapping)}

    def sentence(self, words: Words) -> str:
        """The version and the digest's words (and the other roles drafted)."""
        more = f", with {', '.join(self.roles)}" if self.roles else ""
        return f"drafted root v{self.version}{more} (digest words: {words(self.digest)})"


@frozen
class SignatureAdded(_KeyholderStep):
    """A verified signature over the current draft, made here or imported (detached)."""

    TYPE: ClassVar[str] = "signature-added"
    keyholder: str
    keyid: str
    sig: str
    draft: str | None
    token_serial: str | None
    imported: str | None = _optional()  # the detached signature's file name
    # The role signed (``draft`` is then that role's digest); absent: root, as before.
    role: str | None = _optional()

    @property
    def role_name(self) -> str:
        """The role this signature is over (``root`` when the line names none)."""
        return self.role or "root"

    def digests(self) -> dict[str, str]:
        """The draft signed and the key."""
        return {"draft": self.draft or "", "keyid": self.keyid}

    def sentence(self, words: Words) -> str:
        """Signed here, or imported from a file made outside the room."""
        where = (f"imported a detached signature (file {self.imported}, made outside this room) "
                 if self.imported else "signed ")
        return f"{where}{self.role_name} draft {str(self.draft)[:12]} with key {self.keyid[:12]}"


@frozen
class Published(Event):
    """A root published: its version, the digest of its bytes and the files written."""

    TYPE: ClassVar[str] = "published"
    version: int
    sha256: str
    files: list[str]
    # The other roles' files written with root (metadata and target files: path under the
    # workspace -> sha256). Absent: only root was published, as before.
    roles: dict[str, str] | None = _optional()
    # Every file the format wrote into metadata/ (name there -> sha256: the root's files, a
    # sidecar, an X.509 CA's ca.json): how a deleted one is put back. Absent: journaled
    # before it was kept, when ``files`` all had the root's digest.
    outputs: dict[str, str] | None = _optional()

    def digests(self) -> dict[str, str]:
        """Each file written, with its own digest where the event keeps it."""
        return {f: self.sha256 for f in self.files} | dict(self.outputs or {}) | dict(self.roles or {})

    def sentence(self, words: Words) -> str:
        """The version and the files."""
        return f"published root v{self.version}: {', '.join([*self.files, *(self.roles or {})])}"


def _flat(data: Mapping[str, Any]) -> tuple[dict[str, str], str]:
    """The digests and the ``k=v`` summary of a plain record (exports and imports)."""
    items = sorted(data.items())  # as a journal read back from disk orders them
    digests = {k: v for k, v in items if isinstance(v, str) and k.endswith("sha256")}
    summary = ", ".join(f"{k}={v}" for k, v in items
                        if isinstance(v, (str, int)) and not k.endswith("sha256"))[:200]
    return digests, summary


class _Flat(Event):
    """An event the record tells as a plain record (exports, imports, a set-aside line): its
    ``*sha256`` members are its digests, the rest a ``k=v`` summary (:func:`_flat`)."""

    def digests(self) -> dict[str, str]:
        """The ``*sha256`` members."""
        return _flat(self.to_data())[0]

    def sentence(self, words: Words) -> str:
        """The other members, ``k=v``."""
        return _flat(self.to_data())[1]


@frozen
class Exported(_Flat):
    """A bundle that left the room: what, how, where, its digest and its files' digests."""

    TYPE: ClassVar[str] = "exported"
    kind: str
    transport: str
    target: str
    bundle_sha256: str
    files: dict[str, str]


@frozen
class Imported(_Flat):
    """A bundle brought into the room and applied: its kind and digests."""

    TYPE: ClassVar[str] = "imported"
    kind: str
    bundle_sha256: str
    files: dict[str, str]


@frozen
class Confirmed(Event):
    """An operator confirmation (draft approved, publish confirmed, ...); not folded by State."""

    TYPE: ClassVar[str] = "confirmed"
    what: str
    text: str
    by: str = ADMIN
    digest: str | None = _optional()

    def actor(self) -> str:
        """Who confirmed."""
        return self.by

    def digests(self) -> dict[str, str]:
        """What was confirmed, when it has a digest."""
        return {"confirmed": self.digest} if self.digest else {}

    def sentence(self, words: Words) -> str:
        """What was confirmed, in the words shown."""
        return f"confirmed {self.what}: {self.text}"


@frozen
class SealSignature(_KeyholderStep):
    """A keyholder's signature over the journal head, with the token that signed the root."""

    TYPE: ClassVar[str] = "seal-signature"
    keyholder: str
    keyid: str
    seq: int
    head: str
    sig: str
    algorithm: str
    token_serial: str | None

    def digests(self) -> dict[str, str]:
        """The head sealed and the key."""
        return {"journal head": self.head, "keyid": self.keyid}

    def sentence(self, words: Words) -> str:
        """The line and head sealed."""
        return f"sealed the journal at line {self.seq} (head {self.head[:12]})"


@frozen
class Sealed(Event):
    """The record sealed: the head, and every seal signature over it. Nothing follows."""

    TYPE: ClassVar[str] = "sealed"
    seq: int
    head: str
    ceremony_id: str
    signatures: list[dict[str, Any]]

    def digests(self) -> dict[str, str]:
        """The head sealed."""
        return {"journal head": self.head}

    def sentence(self, words: Words) -> str:
        """The line, who sealed, and the head's words."""
        who = ", ".join(sorted({str(s.get("keyholder")) for s in self.signatures}))
        return f"record sealed at line {self.seq} by {who}; head words: {words(self.head)}"


@frozen
class WitnessEnrolled(Event):
    """A FIDO2 witness enrolled a credential (``ceremony.witness``)."""

    TYPE: ClassVar[str] = "witness-enrolled"
    witness: str
    credential: dict[str, str]
    device: str

    def actor(self) -> str:
        """The witness."""
        return self.witness

    def sentence(self, words: Words) -> str:
        """The credential and the device."""
        return (f"witness enrolled a FIDO2 credential "
                f"{str(self.credential.get('credential_id'))[:16]}... ({self.device}, AAGUID "
                f"{self.credential.get('aaguid')})")


@frozen
class WitnessSigned(Event):
    """A witness signed off a journal head with their enrolled security key."""

    TYPE: ClassVar[str] = "witness-signed"
    witness: str
    seq: int
    head: str
    counter: int
    assertion: dict[str, str]

    def actor(self) -> str:
        """The witness."""
        return self.witness

    def digests(self) -> dict[str, str]:
        """The head signed off."""
        return {"journal head": self.head}

    def sentence(self, words: Words) -> str:
        """The line, head and signature counter."""
        return (f"witness signed off journal line {self.seq} (head {self.head[:12]}, "
                f"counter {self.counter})")


@frozen
class PinAttempt(_KeyholderStep):
    """A PIN asked for by a token step, and what became of it (``ceremony.pin_audit``); never
    the PIN."""

    TYPE: ClassVar[str] = "pin-attempt"
    keyholder: str
    step: str
    token_label: str | None
    token_serial: str | None
    outcome: str
    attempts_left_before: int | None = _optional()

    def sentence(self, words: Words) -> str:
        """The token, the outcome, the step and the tries left."""
        left = self.attempts_left_before
        tries = f" ({left} tries left before it)" if left is not None else ""
        return (f"PIN for token {self.token_label!r} (serial {self.token_serial}) "
                f"{self.outcome} during {self.step}{tries}")


@frozen
class JournalRecovered(_Flat):
    """An incomplete last journal line set aside (``Journal.recover``); not folded."""

    TYPE: ClassVar[str] = "journal-recovered"
    set_aside: str
    sha256: str
    size: int
    after_seq: int
    reason: str


#: Any journal event (for exhaustive ``match`` in consumers).
TypedEvent = Union[  # noqa: UP007 - a runtime alias: get_args() lists the classes below
    Initialized, Preflight, KeygenIntent, KeyGenerated, KeygenRecovered, DraftCreated,
    SignatureAdded, Published, Exported, Imported, Confirmed, SealSignature, Sealed,
    WitnessEnrolled, WitnessSigned, PinAttempt, JournalRecovered]

#: Every event class by its type string.
BY_TYPE: dict[str, type[Event]] = {cls.TYPE: cls for cls in get_args(TypedEvent)}

#: The type strings, for the few readers that only test a line's type.
INITIALIZED = Initialized.TYPE
PREFLIGHT = Preflight.TYPE
KEYGEN_INTENT = KeygenIntent.TYPE
KEY_GENERATED = KeyGenerated.TYPE
KEYGEN_RECOVERED = KeygenRecovered.TYPE
DRAFT_CREATED = DraftCreated.TYPE
SIGNATURE_ADDED = SignatureAdded.TYPE
PUBLISHED = Published.TYPE
EXPORTED = Exported.TYPE
IMPORTED = Imported.TYPE
CONFIRMED = Confirmed.TYPE
SEAL_SIGNATURE = SealSignature.TYPE
SEALED = Sealed.TYPE
WITNESS_ENROLLED = WitnessEnrolled.TYPE
WITNESS_SIGNED = WitnessSigned.TYPE
PIN_ATTEMPT = PinAttempt.TYPE
JOURNAL_RECOVERED = JournalRecovered.TYPE


# ---- parsing (strict: the journal is read from disk) ---------------------------------------


def _json_type(tp: Any) -> str:
    """A field type in the words an operator reads (``text``, ``a whole number``, ...)."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_json_type(a) for a in get_args(tp))
    if origin is list and get_args(tp)[0] is not Any:
        return f"a list ({_json_type(get_args(tp)[0])} each)"
    if origin is dict and get_args(tp)[1] is not Any:
        return f"an object ({_json_type(get_args(tp)[1])} each)"
    names = {str: "text", int: "a whole number", bool: "true or false", type(None): "null",
             dict: "an object", list: "a list"}
    return names.get(origin or tp, "a value")


def _json_name(value: Any, tp: Any = Any) -> str:
    """What a JSON ``value`` that does not fit ``tp`` is, in the words of :func:`_json_type`
    (a container says which of its members does not fit)."""
    args = get_args(tp) if get_origin(tp) in (Union, types.UnionType) else (tp,)
    for arg in args:
        origin = get_origin(arg)
        if origin is list and isinstance(value, list):
            bad = next(v for v in value if not _fits(v, get_args(arg)[0]))
            return f"a list holding {_json_name(bad, get_args(arg)[0])}"
        if origin is dict and isinstance(value, dict):
            bad = next(v for v in value.values() if not _fits(v, get_args(arg)[1]))
            return f"an object holding {_json_name(bad, get_args(arg)[1])}"
    kind = next((k for k in (bool, int, str, dict, list) if isinstance(value, k)), type(None))
    return _json_type(kind) if value is None or kind is not type(None) else "a value"


def _fits(value: Any, tp: Any) -> bool:
    """Whether a JSON ``value`` has the declared type ``tp`` (containers checked deeply)."""
    if tp is Any:
        return True
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return any(_fits(value, a) for a in get_args(tp))
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin is dict:
        key_t, val_t = get_args(tp)
        return isinstance(value, dict) and all(
            _fits(k, key_t) and _fits(v, val_t) for k, v in value.items())
    if origin is list:
        (item_t,) = get_args(tp)
        return isinstance(value, list) and all(_fits(v, item_t) for v in value)
    raise TypeError(f"events: no JSON check for {tp!r}")  # a field type this module forgot


_HINTS: dict[type[Event], dict[str, Any]] = {}
_TYPES: dict[str, Any] = {}  # annotation text -> the type it names (the events share ~15 texts)


def _hints(cls: type[Event]) -> dict[str, Any]:
    """The field types of ``cls``, evaluated on first use (not at import: start-up time).

    What ``typing.get_type_hints`` gives for these classes (every event class is defined in
    this module, its annotations text under ``from __future__ import annotations``), but each
    distinct annotation text is evaluated once for all classes rather than once per field of
    each: a journal's replay parses half a dozen event types, ~60 fields, ~15 distinct texts.
    """
    hints = _HINTS.get(cls)
    if hints is None:
        own = all(k.__module__ == __name__ for k in cls.__mro__ if "__annotations__" in vars(k))
        hints = _HINTS[cls] = ({name: _type_of(text) for k in reversed(cls.__mro__)
                                for name, text in vars(k).get("__annotations__", {}).items()}
                               if own else get_type_hints(cls))
    return hints


def _type_of(text: str) -> Any:
    """The type this module's annotation ``text`` names, as ``get_type_hints`` evaluates it."""
    tp = _TYPES.get(text)
    if tp is None:
        tp = _TYPES[text] = eval(text, globals())  # this module's own annotation text, not input
    return tp


E = TypeVar("E", bound=Event)


def build(cls: type[E], data: Mapping[str, Any], where: str, *, read: bool = False) -> E:
    """An event of class ``cls`` from its ``data`` dict, every declared field checked.

    Members ``cls`` does not declare go to ``format_fields`` untouched. Used by :func:`parse`
    on what is read, and by the steps for data a format or a report assembled as a dict, so
    that nothing malformed is ever journaled.

    ``read``: the data was read from the journal (the message then says it is damaged).

    Raises:
        WorkspaceError: a field is missing or of the wrong type; the message names ``where``,
            the event type and the field.
    """
    damaged = "; the journal is damaged" if read else "; nothing was journaled"
    if not isinstance(data, Mapping):
        raise WorkspaceError(f"{where} ({cls.TYPE}) carries no data object{damaged}")
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    names = set()
    for f in dataclasses.fields(cls):
        if f.name == "format_fields":
            continue
        names.add(f.name)
        if f.name not in data:
            if f.default is dataclasses.MISSING:
                raise WorkspaceError(f"{where} ({cls.TYPE}) lacks the field {f.name!r}{damaged}")
            continue
        value = data[f.name]
        if not _fits(value, hints[f.name]):
            raise WorkspaceError(f"{where} ({cls.TYPE}): the field {f.name!r} should be "
                                 f"{_json_type(hints[f.name])}, not {_json_name(value, hints[f.name])}{damaged}")
        kwargs[f.name] = value
    return cls(**kwargs, format_fields={k: v for k, v in data.items() if k not in names})


def parse(line: JournalLine) -> TypedEvent:
    """The typed event a journal line holds.

    Raises:
        WorkspaceError: the line's type is unknown, or a field is missing or of the wrong
            type; the message names the journal line and the field.
    """
    cls = BY_TYPE.get(line.type) if isinstance(line.type, str) else None
    if cls is None:
        raise WorkspaceError(f"journal line {line.seq} has an unknown event type "
                             f"{str(line.type)[:40]!r}; this journal was not written by this tool "
                             "(or by a newer release)",
                             hint="use the release that wrote the workspace, or restore it from a backup")
    return build(cls, line.data, f"journal line {line.seq}", read=True)  # type: ignore[return-value]


class Recorder(Protocol):
    """What a step journals through: the open ceremony (``Ceremony.append``)."""

    def append(self, event: Event) -> None:
        """Journal ``event`` (fsynced before this returns)."""
