"""Sign: a keyholder's signature(s) over the draft, made on their token, verified, journaled.

Each signature is checked against the key before its ``signature-added`` line is
written; how one signature is made is the format's (``Format.sign_one``).
"""

from __future__ import annotations

from collections.abc import Callable

from ceremony import integrity, pin_audit
from ceremony.errors import StateError, VerificationError
from ceremony.events import SignatureAdded, build
from ceremony.formats.base import ThresholdStatus
from ceremony.frozen import frozen
from ceremony.session import Session
from hsm.pkcs11 import Module, PinProvider


@frozen
class SignResult:
    """What one keyholder's signing step did, and where the thresholds stand now."""

    keyholder: str
    keyids: list[str]
    token: str
    status: ThresholdStatus


@pin_audit.audited("sign")
def sign(s: Session, keyholder: str, module: Module, pin: PinProvider, *,
         on_touch: Callable[[str], None] | None = None) -> SignResult:
    """Add ``keyholder``'s signature(s) to the draft, verified before they are journaled.

    A YubiKey key asks for its PIN once per signature and calls ``on_touch`` before
    the card waits for a touch. How one signature is made and checked is the
    format's (``Format.sign_one``).

    Raises:
        StateError: no draft, already published, or the keyholder already signed.
        VerificationError: the keyholder holds no key that counts, or the draft was edited.
        hsm.errors.HsmError: token missing/wrong, PIN refused.
    """
    s.require_token_step()
    md = s.draft_metadata()
    draft = s.state.draft
    assert draft is not None  # draft_metadata() refused a missing draft
    if s.state.draft_published:
        raise StateError(f"root v{draft['version']} is already published")
    s.check_draft_file()
    integrity.check_draft(s)  # re-derived from the plan and the key files
    keys = s.signing_keys(keyholder)
    if not keys:
        v = draft["version"]
        where = f"root v{v}" + (f" or the previous root v{v - 1}" if v > 1 else "")
        raise VerificationError(f"{keyholder} holds no key in {where}: their signature would "
                                "count toward no threshold")
    todo = [k for k in keys if k.keyid not in s.state.signatures]
    if not todo:
        raise StateError(f"{keyholder} has already signed root v{draft['version']}")
    payload = s.format.signing_payload(md)
    tokens = []
    for key in todo:
        fields, token_serial = s.format.sign_one(keyholder, key, module, pin, on_touch, payload)
        tokens.append(s.format.token_hint(key))
        # the format's fields (``sig``; Notary's ``method``) checked with the rest
        s.append(build(SignatureAdded, {"keyholder": keyholder, "keyid": key.keyid, **fields,
                                        "draft": s.state.draft_digest, "token_serial": token_serial},
                       "the signature"))
    s._write_derived(s.format.write_draft)
    return SignResult(keyholder, [k.keyid for k in todo], ", ".join(tokens), s.status())
