"""Start a real notary-signer + notary-server on 127.0.0.1 and drive the real ``notary`` CLI.

No pytest here, so benchmarks and scripts can use it too. Everything is throwaway: a TLS CA and
server/signer certificates made with ``cryptography``, in-memory storage, free loopback ports.
The server uses a remote ECDSA signer, as Docker Hub does (reference doc §2.3).

Missing binaries are a failure, never a skip: the whole point of these tests is that a client
nobody here wrote accepts our output.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

BINARIES = ("notary", "notary-server", "notary-signer")
HOST = "127.0.0.1"

#: Passphrases the CLI reads from the environment (throwaway test values, not secrets).
DEFAULT_PASSPHRASES = {
    "NOTARY_ROOT_PASSPHRASE": "test-root-passphrase",
    "NOTARY_TARGETS_PASSPHRASE": "test-targets-passphrase",
    "NOTARY_SNAPSHOT_PASSPHRASE": "test-snapshot-passphrase",
    "NOTARY_DELEGATION_PASSPHRASE": "test-delegation-passphrase",
}


class NotaryHarnessError(RuntimeError):
    """The notary test stack could not be set up or a CLI call failed unexpectedly."""


def require_binaries() -> dict[str, str]:
    """Return the paths of notary, notary-server and notary-signer, or raise.

    Raises:
        NotaryHarnessError: any of them is missing (install Debian's ``notary`` package).
    """
    found = {name: shutil.which(name) for name in BINARIES}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise NotaryHarnessError(
            f"missing {', '.join(missing)} on PATH: install Debian's 'notary' package "
            "(softhsm-setup/debian-packages.txt); the notary tests do not skip"
        )
    return {name: str(path) for name, path in found.items()}


# --------------------------------------------------------------------------- TLS


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of the throwaway CA and the server/signer leaf certificates."""

    ca: Path
    server_cert: Path
    server_key: Path
    signer_cert: Path
    signer_key: Path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def make_tls(directory: Path) -> TlsFiles:
    """Create a CA and server/signer certificates (SAN DNS:localhost, IP:127.0.0.1)."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC) - timedelta(minutes=5)
    later = now + timedelta(days=10)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ceremony-test-ca")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = directory / "ca.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    paths: dict[str, tuple[Path, Path]] = {}
    for name in ("notary-server", "notary-signer"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(later)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=True,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.DNSName(name),
                        x509.IPAddress(IPv4Address(HOST)),
                    ]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key_path, key)
        paths[name] = (cert_path, key_path)
    return TlsFiles(
        ca=ca_path,
        server_cert=paths["notary-server"][0],
        server_key=paths["notary-server"][1],
        signer_cert=paths["notary-signer"][0],
        signer_key=paths["notary-signer"][1],
    )


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    """Ask the kernel for a free TCP port on 127.0.0.1 (only loopback is ever used)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ClientResult:
    """What one ``notary`` CLI run returned."""

    args: tuple[str, ...]
    rc: int
    stdout: str
    stderr: str

    def check(self) -> ClientResult:
        """Return self when rc == 0, else raise with the whole output."""
        if self.rc != 0:
            raise NotaryHarnessError(
                f"notary {' '.join(self.args)} exited {self.rc}\n"
                f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}"
            )
        return self


