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
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pkcs11 import Attribute
from tuf.api.metadata import Key, Metadata, MetaFile, Root, Signature, Snapshot, TargetFile, Targets, Timestamp
from tuf.api.serialization.json import JSONSerializer

from hsm.pkcs11 import TokenKey, resolve_module_path
from hsm.signer import TokenSigner
from hsm.uri import parse_uri
from tests.conftest import PIN, SoftHsm
from tests.support.plans import Keyholder, Online, Plan
from tests.support.roles import Role

ROOT = Path(__file__).resolve().parents[2]
TOOL_VENV = ROOT / ".venv-tuf-on-ci"
TOOL = TOOL_VENV / "bin" / "tuf-on-ci-sign"
TOOL_VERSION = "0.21.0"

#: The online key's signer URI (tuf-on-ci signs snapshot and timestamp with one key).
KMS = "gcpkms:projects/acme/locations/global/keyRings/tuf/cryptoKeys/online/cryptoKeyVersions/1"
URIS = {"snapshot": KMS, "timestamp": KMS}
EXPIRES = {"snapshot": "365d", "timestamp": "2d"}
TARGET = b"hello, world\n"


class ToolMissing(RuntimeError):
    """tuf-on-ci-sign is not installed where the tests look: fail, never skip."""


def compat_plan(path: Path, holders: dict[str, str], threshold: int, online_dir: Path, *,
                name: str = "toc", uris: dict[str, str] = URIS, compat: bool = True,
                root_extra: str | None = None, keys: dict[str, str] | None = None,
                targets: Role | None = None, delegations: Sequence[Role] = ()) -> Path:
    """A TUF plan with ``compat = "tuf-on-ci"`` in ``path``'s folder: targets signed offline
    (by default by every keyholder, 1 of them, listing ``hello.txt``, written beside the plan),
    snapshot and timestamp online with ``online_dir/online.pub.pem`` (``keys``: role -> file
    name instead), each named by its URI in ``uris``."""
    (path.parent / "hello.txt").parent.mkdir(parents=True, exist_ok=True)
    (path.parent / "hello.txt").write_bytes(TARGET)
    keys = keys or {r: "online.pub.pem" for r in EXPIRES}
    online = {r: Online([online_dir / keys[r]], EXPIRES[r], uris=[uris[r]] if r in uris else [])
              for r in EXPIRES}
    targets = targets or Role("targets", list(holders), 1, "90d", targets=["hello.txt"])
    tail = [*targets.lines(top=True), *(line for d in delegations for line in d.lines())]
    return Plan(name, [Keyholder(k, token=t) for k, t in holders.items()], threshold, online,
                extra='compat = "tuf-on-ci"' if compat else None, root_extra=root_extra,
                tail="\n".join(tail)).write(path)


def publish_online(site: Path, root: Root, online: TokenKey, roles: dict[str, bytes],
                   target_files: dict[str, bytes]) -> None:
    """What tuf-on-ci's online side publishes: the offline roles' files ``roles`` (name ->
    bytes, as signed) under their consistent-snapshot names, a snapshot listing them and a
    timestamp, both signed by the one online key (the KMS's stand-in) under the id ``root``
    lists for it; the target files under their hash-prefixed names."""
    meta = site / "metadata"
    meta.mkdir(parents=True, exist_ok=True)
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=7)
    snapshot: Metadata = Metadata(Snapshot(version=1, expires=expires))
    for name, data in roles.items():
        version = Metadata.from_bytes(data).signed.version
        (meta / f"{version}.{name}.json").write_bytes(data)
        snapshot.signed.meta[f"{name}.json"] = MetaFile(version=version)
    for rel, data in target_files.items():
        head, _, base = rel.rpartition("/")
        out = site / "targets" / head / f"{hashlib.sha256(data).hexdigest()}.{base}"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)

    def sign(md: Metadata, role: str) -> bytes:
        md.sign(TokenSigner(online, root.keys[root.roles[role].keyids[0]]))
        return md.to_bytes(JSONSerializer())

    (meta / "1.snapshot.json").write_bytes(sign(snapshot, "snapshot"))
    timestamp: Metadata = Metadata(Timestamp(version=1, expires=expires))
    timestamp.signed.snapshot_meta = MetaFile(version=1)
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


def targets_signing_event(clone: Path, event: str, role: str, target: str, data: bytes,
                          message: str) -> None:
    """``role`` (targets, or a role targets delegates) one version on with ``target`` holding
    ``data`` added, as tuf-on-ci leaves a changed role for its signers: expiry from its
    ``x-tuf-on-ci-expiry-period``, an empty signature for each key its delegator (root for
    targets, targets for a delegation) lists; committed as ``message`` on branch ``event``,
    pushed, and ``main`` checked out again."""
    git(clone, "checkout", "--quiet", "-b", event)
    path = clone / "metadata" / f"{role}.json"
    md = Metadata.from_bytes(path.read_bytes())
    assert isinstance(md.signed, Targets)
    md.signed.version += 1
    days = md.signed.unrecognized_fields["x-tuf-on-ci-expiry-period"]
    md.signed.expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
    md.signed.targets[target] = TargetFile.from_data(target, data, ["sha256"])
    if role == "targets":
        root = Metadata.from_bytes((clone / "metadata" / "root.json").read_bytes()).signed
        assert isinstance(root, Root)
        keys = root.roles["targets"].keyids
    else:
        targets = Metadata.from_bytes((clone / "metadata" / "targets.json").read_bytes()).signed
        assert isinstance(targets, Targets) and targets.delegations and targets.delegations.roles
        keys = targets.delegations.roles[role].keyids
    md.signatures.clear()
    for keyid in keys:
        md.signatures[keyid] = Signature(keyid, "")
    path.write_bytes(md.to_bytes())
    git(clone, "commit", "--quiet", "-am", message)
    git(clone, "push", "--quiet", "origin", event)
    git(clone, "checkout", "--quiet", "main")


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


def as_piv_9c(hsm: SoftHsm, key: Key) -> str:
    """The ceremony's key behind ``key`` (its ``x-ceremony-token-label`` and
    ``x-ceremony-key-uri`` fields) gets CKA_ID 2 on both its objects, what tuf-on-ci's HSM
    signer looks for (PIV slot 9c); returns its signer URI for ``[signing-keys]``."""
    fields = key.unrecognized_fields
    label = fields["x-ceremony-token-label"]
    session = hsm.module.login(hsm.module.find_token(label=label), hsm.pin)
    objects = list(session.get_objects({Attribute.ID: parse_uri(fields["x-ceremony-key-uri"]).key_id}))
    assert len(objects) == 2  # the private key and its public key
    for obj in objects:
        obj[Attribute.ID] = b"\x02"
    return f"hsm:2?label={label}"


def sign_on_softhsm(hsm: SoftHsm, clone: Path, event: str, user: str, home: Path,
                    signing_keys: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """:func:`run_sign` on SoftHSM (its module and config, the test PIN and the Enter before
    the push on stdin), which must succeed; its result, for what the tool printed."""
    run = run_sign(clone, event, resolve_module_path(env={}), hsm.dir.conf, user, f"{PIN}\n\n",
                   home, signing_keys=signing_keys)
    assert run.returncode == 0, run.stdout + run.stderr
    return run


def copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, dirs_exist_ok=True)
