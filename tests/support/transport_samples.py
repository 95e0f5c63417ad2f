"""Sample bundles for the transport tests: one per content kind, realistic sizes and shapes.

No test here; the other ``test_transport_*`` modules import these builders. The keys are
throwaway public keys made on the spot: nothing secret is written anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from functools import cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ceremony.transport import Bundle

CREATED = "2026-11-23T12:00:00Z"


@cache
def public_pems(count: int, seed: int = 0) -> tuple[str, ...]:
    """``count`` P-256 public keys as PEM (deterministic per seed: derived scalars)."""
    out = []
    for i in range(count):
        scalar = (
            int.from_bytes(hashlib.sha256(f"{seed}/{i}".encode()).digest(), "big") % (2**255) + 1
        )
        key = ec.derive_private_key(scalar, ec.SECP256R1()).public_key()
        pem = key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        out.append(pem.decode())
    return tuple(out)


def _keyid(pem: str) -> str:
    return hashlib.sha256(pem.encode()).hexdigest()


def root_json(version: int, keys: int = 5, sigs: int = 5, seed: int = 0) -> bytes:
    """A TUF-shaped root (keys, roles, signatures) of realistic size; not signed for real."""
    rng = random.Random(seed * 1000 + version)
    pems = public_pems(keys + 3, seed)
    keymap = {
        _keyid(p): {"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256", "keyval": {"public": p}}
        for p in pems
    }
    ids = list(keymap)
    signed = {
        "_type": "root",
        "spec_version": "1.0.31",
        "version": version,
        "expires": "2027-11-23T12:00:00Z",
        "consistent_snapshot": True,
        "keys": keymap,
        "roles": {
            "root": {"keyids": ids[:keys], "threshold": 3},
            "targets": {"keyids": [ids[keys]], "threshold": 1},
            "snapshot": {"keyids": [ids[keys + 1]], "threshold": 1},
            "timestamp": {"keyids": [ids[keys + 2]], "threshold": 1},
        },
    }
    signatures = [{"keyid": ids[i], "sig": rng.randbytes(71).hex()} for i in range(sigs)]
    return json.dumps({"signatures": signatures, "signed": signed}, indent=1).encode()


def kind_files(kind: str) -> dict[str, bytes]:
    """Files typical of each bundle kind."""
    if kind == "signed-metadata":
        return {"1.root.json": root_json(1), "2.root.json": root_json(2), "root.json": root_json(2)}
    if kind == "draft":
        return {"3.root.json": root_json(3, sigs=0)}
    if kind == "signature":
        sig = {"keyid": _keyid(public_pems(1)[0]), "sig": random.Random(3).randbytes(71).hex()}
        return {"3.root.json.sig-alice.json": json.dumps(sig).encode()}
    if kind == "online-keys":
        names = ("targets", "snapshot", "timestamp")
        return {f"{n}.pub.pem": p.encode() for n, p in zip(names, public_pems(3, 7), strict=True)}
    if kind == "trusted-metadata":
        cert = base64.b64encode(random.Random(5).randbytes(600)).decode()
        return {"root.json": root_json(4), "notary-root.crt": cert.encode()}
    raise AssertionError(kind)


def sample_bundle(kind: str = "signed-metadata", repository: str = "example.org/app") -> Bundle:
    """A verified bundle of ``kind`` with fixed content and creation time."""
    return Bundle.from_files(
        kind,
        repository,
        "ceremony-2026-11-23",
        kind_files(kind),
        journal_head="sha256:" + "ab" * 32,
        created=CREATED,
    )


# --- degraded captures (shared with bench/bench_qr.py) -----------------------------------------

DEGRADATIONS = ("3px", "rotated", "blurred", "jpeg50", "noise1%")


def degrade(code: object, kind: str, rng: random.Random) -> object:
    """A capture of ``code`` (a ``qr.QrCode``) damaged one way the issue lists.

    3px: a 4 px/module rendering scaled to 3 px/module with bilinear filtering; rotated: 3-5
    degrees either way, bicubic; blurred: Gaussian radius 1 px at 4 px/module; jpeg50: JPEG
    quality 50; noise1%: 1 % of the modules outside the finder patterns flipped.
    ``combined`` (bench only) stacks noise, rotation, 3 px, blur and JPEG.
    """
    import io

    from PIL import Image, ImageFilter

    from ceremony.transport.qr import QrCode, render_image

    assert isinstance(code, QrCode)

    def jpeg(img: Image.Image, quality: int) -> Image.Image:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=quality)
        buf.seek(0)
        return Image.open(buf).convert("L")

    def rotate(img: Image.Image) -> Image.Image:
        angle = rng.uniform(3, 5) * rng.choice((-1, 1))
        return img.rotate(angle, Image.Resampling.BICUBIC, expand=True, fillcolor=255)

    def to_3px(img: Image.Image) -> Image.Image:
        side = round(img.size[0] * 3 / 4)
        return img.resize((side, side), Image.Resampling.BILINEAR)

    if kind == "3px":
        return to_3px(render_image(code, 4))
    if kind == "rotated":
        return rotate(render_image(code, 4))
    if kind == "blurred":
        return render_image(code, 4).filter(ImageFilter.GaussianBlur(1.0))
    if kind == "jpeg50":
        return jpeg(render_image(code, 4), 50)
    if kind in ("noise1%", "combined"):
        noisy = flip_modules(code, 0.01, rng)
        if kind == "noise1%":
            return render_image(noisy, 4)
        img = to_3px(rotate(render_image(noisy, 4)))
        return jpeg(img.filter(ImageFilter.GaussianBlur(0.6)), 50)
    raise AssertionError(kind)


def flip_modules(code: object, fraction: float, rng: random.Random) -> object:
    """A copy of ``code`` with ``fraction`` of its modules (finder patterns spared) inverted."""
    from ceremony.transport.qr import QrCode

    assert isinstance(code, QrCode)
    n = code.size
    rows = [bytearray(r) for r in code.rows]

    def in_finder(x: int, y: int) -> bool:
        return (x < 8 and y < 8) or (x >= n - 8 and y < 8) or (x < 8 and y >= n - 8)

    cells = [(x, y) for y in range(n) for x in range(n) if not in_finder(x, y)]
    for x, y in rng.sample(cells, round(fraction * n * n)):
        rows[y][x] ^= 1
    return QrCode(code.version, code.ec_level, n, tuple(bytes(r) for r in rows))
