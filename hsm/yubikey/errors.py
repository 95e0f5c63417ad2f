"""YubiKey-specific failures, in the ``hsm.errors`` tree.

They subclass :class:`hsm.errors.HsmError` so the CLI's one ``except HsmError``
turns them into an ``error:`` line and an exit code like every other token
failure. (Candidates to move into ``hsm.errors`` once the lead merges this.)
"""

from __future__ import annotations

from hsm.errors import EXIT_PIN, EXIT_TOKEN, HsmError, PinError

EXIT_VERIFY = 3  # same number as ceremony.errors.EXIT_VERIFY; hsm does not import ceremony


class TouchTimeoutError(HsmError):
    """The key needed a touch and nobody touched it before the card gave up."""

    exit_code = EXIT_TOKEN


class FactoryDefaultsError(HsmError):
    """The factory PIN, PUK or management key is still set: not fit for a ceremony."""

    exit_code = EXIT_TOKEN


class ProvisionAbortedError(HsmError):
    """Provisioning stopped before touching the device (e.g. the typed serial did not match)."""

    exit_code = EXIT_TOKEN


class NewPinRejectedError(PinError):
    """A new PIN or PUK offered during provisioning is unusable (length, defaults, equal)."""

    exit_code = EXIT_PIN


class AttestationError(HsmError):
    """An attestation did not verify: wrong CA, wrong device, wrong policy, malformed."""

    exit_code = EXIT_VERIFY
