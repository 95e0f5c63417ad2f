"""FIDO2 witnesses in the ceremony: plan fields, enrol, sign off the journal head, gate publish
and seal, and ``record verify`` re-checking every sign-off.

The security key is tests/support/fido_soft.SoftAuthenticator behind python-fido2's real client and
server code, reached by the CLI through the test-only seam ``CEREMONY_FIDO_DEVICE``
(``tests.engine.test_witness:security_key``). Its credentials live in a JSON file named by
``WITNESS_TEST_KEY`` (one file = one physical key), so any number of CLI runs (in this
process or another) use the same key, as a person would keep plugging in theirs.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from ceremony.errors import PlanError
from ceremony.plan import parse_plan
from tests.conftest import SoftHsm
from tests.support.fido_soft import SoftAuthenticator
from tests.support.helpers import cli, make_online_keys
from tests.support.plans import ONLINE_ROLES, Keyholder, Plan, online_roles, plan_toml

FACTORY = "tests.engine.test_witness:security_key"
KEY_FILE = "WITNESS_TEST_KEY"
TOUCH = "WITNESS_TEST_TOUCH"  # "0": the witness never touches the key


class FileAuthenticator(SoftAuthenticator):
    """A SoftAuthenticator whose credentials and counter persist in a JSON file."""

    def __init__(self, path: Path) -> None:
        super().__init__(presence=lambda: os.environ.get(TOUCH, "1") != "0")
        self.path = path
        if path.exists():
            data = json.loads(path.read_text())
            self.counter = data["counter"]
            for cid, (rp, pem) in data["keys"].items():
                key = load_pem_private_key(pem.encode(), None)
                assert isinstance(key, ec.EllipticCurvePrivateKey)
                self._keys[bytes.fromhex(cid)] = (rp, key)

    def call(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return super().call(*args, **kwargs)
        finally:
            keys = {cid.hex(): (rp, k.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode())
                    for cid, (rp, k) in self._keys.items()}
            self.path.write_text(json.dumps({"counter": self.counter, "keys": keys}))


def security_key() -> FileAuthenticator:
    """The ``CEREMONY_FIDO_DEVICE`` factory: the key "plugged in" is the file ``WITNESS_TEST_KEY``."""
    return FileAuthenticator(Path(os.environ[KEY_FILE]))


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """``plug(name)`` makes ``name``'s security key the one present."""
    monkeypatch.setenv("CEREMONY_FIDO_DEVICE", FACTORY)

    def plug(name: str) -> None:
        monkeypatch.setenv(KEY_FILE, str(tmp_path / f"fido-{name}.json"))

    return plug


WITNESSES = ("victor", "wendy", "xavier")


def setup_ceremony(hsm: SoftHsm, tmp: Path, required: int = 2, rehearsal: bool = True) -> Path:
    """A 2-of-2 SoftHSM bootstrap with three witnesses, drafted and signed (not published)."""
    hsm.make("tok-alice", "tok-bob")
    make_online_keys(hsm, tmp / "plan" / "online")
    online = {r: [f"online/{r}.pub.pem"] for r in ("targets", "snapshot", "timestamp")}
    text = plan_toml("witnessed", {"alice": "tok-alice", "bob": "tok-bob"}, ["alice", "bob"], 2, online,
                     rehearsal=rehearsal, witnesses_required=required, witnesses=WITNESSES)
    plan = tmp / "plan" / "plan.toml"
    plan.write_text(text)
    ws = tmp / "ws"
    assert cli("init", ws, "--plan", plan).code == 0
    if rehearsal:
        for k in ("alice", "bob"):
            assert cli("keygen", ws, "--keyholder", k, "--pin-file", hsm.pin_file).code == 0
        assert cli("draft", ws).code == 0
        for k in ("alice", "bob"):
            assert cli("sign", ws, "--keyholder", k, "--pin-file", hsm.pin_file).code == 0
    return ws


def head_line(ws: Path) -> int:
    """The journal line a sign-off covers now (the last one that is not a sign-off)."""
    lines = [json.loads(x) for x in (ws / "journal.jsonl").read_text().splitlines()]
    return max(x["seq"] for x in lines if x["type"] not in ("witness-signed", "seal-signature", "sealed"))


