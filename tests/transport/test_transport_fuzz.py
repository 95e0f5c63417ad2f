"""Fuzzing the parsers that face the air gap: only VerificationError may ever escape.

The corpus in ``tests/support/corpus/`` holds seed inputs (valid frames, manifests and messages, plus
known nasty ones). Every file is replayed on each run, and hypothesis mutates the seeds as well
as generating inputs from scratch. When hypothesis finds a failure, save the shrunk input as a
new corpus file so it stays a regression test. Regenerate the seeds with
``python tests/transport/test_transport_fuzz.py`` (they are deterministic).
"""

from __future__ import annotations

import contextlib
import json
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from ceremony.errors import VerificationError
from ceremony.transport import Bundle, Collector, Manifest, parse_frame
from ceremony.transport.frames import Frame, fountain_frames, make_frames
from ceremony.transport.qr import message_bundle

CORPUS = Path(__file__).resolve().parents[1] / "support" / "corpus"
FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,  # failures are kept as corpus files, not in a local database
)


def _corpus(kind: str) -> list[bytes]:
    folder = CORPUS / kind
    if not folder.is_dir():  # test_corpus_is_present fails loudly instead
        return [b""]
    return [p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()]


FRAMES = _corpus("frames")
MANIFESTS = _corpus("manifests")
MESSAGES = _corpus("messages")


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed with a few byte flips, cuts, insertions or splices."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("flip", "cut", "insert", "set", "splice")))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            end = draw(st.integers(pos, len(data)))
            del data[pos:end]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "set" and data:
            data[pos] = draw(st.sampled_from((0, 1, 0x7F, 0x80, 0xFF, ord('"'), ord("/"))))
        elif op == "splice":
            other = draw(st.sampled_from(seeds))
            data[pos:] = other[draw(st.integers(0, len(other))) :]
    return bytes(data)


def _only_verification_errors(fn, data: bytes) -> object:  # type: ignore[no-untyped-def]
    try:
        return fn(data)
    except VerificationError as e:
        assert e.message and "\n" not in e.message
        return None


# --- replay the corpus ----------------------------------------------------------------------------


def test_corpus_is_present() -> None:
    assert len(FRAMES) >= 8 and len(MANIFESTS) >= 8 and len(MESSAGES) >= 4


@pytest.mark.parametrize("data", FRAMES, ids=lambda d: f"{len(d)}B")
def test_corpus_frames(data: bytes) -> None:
    _only_verification_errors(parse_frame, data)


@pytest.mark.parametrize("data", MANIFESTS, ids=lambda d: f"{len(d)}B")
def test_corpus_manifests(data: bytes) -> None:
    _only_verification_errors(Manifest.from_bytes, data)


@pytest.mark.parametrize("data", MESSAGES, ids=lambda d: f"{len(d)}B")
def test_corpus_messages(data: bytes) -> None:
    _only_verification_errors(Bundle.from_bytes, data)
    _only_verification_errors(message_bundle, data)


# --- generated inputs -----------------------------------------------------------------------------


@FUZZ
@given(st.one_of(st.binary(max_size=400), st.binary(max_size=64).map(lambda b: b"CQ\x01" + b)))
@example(b"CQ\x01" + bytes(29))
def test_frame_parser_on_arbitrary_bytes(data: bytes) -> None:
    _only_verification_errors(parse_frame, data)


@FUZZ
@given(mutated(FRAMES))
def test_frame_parser_on_mutated_frames(data: bytes) -> None:
    frame = _only_verification_errors(parse_frame, data)
    if frame is not None:  # whatever passes must re-serialise to exactly the input
        assert isinstance(frame, Frame) and frame.to_bytes() == data


@FUZZ
@given(st.lists(st.one_of(mutated(FRAMES), st.sampled_from(FRAMES)), min_size=1, max_size=12))
def test_collector_on_mixed_good_and_damaged_frames(frames: list[bytes]) -> None:
    collector = Collector()
    for i, data in enumerate(frames):
        with contextlib.suppress(VerificationError):
            collector.add(data, f"f{i}")
    _only_verification_errors(lambda _: collector.message(), b"")
    collector.progress()


@FUZZ
@given(mutated(MANIFESTS))
def test_manifest_parser_on_mutated_manifests(data: bytes) -> None:
    manifest = _only_verification_errors(Manifest.from_bytes, data)
    if manifest is not None:
        assert isinstance(manifest, Manifest) and manifest.to_bytes() == data


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
_file_info = st.fixed_dictionaries(
    {"size": st.one_of(st.integers(), st.floats(), st.text()), "sha256": st.text(max_size=70)}
)


