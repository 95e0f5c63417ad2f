"""QR frames read back from real video files, decoded in process by PyAV.

The videos are made here with PyAV itself (its wheel bundles libx264, libvpx, libx265 and
SVT-AV1): our own QR frames, plain then fountain-coded, drawn on a 1280x720 "screen" at the
animated display's 5 frames per second, encoded as H.264 in MP4, VP9 in WebM, HEVC in MKV
and AV1 in MP4. A phone-like capture at 30 fps is made worse on purpose (downscaled, rotated,
blurred, noisy, half-refreshed frames between codes, low bitrate) before it is encoded.
"""

from __future__ import annotations

import random
import sys
from fractions import Fraction
from pathlib import Path

import av
import pytest
from PIL import Image, ImageChops, ImageFilter

from ceremony.errors import VerificationError
from ceremony.transport import QR_SIZES, bundle_message, decode_frames, import_qr
from ceremony.transport.frames import fountain_frames, message_id
from ceremony.transport.qr import encode_qr, qr_frames, render_image
from ceremony.transport.scan import FrameRead
from ceremony.transport.video import VIDEO_SUFFIXES, read_video
from tests.support.helpers import cli
from tests.support.transport_samples import sample_bundle

SCREEN = (1280, 720)
FAST = {
    "libx264": {"preset": "veryfast", "crf": "23"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "crf": "32", "b": "0"},
    "libx265": {"preset": "ultrafast", "crf": "26", "x265-params": "log-level=none"},
    "libsvtav1": {"preset": "12", "crf": "35"},
}


def qr_image(raw: bytes, size: str = "small", scale: int = 6) -> Image.Image:
    preset = QR_SIZES[size]
    return render_image(encode_qr(raw, preset.version, preset.ec_level), scale)


