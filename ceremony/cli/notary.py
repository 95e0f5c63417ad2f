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

``add_commands(sub, add)`` registers the group with ``ceremony.cli``'s parser. The work is in
:mod:`ceremony.online.notary_ops`; this module parses and prints.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ceremony.cli.common import emit as _emit
from ceremony.errors import EXIT_USAGE

if TYPE_CHECKING:
    from ceremony.online.notary import NotaryServer

Handler = Callable[[argparse.Namespace], int]
Adder = Callable[..., argparse.ArgumentParser]

__all__ = ["add_commands"]


def _server(args: argparse.Namespace) -> NotaryServer:
    from ceremony.online.notary import NotaryServer  # lazy: cryptography, urllib

    return NotaryServer(args.server, Path(args.ca) if args.ca else None)


# --------------------------------------------------------------------------- commands


def cmd_fetch_keys(args: argparse.Namespace) -> int:
    from ceremony.online.notary_ops import fetch_keys  # lazy: python-tuf, notary formats
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
    from ceremony.online.notary_ops import tagging_key  # lazy: python-tuf, notary formats
    result = tagging_key(args.gun, Path(args.out))
    _emit(args, [f"tagging key {result['keyid']} for {args.gun}",
                 f"private (for the publisher's `notary key import`, 0600): {result['private']}",
                 f"public (for the plan's roles.targets.keys): {result['public']}"], result)
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from ceremony.online.notary_ops import publish_collection  # lazy: python-tuf, notary formats
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
    from ceremony.online.notary_ops import verify_collection  # lazy: python-tuf, notary formats
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
    group.print_help(sys.stderr)
    return EXIT_USAGE
