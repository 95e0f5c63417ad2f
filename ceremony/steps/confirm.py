"""The ``confirmed`` step: an operator's confirmation, journaled (draft approved, publish
confirmed, ...), so that the record shows who confirmed what, and over which digest; and
:func:`confirmed`, whether one was (the next step asks it at every ``status``: this module stays
light, the seal check is loaded by the step alone)."""

from __future__ import annotations

from ceremony.events import ADMIN, Confirmed, parse
from ceremony.session import Session


def confirm(c: Session, what: str, text: str, digest: str | None = None, by: str = ADMIN) -> None:
    """Journal an operator confirmation of ``what``, in the words shown (``text``).

    Raises:
        StateError: the ceremony is sealed.
    """
    from ceremony.seal import refuse_if_sealed  # lazy: the seal and the notary record (~30 ms), not for status
    refuse_if_sealed(c)
    c.append(Confirmed(what=what, text=text, by=by, digest=digest))


def confirmed(c: Session, what: str, digest: str | None = None) -> bool:
    """Whether ``what`` (for this ``digest``, when given) has been confirmed."""
    for e in c.journal.events:
        match parse(e):
            case Confirmed(what=done, digest=over) if done == what and digest in (None, over):
                return True
    return False