def on_screen(code: Image.Image, screen: tuple[int, int] = SCREEN) -> Image.Image:
    """The code centred on a light grey screen, as the terminal or a phone would show it."""
    canvas = Image.new("L", screen, 235)
    canvas.paste(code, ((screen[0] - code.size[0]) // 2, (screen[1] - code.size[1]) // 2))
    return canvas


def write_video(
    path: Path,
    images: list[Image.Image],
    fps: int = 5,
    codec: str = "libx264",
    options: dict[str, str] | None = None,
) -> Path:
    """Encode ``images`` (one per frame) with PyAV; the container follows the suffix."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps, options={**FAST[codec], **(options or {})})
        stream.width, stream.height = images[0].size
        stream.pix_fmt = "yuv420p"
        for i, image in enumerate(images):
            frame = av.VideoFrame.from_image(image.convert("RGB"))
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def stream_frames(message: bytes, size: str, count: int) -> list[bytes]:
    """What the animated display shows: the plain frames, then fountain frames."""
    return list(fountain_frames(message, QR_SIZES[size].frame_bytes, count=count))


def seqs(frames: tuple[FrameRead, ...]) -> list[int]:
    return [f.seq for f in frames]


SIGNED = sample_bundle("signed-metadata")  # 9 frames at "small", 3 at "medium"
MESSAGE = bundle_message(SIGNED)
TOTAL = len(qr_frames(MESSAGE, "small"))


# --- codecs and containers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codec", "name"),
    [
        ("libx264", "clip.mp4"),
        ("libvpx-vp9", "clip.webm"),
        ("libx265", "clip.mkv"),
        ("libsvtav1", "clip.mp4"),
    ],
)
def test_a_5_fps_recording_rebuilds_the_bundle_byte_for_byte(
    tmp_path: Path, codec: str, name: str
) -> None:
    raws = stream_frames(MESSAGE, "small", 2 * TOTAL)
    video = write_video(tmp_path / name, [on_screen(qr_image(r)) for r in raws], codec=codec)
    result = decode_frames([video])
    assert result.bundle.to_bytes() == SIGNED.to_bytes()
    assert result.message == MESSAGE
    # every frame of a 5 fps animation is read, in order, and reading stops once complete
    assert seqs(result.frames) == list(range(TOTAL))
    assert result.images_read == TOTAL and result.skipped == 0
    source = f"{video} [frame 3 at 0.40 s]"
    assert result.frames[2] == FrameRead(2, TOTAL, "frame 3 of 9", source, True)
    assert result.frames_text == "frames 1, 2, 3, 4, 5, 6, 7, 8, 9 of 9 read"
    assert result.notes == ()


def test_a_fifth_of_the_frames_dropped_finishes_from_fountain_frames(tmp_path: Path) -> None:
    rng = random.Random(5)
    shown = stream_frames(MESSAGE, "small", 4 * TOTAL)
    kept = [r for r in shown if rng.random() >= 0.2]
    dropped = sorted({i + 1 for i, r in enumerate(shown[:TOTAL]) if r not in kept})
    assert dropped, "the seed must drop at least one plain frame"
    video = write_video(tmp_path / "dropped.mp4", [on_screen(qr_image(r)) for r in kept])
    result = decode_frames([video])
    assert result.bundle.to_bytes() == SIGNED.to_bytes()
    read_plain = {f.seq + 1 for f in result.frames if f.seq < TOTAL}
    assert read_plain.isdisjoint(dropped)
    assert any(f.seq >= TOTAL and f.useful for f in result.frames)
    assert result.frames_text.startswith(
        f"frames {', '.join(str(i) for i in sorted(read_plain))} of 9 and extra frames "
    )
    assert result.images_read < len(kept)  # stopped as soon as the message was complete


def _phone_capture(raws: list[bytes], rng: random.Random) -> list[Image.Image]:
    """A hand-held phone at 30 fps filming the 5 fps display, badly: 854x480, each code 2.4 px
    per module, tilted about 2 degrees, blurred, sensor noise in every frame; each code stays 6
    frames, the first of them half-refreshed (a blend with the previous code)."""
    noises = [Image.effect_noise((854, 480), 10) for _ in range(5)]
    frames: list[Image.Image] = []
    previous = None
    for raw in raws:
        code = qr_image(raw, scale=4).rotate(
            rng.uniform(1.5, 2.5), Image.Resampling.BICUBIC, expand=True, fillcolor=235
        )
        small = (round(code.width * 0.6), round(code.height * 0.6))
        code = code.resize(small, Image.Resampling.BILINEAR)
        screen = on_screen(code, (854, 480)).filter(ImageFilter.GaussianBlur(0.7))
        for i in range(6):
            shot = Image.blend(previous, screen, 0.5) if i == 0 and previous else screen
            frames.append(ImageChops.add(shot, rng.choice(noises), 1.0, -128))
        previous = screen
    return frames


def test_a_bad_phone_recording_at_30_fps_skips_repeated_frames(tmp_path: Path) -> None:
    shown = stream_frames(MESSAGE, "small", 2 * TOTAL)
    frames = _phone_capture(shown, random.Random(3))
    video = write_video(tmp_path / "phone.mp4", frames, fps=30, options={"crf": "30"})
    result = decode_frames([video])
    assert result.bundle.to_bytes() == SIGNED.to_bytes()
    assert seqs(result.frames) == list(range(TOTAL))
    # each code is read from its first clean frame (frame 1, then 8, 14, ... after the blend)
    assert [f.source for f in result.frames][:3] == [
        f"{video} [frame 1 at 0.00 s]",
        f"{video} [frame 8 at 0.23 s]",
        f"{video} [frame 14 at 0.43 s]",
    ]
    # the repeats of a code already read are skipped; a blend that read nothing is not a reason
    # to skip the next frame
    assert result.images_read == TOTAL + (TOTAL - 1)  # 9 codes read, 8 blends that failed
    assert result.images_read + result.skipped == 6 * (TOTAL - 1) + 2  # stopped at frame 50


def test_a_frame_that_read_nothing_never_makes_the_next_one_skipped(tmp_path: Path) -> None:
    """The reader is told "nothing here" for the first sight of each code: every repeat of it
    must then be read until one succeeds."""
    raws = stream_frames(MESSAGE, "small", 3)
    video = write_video(
        tmp_path / "held.mkv", [on_screen(qr_image(r)) for r in raws for _ in range(4)], fps=20
    )
    from ceremony.transport.scan import read_qr_codes

    calls: list[int] = []

    def flaky(image: Image.Image) -> list[bytes]:
        calls.append(1)
        return read_qr_codes(image) if len(calls) % 2 == 0 else []

    got = [(source, codes) for source, codes in read_video(video, flaky, lambda: False)]
    assert [source.split("[")[1] for source, _ in got] == [
        "frame 1 at 0.00 s]", "frame 2 at 0.05 s]",  # nothing, then the code: 3 and 4 skipped
        "frame 5 at 0.20 s]", "frame 6 at 0.25 s]",
        "frame 9 at 0.40 s]", "frame 10 at 0.45 s]",
    ]  # fmt: skip
    assert [codes for _, codes in got][1::2] == [[r] for r in raws]


def test_video_and_photos_together(tmp_path: Path) -> None:
    """Frames 1-4 as photos, the rest from a recording that also shows 1-4 again."""
    raws = stream_frames(MESSAGE, "small", TOTAL)
    photos = []
    for i, raw in enumerate(raws[:4]):
        photos.append(tmp_path / f"photo-{i}.png")
        qr_image(raw).save(photos[-1])
    screens = [on_screen(qr_image(r)) for r in raws]
    video = write_video(tmp_path / "rest.webm", screens, codec="libvpx-vp9")
    result = decode_frames([*photos, video])
    assert result.bundle.to_bytes() == SIGNED.to_bytes()
    assert [f.source for f in result.frames[3:5]] == [
        str(photos[3]),
        f"{video} [frame 5 at 0.80 s]",
    ]
    assert result.frames_read == TOTAL + 4  # frames 1-4 were seen twice


def test_the_cli_imports_a_video_and_writes_the_files_byte_for_byte(tmp_path: Path) -> None:
    bundle = sample_bundle("online-keys")
    raws = stream_frames(bundle_message(bundle), "small", 6)
    video = write_video(tmp_path / "keys.mp4", [on_screen(qr_image(r)) for r in raws])
    r = cli("import", "--qr", video, "--out", tmp_path / "in")
    assert r.code == 0, r.err
    for entry in bundle.manifest.files:
        assert (tmp_path / "in" / entry.name).read_bytes() == bundle.files[entry.name]


# --- bad input -------------------------------------------------------------------------------


def test_frames_of_another_message_in_the_video_are_refused(tmp_path: Path) -> None:
    other = bundle_message(sample_bundle("draft"))
    ours = stream_frames(MESSAGE, "small", TOTAL)
    theirs = stream_frames(other, "small", 2)
    mixed = [*ours[:3], theirs[0], *ours[3:], theirs[1]]
    video = write_video(tmp_path / "mixed.mp4", [on_screen(qr_image(r)) for r in mixed])
    with pytest.raises(VerificationError) as err:
        decode_frames([video])
    assert err.value.message == (
        f"frames from two different messages: {video} [frame 1 at 0.00 s] belongs to message "
        f"{message_id(MESSAGE).hex()[:16]} and {video} [frame 4 at 0.60 s] to message "
        f"{message_id(other).hex()[:16]}; import one message at a time."
    )


@pytest.fixture(scope="module")
def clean_videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("clean")
    images = [on_screen(qr_image(r)) for r in stream_frames(MESSAGE, "small", TOTAL)]
    return {
        ".mp4": write_video(d / "a.mp4", images).read_bytes(),
        ".webm": write_video(d / "a.webm", images, codec="libvpx-vp9").read_bytes(),
    }


def test_a_truncated_mp4_is_refused_without_a_traceback(
    tmp_path: Path, clean_videos: dict[str, bytes]
) -> None:
    """A phone recording cut short loses the index MP4 writes last: nothing can be read."""
    video = tmp_path / "cut.mp4"
    video.write_bytes(clean_videos[".mp4"][: len(clean_videos[".mp4"]) // 2])
    expected = (
        f"{video} cannot be read as an MP4/MOV video "
        "(Invalid data found when processing input)."
    )
    with pytest.raises(VerificationError) as err:
        decode_frames([video])
    assert err.value.message == expected
    r = cli("import", "--qr", video, "--out", tmp_path / "in")
    assert (r.code, r.out, r.err) == (3, "", f"error: {expected}\n")
    assert not (tmp_path / "in").exists()


def test_a_truncated_webm_names_the_missing_frames_and_the_truncation(
    tmp_path: Path, clean_videos: dict[str, bytes]
) -> None:
    data = clean_videos[".webm"]
    video = tmp_path / "cut.webm"
    video.write_bytes(data[: len(data) * 6 // 10])
    with pytest.raises(VerificationError) as err:
        decode_frames([video])
    assert err.value.message == (
        f"Cannot rebuild the bundle: missing frames 6, 7, 8, 9 of 9; {video} was read only in "
        "part: its frames stop at 1.00 s of the 1.80 s its header declares; the file looks "
        "truncated."
    )


def test_corrupted_video_data_loses_frames_but_never_alters_the_bundle(
    tmp_path: Path, clean_videos: dict[str, bytes]
) -> None:
    """Garbage over part of the picture data: the damaged frames fail their QR or CRC check
    and are named as missing; whatever is rebuilt is the original, or nothing."""
    for suffix, data in clean_videos.items():
        spoiled = bytearray(data)
        rng = random.Random(suffix)
        start = len(data) // 3
        spoiled[start : start + 4000] = rng.randbytes(4000)
        video = tmp_path / f"spoiled{suffix}"
        video.write_bytes(spoiled)
        with pytest.raises(VerificationError) as err:
            decode_frames([video])
        assert err.value.message.startswith("Cannot rebuild the bundle: missing frame")


@pytest.mark.parametrize("suffix", sorted(VIDEO_SUFFIXES))
def test_not_a_video_at_all(tmp_path: Path, suffix: str) -> None:
    video = tmp_path / f"noise{suffix}"
    video.write_bytes(random.Random(1).randbytes(5000))
    kinds = {".webm": "an MKV/WebM", ".mkv": "an MKV/WebM", ".avi": "an AVI"}
    kind = kinds.get(suffix, "an MP4/MOV")
    with pytest.raises(VerificationError) as err:
        import_qr([video])
    assert err.value.message == (
        f"{video} cannot be read as {kind} video (Invalid data found when processing input)."
    )


def test_only_common_camera_codecs_are_decoded(tmp_path: Path) -> None:
    video = tmp_path / "lossless.mkv"
    with av.open(str(video), "w") as out:
        stream = out.add_stream("ffv1", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        frame = av.VideoFrame.from_image(Image.new("RGB", (64, 64), "white"))
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(VerificationError) as err:
        import_qr([video])
    assert err.value.message == (
        f"{video} is encoded as ffv1; this tool reads video encoded as H.264, HEVC, VP8, VP9, "
        "AV1, MPEG-4 part 2, Motion JPEG."
    )


def test_a_file_with_sound_only(tmp_path: Path) -> None:
    audio = tmp_path / "memo.mkv"
    with av.open(str(audio), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000, layout="mono")
        frame = av.AudioFrame(format="s16", layout="mono", samples=800)
        frame.planes[0].update(bytes(1600))
        frame.sample_rate, frame.pts = 8000, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(VerificationError) as err:
        import_qr([audio])
    assert err.value.message == f"{audio} holds no video track."


def test_a_video_without_any_code(tmp_path: Path) -> None:
    video = write_video(tmp_path / "wall.mp4", [Image.new("L", (320, 240), 200)] * 10)
    with pytest.raises(VerificationError) as err:
        import_qr([video])
    assert err.value.message == (
        "No ceremony frame was found in the given files (no QR code could be read in any of "
        f"the 10 frames of {video})."
    )


def test_without_pyav_a_video_is_refused_and_photos_still_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\0\0\0\x18ftypmp42")
    photos = []
    for i, raw in enumerate(stream_frames(MESSAGE, "small", TOTAL)):
        photos.append(tmp_path / f"{i}.png")
        qr_image(raw).save(photos[-1])
    monkeypatch.setitem(sys.modules, "av", None)  # "import av" now fails
    monkeypatch.setitem(sys.modules, "av.error", None)
    with pytest.raises(VerificationError) as err:
        import_qr([video])
    assert err.value.message == (
        f"{video} is a video, and reading videos needs PyAV (the Python package 'av'), which "
        "is not installed; give photos or screenshots of the frames instead."
    )
    assert import_qr(photos).to_bytes() == SIGNED.to_bytes()
