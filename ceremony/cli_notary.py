"""``ceremony notary …``: the ONLINE side of a Notary v1 collection. Never on the ceremony laptop.

The offline ceremony (``ceremony init/keygen/draft/sign/status/publish/verify`` with
``format = "notary"``) never opens a socket. What needs the network, or the publisher's
software tagging key, is here, under its own command group so nobody mistakes it for a step of
the ceremony:

* ``ceremony notary fetch-keys GUN --server URL --ca FILE --out DIR [--previous METADATA_DIR]
  [--new-server-keys]``: the server's timestamp and snapshot public keys, written as key files
  the plan names. Refused when they are not the keys of the collection's current root (the
  server is not the collection's, or was rebuilt), unless ``--new-server-keys`` says the
  server-held keys are being rotated on purpose.
* ``ceremony notary tagging-key GUN --out FILE``: a new tagging (targets) key for a publisher,
  as unencrypted PKCS#8 PEM with ``gun``/``role`` headers for ``notary key import`` (mode 0600,
  never overwritten), plus ``FILE-stem.pub.json``, its public key for the plan.
* ``ceremony notary publish METADATA_DIR --server URL --ca FILE --gun GUN [--targets-key FILE]``:
  upload the ceremony's newest root. When the root is new or changes the targets key, the
  current targets.json is fetched, checked against the previous root, re-signed with the new
  tagging key (version + 1, same targets and delegations) and saved as METADATA_DIR/targets.json
  before anything is sent; root and targets then go in ONE multipart request. Everything is
  self-checked first (notary's byte-exact form). A refusal shows the server's text (exit 9) and
  leaves every local file as it was.
* ``ceremony notary verify METADATA_DIR [--trusted FILE] [--gun GUN] [--server URL --ca FILE]``:
  walk the chain as notary's client does; with ``--server``, also check that the server serves
  exactly these roots and a targets.json the newest root's targets key signed.

``add_commands(sub, add)`` registers the group with ``ceremony.cli``'s parser.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ceremony.cli_common import emit as _emit

if TYPE_CHECKING:  # the online commands load these only when they run
    from tuf.api.metadata import Root

    from ceremony.formats.notary_root import NotaryRoot

Handler = Callable[[argparse.Namespace], int]
Adder = Callable[..., argparse.ArgumentParser]

__all__ = [
    "add_commands",
    "fetch_keys",
    "publish_collection",
    "tagging_key",
    "verify_collection",
]


def _server(args: argparse.Namespace) -> Any:
    from ceremony.online.notary import NotaryServer

    return NotaryServer(args.server, Path(args.ca) if args.ca else None)


# --------------------------------------------------------------------------- operations


def fetch_keys(
    server: Any,
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
    from ceremony import chain
    from ceremony.errors import VerificationError
    from ceremony.formats.notary_chain import walk
    from ceremony.formats.notary_files import key_file_bytes
    from ceremony.formats.notary_keys import entry_key_id
    from ceremony.formats.notary_root import NotaryMetadata
    from ceremony.formats.notary_x509 import validate_gun
    from ceremony.online.notary import fetch_metadata, fetch_server_key
    from ceremony.workspace import atomic_write

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
    from ceremony.errors import WorkspaceError
    from ceremony.formats.notary_files import key_file_bytes
    from ceremony.formats.notary_x509 import validate_gun
    from ceremony.online.notary import generate_tagging_key, tagging_key_entry, write_tagging_key
    from ceremony.workspace import atomic_write

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
    from ceremony import chain
    from ceremony.errors import VerificationError
    from ceremony.formats.notary_chain import walk
    from ceremony.formats.notary_json import assert_reserializes
    from ceremony.formats.notary_root import NotaryMetadata, root_problems

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
    server: Any,
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
    from ceremony.errors import VerificationError
    from ceremony.formats.notary_keys import ECDSA, key_id, spki_der
    from ceremony.formats.notary_root import role_file_problems
    from ceremony.formats.notary_x509 import validate_gun
    from ceremony.online.notary import (
        fetch_metadata,
        initial_targets,
        load_tagging_key,
        publish,
        resign_targets,
    )
    from ceremony.workspace import atomic_write

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
    server: Any = None,
) -> tuple[Any, list[str]]:
    """Walk ``metadata_dir``'s chain (and, with ``server``, compare what it serves).

    Returns:
        (the chain report, lines for people).

    Raises:
        VerificationError: the chain, or what the server serves, does not verify.
        RemoteError: the server could not be reached.
    """
    from ceremony import chain
    from ceremony.errors import VerificationError
    from ceremony.formats.notary_chain import verify_directory
    from ceremony.formats.notary_root import role_file_problems

    metadata_dir = Path(metadata_dir)
    trusted = Path(trusted) if trusted else metadata_dir / "1.root.json"
    report, gun = verify_directory(metadata_dir, trusted=trusted, gun=gun)
    lines = [f"trusted root v{report.trusted_version} ({trusted}) for {gun}",
             *chain.report_lines(report)]
    if server is not None:
        from ceremony.online.notary import fetch_metadata

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


# --------------------------------------------------------------------------- commands


def cmd_fetch_keys(args: argparse.Namespace) -> int:
    result = fetch_keys(_server(args), args.gun, Path(args.out),
                        previous=Path(args.previous) if args.previous else None,
                        new_server_keys=args.new_server_keys)
    lines = []
    for role, info in result.items():
        note = (f" (replaces {', '.join(k[:12] for k in info['replaces'])})"
                if info["replaces"] else "")
        lines.append(f"{role} key {info['keyid']}{note}: {info['file']}")
    lines.append("name these files in the plan's roles.timestamp.keys / roles.snapshot.keys")
    _emit(args, lines, result)
    return 0


def cmd_tagging_key(args: argparse.Namespace) -> int:
    result = tagging_key(args.gun, Path(args.out))
    _emit(args, [f"tagging key {result['keyid']} for {args.gun}",
                 f"private (for the publisher's `notary key import`, 0600): {result['private']}",
                 f"public (for the plan's roles.targets.keys): {result['public']}"], result)
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    result = publish_collection(Path(args.metadata_dir), _server(args), args.gun,
                                Path(args.targets_key) if args.targets_key else None)
    if result["already"]:
        lines = [f"root v{result['version']} is already what {args.server} serves for "
                 f"{args.gun}; nothing sent"]
    else:
        lines = [f"uploaded {' + '.join(result['uploaded'])} for {args.gun} in one request: "
                 f"root v{result['version']}"]
        if result["targets_file"]:
            lines.append(f"re-signed targets.json kept at {result['targets_file']}")
    _emit(args, lines, result)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    report, lines = verify_collection(
        Path(args.metadata_dir), trusted=Path(args.trusted) if args.trusted else None,
        gun=args.gun, server=_server(args) if args.server else None)
    _emit(args, lines, {"trusted_version": report.trusted_version, "versions": report.versions,
                        "newest": report.newest_version,
                        "statuses": [s.to_dict() for s in report.statuses]})
    return 0


def add_commands(sub: Any, add: Adder) -> None:
    """Register ``ceremony notary …`` on ``ceremony.cli``'s subparsers (``add`` as in cli)."""
    group: argparse.ArgumentParser = add("notary", lambda args: _group_help(group), "online side of a Notary v1 "
                "collection: server keys, tagging key, upload (never on the ceremony laptop)",
                ws=False)
    nsub = group.add_subparsers(dest="notary_command", metavar="NOTARY_COMMAND",
                                parser_class=type(group))

    def nadd(name: str, handler: Handler, help_: str) -> argparse.ArgumentParser:
        p = nsub.add_parser(name, help=help_, description=help_)
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.set_defaults(handler=handler)
        return p

    def server_opts(p: argparse.ArgumentParser, required: bool = True) -> None:
        p.add_argument("--server", required=required, metavar="URL",
                       help="notary-server base URL, e.g. https://notary.example.com:4443")
        p.add_argument("--ca", metavar="FILE", help="CA bundle for the server's TLS certificate "
                       "(default: the system store)")

    p = nadd("fetch-keys", cmd_fetch_keys, "fetch the server's timestamp and snapshot public "
             "keys for a GUN, as key files for the plan")
    p.add_argument("gun", metavar="GUN")
    server_opts(p)
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--previous", metavar="METADATA_DIR",
                   help="compare with the newest root of this chain (default: the server's)")
    p.add_argument("--new-server-keys", action="store_true",
                   help="the server was rebuilt: accept (and record) keys that replace the "
                   "current root's")
    p = nadd("tagging-key", cmd_tagging_key, "make a new tagging (targets) key for a publisher")
    p.add_argument("gun", metavar="GUN")
    p.add_argument("--out", required=True, metavar="FILE",
                   help="the private key (PKCS#8 PEM); its public key goes to FILE-stem.pub.json")
    p = nadd("publish", cmd_publish, "upload the ceremony's newest root (with a re-signed "
             "targets.json when needed) in one request")
    p.add_argument("metadata_dir", metavar="METADATA_DIR")
    server_opts(p)
    p.add_argument("--gun", required=True, metavar="GUN")
    p.add_argument("--targets-key", metavar="FILE",
                   help="the new tagging key, when the root is new or changes the targets key")
    p = nadd("verify", cmd_verify, "verify a notary root chain (and, with --server, what the "
             "server serves)")
    p.add_argument("metadata_dir", metavar="METADATA_DIR")
    p.add_argument("--trusted", metavar="ROOT.json", help="default: METADATA_DIR/1.root.json")
    p.add_argument("--gun", metavar="GUN", help="default: the root certificates' CN")
    server_opts(p, required=False)


def _group_help(group: argparse.ArgumentParser) -> int:
    from ceremony.errors import EXIT_USAGE

    group.print_help(sys.stderr)
    return EXIT_USAGE
