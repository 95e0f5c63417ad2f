"""The PGP word list: the published tables, and the byte <-> word mapping."""

from __future__ import annotations

import hashlib

import pytest

from ceremony.words import EVEN_WORDS, ODD_WORDS, pgp_words, pgp_words_text, words_to_bytes

# SHA-256 of EVEN joined by newlines, a newline, ODD joined by newlines. The tables were checked
# against two independent published copies; this pin catches any later edit or typo.
TABLES_SHA256 = "e9b7b0052233a74aa56724ed3f79c272036aed68d8f4c0856e833c8043b9ac62"


def test_tables_are_the_published_ones() -> None:
    joined = "\n".join(EVEN_WORDS) + "\n" + "\n".join(ODD_WORDS)
    assert hashlib.sha256(joined.encode()).hexdigest() == TABLES_SHA256


def test_tables_have_256_distinct_words_each_and_never_share_one() -> None:
    even = {w.lower() for w in EVEN_WORDS}
    odd = {w.lower() for w in ODD_WORDS}
    assert len(EVEN_WORDS) == len(even) == 256
    assert len(ODD_WORDS) == len(odd) == 256
    assert not even & odd


def test_even_offsets_use_two_syllable_words_odd_offsets_three() -> None:
    assert pgp_words(bytes([0x00, 0x00, 0xFF, 0xFF])) == [
        "aardvark",
        "adroitness",
        "Zulu",
        "Yucatan",
    ]
    # The start of the example in the list's documentation (E582 ...).
    assert pgp_words(bytes([0xE5, 0x82])) == ["topmost", "Istanbul"]
    assert pgp_words(b"") == []


def test_text_groups_words_for_reading_aloud() -> None:
    data = bytes(range(6))
    assert pgp_words_text(data) == "aardvark adviser accrue aggregate / adrift almighty"
    assert pgp_words_text(data, group=0) == "aardvark adviser accrue aggregate adrift almighty"


def test_words_round_trip_ignoring_case() -> None:
    data = hashlib.sha256(b"x").digest()
    words = [w.upper() for w in pgp_words(data)]
    assert words_to_bytes(words) == data
    assert words_to_bytes(pgp_words_text(data).split()) == data


def test_a_swapped_pair_is_caught() -> None:
    words = pgp_words(bytes([1, 2, 3, 4]))
    words[0], words[1] = words[1], words[0]
    with pytest.raises(ValueError, match=r"word 1 \('aftermath'\) is not a two-syllable PGP word"):
        words_to_bytes(words)
