"""pytest fixtures for the notary tests: a real notary stack, and a collection made by the CLI.

Import the fixture functions into a test module (``from notary_fixtures import
fixture_notary_stack``); pytest registers them under their ``name`` (``notary_stack``). They
are module-scoped, so each test module gets its own server (about 0.2 s to start).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from tests.support.notary_harness import NotaryStack, start_notary

#: Target names that exercise Go's HTML escaping and raw non-ASCII in canonical JSON.
ODD_TARGET_NAMES = ("a<b>&c", "line\u2028sep\u2029 é")


@pytest.fixture(scope="module", name="notary_stack")
def fixture_notary_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NotaryStack]:
    """A running notary-signer + notary-server on 127.0.0.1 (fails, never skips)."""
    stack = start_notary(tmp_path_factory.mktemp("notary-stack"))
    try:
        yield stack
    finally:
        stack.stop()


@dataclass
class CliCollection:
    """A GUN made entirely by the real notary CLI, and the bytes the server serves for it."""

    gun: str
    trust_dir: Path
    served: dict[str, bytes] = field(default_factory=dict)
    key_list: str = ""


def make_delegation_cert(directory: Path, common_name: str) -> tuple[Path, Path]:
    """Write a software ECDSA key and self-signed certificate for ``notary delegation add``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=400))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{common_name}.crt", directory / f"{common_name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module", name="cli_collection")
def fixture_cli_collection(
    notary_stack: NotaryStack, tmp_path_factory: pytest.TempPathFactory
) -> CliCollection:
    """Init a GUN with the CLI, publish odd target names, a delegation, a server snapshot key.

    Then GET every role's current bytes from the server, as a client would.
    """
    work = tmp_path_factory.mktemp("cli-collection")
    collection = CliCollection(gun="example.com/cli/format", trust_dir=work / "trust")
    payload = work / "hello.txt"
    payload.write_text("hello world\n")
    run = notary_stack.notary
    run(collection.trust_dir, "init", collection.gun, "--publish").check()
    for name in ("v1", *ODD_TARGET_NAMES):
        run(collection.trust_dir, "add", collection.gun, name, str(payload), "--publish").check()
    # Docker hands the snapshot key to the server; so do we, to capture a server-signed snapshot.
    run(collection.trust_dir, "key", "rotate", collection.gun, "snapshot", "-r").check()
    cert, key = make_delegation_cert(work, "releases")
    run(
        collection.trust_dir,
        "delegation",
        "add",
        collection.gun,
        "targets/releases",
        str(cert),
        "--all-paths",
        "--publish",
    ).check()
    run(collection.trust_dir, "key", "import", str(key), "-r", "targets/releases").check()
    run(
        collection.trust_dir,
        "add",
        collection.gun,
        "rel1",
        str(payload),
        "-r",
        "targets/releases",
        "--publish",
    ).check()
    collection.key_list = run(collection.trust_dir, "key", "list").check().stdout
    for role in ("root", "targets", "snapshot", "timestamp", "targets/releases"):
        status, body = notary_stack.get(f"/v2/{collection.gun}/_trust/tuf/{role}.json")
        assert status == 200, (role, status, body)
        collection.served[role] = body
    return collection


def software_sign_raw(private_key: ec.EllipticCurvePrivateKey) -> Callable[[bytes], bytes]:
    """A stand-in for a token's ``sign_raw``: ECDSA over SHA-256, raw r||s, like CKM_ECDSA."""
    size = (private_key.curve.key_size + 7) // 8

    def sign_raw(message: bytes) -> bytes:
        r, s = decode_dss_signature(private_key.sign(message, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    return sign_raw


@contextmanager
def no_network() -> Iterator[list[object]]:
    """Fail any attempt to open a socket (the offline ceremony must never do it)."""
    calls: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise OSError("network disabled: the offline ceremony must not open a socket")

    with mock.patch.object(socket.socket, "connect", refuse), \
            mock.patch.object(socket.socket, "connect_ex", refuse), \
            mock.patch.object(socket, "create_connection", refuse), \
            mock.patch.object(socket, "getaddrinfo", refuse):
        yield calls
    assert calls == [], "the offline ceremony tried to open a socket"


def ok(run: Any) -> Any:
    """Require exit code 0 from a ``tests.support.helpers.cli`` run; return it."""
    assert run.code == 0, run.err
    return run


def notary_plan(name: str, gun: str, holders: dict[str, str], root: list[str], threshold: int,
                targets: Path, server_keys: Path, *, algorithms: dict[str, str] | None = None,
                root_expires: str = "3650d") -> str:
    """A ``format = "notary"`` plan naming the tagging key and the server keys (a folder)."""
    # Rehearsal: the tests run on a networked machine, where a live ceremony's preflight refuses.
    lines = ["[ceremony]", f'name = "{name}"', 'format = "notary"',
             f"repository = {json.dumps(gun)}", "rehearsal = true", ""]
    for holder, token in holders.items():
        lines += ["[[keyholders]]", f'name = "{holder}"', f'token = "{token}"']
        if algorithms and holder in algorithms:
            lines.append(f'algorithm = "{algorithms[holder]}"')
        lines.append("")
    lines += ["[roles.root]", "keyholders = [" + ", ".join(f'"{r}"' for r in root) + "]",
              f"threshold = {threshold}", f'expires = "{root_expires}"', ""]
    for role, path in (("targets", targets), ("snapshot", server_keys / "snapshot.pub.json"),
                       ("timestamp", server_keys / "timestamp.pub.json")):
        lines += [f"[roles.{role}]", f'keys = ["{path}"]', "threshold = 1",
                  'expires = "1095d"', ""]
    return "\n".join(lines)


def offline_key_files(directory: Path, gun: str) -> tuple[Path, Path]:
    """Server-style snapshot/timestamp key files and a targets .pub.json (public halves only,
    software keys): for offline tests that never talk to a server. Returns (folder, targets)."""
    from ceremony.formats.notary_files import key_file_bytes
    from ceremony.formats.notary_keys import public_key_entry

    directory.mkdir(parents=True, exist_ok=True)
    for role in ("snapshot", "timestamp", "targets"):
        entry = public_key_entry(ec.generate_private_key(ec.SECP256R1()).public_key())
        (directory / f"{role}.pub.json").write_bytes(key_file_bytes(entry, gun=gun, role=role))
    return directory, directory / "targets.pub.json"
