"""The ``confirmed`` step: an operator's confirmation, journaled (draft approved, publish
confirmed, ...), so that the record shows who confirmed what, and over which digest."""

from __future__ import annotations

from ceremony.events import ADMIN, Confirmed
from ceremony.seal import refuse_if_sealed
from ceremony.session import Session


def confirm(c: Session, what: str, text: str, digest: str | None = None, by: str = ADMIN) -> None:
    """Journal an operator confirmation of ``what``, in the words shown (``text``).

    Raises:
        StateError: the ceremony is sealed.
    """
    refuse_if_sealed(c)
    c.append(Confirmed(what=what, text=text, by=by, digest=digest))
