"""Walk a folder of ``N.root.json`` files from a trusted root, as a TUF client would.

Each version must be the next one, be signed by the previous root's threshold
and by its own, and the newest must not have expired. This is the check run on
metadata coming into a ceremony (``init --previous``, imports) and by
``ceremony verify``; python-tuf's ngclient is the independent check in tests.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tuf.api.metadata import Metadata, Root

from ceremony import attestation
from ceremony.errors import RootExpiredError, VerificationError
from ceremony.formats import tuf as tuf_format
from ceremony.formats.base import ROOT_FILE, ThresholdStatus, is_root_file as is_root_file
from ceremony.formats.registry import detect
from ceremony.formats.tuf_layout import history_folders
from ceremony.frozen import frozen
from ceremony.inputs import check_json, read_input_file

MAX_ROOT_FILE = 1024 * 1024
_ROOT_FILE = re.compile(f"^{ROOT_FILE}$")
# Names that look like a root version but that no client ever asks for (``02.root.json``,
# ``0.root.json``, an 11-digit version): a publishing mistake, named rather than ignored.
_LOOKALIKE = re.compile(r"^[0-9]+\.root\.json$")


@frozen
class ChainReport:
    """The outcome of a successful walk."""

    trusted_version: int
    versions: list[int]
    statuses: list[ThresholdStatus]
    newest: Metadata[Root]
    newest_bytes: bytes
    trusted_bytes: bytes = b""
    # One entry per version walked, the trusted one first: its file, sha256 and expiry.
    details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def newest_version(self) -> int:
        """The version the chain ends at."""
        return self.newest.signed.version

    def expired(self, at: datetime) -> bool:
        """Whether the newest root has expired at ``at``."""
        return bool(self.newest.signed.is_expired(at))


def read_root_file(path: Path) -> bytes:
    """Read a root file, refusing one far larger than any root.

    Raises:
        VerificationError: missing, unreadable or oversize.
    """
    data = read_bounded(path, MAX_ROOT_FILE, "far larger than any root metadata")
    # Strict JSON before any other parser sees it: no NaN, no duplicate keys, no lone
    # surrogates, no nesting that would exhaust a recursive parser.
    return check_json(data, path.name)


def previous_root_files(directory: Path) -> dict[int, Path]:
    """The ``N.root.json`` files of a chain a ceremony continues from, at any version.

    ``directory`` is a chain folder (any versions, e.g. an online repository's metadata),
    a continuing workspace's ``metadata/`` (which holds only what that workspace published:
    the chain it continued is in its ``previous/`` beside it, and is taken too), or that
    workspace itself. Nothing here is trusted yet: the caller walks it from a trusted start.

    Raises:
        VerificationError: no such folder, no root files, or two copies of one version differ.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise VerificationError(f"the previous metadata folder {directory} does not exist")
    folders = [directory]
    if (directory / "journal.jsonl").is_file() and (directory / "metadata").is_dir():
        folders = [directory / "previous", directory / "metadata"]  # a workspace named itself
    elif directory.name == "metadata" and (directory.parent / "journal.jsonl").is_file():
        folders = [directory.parent / "previous", directory]
    folders += history_folders(directory)  # a tuf-on-ci repository: metadata/root_history/
    files: dict[int, Path] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        for v, path in root_versions(folder).items():
            if v in files and read_root_file(files[v]) != read_root_file(path):
                raise VerificationError(f"{files[v]} and {path} are two different root v{v}",
                                        hint="a workspace's previous/ and metadata/ must agree")
            files.setdefault(v, path)
    if not files:
        raise VerificationError(f"{directory} holds no N.root.json files")
    return files


def trusted_start(files: dict[int, Path], trusted: Path | None) -> tuple[bytes, str]:
    """The root a previous chain is walked from: ``trusted`` when given (any version; the
    folder's copy of that version must then be identical, which the walk checks), else the
    oldest ``N.root.json`` present, taken on trust. Returns its bytes and a name for it.

    Raises:
        VerificationError: ``trusted`` cannot be read.
    """
    if trusted is not None:
        return read_root_file(Path(trusted)), str(trusted)
    first = min(files)
    return read_root_file(files[first]), files[first].name