def test_publish_and_seal_need_two_witnesses_over_the_current_head(hsm: SoftHsm, tmp_path: Path,
                                                                   keys) -> None:  # type: ignore[no-untyped-def]
    ws = setup_ceremony(hsm, tmp_path)
    r = cli("witness", "sign", ws, "--name", "victor")
    assert (r.code, r.err.splitlines()) == (8, [
        "error: victor has not enrolled a security key in this ceremony",
        f"hint: enrol first: ceremony witness enroll {ws} --name victor"])
    r = cli("witness", "enroll", ws, "--name", "mallory")
    assert (r.code, r.err.splitlines()[0]) == (2, "error: no witness 'mallory' in the plan "
                                                  "(witnesses: victor, wendy, xavier)")

    keys("victor")
    r = cli("witness", "enroll", ws, "--name", "victor")
    assert r.code == 0, r.err
    assert r.err == "victor: touch your security key to enrol\n"
    assert r.out.splitlines()[0] == ("victor enrolled a security key (test device "
                                     f"{FACTORY} (not a security key), AAGUID "
                                     "c0ffee00-c0ff-ee00-c0ff-ee00c0ffee00)")
    r = cli("witness", "enroll", ws, "--name", "victor")
    assert r.code == 8 and r.err.startswith("error: victor has already enrolled a security key in this ceremony")

    line = head_line(ws)
    r = cli("publish", ws)
    assert r.code == 6
    assert r.err.splitlines()[0] == (f"error: publish needs 2 witness sign-offs over journal line {line}; "
                                     "signed off: nobody yet; missing: 2 more of victor, wendy, xavier")
    assert "not enrolled yet: wendy, xavier (`ceremony witness enroll`)" in r.err

    r = cli("witness", "sign", ws, "--name", "victor")
    assert r.code == 0, r.err
    assert "victor: touch your security key to sign off" in r.err
    assert r.out.splitlines()[0].startswith(f"victor signed off journal line {line} (head ")
    assert "  victor: signed off" in r.out.splitlines()
    r = cli("witness", "sign", ws, "--name", "victor")
    assert (r.code, r.err.splitlines()[-1]) == (8, f"error: victor has already signed off journal line {line}")

    # Wendy enrols now: a new journal line, so victor's sign-off covers an older head.
    keys("wendy")
    assert cli("witness", "enroll", ws, "--name", "wendy").code == 0
    line2 = head_line(ws)
    r = cli("publish", ws)
    assert r.code == 6
    assert r.err.splitlines() == [
        f"error: publish needs 2 witness sign-offs over journal line {line2}; signed off: nobody yet; "
        "missing: 2 more of victor, wendy, xavier",
        f"hint: each witness signs off with `ceremony witness sign {ws} --name NAME` right before publish "
        f"(a sign-off covers the journal as it stands); victor signed off line {line}, before later steps "
        "were journaled: sign off again; not enrolled yet: xavier (`ceremony witness enroll`)"]
    assert f"  victor: signed off line {line}, no longer the head" in cli("witness", "status", ws).out

    assert cli("witness", "sign", ws, "--name", "wendy").code == 0
    r = cli("publish", ws)
    assert r.code == 6 and ("signed off: wendy; missing: one more of victor, xavier") in r.err
    keys("victor")
    assert cli("witness", "sign", ws, "--name", "victor").code == 0
    r = cli("publish", ws)
    assert r.code == 0, r.err

    # The seal is a critical step too: the sign-offs before publish do not cover it.
    r = cli("seal", ws, "--pin-file", hsm.pin_file)
    assert r.code == 6 and r.err.startswith(
        f"error: seal needs 2 witness sign-offs over journal line {head_line(ws)}; signed off: nobody yet")
    for w in ("victor", "wendy"):
        keys(w)
        assert cli("witness", "sign", ws, "--name", w).code == 0
    r = cli("seal", ws, "--pin-file", hsm.pin_file)
    assert r.code == 0, r.err

    r = cli("record", "verify", ws)
    assert r.code == 0, r.out + r.err
    ok = [x for x in r.out.splitlines() if "witness" in x or "sign-off" in x]
    assert f"ok   root v1 was published at journal line {line2 + 3} after sign-offs by victor, wendy (2 required)" in ok
    assert any(x.startswith("ok   the record was sealed at journal line") and "after sign-offs by victor, wendy" in x
               for x in ok)
    assert sum("sign-off at journal line" in x and "verifies" in x for x in ok) == 5
    report = (ws / "record" / "report.html").read_text()
    assert "Witnesses (FIDO2)" in report and "signed off journal line" in report


def test_record_verify_names_a_sign_off_over_another_head(hsm: SoftHsm, tmp_path: Path, keys) -> None:  # type: ignore[no-untyped-def]
    from ceremony.engine import Ceremony
    from ceremony.state import WITNESS_SIGNED
    from ceremony.witness import gate_target
    from hsm.fido import WitnessCredential, sign_off
    ws = setup_ceremony(hsm, tmp_path, required=1)
    keys("victor")
    assert cli("witness", "enroll", ws, "--name", "victor").code == 0
    c = Ceremony.open(ws)
    target = gate_target(c.journal.events)
    cred = WitnessCredential.from_dict(c.state.witnesses["victor"]["credential"])
    other = hashlib.sha256(b"a history the witness never saw").digest()
    forged = sign_off(security_key(), cred, other)  # a real assertion, over another head
    c.record(WITNESS_SIGNED, {"witness": "victor", "seq": target.seq, "head": target.hash,
                              "counter": forged.counter, "assertion": forged.to_dict()})
    r = cli("publish", ws)
    assert (r.code, r.err.splitlines()[0]) == (6, (
        f"error: publish needs 1 witness sign-off over journal line {target.seq}; signed off: nobody yet; "
        "missing: one more of victor, wendy, xavier"))
    assert "; the sign-off recorded for victor does not verify: sign off again;" in r.err
    assert "  victor: its sign-off of this line does not verify" in cli("witness", "status", ws).out
    r = cli("record", "verify", ws, "--allow-unsealed")
    assert r.code == 3
    assert (f"FAIL victor's sign-off at journal line {target.seq + 1} does not verify: "
            "victor's sign-off does not verify: Wrong challenge in response.") in r.out.splitlines()


