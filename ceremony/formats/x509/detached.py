"""The X.509 half of detached signing (:mod:`ceremony.detached`): an approver approves a TBS on
their own machine.

The travelling draft carries the draft's signed part (the TBS, the keys, who approves); the
approver's ``sign-draft`` shows the TBS in words (the draft view's ``words``), checks the digest
words read in the room, and signs the approval statement with their token key; the room's
``import-signature`` checks the approval over the current draft's statement before journaling
it. Only approvals travel: the CA key signs in the room, after the approvals verify (its
``keys_of`` is empty here, so ``sign-draft --keyholder CA`` is refused as counting toward
nothing). A draft that continues a CA (ceremony 2 and later) carries no previous root: the
approver's anchor is the digest words read in the room, so ``sign-draft`` asks for
``--trusted`` as for any later version, which an X.509 CA has no root file for (refused, exit 3,
by :meth:`X509Format.self_signed_root`): such approvals are made in the room.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ceremony.errors import VerificationError
from ceremony.formats import tuf as shared  # the x-ceremony-* key fields every format shares
from ceremony.formats.defaults import DetachedDefaults
from ceremony.formats.token_keys import open_root_key
from ceremony.formats.x509 import ops
from ceremony.formats.x509.draft import APPROVAL, APPROVERS_ROLE, X509Draft, X509Signed

if TYPE_CHECKING:
    from ceremony.formats.protocol import Format, OnTouch
    from hsm.pkcs11 import Module, PinProvider


class X509Detached(DetachedDefaults):
    """The X.509 adapter (:class:`ceremony.formats.protocol.DetachedAdapter`)."""

    def document(self, fmt: Format) -> dict[str, Any]:
        """The draft's signed part; no previous root (see the module)."""
        md = fmt.draft_metadata()
        return {"draft": dict(md.signed.data), "previous": None}  # type: ignore[attr-defined]

    def load(self, obj: dict[str, Any], path: Path, repository: str) -> tuple[Any, Any, str]:
        """The draft and its digest (sha256 of its canonical signed part).

        Raises:
            VerificationError: not an X.509 ceremony draft.
        """
        md = X509Draft(X509Signed.checked(obj.get("draft"), f"{path} (draft)"))
        return md, None, ops.sha256(md.signed_bytes)

    def keys_of(self, draft: Any, previous: Any, keyholder: str) -> list[Any]:
        """``keyholder``'s approver key in the draft (the CA key does not travel)."""
        s = draft.signed
        keys = s.keys
        return [keys[k] for k in s.roles[APPROVERS_ROLE].keyids
                if shared.keyholder_of(keys[k]) == keyholder]

    def sign(self, draft: Any, keys: list[Any], module: Module, pin: PinProvider,
             on_touch: OnTouch = None) -> list[dict[str, Any]]:
        """One verified approval per key over the draft's statement.

        Raises:
            hsm.errors.HsmError: token missing/wrong, PIN refused, a bad signature.
            VerificationError: the approval does not verify with the draft's key.
        """
        s = draft.signed
        statement = s.statement
        out = []
        for key in keys:
            tk = open_root_key(key, module, pin, on_touch)
            sig = tk.sign_raw(statement)
            if not ops.approval_verifies(statement, shared.key_name(key), sig, key.public_key()):
                raise VerificationError(f"the approval made on {tk.token.label} does not verify with "
                                        f"{shared.key_name(key)}'s key; nothing was written")
            out.append({"keyid": key.keyid, "sig": sig.hex(), "token_serial": tk.token.serial,
                        "x509": APPROVAL, "tbs_sha256": ops.sha256(s.tbs)})
        return out

    def verify(self, key: Any, entry: dict[str, Any], payload: bytes) -> dict[str, Any] | None:
        """The journal fields of an approval that verifies over the statement of the draft whose
        signed part is ``payload``; ``None`` otherwise (another digest, CA or ceremony)."""
        try:
            s = X509Signed.checked(json.loads(payload), "the draft")
            sig = bytes.fromhex(str(entry.get("sig", "")))
        except (ValueError, VerificationError):
            return None
        if not ops.approval_verifies(s.statement, shared.key_name(key), sig, key.public_key()):
            return None
        return {"sig": sig.hex(), "x509": APPROVAL, "tbs_sha256": ops.sha256(s.tbs)}
