"""The ceremony's state: a pure fold over the journal's events.

Nothing here does I/O; :func:`replay` turns events into a :class:`State`, and
the engine asks it what is done and what is next. Because state is only ever
derived from the journal, a crash at any point resumes exactly where the last
fsynced event left it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ceremony.events import (
    CONFIRMED as CONFIRMED,
    DRAFT_CREATED as DRAFT_CREATED,
    EXPORTED as EXPORTED,
    IMPORTED as IMPORTED,
    INITIALIZED as INITIALIZED,
    JOURNAL_RECOVERED as JOURNAL_RECOVERED,
    KEY_GENERATED as KEY_GENERATED,
    KEYGEN_INTENT as KEYGEN_INTENT,
    KEYGEN_RECOVERED as KEYGEN_RECOVERED,
    PIN_ATTEMPT as PIN_ATTEMPT,
    PREFLIGHT as PREFLIGHT,
    PUBLISHED as PUBLISHED,
    SEAL_SIGNATURE as SEAL_SIGNATURE,
    SEALED as SEALED,
    SIGNATURE_ADDED as SIGNATURE_ADDED,
    WITNESS_ENROLLED as WITNESS_ENROLLED,
    WITNESS_SIGNED as WITNESS_SIGNED,
    DraftCreated,
    Exported,
    Initialized,
    JournalLine,
    KeyGenerated,
    KeygenIntent,
    Preflight,
    Published,
    Sealed,
    SignatureAdded,
    WitnessEnrolled,
    WitnessSigned,
    parse,
)
from ceremony.frozen import frozen

# The event type names above are re-exported from ceremony.events (their one home) for the
# modules that import them from here.


@frozen  # immutable once folded from the journal (and cheaper to define than @dataclass)
class KeyRecord:
    """A root key generated in this ceremony, and where it lives."""

    keyholder: str
    key: dict[str, Any]  # TUF key dict with x- fields (or the format's own form)
    keyid: str
    algorithm: str
    token_label: str | None
    token_serial: str | None
    key_id_hex: str
    uri: str
    device: str = "pkcs11"  # or "yubikey"
    attestation: dict[str, Any] | None = None  # YubiKeys: the verdict and the trust it used


class State:
    """What the journal says has happened (made empty, then filled by :func:`replay` only).

    A plain class, not a ``@dataclass``: one is made per command, never compared or copied,
    and a dataclass's generated methods cost more start-up than the whole fold.
    """

    def __init__(self) -> None:
        self.init: dict[str, Any] = {}
        self.intents: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, KeyRecord] = {}
        self.draft: dict[str, Any] | None = None
        self.signatures: dict[str, dict[str, Any]] = {}  # keyid -> event data
        # The other roles' signatures over the current draft: role -> keyid -> event data.
        self.role_signatures: dict[str, dict[str, dict[str, Any]]] = {}
        self.published: list[int] = []
        self.preflight: dict[str, Any] | None = None
        self.exports: list[dict[str, Any]] = []
        self.sealed: dict[str, Any] | None = None
        self.witnesses: dict[str, dict[str, Any]] = {}  # name -> enrolment
        self.witness_signoffs: list[dict[str, Any]] = []
        self.head = "0" * 64
        self.count = 0

    def copy(self) -> State:
        """Another state with the same facts, whose containers a fold may change freely (the
        event data they hold are shared: nothing changes those)."""
        c = State()
        c.init, c.draft, c.preflight, c.sealed = self.init, self.draft, self.preflight, self.sealed
        c.intents, c.keys, c.signatures = dict(self.intents), dict(self.keys), dict(self.signatures)
        c.role_signatures = {role: dict(sigs) for role, sigs in self.role_signatures.items()}
        c.published, c.exports = list(self.published), list(self.exports)
        c.witnesses, c.witness_signoffs = dict(self.witnesses), list(self.witness_signoffs)
        c.head, c.count = self.head, self.count
        return c

    @property
    def draft_digest(self) -> str | None:
        """sha256 of the current draft's signed bytes."""
        return self.draft["digest"] if self.draft else None

    @property
    def draft_published(self) -> bool:
        """Whether the current draft has been published."""
        if not self.draft:
            return False
        return self.draft["version"] in self.published

    def signers(self) -> list[str]:
        """Keyholders who have signed the current draft, in signing order."""
        seen: list[str] = []
        for s in [*self.signatures.values(),
                  *(d for sigs in self.role_signatures.values() for d in sigs.values())]:
            if s["keyholder"] not in seen:
                seen.append(s["keyholder"])
        return seen


if TYPE_CHECKING:  # an annotation only: a Protocol class costs start-up to define
    class _Line(JournalLine, Protocol):
        """A journal line as :func:`replay` reads it (``ceremony.journal.Event``)."""

        @property
        def hash(self) -> str: ...  # noqa: D102


def replay(events: Sequence[_Line]) -> State:
    """Fold the journal into a :class:`State` (pure).

    Raises:
        WorkspaceError: a line is not a well-formed event (:func:`ceremony.events.parse`).
    """
    return fold(State(), events)


def fold(start: State, events: Sequence[_Line]) -> State:
    """``start`` (left as it is) with ``events`` folded in: a new :class:`State`.

    What the session does after each append, so that a ceremony's n-th step does not parse its
    n earlier events again (a long lifecycle of rotations would make every append slower).

    Raises:
        WorkspaceError: a line is not a well-formed event (:func:`ceremony.events.parse`).
    """
    s = start.copy()
    for e in events:
        d = e.data
        match parse(e):
            case Initialized():
                s.init = d
            case Preflight():
                s.preflight = d
            case KeygenIntent(keyholder=holder):
                s.intents[holder] = d
            case KeyGenerated() as k:
                s.keys[k.keyholder] = KeyRecord(
                    k.keyholder, k.key, k.keyid, k.algorithm, k.token_label, k.token_serial,
                    k.key_id_hex, k.uri, k.device or "pkcs11", k.attestation)
            case DraftCreated():
                s.draft = d
                s.signatures = {}
                s.role_signatures = {}
            case SignatureAdded(keyid=keyid, role=role) if role not in (None, "root"):
                s.role_signatures.setdefault(str(role), {})[keyid] = d
            case SignatureAdded(keyid=keyid):
                s.signatures[keyid] = d
            case Published(version=version):
                s.published.append(version)
            case Exported():
                s.exports.append(d)
            case Sealed():
                s.sealed = d
            case WitnessEnrolled(witness=witness):
                s.witnesses[witness] = d
            case WitnessSigned():
                s.witness_signoffs.append(d)
            case _:
                pass  # journaled for the record only (confirmations, PIN attempts, recoveries)
        s.head = e.hash
        s.count = e.seq
    return s
