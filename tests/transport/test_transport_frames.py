"""Frames and the collector (pure: no images): order, duplicates, loss, and every bad frame."""

from __future__ import annotations

import hashlib
import random
import zlib

import pytest

from ceremony.errors import VerificationError
from ceremony.transport import Collector, parse_frame
from ceremony.transport.fountain import FountainDecoder, Xoshiro256, fragment_indexes, mix, split
from ceremony.transport.frames import HEADER_SIZE, Frame, fountain_frames, make_frames, message_id

MESSAGE = random.Random(1).randbytes(3000)
FRAME_BYTES = 360  # small: v14-M


def frames_of(message: bytes = MESSAGE, frame_bytes: int = FRAME_BYTES) -> list[bytes]:
    return make_frames(message, frame_bytes)


def test_frames_fill_the_code_and_are_balanced() -> None:
    frames = frames_of()
    assert len(frames) == 10  # ceil(3000 / (360 - 32))
    assert {len(f) for f in frames} == {HEADER_SIZE + 300}
    parsed = [parse_frame(f) for f in frames]
    assert [p.seq for p in parsed] == list(range(10))
    assert {(p.total, p.length, p.message_id) for p in parsed} == {(10, 3000, message_id(MESSAGE))}
    assert parsed[2].label == "frame 3 of 10"


def test_header_layout_is_stable() -> None:
    frame = frames_of(b"hello world", 64)[0]
    assert frame[:2] == b"CQ" and frame[2] == 1
    assert frame[3:19] == hashlib.sha256(b"hello world").digest()[:16]
    assert frame[19:22] == (11).to_bytes(3, "big")
    assert frame[22:24] == (1).to_bytes(2, "big")
    assert frame[24:28] == (0).to_bytes(4, "big")
    assert frame[28:32] == zlib.crc32(frame[32:], zlib.crc32(frame[:28])).to_bytes(4, "big")
    assert frame[32:] == b"hello world"


def test_any_order_with_duplicates_rebuilds_the_message() -> None:
    frames = frames_of()
    pile = frames + frames[:4]
    random.Random(2).shuffle(pile)
    collector = Collector()
    for i, f in enumerate(pile):
        collector.add(f, f"photo-{i}.jpg")
    assert collector.complete
    assert collector.message() == MESSAGE
    assert collector.progress() == "10 of 10 frames"


def test_missing_frames_are_named() -> None:
    collector = Collector()
    for i, f in enumerate(frames_of()):
        if i not in (2, 6):
            collector.add(f, f"f{i}.png")
    assert collector.missing() == [3, 7]
    assert collector.progress() == "8 of 10 frames; missing frames 3, 7 of 10"
    with pytest.raises(VerificationError) as err:
        collector.message()
    assert err.value.message == "missing frames 3, 7 of 10."
    collector.add(frames_of()[2], "late.png")
    with pytest.raises(VerificationError) as err:
        collector.message()
    assert err.value.message == "missing frame 7 of 10."


def test_frames_from_two_messages_never_mix() -> None:
    other = random.Random(3).randbytes(3000)
    collector = Collector()
    collector.add(frames_of()[0], "a.png")
    with pytest.raises(VerificationError) as err:
        collector.add(frames_of(other)[1], "b.png")
    assert err.value.message == (
        f"frames from two different messages: a.png belongs to message "
        f"{message_id(MESSAGE).hex()[:16]} and b.png to message {message_id(other).hex()[:16]}; "
        "import one message at a time."
    )


def test_foreign_qr_content_is_not_a_frame() -> None:
    for data in (b"https://example.org/", b"", b"C", b"ur:crypto-psbt/1-3/lpadaxcsencylobemohs"):
        with pytest.raises(VerificationError) as err:
            parse_frame(data, "x.png")
        assert err.value.message == "x.png holds a QR code that is not a ceremony frame."


def test_another_frame_format_version_is_named() -> None:
    frame = bytearray(frames_of()[0])
    frame[2] = 2
    with pytest.raises(VerificationError) as err:
        parse_frame(bytes(frame), "x.png")
    assert err.value.message == (
        "x.png holds a ceremony frame of format 2; this tool reads format 1."
    )


def test_truncated_frames() -> None:
    frame = frames_of()[4]
    with pytest.raises(VerificationError) as err:
        parse_frame(frame[:-50], "x.png")
    assert (
        err.value.message
        == "x.png holds a truncated frame (frame 5 of 10: 250 of 300 payload bytes)."
    )
    with pytest.raises(VerificationError) as err:
        parse_frame(frame[:20], "x.png")
    assert err.value.message == "x.png holds a truncated frame (20 bytes, shorter than its header)."


def test_corrupted_frames() -> None:
    frame = bytearray(frames_of()[4])
    frame[100] ^= 0x04
    with pytest.raises(VerificationError) as err:
        parse_frame(bytes(frame), "x.png")
    assert err.value.message == "x.png holds a corrupted frame (checksum mismatch)."
    grown = frames_of()[4] + b"\0"
    with pytest.raises(VerificationError) as err:
        parse_frame(grown, "x.png")
    assert err.value.message == "x.png holds a corrupted frame (checksum mismatch)."