def read_bounded(path: Path, limit: int, too_large: str) -> bytes:
    """Read a metadata file of at most ``limit`` bytes (``too_large`` says why not).

    The file is opened without blocking and must be a regular file: a FIFO or a device
    named as metadata is refused at once instead of hanging the command.

    Raises:
        VerificationError: missing, not a regular file, unreadable or oversize.
    """
    # A FIFO, device or folder in place of a file is refused without blocking.
    return read_input_file(path, limit, error=VerificationError, too_large=too_large)


def check_self_signed(md: Metadata[Root], what: str) -> ThresholdStatus:
    """A root must be signed by its own threshold (the trusted root included), and a root
    v1 by its own root keys only (:func:`ceremony.formats.tuf.status`).

    Raises:
        VerificationError: it is not, or a v1 carries a signature by a key it does not list
            in its root role.
    """
    st = tuf_format.status(md, None, what)
    if not st.verified:
        raise VerificationError(f"{what} is not signed by its own root threshold: {st.new.describe()}")
    return st


def root_versions(directory: Path) -> dict[int, Path]:
    """The ``N.root.json`` files in ``directory``, by version."""
    found = {}
    for p in directory.iterdir():
        m = _ROOT_FILE.match(p.name)
        if m:
            found[int(m.group(1))] = p
    return found


def walk(trusted_bytes: bytes, directory: Path, *, now: datetime | None = None,
         check_expiry: bool = True, trusted_name: str = "the trusted root",
         files: dict[int, Path] | None = None) -> ChainReport:
    """Verify every root version in ``directory`` (or ``files``) after the trusted one.

    The trusted root may be any version: the walk starts at the one after it.

    Raises:
        VerificationError: a version is missing, repeated out of order, not signed at
            either threshold, or the folder's copy of the trusted version differs from it.
            The message names the file.
        RootExpiredError: ``check_expiry`` and the newest root has expired at ``now``.
    """
    trusted = tuf_format.from_bytes(trusted_bytes, trusted_name)
    check_self_signed(trusted, trusted_name)
    return walk_versions(trusted, trusted_bytes, directory, tuf_format.from_bytes,
                         lambda md, previous, name: tuf_format.status(md, previous, name),
                         now=now or datetime.now(UTC), check_expiry=check_expiry,
                         trusted_name=trusted_name, files=files)


def lookalike_names(directory: Path) -> list[str]:
    """Files named like a root version that no client fetches (leading zeros, version 0)."""
    return sorted(p.name for p in directory.iterdir()
                  if _LOOKALIKE.match(p.name) and not _ROOT_FILE.match(p.name))


def walk_versions(trusted: Any, trusted_bytes: bytes, directory: Path,
                  load: Callable[[bytes, str], Any],
                  status_of: Callable[[Any, Any, str], ThresholdStatus], *,
                  now: datetime, check_expiry: bool, trusted_name: str = "the trusted root",
                  files: dict[int, Path] | None = None) -> ChainReport:
    """The client's walk after an already-checked trusted root, for any root format.

    ``load(data, name)`` parses one ``N.root.json``; ``status_of(md, previous_signed, name)``
    gives its thresholds (raising ``VerificationError`` for format-specific problems).
    ``files`` (version -> path) replaces the folder's own listing when given.

    Raises:
        VerificationError: a version is missing, out of order or below a threshold, a file
            is named like a version no client fetches, or the folder's copy of the trusted
            version differs from the trusted root. The message names the file.
        RootExpiredError: ``check_expiry`` and the newest root has expired at ``now``.
    """
    if files is None:
        if not directory.is_dir():
            raise VerificationError(f"{directory} is not a folder")
        odd = lookalike_names(directory)
        if odd:
            raise VerificationError(f"{odd[0]} in {directory} is named like a root version but no "
                                    "client fetches it (versions have no leading zero and start "
                                    "at 1)", hint="remove it, or give it its version's exact name")
        files = root_versions(directory)
    own = files.get(trusted.signed.version)
    if own is not None and read_root_file(own) != trusted_bytes:
        raise VerificationError(
            f"{own.name} in {own.parent} differs from the trusted root ({trusted_name}), which is "
            f"also v{trusted.signed.version}: one of them was changed")
    current, current_bytes = trusted, trusted_bytes
    versions, statuses = [], []
    details = [_detail(trusted, trusted_bytes, trusted_name)]
    v = trusted.signed.version + 1
    newer = sorted(n for n in files if n >= v)
    while v in files:
        path = files[v]
        data = read_root_file(path)
        md = load(data, path.name)
        if md.signed.version != v:
            raise VerificationError(
                f"{path.name} holds root version {md.signed.version}, not {v}: "
                + ("a rolled-back version" if md.signed.version < v else "a mislabelled version"))
        st = status_of(md, current.signed, path.name)
        if not st.verified:
            failing = [x.describe() for x in (st.old, st.new) if x is not None and not x.met]
            raise VerificationError(f"{path.name} is not signed at threshold: " + "; ".join(failing))
        versions.append(v)
        statuses.append(st)
        details.append(_detail(md, data, path.name))
        current, current_bytes = md, data
        v += 1
    beyond = [n for n in newer if n >= v]
    if beyond:
        raise VerificationError(f"root version {v} is missing, but {files[beyond[0]].name} exists: "
                                "the chain has a gap")
    report = ChainReport(trusted.signed.version, versions, statuses, current, current_bytes,
                         trusted_bytes, details)
    if check_expiry and current.signed.is_expired(now):
        raise expired_error(report)
    return report


