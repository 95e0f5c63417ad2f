"""QR transport, writing side: bundle -> message -> frames -> QR codes, PNG files, HTML sheet.

Why these choices (numbers measured on the project machine, see ``bench/bench_qr.py``):

- The message is the bundle's bytes compressed with zlib level 9: TUF/Notary JSON with PEM
  keys shrinks to about 35-40 %, and zlib is within 1 % of zstd without a dependency.
- Codes are made with zxing-cpp's writer at a *fixed* version and EC level: about 5 ms for a
  version 25 code where the pure-Python writers take 100+ ms, and the fixed version makes
  every frame of a message the same size on screen and paper. The writer holds 2 bytes less
  than the spec's byte-mode capacity; :func:`frame_capacity` measures it instead of trusting
  a table.
- EC level M for the terminal and phone sizes, Q for print. On the degraded set (3 px/module,
  3-5 degrees rotated, blurred, JPEG q50, 1 % module noise; 200 full frames each) v14-M decoded
  99.9 %, v25-M 99.8 %, v40-Q 99.9 %, but v40-M only 98 % of the noisy captures; L fails at 1 %
  noise (stack facts). v25-Q would decode 100 % but holds 28 % less, which costs a Notary root
  a fifth frame.
- PNGs have an integer number of pixels per module and a 4-module quiet zone, scaled with
  NEAREST: non-integer scaling was the first thing that broke decoding in the stack tests.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import io
import os
import shutil
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import qrcode.util
import zxingcpp
from PIL import Image

from ceremony.errors import UsageError, VerificationError, WorkspaceError
from ceremony.transport import frames as _frames
from ceremony.transport.bundle import MAX_BUNDLE_BYTES, MAX_MANIFEST_BYTES, Bundle
from ceremony.words import pgp_words, pgp_words_text
from ceremony.workspace import fsync_dir, write_new_synced

__all__ = [
    "QR_SIZES",
    "QrCode",
    "QrExport",
    "QrSize",
    "bundle_message",
    "encode_qr",
    "export_qr",
    "frame_capacity",
    "message_bundle",
    "qr_frames",
    "render_png",
    "sheet_html",
    "spec_capacity",
]

_EC_LEVELS = {"L": 0, "M": 1, "Q": 2, "H": 3}
_QRCODE_EC = {"L": 1, "M": 0, "Q": 3, "H": 2}  # qrcode.constants values
QUIET_ZONE = 4
DEFAULT_SCALE = 4
_PIXEL_TO_DARK = bytes(1 if v < 128 else 0 for v in range(256))
_DARK_TO_PIXEL = bytes(255 if v == 0 else 0 for v in range(256))
#: The largest compressed message the QR path accepts; beyond this, use a USB stick.
MAX_QR_MESSAGE = 256 * 1024


@dataclass(frozen=True)
class QrSize:
    """A frame size preset: QR version and error-correction level."""

    name: str
    version: int
    ec_level: str
    purpose: str

    @property
    def modules(self) -> int:
        """Modules per side, without the quiet zone."""
        return 4 * self.version + 17

    @property
    def capacity(self) -> int:
        """The spec's byte-mode capacity of this version and level."""
        return spec_capacity(self.version, self.ec_level)

    @property
    def frame_bytes(self) -> int:
        """Bytes the writer fits in one code: header plus payload."""
        return frame_capacity(self.version, self.ec_level)

    @property
    def payload_bytes(self) -> int:
        """Message bytes carried per frame."""
        return self.frame_bytes - _frames.HEADER_SIZE


QR_SIZES: dict[str, QrSize] = {
    "small": QrSize(
        "small", 14, "M", "fits an 80-column terminal (77 columns with a 2-module border)"
    ),
    "medium": QrSize("medium", 25, "M", "phone screens and animated display"),
    "large": QrSize("large", 40, "Q", "printed sheets"),
}


def qr_size(size: str | QrSize) -> QrSize:
    """Look up a size preset by name.

    Raises:
        UsageError: unknown name.
    """
    if isinstance(size, QrSize):
        return size
    try:
        return QR_SIZES[size]
    except KeyError:
        raise UsageError(
            f"Unknown QR size {size!r}; choose one of {', '.join(QR_SIZES)}."
        ) from None


def spec_capacity(version: int, ec_level: str) -> int:
    """Byte-mode capacity from the QR specification (ISO/IEC 18004 table 7)."""
    bits = qrcode.util.BIT_LIMIT_TABLE[_QRCODE_EC[ec_level]][version]
    count_bits = 8 if version < 10 else 16
    return (bits - 4 - count_bits) // 8


@functools.cache
def frame_capacity(version: int, ec_level: str) -> int:
    """The most bytes zxing-cpp's writer puts in one code of this version and level (measured)."""
    low, high = 0, spec_capacity(version, ec_level)
    while low < high:
        mid = (low + high + 1) // 2
        try:
            zxingcpp.create_barcode(
                b"\xa5" * mid, zxingcpp.BarcodeFormat.QRCode, ec_level=ec_level, version=version
            )
            low = mid
        except ValueError:
            high = mid - 1
    return low