def test_security_key_problems(hsm: SoftHsm, tmp_path: Path, keys, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    ws = setup_ceremony(hsm, tmp_path)
    keys("victor")
    assert cli("witness", "enroll", ws, "--name", "victor").code == 0
    keys("wendy")
    assert cli("witness", "enroll", ws, "--name", "wendy").code == 0
    keys("victor")  # wendy signs with victor's key
    r = cli("witness", "sign", ws, "--name", "wendy")
    assert (r.code, r.err.splitlines()[-2:]) == (4, [
        "error: this security key does not hold wendy's witness credential",
        "hint: use the security key the witness enrolled with"])
    monkeypatch.setenv(TOUCH, "0")
    r = cli("witness", "sign", ws, "--name", "victor")
    assert (r.code, r.err.splitlines()[-1]) == (
        4, "hint: run this step again and touch the key while it blinks")
    assert "error: victor's security key was not touched in time; nothing was signed" in r.err
    assert all(json.loads(x)["type"] != "witness-signed"
               for x in (ws / "journal.jsonl").read_text().splitlines())
    monkeypatch.setenv("CEREMONY_FIDO_DEVICE", "tests.no_such_module:key")
    r = cli("witness", "sign", ws, "--name", "victor")
    assert (r.code, r.err.splitlines()[-1]) == (64, (
        "error: CEREMONY_FIDO_DEVICE='tests.no_such_module:key' does not give a FIDO2 device "
        "(module:callable): ModuleNotFoundError: No module named 'tests.no_such_module'"))


def test_the_test_seam_is_refused_for_a_live_ceremony(hsm: SoftHsm, tmp_path: Path, keys) -> None:  # type: ignore[no-untyped-def]
    ws = setup_ceremony(hsm, tmp_path, rehearsal=False)
    keys("victor")
    r = cli("witness", "enroll", ws, "--name", "victor")
    assert (r.code, r.err.splitlines()) == (64, [
        "error: CEREMONY_FIDO_DEVICE is for tests and rehearsals only: a live ceremony uses the "
        "witness's USB security key", "hint: unset CEREMONY_FIDO_DEVICE"])


def witness_plan(extra: str, witnesses: str) -> str:
    """One keyholder; ``extra`` is raw lines in ``[ceremony]``, ``witnesses`` raw lines at the end
    (the witness tables under test, malformed on purpose in most cases)."""
    one_key = {role: ["t.pem"] for role in ONLINE_ROLES}
    return Plan("w", [Keyholder("alice", token="a")], 1, online_roles(one_key, expires="1d"),
                repository="r", rehearsal=None, extra=extra, tail=witnesses).text()


@pytest.mark.parametrize(("extra", "witnesses", "message"), [
    ("witnesses_required = 3", '[[witnesses]]\nname = "v"\n[[witnesses]]\nname = "w"',
     "ceremony.witnesses_required is 3 but the plan lists only 2 witnesses: it could never be met"),
    ("witnesses_required = 1", "",
     "ceremony.witnesses_required is 1 but the plan lists only 0 witnesses: it could never be met"),
    ("witnesses_required = -1", "", "ceremony.witnesses_required must be 0 or more, not -1"),
    ("witnesses_required = true", "", "ceremony.witnesses_required must be an integer, not a boolean"),
    ("", '[[witnesses]]\nname = "v"\n[[witnesses]]\nname = "v"', "witness 'v' appears twice in witnesses"),
    ("", '[[witnesses]]\nname = "v w"', "witnesses[0].name 'v w' must be letters, digits, '.', '_' or '-'"),
    ("", '[[witnesses]]\nname = "v"\nkey = "x"', "unknown field witnesses[0].key in the plan"),
    ("", '[[witnesses]]\nemail = "v@x"', "witnesses[0].name is required"),
    ("", 'witnesses = "v"', "witnesses must be a list"),
    ('format = "notary"\nwitnesses_required = 1', '[[witnesses]]\nname = "v"',
     'ceremony.witnesses_required is supported for format "tuf" only'),
])
def test_plan_witness_fields(extra: str, witnesses: str, message: str) -> None:
    text = witness_plan(extra, witnesses)
    if witnesses.startswith("witnesses ="):  # a top-level key must come before the tables
        text = witnesses + "\n" + witness_plan(extra, "")
    with pytest.raises(PlanError) as e:
        parse_plan(text)
    assert e.value.message == message and e.value.exit_code == 2


def test_plan_witnesses_parse() -> None:
    plan = parse_plan(witness_plan("witnesses_required = 1",
                                   '[[witnesses]]\nname = "v"\n[[witnesses]]\nname = "w"'))
    assert (plan.witnesses, plan.witnesses_required) == (("v", "w"), 1)
    plain = parse_plan(witness_plan("", ""))
    assert (plain.witnesses, plain.witnesses_required) == ((), 0)
