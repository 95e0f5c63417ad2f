"""The notary ceremony's offline checks on SoftHSM: plans, key files, the identity sidecar,
edited drafts, crash resume and chain verification. No server is involved (and no socket)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pkcs11 import Attribute, ObjectClass

from ceremony.errors import RemoteError
from ceremony.formats import notary as notary_engine
from ceremony.formats.notary_files import key_file_bytes
from ceremony.formats.notary_json import parse
from ceremony.formats.notary_keys import public_key_entry
from ceremony.online.notary import NotaryServer, fetch_server_key
from tests.conftest import SoftHsm
from tests.support.helpers import cli
from tests.support.notary_fixtures import no_network, ok
from tests.support.plans import notary_plan

GUN = "example.com/offline/app"


def online_keys(directory: Path, gun: str = GUN) -> tuple[Path, Path]:
    """Server-style snapshot/timestamp key files and a targets .pub.json (public halves only)."""
    directory.mkdir(parents=True, exist_ok=True)
    for role in ("snapshot", "timestamp", "targets"):
        entry = public_key_entry(ec.generate_private_key(ec.SECP256R1()).public_key())
        (directory / f"{role}.pub.json").write_bytes(key_file_bytes(entry, gun=gun, role=role))
    return directory, directory / "targets.pub.json"


def write_plan(tmp: Path, name: str, keys: Path, targets: Path, **kwargs: object) -> Path:
    holders = kwargs.pop("holders", {"alice": "tok-alice"})
    path = tmp / f"{name}.toml"
    gun = str(kwargs.pop("gun", GUN))
    path.write_text(notary_plan(name, gun, holders, list(holders), 1,  # type: ignore[arg-type]
                                targets, keys, **kwargs))  # type: ignore[arg-type]
    return path


def run(hsm: SoftHsm, ws: Path, plan: Path, previous: Path | None = None) -> None:
    pin = ("--pin-file", hsm.pin_file)
    with no_network():
        init = ok(cli("init", ws, "--plan", plan, "--json",
                      *(("--previous", previous) if previous else ())))
        for holder in json.loads(init.out)["needs_keygen"]:
            ok(cli("keygen", ws, "--keyholder", holder, *pin))
        ok(cli("draft", ws))
        ok(cli("sign", ws, "--keyholder", "alice", *pin))
        ok(cli("publish", ws))


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("consistent", "ceremony.consistent_snapshot = true does not apply to notary"),
        ("targets-threshold", "roles.targets.threshold must be 1 for a notary collection, not 2"),
        ("two-timestamps", "roles.timestamp.keys must name exactly one key"),
        ("private", "holds a PRIVATE key; give only the public key"),
        ("other-gun", "is a key for 'example.com/other', not for 'example.com/offline/app'"),
        ("wrong-role", "holds the timestamp key, not a targets key"),
        ("tuf-key", "is not a notary public key: unknown field 'scheme' (a TUF key? notary "
                    "keys have no scheme)"),
        ("out-of-band", "ceremony.out_of_band only applies when continuing a repository"),
    ],
)
def test_plan_and_key_file_refusals(tmp_path: Path, case: str, message: str) -> None:
    keys, targets = online_keys(tmp_path / "keys")
    plan = write_plan(tmp_path, "p", keys, targets)
    text = plan.read_text()
    if case == "consistent":
        text = text.replace('format = "notary"', 'format = "notary"\nconsistent_snapshot = true')
    elif case == "targets-threshold":
        other = tmp_path / "keys" / "targets2.pub.json"
        other.write_bytes(key_file_bytes(public_key_entry(
            ec.generate_private_key(ec.SECP256R1()).public_key()), gun=GUN, role="targets"))
        text = text.replace(f'keys = ["{targets}"]\nthreshold = 1',
                            f'keys = ["{targets}", "{other}"]\nthreshold = 2')
    elif case == "two-timestamps":
        ts = keys / "timestamp.pub.json"
        text = text.replace(f'keys = ["{ts}"]', f'keys = ["{ts}", "{keys / "snapshot.pub.json"}"]')
    elif case == "private":
        targets.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
    elif case == "other-gun":
        doc = json.loads(targets.read_text())
        targets.write_text(json.dumps({**doc, "gun": "example.com/other"}))
    elif case == "wrong-role":
        shutil.copy(keys / "timestamp.pub.json", targets)
    elif case == "tuf-key":
        doc = json.loads(targets.read_text())
        targets.write_text(json.dumps({"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256",
                                       "keyval": doc["keyval"]}))
    elif case == "out-of-band":
        text = text.replace('format = "notary"', 'format = "notary"\nout_of_band = true')
    plan.write_text(text)
    r = cli("init", tmp_path / "ws", "--plan", plan)
    assert r.code == 2, r
    assert message in r.err
    assert not (tmp_path / "ws").exists()


def test_previous_chain_and_sidecar(hsm: SoftHsm, tmp_path: Path) -> None:
    hsm.make("tok-alice")
    keys, targets = online_keys(tmp_path / "keys")
    ws1 = tmp_path / "ws1"
    run(hsm, ws1, write_plan(tmp_path, "v1", keys, targets))
    plan2 = write_plan(tmp_path, "v2", keys, online_keys(tmp_path / "keys2")[1])

    # The sidecar carries alice's token, so her key is kept.
    init = ok(cli("init", tmp_path / "ws2", "--plan", plan2, "--previous", ws1 / "metadata",
                  "--json"))
    assert json.loads(init.out)["needs_keygen"] == []
    assert "continues root v1 (chain verified from 1.root.json)" in ok(cli(
        "init", tmp_path / "ws2b", "--plan", plan2, "--previous", ws1 / "metadata")).out

    # The copy of the previous root is changed after init: the format refuses to read it.
    copy = tmp_path / "ws2" / "previous" / "1.root.json"
    copy.write_bytes(copy.read_bytes() + b" ")
    r = cli("status", tmp_path / "ws2")
    assert (r.code, r.err) == (3, f"error: {copy} was changed after the ceremony started\n")

    # A sidecar for another GUN, or naming keys the chain does not hold, is refused.
    for name, edit, message in (
        ("gun", lambda d: {**d, "gun": "example.com/other"},
         "describes the keys of 'example.com/other', not of 'example.com/offline/app'"),
        ("key", lambda d: {**d, "keys": {"ab" * 32: {"keyholder": "mallory"}}},
         "names key abababababab, which no root of this chain holds"),
    ):
        previous = tmp_path / f"prev-{name}"
        shutil.copytree(ws1 / "metadata", previous)
        sidecar = previous / "ceremony-keys.json"
        sidecar.write_text(json.dumps(edit(json.loads(sidecar.read_text()))))
        r = cli("init", tmp_path / f"ws-{name}", "--plan", plan2, "--previous", previous)
        assert r.code == 3 and message in r.err, r

    # Without the sidecar the chain still verifies, but nobody is known to hold the old key.
    previous = tmp_path / "prev-none"
    shutil.copytree(ws1 / "metadata", previous)
    (previous / "ceremony-keys.json").unlink()
    init = ok(cli("init", tmp_path / "ws3", "--plan", plan2, "--previous", previous, "--json"))
    assert json.loads(init.out)["needs_keygen"] == ["alice"]

    # A chain for another GUN is refused (its certificates name the other GUN).
    other = write_plan(tmp_path, "v2-other", keys, targets, gun="example.com/offline/other")
    text = other.read_text()
    other.write_text(text)
    for path in (keys / "snapshot.pub.json", keys / "timestamp.pub.json", targets):
        doc = json.loads(path.read_text())
        path.write_text(json.dumps({**doc, "gun": "example.com/offline/other"}))
    r = cli("init", tmp_path / "ws-other", "--plan", other, "--previous", ws1 / "metadata")
    assert r.code == 3
    assert ("the certificate's CN is 'example.com/offline/app' but the GUN is "
            "'example.com/offline/other'") in r.err


def test_edited_draft_is_not_signed_and_keygen_resumes(hsm: SoftHsm, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    hsm.make("tok-alice")
    keys, targets = online_keys(tmp_path / "keys")
    ws = tmp_path / "ws"
    ok(cli("init", ws, "--plan", write_plan(tmp_path, "v1", keys, targets)))

    # The process dies after the token made the key, before the key was journaled.
    calls = []

    def dies(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise KeyboardInterrupt

    monkeypatch.setattr(notary_engine, "build_root_certificate", dies)
    assert cli("keygen", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file).code == 130
    monkeypatch.undo()
    ok(cli("keygen", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file))
    token = hsm.module.find_token(label="tok-alice")
    session = hsm.module.login(token, hsm.pin)
    assert len(list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}))) == 1
    ok(cli("draft", ws))

    draft = ws / "metadata/drafts/1.root.json"
    original = draft.read_bytes()
    document = json.loads(original)
    document["signed"]["roles"]["root"]["threshold"] = 2
    draft.write_text(json.dumps(document, separators=(",", ":")))
    r = cli("sign", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file)
    assert (r.code, r.err.splitlines()[-2]) == (
        3, "error: the draft 1.root.json was changed after it was drafted; refusing to sign it")
    draft.write_bytes(original)
    ok(cli("sign", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file))
    again = cli("sign", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file)
    assert (again.code, again.err.splitlines()[-1]) == (
        8, "error: alice has already signed root v1")
    ok(cli("publish", ws))
    published = parse((ws / "metadata/root.json").read_bytes())
    assert [s.keyid for s in published.signatures] == published.signed["roles"]["root"]["keyids"]
    twice = cli("publish", ws)
    assert (twice.code, twice.err.splitlines()[0]) == (8, "error: root v1 is already published")


def test_the_network_guard_catches_the_online_client() -> None:
    with (pytest.raises(AssertionError, match="the offline ceremony tried to open a socket"), no_network(),
          pytest.raises(RemoteError)):
        fetch_server_key(NotaryServer("https://127.0.0.1:9", timeout=1), "example.com/app", "timestamp")


def test_compromise_targets_is_refused_for_a_notary_collection(hsm: SoftHsm,
                                                               tmp_path: Path) -> None:
    """``compromise --targets`` reads TUF targets metadata; a notary format says so (its
    ``targets_refusal``), before the file is read, and nothing is written."""
    hsm.make("tok-alice")
    keys, targets = online_keys(tmp_path / "keys")
    ws = tmp_path / "ws"
    run(hsm, ws, write_plan(tmp_path, "v1", keys, targets))
    journal = (ws / "journal.jsonl").read_bytes()
    r = cli("compromise", ws, "--key", "abcdef0123", "--targets", tmp_path / "missing.json",
            "--out", tmp_path / "e")
    assert (r.code, r.err.splitlines()[0]) == (
        64, "error: --targets reads TUF targets metadata; a Notary collection's delegations are "
            "removed with `notary delegation remove` on the online side")
    assert not (tmp_path / "e").exists() and (ws / "journal.jsonl").read_bytes() == journal
