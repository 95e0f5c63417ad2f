"""The ceremony's error tree: one class per kind of failure, one exit code each.

The CLI and TUI turn any ``CeremonyError`` (and any ``hsm.errors.HsmError``) into
its ``message`` (one operator sentence), an optional ``hint`` (what to do next)
and ``exit_code``. Anything else reaching the top is a bug: exit 70.

Exit codes:
    2  plan invalid
    3  input failed verification (metadata, bundle, signature, draft changed)
    4  token missing, ambiguous or wrong (see hsm.errors)
    5  PIN incorrect / would lock / locked (see hsm.errors)
    6  threshold not met
    7  workspace or journal integrity, or an output that already exists
    8  step out of order (no draft yet, key already generated, ...)
    9  a remote service refused (online side only)
    10 the chain verified, but its newest root has expired (``ceremony verify``)
    64 command-line usage
    66 the PIN file named with --pin-file is missing or unreadable
    70 internal error
    141 standard output was closed by its reader (``ceremony status WS | head -1``): the
        command's work is done, only the rest of its output was dropped; nothing is printed
"""

from __future__ import annotations

EXIT_PLAN = 2
EXIT_VERIFY = 3
EXIT_THRESHOLD = 6
EXIT_WORKSPACE = 7
EXIT_STATE = 8
EXIT_REMOTE = 9
EXIT_EXPIRED = 10
EXIT_FINDINGS = 11  # `ceremony audit`: verified, but with findings (ceremony.audit)
EXIT_USAGE = 64
EXIT_NOINPUT = 66  # sysexits.h EX_NOINPUT
EXIT_INTERNAL = 70
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a writer whose reader left


class CeremonyError(Exception):
    """Base of every expected failure; ``message`` is shown to the operator as is."""

    exit_code: int = EXIT_INTERNAL

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class PlanError(CeremonyError):
    """The plan file is invalid; the message names the field."""

    exit_code = EXIT_PLAN


class VerificationError(CeremonyError):
    """Something read from disk or across the air gap did not verify."""

    exit_code = EXIT_VERIFY


class ThresholdError(CeremonyError):
    """A role is not signed by enough keys; carries the verdict."""

    exit_code = EXIT_THRESHOLD

    def __init__(self, message: str, hint: str | None = None, verdict: object = None) -> None:
        super().__init__(message, hint)
        self.verdict = verdict


class WorkspaceError(CeremonyError):
    """The workspace or its journal is missing, damaged, or would be overwritten."""

    exit_code = EXIT_WORKSPACE


class StateError(CeremonyError):
    """The step cannot run now (already done, or something must come first)."""

    exit_code = EXIT_STATE


class PreflightError(StateError):
    """The machine failed a check the ceremony cannot proceed without (the air gap, the clock):
    the step cannot run now (exit 8) until the room is fixed and the preflight run again."""


class RemoteError(CeremonyError):
    """A server (online side only) refused a request; the message carries its text."""

    exit_code = EXIT_REMOTE


class UsageError(CeremonyError):
    """The command line itself is wrong."""

    exit_code = EXIT_USAGE


class PinFileError(CeremonyError):
    """The PIN file named with ``--pin-file`` is missing, unreadable or empty.

    Its own exit code (66), apart from 5: no token was asked anything, so no PIN was wrong.
    """

    exit_code = EXIT_NOINPUT


class RootExpiredError(VerificationError):
    """Every root version verified, but the newest one has expired: its own verdict."""

    exit_code = EXIT_EXPIRED
