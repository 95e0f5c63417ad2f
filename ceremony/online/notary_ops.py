"""The online workflows of a Notary v1 collection, beside :mod:`ceremony.online.notary`.

``ceremony notary fetch-keys | tagging-key | publish | verify`` (:mod:`ceremony.cli.notary`)
parse and print; the work, and every check before anything is written or sent, is here, so
the CLI, the benchmarks and any other face share one path. Online side only: the offline
ceremony never imports this module.

* :func:`fetch_keys`: the server's timestamp and snapshot public keys, as key files the plan
  names; refused when they are not the keys of the collection's current root, unless the
  server-held keys are being rotated on purpose (``new_server_keys``).
* :func:`tagging_key`: a new tagging (targets) key for a publisher (PKCS#8 PEM, 0600, never
  overwritten) and its public key file for the plan.
* :func:`publish_collection`: the newest root of a ceremony's metadata folder, with a targets.json
  re-signed by the new tagging key when the root is new or changes the targets key, in ONE
  request; everything self-checked first, local files kept on a refusal.
* :func:`verify_collection`: the chain walked as notary's client does, and what a server serves.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from tuf.api.metadata import Root

from ceremony import chain
from ceremony.errors import VerificationError, WorkspaceError
from ceremony.formats.notary_chain import verify_directory, walk
from ceremony.formats.notary_files import key_file_bytes
from ceremony.formats.notary_json import assert_reserializes
from ceremony.formats.notary_keys import ECDSA, entry_key_id, key_id, spki_der
from ceremony.formats.notary_root import NotaryMetadata, NotaryRoot, role_file_problems, root_problems
from ceremony.formats.notary_x509 import validate_gun
from ceremony.online.notary import (
    NotaryServer,
    fetch_metadata,
    fetch_server_key,
    generate_tagging_key,
    initial_targets,
    load_tagging_key,
    publish,
    resign_targets,
    tagging_key_entry,
    write_tagging_key,
)
from ceremony.workspace import atomic_write

__all__ = [
    "NotaryServer",
    "fetch_keys",
    "publish_collection",
    "tagging_key",
    "verify_collection",
]


def fetch_keys(
    server: NotaryServer,
    gun: str,
    out: Path,
    *,
    previous: Path | None = None,
    new_server_keys: bool = False,
) -> dict[str, Any]:
    """Fetch the server's timestamp and snapshot keys for ``gun`` into ``out``.

    The keys are compared with the collection's current root: the newest root of the local
    chain ``previous`` when given, else the root the server serves (if any).

    Returns:
        role -> {"file", "keyid", "replaces"}.

    Raises:
        VerificationError: a key is not the current root's and ``new_server_keys`` is not set.
        RemoteError: the server refused or could not be reached.
        WorkspaceError: a key file already exists.
    """
    validate_gun(gun)
    reference: Root | NotaryRoot | None = None  # a notary walk's report holds NotaryRoot views
    source = ""
    if previous is not None:
        first = Path(previous) / "1.root.json"
        report = walk(chain.read_root_file(first), Path(previous), gun=gun, check_expiry=False,
                      trusted_name=str(first))
        reference, source = report.newest.signed, f"root v{report.newest_version} in {previous}"
    else:
        current = fetch_metadata(server, gun, "root")
        if current is not None:
            reference = NotaryMetadata.from_bytes(current, f"the server's root of {gun}").signed
            source = f"the server's current root v{reference.version}"
    entries = {role: fetch_server_key(server, gun, role) for role in ("timestamp", "snapshot")}
    replaces: dict[str, list[str]] = {}
    for role, entry in entries.items():
        keyid = entry_key_id(entry)
        if reference is None:
            continue
        old = sorted(reference.roles[role].keyids)
        if keyid in old:
            continue
        if not new_server_keys:
            raise VerificationError(
                f"the server's {role} key for {gun} ({keyid[:12]}) is not the {role} key of "
                f"{source} ({', '.join(k[:12] for k in old)}): this server does not hold the "
                "collection's keys (another server, or one rebuilt since that root was signed)",
                hint="check --server; after a server compromise and rebuild, run again with "
                "--new-server-keys to rotate the server-held keys on purpose",
            )
        replaces[role] = old
    out = Path(out)
    result = {}
    for role, entry in entries.items():
        path = out / f"{role}.pub.json"
        atomic_write(path, key_file_bytes(entry, gun=gun, role=role, fetched_from=server.url,
                                          replaces=replaces.get(role)), exclusive=True)
        result[role] = {"file": str(path), "keyid": entry_key_id(entry),
                        "replaces": replaces.get(role)}
    return result


def tagging_key(gun: str, out: Path) -> dict[str, Any]:
    """Make a tagging key: ``out`` (PKCS#8 PEM for ``notary key import``) + its .pub.json.

    Raises:
        WorkspaceError: either file exists (nothing is written then).
        PlanError: the GUN is not valid for notary.
    """
    validate_gun(gun)
    out = Path(out)
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    public = out.with_name(stem + ".pub.json")
    for path in (out, public):
        if path.exists():
            raise WorkspaceError(f"{path} already exists; the tagging key was not written")
    if not out.parent.is_dir():
        raise WorkspaceError(f"the folder {out.parent} does not exist; the tagging key was not written")
    key = generate_tagging_key()
    keyid = write_tagging_key(out, key, gun)
    atomic_write(public, key_file_bytes(tagging_key_entry(key), gun=gun, role="targets"),
                 exclusive=True)
    return {"private": str(out), "public": str(public), "keyid": keyid}


def _local_chain(metadata_dir: Path, gun: str) -> tuple[Any, bytes, Any]:
    """(newest root metadata, its bytes, the root before it or None), all verified locally."""

    data = chain.read_root_file(metadata_dir / "root.json")
    try:
        assert_reserializes(data)
    except VerificationError as exc:
        raise VerificationError(f"refusing to upload root.json: {exc.message}") from None
    md = NotaryMetadata.from_bytes(data, "root.json")
    version = md.signed.version
    files = chain.root_versions(metadata_dir)
    if files.get(version) is None or files[version].read_bytes() != data:
        raise VerificationError(f"root.json (v{version}) is not {version}.root.json of "
                                f"{metadata_dir}")
    if 1 not in files:
        raise VerificationError(f"{metadata_dir} must hold the chain from 1.root.json",
                                hint="publish the ceremony's metadata folder as it is")
    report = walk(chain.read_root_file(files[1]), metadata_dir, gun=gun,
                  trusted_name=files[1].name)
    if report.newest_version != version:
        raise VerificationError(f"{metadata_dir} holds root v{report.newest_version}, newer "
                                f"than root.json (v{version})")
    problems = root_problems(md.signed, gun)
    if problems:
        raise VerificationError(f"refusing to upload root v{version}: " + "; ".join(problems))
    previous = (NotaryMetadata.from_bytes(files[version - 1].read_bytes(), "previous root")
                if version > 1 else None)
    return md, data, previous


def publish_collection(
    metadata_dir: Path,
    server: NotaryServer,
    gun: str,
    targets_key: Path | None = None,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Upload the newest root of ``metadata_dir`` for ``gun``, with re-signed targets if needed.

    Returns:
        {"version", "uploaded": [roles], "already": bool, "targets_file"}.

    Raises:
        VerificationError: a local check failed (nothing was sent).
        RemoteError: the server refused (its text is in the message) or is unreachable.
    """
    validate_gun(gun)
    metadata_dir = Path(metadata_dir)
    md, data, previous = _local_chain(metadata_dir, gun)
    version = md.signed.version
    current = fetch_metadata(server, gun, "root")
    if current == data:
        return {"version": version, "uploaded": [], "already": True, "targets_file": None}
    new_targets = sorted(md.signed.roles["targets"].keyids)
    swap = previous is None or sorted(previous.signed.roles["targets"].keyids) != new_targets
    files = {"root": data}
    targets_file = None
    if swap:
        if targets_key is None:
            raise VerificationError(
                f"refusing to upload root v{version}: it "
                + ("starts the collection" if previous is None else "changes the targets key")
                + " and needs a targets.json signed by the new tagging key, or every client "
                "fails with 'valid signatures did not meet threshold for targets'",
                hint="give the new tagging key with --targets-key FILE (from `ceremony notary "
                "tagging-key`); root and the re-signed targets.json go up together",
            )
        key = load_tagging_key(targets_key, gun)
        keyid = key_id(ECDSA, spki_der(key.public_key()))
        if keyid not in new_targets:
            raise VerificationError(
                f"the tagging key in {targets_key} ({keyid[:12]}) is not the targets key of "
                f"root v{version} ({', '.join(k[:12] for k in new_targets)})")
        if previous is None:
            targets = initial_targets(key, now=now)
        else:
            if current is None:
                raise VerificationError(f"the server has no trust data for {gun}; publish the "
                                        "chain from 1.root.json first")
            if current != (metadata_dir / f"{version - 1}.root.json").read_bytes():
                raise VerificationError(
                    f"the server's current root of {gun} is not root v{version - 1} of "
                    f"{metadata_dir}: refusing to re-sign a targets.json this ceremony cannot "
                    "verify",
                    hint="publish the missing versions first, or check --server and --gun")
            served = fetch_metadata(server, gun, "targets")
            if served is None:
                raise VerificationError(f"the server has no targets.json for {gun}")
            problems = role_file_problems(served, previous.signed, "targets")
            if problems:
                raise VerificationError(
                    "the server's targets.json does not verify against root "
                    f"v{previous.signed.version}: " + "; ".join(problems)
                    + "; refusing to re-sign it with the new tagging key")
            targets = resign_targets(served, key, now=now)
        targets_file = metadata_dir / "targets.json"
        atomic_write(targets_file, targets)  # kept: a refusal loses nothing
        files["targets"] = targets
    publish(server, gun, files)
    if fetch_metadata(server, gun, "root") != data:
        raise VerificationError(f"the server accepted root v{version} but serves other bytes")
    return {"version": version, "uploaded": list(files), "already": False,
            "targets_file": str(targets_file) if targets_file else None}


def verify_collection(
    metadata_dir: Path,
    *,
    trusted: Path | None = None,
    gun: str | None = None,
    server: NotaryServer | None = None,
) -> tuple[Any, list[str]]:
    """Walk ``metadata_dir``'s chain (and, with ``server``, compare what it serves).

    Returns:
        (the chain report, lines for people).

    Raises:
        VerificationError: the chain, or what the server serves, does not verify.
        RemoteError: the server could not be reached.
    """
    metadata_dir = Path(metadata_dir)
    trusted = Path(trusted) if trusted else metadata_dir / "1.root.json"
    report, gun = verify_directory(metadata_dir, trusted=trusted, gun=gun)
    lines = [f"trusted root v{report.trusted_version} ({trusted}) for {gun}",
             *chain.report_lines(report)]
    if server is not None:

        for v in [report.trusted_version, *report.versions]:
            served = fetch_metadata(server, gun, "root", version=v)
            local = chain.read_root_file(metadata_dir / f"{v}.root.json")
            if served != local:
                raise VerificationError(f"the server's {v}.root.json for {gun} is not the local "
                                        "one" if served else f"the server has no {v}.root.json")
        if fetch_metadata(server, gun, "root") != report.newest_bytes:
            raise VerificationError(f"the server's current root for {gun} is not root "
                                    f"v{report.newest_version}")
        targets = fetch_metadata(server, gun, "targets")
        newest = report.newest.signed
        problems = (role_file_problems(targets, newest, "targets")  # type: ignore[arg-type]
                    if targets is not None else ["the server has no targets.json"])
        if problems:
            raise VerificationError("; ".join(problems) + ": every client fails "
                                    "('valid signatures did not meet threshold for targets')")
        lines.append(f"server {server.url} serves this chain, and a targets.json signed by "
                     f"root v{report.newest_version}'s targets key")
    return report, lines
