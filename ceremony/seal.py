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

from ceremony.engine import sha256
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
from ceremony.journal import Event
from ceremony.session import Session
from ceremony.steps import seal as steps_seal
from ceremony.workspace import Workspace

SEAL_EVENTS = (SEAL_SIGNATURE, SEALED)
SEAL_DOMAIN = b"ceremony-journal-seal-v1\n"


def seal_payload(ceremony_id: str, seq: int, head: str) -> bytes:
    """The bytes every seal signature covers."""
    from securesystemslib.formats import encode_canonical
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
    from ceremony import chain
    from ceremony.formats import tuf as tuf_format
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
    from ceremony import chain
    from ceremony.formats import tuf as tuf_format
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
    from ceremony.formats import tuf as tuf_format
    if journal_format(events) == "notary":  # keyholders from the journal / ceremony-keys.json
        from ceremony.formats import notary_record
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


def _signed_over(typed: list[TypedEvent], head: str) -> set[str]:
    """The key ids whose seal signature covers ``head``."""
    return {t.keyid for t in typed if isinstance(t, SealSignature) and t.head == head}


def seal_status(ws: Workspace, events: list[Event]) -> SealStatus:
    """Who has sealed the current target, and who is still to (pure over the journal)."""
    target = seal_target(events)
    typed = [parse(e) for e in events if e.type in SEAL_EVENTS]
    done_ev = next((t for t in typed if isinstance(t, Sealed)), None)
    wanted = sealers(ws, events)
    signed = _signed_over(typed, target.hash)
    if done_ev is not None:
        names = tuple(sorted({str(s["keyholder"]) for s in done_ev.signatures}))
        return SealStatus(done_ev.seq, done_ev.head, names, (), True)
    sealed = tuple(dict.fromkeys(s.keyholder for s in wanted if s.keyid in signed))
    waiting = tuple(dict.fromkeys(s.keyholder for s in wanted if s.keyid not in signed))
    return SealStatus(target.seq, target.hash, sealed, waiting, False)


def seal_sign(c: Session, keyholder: str, module: Any, pin: Any, *, on_touch: Any = None) -> SealStatus:
    """Sign the journal head with ``keyholder``'s key(s), each signature journaled.

    A YubiKey key signs through ykcs11 (a PIN per signature) and calls ``on_touch``
    before the card waits for a touch. The plan's FIDO2 witnesses must have signed off
    the head first (``ceremony.witness``).

    Raises:
        ThresholdError: too few witness sign-offs (names who is missing).
        StateError: sealed already, nothing published, or the keyholder has nothing to seal.
        hsm.errors.HsmError: token missing or wrong, PIN refused.
    """
    from ceremony.formats import tuf as tuf_format
    from hsm.algorithms import get_algorithm
    from hsm.uri import parse_uri
    from hsm.verify import verify_raw

    refuse_if_sealed(c)
    from ceremony.preflight import require_preflight
    require_preflight(c)  # a token step: live ceremonies re-check the air gap now
    from ceremony import integrity
    integrity.check_draft(c)  # the journal's draft is what the plan and key files give
    _require_witnesses(c)
    events = c.journal.events
    target = seal_target(events)
    status = seal_status(c.ws, events)
    mine = [s for s in sealers(c.ws, events) if s.keyholder == keyholder]
    if not mine:
        raise StateError(f"{keyholder} did not sign the published root, so does not seal it",
                         hint="the seal is made by the keys that signed the root: "
                              + ", ".join(status.sealed + status.waiting))
    if keyholder not in status.waiting:
        raise StateError(f"{keyholder} has already sealed journal line {target.seq}")
    payload = seal_payload(c.state.init["ceremony_id"], target.seq, target.hash)
    done = _signed_over([parse(e) for e in events if e.type == SEAL_SIGNATURE], target.hash)
    for s in mine:
        if s.keyid in done:
            continue
        f = s.fields
        public = s.public
        if f.get(tuf_format.X_DEVICE) == "yubikey":  # ykcs11: PIN per signature, touch
            from ceremony.engine import open_root_key
            tk = open_root_key(s.key, module, pin, on_touch)
        else:
            token = module.find_token(label=f.get(tuf_format.X_TOKEN_LABEL),
                                      serial=f.get(tuf_format.X_TOKEN_SERIAL))
            ref = parse_uri(f[tuf_format.X_KEY_URI])
            tk = module.open_key(token, pin, f[tuf_format.X_ALGORITHM], ref.key_id,
                                 expected_public=public)
        sig = tk.sign_raw(payload)  # verified by the token layer too
        verify_raw(public, get_algorithm(f[tuf_format.X_ALGORITHM]), payload, sig, keyholder)
        steps_seal.seal_signature(c, keyholder, s.keyid, target.seq, target.hash, sig.hex(),
                                  f[tuf_format.X_ALGORITHM], tk.token.serial)
    return seal_status(c.ws, c.journal.events)


def _require_witnesses(c: Session) -> None:
    """The plan's FIDO2 witnesses must have signed off the head before the seal (ceremony.witness).

    Raises:
        ThresholdError: naming who is missing.
    """
    from ceremony.witness import require_witnesses
    require_witnesses(c, "seal")


def seal_finish(c: Session) -> SealStatus:
    """Journal the ``sealed`` event once every root signer has sealed; write ``record/``.

    Raises:
        StateError: already sealed, or keyholders still to seal.
    """
    refuse_if_sealed(c)
    from ceremony import integrity
    integrity.check_draft(c)  # the journal's draft is what the plan and key files give
    _require_witnesses(c)
    events = c.journal.events
    status = seal_status(c.ws, events)
    if status.waiting:
        raise StateError(f"the seal is not complete: waiting for {', '.join(status.waiting)}",
                         hint="each keyholder who signed the root seals with the same token")
    sigs: list[dict[str, Any]] = [
        {"keyholder": t.keyholder, "keyid": t.keyid, "sig": t.sig, "algorithm": t.algorithm,
         "token_serial": t.token_serial}
        for t in (parse(e) for e in events if e.type == SEAL_SIGNATURE)
        if isinstance(t, SealSignature) and t.head == status.head]
    steps_seal.sealed(c, status.seq, status.head, c.state.init["ceremony_id"], sigs)
    from ceremony.record import write_record
    write_record(c.ws)
    return seal_status(c.ws, c.journal.events)


def seal(c: Session, module: Any, pin: Any, *, on_touch: Any = None) -> SealStatus:
    """Seal with every signer's token (all present, as in a scripted rehearsal).

    Idempotent: on a sealed ceremony it only rewrites ``record/`` (a crash
    right after the ``sealed`` event leaves the record unwritten).

    Raises:
        see :func:`seal_sign` and :func:`seal_finish`.
    """
    if c.state.sealed:
        from ceremony.record import write_record
        write_record(c.ws)
        return seal_status(c.ws, c.journal.events)
    for keyholder in seal_status(c.ws, c.journal.events).waiting:
        seal_sign(c, keyholder, module, pin, on_touch=on_touch)
    return seal_finish(c)
