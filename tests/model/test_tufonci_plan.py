"""Online keys named by KMS URI and ``compat = "tuf-on-ci"`` in the plan: what ``init`` records,
and every bad input refused with its message, exit code 2 and nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ceremony import keyids
from ceremony.errors import PlanError
from ceremony.plan import parse_plan
from tests.support.helpers import cli
from tests.support.plans import ONLINE_ROLES, Keyholder, Online, Plan
from tests.support.roles import Role
from tests.support.tufonci import URIS, compat_plan

ROOT = Path(__file__).resolve().parents[2]


def _online(tmp: Path) -> Path:
    """``online.pub.pem`` (the one online key of a compat plan) and one key per online role."""
    folder = tmp / "online"
    folder.mkdir(parents=True, exist_ok=True)
    for role in ("online", *ONLINE_ROLES):
        pub = ec.generate_private_key(ec.SECP256R1()).public_key()
        (folder / f"{role}.pub.pem").write_bytes(pub.public_bytes(Encoding.PEM,
                                                                  PublicFormat.SubjectPublicKeyInfo))
    return folder


def _init(tmp: Path, plan: Path):
    return cli("init", tmp / "ws", "--plan", plan)


def _refused(tmp: Path, plan: Path, message: str) -> None:
    r = _init(tmp, plan)
    assert (r.code, r.out) == (2, ""), r
    assert r.err.splitlines()[0] == f"error: {message}"
    assert "Traceback" not in r.err
    assert not (tmp / "ws").exists()


@pytest.mark.parametrize("uris, message", [
    ({"timestamp": "pkcs11:token=online;id=%01"},
     "roles.timestamp.uris[0] 'pkcs11:token=online;id=%01' is not an online signer URI this tool "
     "records: its scheme must be one of awskms:, gcpkms:, azurekms:, hv:"),
    ({"snapshot": "file:/etc/keys/snapshot.pem"},
     "roles.snapshot.uris[0] 'file:/etc/keys/snapshot.pem' is not an online signer URI this tool "
     "records: its scheme must be one of awskms:, gcpkms:, azurekms:, hv:"),
    ({"timestamp": "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1"},
     "roles.timestamp.uris[0] 'projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1' "
     "is not an online signer URI this tool records: its scheme must be one of awskms:, gcpkms:, "
     "azurekms:, hv:"),
    ({"snapshot": "gcpkms:projects/p/keyRings/r"},
     "roles.snapshot.uris[0] 'gcpkms:projects/p/keyRings/r' is not a gcpkms signer URI (expected "
     "gcpkms:projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N)"),
    ({"snapshot": "gcpkms:projects/p\\u0007/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1"},
     "roles.snapshot.uris[0] 'gcpkms:projects/p\\x07/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1' "
     "is not a gcpkms signer URI (expected "
     "gcpkms:projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N)"),
    ({"timestamp": "hv:timestamp"},
     "roles.timestamp.uris[0] 'hv:timestamp' is not a hv signer URI (expected hv:<key name>/<version>)"),
])
def test_a_uri_of_an_unknown_scheme_or_form_is_refused(tmp_path, uris, message):
    plan = compat_plan(tmp_path / "plan.toml", {"alice": "tok-alice"}, 1, _online(tmp_path),
                       uris=URIS | uris)
    _refused(tmp_path, plan, message)


def test_a_uri_without_its_public_key_is_refused(tmp_path):
    online = _online(tmp_path)
    roles = {r: Online([online / f"{r}.pub.pem"], "30d") for r in ONLINE_ROLES}
    roles["timestamp"] = Online([online / "timestamp.pub.pem"], "2d",
                                uris=[URIS["timestamp"], "hv:timestamp-2/1"])
    plan = Plan("toc", [Keyholder("alice", token="tok-alice")], 1, roles).write(tmp_path / "plan.toml")
    _refused(tmp_path, plan, "roles.timestamp.uris[1] 'hv:timestamp-2/1' has no public key: "
                             "roles.timestamp.keys lists 1 key file; give each URI's public key "
                             "file at the same position in keys")


def test_tuf_on_ci_needs_a_uri_for_every_online_key(tmp_path):
    plan = compat_plan(tmp_path / "plan.toml", {"alice": "tok-alice"}, 1, _online(tmp_path),
                       uris={r: u for r, u in URIS.items() if r != "snapshot"})
    _refused(tmp_path, plan, "roles.snapshot.keys[0] has no signer URI: compat = \"tuf-on-ci\" "
                             "names every online key by its URI (roles.snapshot.uris, one per key file)")


@pytest.mark.parametrize("extra, root_extra, message", [
    ('compat = "tuf-on-cd"', None, "ceremony.compat must be \"tuf-on-ci\", not 'tuf-on-cd'"),
    (None, 'signing_period = "60d"',
     "roles.root.signing_period only applies with ceremony.compat = \"tuf-on-ci\""),
    ('compat = "tuf-on-ci"', 'signing_period = "60x"',
     "roles.root.signing_period must be a positive duration such as \"365d\", \"12w\" or \"48h\", "
     "not '60x'"),
])
def test_bad_compat_fields_are_refused(tmp_path, extra, root_extra, message):
    online = _online(tmp_path)
    roles = {r: Online([online / f"{r}.pub.pem"], "30d", uris=[URIS.get(r, "hv:targets/1")])
             for r in ONLINE_ROLES}
    plan = Plan("toc", [Keyholder("alice", token="tok-alice")], 1, roles, extra=extra,
                root_extra=root_extra).write(tmp_path / "plan.toml")
    _refused(tmp_path, plan, message)


def test_tuf_on_ci_needs_targets_offline(tmp_path):
    online = _online(tmp_path)
    roles = {r: Online([online / f"{r}.pub.pem"], "30d", uris=[URIS.get(r, "hv:targets/1")])
             for r in ONLINE_ROLES}
    plan = Plan("toc", [Keyholder("alice", token="tok-alice")], 1, roles,
                extra='compat = "tuf-on-ci"').write(tmp_path / "plan.toml")
    _refused(tmp_path, plan, "compat = \"tuf-on-ci\" needs targets signed offline: give "
                             "roles.targets keyholders and a threshold instead of online keys")


def test_tuf_on_ci_signs_snapshot_and_timestamp_with_one_key(tmp_path):
    plan = compat_plan(tmp_path / "plan.toml", {"alice": "tok-alice"}, 1, _online(tmp_path),
                       keys={"snapshot": "snapshot.pub.pem", "timestamp": "timestamp.pub.pem"})
    _refused(tmp_path, plan, "compat = \"tuf-on-ci\" signs snapshot and timestamp with one online "
                             "key: roles.snapshot and roles.timestamp must each list the same single "
                             "key file, under the same URI")


def test_compat_applies_to_tuf_only(tmp_path):
    online = _online(tmp_path)
    roles = {r: Online([online / f"{r}.pub.pem"], "30d") for r in ONLINE_ROLES}
    text = Plan("toc", [Keyholder("alice", token="tok-alice")], 1, roles, format="notary",
                extra='compat = "tuf-on-ci"').text()
    with pytest.raises(PlanError) as e:
        parse_plan(text)
    assert str(e.value) == "ceremony.compat = \"tuf-on-ci\" applies to format = \"tuf\" only, not 'notary'"


def test_uris_apply_to_tuf_only(tmp_path):
    online = _online(tmp_path)
    roles = {r: Online([online / f"{r}.pub.pem"], "30d") for r in ONLINE_ROLES}
    roles["timestamp"] = Online([online / "timestamp.pub.pem"], "30d", uris=[URIS["timestamp"]])
    text = Plan("toc", [Keyholder("alice", token="tok-alice")], 1, roles, format="notary").text()
    with pytest.raises(PlanError) as e:
        parse_plan(text)
    assert str(e.value) == "roles.timestamp.uris applies to format = \"tuf\" only, not 'notary'"


def _online_keys(ws: Path) -> dict[str, list[dict]]:
    init = json.loads((ws / "journal.jsonl").read_text().splitlines()[0])["data"]
    return init["online_keys"]


def test_init_records_each_uri_in_its_key_under_a_whole_object_id(tmp_path):
    plan = compat_plan(tmp_path / "plan.toml", {"alice": "tok-alice"}, 1, _online(tmp_path),
                       compat=False)
    r = _init(tmp_path, plan)
    assert r.code == 0, r
    for role, keys in _online_keys(tmp_path / "ws").items():
        (key,) = keys
        assert key["x-ceremony-online-uri"] == URIS[role]
        assert "x-tuf-on-ci-online-uri" not in key
        assert key["keyid"] == keyids.whole_object_keyid(key)
    assert _init(tmp_path / "again", compat_plan(tmp_path / "p2.toml", {"alice": "tok-alice"}, 1,
                                                 tmp_path / "online")).code == 0
    for role, keys in _online_keys(tmp_path / "again" / "ws").items():
        assert keys[0]["x-tuf-on-ci-online-uri"] == URIS[role]
        assert "x-ceremony-online-uri" not in keys[0]


GUARD = textwrap.dedent("""
    import builtins, socket, sys, traceback
    CLOUD = ("boto3", "botocore", "google.cloud", "azure", "hvac")
    attempts, calls = [], []
    real_import = builtins.__import__

    def guarded(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and name.startswith(CLOUD):
            who = (globals or {}).get("__name__", "?")
            attempts.append(who)
            raise ImportError(f"{name} blocked by the test")
        return real_import(name, globals, locals, fromlist, level)

    def refuse(*args, **kwargs):
        calls.append(repr(args[:2]))
        raise OSError("network blocked by the test")

    builtins.__import__ = guarded
    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.getaddrinfo = refuse
    socket.create_connection = refuse
    from ceremony.cli import main
    code = main(sys.argv[1:])
    ours = [w for w in attempts if not w.startswith("securesystemslib.signer._")]
    print(code, "attempts-by-ceremony:", ours, "network:", calls)
""")


def test_init_never_contacts_a_kms_nor_imports_a_cloud_sdk(tmp_path):
    """In a fresh process with the network and every cloud SDK import blocked: init records the
    URIs; nothing tried to connect, and no cloud SDK import came from anything but
    securesystemslib's own optional probes at its import (the tool never resolves a URI)."""
    plan = compat_plan(tmp_path / "plan.toml", {"alice": "tok-alice"}, 1, _online(tmp_path))
    run = subprocess.run([sys.executable, "-c", GUARD, "init", str(tmp_path / "ws"), "--plan", str(plan)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                              "HOME": str(tmp_path)})
    assert run.stdout.strip().splitlines()[-1] == "0 attempts-by-ceremony: [] network: []", run
    assert _online_keys(tmp_path / "ws")["timestamp"][0]["x-tuf-on-ci-online-uri"] == URIS["timestamp"]


@pytest.mark.parametrize("holders, message", [
    ({"alice_w": "tok-a"}, "keyholder 'alice_w' cannot sign in tuf-on-ci: with compat = \"tuf-on-ci\" a "
                           "keyholder's name is their GitHub user name (letters, digits and single "
                           "inner hyphens, at most 39)"),
    ({"alice--w": "tok-a"}, "keyholder 'alice--w' cannot sign in tuf-on-ci: with compat = \"tuf-on-ci\" a "
                            "keyholder's name is their GitHub user name (letters, digits and single "
                            "inner hyphens, at most 39)"),
    ({"Alice": "tok-a", "alice": "tok-b"},
     "keyholders 'Alice' and 'alice' are both @alice to tuf-on-ci (it ignores case): give each "
     "keyholder their own GitHub user name"),
])
def test_tuf_on_ci_keyholders_are_github_user_names(tmp_path, holders, message):
    plan = compat_plan(tmp_path / "plan.toml", holders, 1, _online(tmp_path))
    _refused(tmp_path, plan, message)
    # the same names are fine without compat (the URIs then go into x-ceremony-online-uri)
    assert parse_plan(compat_plan(tmp_path / "p2.toml", holders, 1, tmp_path / "online",
                                  compat=False).read_text()).compat is None


def test_tuf_on_ci_delegations_are_to_keyholders(tmp_path):
    partner = Role("partner", [], 1, paths=["p/*"], extra='keys = ["online/online.pub.pem"]')
    plan = compat_plan(tmp_path / "plan.toml", {"alice": "tok-alice"}, 1, _online(tmp_path),
                       delegations=[partner])
    _refused(tmp_path, plan, "compat = \"tuf-on-ci\": delegation 'partner' names keys held elsewhere "
                             "(keys = ...), which tuf-on-ci cannot name: its signers are keyholders "
                             "(an @owner on each key)")
    # without compat the same delegation is a plan like any other
    assert parse_plan(compat_plan(tmp_path / "p2.toml", {"alice": "tok-alice"}, 1, tmp_path / "online",
                                  compat=False, delegations=[partner]).read_text()).compat is None