def run_notary(
    server_url: str,
    ca_file: Path,
    trust_dir: Path,
    *args: str,
    passphrases: Mapping[str, str] | None = None,
    stdin: str | None = None,
    extra_env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> ClientResult:
    """Run ``notary -s URL --tlscacert CA -d TRUSTDIR ARGS…`` with passphrases in the env.

    HOME points into the trust dir's parent so no ``~/.notary/config.json`` of the machine is
    read; the environment is otherwise minimal.
    """
    binary = require_binaries()["notary"]
    trust_dir.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(trust_dir.parent),
        "LANG": "C.UTF-8",
        **(DEFAULT_PASSPHRASES if passphrases is None else dict(passphrases)),
        **dict(extra_env or {}),
    }
    command = [binary, "-s", server_url, "--tlscacert", str(ca_file), "-d", str(trust_dir), *args]
    completed = subprocess.run(  # noqa: S603 - fixed binary, test-controlled arguments
        command,
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    return ClientResult(tuple(args), completed.returncode, completed.stdout, completed.stderr)


@dataclass
class NotaryStack:
    """A running notary-signer + notary-server pair; call ``stop()`` when done."""

    directory: Path
    tls: TlsFiles
    server_port: int
    signer_port: int
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Base URL of notary-server, as the CLI's ``-s`` takes it."""
        return f"https://{HOST}:{self.server_port}"

    @property
    def ca_file(self) -> Path:
        """The CA that issued the server's TLS certificate."""
        return self.tls.ca

    def notary(
        self,
        trust_dir: Path,
        *args: str,
        passphrases: Mapping[str, str] | None = None,
        stdin: str | None = None,
        timeout: float = 60.0,
    ) -> ClientResult:
        """Run the real notary CLI against this server (see ``run_notary``)."""
        return run_notary(
            self.url,
            self.ca_file,
            trust_dir,
            *args,
            passphrases=passphrases,
            stdin=stdin,
            timeout=timeout,
        )

    def get(self, path: str) -> tuple[int, bytes]:
        """GET ``path`` from the server over verified TLS; returns (status, body)."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        try:
            with urllib.request.urlopen(f"{self.url}{path}", context=context, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read()

    def logs(self) -> str:
        """The tail of both processes' logs, for failure messages."""
        text = []
        for name in ("notary-signer", "notary-server"):
            path = self.directory / f"{name}.log"
            if path.exists():
                text.append(f"--- {name}.log\n" + path.read_text(errors="replace")[-3000:])
        return "\n".join(text)

    def restart_signer(self, timeout: float = 20.0) -> None:
        """Rebuild notary-signer: a new process with empty in-memory key storage (every
        timestamp/snapshot key it held is gone, as after a signer compromise and rebuild).

        Waits until notary-server can sign through it again (its gRPC client reconnects).

        Raises:
            NotaryHarnessError: the signer did not come back.
        """
        binaries = require_binaries()
        old = self.processes[0]
        old.terminate()
        old.wait(timeout=10)
        signer = _spawn(
            binaries["notary-signer"],
            self.directory / "signer-config.json",
            self.directory / "notary-signer.log",
        )
        self.processes[0] = signer
        deadline = time.monotonic() + timeout
        if _wait_listening(self.signer_port, signer, deadline):
            while time.monotonic() < deadline:
                status, _ = self.get("/v2/harness/signer-probe/_trust/tuf/timestamp.key")
                if status == 200:
                    return
                time.sleep(0.1)
        raise NotaryHarnessError(f"notary-signer did not come back\n{self.logs()}")

    def stop(self) -> None:
        """Terminate the processes this stack started (by their own handles), then reap them."""
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self.processes.clear()


def _write_configs(directory: Path, tls: TlsFiles, server_port: int, signer_port: int) -> None:
    signer = {
        "server": {
            "grpc_addr": f"{HOST}:{signer_port}",
            "tls_cert_file": str(tls.signer_cert),
            "tls_key_file": str(tls.signer_key),
            "client_ca_file": str(tls.ca),
        },
        "logging": {"level": "info"},
        "storage": {"backend": "memory"},
    }
    server = {
        "server": {
            "http_addr": f"{HOST}:{server_port}",
            "tls_cert_file": str(tls.server_cert),
            "tls_key_file": str(tls.server_key),
        },
        "trust_service": {
            "type": "remote",
            "hostname": HOST,
            "port": str(signer_port),
            "key_algorithm": "ecdsa",
            "tls_ca_file": str(tls.ca),
            "tls_client_cert": str(tls.server_cert),
            "tls_client_key": str(tls.server_key),
        },
        "logging": {"level": "info"},
        "storage": {"backend": "memory"},
    }
    (directory / "signer-config.json").write_text(json.dumps(signer, indent=2))
    (directory / "server-config.json").write_text(json.dumps(server, indent=2))


def _spawn(binary: str, config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        return subprocess.Popen(  # noqa: S603 - fixed binary and arguments
            [binary, "-config", str(config)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=config.parent,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(config.parent)},
        )


def _wait_listening(port: int, process: subprocess.Popen[bytes], deadline: float) -> bool:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection((HOST, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def _wait_healthy(stack: NotaryStack, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if any(process.poll() is not None for process in stack.processes):
            return False
        try:
            status, _ = stack.get("/_notary_server/health")
            if status == 200:
                return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    return False


def start_notary(directory: Path, *, timeout: float = 20.0, attempts: int = 3) -> NotaryStack:
    """Start notary-signer and notary-server on free 127.0.0.1 ports and wait for health.

    A port taken between picking and binding is retried with new ports.

    Raises:
        NotaryHarnessError: binaries missing, or the stack did not become healthy (the
            message carries the processes' logs).
    """
    binaries = require_binaries()
    directory.mkdir(parents=True, exist_ok=True)
    tls = make_tls(directory / "certs")
    last = ""
    for _ in range(attempts):
        stack = NotaryStack(directory, tls, server_port=free_port(), signer_port=free_port())
        _write_configs(directory, tls, stack.server_port, stack.signer_port)
        deadline = time.monotonic() + timeout
        signer = _spawn(
            binaries["notary-signer"],
            directory / "signer-config.json",
            directory / "notary-signer.log",
        )
        stack.processes.append(signer)
        if _wait_listening(stack.signer_port, signer, deadline):
            server = _spawn(
                binaries["notary-server"],
                directory / "server-config.json",
                directory / "notary-server.log",
            )
            stack.processes.append(server)
            if _wait_healthy(stack, deadline):
                return stack
        last = stack.logs()
        stack.stop()
    raise NotaryHarnessError(f"notary-server/notary-signer did not become healthy\n{last}")


def notary_ok(stack: NotaryStack, trust_dir: Path, *args: str, **kwargs: object) -> str:
    """Run the CLI, require rc 0, return stdout (a convenience for test scripts)."""
    return stack.notary(trust_dir, *args, **kwargs).check().stdout  # type: ignore[arg-type]


__all__: Sequence[str] = (
    "DEFAULT_PASSPHRASES",
    "ClientResult",
    "NotaryHarnessError",
    "NotaryStack",
    "TlsFiles",
    "free_port",
    "make_tls",
    "notary_ok",
    "require_binaries",
    "run_notary",
    "start_notary",
)
