"""QR transport, reading side: images, folders and videos -> frames -> verified bundle.

Photos arrive in any order, with duplicates, from several sources. Every QR code found is
checked as a frame (``frames.parse_frame``) and handed to one :class:`~frames.Collector`, which
refuses anything foreign, damaged or from a second message, naming the file. A photo in which
no code can be read is not an error by itself (the frame may be in another photo); it is named
only if the message stays incomplete.

Video: animated GIF, APNG and WebP are read with Pillow; video files (MP4, MOV, M4V, 3GP, WebM,
MKV, AVI) with PyAV, in process (:mod:`.video`: which containers and codecs, how near-duplicate
frames are skipped, what happens to a damaged file). Both stop once the message is complete.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import zxingcpp
from PIL import Image, ImageSequence, UnidentifiedImageError

from ceremony.errors import VerificationError
from ceremony.inputs import check_regular, read_input_file
from ceremony.transport.bundle import Bundle
from ceremony.transport.frames import Collector, missing_text, parse_frame
from ceremony.transport.qr import message_bundle
from ceremony.transport.video import MAX_VIDEO_FILE, VIDEO_SUFFIXES, VideoReport, read_video
from ceremony.words import pgp_words_text

__all__ = [
    "MAX_IMAGE_FILE",
    "MAX_VIDEO_FILE",
    "VIDEO_SUFFIXES",
    "DecodeResult",
    "FrameRead",
    "decode_frames",
    "import_qr",
    "read_qr_codes",
]

_QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
#: Larger than any phone photo; a bigger "image" is refused before it is opened.
MAX_IMAGE_FILE = 64 * 1024 * 1024


@dataclass(frozen=True)
class FrameRead:
    """The first sighting of one frame: which frame, where it was read, whether it helped."""

    seq: int
    total: int
    label: str
    source: str
    useful: bool


@dataclass(frozen=True)
class DecodeResult:
    """A message rebuilt from frames, its verified bundle, and what was read on the way.

    ``frames_read`` counts every code read (duplicates too); ``images_read`` the photos and
    video frames handed to the QR reader; ``skipped`` the near-duplicate video frames that
    were not; ``frames`` each distinct frame in the order first read; ``notes`` damage in a
    video that did not stop the message from completing.
    """

    bundle: Bundle
    message: bytes
    message_id: bytes
    frames_read: int
    images_read: int
    unreadable: tuple[str, ...]
    frames: tuple[FrameRead, ...] = ()
    skipped: int = 0
    notes: tuple[str, ...] = ()

    @property
    def message_words(self) -> str:
        """The message id as PGP words, to compare with the sheet or the sender's screen."""
        return pgp_words_text(self.message_id)

    @property
    def frames_text(self) -> str:
        """``frames 1, 2, 4 of 9 and extra frames 11, 14 read`` (first sightings, sorted)."""
        if not self.frames:
            return "no frame read"
        total = self.frames[0].total
        plain = sorted(f.seq + 1 for f in self.frames if f.seq < total)
        extra = sorted(f.seq + 1 for f in self.frames if f.seq >= total)
        parts = []
        if plain:
            noun = "frame" if len(plain) == 1 else "frames"
            parts.append(f"{noun} {', '.join(map(str, plain))} of {total}")
        if extra:
            noun = "extra frame" if len(extra) == 1 else "extra frames"
            parts.append(f"{noun} {', '.join(map(str, extra))}")
        return " and ".join(parts) + " read"


def read_qr_codes(image: Image.Image) -> list[bytes]:
    """The raw bytes of every QR code zxing-cpp finds in ``image`` (any orientation, inverted)."""
    if image.mode not in ("L", "RGB"):
        has_alpha = "A" in image.mode or "transparency" in image.info
        image = _flatten(image) if has_alpha else image.convert("L")
    results = zxingcpp.read_barcodes(image, formats=_QR_ONLY)
    return [r.bytes for r in results if r.valid]


