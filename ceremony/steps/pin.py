"""The ``pin-attempt`` journal entry: a PIN a token step asked for, and what became of it.

Never the PIN: the token's label and serial, the step, the outcome and, when the device tells,
the tries left before it. ``ceremony.pin_audit`` wraps the token steps and calls this once per
PIN asked for.
"""

from __future__ import annotations

from ceremony.events import PinAttempt, Recorder


def pin_attempt(c: Recorder, keyholder: str, step: str, token_label: str | None,
                token_serial: str | None, outcome: str, attempts_left_before: int | None) -> None:
    """Journal one PIN attempt of ``keyholder``'s ``step`` on a token.

    Raises:
        StateError: the ceremony is sealed.
        WorkspaceError: the journal cannot be written.
    """
    c.append(PinAttempt(keyholder=keyholder, step=step, token_label=token_label,
                        token_serial=token_serial, outcome=outcome,
                        attempts_left_before=attempts_left_before))
