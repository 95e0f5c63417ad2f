"""Two TUF clients nobody here wrote, run the same way: python-tuf's ngclient in process and
tuf-js (npm, pinned in tests/support/tufjs/package-lock.json) as a node process.

Each run gives a :class:`Verdict` (accepted at which root version, or refused with which error),
so a test states what each client must conclude about the same published folder. A missing node
or tuf-js is a broken setup and fails the test (:class:`ClientMissing`); it is never a verdict
and never a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tuf.api.metadata import Metadata
from tuf.ngclient import Updater

TUFJS_DIR = Path(__file__).parent / "tufjs"
TUFJS_CLIENT = TUFJS_DIR / "client.mjs"
TARGET = "hello.txt"
TARGET_DATA = b"hello, world\n"


class ClientMissing(RuntimeError):
    """A client could not run at all (node or tuf-js not installed): fail, never skip."""


@dataclass(frozen=True)
class Verdict:
    """What one client concluded: accepted (root version, target bytes) or refused (error)."""

    client: str
    ok: bool
    root_version: int | None = None
    target: bytes | None = None
    error: str | None = None  # the client's exception class, e.g. "UnsignedMetadataError"
    message: str = ""

    def __str__(self) -> str:
        if self.ok:
            return f"{self.client}: accepted, trusted root v{self.root_version}"
        return f"{self.client}: refused, {self.error}: {self.message}"


def ngclient_refresh(base_url: str, client_dir: Path, bootstrap: bytes | None,
                     target_name: str | None = TARGET) -> Verdict:
    """python-tuf's ngclient: refresh from ``bootstrap`` and (optionally) download a target.

    With ``bootstrap=None`` the client starts from what it trusted after its last run in
    ``client_dir``, as an installed client does. Any exception the client raises is its
    verdict; the helper decides nothing itself.
    """
    meta_dir = client_dir / "metadata"
    dl_dir = client_dir / "downloads"
    meta_dir.mkdir(parents=True, exist_ok=True)
    dl_dir.mkdir(parents=True, exist_ok=True)
    try:
        updater = Updater(str(meta_dir), f"{base_url}/metadata/", str(dl_dir),
                          f"{base_url}/targets/", bootstrap=bootstrap)
        updater.refresh()
        data = None
        if target_name is not None:
            info = updater.get_targetinfo(target_name)
            if info is None:
                return Verdict("ngclient", False, error="TargetNotFound",
                               message=f"{target_name} is not a target of this repository")
            data = Path(updater.download_target(info)).read_bytes()
    except Exception as e:  # noqa: BLE001 - every refusal is a verdict, recorded with its class
        return Verdict("ngclient", False, error=type(e).__name__, message=str(e))
    version = Metadata.from_file(str(meta_dir / "root.json")).signed.version
    return Verdict("ngclient", True, root_version=version, target=data)


def tufjs_refresh(base_url: str, client_dir: Path, bootstrap: bytes | None,
                  target_name: str | None = TARGET) -> Verdict:
    """tuf-js's Updater (tests/support/tufjs/client.mjs): the same run as :func:`ngclient_refresh`
    (``bootstrap=None`` too: it starts from its own ``client_dir/metadata/root.json``).

    Raises:
        ClientMissing: node is not on PATH, tuf-js is not installed, or the script broke
            (anything that is not the client's own accept/refuse verdict).
    """
    node = shutil.which("node")
    if node is None:
        raise ClientMissing("node is not installed: tuf-js, the second TUF client of the suite, "
                            "needs it (softhsm-setup/debian-packages.txt lists nodejs)")
    client_dir.mkdir(parents=True, exist_ok=True)
    cmd = [node, str(TUFJS_CLIENT), "--metadata-url", f"{base_url}/metadata/", "--dir", str(client_dir)]
    if bootstrap is not None:
        root = client_dir / "trusted-root.json"
        root.write_bytes(bootstrap)
        cmd += ["--root", str(root)]
    if target_name is not None:
        cmd += ["--target-url", f"{base_url}/targets/", "--target", target_name]
    # The repository is on 127.0.0.1: no proxy may stand in between.
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1"
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
                          timeout=120, check=False)
    try:
        out = json.loads(proc.stdout)
    except ValueError:
        raise ClientMissing(f"tuf-js client gave no verdict (exit {proc.returncode}): "
                            f"{proc.stderr.strip() or proc.stdout.strip()}") from None
    if proc.returncode not in (0, 1) or out.get("ok") is not (proc.returncode == 0):
        raise ClientMissing(f"tuf-js client could not run (exit {proc.returncode}): "
                            f"{out.get('error')}: {out.get('message')}")
    if not out["ok"]:
        return Verdict("tuf-js", False, error=out["error"], message=out["message"])
    target = Path(out["target"]).read_bytes() if out.get("target") else None
    return Verdict("tuf-js", True, root_version=out["root_version"], target=target)


CLIENTS = {"ngclient": ngclient_refresh, "tuf-js": tufjs_refresh}


def both_clients(base_url: str, client_dir: Path, bootstrap: bytes | None,
                 target_name: str | None = TARGET) -> dict[str, Verdict]:
    """Both clients' verdicts on the same repository, each from its own folder under
    ``client_dir`` (``bootstrap=None``: each from what it trusted after its last run there)."""
    return {name: run(base_url, client_dir / name, bootstrap, target_name)
            for name, run in CLIENTS.items()}


def both_clients_accept(base_url: str, client_dir: Path, bootstrap: bytes, root_version: int,
                        target: bytes = TARGET_DATA, target_name: str = TARGET) -> None:
    """Assert that ngclient and tuf-js both walk to ``root_version`` and download ``target``."""
    for name, v in both_clients(base_url, client_dir, bootstrap, target_name).items():
        assert v.ok, str(v)
        assert (v.root_version, v.target) == (root_version, target), (name, v)


def both_clients_refuse(base_url: str, client_dir: Path, bootstrap: bytes, error: str,
                        message: str, target_name: str | None = TARGET,
                        tufjs_error: str | None = None) -> None:
    """Assert that both clients refuse with exception class ``error`` and ``message`` in its text
    (python-tuf and tuf-js word their threshold and version errors alike). tuf-js wraps errors
    met while loading snapshot or targets in a ``RuntimeError``: say so with ``tufjs_error``."""
    expected = {"ngclient": error, "tuf-js": tufjs_error or error}
    for name, v in both_clients(base_url, client_dir, bootstrap, target_name).items():
        assert not v.ok, f"{name} accepted what it must refuse: {v}"
        assert v.error == expected[name] and message in v.message, (name, v)
