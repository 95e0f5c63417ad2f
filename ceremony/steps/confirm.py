"""The ``confirmed`` step: an operator's confirmation, journaled (draft approved, publish
confirmed, ...), so that the record shows who confirmed what, and over which digest."""

from __future__ import annotations

from ceremony.events import ADMIN, Confirmed, Recorder
from ceremony.seal import refuse_if_sealed


def confirm(c: Recorder, what: str, text: str, digest: str | None = None, by: str = ADMIN) -> None:
    """Journal an operator confirmation of ``what``, in the words shown (``text``).

    Raises:
        StateError: the ceremony is sealed.
    """
    refuse_if_sealed(c)
    c.append(Confirmed(what=what, text=text, by=by, digest=digest))
