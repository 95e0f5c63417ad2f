"""Random bytes, deep nesting and extreme numbers through every reader of air-gap input.

Readers: the plan (text and file), online key files, previous chains (TUF and notary roots),
detached drafts and signature files, bundles (manifest, message, USB folder), QR frames and
frame images, notary sidecars. Each may refuse with the project's own errors (a
``CeremonyError`` or an ``HsmError``) and nothing else: a ``RecursionError``, an
``OverflowError``, a ``UnicodeEncodeError`` or a hang (each call runs under a time bound) is a
failure. The inputs are random bytes, JSON nested up to thousands deep, and valid documents
with one value replaced by an extreme one (NaN, 1e999, a 5000-digit integer, a lone
surrogate, a huge duration, a deep array), so the checks after parsing are reached too.

Examples are few per reader (CI stays fast); the transport's own deeper fuzzing is in
tests/transport/test_transport_fuzz.py.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from ceremony.errors import CeremonyError
from hsm.errors import HsmError

BOUND = 10.0  # seconds per reader call; a hang fails
FUZZ = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])

# ---- inputs -----------------------------------------------------------------------------

_SENTINELS = {
    '"@NAN@"': "NaN", '"@INF@"': "-Infinity", '"@BIGF@"': "1e999",
    '"@BIGI@"': "1" + "0" * 5000, '"@LONGI@"': "9" * 40, '"@SURR@"': '"x\\ud800"',
    '"@DEEP@"': "[" * 3000 + "]" * 3000, '"@DEEPO@"': '{"a":' * 2000 + "1" + "}" * 2000,
}
_EXTREME = st.sampled_from(sorted(_SENTINELS) + ["-1", "0", "true", "null", '""', "[]", "{}",
                                                  '"1000000y"', "18446744073709551617",
                                                  '"' + "A" * 5000 + '"'])


def _json_text(value: Any) -> str:
    text = json.dumps(value)
    for sentinel, raw in _SENTINELS.items():
        text = text.replace(json.dumps(sentinel.strip('"')), raw)
    return text


def _mutated_json(sample: Any) -> st.SearchStrategy[bytes]:
    """``sample`` with one value (at a random path) replaced by an extreme one."""

    @st.composite
    def build(draw: Any) -> bytes:
        doc = json.loads(json.dumps(sample))
        node, steps = doc, draw(st.integers(0, 6))
        leaf = draw(_EXTREME)
        replacement = json.loads(leaf) if leaf not in _SENTINELS else leaf.strip('"')
        for _ in range(steps):
            keys = list(node) if isinstance(node, dict) else list(range(len(node))) \
                if isinstance(node, list) else []
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            child = node[key]
            if not isinstance(child, (dict, list)) or not child or draw(st.booleans()):
                node[key] = replacement
                break
            node = child
        else:
            if isinstance(node, dict):
                node[draw(st.sampled_from(["x", "version", "signed", "kind"]))] = replacement
        return _json_text(doc).encode()

    return build()


def _nested() -> st.SearchStrategy[bytes]:
    return st.builds(lambda n, o, c: (o * n + c * n).encode(), st.integers(1, 20000),
                     st.sampled_from(["[", '{"a":[']), st.sampled_from(["]", "]}"]))


def inputs(*samples: Any) -> st.SearchStrategy[bytes]:
    """Random bytes, deep nesting, and each sample mutated with an extreme value."""
    options = [st.binary(max_size=600), _nested(), _mutated_json({"signed": {}, "x": [1]})]
    options += [_mutated_json(s) for s in samples]
    return st.one_of(options)


def run(fn: Callable[[], Any]) -> None:
    """Call ``fn`` under the time bound; only the project's own errors may come out."""
    box: dict[str, BaseException] = {}

    def target() -> None:
        try:
            fn()
        except (CeremonyError, HsmError):
            pass
        except BaseException as e:  # noqa: BLE001 - reported below
            box["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(BOUND)
    assert not t.is_alive(), f"a reader hung for {BOUND}s"
    if "error" in box:
        raise AssertionError(f"not a project error: {type(box['error']).__name__}: "
                             f"{str(box['error'])[:200]}") from box["error"]


# ---- samples ----------------------------------------------------------------------------


def _root_sample() -> dict[str, Any]:
    from securesystemslib.signer import CryptoSigner
    from tuf.api.metadata import Metadata, Root
    signer = CryptoSigner.generate_ecdsa()
    root = Root(expires=datetime.now(UTC).replace(microsecond=0) + timedelta(days=365))
    for role in ("root", "targets", "snapshot", "timestamp"):
        root.add_key(signer.public_key, role)
    md = Metadata(root)
    md.sign(signer)
    return json.loads(md.to_bytes())


ROOT = _root_sample()
SIGNATURE = {"kind": "ceremony-signature", "format": "tuf", "repository": "r", "ceremony_id": "c",
             "version": 1, "digest": "0" * 64, "keyholder": "alice",
             "signatures": [{"keyid": "0" * 64, "sig": "00", "token_serial": "1"}]}
DRAFT = {"kind": "ceremony-draft", "format": "tuf", "repository": "r", "ceremony_id": "c",
         "version": 1, "digest": "0" * 64, "draft": ROOT, "previous": None}
MANIFEST = {"format": "ceremony-bundle", "version": 1, "kind": "signature", "repository": "r",
            "ceremony_id": "c", "created": "2026-01-01T00:00:00Z",
            "files": {"a.json": {"size": 2, "sha256": "0" * 64}}}
SIDECAR = {"kind": "ceremony-notary-keys", "gun": "g", "version": 1, "keys": {}}


def _write(tmp: Path, name: str, data: bytes) -> Path:
    p = tmp / name
    p.write_bytes(data)
    return p


# ---- the readers --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _plan_text() -> str:
    from tests.support.plans import plan_text
    return plan_text()


_TOML_EXTREMES = ['"99999999999y"', "inf", "nan", "-0", "1" + "0" * 5000, "9" * 19, '"1000000y"', '"365d\\n"',
                  '"x\\u0000"', '"x\\u0085"', "[" * 5000 + "]" * 5000, "{a={a={a={}}}}",
                  '"' + "r" * 300 + '"', "true", '"\\uD800"', "1e999", '" padded "']


@st.composite
def _plans(draw: Any) -> str:
    kind = draw(st.integers(0, 2))
    if kind == 0:
        return draw(st.text(max_size=400))
    lines = _plan_text().splitlines()
    where = [i for i, line in enumerate(lines) if "=" in line]
    i = draw(st.sampled_from(where))
    key = lines[i].split("=", 1)[0]
    if kind == 2:  # a misspelt or dotted key
        key = draw(st.sampled_from([key.strip() + "x ", ".".join(["k"] * 40) + " ", "threshhold "]))
    lines[i] = key + "= " + draw(st.sampled_from(_TOML_EXTREMES))
    return "\n".join(lines)


@FUZZ
@given(text=_plans(), raw=st.binary(max_size=300))
@example(text=_plan_text().replace('expires = "365d"', 'expires = "99999999999y"'), raw=b"\xff")
@example(text=_plan_text().replace('threshold = 2', "threshold = " + "[" * 9000), raw=b"")
def test_plan_reader(sandbox: Path, text: str, raw: bytes) -> None:
    from ceremony.plan import load_plan, parse_plan
    run(lambda: parse_plan(text))
    path = _write(sandbox, "plan.toml", text.encode("utf-8", "surrogatepass"))
    run(lambda: load_plan(path))
    path = _write(sandbox, "plan.toml", raw)
    run(lambda: load_plan(path))


@FUZZ
@given(data=inputs({"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256",
                    "keyval": {"public": "x"}}))
def test_online_key_reader(sandbox: Path, data: bytes) -> None:
    from ceremony.formats.notary_files import load_key_file
    from ceremony.keys import load_public_key_file
    path = _write(sandbox, "k.pub", data)
    run(lambda: load_public_key_file(path, "roles.targets.keys[0]"))
    run(lambda: load_key_file(path, "roles.targets.keys[0]"))


@FUZZ
@given(data=inputs(ROOT))
def test_chain_reader(sandbox: Path, data: bytes) -> None:
    from ceremony import chain
    from ceremony.formats.notary_root import NotaryMetadata, is_notary_root
    d = sandbox / "chain"
    d.mkdir(exist_ok=True)
    first = _write(d, "1.root.json", data)
    run(lambda: chain.walk(chain.read_root_file(first), d))
    run(lambda: chain.verify_published(first, d))
    run(lambda: NotaryMetadata.from_bytes(data, "root.json"))
    run(lambda: is_notary_root(data))
    good = _write(d, "1.root.json", json.dumps(ROOT).encode())
    _write(d, "2.root.json", data)
    run(lambda: chain.walk(good.read_bytes(), d))
    (d / "2.root.json").unlink()


@FUZZ
@given(data=inputs(SIGNATURE, DRAFT))
def test_signature_and_draft_readers(sandbox: Path, data: bytes) -> None:
    from ceremony.detached import _read_json, check_signature_fields, load_draft
    from ceremony.transfer import check_arrival
    from ceremony.transport import Bundle
    path = _write(sandbox, "s.json", data)
    run(lambda: load_draft(path))
    run(lambda: check_signature_fields(_read_json(path, "ceremony-signature"), str(path)))
    run(lambda: check_arrival(Bundle.from_files("signature", "r", "c", {"s.json": data}), None))
    run(lambda: check_arrival(Bundle.from_files("draft", "r", "c", {"d.json": data}), None))
    run(lambda: check_arrival(Bundle.from_files("online-keys", "r", "c", {"k.pem": data}), None))


@FUZZ
@given(data=inputs(MANIFEST, SIDECAR))
def test_bundle_readers(sandbox: Path, data: bytes) -> None:
    import shutil

    from ceremony.formats.notary_files import read_sidecar
    from ceremony.transport.bundle import Bundle, Manifest
    from ceremony.transport.qr import message_bundle
    from ceremony.transport.usb import import_usb
    run(lambda: Manifest.from_bytes(data, "manifest.json"))
    run(lambda: Bundle.from_bytes(data))
    run(lambda: message_bundle(data))
    run(lambda: read_sidecar(data, "g", [], "ceremony-keys.json"))
    stick = sandbox / "stick"
    shutil.rmtree(stick, ignore_errors=True)
    stick.mkdir()
    _write(stick, "manifest.json", data)
    _write(stick, "a.json", b"{}")
    run(lambda: import_usb(stick))


@FUZZ
@given(data=st.one_of(st.binary(max_size=400),
                      st.binary(min_size=32, max_size=200).map(lambda b: b"CQ\x01" + b[3:])))
def test_frame_readers(sandbox: Path, data: bytes) -> None:
    from ceremony.transport.frames import Collector, parse_frame
    from ceremony.transport.scan import decode_frames
    run(lambda: parse_frame(data))
    run(lambda: Collector().add(data, "frame"))
    path = _write(sandbox, "frame.png", data)
    run(lambda: decode_frames([path]))
    gif = _write(sandbox, "frame.gif", b"GIF89a" + data)
    run(lambda: decode_frames([gif]))
