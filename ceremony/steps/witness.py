"""The FIDO2 witness steps' journal entries: a credential enrolled, a journal head signed off.

The checks before and around them (who may enrol or sign, which head a sign-off covers, the
security key itself) are ``ceremony.witness``'s and ``hsm.fido``'s; these functions journal
what they produced, typed.
"""

from __future__ import annotations

from ceremony.events import Recorder, WitnessEnrolled, WitnessSigned


def enrolled(c: Recorder, witness: str, credential: dict[str, str], device: str) -> None:
    """Journal ``witness``'s enrolled credential (public: id, AAGUID, attested public key).

    Raises:
        StateError: the ceremony is sealed.
        WorkspaceError: the journal cannot be written.
    """
    c.append(WitnessEnrolled(witness=witness, credential=credential, device=device))


def signed_off(c: Recorder, witness: str, seq: int, head: str, counter: int,
               assertion: dict[str, str]) -> None:
    """Journal ``witness``'s assertion over journal line ``seq`` (its hash ``head``).

    Raises:
        StateError: the ceremony is sealed.
        WorkspaceError: the journal cannot be written.
    """
    c.append(WitnessSigned(witness=witness, seq=seq, head=head, counter=counter,
                           assertion=assertion))