def test_a_well_formed_frame_with_the_wrong_length_is_refused() -> None:
    good = parse_frame(frames_of()[0])
    short = Frame(good.message_id, good.length, good.total, 0, good.payload[:-1]).to_bytes()
    with pytest.raises(VerificationError) as err:
        parse_frame(short, "x.png")
    assert err.value.message == (
        "x.png holds a truncated frame (frame 1 of 10: 299 of 300 payload bytes)."
    )
    impossible = Frame(good.message_id, 5, 9, 0, b"").to_bytes()
    with pytest.raises(VerificationError) as err:
        parse_frame(impossible, "x.png")
    assert err.value.message == "x.png holds a corrupted frame (impossible header)."


def test_same_frame_with_different_content_is_refused() -> None:
    good = parse_frame(frames_of()[3])
    forged = Frame(good.message_id, good.length, good.total, 3, bytes(len(good.payload)))
    collector = Collector()
    collector.add(frames_of()[3], "one.png")
    assert collector.add(frames_of()[3], "copy.png") is False  # an identical duplicate is fine
    with pytest.raises(VerificationError) as err:
        collector.add(forged.to_bytes(), "two.png")
    assert err.value.message == (
        "two.png holds frame 4 of 10 with different content than one.png; one of them is corrupted."
    )


def test_header_disagreeing_about_the_size_is_refused() -> None:
    good = parse_frame(frames_of()[3])
    odd = Frame(good.message_id, good.length - 1, good.total, 3, good.payload)
    collector = Collector()
    collector.add(frames_of()[0], "one.png")
    with pytest.raises(VerificationError) as err:
        collector.add(odd.to_bytes(), "two.png")
    assert err.value.message == (
        "two.png holds a corrupted frame: its header disagrees with one.png about the message size."
    )


def test_altered_frames_that_pass_their_checksum_fail_the_message_digest() -> None:
    frames = frames_of()
    good = parse_frame(frames[5])
    forged = Frame(good.message_id, good.length, good.total, 5, bytes(len(good.payload)))
    collector = Collector()
    for f in [*frames[:5], forged.to_bytes(), *frames[6:]]:
        collector.add(f, "x")
    with pytest.raises(VerificationError) as err:
        collector.message()
    assert err.value.message == (
        "the reassembled message does not match its digest; a frame was altered."
    )


def test_no_frame_at_all() -> None:
    with pytest.raises(VerificationError) as err:
        Collector().message()
    assert err.value.message == "no ceremony frame was found."
    assert Collector().progress() == "no ceremony frame read yet"


# --- fountain ------------------------------------------------------------------------------------


def test_xoshiro256starstar_reference_vector() -> None:
    rng = Xoshiro256(b"".join(i.to_bytes(8, "big") for i in (1, 2, 3, 4)))
    assert [rng.next() for _ in range(4)] == [11520, 0, 1509978240, 1215971899390074240]


def test_fragment_choice_is_pinned() -> None:
    """Both sides of the air gap must derive the same sets, whatever Python they run."""
    mid = bytes(range(16))
    assert [sorted(fragment_indexes(s, 9, mid)) for s in range(9, 14)] == [
        [1, 4, 6, 8],
        [0, 1, 2, 4, 5, 6, 7, 8],
        [1, 2, 4, 5, 6, 8],
        [1, 2, 4, 5, 6, 7],
        [1, 2, 3, 5, 7, 8],
    ]
    assert fragment_indexes(3, 9, mid) == frozenset({3})


def test_fountain_frames_alone_rebuild_the_message() -> None:
    stream = fountain_frames(MESSAGE, FRAME_BYTES, start=10)  # no plain frame at all
    collector = Collector()
    shown = 0
    while not collector.complete:
        collector.add(next(stream), "video")
        shown += 1
    assert collector.message() == MESSAGE
    assert shown <= 10 + 8  # rank grows by one per frame with probability >= 1/2 at worst


def test_a_reader_missing_a_fifth_of_the_frames_still_finishes() -> None:
    rng = random.Random(4)
    totals = []
    for _ in range(30):
        collector = Collector()
        for shown, f in enumerate(fountain_frames(MESSAGE, FRAME_BYTES), start=1):  # noqa: B007 - read after the loop
            if rng.random() >= 0.2:
                collector.add(f, "screen")
            if collector.complete:
                break
        assert collector.message() == MESSAGE
        totals.append(shown)
    assert sum(totals) / len(totals) < 10 / 0.8 + 3


def test_decoder_reports_redundant_frames_and_solves_by_elimination() -> None:
    fragments = split(b"abcdefghijkl", 3)
    decoder = FountainDecoder(3, 4)
    assert decoder.add(frozenset({0, 1}), mix(fragments, frozenset({0, 1})))
    assert decoder.add(frozenset({1, 2}), mix(fragments, frozenset({1, 2})))
    assert not decoder.add(frozenset({0, 2}), mix(fragments, frozenset({0, 2})))  # = sum of both
    assert decoder.missing() == [0, 1, 2] and decoder.rank == 2
    assert decoder.add(frozenset({2}), fragments[2])
    assert decoder.complete and decoder.fragments() == fragments
