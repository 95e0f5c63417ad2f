"""PIN attempts, journaled as such: accepted, wrong, refused or cancelled; never the PIN.

An auditor reading the record years later must be able to tell a smooth ceremony from
one where a keyholder typed a wrong PIN twice on another keyholder's token. The token
layer (``hsm``) never journals; the engine's token steps are wrapped here instead: the
PIN provider is wrapped to learn *that* a PIN was asked for (and for which token), and
the step's outcome says what became of it. What is written is the token's label and
serial, the step, the outcome and, when the device tells, the tries left.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from ceremony.session import Session
from ceremony.steps.pin import pin_attempt
from hsm.errors import PinError, PinIncorrectError, PinMissingError
from hsm.pkcs11 import PinProvider, TokenInfo

OK = "accepted"
WRONG = "wrong"
REFUSED = "refused"  # the tool would not log in: locked, or one more failure would lock
CANCELLED = "cancelled"  # no PIN given: prompt closed, Ctrl-C, missing source

F = TypeVar("F", bound=Callable[..., Any])


def outcome_of(error: BaseException | None) -> str | None:
    """What a step's exception says about the PIN it asked for (``None``: nothing to say)."""
    if error is None:
        return OK
    if isinstance(error, PinIncorrectError):
        return WRONG
    if isinstance(error, (PinMissingError, KeyboardInterrupt, EOFError)):
        return CANCELLED
    if isinstance(error, PinError):
        return REFUSED
    return OK  # the PIN was taken; the step failed later for another reason


def audited(step: str) -> Callable[[F], F]:
    """Decorate an engine token step ``(self, keyholder, module, pin, ...)`` so that every
    PIN it asks for is journaled with its outcome once the step ends."""

    def wrap(method: F) -> F:
        @functools.wraps(method)
        def run(self: Any, keyholder: str, module: Any, pin: PinProvider, *args: Any,
                **kwargs: Any) -> Any:
            asked: list[TokenInfo] = []

            def provide(info: TokenInfo) -> str:
                asked.append(info)
                return pin(info)

            try:
                result = method(self, keyholder, module, provide, *args, **kwargs)
            except BaseException as e:
                _journal(self, step, keyholder, asked, outcome_of(e))
                raise
            _journal(self, step, keyholder, asked, OK)
            return result

        return run  # type: ignore[return-value]

    return wrap


def _journal(c: Session, step: str, keyholder: str, asked: list[TokenInfo], outcome: str | None) -> None:
    """One ``pin-attempt`` event per PIN asked for; the last one carries the outcome (earlier
    ones were accepted, or the step would have stopped there). Never fails the step: a sealed
    ceremony or an unwritable journal leaves the step's own error to speak."""
    if not asked or outcome is None or getattr(c.state, "sealed", None):
        return
    for n, info in enumerate(asked, start=1):
        left = getattr(info, "pin_attempts_left", None)
        try:
            pin_attempt(c, keyholder, step, getattr(info, "label", None),
                        getattr(info, "serial", None), outcome if n == len(asked) else OK,
                        left if isinstance(left, int) and not isinstance(left, bool) else None)
        except Exception:  # noqa: BLE001 - the step's own outcome is what the operator needs
            return
