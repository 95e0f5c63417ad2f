"""Bundle and manifest: round trips, canonical form, names, limits, tampering."""

from __future__ import annotations

import hashlib
import json

import pytest

from ceremony.errors import VerificationError
from ceremony.transport import KINDS, Bundle, Manifest
from ceremony.transport.bundle import MAX_FILE_BYTES, MAX_FILES, check_file_name
from tests.support.transport_samples import CREATED, kind_files, sample_bundle


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_message_round_trip_is_byte_for_byte(kind: str) -> None:
    bundle = sample_bundle(kind)
    again = Bundle.from_bytes(bundle.to_bytes())
    assert dict(again.files) == kind_files(kind)
    assert again.manifest == bundle.manifest
    assert again.to_bytes() == bundle.to_bytes()
    assert again.digest == bundle.digest


def test_manifest_is_canonical_and_its_digest_is_the_fingerprint() -> None:
    bundle = sample_bundle()
    raw = bundle.manifest.to_bytes()
    data = json.loads(raw)
    assert raw == (json.dumps(data, sort_keys=True, indent=2) + "\n").encode()
    assert data["format"] == "ceremony-bundle" and data["version"] == 1
    assert data["created"] == CREATED
    assert data["journal_head"] == "sha256:" + "ab" * 32
    assert data["files"]["1.root.json"] == {
        "size": len(kind_files("signed-metadata")["1.root.json"]),
        "sha256": hashlib.sha256(kind_files("signed-metadata")["1.root.json"]).hexdigest(),
    }
    assert bundle.digest == hashlib.sha256(raw).hexdigest()
    assert Manifest.from_bytes(raw) == bundle.manifest


def test_journal_head_is_optional_and_omitted_when_absent() -> None:
    bundle = Bundle.from_files("draft", "r", "c", {"a.json": b"{}"}, created=CREATED)
    assert "journal_head" not in json.loads(bundle.manifest.to_bytes())
    assert Bundle.from_bytes(bundle.to_bytes()).manifest.journal_head is None


def test_folder_name_is_a_plain_name_that_identifies_the_bundle() -> None:
    bundle = sample_bundle(repository="docker.io/library/Alpine Linux")
    name = bundle.folder_name
    assert (
        name
        == "ceremony-docker-io-library-Alpine-Linux-signed-metadata-20261123T120000Z-"
        + bundle.digest[:8]
    )
    assert check_file_name(name) == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../root.json", "contains a path separator"),
        ("keys/root.json", "contains a path separator"),
        ("keys\\root.json", "contains a path separator"),
        ("..", "contains '..'"),
        ("root..json", "contains '..'"),
        ("root\x00.json", "contains a control character"),
        (".hidden", "starts with a dot"),
        ("", "is empty"),
        ("r" * 129, "is longer than 128 characters"),
        ("root json", "is not a plain file name (letters, digits, '.', '-', '_', '+')"),
        ("rööt.json", "is not a plain file name (letters, digits, '.', '-', '_', '+')"),
        ("Manifest.json", "is reserved for the manifest itself"),
    ],
)
def test_names_must_be_plain_file_names(name: str, reason: str) -> None:
    with pytest.raises(VerificationError) as err:
        Bundle.from_files("draft", "r", "c", {name: b"x"}, created=CREATED)
    shown = repr(name) if len(name) <= 128 else repr(name[:128] + "...")
    assert err.value.message == f"the bundle lists the file name {shown}, which {reason}."


def _manifest_bytes(files: dict[str, object], **fields: object) -> bytes:
    data: dict[str, object] = {
        "format": "ceremony-bundle",
        "version": 1,
        "kind": "draft",
        "repository": "r",
        "ceremony_id": "c",
        "created": CREATED,
        "files": files,
    }
    data.update(fields)
    return (json.dumps(data, sort_keys=True, indent=2) + "\n").encode()


def _entry(data: bytes) -> dict[str, object]:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_manifest_with_a_traversal_name_is_refused() -> None:
    raw = _manifest_bytes({"../../etc/passwd": _entry(b"x")})
    with pytest.raises(VerificationError) as err:
        Manifest.from_bytes(raw, "stick/manifest.json")
    assert err.value.message == (
        "stick/manifest.json lists the file name '../../etc/passwd', which contains a path "
        "separator."
    )


