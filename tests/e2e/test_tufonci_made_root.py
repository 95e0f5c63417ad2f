"""A root made BY tuf-on-ci is continued by our ceremony (issue 15).

Root v1 comes from tuf-on-ci's own code: ``tuf-on-ci-delegate`` (0.21.0, in ``.venv-tuf-on-ci``)
initialises a repository in a git clone whose remote is a local bare repository, driven through
its click prompts on standard input: root and targets kept at their defaults (the user ``@alice``,
1 of 1, 365/60 days); the online key switched from the default (a Sigstore identity, a key type
neither python-tuf nor tuf-js reads without extra registration) to an AWS KMS key, whose public
half securesystemslib's ``AWSSigner.import_`` reads through boto3 from a local stand-in answering
KMS's ``GetPublicKey`` (the test is offline); alice's signing key read by securesystemslib's
``HSMSigner.import_`` from the only SoftHSM token present, at CKA_ID 2 (PIV
slot 9c, where tuf-on-ci looks). The tool signs root and targets with the PIN read from standard
input and commits them on a local signing-event branch (``--no-push``). Keys, key ids, the
``x-tuf-on-ci-*`` fields and the signature are all the tool's bytes.

Then ``ceremony init --previous <clone>/metadata`` continues it: alice's new ceremony key plus
her tuf-on-ci key sign root v2, the ceremony publishes, the online side (snapshot, timestamp,
signed by the plan's online key standing in for the KMS) is added, and python-tuf's ngclient and
tuf-js both walk v1 -> v2 and download a target.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key
from tuf.api.metadata import Metadata, Root

from ceremony import keyids
from hsm.pkcs11 import resolve_module_path
from tests.conftest import PIN
from tests.support.clients import both_clients_accept
from tests.support.helpers import cli, make_online_keys
from tests.support.tuf_repo import serve
from tests.support.tufonci import (
    TARGET,
    TOOL_VENV,
    TOOL_VERSION,
    URIS,
    ToolMissing,
    compat_plan,
    git,
    git_env,
    publish_online,
    seed_repository,
)

DELEGATE = TOOL_VENV / "bin" / "tuf-on-ci-delegate"
EVENT = "sign/init"
KMS_KEY = "alias/tuf-online"

#: tuf-on-ci-delegate's prompts, in the order its ``_init_repository`` asks them.
ANSWERS = [
    "",   # root: signers @alice, 1 of 1, 365/60 days -- continue
    "",   # targets: the same -- continue
    "1",  # online roles: configure the online key ...
    "4",  # ... in AWS KMS (the local stand-in below),
    KMS_KEY,  # its key id,
    "1",  # its scheme, ECDSA_SHA_256
    "",   # online roles: timestamp 2/1, snapshot 365/60 days -- continue
    "2",  # alice's signing key: a YubiKey (PKCS#11, CKA_ID 2)
    "",   # "Please insert your Yubikey and press enter"
    PIN,  # the PIN for signing root ...
    PIN,  # ... and targets (the HSM signer asks for each signature)
    PIN,  # a spare: with --no-push no prompt follows, so an unread line is harmless
]


class _Kms(BaseHTTPRequestHandler):
    """AWS KMS's ``GetPublicKey`` (JSON 1.1 protocol) for one key, on 127.0.0.1: where the online
    key's public half comes from when tuf-on-ci imports it. The tool reaches it through
    botocore's ``AWS_ENDPOINT_URL``; every request's target and key id is recorded."""

    public_der: bytes = b""
    seen: list[tuple[str, str]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        target = self.headers.get("X-Amz-Target", "")
        self.seen.append((target, body.get("KeyId", "")))
        if target != "TrentService.GetPublicKey" or body.get("KeyId") != KMS_KEY:
            self._answer(400, {"__type": "NotFoundException", "message": "no such key"})
            return
        self._answer(200, {"KeyId": f"arn:aws:kms:us-east-1:000000000000:{KMS_KEY}",
                           "PublicKey": base64.b64encode(self.public_der).decode(),
                           "KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY",
                           "SigningAlgorithms": ["ECDSA_SHA_256"]})

    def _answer(self, status: int, data: dict[str, object]) -> None:
        out = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *_args: object) -> None:
        """Quiet."""


@contextmanager
def kms(public_der: bytes) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """The KMS stand-in serving ``public_der``; yields (endpoint URL, requests seen)."""
    handler = type("Kms", (_Kms,), {"public_der": public_der, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.seen
    finally:
        server.shutdown()
        server.server_close()


#: The same, the online key being the tool's built-in test key (its ``_collect_online_key``
#: choice 0: ed25519, a ``file2:`` URI, and a key id fixed in its source).
TEST_KEY_ANSWERS = [*ANSWERS[:3], "0", *ANSWERS[6:]]


def run_delegate(clone: Path, home: Path, softhsm_conf: Path, kms_url: str,
                 answers: list[str] = ANSWERS) -> subprocess.CompletedProcess[str]:
    """``tuf-on-ci-delegate --no-push sign/init`` in ``clone`` as ``@alice``, its prompts answered
    from ``answers``, offline (its daily PyPI check answered from a fresh cache file, AWS
    KMS at ``kms_url`` with dummy credentials and no instance metadata lookup).

    Raises:
        ToolMissing: the tool is not installed.
    """
    if not DELEGATE.is_file():
        raise ToolMissing(f"{DELEGATE} is missing: `make tuf-on-ci` installs tuf-on-ci-sign "
                          f"{TOOL_VERSION} (which ships tuf-on-ci-delegate) in its own virtualenv")
    (clone / ".tuf-on-ci-sign.ini").write_text(
        f"[settings]\nuser-name = alice\npykcs11lib = {resolve_module_path(env={})}\n"
        "push-remote = origin\npull-remote = origin\n")
    env = git_env(home)
    env.pop("PYKCS11LIB", None)
    env.update(SOFTHSM2_CONF=str(softhsm_conf), XDG_DATA_HOME=str(home / "data"),
               XDG_CACHE_HOME=str(home / "cache"),
               AWS_ENDPOINT_URL=kms_url, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
               AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
               AWS_CONFIG_FILE=str(home / "aws-config"),
               AWS_SHARED_CREDENTIALS_FILE=str(home / "aws-credentials"))
    stamp = home / "cache" / "tuf-on-ci-sign" / "pypi_release_version"
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(TOOL_VERSION)
    os.utime(stamp, (time.time(), time.time()))
    return subprocess.run([str(DELEGATE), "--no-push", EVENT], cwd=clone, env=env,
                          input="".join(f"{a}\n" for a in answers), capture_output=True, text=True,
                          timeout=300, check=False)


def _tuf_on_ci_made_root(hsm, tmp: Path, answers: list[str] = ANSWERS) -> tuple[Path, bytes, bytes]:
    """A git clone whose ``metadata/`` tuf-on-ci-delegate initialised; returns (clone, root v1,
    the public key (DER) the KMS stand-in served, whether asked or not)."""
    # tuf-on-ci's HSMSigner.import_ wants exactly one initialised token: alice's, made first.
    hsm.make("tok-alice")
    token = hsm.module.find_token(label="tok-alice")
    hsm.module.generate(token, hsm.pin, "ecdsa-p256", "alice-9c", b"\x02")
    clone, _bare = seed_repository(tmp / "git", {"README.md": b"a tuf-on-ci repository\n"})
    home = tmp / "home"
    home.mkdir()
    # the v1 online key lives in "KMS" (rotated to the plan's online key in v2, so never used)
    online_der = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    with kms(online_der) as (url, seen):
        run = run_delegate(clone, home, hsm.dir.conf, url, answers)
    assert run.returncode == 0, run.stdout + run.stderr
    assert seen == ([("TrentService.GetPublicKey", KMS_KEY)] if KMS_KEY in answers else [])
    assert "Your signature is required for role(s)" in run.stdout
    git(clone, "checkout", "--quiet", EVENT)
    v1 = (clone / "metadata" / "root.json").read_bytes()
    return clone, v1, online_der


def test_a_root_made_by_tuf_on_ci_is_continued_and_clients_walk_to_v2(hsm, tmp_path):
    clone, v1, online_der = _tuf_on_ci_made_root(hsm, tmp_path)

    # what tuf-on-ci wrote: alice's PKCS#11 key as keyowner of root and targets, the KMS online
    # key for snapshot and timestamp, the period fields, and alice's signature over root v1
    md1 = Metadata[Root].from_bytes(v1)
    old = md1.signed
    assert old.version == 1
    (alice_id,) = old.roles["root"].keyids
    assert old.roles["targets"].keyids == [alice_id]
    alice = old.keys[alice_id]
    assert alice.unrecognized_fields["x-tuf-on-ci-keyowner"] == "@alice"
    assert (alice.keytype, alice.scheme) == ("ecdsa", "ecdsa-sha2-nistp256")
    (online_id,) = old.roles["timestamp"].keyids
    assert old.roles["snapshot"].keyids == [online_id]
    assert old.keys[online_id].unrecognized_fields["x-tuf-on-ci-online-uri"] == f"awskms:{KMS_KEY}"
    assert old.keys[online_id].keyval["public"] == load_der_public_key(online_der).public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    # tuf-on-ci's key ids hash the whole key object (keyowner, online URI included)
    assert keyids.tuf_keyid_rule(alice_id, alice) == keyids.WHOLE
    assert keyids.tuf_keyid_rule(online_id, old.keys[online_id]) == keyids.WHOLE
    signed = json.loads(v1)["signed"]
    assert signed["x-tuf-on-ci-expiry-period"] == 365
    assert signed["roles"]["timestamp"]["x-tuf-on-ci-expiry-period"] == 2
    old.verify_delegate("root", md1.signed_bytes, md1.signatures)
    assert (clone / "metadata" / "targets.json").is_file()

    # our ceremony continues it: init --previous takes the tuf-on-ci repository's metadata folder
    online = make_online_keys(hsm, tmp_path / "online", roles=("online",))
    plan = compat_plan(tmp_path / "plan" / "plan.toml", {"alice": "tok-alice"}, 1,
                       tmp_path / "online", uris=URIS)
    ws = tmp_path / "ws"
    r = cli("init", ws, "--plan", plan, "--previous", clone / "metadata")
    assert r.code == 0, r
    assert (ws / "previous" / "1.root.json").read_bytes() == v1
    pin = ["--pin-file", hsm.pin_file]
    for step in (["keygen", ws, "--keyholder", "alice", *pin], ["draft", ws],
                 ["sign", ws, "--keyholder", "alice", *pin], ["publish", ws]):
        r = cli(*step)
        assert r.code == 0, (step, r)

    v2 = (ws / "metadata" / "2.root.json").read_bytes()
    md2 = Metadata[Root].from_bytes(v2)
    old.verify_delegate("root", md2.signed_bytes, md2.signatures)  # alice's tuf-on-ci key signed
    md2.signed.verify_delegate("root", md2.signed_bytes, md2.signatures)  # and her new key
    assert alice_id in md2.signatures
    (new_id,) = md2.signed.roles["root"].keyids
    assert new_id != alice_id
    assert md2.signed.keys[new_id].unrecognized_fields["x-tuf-on-ci-keyowner"] == "@alice"
    history = ws / "metadata" / "root_history"
    assert (history / "1.root.json").read_bytes() == v1
    assert (history / "2.root.json").read_bytes() == v2

    # targets continues tuf-on-ci's targets v1 (a client holding it sees no rollback)
    old_targets = json.loads((clone / "metadata" / "targets.json").read_bytes())["signed"]
    new_targets = json.loads((ws / "metadata" / "targets.json").read_bytes())["signed"]
    assert (old_targets["version"], new_targets["version"]) == (1, 2)

    # clients trust tuf-on-ci's v1 and walk to the ceremony's v2 through the online roles
    site = tmp_path / "site"
    (site / "metadata").mkdir(parents=True)
    for path in sorted(history.glob("*.root.json")):
        shutil.copy(path, site / "metadata" / path.name)
    publish_online(site, md2.signed, online.open()["online"],
                   {"targets": (ws / "metadata" / "targets.json").read_bytes()},
                   {"hello.txt": TARGET})
    with serve(site) as url:
        both_clients_accept(url, tmp_path / "clients", v1, root_version=2)


def test_a_tuf_on_ci_root_holding_the_tools_built_in_test_key_is_refused(hsm, tmp_path):
    """tuf-on-ci's hidden test key (its ``_collect_online_key`` choice 0) is listed under a key id
    written in its source, a hash of neither rule: init --previous refuses the root by the key's
    role and id, exit 3 (verification), and writes no workspace."""
    clone, v1, _ = _tuf_on_ci_made_root(hsm, tmp_path, TEST_KEY_ANSWERS)
    old = Metadata[Root].from_bytes(v1).signed
    (online_id,) = old.roles["timestamp"].keyids
    assert online_id.startswith("cda7a5313855")  # the tool's own, fixed in its source
    assert keyids.tuf_keyid_rule(online_id, old.keys[online_id]) is None
    make_online_keys(hsm, tmp_path / "online", roles=("online",))
    plan = compat_plan(tmp_path / "plan" / "plan.toml", {"alice": "tok-alice"}, 1,
                       tmp_path / "online", uris=URIS)
    ws = tmp_path / "ws"
    r = cli("init", ws, "--plan", plan, "--previous", clone / "metadata")
    assert r.code == 3, r
    assert ("1.root.json: the snapshot and timestamp key (cda7a5313855) is listed under key id "
            f"{online_id}, which does not match the key") in r.err, r
    assert "hint: a key id is a hash of the key" in r.err and "Traceback" not in r.err + r.out
    assert not ws.exists()
