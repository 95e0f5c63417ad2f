"""Walk a folder of ``N.root.json`` files from a trusted root, as a TUF client would.

Each version must be the next one, be signed by the previous root's threshold
and by its own, and the newest must not have expired. This is the check run on
metadata coming into a ceremony (``init --previous``, imports) and by
``ceremony verify``; python-tuf's ngclient is the independent check in tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tuf.api.metadata import Metadata, Root

from ceremony.errors import VerificationError
from ceremony.formats import tuf as tuf_format
from ceremony.formats.base import ThresholdStatus
from ceremony.inputs import check_json, read_input_file

MAX_ROOT_FILE = 1024 * 1024
_ROOT_FILE = re.compile(r"^([1-9][0-9]{0,9})\.root\.json$")


@dataclass(frozen=True)
class ChainReport:
    """The outcome of a successful walk."""

    trusted_version: int
    versions: list[int]
    statuses: list[ThresholdStatus]
    newest: Metadata[Root]
    newest_bytes: bytes

    @property
    def newest_version(self) -> int:
        """The version the chain ends at."""
        return self.newest.signed.version


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
    """The ``N.root.json`` files of a folder a ceremony continues from, starting at 1.

    Raises:
        VerificationError: no such folder, no root files, or the chain does not start at 1.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise VerificationError(f"the previous metadata folder {directory} does not exist")
    files = root_versions(directory)
    if not files:
        raise VerificationError(f"{directory} holds no N.root.json files")
    first = min(files)
    if first != 1:
        raise VerificationError(f"{directory} starts at root v{first}; the chain must start at 1.root.json")
    return files


def read_bounded(path: Path, limit: int, too_large: str) -> bytes:
    """Read a metadata file of at most ``limit`` bytes (``too_large`` says why not).

    Raises:
        VerificationError: missing, unreadable or oversize.
    """
    # A FIFO, device or folder in place of a file is refused without blocking.
    return read_input_file(path, limit, error=VerificationError, too_large=too_large)


def check_self_signed(md: Metadata[Root], what: str) -> ThresholdStatus:
    """A root must be signed by its own threshold (the trusted root included).

    Raises:
        VerificationError: it is not.
    """
    st = tuf_format.status(md, None)
    if not st.verified:
        raise VerificationError(f"{what} is not signed by its own root threshold: {st.new.describe()}")
    return st


def is_root_file(name: str) -> bool:
    """Whether ``name`` is an ``N.root.json`` file name."""
    return bool(_ROOT_FILE.match(name))


def root_versions(directory: Path) -> dict[int, Path]:
    """The ``N.root.json`` files in ``directory``, by version."""
    found = {}
    for p in directory.iterdir():
        m = _ROOT_FILE.match(p.name)
        if m:
            found[int(m.group(1))] = p
    return found


def walk(trusted_bytes: bytes, directory: Path, *, now: datetime | None = None,
         check_expiry: bool = True, trusted_name: str = "the trusted root") -> ChainReport:
    """Verify every root version in ``directory`` after the trusted one.

    Raises:
        VerificationError: a version is missing, repeated out of order, not signed at
            either threshold, or the newest has expired. The message names the file.
    """
    trusted = tuf_format.from_bytes(trusted_bytes, trusted_name)
    check_self_signed(trusted, trusted_name)
    return walk_versions(trusted, trusted_bytes, directory, tuf_format.from_bytes,
                         lambda md, previous, _name: tuf_format.status(md, previous),
                         now=now or datetime.now(timezone.utc), check_expiry=check_expiry)


def walk_versions(trusted: Any, trusted_bytes: bytes, directory: Path,
                  load: Callable[[bytes, str], Any],
                  status_of: Callable[[Any, Any, str], ThresholdStatus], *,
                  now: datetime, check_expiry: bool) -> ChainReport:
    """The client's walk after an already-checked trusted root, for any root format.

    ``load(data, name)`` parses one ``N.root.json``; ``status_of(md, previous_signed, name)``
    gives its thresholds (raising ``VerificationError`` for format-specific problems).

    Raises:
        VerificationError: a version is missing, out of order, below a threshold, or the
            newest has expired. The message names the file.
    """
    if not directory.is_dir():
        raise VerificationError(f"{directory} is not a folder")
    files = root_versions(directory)
    current, current_bytes = trusted, trusted_bytes
    versions, statuses = [], []
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
        current, current_bytes = md, data
        v += 1
    beyond = [n for n in newer if n >= v]
    if beyond:
        raise VerificationError(f"root version {v} is missing, but {files[beyond[0]].name} exists: "
                                "the chain has a gap")
    if check_expiry and current.signed.is_expired(now):
        raise VerificationError(
            f"the newest root (v{current.signed.version}) expired at "
            f"{current.signed.expires:%Y-%m-%d %H:%M:%S} UTC")
    return ChainReport(trusted.signed.version, versions, statuses, current, current_bytes)


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


def report_lines(report: Any, attested: Sequence[Any] = (), trust: Any = None) -> list[str]:
    """A verified chain in words: each version's thresholds, the newest root's expiry, and the
    root keys' attestations (``ceremony.attestation`` results) when there are any."""
    lines = [f"v{st.version}: ok - " + "; ".join(st.lines()) for st in report.statuses]
    lines.append(f"chain verified: newest root is v{report.newest_version}, expires "
                 f"{report.newest.signed.expires:%Y-%m-%d %H:%M:%S} UTC")
    if attested:
        against = f", against {trust.description}" if trust is not None else ""
        lines.append(f"root key attestations (v{report.newest_version}{against}):")
        lines += ["  " + a.line() for a in attested]
    return lines


@dataclass
class PublishedChain:
    """A verified chain of either format, with its root keys' attestations."""

    report: Any
    gun: str | None  # notary collections only
    trust: Any = None
    attested: list[Any] = field(default_factory=list)


def verify_published(trusted_path: Path, metadata_dir: Path, roots: Path | str | None = None,
                     trusted_name: str | None = None) -> PublishedChain:
    """Walk ``metadata_dir`` from the trusted root (TUF, or a notary collection) and re-check
    its newest root keys' YubiKey attestations: every key for TUF, and for notary only when
    its sidecar carries any (a notary root names no tokens otherwise).

    Raises:
        VerificationError: the chain does not verify.
        AttestationError: the attestation roots cannot be read.
    """
    from ceremony import attestation
    from ceremony.formats import notary_chain, notary_root
    trusted = read_root_file(Path(trusted_path))
    if notary_root.is_notary_root(trusted):
        report, gun = notary_chain.verify_directory(Path(metadata_dir), trusted=Path(trusted_path))
        out = PublishedChain(report, gun)
        if not any(attestation.stored(k) for k in report.newest.signed.role_keys("root")):
            return out
    else:
        out = PublishedChain(walk(trusted, Path(metadata_dir), trusted_name=trusted_name or str(trusted_path)),
                             None)
    out.trust, out.attested = attestation.check_root(out.report.newest.signed, roots)
    return out

