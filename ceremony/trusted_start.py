"""The root a chain is trusted from, when nothing before it vouches for it.

``init --previous`` and ``import --out`` into an empty folder take the oldest root they
are given on trust (trust on first use): the walk proves every later version from it, but
nothing proves the first one. A forged chain (an attacker's own self-signed root, then
versions signed by it) walks just as well. So the tool prints the trusted root's
fingerprint, the sha256 of its file, as PGP words in full, for the room to compare with
the words read aloud by whoever holds the real chain (``ceremony verify`` prints them), and
``--expect-root WORDS|HEX`` makes that comparison a refusal instead of a reading.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

from ceremony.errors import UsageError, VerificationError

_HEX = r"^[0-9a-fA-F]{64}$"  # compiled by re on first use


def root_fingerprint(data: bytes) -> str:
    """The fingerprint of a root file: the sha256 of its bytes, in hex."""
    return hashlib.sha256(data).hexdigest()


def fingerprint_text(fingerprint_hex: str) -> str:
    """All 32 bytes of a fingerprint as PGP words, in groups of four (never shortened)."""
    from ceremony.words import pgp_words_text  # lazy: the word lists, when words are first said

    return pgp_words_text(bytes.fromhex(fingerprint_hex))


def expected_bytes(text: str) -> bytes:
    """What ``--expect-root`` names: 64 hex digits, or the 32 PGP words (any case, ``/``
    between groups allowed).

    Raises:
        UsageError: neither a full hex digest nor 32 PGP words in their places.
    """
    compact = re.sub(r"[\s:]", "", text)
    if re.match(_HEX, compact):
        return bytes.fromhex(compact)
    from ceremony.words import words_to_bytes  # lazy: the word lists, when words are first read

    words = text.replace("/", " ").split()
    try:
        data = words_to_bytes(words)
    except ValueError as e:
        raise UsageError(f"--expect-root: {e}") from None
    if len(data) != 32:
        raise UsageError(f"--expect-root names {len(data)} word(s); a root fingerprint is 32 "
                         "PGP words or 64 hex digits")
    return data


def check_expected(fingerprint_hex: str, expected: str | None, what: str) -> None:
    """Refuse a trusted root whose fingerprint is not the one the room expects.

    Raises:
        UsageError: ``expected`` cannot be read.
        VerificationError: the fingerprints differ (the message shows both, as words).
    """
    if expected is None:
        return
    want = expected_bytes(expected)
    if want.hex() == fingerprint_hex:
        return
    got = bytes.fromhex(fingerprint_hex)
    first = next(i for i, (a, b) in enumerate(zip(got, want, strict=True)) if a != b)
    raise VerificationError(
        f"{what} is not the root you expected: its fingerprint is {fingerprint_text(fingerprint_hex)}; "
        f"expected {fingerprint_text(want.hex())} (they differ from word {first + 1})",
        hint="nothing was written; the chain may be forged: get the real one and the words "
             "from whoever holds the repository")


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant in UTC (``2027-03-01T12:00:00Z``, or a date: its midnight).

    Raises:
        UsageError: not such a time, or a time with another offset than UTC.
    """
    value = text.strip()
    try:
        moment = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z"))
                                        else value)
    except ValueError:
        raise UsageError(f"--at {text!r} is not an ISO 8601 time such as "
                         "2027-03-01T12:00:00Z") from None
    if moment.tzinfo is None:
        if "T" in value or " " in value:
            raise UsageError(f"--at {text!r} has no time zone; give it in UTC, ending in Z")
        moment = moment.replace(tzinfo=UTC)
    if moment.utcoffset() != UTC.utcoffset(None):
        raise UsageError(f"--at {text!r} is not in UTC; give it ending in Z")
    return moment


def trusted_root_lines(version: int, fingerprint: str | None, expected: str | None,
                       explicit: bool) -> list[str]:
    """What the room reads about the root a chain was taken from (``init --previous``,
    ``import --out``): its fingerprint in full, and whether it was checked or taken on trust."""
    if not fingerprint:
        return []
    lines = [f"trusted root v{version} fingerprint: {fingerprint_text(fingerprint)}"]
    if expected:
        lines.append("  matches --expect-root")
    elif not explicit:
        lines.append("  trust on first use: compare these words with the ones read aloud by "
                     "whoever holds the repository (or give --expect-root)")
    return lines
