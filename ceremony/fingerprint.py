"""Key fingerprints in a form a room can read aloud and compare."""

from __future__ import annotations


def fingerprint_words(keyid_hex: str, nbytes: int = 8) -> str:
    """The first ``nbytes`` of a key id as PGP words (even/odd lists), space-separated."""
    from ceremony.words import pgp_words
    return " ".join(pgp_words(bytes.fromhex(keyid_hex)[:nbytes]))
