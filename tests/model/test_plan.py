"""Plan validation: every error names the field, before any token is touched."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from ceremony.errors import PlanError
from ceremony.plan import load_online_keys, parse_plan
from tests.support.helpers import cli
from tests.support.plans import plan_text


def test_the_issue_example_parses() -> None:
    p = parse_plan(plan_text(ceremony_extra='pkcs11_module = "/usr/lib/softhsm/libsofthsm2.so"\n'
                                            "rehearsal = true"))
    assert p.name == "acme-root-2026" and p.rehearsal
    assert p.root.threshold == 2 and p.root.keyholders == ("alice", "bob", "carol")
    assert p.keyholder("alice").algorithm == "ecdsa-p256"
    assert p.keyholder("carol").serial == "0123456789abcdef"
    assert p.online_role("timestamp").expires.days == 1


@pytest.mark.parametrize("text, message", [
    (plan_text(ceremony_extra='colour = "blue"'), "unknown field ceremony.colour in the plan"),
    (plan_text(alice_extra='tokn = "x"'), "unknown field keyholders[0].tokn in the plan"),
    (plan_text(threshold="0"), "roles.root.threshold must be at least 1, not 0"),
    (plan_text(threshold="4"), "roles.root.threshold is 4 but the role has only 3 keyholders: "
                               "it could never be met"),
    (plan_text(threshold='"2"'), "roles.root.threshold must be an integer"),
    (plan_text(ceremony_extra='format = "spki"').replace('format = "tuf"\n', ""),
     "ceremony.format must be one of tuf, notary, x509, not 'spki'"),
    (plan_text(alice_extra='algorithm = "dsa"'), "keyholders[0].algorithm must be one of"),
    (plan_text().replace('name = "bob"', 'name = "alice"'), "keyholder 'alice' appears twice"),
    (plan_text().replace('token = "bob-key"', 'token = "alice-key"'),
     "keyholders 'alice' and 'bob' name the same token 'alice-key'"),
    (plan_text().replace('keyholders = ["alice", "bob", "carol"]',
                         'keyholders = ["alice", "bob", "zoe"]'),
     "roles.root.keyholders names 'zoe', who is not in keyholders"),
    (plan_text().replace('keyholders = ["alice", "bob", "carol"]',
                         'keyholders = ["alice", "alice", "bob"]'),
     "roles.root.keyholders lists 'alice' twice"),
    (plan_text().replace('expires = "365d"', 'expires = "1 year"'),
     'roles.root.expires must be a positive duration'),
    (plan_text().replace('[roles.timestamp]', '[roles.timestampp]'),
     "unknown field roles.timestampp in the plan (did you mean `timestamp`?)"),
    (plan_text().replace('token = "bob-key"', ''),
     "keyholders[1] (bob) needs a token label"),
    ("[ceremony\nname=", "the plan is not valid TOML"),
    (plan_text(ceremony_extra='compromised_keys = ["ABCD"]'),
     "ceremony.compromised_keys: 'ABCD' is not a key id (64 lower-case hex digits, as the root lists it)"),
    (plan_text(ceremony_extra=f'compromised_keys = ["{"A" * 64}"]'), "is not a key id"),
    (plan_text(ceremony_extra=f'compromised_keys = ["{"a" * 64}", "{"a" * 64}"]'),
     f"ceremony.compromised_keys lists {'a' * 64!r} twice"),
    (plan_text(ceremony_extra="compromised_keys = []"), "ceremony.compromised_keys must not be empty"),
    (plan_text(ceremony_extra='compromised_keys = "ab"'), "ceremony.compromised_keys must be a list"),
])
def test_plan_errors_name_the_field(text: str, message: str) -> None:
    with pytest.raises(PlanError) as e:
        parse_plan(text)
    assert message in e.value.message
    assert e.value.exit_code == 2


def test_compromised_keys_parse() -> None:
    p = parse_plan(plan_text(ceremony_extra=f'compromised_keys = ["{"0f" * 32}"]'))
    assert p.compromised_keys == ("0f" * 32,)
    assert parse_plan(plan_text()).compromised_keys == ()


def _write_keys(d: Path) -> None:
    (d / "online").mkdir(parents=True)
    for role in ("targets", "snapshot", "timestamp"):
        k = ec.generate_private_key(ec.SECP256R1()).public_key()
        (d / "online" / f"{role}.pub.pem").write_bytes(
            k.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))


def test_online_keys_load_and_bad_key_files_are_refused(tmp_path: Path) -> None:
    _write_keys(tmp_path)
    plan = parse_plan(plan_text())
    keys = load_online_keys(plan, tmp_path)
    assert {r: len(k) for r, k in keys.items()} == {"targets": 1, "snapshot": 1, "timestamp": 1}

    (tmp_path / "online" / "snapshot.pub.pem").unlink()
    with pytest.raises(PlanError, match=r"roles.snapshot.keys\[0\]: key file .* does not exist"):
        load_online_keys(plan, tmp_path)

    (tmp_path / "online" / "snapshot.pub.pem").write_text("hello, I am not a key\n")
    with pytest.raises(PlanError, match=r"roles.snapshot.keys\[0\]: .* is not a public key"):
        load_online_keys(plan, tmp_path)

    priv = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    (tmp_path / "online" / "snapshot.pub.pem").write_bytes(priv)
    with pytest.raises(PlanError, match=r"roles.snapshot.keys\[0\]: .* holds a PRIVATE key"):
        load_online_keys(plan, tmp_path)


def test_tuf_json_key_accepted_and_forged_keyid_refused(tmp_path: Path) -> None:
    import json

    from ceremony.keys import key_from_crypto, load_public_key_file
    key = key_from_crypto(ec.generate_private_key(ec.SECP256R1()).public_key())
    f = tmp_path / "k.json"
    f.write_text(json.dumps({"keyid": key.keyid, **key.to_dict()}))
    assert load_public_key_file(f, "x").key.keyid == key.keyid
    f.write_text(json.dumps({"keyid": "ab" * 32, **key.to_dict()}))
    with pytest.raises(PlanError, match="does not match the key"):
        load_public_key_file(f, "x")


def test_cli_init_reports_plan_error_with_exit_2_and_creates_nothing(tmp_path: Path) -> None:
    _write_keys(tmp_path)
    (tmp_path / "plan.toml").write_text(plan_text(threshold="9"))
    r = cli("init", tmp_path / "ws", "--plan", tmp_path / "plan.toml")
    assert r.code == 2
    assert r.err.startswith("error: roles.root.threshold is 9 but the role has only 3 keyholders")
    assert "Traceback" not in r.err
    assert not (tmp_path / "ws").exists()