def _flatten(image: Image.Image) -> Image.Image:
    # Transparent pixels become white, not black: a QR screenshot with alpha stays readable.
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def decode_frames(
    paths: Iterable[Path | str],
    progress: Callable[[Collector], None] | None = None,
) -> DecodeResult:
    """Read frames from image files, folders (their files, sorted) and videos; rebuild the bundle.

    Every still image is read, even after the message is complete, so a foreign or mixed-in
    frame is always caught whatever the order; a video or animation stops once the message is
    complete (a frame of another message after that point is never seen, and could not have
    changed the message, which every frame's id and the final digest pin). ``progress`` is
    called after each image that held a new frame (for a live "7 of 9 frames" line).

    Raises:
        VerificationError: a file cannot be read; a QR code is not ours, damaged, or from
            another message; frames are missing (named, with the photos where no code was
            found and any video read only in part); or the rebuilt message is not a valid
            bundle.
    """
    collector = Collector()
    unreadable: list[str] = []
    videos: list[VideoReport] = []
    seen: dict[int, FrameRead] = {}
    images = 0
    for source, payloads, in_sequence in _iter_codes(paths, lambda: collector.complete, videos):
        images += 1
        if not payloads:
            if not in_sequence:  # blurry frames in a video are normal, not worth naming
                unreadable.append(source)
            continue
        news = False
        for i, payload in enumerate(payloads):
            where = source if len(payloads) == 1 else f"{source} (code {i + 1})"
            useful = collector.add(payload, where)
            news |= useful
            frame = parse_frame(payload, where)  # checked by add(): only for the record
            if frame.seq not in seen:
                seen[frame.seq] = FrameRead(frame.seq, frame.total, frame.label, where, useful)
        if news and progress is not None:
            progress(collector)
    notes = [v.damage for v in videos if v.damage]
    problems = [_unreadable_text(unreadable)] if unreadable else []
    problems += [
        f"no QR code could be read in any of the {v.decoded} frames of {v.path}"
        for v in videos
        if v.decoded and not v.found
    ]
    problems += notes
    if collector.total is None:
        detail = f" ({'; '.join(problems)})" if problems else ""
        raise VerificationError(f"No ceremony frame was found in the given files{detail}.")
    if not collector.complete:
        missing = missing_text(collector.missing(), collector.total)
        detail = "".join(f"; {p}" for p in problems)
        raise VerificationError(f"Cannot rebuild the bundle: {missing}{detail}.")
    message = collector.message()
    bundle = message_bundle(message)
    assert collector.message_id is not None
    return DecodeResult(
        bundle,
        message,
        collector.message_id,
        collector.frames_read,
        images,
        tuple(unreadable),
        tuple(seen.values()),
        sum(v.skipped for v in videos),
        tuple(notes),
    )


def import_qr(paths: Iterable[Path | str]) -> Bundle:
    """Rebuild and verify the bundle carried by QR frames in ``paths``.

    Raises:
        VerificationError: see :func:`decode_frames`.
    """
    return decode_frames(paths).bundle


def _unreadable_text(names: list[str]) -> str:
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"no QR code could be read in {shown}"


# --- sources ----------------------------------------------------------------------------------


def _iter_codes(
    paths: Iterable[Path | str], done: Callable[[], bool], videos: list[VideoReport]
) -> Iterator[tuple[str, list[bytes], bool]]:
    """``(source name, QR payloads, from a sequence)`` per image or video frame examined.

    Each video read appends its :class:`~.video.VideoReport` to ``videos``.
    """
    for path, strict in _files(paths):
        if path.suffix.lower() in VIDEO_SUFFIXES:
            report = VideoReport(path)
            videos.append(report)
            for source, payloads in read_video(path, read_qr_codes, done, report):
                yield source, payloads, True
            continue
        for source, image, in_sequence in _file_images(path, strict, done):
            yield source, read_qr_codes(image), in_sequence


def _files(paths: Iterable[Path | str]) -> Iterator[tuple[Path, bool]]:
    """Each named file (strict: must be readable) and each file of a named folder (sorted).

    In a folder, hidden files are skipped, and files that are not images (such as
    ``sheet.html``) are skipped later by :func:`_file_images`.

    Raises:
        VerificationError: a named path does not exist.
    """
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
            for entry in entries:
                if entry.is_file():
                    yield entry, False
        elif path.exists():
            # A FIFO, device or socket would block the image or video reader: refused now.
            check_regular(path)
            yield path, True
        else:
            raise VerificationError(f"{path} does not exist.")


def _file_images(
    path: Path, strict: bool, done: Callable[[], bool]
) -> Iterator[tuple[str, Image.Image, bool]]:
    # Read through the bounded, non-blocking reader: the decoder only ever sees bytes.
    data = read_input_file(
        path, MAX_IMAGE_FILE, too_large="larger than any photo this tool reads; it was not opened."
    )
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        if strict:
            raise VerificationError(
                f"{path} is not an image or video this tool can read."
            ) from None
        return
    except (OSError, Image.DecompressionBombError) as e:
        raise VerificationError(f"{path} cannot be read as an image ({e}).") from None
    with image:
        try:
            count = getattr(image, "n_frames", 1)
            if count == 1:
                image.load()
                yield str(path), image, False
                return
            for i, frame in enumerate(ImageSequence.Iterator(image)):
                if done():
                    return
                yield f"{path} [frame {i + 1}]", frame.copy(), True
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise VerificationError(f"{path} cannot be read as an image ({e}).") from None
