"""TUF's half of detached signing (:mod:`ceremony.detached`): a draft as python-tuf
``Metadata[Root]``, keyholders and tokens found in the keys' ``x-`` fields."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from securesystemslib.signer import Signature
from tuf.api.metadata import Metadata, Root

from ceremony import keyids
from ceremony.errors import VerificationError
from ceremony.formats import tuf as tuf_format, tuf_roles
from ceremony.formats.defaults import DetachedDefaults
from ceremony.formats.token_keys import open_root_key
from hsm.signer import TokenSigner

if TYPE_CHECKING:
    from ceremony.formats.protocol import Format, OnTouch
    from hsm.pkcs11 import Module, PinProvider


class TufDetached(DetachedDefaults):
    """The TUF adapter (:class:`ceremony.formats.protocol.DetachedAdapter`)."""

    def document(self, fmt: Format) -> dict[str, Any]:
        """The draft (signed part only) and the previous root, as python-tuf dicts."""
        md = cast("Metadata[Root]", fmt.draft_metadata())  # the TUF format's own root views
        prev = cast("Metadata[Root] | None", fmt.previous_root())
        return {"draft": Metadata(md.signed).to_dict(),
                "previous": prev.to_dict() if prev else None}

    def load(self, obj: dict[str, Any], path: Path, repository: str) -> tuple[Any, Any, str]:
        """The draft, the previous root and the draft's digest, read by python-tuf.

        A draft travels unsigned; a signature entry in it by a key of neither the draft's root
        role nor the previous root's is refused (signatures travel in signature files, checked
        at import-signature). The previous root's own signatures may be by its predecessor's
        keys, which the file does not carry: they are not judged here (the previous root is
        checked against the trusted chain, not against the file).

        Raises:
            VerificationError: a part is not TUF root metadata, or the draft carries a
                signature by a key of neither root role.
        """
        draft = tuf_format.from_bytes(json.dumps(obj["draft"]).encode(), f"{path} (draft)")
        prev = (tuf_format.from_bytes(json.dumps(obj["previous"]).encode(), f"{path} (previous)")
                if obj.get("previous") else None)
        allowed = set(draft.signed.roles[Root.type].keyids)
        whose = f"the root role of the draft (root v{draft.signed.version})"
        if prev is not None:
            allowed |= set(prev.signed.roles[Root.type].keyids)
            whose += f" or of the previous root (v{prev.signed.version})"
        keyids.refuse_unknown_signatures(draft.signatures, allowed, f"{path} (draft)", whose)
        return draft, prev, tuf_format.signed_digest(draft)

    def keys_of(self, draft: Any, previous: Any, keyholder: str) -> list[Any]:
        """``keyholder``'s root keys in the draft and the previous root."""
        found: dict[str, Any] = {}
        for md in (draft, previous):
            if md is None:
                continue
            for keyid in md.signed.roles[Root.type].keyids:
                key = md.signed.keys[keyid]
                if tuf_format.keyholder_of(key) == keyholder:
                    found[keyid] = key
        return list(found.values())

    def sign(self, draft: Any, keys: list[Any], module: Module, pin: PinProvider,
             on_touch: OnTouch = None) -> list[dict[str, Any]]:
        """One verified signature per key, PKCS#11 tokens and YubiKeys alike (a YubiKey opens
        through ykcs11 with its retry counter read first); the token's key must be the draft's.

        Raises:
            hsm.errors.HsmError: token missing/wrong, PIN refused, a bad signature.
        """
        payload = draft.signed_bytes
        sigs = []
        for key in keys:
            tk = open_root_key(key, module, pin, on_touch)
            sig = TokenSigner(tk, key).sign(payload)
            key.verify_signature(sig, payload)
            sigs.append({"keyid": key.keyid, "sig": sig.signature, "token_serial": tk.token.serial})
        return sigs

    def verify(self, key: Any, entry: dict[str, Any], payload: bytes) -> dict[str, Any] | None:
        """``{"sig": ...}`` when the entry verifies with ``key``, else ``None``."""
        sig = Signature(str(entry.get("keyid")), str(entry.get("sig", "")))
        try:
            key.verify_signature(sig, payload)
        except Exception:  # noqa: BLE001 - any failure to verify is the same verdict
            return None
        return {"sig": sig.signature}

    # ---- roles beyond root (targets, delegations) travelling with the root draft --------------

    def load_roles(self, obj: dict[str, Any], path: Path) -> dict[str, Any]:
        """The roles drafted with root (``roles``: name -> version, digest, signed part), each
        checked against its digest; empty when the draft holds root alone.

        Raises:
            VerificationError: a role is not targets metadata or does not match its digest.
        """
        roles = obj.get("roles") or {}
        if not isinstance(roles, dict) or not all(isinstance(r, dict) for r in roles.values()):
            raise VerificationError(f"{path}: the field 'roles' must map role names to drafts")
        try:
            return tuf_roles.from_journal(roles, {})
        except VerificationError as e:
            raise VerificationError(f"{path}: {e.message}") from None

    def role_keys_of(self, draft: Any, roles: dict[str, Any], keyholder: str) -> dict[str, list[Any]]:
        """Role -> ``keyholder``'s keys that count toward it, as the draft's root (targets)
        and targets (delegations) list them."""
        if not roles:
            return {}
        root = draft.signed
        top = root.roles[tuf_roles.TARGETS]
        out: dict[str, list[Any]] = {}
        for name in roles:
            ids, _t, keys = tuf_roles.delegator(name, (top.keyids, top.threshold), root.keys,
                                                roles[tuf_roles.TARGETS].signed)
            mine = [keys[k] for k in ids if k in keys and tuf_format.keyholder_of(keys[k]) == keyholder]
            if mine:
                out[name] = mine
        return out

    def sign_roles(self, roles: dict[str, Any], keys: dict[str, list[Any]], module: Module,
                   pin: PinProvider, on_touch: OnTouch = None) -> list[dict[str, Any]]:
        """One verified signature per role and key, each entry naming its ``role``.

        Raises:
            hsm.errors.HsmError: token missing/wrong, PIN refused, a bad signature.
        """
        out = []
        for name, role_keys in keys.items():
            for sig in self.sign(roles[name], role_keys, module, pin, on_touch):
                out.append(sig | {"role": name})
        return out
