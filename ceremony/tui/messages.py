"""Messages that carry results from thread workers back to the screens.

Token calls block (PIN entry, touch, slow hardware), so they run in thread
workers; what they produce comes back as these messages, handled on the event
loop like any key press.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message

INTERNAL_HINT = "this is a bug in the tool; every step shown as done is in the journal"


@dataclass
class JobDone(Message):
    """A worker finished: ``result`` is what the ceremony call returned."""

    job: str
    result: Any


@dataclass
class JobFailed(Message):
    """A worker stopped on an expected failure: the operator sentence and its hint."""

    job: str
    message: str
    hint: str | None


@dataclass
class TouchNeeded(Message):
    """A token wants a touch (for modules that can tell; PKCS#11 alone cannot).

    ``message`` is the token layer's own sentence (``hsm.yubikey.signing`` says
    which key and whether it blinks), else the banner names ``token``.
    """

    token: str
    message: str | None = None


@dataclass
class TouchDone(Message):
    """The touch happened, or the operation ended."""

    token: str
