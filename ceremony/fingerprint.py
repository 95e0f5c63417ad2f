"""Key fingerprints in a form a room can read aloud and compare."""

from __future__ import annotations


def fingerprint_words(keyid_hex: str, nbytes: int = 8) -> str:
    """The first ``nbytes`` of a key id as PGP words (even/odd lists), space-separated."""
    from ceremony.words import pgp_words  # lazy: the word lists, when words are first said

    return " ".join(pgp_words(bytes.fromhex(keyid_hex)[:nbytes]))


def digest_words(hexdigest: str) -> str:
    """A whole digest as PGP words, four to a group (`` / `` between groups): what the room
    reads aloud for a draft, and what a keyholder elsewhere types back (``sign-draft
    --expect-digest``). Full length: a shortened digest can be matched by an edited draft."""
    from ceremony.words import pgp_words_text  # lazy: the word lists, when words are first said

    return pgp_words_text(bytes.fromhex(hexdigest))
