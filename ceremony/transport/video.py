"""Video files -> QR codes, decoded in-process with PyAV (FFmpeg's libraries inside its wheel).

A phone filming the animated display, or a screen recording of it, is read frame by frame:

- **Which demuxers and decoders.** The file's suffix chooses the container reader (MP4/MOV/
  M4V/3GP, Matroska/WebM, AVI); FFmpeg never guesses the format from the bytes, and only the
  decoders phones, browsers and screen recorders produce are allowed: H.264, HEVC, VP8, VP9,
  AV1, MPEG-4 part 2 and Motion JPEG. The air-gapped machine should parse as little foreign
  input as it can; these few cover what phone cameras, browsers and screen recorders write.
- **Every frame is decoded**, so a 5 fps animation recorded at 5 fps loses nothing. A
  recording at 30 or 60 fps shows each code for several frames: a frame is handed to the QR
  reader unless it is a near-duplicate (a 160-pixel-wide grey thumbnail, made by FFmpeg's
  scaler, differs in at most 0.2 % of its pixels) of the last frame that was read *and*
  yielded a code. A blurry frame that yielded nothing never causes the next one to be skipped.
- **Damage.** A file that cannot be opened, holds no video track, uses another codec, or of
  which not one frame can be decoded is refused. A packet that fails to decode is skipped
  (phones do produce them); after :data:`MAX_BAD_PACKETS` such failures, or when the
  container itself breaks off, the file is read no further. That, and frames that stop well
  before the duration the header declares (a truncated file), is named only if the message
  stays incomplete. The frames themselves are checked by CRC and the message by its digest, so a
  damaged video can lose frames but never alter the bundle.
- It stops as soon as the message is complete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageChops

from ceremony.errors import VerificationError
from ceremony.inputs import open_input_file

if TYPE_CHECKING:
    import av

__all__ = [
    "MAX_BAD_PACKETS",
    "MAX_PIXELS",
    "MAX_VIDEO_FILE",
    "VIDEO_SUFFIXES",
    "VideoReport",
    "read_video",
]

#: Suffix -> FFmpeg demuxer; nothing else is read as video.
_DEMUXERS = {
    ".mp4": "mov",
    ".m4v": "mov",
    ".mov": "mov",
    ".3gp": "mov",
    ".webm": "matroska",
    ".mkv": "matroska",
    ".avi": "avi",
}
VIDEO_SUFFIXES = frozenset(_DEMUXERS)
_CONTAINER_NAMES = {"mov": "MP4/MOV", "matroska": "MKV/WebM", "avi": "AVI"}
#: FFmpeg codec ids we decode, with the name the operator is told.
_CODECS = {
    "h264": "H.264",
    "hevc": "HEVC",
    "vp8": "VP8",
    "vp9": "VP9",
    "av1": "AV1",
    "mpeg4": "MPEG-4 part 2",
    "mjpeg": "Motion JPEG",
}
MAX_VIDEO_FILE = 2 * 1024 * 1024 * 1024
#: Larger frames than 8K UHD are refused before decoding (as Pillow refuses decompression bombs).
MAX_PIXELS = 7680 * 4320
#: Undecodable packets tolerated in one file before it is given up.
MAX_BAD_PACKETS = 50
#: Pixel formats whose first plane is 8-bit luma, one byte per pixel.
_LUMA_FIRST = frozenset(
    {"gray", "yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21"}
)
_THUMB_WIDTH = 160
_THUMB_LEVEL = 24  # a thumbnail pixel "changed" when it moved by more than this (of 255)
_THUMB_SHARE = 0.002  # near-duplicate: at most this share of thumbnail pixels changed


@dataclass
class VideoReport:
    """What reading one video file did (filled in while the frames are consumed)."""

    path: Path
    decoded: int = 0
    """Frames decoded."""
    examined: int = 0
    """Frames handed to the QR reader."""
    found: int = 0
    """Frames in which the QR reader found at least one code."""
    skipped: int = 0
    """Near-duplicate frames not handed to the QR reader."""
    bad_packets: int = 0
    """Packets that failed to decode and were skipped."""
    last_error: str | None = None
    stopped: str | None = None
    """Why the file was read no further before its end, or None."""

    @property
    def damage(self) -> str | None:
        """What went wrong reading this file (for an incomplete message), or None."""
        if self.stopped:
            return f"{self.path} was read only in part: {self.stopped}"
        if self.bad_packets:
            parts = "part" if self.bad_packets == 1 else "parts"
            return (
                f"{self.bad_packets} {parts} of {self.path} could not be decoded "
                f"({self.last_error})"
            )
        return None


def read_video(
    path: Path,
    read: Callable[[Image.Image], list[bytes]],
    done: Callable[[], bool],
    report: VideoReport | None = None,
) -> Iterator[tuple[str, list[bytes]]]:
    """Yield ``(source name, QR payloads)`` for each video frame handed to ``read``.

    ``read`` is the QR reader (``scan.read_qr_codes``); near-duplicate frames are not given to
    it (see the module docstring). Stops when ``done()`` is true or the file ends.

    Raises:
        VerificationError: unknown suffix, too large, not a readable video of the allowed
            containers and codecs, frames too large, or not one frame can be decoded.
    """
    report = report if report is not None else VideoReport(path)
    demuxer = _DEMUXERS.get(path.suffix.lower())
    if demuxer is None:
        raise VerificationError(f"{path} is not a video this tool reads.")
    size = path.stat().st_size
    if size > MAX_VIDEO_FILE:
        raise VerificationError(
            f"{path} is {size} bytes, larger than any video this tool reads; it was not opened."
        )
    what = f"an {_CONTAINER_NAMES[demuxer]} video"
    try:  # imported here: stills, animations and USB bundles work without it
        import av  # lazy: PyAV and its FFmpeg libraries (~0.2 s), for a video only
        import av.error  # lazy: PyAV, as above
    except ImportError:
        raise VerificationError(
            f"{path} is a video, and reading videos needs PyAV (the Python package 'av'), "
            "which is not installed; give photos or screenshots of the frames instead."
        ) from None
    # A file object, not a name: FFmpeg then sees no URL or protocol, only these bytes.
    with open_input_file(path) as file:  # never a FIFO: it would block the demuxer
        try:
            container = av.open(
                file, "r", format=demuxer, metadata_errors="replace", buffer_size=1 << 20
            )
        except (av.error.FFmpegError, OSError, ValueError) as e:
            raise VerificationError(f"{path} cannot be read as {what} ({_reason(e)}).") from None
        with container:
            yield from _frames(container, path, what, read, done, report)


def _frames(
    container: av.container.InputContainer,
    path: Path,
    what: str,
    read: Callable[[Image.Image], list[bytes]],
    done: Callable[[], bool],
    report: VideoReport,
) -> Iterator[tuple[str, list[bytes]]]:
    if not container.streams.video:
        raise VerificationError(f"{path} holds no video track.")
    stream = container.streams.video[0]
    codec = _codec_id(stream)
    if codec not in _CODECS:
        allowed = ", ".join(_CODECS.values())
        raise VerificationError(
            f"{path} is encoded as {codec}; this tool reads video encoded as {allowed}."
        )
    ctx = stream.codec_context
    if ctx.width * ctx.height > MAX_PIXELS:
        raise VerificationError(
            f"{path} has {ctx.width}x{ctx.height} frames, larger than any camera records; "
            "it was not decoded."
        )
    ctx.thread_type = "AUTO"
    import av.error  # lazy: PyAV, already loaded by read_video (this binds the name here)

    errors = (av.error.FFmpegError, OSError, ValueError)
    reference: Image.Image | None = None  # thumbnail of the last frame that yielded a code
    end = 0.0  # presentation time where the last decoded frame ends
    packets = container.demux(stream)
    while not done():
        try:
            packet = next(packets)
        except StopIteration:
            _check_length(container, stream, end, report)
            break
        except errors as e:
            report.last_error = _reason(e)
            report.stopped = f"it breaks off after frame {report.decoded} ({report.last_error})"
            break
        try:
            frames = packet.decode()
        except errors as e:
            report.last_error = _reason(e)
            report.bad_packets += 1
            if report.bad_packets > MAX_BAD_PACKETS:
                report.stopped = (
                    f"more than {MAX_BAD_PACKETS} parts of it cannot be decoded "
                    f"({report.last_error})"
                )
                break
            continue
        for frame in frames:
            report.decoded += 1
            if frame.width * frame.height > MAX_PIXELS:
                report.stopped = (
                    f"frame {report.decoded} is {frame.width}x{frame.height}, larger than any "
                    "camera records"
                )
                break
            if frame.time is not None:
                end = max(end, frame.time + _frame_seconds(stream))
            thumb = _thumbnail(frame)
            if reference is not None and _near_duplicate(thumb, reference):
                report.skipped += 1
                continue
            report.examined += 1
            payloads = read(_grey(frame))
            report.found += bool(payloads)
            reference = thumb if payloads else None
            when = f" at {frame.time:.2f} s" if frame.time is not None else ""
            yield f"{path} [frame {report.decoded}{when}]", payloads
            if done():
                return
        if report.stopped:
            break
    if report.decoded == 0 and not done():
        reason = report.last_error or "no frame could be decoded"
        raise VerificationError(f"{path} cannot be read as {what} ({reason}).")


def _frame_seconds(stream: av.video.stream.VideoStream) -> float:
    rate = stream.average_rate or stream.guessed_rate
    return float(1 / rate) if rate else 0.0


def _check_length(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    end: float,
    report: VideoReport,
) -> None:
    """Note a file whose frames stop well before the duration its header declares."""
    if stream.duration and stream.time_base:
        declared = float(stream.duration * stream.time_base)
    elif container.duration:
        declared = container.duration / 1_000_000  # AV_TIME_BASE
    else:
        return
    if report.decoded and declared - end > max(0.25, 1.5 * _frame_seconds(stream)):
        report.stopped = (
            f"its frames stop at {end:.2f} s of the {declared:.2f} s its header declares; "
            "the file looks truncated"
        )


def _codec_id(stream: av.video.stream.VideoStream) -> str:
    """FFmpeg's codec id name (``h264``, ``av1``), not the decoder's (``libdav1d``)."""
    return str(stream.codec_context.codec.canonical_name)


def _thumbnail(frame: av.VideoFrame) -> Image.Image:
    height = max(1, round(frame.height * _THUMB_WIDTH / max(frame.width, 1)))
    small = frame.reformat(width=_THUMB_WIDTH, height=height, format="gray", interpolation="AREA")
    return _plane_image(small)


def _grey(frame: av.VideoFrame) -> Image.Image:
    # The luma plane of 8-bit YUV is already a grey image (a tenth of a conversion's cost);
    # limited-range levels (16-235) do not matter to the QR reader's local thresholds.
    if frame.format.name in _LUMA_FIRST:
        return _plane_image(frame)
    return _plane_image(frame.reformat(format="gray"))


def _plane_image(frame: av.VideoFrame) -> Image.Image:
    plane = frame.planes[0]
    return Image.frombytes(
        "L", (frame.width, frame.height), bytes(plane), "raw", "L", plane.line_size
    )


def _near_duplicate(a: Image.Image, b: Image.Image) -> bool:
    if a.size != b.size:
        return False
    changed = sum(ImageChops.difference(a, b).histogram()[_THUMB_LEVEL + 1 :])
    return changed <= _THUMB_SHARE * a.size[0] * a.size[1]


def _reason(error: BaseException) -> str:
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return str(text).strip().rstrip(".")
