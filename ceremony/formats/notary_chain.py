"""Notary v1 root chains: walking ``N.root.json`` from a trusted root, and the collection's
online roles beside it. Pure functions over files; thresholds and views from
:mod:`ceremony.formats.notary_root`, the keyholder sidecar from :mod:`ceremony.formats.notary_files`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from ceremony.chain import ChainReport, read_root_file, root_versions, walk_versions
from ceremony.errors import VerificationError
from ceremony.formats.base import ThresholdStatus
from ceremony.formats.notary_files import SIDECAR, read_sidecar
from ceremony.formats.notary_json import assert_reserializes, parse, parse_expiry
from ceremony.formats.notary_root import (
    ONLINE_ROLES,
    Identities,
    NotaryMetadata,
    NotaryRoot,
    role_file_problems,
    root_problems,
    status,
)
from ceremony.formats.notary_x509 import gun_problem


def infer_gun(root: NotaryRoot) -> str:
    """The GUN a root is for: the common CN of its root certificates.

    Raises:
        VerificationError: the certificates disagree, are wildcards, or cannot be read.
    """
    names = set()
    for key in root.role_keys("root"):
        try:
            leaf = key.certificates()[0]
        except VerificationError as exc:
            raise VerificationError(f"cannot tell the GUN of root v{root.version}: {exc.message}") from exc
        values = leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        names.add(str(values[0].value) if values else "")
    if len(names) != 1 or "" in names or any(n.endswith("*") for n in names):
        raise VerificationError(
            f"cannot tell the GUN of root v{root.version} from its certificates "
            f"(CNs: {', '.join(sorted(names)) or 'none'})",
            hint="name it with --gun",
        )
    return names.pop()


def _root_file(data: bytes, what: str, identities: Identities | None) -> NotaryMetadata:
    try:
        assert_reserializes(data)
    except VerificationError as exc:
        raise VerificationError(f"{what}: {exc.message}") from None
    return NotaryMetadata.from_bytes(data, what, identities)


def walk(
    trusted_bytes: bytes,
    directory: Path,
    *,
    gun: str | None = None,
    now: datetime | None = None,
    check_expiry: bool = True,
    trusted_name: str = "the trusted root",
    identities: Identities | None = None,
    files: dict[int, Path] | None = None,
) -> ChainReport:
    """Verify every notary root version in ``directory`` after the trusted one, as the client.

    Each ``N.root.json`` must be the next version, in notary's byte-exact form, signed by the
    previous root's threshold of its certificates and by its own threshold of certificates
    valid for the GUN (and, with ``check_expiry``, valid now); the newest must not be expired.

    Raises:
        VerificationError: the first problem, naming the file.
    """
    trusted = _root_file(trusted_bytes, trusted_name, identities)
    gun = gun or infer_gun(trusted.signed)
    problem = gun_problem(gun)
    if problem:
        raise VerificationError(f"{gun!r} is not a valid notary GUN: {problem}")
    moment = now or datetime.now(UTC)
    problems = root_problems(trusted.signed, gun, now=moment, check_expiry=False)
    if problems:
        raise VerificationError(f"{trusted_name}: " + "; ".join(problems))
    st = status(trusted, None, gun, now=moment, check_expiry=False, what=trusted_name)
    if not st.verified:
        raise VerificationError(
            f"{trusted_name} is not signed by its own root threshold: {st.new.describe()}"
        )

    def status_of(md: Any, previous: Any, name: str) -> ThresholdStatus:
        problems = root_problems(md.signed, gun, now=moment, check_expiry=check_expiry)
        if problems:
            raise VerificationError(f"{name}: " + "; ".join(problems))
        return status(md, previous, gun, now=moment, check_expiry=check_expiry, what=name)

    return walk_versions(trusted, trusted_bytes, directory,  # views stand in for Metadata[Root]
                         lambda data, name: _root_file(data, name, identities), status_of,
                         now=moment, check_expiry=check_expiry, trusted_name=trusted_name,
                         files=files)


def verify_directory(
    directory: Path, *, trusted: Path | None = None, gun: str | None = None,
    now: datetime | None = None,
) -> tuple[ChainReport, str]:
    """``walk`` a metadata folder from ``trusted`` (default ``1.root.json``), naming keyholders
    from its ``ceremony-keys.json`` when present; the GUN defaults to the certificates' CN.

    Returns:
        (the report, the GUN checked).

    Raises:
        VerificationError: the chain (or the sidecar) does not verify.
    """
    directory = Path(directory)
    trusted = Path(trusted) if trusted else directory / "1.root.json"
    trusted_bytes = read_root_file(trusted)
    gun = gun or infer_gun(NotaryMetadata.from_bytes(trusted_bytes, str(trusted)).signed)
    identities = None
    sidecar = directory / SIDECAR
    if sidecar.is_file():
        known: set[str] = set()
        for path in root_versions(directory).values():
            known |= set(NotaryMetadata.from_bytes(read_root_file(path), path.name).signed.keys)
        identities = read_sidecar(read_root_file(sidecar), gun, known, str(sidecar))
    report = walk(trusted_bytes, directory, gun=gun, now=now, trusted_name=str(trusted),
                  identities=identities)
    return report, gun


def online_expiries(directory: Path, root: NotaryRoot) -> dict[str, dict[str, object]]:
    """Version and expiry of targets/snapshot/timestamp.json beside a chain, checked against
    ``root`` (shown by ``ceremony status``; never used for anything else)."""
    out: dict[str, dict[str, object]] = {}
    for role in ONLINE_ROLES:
        path = directory / f"{role}.json"
        if not path.is_file():
            continue
        try:
            data = read_root_file(path)
            document = parse(data)
            expires = parse_expiry(str(document.signed.get("expires")))
            version = document.signed.get("version")
        except VerificationError:
            continue
        out[role] = {
            "version": version,
            "verified": not role_file_problems(data, root, role),
            "expires": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    return out
