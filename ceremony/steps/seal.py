"""The seal steps: each keyholder signs the journal head on their token (``seal_sign``), then
the seal itself is journaled with every signature over that head (``seal_finish``), after which
nothing more is journaled and the record is written.

Choosing the head and the sealers, and the seal's payload, are :mod:`ceremony.seal`'s (pure,
read back by :mod:`ceremony.record_check`); these functions act on the tokens and journal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ceremony import integrity
from ceremony.airgap import require_preflight
from ceremony.errors import StateError
from ceremony.events import SEAL_SIGNATURE, Sealed, SealSignature, parse
from ceremony.formats import tuf as tuf_format
from ceremony.formats.token_keys import open_root_key
from ceremony.record_write import write_record
from ceremony.seal import (
    Sealer,
    SealStatus,
    refuse_if_sealed,
    seal_payload,
    seal_status,
    seal_target,
    sealers,
    signed_over,
)
from ceremony.witness import require_witnesses
from hsm.algorithms import get_algorithm
from hsm.uri import parse_uri
from hsm.verify import verify_raw

if TYPE_CHECKING:
    from ceremony.formats.protocol import OnTouch
    from ceremony.session import Session
    from hsm.pkcs11 import Module, PinProvider


def seal_sign(c: Session, keyholder: str, module: Module, pin: PinProvider, *,
              on_touch: OnTouch = None) -> SealStatus:
    """Sign the journal head with ``keyholder``'s key(s), each signature journaled.

    A YubiKey key signs through ykcs11 (a PIN per signature) and calls ``on_touch``
    before the card waits for a touch. The plan's FIDO2 witnesses must have signed off
    the head first (``ceremony.witness``).

    Raises:
        ThresholdError: too few witness sign-offs (names who is missing).
        StateError: sealed already, nothing published, or the keyholder has nothing to seal.
        hsm.errors.HsmError: token missing or wrong, PIN refused.
    """
    target, mine = _plan(c, keyholder)
    events = c.journal.events
    payload = seal_payload(c.state.init["ceremony_id"], target.seq, target.hash)
    done = signed_over([parse(e) for e in events if e.type == SEAL_SIGNATURE], target.hash)
    for s in mine:
        if s.keyid in done:
            continue
        f = s.fields
        public = s.public
        if f.get(tuf_format.X_DEVICE) == "yubikey":  # ykcs11: PIN per signature, touch
            tk = open_root_key(s.key, module, pin, on_touch)
        else:
            token = module.find_token(label=f.get(tuf_format.X_TOKEN_LABEL),
                                      serial=f.get(tuf_format.X_TOKEN_SERIAL))
            ref = parse_uri(f[tuf_format.X_KEY_URI])
            tk = module.open_key(token, pin, f[tuf_format.X_ALGORITHM], ref.key_id,
                                 expected_public=public)
        sig = tk.sign_raw(payload)  # verified by the token layer too
        verify_raw(public, get_algorithm(f[tuf_format.X_ALGORITHM]), payload, sig, keyholder)
        c.append(SealSignature(keyholder=keyholder, keyid=s.keyid, seq=target.seq,
                               head=target.hash, sig=sig.hex(),
                               algorithm=f[tuf_format.X_ALGORITHM], token_serial=tk.token.serial))
    return seal_status(c.ws, c.journal.events)


def _require_witnesses(c: Session) -> None:
    """The plan's FIDO2 witnesses must have signed off the head before the seal (ceremony.witness).

    Raises:
        ThresholdError: naming who is missing.
    """
    require_witnesses(c, "seal")


def seal_finish(c: Session) -> SealStatus:
    """Journal the ``sealed`` event once every root signer has sealed; write ``record/``.

    Raises:
        StateError: already sealed, or keyholders still to seal.
    """
    refuse_if_sealed(c)
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
    c.append(Sealed(seq=status.seq, head=status.head, ceremony_id=c.state.init["ceremony_id"],
                    signatures=sigs))
    write_record(c.ws)
    return seal_status(c.ws, c.journal.events)


def seal(c: Session, module: Module, pin: PinProvider, *, on_touch: OnTouch = None) -> SealStatus:
    """Seal with every signer's token (all present, as in a scripted rehearsal).

    Idempotent: on a sealed ceremony it only rewrites ``record/`` (a crash
    right after the ``sealed`` event leaves the record unwritten).

    Raises:
        see :func:`seal_sign` and :func:`seal_finish`.
    """
    if c.state.sealed:
        return rewrite_record(c)
    for keyholder in seal_status(c.ws, c.journal.events).waiting:
        seal_sign(c, keyholder, module, pin, on_touch=on_touch)
    return seal_finish(c)


def check_seal(c: Session, keyholder: str | None = None) -> None:
    """Refuse a seal for whatever is known without a token: the faces call it before they
    load the PKCS#11 module or ask for a PIN.

    With ``keyholder`` (their seal signature): sealed already, no passing preflight (live),
    the draft changed, witnesses missing, nothing to seal for them. Without (every token
    at once, :func:`seal`): the same for each keyholder still to seal; a sealed ceremony
    is not refused there, as :func:`seal` only rewrites the record then.

    Raises:
        StateError, ThresholdError, VerificationError: as :func:`seal_sign`.
    """
    if keyholder is not None:
        _plan(c, keyholder)
        return
    if c.state.sealed:
        return
    for name in seal_status(c.ws, c.journal.events).waiting:
        _plan(c, name)


def rewrite_record(c: Session) -> SealStatus:
    """Write ``record/`` again for a sealed ceremony (a crash right after the ``sealed`` event
    leaves it unwritten); needs no token.

    Raises:
        StateError: the ceremony is not sealed.
    """
    if not c.state.sealed:
        raise StateError("the ceremony is not sealed yet", hint="run `ceremony seal WORKSPACE`")
    write_record(c.ws)
    return seal_status(c.ws, c.journal.events)


def _plan(c: Session, keyholder: str) -> tuple[Any, list[Sealer]]:
    """The token-free part of :func:`seal_sign`: its refusals, then the journal line to seal
    and ``keyholder``'s keys that seal it.

    Raises:
        see :func:`seal_sign`.
    """
    refuse_if_sealed(c)
    require_preflight(c)  # a token step: live ceremonies re-check the air gap now
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
    return target, mine
