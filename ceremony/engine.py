"""The ceremony engine: the facade the CLI and the TUI call, over a session and its steps.

Steps: init, keygen (per keyholder), draft, sign (per keyholder), publish. The
CLI and the TUI call these and only render what they return. Every effect is
appended to the journal before the step returns, and state is the replay of
the journal, so a crash resumes where it stopped: a key whose generation was
intended but not recorded is looked up on its token by id before a new one is
made, and drafts are rebuilt from the journal.

What a workspace holds and answers is :class:`ceremony.session.Session`; each
step is a function in :mod:`ceremony.steps`; :class:`Ceremony` adds them as
methods (``c.keygen(...)``), each loading its step module when called, so a keyholder's
``sign`` process pays for no other step's imports. The metadata format is the session's
``format``, built from the plan through :mod:`ceremony.formats.registry`: the engine names
no concrete format. Dependencies run one way: engine → steps → session → formats.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ceremony.formats.token_keys import open_root_key
from ceremony.session import (
    Session,
    create_workspace,
    sha256,
    utc,
)
from ceremony.state import KeyRecord
from ceremony.steps import sign as sign_step
from ceremony.steps.sign import SignResult
from hsm.pkcs11 import Module, PinProvider

if TYPE_CHECKING:  # no cycle: hsm.yubikey.provision costs ~57 ms (yubikit) at every step's start
    from hsm.yubikey.provision import ProvisionPrompts

__all__ = ["Ceremony", "SignResult", "create_workspace", "open_root_key",
           "sha256", "utc"]


class Ceremony(Session):
    """One workspace and the steps that advance it (each in :mod:`ceremony.steps`)."""

    def keygen(self, keyholder: str, module: Module, pin: PinProvider, *,
               on_touch: Callable[[str], None] | None = None,
               attestation_roots: Path | str | None = None,
               provision: ProvisionPrompts | None = None, now: datetime | None = None) -> KeyRecord:
        """Generate ``keyholder``'s root key on their token (:func:`ceremony.steps.keygen.keygen`).

        Raises:
            StateError: the keyholder already has a key, or is not a root keyholder.
            UsageError: ``provision`` for a keyholder whose token is not a YubiKey.
            VerificationError: what the format made of the key would be refused.
            hsm.errors.HsmError: token missing, PIN refused, label already used;
                attestation failed (exit 3).
        """
        from ceremony.steps import keygen as keygen_step  # lazy: ctypes, PIN audit, witnesses (~8 ms), keygen only
        return keygen_step.keygen(self, keyholder, module, pin, on_touch=on_touch,
                                  attestation_roots=attestation_roots, provision=provision, now=now)

    def draft(self, now: datetime | None = None) -> Any:
        """Draft the next root version, unsigned (:func:`ceremony.steps.draft.draft`).

        Raises:
            StateError: keys missing, or a draft already exists.
            VerificationError: a rotation would make a root key an online key, or the
                format refuses the root.
        """
        from ceremony.steps import draft as draft_step  # lazy: the draft's integrity checks, draft only
        return draft_step.draft(self, now)

    def sign(self, keyholder: str, module: Module, pin: PinProvider, *,
             on_touch: Callable[[str], None] | None = None) -> SignResult:
        """Add ``keyholder``'s signature(s) to the draft (:func:`ceremony.steps.sign.sign`).

        Raises:
            StateError: no draft, already published, or the keyholder already signed.
            VerificationError: the keyholder holds no key that counts, or the draft was edited.
            hsm.errors.HsmError: token missing/wrong, PIN refused.
        """
        return sign_step.sign(self, keyholder, module, pin, on_touch=on_touch)

    def publish(self) -> list[Path]:
        """Write the published root once every threshold is met
        (:func:`ceremony.steps.publish.publish`).

        Raises:
            ThresholdError: a threshold is not met (the verdict says who is missing).
            StateError: nothing drafted.
        """
        from ceremony.steps import publish as publish_step  # lazy: publish only
        return publish_step.publish(self)

