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
from typing import Any

from securesystemslib.formats import encode_canonical

from ceremony import chain
from ceremony.errors import StateError, VerificationError
from ceremony.events import (
    PUBLISHED,
    SEAL_SIGNATURE,
    SEALED,
    Published,
    Sealed,
    SealSignature,
    TypedEvent,
    parse,
)
from ceremony.formats import notary_record, tuf as tuf_format
from ceremony.journal import Event
from ceremony.session import Session, sha256
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


def load_published(ws: Workspace, events: list[Event]) -> Any:
    """The published root, read back and checked against the journal's digest.

    Raises:
        StateError: nothing published yet.
        VerificationError: the file is missing or differs from what was published.
    """
    ev = published_event(events)
    if ev is None:
        raise StateError("no root has been published yet", hint="publish before sealing")
    pub = parse(ev)
    assert isinstance(pub, Published)  # published_event picked it by its type
    path = ws.metadata / f"{pub.version}.root.json"
    data = chain.read_root_file(path)
    if sha256(data) != pub.sha256:
        raise VerificationError(f"{path.name} differs from the root published at journal line "
                                f"{ev.seq}", hint="the published metadata was changed; restore it")
    return tuf_format.from_bytes(data, path.name)


def previous_root(ws: Workspace, events: list[Event]) -> Any | None:
    info = events[0].data.get("previous") if events else None
    if not info:
        return None
    path = ws.previous / f"{info['version']}.root.json"
    data = chain.read_root_file(path)
    if sha256(data) != info["sha256"]:
        raise VerificationError(f"{path} was changed after the ceremony started")
    return tuf_format.from_bytes(data, path.name)


def sealers(ws: Workspace, events: list[Event]) -> list[Sealer]:
    """The keys that signed the published root and can be found on a token again.

    Keys come from the published root itself or, for a rotation, the previous
    root (an old key that signed to meet the old threshold signed the root too).
    """
    if journal_format(events) == "notary":  # keyholders from the journal / ceremony-keys.json
        return sorted((Sealer(*s) for s in notary_record.sealers(ws, events)),
                      key=lambda s: (s.keyholder, s.keyid))
    _require_tuf(events)
    md = load_published(ws, events)
    prev = previous_root(ws, events)
    pools = [md.signed.keys] + ([prev.signed.keys] if prev is not None else [])
    out = []
    for keyid in sorted(md.signatures):
        key = next((p[keyid] for p in pools if keyid in p), None)
        if key is None or tuf_format.X_KEY_URI not in key.unrecognized_fields:
            continue
        out.append(Sealer(tuf_format.keyholder_of(key) or keyid[:12], keyid, key))
    out.sort(key=lambda s: (s.keyholder, s.keyid))
    return out


def journal_format(events: list[Event]) -> str:
    return str(events[0].data.get("format", "tuf")) if events else "tuf"


def _require_tuf(events: list[Event]) -> None:
    fmt = journal_format(events)
    if fmt != "tuf":
        raise StateError(f"sealing a {fmt} ceremony is not supported yet",
                         hint="the journal chain still verifies (`ceremony record verify "
                              "--allow-unsealed`); verify the published root with its client")


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
