"""pytest fixtures for the notary tests: a real notary stack, and a collection made by the CLI.

``notary_stack`` is one notary-signer + notary-server for the whole test run: tests/conftest.py
registers it, so a test module only names it as an argument (never import it into a module: a
fixture imported there would be a second, per-module definition, and a second server). Under
pytest-xdist the workers share the one stack (see :func:`notary_stack`), so tests that use it
keep to their own GUNs; a test that changes the server itself (rebuilds the signer, needs a
second server) starts its own with :func:`notary_harness.start_notary`.

The other fixtures (``cli_collection``) are module-scoped: import them into the module that
uses them; pytest registers them under their ``name``.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import time
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

from tests.support.notary_harness import NotaryStack, TlsFiles, start_notary

#: Target names that exercise Go's HTML escaping and raw non-ASCII in canonical JSON.
ODD_TARGET_NAMES = ("a<b>&c", "line\u2028sep\u2029 é")


#: Under pytest-xdist: the shared stack's description and its user count (beside the lock).
SHARED_STATE = "notary-stack.json"
SHARED_LOCK = "notary-stack.lock"


@pytest.fixture(scope="session")
def notary_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NotaryStack]:
    """A running notary-signer + notary-server on 127.0.0.1 for the whole run (fails, never skips).

    Without xdist the session starts it and stops it. Under xdist every worker is its own
    session, so the workers share one stack through a JSON file in the run's common temporary
    folder (``getbasetemp().parent``, one per run), under an exclusive lock: the first worker to
    need it starts it, each user is counted, and the last one to finish stops it. A worker that
    finds it stopped (every earlier user finished) starts a new one.
    """
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        stack = start_notary(tmp_path_factory.mktemp("notary-stack"))
        try:
            yield stack
        finally:
            stack.stop()
        return
    shared = tmp_path_factory.getbasetemp().parent
    with _locked(shared / SHARED_LOCK):
        state = _read_state(shared / SHARED_STATE)
        if state is None or state["users"] == 0:
            stack = start_notary(tmp_path_factory.mktemp("notary-stack"))
            state = {**describe_stack(stack), "users": 0}
        else:
            stack = attach_stack(state)
        state["users"] += 1
        _write_state(shared / SHARED_STATE, state)
    try:
        yield stack
    finally:
        with _locked(shared / SHARED_LOCK):
            state = _read_state(shared / SHARED_STATE)
            assert state is not None, f"{SHARED_STATE} vanished while the stack was in use"
            state["users"] -= 1
            # The count is written before the stack is stopped: a stop that raises still leaves
            # users == 0, so a later worker starts a fresh stack instead of attaching to a dead one.
            _write_state(shared / SHARED_STATE, state)
            if state["users"] == 0:
                if stack.processes:  # this worker started it: stop it by its own handles
                    stack.stop()
                else:
                    stop_by_pid(state["pids"])


def describe_stack(stack: NotaryStack) -> dict[str, Any]:
    """What another process needs to use (and finally stop) ``stack``: paths, ports, pids."""
    return {
        "directory": str(stack.directory),
        "tls": {name: str(getattr(stack.tls, name)) for name in TLS_FIELDS},
        "server_port": stack.server_port,
        "signer_port": stack.signer_port,
        "pids": [process.pid for process in stack.processes],
    }


def attach_stack(state: dict[str, Any]) -> NotaryStack:
    """A :class:`NotaryStack` over a stack another worker started (no process handles: this
    process never stops it through ``stop()``)."""
    tls = TlsFiles(**{name: Path(state["tls"][name]) for name in TLS_FIELDS})
    return NotaryStack(Path(state["directory"]), tls, state["server_port"], state["signer_port"])


def stop_by_pid(pids: list[int], timeout: float = 10.0) -> None:
    """Terminate the stack's processes started by another worker, by their recorded ids.

    A pid is signalled only while ``/proc/PID/cmdline`` still names a notary binary (never a
    reused id), and waited for until it is gone or a zombie left to its parent.
    """
    for pid in reversed(pids):
        if _is_notary(pid):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_running(pid) for pid in pids):
        time.sleep(0.05)
    for pid in pids:
        if _running(pid):
            os.kill(pid, signal.SIGKILL)


TLS_FIELDS = ("ca", "server_cert", "server_key", "signer_cert", "signer_key")


def _is_notary(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return False
    return Path(command.decode(errors="replace")).name in ("notary-server", "notary-signer")


def _running(pid: int) -> bool:
    """Alive and not a zombie (a zombie has exited; its parent reaps it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z" and _is_notary(pid)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_state(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def _write_state(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(path)


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
    # One GUN per xdist worker: a module's tests may run on both workers, each building this
    # collection once, on the one shared server.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    collection = CliCollection(gun=f"example.com/cli/format-{worker}", trust_dir=work / "trust")
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
