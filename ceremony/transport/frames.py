"""QR frames: a message cut into binary frames, and the collector that puts it back together.

Frame layout (big-endian, 32-byte header, then the payload; QR byte mode):

====== ==== =========================================================================
offset size field
====== ==== =========================================================================
0      2    magic ``CQ`` (ceremony QR): anything else is not ours
2      1    frame format version, 1
3      16   message id: the first 16 bytes of SHA-256 of the whole message. Every frame
            carries it, so frames of two messages can never mix, and the reassembled
            message is checked against it before it is decompressed
19     3    message length in bytes (at most 16 MiB)
22     2    total: fragments in the message (1..65535)
24     4    seq: ``< total`` carries fragment ``seq`` (printed frame ``seq+1 of total``);
            ``>= total`` is a fountain frame mixing several fragments (see fountain.py)
28     4    CRC-32 of bytes 0..27 and the payload, so a damaged or altered frame is named
            instead of silently spoiling the message
32     n    payload: exactly ``ceil(length / total)`` bytes
====== ==== =========================================================================

The message itself is the zlib-compressed bundle (``qr.bundle_message``). Everything in this
module is pure; it raises only :class:`~ceremony.errors.VerificationError`.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from ceremony.errors import VerificationError
from ceremony.transport import fountain

__all__ = [
    "FRAME_MAGIC",
    "FRAME_VERSION",
    "HEADER_SIZE",
    "MAX_MESSAGE_BYTES",
    "Collector",
    "Frame",
    "fountain_frames",
    "make_frames",
    "message_id",
    "parse_frame",
]

FRAME_MAGIC = b"CQ"
FRAME_VERSION = 1
_HEADER = struct.Struct(">2sB16s3sHI")  # without the CRC
HEADER_SIZE = _HEADER.size + 4
MAX_MESSAGE_BYTES = (1 << 24) - 1
MAX_TOTAL = 0xFFFF


@dataclass(frozen=True)
class Frame:
    """One parsed, checksum-verified frame."""

    message_id: bytes
    length: int
    total: int
    seq: int
    payload: bytes = field(repr=False)

    @property
    def is_fountain(self) -> bool:
        """True for a mixed (fountain) frame, False for a plain fragment."""
        return self.seq >= self.total

    @property
    def label(self) -> str:
        """How the operator sees this frame: ``frame 3 of 9`` or ``extra frame 12``."""
        if self.is_fountain:
            return f"extra frame {self.seq + 1} (of a {self.total}-frame message)"
        return f"frame {self.seq + 1} of {self.total}"

    def to_bytes(self) -> bytes:
        """Serialise with header and CRC."""
        head = _HEADER.pack(
            FRAME_MAGIC,
            FRAME_VERSION,
            self.message_id,
            self.length.to_bytes(3, "big"),
            self.total,
            self.seq,
        )
        crc = zlib.crc32(self.payload, zlib.crc32(head))
        return head + crc.to_bytes(4, "big") + self.payload


def message_id(message: bytes) -> bytes:
    """The 16-byte id of a message: the first half of its SHA-256."""
    return hashlib.sha256(message).digest()[:16]


def fragment_length(length: int, total: int) -> int:
    """Payload bytes per frame for a ``length``-byte message cut into ``total`` fragments."""
    return -(-length // total)


def frame_count(length: int, max_payload: int) -> int:
    """Plain frames needed for ``length`` bytes with at most ``max_payload`` bytes each."""
    return max(1, -(-length // max_payload))


def make_frames(message: bytes, max_frame_bytes: int) -> list[bytes]:
    """Cut ``message`` into the plain frames ``1..total`` (each at most ``max_frame_bytes``).

    Fragments are balanced (equal length), so the last frame is not a mostly-empty code.

    Raises:
        ValueError: the message is empty, too long, or ``max_frame_bytes`` leaves no room.
    """
    total = frame_count(len(message), max_frame_bytes - HEADER_SIZE)
    return [f.to_bytes() for f in _frames(message, max_frame_bytes, 0, total)]


def fountain_frames(
    message: bytes, max_frame_bytes: int, start: int = 0, count: int | None = None
) -> Iterator[bytes]:
    """Frames ``start, start+1, ...``: plain first, then fountain-mixed ones without end.

    ``count=None`` never stops: the animated display cycles through it.
    """
    for f in _frames(message, max_frame_bytes, start, count):
        yield f.to_bytes()


def _frames(message: bytes, max_frame_bytes: int, start: int, count: int | None) -> Iterator[Frame]:
    max_payload = max_frame_bytes - HEADER_SIZE
    if not message or len(message) > MAX_MESSAGE_BYTES:
        raise ValueError(f"message must be 1..{MAX_MESSAGE_BYTES} bytes")
    if max_payload < 1:
        raise ValueError("frame too small for the header")
    total = frame_count(len(message), max_payload)
    if total > MAX_TOTAL:
        raise ValueError(f"message needs {total} frames; at most {MAX_TOTAL}")
    mid = message_id(message)
    fragments = fountain.split(message, total)
    seq = start
    while count is None or seq < start + count:
        payload = fountain.mix(fragments, fountain.fragment_indexes(seq, total, mid))
        yield Frame(mid, len(message), total, seq, payload)
        seq += 1


def parse_frame(data: bytes, source: str = "a QR code") -> Frame:
    """Parse and check one frame's bytes.

    Raises:
        VerificationError: not ours, unsupported version, truncated, inconsistent header,
            wrong length or checksum mismatch; the message names ``source``.
    """
    if len(data) < 3 or data[:2] != FRAME_MAGIC:
        raise VerificationError(f"{source} holds a QR code that is not a ceremony frame.")
    if data[2] != FRAME_VERSION:
        raise VerificationError(
            f"{source} holds a ceremony frame of format {data[2]}; this tool reads "
            f"format {FRAME_VERSION}."
        )
    if len(data) < HEADER_SIZE:
        raise VerificationError(
            f"{source} holds a truncated frame ({len(data)} bytes, shorter than its header)."
        )
    _, _, mid, raw_len, total, seq = _HEADER.unpack_from(data)
    length = int.from_bytes(raw_len, "big")
    crc = int.from_bytes(data[_HEADER.size : HEADER_SIZE], "big")
    payload = data[HEADER_SIZE:]
    sane = 0 < total <= length
    expected = fragment_length(length, total) if sane else 0
    frame = Frame(mid, length, total, seq, payload)
    if zlib.crc32(payload, zlib.crc32(data[: _HEADER.size])) != crc:
        if sane and len(payload) < expected:
            raise VerificationError(
                f"{source} holds a truncated frame ({frame.label}: {len(payload)} of "
                f"{expected} payload bytes)."
            )
        raise VerificationError(f"{source} holds a corrupted frame (checksum mismatch).")
    if not sane:
        raise VerificationError(f"{source} holds a corrupted frame (impossible header).")
    if len(payload) != expected:
        state = "truncated" if len(payload) < expected else "corrupted"
        raise VerificationError(
            f"{source} holds a {state} frame ({frame.label}: {len(payload)} of {expected} "
            "payload bytes)."
        )
    return frame


@dataclass
class _Seen:
    source: str
    digest: bytes


class Collector:
    """Gathers frames in any order, with duplicates, and says what is still missing.

    Pure: give it frame bytes and a source name (file, or file plus video frame number). It
    refuses anything that is not a frame of the first message it saw, and names the source.
    """

    def __init__(self) -> None:
        self._decoder: fountain.FountainDecoder | None = None
        self._first: Frame | None = None
        self._first_source = ""
        self._seen: dict[int, _Seen] = {}
        self.frames_read = 0

    @property
    def message_id(self) -> bytes | None:
        """The id of the message being collected (None before the first frame)."""
        return self._first.message_id if self._first else None

    @property
    def total(self) -> int | None:
        """Fragments in the message (None before the first frame)."""
        return self._first.total if self._first else None

    def add(self, data: bytes, source: str) -> bool:
        """Check and take one frame; return True if it brought new information.

        Raises:
            VerificationError: the frame is not ours, damaged, belongs to another message, or
                contradicts an earlier copy of the same frame.
        """
        frame = parse_frame(data, source)
        self.frames_read += 1
        if self._first is None:
            self._first = frame
            self._first_source = source
            self._decoder = fountain.FountainDecoder(frame.total, len(frame.payload))
        first = self._first
        if frame.message_id != first.message_id:
            raise VerificationError(
                f"frames from two different messages: {self._first_source} belongs to message "
                f"{first.message_id.hex()[:16]} and {source} to message "
                f"{frame.message_id.hex()[:16]}; import one message at a time."
            )
        if (frame.length, frame.total) != (first.length, first.total):
            raise VerificationError(
                f"{source} holds a corrupted frame: its header disagrees with "
                f"{self._first_source} about the message size."
            )
        digest = hashlib.sha256(frame.payload).digest()
        seen = self._seen.get(frame.seq)
        if seen is not None:
            if seen.digest != digest:
                raise VerificationError(
                    f"{source} holds {frame.label} with different content than {seen.source}; "
                    "one of them is corrupted."
                )
            return False
        self._seen[frame.seq] = _Seen(source, digest)
        assert self._decoder is not None
        indexes = fountain.fragment_indexes(frame.seq, frame.total, frame.message_id)
        return self._decoder.add(indexes, frame.payload)

    @property
    def complete(self) -> bool:
        """Whether the whole message can be rebuilt."""
        return self._decoder is not None and self._decoder.complete

    def missing(self) -> list[int]:
        """1-based numbers of the plain frames whose content is still unknown."""
        if self._decoder is None:
            return []
        return [i + 1 for i in self._decoder.missing()]

    def progress(self) -> str:
        """One line for the operator, e.g. ``7 of 9 frames; missing frames 3, 7 of 9``."""
        if self._decoder is None:
            return "no ceremony frame read yet"
        have = self._decoder.total - len(self._decoder.missing())
        line = f"{have} of {self._decoder.total} frames"
        if not self.complete:
            line += f"; {missing_text(self.missing(), self._decoder.total)}"
        return line

    def message(self) -> bytes:
        """The reassembled message, checked against its id.

        Raises:
            VerificationError: no frame yet, frames missing (named), or the result does not
                match the id every frame carried.
        """
        if self._decoder is None or self._first is None:
            raise VerificationError("no ceremony frame was found.")
        if not self._decoder.complete:
            raise VerificationError(f"{missing_text(self.missing(), self._decoder.total)}.")
        message = b"".join(self._decoder.fragments())[: self._first.length]
        if message_id(message) != self._first.message_id:
            raise VerificationError(
                "the reassembled message does not match its digest; a frame was altered."
            )
        return message


def missing_text(missing: list[int], total: int) -> str:
    """``missing frame 3 of 9`` / ``missing frames 3, 7 of 9``."""
    noun = "frame" if len(missing) == 1 else "frames"
    return f"missing {noun} {', '.join(str(i) for i in missing)} of {total}"
