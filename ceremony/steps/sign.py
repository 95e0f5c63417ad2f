"""Sign: a keyholder's signature(s) over the draft, made on their token, verified, journaled.

Each signature is checked against the key before its ``signature-added`` line is
written; how one signature is made is the format's (``Format.sign_one``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field
from typing import Any

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
    # The roles signed, in order (root first when the keyholder signed it); a draft of root
    # alone gives ``["root"]``.
    roles: list[str] = field(default_factory=list)


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
    md, todo, role_todo = _plan(s, keyholder)
    roles = s.roles_format()
    payload = s.format.signing_payload(md)
    tokens: list[str] = []
    done: list[str] = []
    for key in todo:
        fields, token_serial = s.format.sign_one(keyholder, key, module, pin, on_touch, payload)
        tokens.append(s.format.token_hint(key))
        # the format's fields (``sig``; Notary's ``method``) checked with the rest
        s.append(build(SignatureAdded, {"keyholder": keyholder, "keyid": key.keyid, **fields,
                                        "draft": s.state.draft_digest, "token_serial": token_serial},
                       "the signature"))
        done += [] if "root" in done else ["root"]
    s._write_derived(s.format.write_draft)
    for role, role_keys_todo in role_todo.items():
        assert roles is not None and s.state.draft is not None
        role_payload = roles.role_payload(role)
        digest = s.state.draft["roles"][role]["digest"]
        for key in role_keys_todo:
            fields, token_serial = s.format.sign_one(keyholder, key, module, pin, on_touch,
                                                     role_payload)
            hint = s.format.token_hint(key)
            tokens += [] if hint in tokens else [hint]
            s.append(build(SignatureAdded, {"keyholder": keyholder, "keyid": key.keyid, **fields,
                                            "draft": digest, "token_serial": token_serial,
                                            "role": role}, "the signature"))
        done.append(role)
    keyids = list(dict.fromkeys([k.keyid for k in todo]
                                + [k.keyid for ks in role_todo.values() for k in ks]))
    return SignResult(keyholder, keyids, ", ".join(tokens), s.status(), done)


def check_sign(s: Session, keyholder: str) -> None:
    """Refuse ``keyholder``'s sign step for whatever is known without their token.

    The faces call it before they load the PKCS#11 module or ask for a PIN: a sealed
    ceremony, a missing preflight, no draft, a draft already published or already signed
    by this keyholder is refused first, with its own message, and no token is touched.
    :func:`sign` runs the same checks.

    Raises:
        StateError: sealed, no passing preflight (live), no draft, already published, or
            the keyholder already signed.
        VerificationError: the keyholder holds no key that counts, or the draft was edited.
    """
    _plan(s, keyholder)


def _plan(s: Session, keyholder: str) -> tuple[Any, list[Any], dict[str, list[Any]]]:
    """The token-free part of :func:`sign`: its refusals, then the draft and the keys to sign
    with (root keys still to sign, and per role beyond root).

    Raises:
        see :func:`check_sign`.
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
    roles = s.roles_format()
    role_keys = roles.role_keys_of(keyholder) if roles is not None else {}
    if not keys and not role_keys:
        v = draft["version"]
        where = f"root v{v}" + (f" or the previous root v{v - 1}" if v > 1 else "")
        if roles is not None:
            where += " or the roles drafted with it"
        raise VerificationError(f"{keyholder} holds no key in {where}: their signature would "
                                "count toward no threshold")
    todo = [k for k in keys if k.keyid not in s.state.signatures]
    role_todo = {role: [k for k in ks if k.keyid not in s.state.role_signatures.get(role, {})]
                 for role, ks in role_keys.items()}
    role_todo = {role: ks for role, ks in role_todo.items() if ks}
    if not todo and not role_todo:
        if not role_keys:
            raise StateError(f"{keyholder} has already signed root v{draft['version']}")
        signed = ", ".join((["root"] if keys else []) + list(role_keys))
        raise StateError(f"{keyholder} has already signed {signed} (draft of root "
                         f"v{draft['version']})")
    return md, todo, role_todo