def _detail(md: Any, data: bytes, name: str) -> dict[str, Any]:
    return {"version": md.signed.version, "file": name,
            "sha256": hashlib.sha256(data).hexdigest(),
            "expires": md.signed.expires.strftime("%Y-%m-%dT%H:%M:%SZ")}


def chain_entries(report: ChainReport, at: datetime) -> list[dict[str, Any]]:
    """One object per root version walked (``--json``): file, digest, expiry, thresholds."""
    out = []
    for i, detail in enumerate(report.details):
        entry = dict(detail, trusted=i == 0)
        if i > 0:
            entry.update(report.statuses[i - 1].to_dict())
        entry["expired"] = report.newest.signed.is_expired(at) if i == len(report.details) - 1 \
            else None  # only the newest root's expiry decides anything
        out.append(entry)
    return out


def verified_copies(report: ChainReport, files: dict[int, Path]) -> dict[str, bytes]:
    """The bytes of every version the walk verified (``N.root.json`` -> bytes), read again
    and checked against the digests the walk recorded, so what is copied is what was checked.

    Raises:
        VerificationError: a file changed after it was verified.
    """
    out = {f"{report.trusted_version}.root.json": report.trusted_bytes}
    for detail in report.details[1:]:
        path = files[detail["version"]]
        data = read_root_file(path)
        if hashlib.sha256(data).hexdigest() != detail["sha256"]:
            raise VerificationError(f"{path} changed while the chain was being verified",
                                    hint="nothing was written; run the command again")
        out[path.name] = data
    return out


def expired_error(report: ChainReport) -> RootExpiredError:
    """The verdict on a chain that verifies but whose newest root has expired."""
    return RootExpiredError(
        f"the newest root (v{report.newest_version}) expired at "
        f"{report.newest.signed.expires:%Y-%m-%d %H:%M:%S} UTC",
        hint="every version verified; clients refuse an expired root: a new root version "
             "(same keys) renews it. To audit the chain as it stood at a time, give --at")


def root_json_line(directory: Path, report: ChainReport, load: Callable[[bytes, str], Any]) -> str:
    """Check ``root.json``, the file a client fetches first, against the newest ``N.root.json``.

    Returns:
        One line for the room (``root.json`` is absent, or is the newest root).

    Raises:
        VerificationError: ``root.json`` is empty, not root metadata, another version, or a
            changed copy of the newest one.
    """
    path = directory / "root.json"
    newest = f"{report.newest_version}.root.json"
    if not path.exists():
        return f"root.json: absent from {directory} (clients bootstrap from {newest})"
    data = read_bounded(path, MAX_ROOT_FILE, "far larger than any root metadata")  # JSON or not
    if not data.strip():
        raise VerificationError(f"{path} is empty: a client fetching root.json gets no root, "
                                f"it must be a copy of {newest}")
    if data == report.newest_bytes:
        return f"root.json: the newest root ({newest}), byte for byte"
    try:
        md = load(data, "root.json")
    except VerificationError as e:
        raise VerificationError(f"{path} is not root metadata ({e.message}); it must be a copy "
                                f"of {newest}") from None
    got = md.signed.version
    if got != report.newest_version:
        raise VerificationError(f"{path} holds root v{got}, not the newest v{report.newest_version}: "
                                f"a client fetching root.json lands on v{got}; it must be a copy "
                                f"of {newest}")
    raise VerificationError(f"{path} differs from {newest} although both say v{got}: one was "
                            "changed after publishing; root.json must be a byte-for-byte copy")