@dataclass(frozen=True)
class QrCode:
    """A QR symbol as modules: ``rows[y][x]`` is 1 for dark. No quiet zone."""

    version: int
    ec_level: str
    size: int
    rows: tuple[bytes, ...]

    def is_dark(self, x: int, y: int) -> bool:
        """Whether the module at column x, row y is dark (outside the symbol: light)."""
        if 0 <= x < self.size and 0 <= y < self.size:
            return bool(self.rows[y][x])
        return False


def encode_qr(data: bytes, version: int, ec_level: str) -> QrCode:
    """Encode ``data`` in byte mode at exactly this version and EC level.

    Raises:
        ValueError: the data does not fit.
    """
    if ec_level not in _EC_LEVELS:
        raise ValueError(f"unknown EC level {ec_level!r}")
    barcode = zxingcpp.create_barcode(
        data, zxingcpp.BarcodeFormat.QRCode, ec_level=ec_level, version=version
    )
    image = barcode.to_image(scale=1, add_quiet_zones=False)
    size = image.shape[0]
    dark = bytes(memoryview(cast(Any, image))).translate(_PIXEL_TO_DARK)  # 8-bit grey, 0 = dark
    rows = tuple(dark[y * size : (y + 1) * size] for y in range(size))
    return QrCode(version, ec_level, size, rows)


def render_image(code: QrCode, scale: int = DEFAULT_SCALE, border: int = QUIET_ZONE) -> Image.Image:
    """A grayscale image, ``scale`` pixels per module (integer, NEAREST), ``border`` modules."""
    if scale < 1 or border < 0:
        raise ValueError("scale must be >= 1 and border >= 0")
    raw = b"".join(code.rows).translate(_DARK_TO_PIXEL)
    symbol = Image.frombytes("L", (code.size, code.size), raw)
    side = code.size + 2 * border
    canvas = Image.new("L", (side, side), 255)
    canvas.paste(symbol, (border, border))
    if scale == 1:
        return canvas
    return canvas.resize((side * scale, side * scale), Image.Resampling.NEAREST)


def render_png(code: QrCode, scale: int = DEFAULT_SCALE, border: int = QUIET_ZONE) -> bytes:
    """PNG bytes of :func:`render_image`."""
    buf = io.BytesIO()
    render_image(code, scale, border).save(buf, "PNG")
    return buf.getvalue()


# --- message ----------------------------------------------------------------------------------


def bundle_message(bundle: Bundle) -> bytes:
    """The bytes that travel as QR frames: the bundle, zlib-compressed (level 9)."""
    return zlib.compress(bundle.to_bytes(), 9)


def message_bundle(message: bytes, source: str = "the QR message") -> Bundle:
    """Decompress (bounded) and parse a message back into a verified bundle.

    Raises:
        VerificationError: not zlib data, larger than any bundle, or not a valid bundle.
    """
    limit = MAX_BUNDLE_BYTES + MAX_MANIFEST_BYTES + 64
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(message, limit + 1)
    except zlib.error:
        raise VerificationError(f"{source} is not compressed bundle data.") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise VerificationError(f"{source} expands beyond the largest possible bundle.")
    if not inflater.eof or inflater.unused_data:
        raise VerificationError(f"{source} is truncated or has trailing data.")
    return Bundle.from_bytes(data, source)


def qr_frames(message: bytes, size: str | QrSize = "medium") -> list[bytes]:
    """The plain frames (``1..total``) of ``message`` at ``size``.

    Raises:
        UsageError: unknown size.
        VerificationError: the message is too large for QR transport.
    """
    preset = qr_size(size)
    if len(message) > MAX_QR_MESSAGE:
        raise VerificationError(
            f"The bundle compresses to {len(message)} bytes, more than QR transport carries "
            f"({MAX_QR_MESSAGE}); use a USB stick."
        )
    return _frames.make_frames(message, preset.frame_bytes)


# --- export -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QrExport:
    """What :func:`export_qr` wrote."""

    directory: Path
    frames: tuple[Path, ...]
    sheet: Path
    message_sha256: str
    message_id: bytes
    size: QrSize

    @property
    def message_words(self) -> str:
        """The message id as PGP words, to read aloud."""
        return pgp_words_text(self.message_id)


