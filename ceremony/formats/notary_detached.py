"""Detached signing for notary collections: the notary side of ``ceremony.detached``.

``ceremony.detached`` owns the travelling files and every refusal (another repository or
ceremony, a stale draft, a key that does not count, a duplicate); this module only knows what a
notary draft looks like inside the file, how a notary root key signs it on its token, and how
such a signature is checked. The same rules as the ceremony's own signing (``NotaryFormat.sign_one``) apply: notary's
``ecdsa`` method (SHA-256, raw ``r||s``, base64), checked with notary's own verifier rules.

A notary root carries no keyholder names (notary-server drops unknown fields), so the draft
file carries them beside the root as a ``ceremony-keys.json`` sidecar for the root keys of the
draft and of the root before it: public facts only (keyholder, token label/serial, PKCS#11 URI,
algorithm), which is what the signing machine needs to ask for the right token. As with the
published sidecar, a wrong entry can only ask for the wrong token: the token's public key is
compared with the certificate in the draft before it signs.

Draft file fields (beside ``kind``, ``format``, ``repository``, ``ceremony_id``, ``version``,
``digest``): ``draft`` is the ``signed`` object of the unsigned root (its digest is sha256 of
notary's canonical JSON of it), ``previous`` the previous root file as JSON (or null), and
``identities`` the sidecar document.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ceremony.errors import VerificationError
from ceremony.formats.defaults import DetachedDefaults
from ceremony.formats.notary_files import read_sidecar, sidecar_bytes
from ceremony.formats.notary_json import Signature
from ceremony.formats.notary_keys import ECDSA, signature_problem
from ceremony.formats.notary_root import NotaryKey, NotaryMetadata, NotaryRoot
from ceremony.formats.notary_sign import open_token_key, sign_checked
from hsm.pkcs11 import Module, PinProvider

if TYPE_CHECKING:  # a top import would be a cycle: formats.notary imports this module
    from ceremony.formats.notary import NotaryFormat

NAME = "notary"


def document(fmt: NotaryFormat) -> dict[str, Any]:
    """The format-specific part of a notary draft file for the ceremony of ``fmt`` (a
    ``NotaryFormat``: its draft, previous root and identities)."""
    md = fmt.draft_metadata()
    prev = fmt.previous_root()
    root_ids = set(md.signed.roles["root"].keyids)
    if prev is not None:
        root_ids |= set(prev.signed.roles["root"].keyids)
    identities = {k: v for k, v in fmt.identities().items() if k in root_ids}
    return {
        "draft": md.signed.to_dict(),
        "previous": json.loads(prev.to_bytes()) if prev is not None else None,
        "identities": json.loads(sidecar_bytes(fmt.gun, md.signed.version, identities)),
    }


def load(obj: dict[str, Any], path: Path, repository: str) -> tuple[NotaryMetadata,
                                                                      NotaryMetadata | None, str]:
    """The draft and previous root of a notary draft file, keys named; and the draft's digest.

    Raises:
        VerificationError: malformed (the message names the part), or identities for keys the
            file does not hold or for another GUN.
        KeyError: a field is missing (the caller names it).
    """
    signed, previous, sidecar = obj["draft"], obj["previous"], obj["identities"]
    try:
        bare = NotaryRoot(signed)
    except VerificationError as e:
        raise VerificationError(f"{path} (draft): {e.message}") from None
    except (TypeError, AttributeError):
        raise VerificationError(f"{path} (draft): not a notary root") from None
    prev = None
    if previous:
        prev = NotaryMetadata.from_bytes(json.dumps(previous).encode(), f"{path} (previous)")
    known = set(bare.keys) | (set(prev.signed.keys) if prev else set())
    identities = read_sidecar(json.dumps(sidecar).encode(), repository, known,
                              f"{path} (identities)")
    draft = NotaryMetadata(NotaryRoot(signed, identities))
    if prev is not None:
        prev = NotaryMetadata(NotaryRoot(prev.signed.to_dict(), identities), prev.signature_list)
    return draft, prev, draft.digest


def keys_of(draft: NotaryMetadata, previous: NotaryMetadata | None,
            keyholder: str) -> list[NotaryKey]:
    """``keyholder``'s root keys in the draft and the previous root."""
    found: dict[str, NotaryKey] = {}
    for md in (draft, previous):
        if md is None:
            continue
        for key in md.signed.role_keys("root"):
            if key.keyholder == keyholder:
                found.setdefault(key.keyid, key)
    return list(found.values())


def sign(draft: NotaryMetadata, keys: list[NotaryKey], module: Module,
         pin: PinProvider, on_touch: Any = None) -> list[dict[str, Any]]:
    """Sign the draft with each key on its token; each signature checked as notary would.

    A YubiKey's key signs through ykcs11 (a PIN per signature; ``on_touch`` before the
    card waits for a touch).

    Raises:
        VerificationError: no token is known for a key.
        hsm.errors.HsmError: token missing/wrong, PIN refused, or the signature does not verify.
    """
    payload = draft.signed_bytes
    out = []
    for key in keys:
        raw, tk = sign_checked(key, open_token_key(key, module, pin, on_touch), payload)
        out.append({"keyid": key.keyid, "method": ECDSA,
                    "sig": base64.b64encode(raw).decode("ascii"),
                    "token_serial": tk.token.serial})
    return out


def verify(key: NotaryKey, entry: dict[str, Any], payload: bytes) -> dict[str, Any] | None:
    """The journal fields of a detached signature by ``key`` over ``payload``; None when it
    does not verify under notary's rules (or is not the ``ecdsa`` method the ceremony uses)."""
    method, sig = entry.get("method", ECDSA), entry.get("sig")
    if method != ECDSA or not isinstance(sig, str):
        return None
    try:
        raw = base64.b64decode(sig, validate=True)
    except (binascii.Error, ValueError):
        return None
    if signature_problem(key.entry, Signature(key.keyid, ECDSA, raw), payload) is not None:
        return None
    return {"method": ECDSA, "sig": base64.b64encode(raw).decode("ascii")}


class NotaryDetached(DetachedDefaults):
    """This module as a :class:`ceremony.formats.protocol.DetachedAdapter`."""

    def document(self, fmt: Any) -> dict[str, Any]:
        """See :func:`document`."""
        return document(fmt)

    def load(self, obj: dict[str, Any], path: Path, repository: str) -> tuple[Any, Any, str]:
        """See :func:`load`.

        Raises:
            VerificationError: malformed, or identities for keys the file does not hold.
            KeyError: a field is missing (the caller names it).
        """
        return load(obj, path, repository)

    def keys_of(self, draft: Any, previous: Any, keyholder: str) -> list[Any]:
        """See :func:`keys_of`."""
        return list(keys_of(draft, previous, keyholder))

    def sign(self, draft: Any, keys: list[Any], module: Module, pin: PinProvider,
             on_touch: Any = None) -> list[dict[str, Any]]:
        """See :func:`sign`.

        Raises:
            VerificationError: no token is known for a key.
            hsm.errors.HsmError: token missing/wrong, PIN refused, a bad signature.
        """
        return sign(draft, keys, module, pin, on_touch)

    def verify(self, key: Any, entry: dict[str, Any], payload: bytes) -> dict[str, Any] | None:
        """See :func:`verify`."""
        return verify(key, entry, payload)


ADAPTER = NotaryDetached()