@FUZZ
@given(
    st.fixed_dictionaries(
        {
            "format": st.sampled_from(["ceremony-bundle", "x"]),
            "version": st.sampled_from([1, 1.0, True, "1", 2]),
            "kind": st.sampled_from(["draft", "signature", "bogus", 3]),
            "repository": st.one_of(st.text(max_size=250), _json),
            "ceremony_id": st.text(max_size=30),
            "created": st.sampled_from(["2026-11-23T12:00:00Z", "2026-02-30T12:00:00Z", "", 0]),
            "files": st.one_of(
                st.dictionaries(st.text(max_size=140), _file_info, max_size=5), _json
            ),
        },
        optional={"journal_head": _json, "extra": _json},
    )
)
def test_manifest_parser_on_generated_objects(obj: dict[str, object]) -> None:
    for raw in (
        (json.dumps(obj, sort_keys=True, indent=2) + "\n").encode(),
        json.dumps(obj).encode(),
    ):
        _only_verification_errors(Manifest.from_bytes, raw)


@FUZZ
@given(mutated(MESSAGES))
def test_bundle_and_message_parsers_on_mutated_messages(data: bytes) -> None:
    _only_verification_errors(Bundle.from_bytes, data)
    _only_verification_errors(message_bundle, data)


# --- corpus seeds ---------------------------------------------------------------------------------


def build_corpus() -> dict[str, dict[str, bytes]]:
    """Deterministic seed inputs: valid ones for mutation, and known nasty ones."""
    from ceremony.transport.qr import bundle_message
    from tests.support.transport_samples import sample_bundle

    bundle = sample_bundle("signed-metadata")
    message = bundle_message(bundle)
    plain = make_frames(message, 360)
    mixed = list(fountain_frames(message, 360, start=len(plain), count=2))
    tiny = make_frames(b"x", 40)
    frames = {
        "plain-first.bin": plain[0],
        "plain-last.bin": plain[-1],
        "fountain.bin": mixed[0],
        "fountain-2.bin": mixed[1],
        "single-frame.bin": tiny[0],
        "large-frame.bin": make_frames(message, 1661)[0],
        "header-only.bin": plain[0][:32],
        "truncated.bin": plain[1][:-7],
        "wrong-magic.bin": b"QC" + plain[0][2:],
        "version-2.bin": plain[0][:2] + b"\x02" + plain[0][3:],
        "zero-total.bin": Frame(b"\0" * 16, 1, 0, 0, b"").to_bytes(),
        "huge-total.bin": Frame(b"\0" * 16, 5, 0xFFFF, 0xFFFFFFFF, b"").to_bytes(),
        "url.bin": b"https://example.org/",
        "empty.bin": b"",
    }
    manifest = bundle.manifest.to_bytes()
    obj = json.loads(manifest)
    evil = dict(obj, files={"../etc/passwd": {"size": 1, "sha256": "0" * 64}})
    manifests = {
        "valid.json": manifest,
        "valid-minimal.json": Bundle.from_files(
            "draft", "r", "c", {"a": b""}, created="2026-01-01T00:00:00Z"
        ).manifest.to_bytes(),
        "traversal.json": (json.dumps(evil, sort_keys=True, indent=2) + "\n").encode(),
        "duplicate-key.json": manifest.replace(
            b'"kind": "signed-metadata"', b'"kind": "draft", "kind": "signed-metadata"'
        ),
        "compact.json": json.dumps(obj, sort_keys=True).encode(),
        "deep-nesting.json": b"[" * 5000 + b"]" * 5000,
        "big-number.json": manifest.replace(b'"version": 1', b'"version": 1' + b"0" * 5000),
        "nan.json": manifest.replace(b'"version": 1', b'"version": NaN'),
        "not-utf8.json": b"\xff\xfe{}",
        "empty.json": b"",
    }
    envelope = bundle.to_bytes()
    messages = {
        "envelope.bin": envelope,
        "compressed.bin": message,
        "envelope-draft.bin": sample_bundle("draft").to_bytes(),
        "envelope-short.bin": envelope[:-1],
        "zlib-bomb.bin": zlib.compress(bytes(9 * 1024 * 1024), 9),
        "zlib-of-garbage.bin": zlib.compress(b"CBUNDLE\x01\xff\xff\xff\xff"),
    }
    return {"frames": frames, "manifests": manifests, "messages": messages}


if __name__ == "__main__":
    for kind, files in build_corpus().items():
        folder = CORPUS / kind
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        print(f"{folder}: {len(files)} files")