def online_expiries(directory: Path, root: Root) -> dict[str, dict[str, object]]:
    """Version and expiry of the newest targets/snapshot/timestamp beside a root chain.

    Each is checked against ``root``'s keys for its role; one that does not verify is
    reported as such (it is shown, never used for anything else).
    """
    out: dict[str, dict[str, object]] = {}
    for role in tuf_format.ONLINE_ROLES:
        candidates = [p for p in directory.glob(f"*{role}.json")
                      if p.name == f"{role}.json" or p.name.split(".")[0].isdigit()]
        best = None
        for p in candidates:
            try:
                md = Metadata.from_bytes(read_root_file(p))
            except (VerificationError, ValueError, KeyError, TypeError, Exception):  # noqa: BLE001
                continue
            if md.signed.type != role:
                continue
            if best is None or md.signed.version > best.signed.version:
                best = md
        if best is None:
            continue
        # counted by distinct public key, not by id (ceremony.keyids)
        verified = tuf_format.role_verdict(role, root, role, best.signed_bytes, best.signatures).met
        out[role] = {"version": best.signed.version, "verified": verified,
                     "expires": best.signed.expires.strftime("%Y-%m-%dT%H:%M:%SZ")}
    return out


def report_lines(report: Any, attested: Sequence[Any] = (), trust: Any = None,
                 at: datetime | None = None) -> list[str]:
    """A verified chain in words: each version's thresholds, the newest root's expiry (at
    ``at``, default now), and the root keys' attestations (``ceremony.attestation`` results)
    when there are any."""
    lines = [f"v{st.version}: ok - " + "; ".join(st.lines()) for st in report.statuses]
    expires = f"{report.newest.signed.expires:%Y-%m-%d %H:%M:%S} UTC"
    if report.newest.signed.is_expired(at or datetime.now(UTC)):
        lines.append(f"chain verified up to v{report.newest_version}, but the newest root "
                     f"EXPIRED at {expires}")
    else:
        lines.append(f"chain verified: newest root is v{report.newest_version}, expires {expires}")
    return lines + attestation_lines(report, attested, trust)


def attestation_lines(report: Any, attested: Sequence[Any], trust: Any) -> list[str]:
    """The newest root keys' attestations in words (nothing when there are none)."""
    if not attested:
        return []
    against = f", against {trust.description}" if trust is not None else ""
    return [f"root key attestations (v{report.newest_version}{against}):",
            *["  " + a.line() for a in attested]]


@dataclass
class PublishedChain:
    """A verified chain of either format, with its root keys' attestations, and what the
    rest of the published folder says (``root.json``, the online roles)."""

    report: Any
    gun: str | None  # notary collections only
    trust: Any = None
    attested: list[Any] = field(default_factory=list)
    folder: list[str] = field(default_factory=list)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def expired(self) -> bool:
        """Whether the newest root has expired at the instant the chain was judged."""
        return bool(self.report.expired(self.at))


def verify_published(trusted_path: Path, metadata_dir: Path, roots: Path | str | None = None,
                     trusted_name: str | None = None, *, at: datetime | None = None,
                     check_expiry: bool = True,
                     files: dict[int, Path] | None = None) -> PublishedChain:
    """Check ``metadata_dir`` as a client will read it, from the trusted root (any version).

    Walks the chain (TUF, or a notary collection), checks ``root.json`` is the newest root
    byte for byte, follows timestamp -> snapshot -> targets when they are there (TUF), and
    re-checks the newest root keys' YubiKey attestations: every key for TUF, and for notary
    only when its sidecar carries any (a notary root names no tokens otherwise). Expiry is
    judged at ``at`` (default now). ``files`` (TUF) names the root versions when they are
    not all in ``metadata_dir`` (a continuing workspace: ``previous/`` and ``metadata/``).

    Raises:
        VerificationError: the chain or a file a client fetches does not verify.
        RootExpiredError: ``check_expiry`` and the newest root has expired at ``at``.
        AttestationError: the attestation roots cannot be read.
    """
    moment = at or datetime.now(UTC)
    trusted = read_root_file(Path(trusted_path))
    out, attest = detect(trusted).read_published(Path(metadata_dir), Path(trusted_path), trusted,
                                                 trusted_name or str(trusted_path), moment,
                                                 files)
    if not attest:
        return out
    out.trust, out.attested = attestation.check_root(out.report.newest.signed, roots)
    if check_expiry and out.expired:
        raise expired_error(out.report)
    return out