def export_qr(
    bundle: Bundle, dest_dir: Path | str, size: str | QrSize = "medium", scale: int = DEFAULT_SCALE
) -> QrExport:
    """Write ``frame-NN-of-MM.png`` files and ``sheet.html`` into ``dest_dir``, atomically.

    ``dest_dir`` must not exist or must be empty: frames of two exports in one folder is how
    messages get mixed. Files go into a hidden temporary folder beside it, are fsynced, and the
    folder is renamed into place last.

    Raises:
        UsageError: unknown size.
        VerificationError: the bundle is inconsistent or too large for QR.
        WorkspaceError: ``dest_dir`` is not empty, or writing failed (nothing is left behind).
    """
    preset = qr_size(size)
    bundle.verify()
    message = bundle_message(bundle)
    frame_list = qr_frames(message, preset)
    dest = Path(dest_dir)
    if dest.is_symlink() or (dest.exists() and (not dest.is_dir() or any(dest.iterdir()))):
        raise WorkspaceError(
            f"{dest} already exists and is not an empty folder; QR frames are never written "
            "over or beside other frames."
        )
    total = len(frame_list)
    width = max(2, len(str(total)))
    names = [f"frame-{i + 1:0{width}d}-of-{total:0{width}d}.png" for i in range(total)]
    pngs = [render_png(encode_qr(f, preset.version, preset.ec_level), scale) for f in frame_list]
    digest = hashlib.sha256(message).hexdigest()
    mid = _frames.message_id(message)
    sheet = sheet_html(bundle, message, pngs, preset)
    tmp = dest.parent / f".{dest.name}.tmp-{uuid.uuid4().hex[:12]}"
    current = "the temporary folder"
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(tmp, 0o755)
        for name, png in zip(names, pngs, strict=True):
            current = name
            write_new_synced(tmp / name, png)
        current = "sheet.html"
        write_new_synced(tmp / "sheet.html", sheet.encode("utf-8"))
        fsync_dir(tmp)
        current = "the final rename"
        os.rename(tmp, dest)  # replaces only an empty folder
        fsync_dir(dest.parent)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise WorkspaceError(
            f"Writing {current} for {dest} failed ({e.strerror or e}); nothing was exported."
        ) from e
    return QrExport(dest, tuple(dest / n for n in names), dest / "sheet.html", digest, mid, preset)


# --- printable sheet --------------------------------------------------------------------------

_SHEET_CSS = """
body { font-family: sans-serif; margin: 12mm; color: #000; background: #fff; }
h1 { font-size: 16pt; margin: 0 0 4mm 0; }
table.meta td { padding: 0.5mm 3mm 0.5mm 0; vertical-align: top; font-size: 10pt; }
code, .words { font-family: monospace; font-size: 10pt; word-break: break-all; }
.words { font-size: 12pt; font-weight: bold; }
.frames { display: flex; flex-wrap: wrap; gap: 8mm; margin-top: 6mm; }
figure { margin: 0; break-inside: avoid; page-break-inside: avoid; text-align: center; }
figure img { image-rendering: pixelated; image-rendering: crisp-edges; display: block; }
figcaption { font-size: 11pt; margin-top: 2mm; }
table.files td, table.files th { font-size: 9pt; padding: 0.5mm 3mm 0.5mm 0; text-align: left; }
"""

#: Printed module pitch: 0.6 mm keeps a version 40 code about 11 cm wide, two per A4 page.
_PRINT_MM_PER_MODULE = 0.6


def sheet_html(bundle: Bundle, message: bytes, pngs: list[bytes], size: QrSize) -> str:
    """A self-contained printable page: every frame (inline PNG), its number, and the digests.

    The message id words are what the two sides read aloud; the frame captions repeat their
    first four so a stray page from another export stands out.
    """
    m = bundle.manifest
    esc = html.escape
    mid = _frames.message_id(message)
    words = pgp_words_text(mid)
    short = " ".join(pgp_words(mid[:4]))
    total = len(pngs)
    side_mm = (size.modules + 2 * QUIET_ZONE) * _PRINT_MM_PER_MODULE
    rows = [
        ("Repository", esc(m.repository)),
        ("Content", esc(m.kind)),
        ("Ceremony", esc(m.ceremony_id)),
        ("Created", esc(m.created)),
        ("Journal head", f"<code>{esc(m.journal_head)}</code>" if m.journal_head else "none"),
        ("Bundle fingerprint (SHA-256 of manifest)", f"<code>{esc(bundle.digest)}</code>"),
        ("Message SHA-256", f"<code>{hashlib.sha256(message).hexdigest()}</code>"),
        ("Message id, to read aloud", f'<span class="words">{esc(words)}</span>'),
        (
            "Frames",
            (
                f"{total} (QR version {size.version}, error correction {size.ec_level}); "
                "scan them in any order"
            ),
        ),
    ]
    meta = "\n".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    files = "\n".join(
        f"<tr><td><code>{esc(f.name)}</code></td><td>{f.size}</td>"
        f"<td><code>{f.sha256}</code></td></tr>"
        for f in m.files
    )
    figures = "\n".join(
        f'<figure><img alt="frame {i + 1} of {total}" width="{size.modules + 2 * QUIET_ZONE}" '
        f'style="width:{side_mm:.1f}mm;height:{side_mm:.1f}mm" '
        f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'
        f"<figcaption>Frame {i + 1} of {total} &middot; {esc(short)}</figcaption></figure>"
        for i, png in enumerate(pngs)
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>QR frames: {esc(m.repository)} {esc(m.kind)}</title>"
        f"<style>{_SHEET_CSS}</style></head><body>\n"
        f"<h1>Ceremony bundle: {esc(m.kind)} for {esc(m.repository)}</h1>\n"
        f'<table class="meta">\n{meta}\n</table>\n'
        '<table class="files"><tr><th>File</th><th>Bytes</th><th>SHA-256</th></tr>\n'
        f"{files}\n</table>\n"
        f'<div class="frames">\n{figures}\n</div>\n</body></html>\n'
    )
