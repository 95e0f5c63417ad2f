"""`ceremony record compare LIVE REHEARSAL`: real SoftHSM ceremonies of one plan shape.

The rehearsal runs the plan with ``rehearsal = true`` on its own tokens, on a connected
machine (its preflight only warns); the "live" run is the same plan with ``rehearsal = false``
on other tokens, after a passing preflight recorded from a fake clean machine (files, as in
tests/engine/test_preflight.py). Parity holds between them; a live run that skipped a step, signed with
other keyholders or exported once more is refused, and the difference is named exactly.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ceremony import compare as cmp, journal, preflight
from ceremony.engine import Ceremony
from ceremony.journal import Event
from ceremony.steps import seal as steps_seal
from tests.conftest import SoftHsm
from tests.support.helpers import cli
from tests.support.machines import fake_machine
from tests.support.plans import plan_toml

HOLDERS = ("alice", "bob", "carol")
ROLES = ("targets", "snapshot", "timestamp")


def online_keys(directory: Path) -> dict[str, list[str]]:
    """Software online public keys (no token step touches them)."""
    directory.mkdir(parents=True, exist_ok=True)
    for role in ROLES:
        pub = ec.generate_private_key(ec.SECP256R1()).public_key()
        (directory / f"{role}.pub.pem").write_bytes(
            pub.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    return {r: [str(directory / f"{r}.pub.pem")] for r in ROLES}


def run(hsm: SoftHsm, tmp: Path, name: str, *, live: bool,
        signers: tuple[str, ...] = ("alice", "bob"), exports: tuple[str, ...] = ("usb",)) -> Path:
    """One 2-of-3 bootstrap: preflight → keygen ×3 → draft → sign → publish → exports → seal."""
    prefix = "live" if live else "rehearsal"
    tokens = {k: f"{prefix}-{k}" for k in HOLDERS}
    hsm.make(*tokens.values())
    base = tmp / name
    plan = base / "plan.toml"
    plan.parent.mkdir(parents=True)
    plan.write_text(plan_toml("acme-root", tokens, list(HOLDERS), 2, online_keys(base / "online"),
                              rehearsal=not live))
    c = Ceremony.init(base / "ws", plan)
    machine = fake_machine(base / "machine") if live else \
        fake_machine(base / "machine", up=("eth0",), routes4=("eth0",))
    report = preflight.run_preflight(c, machine, hsm.module, clock_confirmed=live)
    preflight.record_preflight(c, report)
    for k in HOLDERS:
        c.keygen(k, hsm.module, hsm.pin)
    c.draft()
    for k in signers:
        c.sign(k, hsm.module, hsm.pin)
    c.publish()
    for i, how in enumerate(exports):
        target = base / f"{how}-{i}"
        if how == "usb":
            target.mkdir()
            assert cli("export", c.ws.root, "--usb", target).code == 0
        else:
            assert cli("export", c.ws.root, "--qr", target, "--qr-size", "large").code == 0
    c = Ceremony.open(c.ws.root)  # the CLI appended to the journal
    steps_seal.seal(c, hsm.module, hsm.pin)
    return c.ws.root


def events(ws: Path) -> list[Event]:
    return journal.read(ws / "journal.jsonl")


def line_of(ws: Path, type_: str, nth: int = 0) -> int:
    return [e.seq for e in events(ws) if e.type == type_][nth]


@pytest.fixture
def rehearsal(hsm: SoftHsm, tmp_path: Path) -> Path:
    return run(hsm, tmp_path, "rehearsal", live=False)


# ---- real ceremonies ---------------------------------------------------------------------


def test_live_run_of_the_rehearsed_plan_has_parity(hsm: SoftHsm, tmp_path: Path,
                                                   rehearsal: Path) -> None:
    live = run(hsm, tmp_path, "live", live=True)
    r = cli("record", "compare", live, rehearsal)
    assert r.code == 0, r.err + r.out
    assert r.out.splitlines()[-1] == ("parity: the live ceremony followed the rehearsal step by "
                                      "step (12 steps)")
    assert "rehearsal flag: LIVE is live, REHEARSAL is a rehearsal" in r.out
    assert ("preflight: LIVE 1 session(s); REHEARSAL 1 session(s), warnings on clock, network, "
            "route") in r.out
    data = json.loads(cli("record", "compare", live, rehearsal, "--json").out)
    assert data["parity"] is True and data["difference"] is None
    assert data["live"] == [
        "init: tuf ceremony for test/repo",
        "alice generated an ecdsa-p256 key", "bob generated an ecdsa-p256 key",
        "carol generated an ecdsa-p256 key", "drafted root v1",
        "alice signed root v1 with a key of the new root",
        "bob signed root v1 with a key of the new root",
        "published root v1 (1.root.json, root.json)",
        "exported the signed-metadata bundle by usb",
        "alice sealed the journal", "bob sealed the journal", "record sealed by alice, bob"]
    assert data["rehearsal"] == data["live"]
    # Keys, serials, times, ids and digests all differ; none of that is a difference.
    le, re_ = events(live), events(rehearsal)
    assert le[0].data["ceremony_id"] != re_[0].data["ceremony_id"]
    gen = [(e.data["keyid"], e.data["token_serial"]) for e in le if e.type == "key-generated"]
    assert not set(gen) & {(e.data["keyid"], e.data["token_serial"]) for e in re_
                           if e.type == "key-generated"}


def test_a_skipped_step_is_named(hsm: SoftHsm, tmp_path: Path, rehearsal: Path) -> None:
    live = run(hsm, tmp_path, "live", live=True, exports=())
    r = cli("record", "compare", live, rehearsal)
    assert r.code == 3
    want = (f"step 9 (LIVE line {line_of(live, 'seal-signature')}, REHEARSAL line "
            f"{line_of(rehearsal, 'exported')}): LIVE skipped a step of REHEARSAL: exported the "
            "signed-metadata bundle by usb")
    assert f"first unexpected difference: {want}" in r.out
    assert r.err.strip() == f"error: the live ceremony left the rehearsed script: {want}"
    assert r.out.splitlines()[-1] == "parity FAILED"


def test_other_keyholders_signing_are_named(hsm: SoftHsm, tmp_path: Path,
                                            rehearsal: Path) -> None:
    live = run(hsm, tmp_path, "live", live=True, signers=("alice", "carol"))
    r = cli("record", "compare", live, rehearsal, "--json")
    assert r.code == 3
    diff = json.loads(r.out)["difference"]
    assert diff == {
        "step": 7, "kind": "different",
        "live_line": line_of(live, "signature-added", 1),
        "rehearsal_line": line_of(rehearsal, "signature-added", 1),
        "what": ("LIVE: carol signed root v1 with a key of the new root; REHEARSAL: bob signed "
                 "root v1 with a key of the new root (keyholder: LIVE carol, REHEARSAL bob)")}


def test_an_extra_export_is_named(hsm: SoftHsm, tmp_path: Path, rehearsal: Path) -> None:
    live = run(hsm, tmp_path, "live", live=True, exports=("usb", "qr"))
    r = cli("record", "compare", live, rehearsal)
    assert r.code == 3
    assert (f"step 10 (LIVE line {line_of(live, 'exported', 1)}, REHEARSAL line "
            f"{line_of(rehearsal, 'seal-signature')}): LIVE has an extra step not in REHEARSAL: "
            "exported the signed-metadata bundle by qr") in r.err


def test_records_that_cannot_be_compared(tmp_path: Path, rehearsal: Path) -> None:
    r = cli("record", "compare", tmp_path / "nowhere", rehearsal)
    assert r.code == 7 and "is not a ceremony workspace" in r.err
    broken = tmp_path / "broken"
    broken.mkdir()
    lines = (rehearsal / "journal.jsonl").read_text().splitlines()
    lines[3] = lines[3].replace('"alice"', '"mallory"')
    (broken / "journal.jsonl").write_text("\n".join(lines) + "\n")
    r = cli("record", "compare", broken, rehearsal)
    assert r.code == 7 and "journal line 4" in r.err


# ---- the comparison on its own (pure) ------------------------------------------------------


def _evs(*specs: tuple[str, dict]) -> list[Event]:
    return [Event(i, f"2026-01-01T00:00:{i:02d}Z", t, d, "", "") for i, (t, d) in
            enumerate(specs, start=1)]


INIT = ("initialized", {"format": "tuf", "repository": "r", "rehearsal": False,
                        "tool_version": "1", "online_keys": {},
                        "ceremony_id": "c", "plan_sha256": "p", "name": "n", "previous": None,
                        "warnings": []})
# The preflight report's other fields, as a live one journals them (compare ignores them).
_PF = {"rehearsal": False, "clock": "2026-01-01T00:00:00Z", "clock_confirmed": True,
       "clock_floor": {}, "interfaces_up": [], "default_routes": [], "radios_unblocked": [],
       "tool": {}, "libraries": {}, "tokens": [], "host": {}}
GOOD = ("preflight", {"passed": True, "findings": []} | _PF)


def _sig(holder: str, imported: bool = False) -> tuple[str, dict]:
    d = {"keyholder": holder, "keyid": holder * 8, "sig": "00", "draft": "ab", "token_serial": None}
    return ("signature-added", d | ({"imported": "x.json"} if imported else {}))


def _key(holder: str) -> tuple[str, dict]:
    return ("key-generated", {"keyholder": holder, "keyid": holder * 8, "algorithm": "ed25519",
                              "key": {}, "token_label": None, "token_serial": None,
                              "key_id_hex": "01", "uri": "pkcs11:"})


def test_steps_in_another_order_are_named() -> None:
    rehearsal = _evs(INIT, GOOD, _key("alice"), _key("bob"))
    live = _evs(INIT, GOOD, _key("bob"), _key("alice"))
    d = cmp.compare(live, rehearsal).difference
    assert d is not None and (d.step, d.kind) == (2, "order")
    assert d.what == ("steps in another order: LIVE did 'bob generated an ed25519 key' before "
                      "'alice generated an ed25519 key'; REHEARSAL the other way round")


def test_a_resumed_keygen_is_one_step_and_preflights_are_sessions() -> None:
    intent = ("keygen-intent", {"keyholder": "alice", "algorithm": "ed25519", "key_id_hex": "01",
                                "object_label": None, "token_label": None, "token_serial": None})
    rehearsal = _evs(INIT, intent, _key("alice"))
    live = _evs(INIT, GOOD, intent, GOOD, GOOD, _key("alice"))  # crash, new sessions, resume
    result = cmp.compare(live, rehearsal)
    assert result.parity, result.difference
    assert "preflight: LIVE 3 session(s); REHEARSAL no preflight" in result.expected
    unfinished = cmp.compare(_evs(INIT, GOOD, intent), rehearsal).difference
    assert unfinished is not None and unfinished.what == (
        "LIVE: alice began generating an ed25519 key (never finished); REHEARSAL: alice "
        "generated an ed25519 key")


def test_a_live_token_step_without_a_passing_preflight_is_named() -> None:
    rehearsal = _evs(INIT, _key("alice"))
    live = _evs(INIT, ("preflight", {"passed": False, "findings": []} | _PF), _key("alice"))
    d = cmp.compare(live, rehearsal).difference
    assert d is not None and (d.step, d.kind, d.live_line) == (2, "preflight", 3)
    assert d.what == ("LIVE ran 'alice generated an ed25519 key' without a passing preflight "
                      "before it")
    # An imported detached signature was made elsewhere: no preflight on this laptop needed.
    rehearsal = _evs(INIT, _sig("dave", imported=True))
    assert cmp.compare(_evs(INIT, _sig("dave", imported=True)), rehearsal).parity
    # A rehearsal needs none at all.
    reh_init = (INIT[0], INIT[1] | {"rehearsal": True})
    assert cmp.compare(_evs(reh_init, _key("alice")), _evs(reh_init, _key("alice"))).parity


def test_a_different_plan_shape_names_the_field() -> None:
    def draft(threshold: int, expires: str) -> tuple[str, dict]:
        return ("draft-created", {"version": 1, "created": "2026-01-01T00:00:00+00:00", "digest": "d",
                                  "signed": {"version": 1, "expires": expires,
                                             "roles": {"root": {"keyids": ["aa", "bb"],
                                                                "threshold": threshold}},
                                             "keys": {"aa": {"x-ceremony-keyholder": "alice"},
                                                      "bb": {"x-ceremony-keyholder": "bob"}}}})
    rehearsal = _evs(INIT, GOOD, draft(2, "2027-01-01T00:00:00Z"))
    assert cmp.compare(_evs(INIT, GOOD, draft(2, "2027-01-01T00:00:00Z")), rehearsal).parity
    d = cmp.compare(_evs(INIT, GOOD, draft(1, "2026-04-01T00:00:00Z")), rehearsal).difference
    assert d is not None and d.what == (
        "LIVE: drafted root v1; REHEARSAL: drafted root v1 (root threshold: LIVE 1, REHEARSAL 2; "
        "root expiry: LIVE 90d, REHEARSAL 365d)")
    other_repo = (INIT[0], INIT[1] | {"repository": "other"})
    d = cmp.compare(_evs(other_repo, GOOD), _evs(INIT, GOOD)).difference
    assert d is not None and d.step == 1 and "repository: LIVE other, REHEARSAL r" in d.what


def test_unknown_events_compare_without_their_ids_and_times() -> None:
    def witness(name: str, digest: str) -> tuple[str, dict]:
        return ("witness-assertion", {"witness": name, "credential": digest,
                                      "at": "2026-01-01T10:00:00Z", "head": digest})
    rehearsal = _evs(INIT, witness("wendy", "ab" * 16))
    assert cmp.compare(_evs(INIT, witness("wendy", "cd" * 16)), rehearsal).parity
    d = cmp.compare(_evs(INIT, witness("walter", "cd" * 16)), rehearsal).difference
    assert d is not None and d.step == 2 and "witness" in d.what
    step = cmp.steps(rehearsal)[1]
    assert replace(step, number=9).same(step)
