"""A bundle: what crosses the air gap, as a manifest plus the files it lists.

Why a manifest: the receiving side must know, before it uses anything, what was meant to
arrive (which files, how large, with which SHA-256) and where it came from (repository,
ceremony, journal head). Both transports (USB folder, QR frames) carry the same manifest bytes,
so the bundle digest (SHA-256 of the manifest) is the same however the bundle travelled, and it
covers every file through the listed digests.

Everything here is pure: no file system access. ``usb.py`` and ``qr.py`` do the I/O and hand
bytes to the parsers below, which raise only :class:`~ceremony.errors.VerificationError`.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from collections.abc import Mapping
from dataclasses import field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from ceremony.errors import VerificationError
from ceremony.frozen import frozen
from ceremony.inputs import json_depth

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_VERSION",
    "KINDS",
    "MANIFEST_NAME",
    "MAX_BUNDLE_BYTES",
    "MAX_FILES",
    "MAX_FILE_BYTES",
    "MAX_MANIFEST_BYTES",
    "Bundle",
    "FileEntry",
    "Manifest",
    "check_content",
    "check_file_name",
]

BUNDLE_FORMAT = "ceremony-bundle"
BUNDLE_VERSION = 1
MANIFEST_NAME = "manifest.json"

#: What a bundle may carry. Out of the air gap: drafts, detached signatures, signed metadata.
#: Into it: online public keys and the repository's current trusted metadata.
KINDS = frozenset({"signed-metadata", "draft", "signature", "online-keys", "trusted-metadata"})

#: Metadata is a few KB; a root with many x509 certificates is tens of KB. Anything near these
#: caps is not ceremony material, and refusing early keeps a hostile stick from exhausting memory.
MAX_FILE_BYTES = 1024 * 1024
MAX_FILES = 64
MAX_BUNDLE_BYTES = 8 * 1024 * 1024
MAX_MANIFEST_BYTES = 64 * 1024
_MAX_NAME = 128
_MAX_TEXT = 200

# A plain file name: starts with a letter or digit (so never hidden, never "." or ".."), then
# letters, digits, dot, dash, underscore, plus. No separators, no spaces, no control characters.
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_TEXT_RE = re.compile(r"[^\x00-\x1f\x7f]+")
_JOURNAL_RE = re.compile(r"[A-Za-z0-9:_-]{1,128}")
_CREATED_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# Binary envelope used as the single QR message: magic, manifest length, manifest, then the
# files' bytes in manifest order (sizes come from the manifest, so no other framing).
_ENVELOPE_MAGIC = b"CBUNDLE\x01"
_ENVELOPE_HEAD = struct.Struct(">8sI")


def check_file_name(name: object, where: str = "the manifest") -> str:
    """Return ``name`` if it is a plain file name a bundle may carry.

    Plain means: one path component, no ``/``, ``\\``, ``..``, NUL or other control character,
    no leading dot, at most 128 characters, not the manifest's own name.

    Raises:
        VerificationError: naming the offending name and where it was found.
    """
    if not isinstance(name, str):
        raise VerificationError(f"{where} lists a file name that is not a string: {name!r}.")
    shown = repr(name) if len(name) <= _MAX_NAME else repr(name[:_MAX_NAME] + "...")
    if "/" in name or "\\" in name:
        reason = "contains a path separator"
    elif ".." in name:
        reason = "contains '..'"
    elif any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        reason = "contains a control character"
    elif name.startswith("."):
        reason = "starts with a dot"
    elif not name:
        reason = "is empty"
    elif len(name) > _MAX_NAME:
        reason = f"is longer than {_MAX_NAME} characters"
    elif not _NAME_RE.fullmatch(name):
        reason = "is not a plain file name (letters, digits, '.', '-', '_', '+')"
    elif name.lower() == MANIFEST_NAME:
        reason = "is reserved for the manifest itself"
    else:
        return name
    raise VerificationError(f"{where} lists the file name {shown}, which {reason}.")


@frozen
class FileEntry:
    """One listed file: its plain name, exact size and SHA-256 (lowercase hex)."""

    name: str
    size: int
    sha256: str


@frozen
class Manifest:
    """What a bundle claims to hold, and where it comes from.

    ``to_bytes()`` is canonical (sorted keys, two-space indent, ASCII, trailing newline), and
    ``from_bytes()`` accepts only that form: one bundle has exactly one manifest encoding, so its
    digest is a stable fingerprint operators can read aloud.
    """

    kind: str
    repository: str
    ceremony_id: str
    created: str
    files: tuple[FileEntry, ...]
    journal_head: str | None = None
    version: int = BUNDLE_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The manifest as plain JSON data."""
        data: dict[str, Any] = {
            "format": BUNDLE_FORMAT,
            "version": self.version,
            "kind": self.kind,
            "repository": self.repository,
            "ceremony_id": self.ceremony_id,
            "created": self.created,
            "files": {f.name: {"size": f.size, "sha256": f.sha256} for f in self.files},
        }
        if self.journal_head is not None:
            data["journal_head"] = self.journal_head
        return data

    def to_bytes(self) -> bytes:
        """Canonical manifest bytes (what ``manifest.json`` holds)."""
        text = json.dumps(self.to_dict(), sort_keys=True, indent=2, ensure_ascii=True)
        return (text + "\n").encode("ascii")

    @property
    def digest(self) -> str:
        """SHA-256 (hex) of the canonical manifest: the bundle's fingerprint."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    @property
    def total_size(self) -> int:
        """Sum of the listed file sizes."""
        return sum(f.size for f in self.files)

    def entry(self, name: str) -> FileEntry | None:
        """The entry for ``name``, or None."""
        for f in self.files:
            if f.name == name:
                return f
        return None

    @classmethod
    def from_dict(cls, data: object, source: str = MANIFEST_NAME) -> Manifest:
        """Validate parsed JSON and build a manifest.

        Raises:
            VerificationError: any field missing, unknown, of the wrong type or out of range;
                the message names ``source`` and the field.
        """
        if not isinstance(data, dict):
            raise VerificationError(f"{source} is not a JSON object.")
        required = {"format", "version", "kind", "repository", "ceremony_id", "created", "files"}
        allowed = required | {"journal_head"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise VerificationError(f"{source} has an unknown field {unknown[0]!r}.")
        missing = sorted(required - set(data))
        if missing:
            raise VerificationError(f"{source} lacks the field {missing[0]!r}.")
        if data["format"] != BUNDLE_FORMAT:
            raise VerificationError(f"{source} is not a ceremony bundle manifest.")
        version = data["version"]
        if type(version) is not int or version != BUNDLE_VERSION:
            raise VerificationError(
                f"{source} has bundle format version {version!r}; this tool reads "
                f"version {BUNDLE_VERSION}."
            )
        kind = data["kind"]
        if not isinstance(kind, str) or kind not in KINDS:
            raise VerificationError(
                f"{source} has an unknown kind {kind!r} "
                f"(expected one of {', '.join(sorted(KINDS))})."
            )
        repository = _text_field(data, "repository", source)
        ceremony_id = _text_field(data, "ceremony_id", source)
        created = data["created"]
        if not isinstance(created, str) or not _valid_created(created):
            raise VerificationError(
                f"{source} has a 'created' time that is not of the form 2025-01-31T12:00:00Z."
            )
        journal_head = data.get("journal_head")
        if journal_head is not None and (
            not isinstance(journal_head, str) or not _JOURNAL_RE.fullmatch(journal_head)
        ):
            raise VerificationError(f"{source} has a malformed 'journal_head'.")
        files = _files_field(data["files"], source)
        manifest = cls(kind, repository, ceremony_id, created, files, journal_head, version)
        return manifest

    @classmethod
    def from_bytes(cls, raw: bytes, source: str = MANIFEST_NAME) -> Manifest:
        """Parse canonical manifest bytes.

        Raises:
            VerificationError: too large, not UTF-8 JSON, duplicate keys, invalid fields, or not
                in canonical form.
        """
        if len(raw) > MAX_MANIFEST_BYTES:
            raise VerificationError(
                f"{source} is {len(raw)} bytes, larger than any manifest ({MAX_MANIFEST_BYTES})."
            )
        try:
            text = raw.decode("utf-8")
            if json_depth(text, 8) > 8:  # a manifest nests 3 deep; refuse before the parser recurses
                raise VerificationError(f"{source} is not valid JSON (it nests too deep).")
            data = json.loads(text, object_pairs_hook=_no_duplicates)
        except _DuplicateKeyError as e:
            raise VerificationError(f"{source} repeats the key {e.args[0]!r}.") from None
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise VerificationError(f"{source} is not valid JSON.") from None
        manifest = cls.from_dict(data, source)
        if manifest.to_bytes() != raw:
            raise VerificationError(
                f"{source} is not in canonical form (it was edited or written by another tool)."
            )
        return manifest


@frozen
class Bundle:
    """A manifest and the bytes of every file it lists, checked against each other.

    Build one with :meth:`from_files` (export side) or :meth:`from_bytes` / ``usb.import_usb``
    (import side); both verify, so a ``Bundle`` in hand is internally consistent.
    """

    manifest: Manifest
    files: Mapping[str, bytes] = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", MappingProxyType(dict(self.files)))

    @classmethod
    def from_files(
        cls,
        kind: str,
        repository: str,
        ceremony_id: str,
        files: Mapping[str, bytes],
        journal_head: str | None = None,
        created: datetime | str | None = None,
    ) -> Bundle:
        """Build and verify a bundle from in-memory files (names must be plain file names).

        ``created`` defaults to now (UTC, whole seconds).

        Raises:
            VerificationError: a bad name, kind or text field, too many or too large files.
        """
        if created is None:
            created = datetime.now(UTC)
        if isinstance(created, datetime):
            created = created.astimezone(UTC).strftime(_CREATED_FORMAT)
        if len(files) > MAX_FILES:
            raise VerificationError(f"a bundle holds at most {MAX_FILES} files, not {len(files)}.")
        entries = []
        for name in sorted(files):
            data = files[name]
            check_file_name(name, "the bundle")
            if len(data) > MAX_FILE_BYTES:
                raise VerificationError(
                    f"{name} is {len(data)} bytes, larger than any metadata ({MAX_FILE_BYTES})."
                )
            entries.append(FileEntry(name, len(data), hashlib.sha256(data).hexdigest()))
        manifest = Manifest(kind, repository, ceremony_id, created, tuple(entries), journal_head)
        # Round-trip through the parser so export and import apply the very same rules.
        manifest = Manifest.from_bytes(manifest.to_bytes(), "the new bundle's manifest")
        bundle = cls(manifest, dict(files))
        bundle.verify()
        return bundle

    @property
    def digest(self) -> str:
        """The bundle fingerprint: SHA-256 (hex) of the canonical manifest."""
        return self.manifest.digest

    @property
    def folder_name(self) -> str:
        """A folder name for this bundle on a stick: readable, unique per bundle, plain."""
        stamp = self.manifest.created.replace("-", "").replace(":", "")
        repo = re.sub(r"[^A-Za-z0-9]+", "-", self.manifest.repository).strip("-")[:40] or "repo"
        return f"ceremony-{repo}-{self.manifest.kind}-{stamp}-{self.digest[:8]}"

    def verify(self) -> None:
        """Check that the files are exactly those listed, with the listed sizes and digests.

        Raises:
            VerificationError: naming the first file that is missing, extra or different.
        """
        listed = {f.name for f in self.manifest.files}
        for name in sorted(set(self.files) - listed):
            raise VerificationError(f"{name} is in the bundle but not listed in its manifest.")
        for entry in self.manifest.files:
            data = self.files.get(entry.name)
            if data is None:
                raise VerificationError(f"{entry.name} is listed in the manifest but missing.")
            check_content(entry, data, entry.name)

    def to_bytes(self) -> bytes:
        """One compact message: magic, manifest length, manifest, then the files in order."""
        manifest = self.manifest.to_bytes()
        parts = [_ENVELOPE_HEAD.pack(_ENVELOPE_MAGIC, len(manifest)), manifest]
        parts.extend(self.files[f.name] for f in self.manifest.files)
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "the bundle message") -> Bundle:
        """Parse and verify a message made by :meth:`to_bytes`.

        Raises:
            VerificationError: wrong magic, bad manifest, wrong length, or a digest mismatch.
        """
        if len(data) > MAX_BUNDLE_BYTES + MAX_MANIFEST_BYTES + _ENVELOPE_HEAD.size:
            raise VerificationError(f"{source} is larger than any bundle ({len(data)} bytes).")
        if len(data) < _ENVELOPE_HEAD.size or not data.startswith(_ENVELOPE_MAGIC):
            raise VerificationError(f"{source} is not a ceremony bundle.")
        _, mlen = _ENVELOPE_HEAD.unpack_from(data)
        start = _ENVELOPE_HEAD.size
        if mlen > MAX_MANIFEST_BYTES or start + mlen > len(data):
            raise VerificationError(f"{source} is truncated or has a bad manifest length.")
        manifest = Manifest.from_bytes(data[start : start + mlen], f"the manifest in {source}")
        offset = start + mlen
        expected = offset + manifest.total_size
        if expected != len(data):
            raise VerificationError(
                f"{source} is {len(data)} bytes but its manifest accounts for {expected}."
            )
        files = {}
        for entry in manifest.files:
            files[entry.name] = data[offset : offset + entry.size]
            offset += entry.size
        bundle = cls(manifest, files)
        bundle.verify()
        return bundle


def check_content(entry: FileEntry, data: bytes, where: str) -> None:
    """Check ``data`` against its manifest entry (size, then SHA-256).

    Raises:
        VerificationError: naming ``where`` and what differs.
    """
    if len(data) != entry.size:
        raise VerificationError(f"{where} is {len(data)} bytes but the manifest says {entry.size}.")
    actual = hashlib.sha256(data).hexdigest()
    if actual != entry.sha256:
        raise VerificationError(
            f"{where} does not match the manifest: SHA-256 is {actual[:16]}..., "
            f"expected {entry.sha256[:16]}...."
        )


class _DuplicateKeyError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(key)
        out[key] = value
    return out


def _text_field(data: dict[str, Any], key: str, source: str) -> str:
    value = data[key]
    # isprintable(): no lone surrogate ("\ud800" in JSON), no format or separator character.
    if not isinstance(value, str) or not _TEXT_RE.fullmatch(value) or len(value) > _MAX_TEXT \
            or not value.isprintable():
        raise VerificationError(
            f"{source} has a malformed {key!r} (text of 1 to {_MAX_TEXT} printable characters)."
        )
    return value


def _valid_created(value: str) -> bool:
    try:
        return datetime.strptime(value, _CREATED_FORMAT).strftime(_CREATED_FORMAT) == value
    except ValueError:
        return False


def _files_field(files: object, source: str) -> tuple[FileEntry, ...]:
    if not isinstance(files, dict):
        raise VerificationError(f"{source} has a 'files' field that is not an object.")
    if len(files) > MAX_FILES:
        raise VerificationError(
            f"{source} lists {len(files)} files; a bundle holds at most {MAX_FILES}."
        )
    entries = []
    seen_folded: dict[str, str] = {}
    total = 0
    for name in sorted(files):
        check_file_name(name, source)
        folded = name.lower()
        if folded in seen_folded:
            # FAT and exFAT sticks fold case: two such names would land on one file.
            raise VerificationError(
                f"{source} lists both {seen_folded[folded]!r} and {name!r}, "
                "which differ only in case."
            )
        seen_folded[folded] = name
        info = files[name]
        if not isinstance(info, dict) or set(info) != {"size", "sha256"}:
            raise VerificationError(f"{source} has a malformed entry for {name}.")
        size, digest = info["size"], info["sha256"]
        if type(size) is not int or size < 0:
            raise VerificationError(f"{source} gives {name} a size that is not a whole number.")
        if size > MAX_FILE_BYTES:
            raise VerificationError(
                f"{source} lists {name} at {size} bytes, larger than any metadata "
                f"({MAX_FILE_BYTES})."
            )
        if not isinstance(digest, str) or not _SHA256_RE.fullmatch(digest):
            raise VerificationError(f"{source} gives {name} a malformed SHA-256.")
        total += size
        entries.append(FileEntry(name, size, digest))
    if total > MAX_BUNDLE_BYTES:
        raise VerificationError(
            f"{source} lists {total} bytes in all, more than a bundle may carry "
            f"({MAX_BUNDLE_BYTES})."
        )
    return tuple(entries)
