"""The seal steps' journal entries: a keyholder's signature over the journal head, and the
seal itself (every signature over that head), after which nothing more is journaled.

Choosing the head, the sealers and the witnesses' sign-offs, and making each signature on its
token, is ``ceremony.seal``'s; these functions journal the result, typed.
"""

from __future__ import annotations

from typing import Any

from ceremony.events import Recorder, Sealed, SealSignature


def seal_signature(c: Recorder, keyholder: str, keyid: str, seq: int, head: str, sig: str,
                   algorithm: str, token_serial: str | None) -> None:
    """Journal ``keyholder``'s seal signature (hex ``sig``) over journal line ``seq``.

    Raises:
        StateError: the ceremony is sealed.
        WorkspaceError: the journal cannot be written.
    """
    c.append(SealSignature(keyholder=keyholder, keyid=keyid, seq=seq, head=head, sig=sig,
                           algorithm=algorithm, token_serial=token_serial))


def sealed(c: Recorder, seq: int, head: str, ceremony_id: str,
           signatures: list[dict[str, Any]]) -> None:
    """Journal the seal of journal line ``seq`` with every signature over its ``head``.

    Raises:
        StateError: the ceremony is sealed already.
        WorkspaceError: the journal cannot be written.
    """
    c.append(Sealed(seq=seq, head=head, ceremony_id=ceremony_id, signatures=signatures))
