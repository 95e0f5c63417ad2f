"""Verdicts shared by every format, the CLI, the TUI and the record.

Verification returns a verdict (who signed, who is missing) instead of only
raising, so every shell can say "old root: 2/3 - alice, bob signed; waiting for
one of carol, dave".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import field
from typing import Any, Protocol

from ceremony.frozen import frozen


class KeyView(Protocol):
    """What naming a key in the room reads: python-tuf's ``Key`` has it, and so does the notary
    view (``NotaryKey``), so one function names the keys of either format."""

    @property
    def keyid(self) -> str: ...

    @property
    def unrecognized_fields(self) -> dict[str, Any]: ...


def roles_in_signed(signed: Mapping[str, Any]) -> dict[str, tuple[list[dict[str, Any]], Any]]:
    """Each role of a root's signed part laid out as TUF and notary lay it out (``roles``
    naming ``keyids`` and a ``threshold``, ``keys`` by id): its key entries and threshold. Read
    from the journal: any field may be missing or of another type (the caller compares)."""
    roles = signed.get("roles") if isinstance(signed.get("roles"), Mapping) else {}
    keys = signed.get("keys") if isinstance(signed.get("keys"), Mapping) else {}
    out: dict[str, tuple[list[dict[str, Any]], Any]] = {}
    for name, role in (roles or {}).items():
        role = role if isinstance(role, Mapping) else {}
        out[str(name)] = ([{"keyid": k, **((keys or {}).get(k) or {})}
                           for k in role.get("keyids") or []], role.get("threshold"))
    return out


#: A published root's file name, ``N.root.json`` (N from 1, no leading zero): every format's.
ROOT_FILE = r"([1-9][0-9]{0,9})\.root\.json"


def is_root_file(name: str) -> bool:
    """Whether ``name`` is an ``N.root.json`` file name (``01.root.json`` is not)."""
    return re.fullmatch(ROOT_FILE, name) is not None


@frozen
class KeyIdInfo:
    """One key a role lists: who holds it, its id, and the rule the id follows
    (``ceremony.keyids``: whole-object, standard-fields, notary)."""

    name: str
    keyid: str
    rule: str

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {"name": self.name, "keyid": self.keyid, "keyid_rule": self.rule}


@frozen
class RoleVerdict:
    """Signatures on one root version, counted against one set of keys and threshold."""

    label: str
    threshold: int
    signed: tuple[str, ...]
    unsigned: tuple[str, ...]
    # One key listed under several ids, said by name (it counts once); see ceremony.keyids.
    notes: tuple[str, ...] = ()
    keys: tuple[KeyIdInfo, ...] = ()

    @property
    def missing(self) -> int:
        """How many more signatures are needed."""
        return max(0, self.threshold - len(self.signed))

    @property
    def met(self) -> bool:
        """Whether the threshold is reached."""
        return self.missing == 0

    def describe(self) -> str:
        """The verdict in one sentence for the room."""
        signed = ", ".join(self.signed) + " signed" if self.signed else "nobody has signed"
        # "3/3 (+1)", never "4/3": the count toward the threshold, then any signatures beyond it.
        extra = len(self.signed) - self.threshold
        count = f"{min(len(self.signed), self.threshold)}/{self.threshold}"
        text = f"{self.label}: {count}{f' (+{extra})' if extra > 0 else ''} - {signed}"
        notes = "".join(f"; {n}" for n in self.notes)
        if self.met:
            return text + "; threshold met" + notes
        if not self.unsigned:  # one key listed under several ids: nobody else can sign
            return text + f"; {self.missing} more needed and no other key can sign" + notes
        who = ", ".join(self.unsigned)
        many = "one" if self.missing == 1 else str(self.missing)
        return text + f"; waiting for {many} of {who}" + notes

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {"label": self.label, "threshold": self.threshold, "signed": list(self.signed),
                "unsigned": list(self.unsigned), "missing": self.missing, "met": self.met,
                "notes": list(self.notes), "keys": [k.to_dict() for k in self.keys]}


@frozen
class ThresholdStatus:
    """Whether a root version can be published: its own threshold, and the previous root's."""

    version: int
    new: RoleVerdict
    old: RoleVerdict | None
    # False only for an out-of-band emergency root: the previous threshold is shown, not required.
    old_required: bool = True
    # The other roles drafted with root and signed offline (targets, delegations), each at
    # its own threshold; empty when only root is drafted.
    roles: tuple[RoleVerdict, ...] = ()

    @property
    def verified(self) -> bool:
        """True when every threshold that applies is met."""
        return self.new.met and (self.old is None or self.old.met or not self.old_required) \
            and all(r.met for r in self.roles)

    def lines(self) -> list[str]:
        """One sentence per threshold, previous root first, then the other roles."""
        out = [v.describe() for v in (self.old, self.new) if v is not None]
        if self.old is not None and not self.old_required:
            out[0] += " (not required: out-of-band root)"
        return out + [r.describe() for r in self.roles]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json`` (``roles`` only when other roles are drafted)."""
        out = {"version": self.version, "verified": self.verified, "new": self.new.to_dict(),
               "old": self.old.to_dict() if self.old else None, "old_required": self.old_required}
        if self.roles:
            out["roles"] = [r.to_dict() for r in self.roles]
        return out


def published_verdict(st: ThresholdStatus, name: str) -> tuple[str | None, str | None]:
    """What ``record verify`` says of a published root file ``metadata/NAME`` at the thresholds
    ``st`` (every format's record check): a problem, or the sentence of a check that passed."""
    if not st.verified:
        return f"metadata/{name} is not signed at threshold: " + "; ".join(st.lines()), None
    return None, (f"metadata/{name} is the journaled draft, signed at threshold "
                  f"({'; '.join(st.lines())})")


@frozen
class InitInputs:
    """What ``init`` journals and copies in, as the format read and checked it.

    ``previous`` and ``previous_files``: the verified previous chain (``None`` / empty for a
    new repository); ``online``: the online roles' key entries (``keyid`` + the format's
    public key dict) journaled in ``initialized``; ``warnings``: what the room is told.
    """

    previous: dict[str, Any] | None
    previous_files: dict[str, bytes]
    online: dict[str, list[dict[str, Any]]]
    warnings: list[str] = field(default_factory=list)


@frozen
class Draft:
    """A drafted root (unsigned) and the fields its ``draft-created`` event journals."""

    metadata: Any
    fields: dict[str, Any]
