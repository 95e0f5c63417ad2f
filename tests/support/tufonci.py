"""tuf-on-ci for the tests: compat plans with online keys named by KMS URI, the online side of
such a repository (targets/snapshot/timestamp signed with the SoftHSM keys standing in for the
KMS, under the ids the root gives them), a git repository with a bare remote seeded from a
ceremony's output, and the real ``tuf-on-ci-sign`` run against it.

``tuf-on-ci-sign`` lives in its own virtualenv, ``.venv-tuf-on-ci`` at the checkout's top
(``make tuf-on-ci``): its securesystemslib extras install the AWS, GCP and Azure SDKs, which
securesystemslib's signer package imports whenever they are installed, and the ceremony's own
environment must not carry them (start-up, and the "no cloud SDK" proof). A missing tool is a
broken setup and fails the test (:class:`ToolMissing`), never a skip.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot, TargetFile, Targets, Timestamp
from tuf.api.serialization.json import JSONSerializer

from hsm.pkcs11 import TokenKey
from hsm.signer import TokenSigner
from tests.support.plans import ONLINE_ROLES, Keyholder, Online, Plan

ROOT = Path(__file__).resolve().parents[2]
TOOL_VENV = ROOT / ".venv-tuf-on-ci"
TOOL = TOOL_VENV / "bin" / "tuf-on-ci-sign"
TOOL_VERSION = "0.21.0"

URIS = {"targets": "gcpkms:projects/p/locations/global/keyRings/r/cryptoKeys/targets/cryptoKeyVersions/1",
        "snapshot": "awskms:arn:aws:kms:eu-west-1:111122223333:key/0aa9d6b8-snapshot",
        "timestamp": "azurekms://acme.vault.azure.net/keys/timestamp/0123456789abcdef"}
EXPIRES = {"targets": "90d", "snapshot": "365d", "timestamp": "2d"}


class ToolMissing(RuntimeError):
    """tuf-on-ci-sign is not installed where the tests look: fail, never skip."""


def compat_plan(path: Path, holders: dict[str, str], threshold: int, online_dir: Path, *,
                name: str = "toc", uris: dict[str, str] = URIS, compat: bool = True,
                root_extra: str | None = None) -> Path:
    """A TUF plan with ``compat = "tuf-on-ci"``; each online role's key file
    ``online_dir/ROLE.pub.pem`` named by its URI in ``uris``."""
    online = {r: Online([online_dir / f"{r}.pub.pem"], EXPIRES[r],
                        uris=[uris[r]] if r in uris else []) for r in ONLINE_ROLES}
    return Plan(name, [Keyholder(k, token=t) for k, t in holders.items()], threshold, online,
                extra='compat = "tuf-on-ci"' if compat else None, root_extra=root_extra).write(path)


def publish_online(folder: Path, root: Root, online: dict[str, TokenKey], *,
                   target: bytes = b"hello, world\n", target_name: str = "hello.txt",
                   version: int = 1) -> None:
    """``folder/metadata``: targets, snapshot and timestamp signed by the online keys (the
    KMS's stand-ins) under the ids ``root`` lists for them; ``folder/targets``: the target."""
    meta, tdir = folder / "metadata", folder / "targets"
    meta.mkdir(parents=True, exist_ok=True)
    tdir.mkdir(parents=True, exist_ok=True)
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=7)
    (tdir / f"{hashlib.sha256(target).hexdigest()}.{target_name}").write_bytes(target)

    def sign(md: Metadata, role: str) -> bytes:
        key = root.keys[root.roles[role].keyids[0]]
        md.sign(TokenSigner(online[role], key))
        return md.to_bytes(JSONSerializer())

    targets: Metadata = Metadata(Targets(version=version, expires=expires))
    targets.signed.targets[target_name] = TargetFile.from_data(target_name, target, ["sha256"])
    (meta / f"{version}.targets.json").write_bytes(sign(targets, "targets"))
    snapshot: Metadata = Metadata(Snapshot(version=version, expires=expires))
    snapshot.signed.meta["targets.json"] = MetaFile(version=version)
    (meta / f"{version}.snapshot.json").write_bytes(sign(snapshot, "snapshot"))
    timestamp: Metadata = Metadata(Timestamp(version=version, expires=expires))
    timestamp.signed.snapshot_meta = MetaFile(version=version)
    (meta / "timestamp.json").write_bytes(sign(timestamp, "timestamp"))


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` (a fixed identity, no global config read); its stdout."""
    env = git_env()
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          check=False, timeout=60)
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr}"
    return proc.stdout.strip()


def git_env(home: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.invalid", GIT_CONFIG_NOSYSTEM="1")
    if home is not None:
        env["HOME"] = str(home)
    return env


def seed_repository(tmp: Path, files: dict[str, bytes]) -> tuple[Path, Path]:
    """A git repository whose ``main`` holds ``files`` (path -> bytes), pushed to a local bare
    remote ``origin``; returns (clone, bare)."""
    bare, clone = tmp / "remote.git", tmp / "clone"
    bare.mkdir(parents=True)
    git(bare, "init", "--quiet", "--bare", "--initial-branch=main")
    clone.mkdir()
    git(clone, "init", "--quiet", "--initial-branch=main")
    for rel, data in files.items():
        (clone / rel).parent.mkdir(parents=True, exist_ok=True)
        (clone / rel).write_bytes(data)
    git(clone, "add", ".")
    git(clone, "commit", "--quiet", "-m", "root v1 from the ceremony")
    git(clone, "remote", "add", "origin", str(bare))
    git(clone, "push", "--quiet", "origin", "main")
    git(clone, "fetch", "--quiet", "origin")
    return clone, bare


def run_sign(clone: Path, event: str, pykcs11lib: str, softhsm_conf: Path, user: str,
             stdin: str, home: Path,
             signing_keys: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``tuf-on-ci-sign EVENT`` in ``clone`` as ``user``, with its ``.tuf-on-ci-sign.ini``
    naming ``pykcs11lib`` (and ``signing_keys``: key id -> signer URI, its ``[signing-keys]``
    section); ``stdin`` carries the PIN (the tool reads it as a line when its
    standard input is not a terminal) and the Enter before the push.

    Raises:
        ToolMissing: the tool is not installed.
    """
    if not TOOL.is_file():
        raise ToolMissing(f"{TOOL} is missing: `make tuf-on-ci` installs tuf-on-ci-sign "
                          f"{TOOL_VERSION} in its own virtualenv")
    (clone / ".tuf-on-ci-sign.ini").write_text(
        f"[settings]\nuser-name = {user}\npykcs11lib = {pykcs11lib}\n"
        "push-remote = origin\npull-remote = origin\n"
        + "".join(f"[signing-keys]\n{k} = {v}\n" for k, v in (signing_keys or {}).items()))
    env = git_env(home)
    env["SOFTHSM2_CONF"] = str(softhsm_conf)
    env["XDG_DATA_HOME"] = str(home / "data")
    cache = home / "cache"
    env["XDG_CACHE_HOME"] = str(cache)
    # The tool asks PyPI for a newer release once a day; a fresh cache answer keeps it offline.
    stamp = cache / "tuf-on-ci-sign" / "pypi_release_version"
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(TOOL_VERSION)
    os.utime(stamp, (time.time(), time.time()))
    env.pop("PYKCS11LIB", None)
    return subprocess.run([str(TOOL), event], cwd=clone, env=env, input=stdin, capture_output=True,
                          text=True, timeout=300, check=False)


def copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, dirs_exist_ok=True)
