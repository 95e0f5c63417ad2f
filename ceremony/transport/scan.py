"""QR transport, reading side: images, folders and videos -> frames -> verified bundle.

Photos arrive in any order, with duplicates, from several sources. Every QR code found is
checked as a frame (``frames.parse_frame``) and handed to one :class:`~frames.Collector`, which
refuses anything foreign, damaged or from a second message, naming the file. A photo in which
no code can be read is not an error by itself (the frame may be in another photo); it is named
only if the message stays incomplete.

Video: animated GIF, APNG and WebP are read with Pillow. Other video files (MP4, MOV, WebM, MKV,
AVI) need the ``ffmpeg`` program; neither the venv nor the base system has a video decoder,
and ffmpeg pulls in a few hundred MB of libraries, so it is optional: when it is missing the
import says so and asks for still images instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import zxingcpp
from PIL import Image, ImageSequence, UnidentifiedImageError

from ceremony.errors import VerificationError
from ceremony.transport.bundle import Bundle
from ceremony.transport.frames import Collector, missing_text
from ceremony.transport.qr import message_bundle
from ceremony.words import pgp_words_text

__all__ = ["VIDEO_SUFFIXES", "DecodeResult", "decode_frames", "import_qr", "read_qr_codes"]

_QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".3gp"})
#: Larger than any phone photo; a bigger "image" is refused before it is opened.
MAX_IMAGE_FILE = 64 * 1024 * 1024
MAX_VIDEO_FILE = 2 * 1024 * 1024 * 1024
_VIDEO_FPS = 10


@dataclass(frozen=True)
class DecodeResult:
    """A message rebuilt from frames, its verified bundle, and what was read on the way."""

    bundle: Bundle
    message: bytes
    message_id: bytes
    frames_read: int
    images_read: int
    unreadable: tuple[str, ...]

    @property
    def message_words(self) -> str:
        """The message id as PGP words, to compare with the sheet or the sender's screen."""
        return pgp_words_text(self.message_id)


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
    complete. ``progress`` is called after each image that held a new frame (for a live
    "7 of 9 frames" line).

    Raises:
        VerificationError: a file cannot be read; a QR code is not ours, damaged, or from
            another message; frames are missing (named, with the photos where no code was
            found); or the rebuilt message is not a valid bundle.
    """
    collector = Collector()
    unreadable: list[str] = []
    images = 0
    for source, image, in_sequence in iter_images(paths, lambda: collector.complete):
        images += 1
        payloads = read_qr_codes(image)
        if not payloads:
            if not in_sequence:  # blurry frames in a video are normal, not worth naming
                unreadable.append(source)
            continue
        news = False
        for i, payload in enumerate(payloads):
            where = source if len(payloads) == 1 else f"{source} (code {i + 1})"
            news |= collector.add(payload, where)
        if news and progress is not None:
            progress(collector)
    if collector.total is None:
        detail = f" ({_unreadable_text(unreadable)})" if unreadable else ""
        raise VerificationError(f"No ceremony frame was found in the given files{detail}.")
    if not collector.complete:
        missing = missing_text(collector.missing(), collector.total)
        detail = f"; {_unreadable_text(unreadable)}" if unreadable else ""
        raise VerificationError(f"Cannot rebuild the bundle: {missing}{detail}.")
    message = collector.message()
    bundle = message_bundle(message)
    assert collector.message_id is not None
    return DecodeResult(
        bundle, message, collector.message_id, collector.frames_read, images, tuple(unreadable)
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


def iter_images(
    paths: Iterable[Path | str], done: Callable[[], bool] = lambda: False
) -> Iterator[tuple[str, Image.Image, bool]]:
    """Yield ``(source name, image, from a sequence)`` per still, animation or video frame.

    A sequence (video, animated image) stops early once ``done()`` is true.

    Named files must be readable images or videos; in a folder, hidden files and files that
    are not images (such as ``sheet.html``) are skipped.

    Raises:
        VerificationError: a named path is missing, unreadable, too large or not an image.
    """
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
            for entry in entries:
                if entry.is_file():
                    yield from _file_images(entry, False, done)
        elif path.exists():
            yield from _file_images(path, True, done)
        else:
            raise VerificationError(f"{path} does not exist.")


def _file_images(
    path: Path, strict: bool, done: Callable[[], bool]
) -> Iterator[tuple[str, Image.Image, bool]]:
    if path.suffix.lower() in VIDEO_SUFFIXES:
        yield from _video_images(path, done)
        return
    size = path.stat().st_size
    if size > MAX_IMAGE_FILE:
        raise VerificationError(
            f"{path} is {size} bytes, larger than any photo this tool reads; it was not opened."
        )
    try:
        image = Image.open(path)
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


def _video_images(path: Path, done: Callable[[], bool]) -> Iterator[tuple[str, Image.Image, bool]]:
    """Decode a video with the ``ffmpeg`` program into PNG stills, ``_VIDEO_FPS`` per second."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise VerificationError(
            f"{path} is a video, and reading videos needs the ffmpeg program, which is not "
            "installed; give photos or screenshots of the frames instead."
        )
    if path.stat().st_size > MAX_VIDEO_FILE:
        raise VerificationError(f"{path} is larger than any video this tool reads.")
    with tempfile.TemporaryDirectory(prefix="ceremony-video-") as tmp:
        cmd = [
            ffmpeg, "-nostdin", "-v", "error", "-i", str(path),
            "-vf", f"fps={_VIDEO_FPS},format=gray", os.path.join(tmp, "%06d.png"),
        ]  # fmt: skip
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise VerificationError(f"{path} could not be decoded by ffmpeg ({e}).") from None
        stills = sorted(Path(tmp).glob("*.png"))
        if proc.returncode != 0 and not stills:
            reason = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["?"]
            raise VerificationError(f"{path} could not be decoded by ffmpeg ({reason[0]}).")
        for i, still in enumerate(stills):
            if done():
                return
            with Image.open(still) as image:
                image.load()
                yield f"{path} [frame {i + 1}]", image, True
