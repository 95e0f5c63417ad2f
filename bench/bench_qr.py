"""QR transport benchmark: frames per root, capacity use, speed, robustness, animated loss.

Run: ``.venv/bin/python bench/bench_qr.py [--trials N] [--runs N]``

Prints one table per question the issue asks:

1. frames needed for a 5-keyholder TUF root (python-tuf Metadata API, 5 ECDSA P-256 root keys
   threshold 3, 3 online keys, 5 signatures) and for a Notary-style root (5 self-signed x509
   root certificates + 3 ECDSA keys, 5 signatures) at each size, and payload bytes per frame
   as a share of the QR version's byte capacity (target >= 90 %);
2. encode (QR + PNG) and decode (zxing-cpp from the PNG image) time per frame
   (target <= 20 ms to encode a version 25 frame);
3. decode success on the degraded set: 3 px/module, 3-5 degrees rotated, blurred, JPEG q50,
   1 % module noise (target >= 99 % at the recommended sizes), plus a harsher "combined"
   capture (all of them at once) for information;
4. animated mode: mean frames shown until the reader finishes when 20 % are missed;
5. video: decode time per frame of a recording of the animated display (PyAV decode, and
   decode + QR read), at 5 fps (every frame read) and at 30 fps (each code held 6 frames, the
   repeats skipped as near-duplicates).

All keys are throwaway, made in memory; only the benchmark's videos go to a temporary folder.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "support"))

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from securesystemslib.signer import CryptoSigner
from transport_samples import DEGRADATIONS, degrade
from tuf.api.metadata import Metadata, Root
from tuf.api.serialization.json import JSONSerializer

from ceremony.transport import QR_SIZES, Bundle, Collector, bundle_message
from ceremony.transport.frames import fountain_frames
from ceremony.transport.qr import encode_qr, qr_frames, render_image, render_png
from ceremony.transport.scan import read_qr_codes
from ceremony.transport.video import read_video

EXPIRES = dt.datetime(2027, 11, 23, tzinfo=dt.UTC)


def tuf_root() -> bytes:
    """A 5-keyholder TUF root built and signed with python-tuf (compact JSON, as published)."""
    root_signers = [CryptoSigner.generate_ecdsa() for _ in range(5)]
    online = [CryptoSigner.generate_ecdsa() for _ in range(3)]
    root = Root(expires=EXPIRES)
    for signer in root_signers:
        root.add_key(signer.public_key, "root")
    for role, signer in zip(("targets", "snapshot", "timestamp"), online, strict=True):
        root.add_key(signer.public_key, role)
    root.roles["root"].threshold = 3
    md = Metadata(root)
    for signer in root_signers:
        md.sign(signer, append=True)
    return md.to_bytes(JSONSerializer(compact=True))


def notary_root() -> bytes:
    """A Notary v1-style root: 5 ``ecdsa-x509`` root certificates, 3 ECDSA keys, 5 signatures."""
    rng = random.Random(1)
    keys: dict[str, dict[str, object]] = {}
    root_ids = []
    for i in range(5):
        private = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "docker.io/acme/app")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(private.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(EXPIRES - dt.timedelta(days=3650))
            .not_valid_after(EXPIRES)
            .sign(private, hashes.SHA256())
        )
        pem = cert.public_bytes(serialization.Encoding.PEM)
        keyid = f"{rng.getrandbits(256):064x}"
        keys[keyid] = {
            "keytype": "ecdsa-x509",
            "keyval": {"private": None, "public": base64.b64encode(pem).decode()},
        }
        root_ids.append(keyid)
        del private, i
    roles = {"root": {"keyids": root_ids, "threshold": 3}}
    for role in ("targets", "snapshot", "timestamp"):
        spki = (
            ec.generate_private_key(ec.SECP256R1())
            .public_key()
            .public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        keyid = f"{rng.getrandbits(256):064x}"
        keys[keyid] = {
            "keytype": "ecdsa",
            "keyval": {"private": None, "public": base64.b64encode(spki).decode()},
        }
        roles[role] = {"keyids": [keyid], "threshold": 1}
    signed = {
        "_type": "Root",
        "consistent_snapshot": False,
        "expires": EXPIRES.isoformat(),
        "keys": keys,
        "roles": roles,
        "version": 1,
    }
    sigs = [
        {"keyid": k, "method": "ecdsa", "sig": base64.b64encode(rng.randbytes(64)).decode()}
        for k in root_ids
    ]
    return json.dumps(
        {"signed": signed, "signatures": sigs}, sort_keys=True, separators=(",", ":")
    ).encode()


def as_message(name: str, data: bytes) -> bytes:
    bundle = Bundle.from_files(
        "signed-metadata",
        "docker.io/acme/app",
        "bench",
        {name: data},
        journal_head="sha256:" + "0" * 64,
    )
    return bundle_message(bundle)


def table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [headers] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )

    return "\n".join(
        [line(cells[0]), line(["-" * w for w in widths]), *(line(r) for r in cells[1:])]
    )


def frames_table(messages: dict[str, tuple[int, bytes]]) -> str:
    rows = []
    for label, (raw, message) in messages.items():
        for size in QR_SIZES.values():
            frames = qr_frames(message, size)
            payload = len(frames[0]) - 32
            rows.append(
                [
                    label,
                    f"{size.name} v{size.version}-{size.ec_level}",
                    raw,
                    len(message),
                    len(frames),
                    (
                        f"{size.payload_bytes}/{size.capacity} = "
                        f"{100 * size.payload_bytes / size.capacity:.1f}%"
                    ),
                    f"{payload}",
                ]
            )
    return table(
        ["content", "size", "raw B", "zlib B", "frames", "max payload/capacity", "payload used"],
        rows,
    )


def speed_table(runs: int) -> str:
    rng = random.Random(2)
    rows = []
    for size in QR_SIZES.values():
        frame = rng.randbytes(size.frame_bytes)
        enc, dec = [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            png = render_png(encode_qr(frame, size.version, size.ec_level))
            enc.append(time.perf_counter() - t0)
        code = encode_qr(frame, size.version, size.ec_level)
        image = render_image(code, 4)
        for _ in range(runs):
            t0 = time.perf_counter()
            ok = read_qr_codes(image) == [frame]
            dec.append(time.perf_counter() - t0)
            assert ok
        rows.append(
            [
                f"{size.name} v{size.version}-{size.ec_level}",
                f"{statistics.median(enc) * 1000:.1f}",
                f"{statistics.median(dec) * 1000:.1f}",
                f"{len(png)}",
                f"{image.size[0]}x{image.size[1]}",
            ]
        )
    return table(["size", "encode+PNG ms", "decode ms", "PNG B", "px (4/module)"], rows)


def robustness_table(trials: int, extra: list[tuple[int, str]]) -> str:
    rows = []
    sizes = [(s.name, s.version, s.ec_level) for s in QR_SIZES.values()]
    sizes += [(f"(alt) v{v}-{ec}", v, ec) for v, ec in extra]
    from ceremony.transport.qr import frame_capacity

    for name, version, ec_level in sizes:
        rng = random.Random(f"{name}")
        counts = {}
        for kind in (*DEGRADATIONS, "combined"):
            ok = 0
            for _ in range(trials):
                frame = rng.randbytes(frame_capacity(version, ec_level))
                image = degrade(encode_qr(frame, version, ec_level), kind, rng)
                ok += frame in read_qr_codes(image)
            counts[kind] = ok
        total = sum(counts[k] for k in DEGRADATIONS)
        rows.append(
            [
                name if name.startswith("(") else f"{name} v{version}-{ec_level}",
                *(f"{counts[k]}/{trials}" for k in DEGRADATIONS),
                f"{100 * total / (trials * len(DEGRADATIONS)):.1f}%",
                f"{counts['combined']}/{trials}",
            ]
        )
    return table(["size", *DEGRADATIONS, "degraded set", "combined"], rows)


def animated_table(messages: dict[str, tuple[int, bytes]], runs: int) -> str:
    rows = []
    for label, (_, message) in messages.items():
        for size in QR_SIZES.values():
            total = len(qr_frames(message, size))
            shown_counts = []
            for run in range(runs):
                rng = random.Random(run)
                collector = Collector()
                for shown, raw in enumerate(fountain_frames(message, size.frame_bytes), start=1):  # noqa: B007 - read after
                    if rng.random() >= 0.2:
                        collector.add(raw, "screen")
                    if collector.complete:
                        break
                shown_counts.append(shown)
            mean = statistics.mean(shown_counts)
            rows.append(
                [
                    label,
                    f"{size.name} v{size.version}-{size.ec_level}",
                    total,
                    f"{total / 0.8:.1f}",
                    f"{mean:.1f}",
                    max(shown_counts),
                    f"{mean / 5:.1f}",
                ]
            )
    return table(
        ["content", "size", "frames", "ideal @20% loss", "mean shown", "worst", "seconds @5 fps"],
        rows,
    )


def write_video(path: Path, images: list[object], fps: int, codec: str, options: dict) -> None:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps, options=options)
        stream.width, stream.height = images[0].size  # type: ignore[attr-defined]
        stream.pix_fmt = "yuv420p"
        for i, image in enumerate(images):
            frame = av.VideoFrame.from_image(image.convert("RGB"))  # type: ignore[attr-defined]
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def video_table(message: bytes) -> str:
    """Per-frame time to read a 1280x720 recording of the animated display.

    "decode only": PyAV decode, thumbnail and grey image of every frame; "+ QR read": what
    ``decode_frames`` does, zxing-cpp on every frame but the near-duplicates it skips (at
    30 fps, the five repeats of each code), so it can cost less than decoding alone.
    """
    from PIL import Image

    codecs = [
        ("H.264 mp4", "libx264", ".mp4", {"preset": "veryfast", "crf": "23"}),
        ("VP9 webm", "libvpx-vp9", ".webm",
         {"deadline": "realtime", "cpu-used": "8", "b": "0", "crf": "32"}),
    ]  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-video-") as tmp:
        for size in ("small", "medium"):
            preset = QR_SIZES[size]
            screens = []
            for raw in fountain_frames(message, preset.frame_bytes, count=12):
                code = render_image(encode_qr(raw, preset.version, preset.ec_level), 5)
                screen = Image.new("L", (1280, 720), 235)
                screen.paste(code, ((1280 - code.size[0]) // 2, (720 - code.size[1]) // 2))
                screens.append(screen)
            for label, codec, suffix, options in codecs:
                if codec != "libx264" and size != "medium":
                    continue
                for fps, hold in ((5, 1), (30, 6)) if codec == "libx264" else ((5, 1),):
                    video = Path(tmp) / f"{size}-{fps}{suffix}"
                    shots = [s for s in screens for _ in range(hold)]
                    write_video(video, shots, fps, codec, options)
                    list(read_video(video, lambda _image: [], lambda: False))  # warm the cache
                    t0 = time.perf_counter()
                    decode_only = list(read_video(video, lambda _image: [], lambda: False))
                    t1 = time.perf_counter()
                    found = sum(bool(c) for _, c in read_video(video, read_qr_codes, lambda: False))
                    t2 = time.perf_counter()
                    n = len(screens) * hold
                    assert len(decode_only) == n and found == len(screens)
                    rows.append(
                        [
                            f"{size} v{preset.version}-{preset.ec_level}",
                            label,
                            f"{fps} fps",
                            n,
                            f"{(t1 - t0) / n * 1000:.1f}",
                            f"{(t2 - t1) / n * 1000:.1f}",
                            f"{video.stat().st_size // 1024}",
                        ]
                    )
    return table(
        ["size", "video", "rate", "frames", "decode only ms/frame", "+ QR read ms/frame", "KiB"],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=60, help="captures per size and degradation")
    parser.add_argument("--runs", type=int, default=200, help="runs for timing and animation")
    parser.add_argument("--alt", action="store_true", help="also test v25-Q and v40-M")
    args = parser.parse_args()

    tuf = tuf_root()
    notary = notary_root()
    messages = {
        "TUF root, 5 keyholders": (len(tuf), as_message("1.root.json", tuf)),
        "Notary root, 5 x509 certs": (len(notary), as_message("root.json", notary)),
    }
    print("## Frames per root (bundle = manifest + file, zlib -9)\n")
    print(frames_table(messages))
    print("\n## Encode / decode time per frame (median)\n")
    print(speed_table(min(args.runs, 50)))
    print(f"\n## Decode success on degraded captures ({args.trials} full frames each)\n")
    print(robustness_table(args.trials, [(25, "Q"), (40, "M")] if args.alt else []))
    print(f"\n## Animated display: frames shown until complete, 20 % missed ({args.runs} runs)\n")
    print(animated_table(messages, args.runs))
    print("\n## Video: time per frame to read a 1280x720 recording of the animated display\n")
    print(video_table(messages["TUF root, 5 keyholders"][1]))


if __name__ == "__main__":
    main()
