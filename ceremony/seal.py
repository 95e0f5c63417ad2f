"""The seal: the journal head signed, on their tokens, by the root keys that signed the
published root.

Sealing happens keyholder by keyholder (one token in the reader at a time), each
signature journaled as it is made, and ends in one ``sealed`` event; after it nothing
more is journaled. The seal signs ``SEAL_DOMAIN + canonical JSON`` of the ceremony id and
the head, never the bare hash: a seal signature can never be mistaken for (or be replayed
as) a signature over TUF metadata. :mod:`ceremony.record_check` re-checks it offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from securesystemslib.formats import encode_canonical

from ceremony.errors import StateError
from ceremony.events import (
    PUBLISHED,
    SEAL_SIGNATURE,
    SEALED,
    Sealed,
    SealSignature,
    TypedEvent,
    parse,
)
from ceremony.formats import registry

if TYPE_CHECKING:
    from ceremony.formats.protocol import FormatClass
    from ceremony.journal import Event
    from ceremony.session import Session
    from ceremony.workspace import Workspace

SEAL_EVENTS = (SEAL_SIGNATURE, SEALED)
SEAL_DOMAIN = b"ceremony-journal-seal-v1\n"


def seal_payload(ceremony_id: str, seq: int, head: str) -> bytes:
    """The bytes every seal signature covers."""
    body = {"ceremony_id": ceremony_id, "journal_head": head, "journal_seq": seq}
    text = encode_canonical(body)
    assert text is not None  # only None when writing to a file object
    return SEAL_DOMAIN + text.encode()


def refuse_if_sealed(c: Session) -> None:
    """Nothing more is journaled once the ceremony is sealed.

    Raises:
        StateError: the ceremony is sealed.
    """
    if c.state.sealed:
        raise StateError("the ceremony is sealed; nothing more is recorded",
                         hint="start a new workspace for a new ceremony")



@dataclass(frozen=True)
class Sealer:
    """A root key that signed the published root, and the token that holds it."""

    keyholder: str
    keyid: str
    key: Any  # securesystemslib Key with x-ceremony-* fields, or a notary NotaryKey

    @property
    def fields(self) -> dict[str, Any]:
        return dict(self.key.unrecognized_fields)

    @property
    def public(self) -> Any:
        """The public key the seal signature is made and checked with."""
        public_key = getattr(self.key, "public_key", None)  # a notary key: its certificate's
        return public_key() if callable(public_key) else self.key._crypto_key()


@dataclass(frozen=True)
class SealStatus:
    """Where the seal stands: which head, who has sealed it, who is still to."""

    seq: int
    head: str
    sealed: tuple[str, ...]
    waiting: tuple[str, ...]
    done: bool

    def describe(self) -> str:
        if self.done:
            return f"sealed at journal line {self.seq} by {', '.join(self.sealed)}"
        have = ", ".join(self.sealed) or "nobody yet"
        return (f"seal of journal line {self.seq}: {have}; waiting for "
                f"{', '.join(self.waiting)}")


def published_event(events: list[Event]) -> Event | None:
    """The last ``published`` event."""
    return next((e for e in reversed(events) if e.type == PUBLISHED), None)


def sealers(ws: Workspace, events: list[Event]) -> list[Sealer]:
    """The keys that signed the published root and can be found on a token again.

    Keys come from the published root itself or, for a rotation, the previous
    root (an old key that signed to meet the old threshold signed the root too): the
    journal's format finds them (``record_sealers``).
    """
    klass = format_of(events)
    if klass is None:
        fmt = journal_format(events)
        raise StateError(f"sealing a {fmt} ceremony is not supported yet",
                         hint="the journal chain still verifies (`ceremony record verify "
                              "--allow-unsealed`); verify the published root with its client")
    return sorted((Sealer(*s) for s in klass.record_sealers(ws, events)),
                  key=lambda s: (s.keyholder, s.keyid))


def journal_format(events: list[Event]) -> str:
    """The format the journal's ``initialized`` event names (journals from before notary
    support name none: the registry's default)."""
    return str(events[0].data.get("format", registry.DEFAULT)) if events else registry.DEFAULT


def format_of(events: list[Event]) -> FormatClass | None:
    """The class of the journal's format (``None``: a format this tool has no engine for)."""
    name = journal_format(events)
    return registry.format_class(name) if name in registry.names() else None


def seal_target(events: list[Event]) -> Event:
    """The event the seal covers: the last one that is not part of sealing.

    If anything is journaled while sealing (a new session's preflight), the
    target moves on and signatures over the older head no longer count.
    """
    for e in reversed(events):
        if e.type not in SEAL_EVENTS:
            return e
    raise StateError("the journal is empty")


def signed_over(typed: list[TypedEvent], head: str) -> set[str]:
    """The key ids whose seal signature covers ``head``."""
    return {t.keyid for t in typed if isinstance(t, SealSignature) and t.head == head}


def seal_status(ws: Workspace, events: list[Event]) -> SealStatus:
    """Who has sealed the current target, and who is still to (pure over the journal)."""
    target = seal_target(events)
    typed = [parse(e) for e in events if e.type in SEAL_EVENTS]
    done_ev = next((t for t in typed if isinstance(t, Sealed)), None)
    wanted = sealers(ws, events)
    signed = signed_over(typed, target.hash)
    if done_ev is not None:
        names = tuple(sorted({str(s["keyholder"]) for s in done_ev.signatures}))
        return SealStatus(done_ev.seq, done_ev.head, names, (), True)
    sealed = tuple(dict.fromkeys(s.keyholder for s in wanted if s.keyid in signed))
    waiting = tuple(dict.fromkeys(s.keyholder for s in wanted if s.keyid not in signed))
    return SealStatus(target.seq, target.hash, sealed, waiting, False)