def test_names_differing_only_in_case_are_refused() -> None:
    raw = _manifest_bytes({"Root.json": _entry(b"a"), "root.json": _entry(b"b")})
    with pytest.raises(VerificationError, match=r"lists both 'Root\.json' and 'root\.json'"):
        Manifest.from_bytes(raw)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\xff", "m.json is not valid JSON."),
        (b"[]", "m.json is not a JSON object."),
        (b'{"a": 1, "a": 2}', "m.json repeats the key 'a'."),
        (_manifest_bytes({}, extra=1), "m.json has an unknown field 'extra'."),
        (
            _manifest_bytes({}, kind="secret-keys"),
            (
                "m.json has an unknown kind 'secret-keys' (expected one of draft, online-keys, "
                "signature, signed-metadata, trusted-metadata)."
            ),
        ),
        (
            _manifest_bytes({}, version=2),
            "m.json has bundle format version 2; this tool reads version 1.",
        ),
        (
            _manifest_bytes({}, created="yesterday"),
            "m.json has a 'created' time that is not of the form 2025-01-31T12:00:00Z.",
        ),
        (
            _manifest_bytes({}, repository="a\nb"),
            "m.json has a malformed 'repository' (text of 1 to 200 printable characters).",
        ),
        (
            _manifest_bytes({"a": {"size": -1, "sha256": "0" * 64}}),
            "m.json gives a a size that is not a whole number.",
        ),
        (
            _manifest_bytes({"a": {"size": 1, "sha256": "XYZ"}}),
            "m.json gives a a malformed SHA-256.",
        ),
        (
            _manifest_bytes({"a": {"size": MAX_FILE_BYTES + 1, "sha256": "0" * 64}}),
            (
                f"m.json lists a at {MAX_FILE_BYTES + 1} bytes, larger than any metadata "
                f"({MAX_FILE_BYTES})."
            ),
        ),
        (
            json.dumps({"format": "ceremony-bundle"}).encode(),
            "m.json lacks the field 'ceremony_id'.",
        ),
    ],
)
def test_malformed_manifests_are_refused_with_one_clear_sentence(raw: bytes, message: str) -> None:
    with pytest.raises(VerificationError) as err:
        Manifest.from_bytes(raw, "m.json")
    assert err.value.message == message


def test_a_manifest_not_in_canonical_form_is_refused() -> None:
    raw = _manifest_bytes({"a.json": _entry(b"{}")})
    compact = json.dumps(json.loads(raw), sort_keys=True).encode()
    with pytest.raises(VerificationError) as err:
        Manifest.from_bytes(compact, "m.json")
    assert err.value.message == (
        "m.json is not in canonical form (it was edited or written by another tool)."
    )


def test_too_many_files_and_too_large_files_are_refused() -> None:
    with pytest.raises(VerificationError) as err:
        Bundle.from_files("draft", "r", "c", {f"f{i}": b"" for i in range(MAX_FILES + 1)})
    assert err.value.message == f"a bundle holds at most {MAX_FILES} files, not {MAX_FILES + 1}."
    with pytest.raises(VerificationError) as err:
        Bundle.from_files("draft", "r", "c", {"big.json": bytes(MAX_FILE_BYTES + 1)})
    assert err.value.message == (
        f"big.json is {MAX_FILE_BYTES + 1} bytes, larger than any metadata ({MAX_FILE_BYTES})."
    )


def test_message_with_a_changed_file_fails_its_digest() -> None:
    raw = bytearray(sample_bundle("draft").to_bytes())
    raw[-10] ^= 0x01
    with pytest.raises(VerificationError) as err:
        Bundle.from_bytes(bytes(raw), "frames")
    assert err.value.message.startswith("3.root.json does not match the manifest: SHA-256 is ")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b[:-1], "frames is {n} bytes but its manifest accounts for {m}."),
        (lambda b: b + b"x", "frames is {n} bytes but its manifest accounts for {m}."),
        (lambda b: b"XBUNDLE" + b[7:], "frames is not a ceremony bundle."),
        (lambda b: b[:12], "frames is truncated or has a bad manifest length."),
    ],
)
def test_message_framing_errors(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    good = sample_bundle("draft").to_bytes()
    bad = mutate(good)
    with pytest.raises(VerificationError) as err:
        Bundle.from_bytes(bad, "frames")
    assert err.value.message == message.format(n=len(bad), m=len(good))


def test_bundle_with_unlisted_or_missing_file_does_not_verify() -> None:
    bundle = sample_bundle("draft")
    extra = Bundle(bundle.manifest, {**bundle.files, "evil.sh": b"rm -rf /"})
    with pytest.raises(VerificationError) as err:
        extra.verify()
    assert err.value.message == "evil.sh is in the bundle but not listed in its manifest."
    missing = Bundle(bundle.manifest, {})
    with pytest.raises(VerificationError) as err:
        missing.verify()
    assert err.value.message == "3.root.json is listed in the manifest but missing."
