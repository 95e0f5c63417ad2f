"""Signing across sessions (detached signatures) and the emergency rotation, end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import SoftHsm
from tests.support.clients import both_clients_accept
from tests.support.helpers import cli, make_online_keys, run_steps
from tests.support.plans import Keyholder, Plan, online_roles, plan_toml
from tests.support.tuf_repo import publish_online, serve

FIVE = {k: f"tok-{k}" for k in ("alice", "bob", "carol", "dave", "erin")}
ROLES = ("targets", "snapshot", "timestamp")


def _paths(d: Path) -> dict[str, list[str]]:
    return {r: [str(d / f"{r}.pub.pem")] for r in ROLES}


def test_draft_travels_is_signed_elsewhere_and_comes_back(hsm: SoftHsm, tmp_path: Path) -> None:
    hsm.make(*FIVE.values())
    make_online_keys(hsm, tmp_path / "a", label="online-a")
    plan = tmp_path / "p.toml"
    plan.write_text(plan_toml("travel", FIVE, list(FIVE), 3, _paths(tmp_path / "a")))
    ws = tmp_path / "ws"
    run_steps(hsm, ws, plan, None, ["alice"], publish=False)
    r = cli("export-draft", ws, "--out", tmp_path / "draft.json")
    assert r.code == 0, r.err
    for k in ("bob", "carol"):
        r = cli("sign-draft", tmp_path / "draft.json", "--keyholder", k, "--pin-file", hsm.pin_file,
                "--expect-digest", _digest(tmp_path / "draft.json"))
        assert r.code == 0, r.err
    sig_bob = tmp_path / "1.root.sig-bob.json"
    sig_carol = tmp_path / "1.root.sig-carol.json"
    journal = (ws / "journal.jsonl").read_bytes()

    # Bad inputs first: each refused with its reason, nothing changes.
    doc = json.loads(sig_bob.read_text())
    cases = {
        "repo": ({**doc, "repository": "other/repo"},
                 "is a signature for repository 'other/repo', not 'test/repo'"),
        "ceremony": ({**doc, "ceremony_id": "x"}, "belongs to another ceremony (x)"),
        "stale": ({**doc, "digest": "00" * 32}, "signs another draft (digest 0000000000000000...)"),
        "forged": ({**doc, "signatures": [{**doc["signatures"][0],
                                           "sig": json.loads(sig_carol.read_text())["signatures"][0]["sig"]}]},
                   "the signature by bob does not verify over root v1"),
        "not bob's": ({**doc, "signatures": json.loads(sig_carol.read_text())["signatures"]},
                      "the signature is from a key that is not bob's root key"),
    }
    for name, (bad, message) in cases.items():
        f = tmp_path / f"bad-{name.replace(' ', '_').replace(chr(39), '')}.json"
        f.write_text(json.dumps(bad))
        r = cli("import-signature", ws, f)
        assert r.code == 3, (name, r.err)
        assert message in r.err, (name, r.err)
    assert (ws / "journal.jsonl").read_bytes() == journal

    assert cli("import-signature", ws, sig_bob).code == 0
    r = cli("import-signature", ws, sig_bob)
    assert r.code == 8 and "bob has already signed root v1" in r.err
    r = cli("import-signature", ws, sig_carol)
    assert r.code == 0 and "root v1: 3/3 - alice, bob, carol signed; threshold met" in r.out
    assert cli("publish", ws).code == 0


def test_emergency_targets_then_two_of_five_root_keys(hsm: SoftHsm, tmp_path: Path) -> None:
    hsm.make(*FIVE.values())
    a = make_online_keys(hsm, tmp_path / "a", label="online-a")
    b = make_online_keys(hsm, tmp_path / "b", label="online-b")
    c_keys = make_online_keys(hsm, tmp_path / "c", label="online-c")
    plan = tmp_path / "p.toml"
    plan.write_text(plan_toml("acme", FIVE, list(FIVE), 3, _paths(tmp_path / "a")))
    repo = tmp_path / "repo"
    (repo / "metadata").mkdir(parents=True)
    ws1 = tmp_path / "ws1"
    run_steps(hsm, ws1, plan, None, ["alice", "bob", "carol"])
    shutil.copy(ws1 / "metadata" / "1.root.json", repo / "metadata")
    bootstrap = (repo / "metadata" / "1.root.json").read_bytes()

    # 1. the targets (tagging) key is stolen
    r = cli("compromise", ws1, "--role", "targets")
    assert r.code == 0, r.err
    assert "online keys to replace: targets" in r.out
    assert "re-sign targets.json with the NEW targets (tagging) key" in r.out
    emergency = ws1 / "out" / "emergency"
    (emergency / "new-online").mkdir()
    old_targets = json.loads(bootstrap)["signed"]["roles"]["targets"]["keyids"][0]
    text = (emergency / "emergency-plan.toml").read_text()
    assert f'compromised_keys = ["{old_targets}"]' in text
    # The stolen key itself is refused as the new targets key, and a key id the root lacks is refused.
    (emergency / "new-online" / "targets.pub.pem").write_bytes((tmp_path / "a" / "targets.pub.pem").read_bytes())
    r = cli("init", tmp_path / "ws-bad", "--plan", emergency / "emergency-plan.toml", "--previous", repo / "metadata")
    assert (r.code, r.err.splitlines()[0]) == (2, f"error: the plan's targets key ({old_targets[:12]}) is "
                                                  "declared compromised (ceremony.compromised_keys): the "
                                                  "emergency needs a new one")
    (emergency / "bad-plan.toml").write_text(text.replace(old_targets, "ab" * 32))
    r = cli("init", tmp_path / "ws-bad", "--plan", emergency / "bad-plan.toml", "--previous", repo / "metadata")
    assert (r.code, r.err.splitlines()[0]) == (
        2, f"error: ceremony.compromised_keys: {'ab' * 6} is not a key of the previous root v1")
    assert not (tmp_path / "ws-bad").exists()
    shutil.copy(tmp_path / "b" / "targets.pub.pem", emergency / "new-online" / "targets.pub.pem")
    ws2 = tmp_path / "ws2"
    r = cli("init", ws2, "--plan", emergency / "emergency-plan.toml", "--previous", repo / "metadata")
    assert r.code == 0 and f"declared compromised (never sign, never kept): targets key {old_targets[:12]}" in r.out
    r = cli("draft", ws2)
    assert r.code == 0 and "targets: + add key" in r.out and "targets: - remove key" in r.out
    for k in ("dave", "erin", "alice"):
        assert cli("sign", ws2, "--keyholder", k, "--pin-file", hsm.pin_file).code == 0
    assert cli("publish", ws2).code == 0
    shutil.copy(ws2 / "metadata" / "2.root.json", repo / "metadata")
    online_now = {**a.open(), "targets": b.open()["targets"]}
    publish_online(repo, online_now, version=2)
    with serve(repo) as url:
        both_clients_accept(url, tmp_path / "client-v2", bootstrap, root_version=2)

    # 2. two of five root keys (threshold 3) are compromised: still in band
    r = cli("compromise", ws2, "--keyholder", "alice", "--key", _keyid_of(ws2, "bob"),
            "--out", tmp_path / "e2")
    assert r.code == 0 and "root keys to remove: bob, alice" in r.out
    assert "in band: 3 honest root keys (carol, dave, erin) can meet the previous threshold of 3" in r.out
    assert "online keys to replace: targets, snapshot, timestamp" in r.out
    (tmp_path / "e2" / "new-online").mkdir()
    for role in ROLES:
        shutil.copy(tmp_path / "c" / f"{role}.pub.pem", tmp_path / "e2" / "new-online" / f"{role}.pub.pem")
    ws3 = tmp_path / "ws3"
    r = cli("init", ws3, "--plan", tmp_path / "e2" / "emergency-plan.toml", "--previous", repo / "metadata")
    assert r.code == 0, r.err
    alice_id, bob_id = _keyid_of(ws2, "alice"), _keyid_of(ws2, "bob")
    assert (f"declared compromised (never sign, never kept): bob's root key {bob_id[:12]}, "
            f"alice's root key {alice_id[:12]}") in r.out
    assert cli("draft", ws3).code == 0
    # The compromised keys never sign: not in the room, not as a detached signature.
    r = cli("sign", ws3, "--keyholder", "alice", "--pin-file", hsm.pin_file)
    assert (r.code, r.err.splitlines()) == (3, [
        f"error: alice's key {alice_id[:12]} was declared compromised (ceremony.compromised_keys): "
        "it does not sign this root",
        "hint: the other keyholders sign; a compromised key never counts"])
    status = cli("status", ws3).out
    assert "next: ceremony sign WORKSPACE --keyholder carol" in status
    assert "previous root v2: 0/3 - nobody has signed; waiting for 3 of carol, dave, erin" in status
    from ceremony.engine import Ceremony
    from ceremony.tui.flow import signing_candidates
    assert signing_candidates(Ceremony.open(ws3)) == ["carol", "dave", "erin"]  # the TUI's list
    from ceremony.plan import parse_plan
    from ceremony.tui.screens.plan import plan_text, plan_words
    shown = plan_text(Ceremony.open(ws3)).plain  # the TUI's plan screen
    assert "Trusted root v1 fingerprint (compare with the words the repository's holder " \
        "reads): " in shown  # the root the previous chain was taken from, in full words
    assert (f"Declared compromised (never sign, never kept): bob's root key {bob_id[:12]}, "
            f"alice's root key {alice_id[:12]}") in shown
    ahead = plan_words(parse_plan((tmp_path / "e2" / "emergency-plan.toml").read_text()),
                       lambda _n: False, None, "").plain  # before the workspace exists
    assert f"Declared compromised (never sign, never kept): key {bob_id[:12]}, key {alice_id[:12]}" in ahead
    assert "OUT-OF-BAND" not in ahead  # in band: the honest three meet the old threshold
    assert cli("export-draft", ws3, "--out", tmp_path / "d3.json").code == 0
    trust = ("--trusted", repo / "metadata")  # bob's own copy of the published chain
    r = cli("sign-draft", tmp_path / "d3.json", "--keyholder", "bob", "--pin-file", hsm.pin_file, *trust,
            "--expect-digest", _digest(tmp_path / "d3.json"))
    assert r.code == 3 and f"bob's key {bob_id[:12]} was declared compromised" in r.err
    # Even with the list stripped from the travelling file, the workspace refuses the signature.
    doc = json.loads((tmp_path / "d3.json").read_text())
    del doc["compromised_keys"]
    (tmp_path / "d3-stripped.json").write_text(json.dumps(doc))
    r = cli("sign-draft", tmp_path / "d3-stripped.json", "--keyholder", "bob", "--pin-file", hsm.pin_file,
            *trust, "--expect-digest", _digest(tmp_path / "d3.json"))
    assert r.code == 0, r.err
    r = cli("import-signature", ws3, tmp_path / "3.root.sig-bob.json")
    assert r.code == 3 and f"bob's key {bob_id[:12]} was declared compromised" in r.err
    assert all(json.loads(x)["type"] != "signature-added"
               for x in (ws3 / "journal.jsonl").read_text().splitlines())
    for k in ("carol", "dave", "erin"):  # the honest three meet the old threshold of 3
        assert cli("sign", ws3, "--keyholder", k, "--pin-file", hsm.pin_file).code == 0
    assert cli("publish", ws3).code == 0
    assert cli("record", "report", ws3).code == 0
    report = (ws3 / "record" / "report.html").read_text()
    assert "EMERGENCY ROTATION" in report and "Keys declared compromised" in report
    assert f"<code>{alice_id}</code>" in report and f"<code>{bob_id}</code>" in report
    shutil.copy(ws3 / "metadata" / "3.root.json", repo / "metadata")
    publish_online(repo, c_keys.open(), version=3)
    with serve(repo) as url:
        both_clients_accept(url, tmp_path / "client-v3", bootstrap, root_version=3)


def test_compromise_beyond_the_old_threshold_says_out_of_band(hsm: SoftHsm, tmp_path: Path) -> None:
    three = {k: FIVE[k] for k in ("alice", "bob", "carol")}
    hsm.make(*three.values())
    make_online_keys(hsm, tmp_path / "a", label="online-a")
    plan = tmp_path / "p.toml"
    plan.write_text(plan_toml("small", three, list(three), 1, _paths(tmp_path / "a")))
    ws = tmp_path / "ws"
    run_steps(hsm, ws, plan, None, ["alice"])
    r = cli("compromise", ws, "--keyholder", "alice")
    assert r.code == 0
    assert "OUT OF BAND: the attacker holds 1 root keys" in r.out
    text = (ws / "out" / "emergency" / "emergency-plan.toml").read_text()
    assert "out_of_band = true" in text
    from ceremony.plan import parse_plan
    from ceremony.tui.screens.plan import plan_words
    shown = plan_words(parse_plan(text), lambda _n: False, None, "").plain
    assert "OUT-OF-BAND ROOT: clients must be given the new root directly" in shown
    # alice stays a keyholder with the same token: her compromised key is not kept, she makes a new one.
    old_alice = _keyid_of(ws, "alice")
    assert f'compromised_keys = ["{old_alice}"]' in text
    emergency = ws / "out" / "emergency"
    (emergency / "new-online").mkdir()
    for role in ROLES:
        shutil.copy(tmp_path / "a" / f"{role}.pub.pem", emergency / "new-online" / f"{role}.pub.pem")
    (emergency / "emergency-plan.toml").write_text(text.replace('keyholders = ["bob", "carol"]',
                                                                'keyholders = ["alice", "bob", "carol"]'))
    ws2 = tmp_path / "ws2"
    r = cli("init", ws2, "--plan", emergency / "emergency-plan.toml", "--previous", ws / "metadata")
    assert r.code == 0 and "next: ceremony keygen WORKSPACE --keyholder NAME for alice" in r.out, r.out + r.err
    assert cli("keygen", ws2, "--keyholder", "alice", "--pin-file", hsm.pin_file).code == 0
    assert cli("draft", ws2).code == 0
    assert cli("sign", ws2, "--keyholder", "alice", "--pin-file", hsm.pin_file).code == 0
    assert cli("publish", ws2).code == 0
    new_root = json.loads((ws2 / "metadata" / "2.root.json").read_text())["signed"]
    assert old_alice not in new_root["keys"] and _keyid_of(ws2, "alice") in new_root["roles"]["root"]["keyids"]
    r = cli("compromise", ws, "--key", "abc")
    assert r.code == 64 and "give at least 8 hex digits" in r.err


def test_compromised_keys_need_a_previous_root(hsm: SoftHsm, tmp_path: Path) -> None:
    make_online_keys(hsm, tmp_path / "a", label="online-a")
    plan = tmp_path / "p.toml"
    plan.write_text(plan_toml("first", {"alice": "tok-alice"}, ["alice"], 1, _paths(tmp_path / "a"),
                              compromised_keys=["ab" * 32]))
    r = cli("init", tmp_path / "ws", "--plan", plan)
    assert (r.code, r.err.splitlines()[0]) == (
        2, "error: ceremony.compromised_keys only applies when continuing a repository (--previous)")
    assert not (tmp_path / "ws").exists()


def _digest(draft: Path) -> str:
    """The draft's digest as the room reads it (the hex form ``--expect-digest`` takes too)."""
    return str(json.loads(draft.read_text())["digest"])


def _keyid_of(ws: Path, keyholder: str) -> str:
    root = json.loads((ws / "metadata" / "root.json").read_text())["signed"]
    return next(k for k, v in root["keys"].items() if v.get("x-ceremony-keyholder") == keyholder)


def test_emergency_plan_keeps_yubikey_keyholders_as_yubikeys(tmp_path: Path) -> None:
    """The emergency plan must carry device/touch, or a new keygen would treat a YubiKey as PKCS#11."""
    from types import SimpleNamespace

    from cryptography.hazmat.primitives.asymmetric import ec
    from tuf.api.metadata import Root

    from ceremony.compromise import assess, write_plan
    from ceremony.keys import key_from_crypto
    from ceremony.plan import parse_plan

    holders = [Keyholder("alice", token="tok-alice"),
               Keyholder("bob", device="yubikey", serial="12345678", touch="cached")]
    text = Plan("yk", holders, 1, online_roles(_paths(tmp_path / "a"))).text()
    plan = parse_plan(text)
    online = {r: [key_from_crypto(ec.generate_private_key(ec.SECP256R1()).public_key())] for r in ROLES}
    root = Root()
    for name in ("alice", "bob"):
        k = key_from_crypto(ec.generate_private_key(ec.SECP256R1()).public_key())
        from ceremony.formats.tuf import root_key
        root.add_key(root_key(k, name, "ecdsa-p256", None, None, "pkcs11:token=x;id=%01"), "root")
    c = SimpleNamespace(plan=plan, online_keys=lambda: online)
    a = assess(root, plan, role="targets")
    out = write_plan(c, a, tmp_path / "e")
    emergency = parse_plan(out.read_text().replace("new-online/targets.pub.pem", "x"))
    bob = emergency.keyholder("bob")
    assert (bob.device, bob.serial, bob.touch) == ("yubikey", "12345678", "cached")


def test_compromised_delegation_key_needs_no_new_root(hsm: SoftHsm, tmp_path: Path) -> None:
    """A stolen delegation key is revoked by the online side re-signing targets; root is untouched."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from tuf.api.metadata import DelegatedRole, Delegations, Metadata, Targets
    from tuf.api.serialization.json import JSONSerializer

    from ceremony.keys import key_from_crypto
    from tests.support.tuf_repo import signer

    three = {k: FIVE[k] for k in ("alice", "bob", "carol")}
    hsm.make(*three.values())
    online = make_online_keys(hsm, tmp_path / "a", label="online-a")
    plan = tmp_path / "p.toml"
    plan.write_text(plan_toml("deleg", three, list(three), 2, _paths(tmp_path / "a")))
    ws = tmp_path / "ws"
    run_steps(hsm, ws, plan, None, ["alice", "bob"])
    releases = key_from_crypto(ec.generate_private_key(ec.SECP256R1()).public_key())
    md = Metadata(Targets(version=4))
    md.signed.delegations = Delegations({releases.keyid: releases},
                                        roles={"releases": DelegatedRole("releases", [releases.keyid], 1, True,
                                                                         paths=["releases/*"])})
    md.sign(signer(online.open()["targets"]))
    targets = tmp_path / "targets.json"
    targets.write_bytes(md.to_bytes(JSONSerializer()))

    r = cli("compromise", ws, "--key", releases.keyid[:10])
    assert (r.code, r.err.splitlines()) == (64, [
        f"error: --key {releases.keyid[:10]} matches 0 keys of root v1; give at least 8 hex digits of one key id",
        "hint: a delegation key? give the current targets.json with --targets FILE"])

    r = cli("compromise", ws, "--key", releases.keyid[:10], "--targets", targets)
    assert r.code == 0, r.err
    assert r.out.splitlines() == [
        "current root: v1, root threshold 2 of 3",
        f"delegation key {releases.keyid[:12]}: delegated by targets v4 to releases; root does not list it, "
        "so it changes no root",
        "no new root is needed",
        "follow-up on the online side:",
        f"  - re-sign targets.json with the targets key, removing key {releases.keyid[:12]} from releases (add "
        "its replacement), then publish a new snapshot and timestamp; roles delegated further down re-sign "
        "their own delegations",
        "  - if the targets (tagging) key may have been exposed with it, also run `ceremony compromise ... "
        "--role targets`",
        "no emergency plan was written: the online side's follow-up above is the response"]
    assert not (ws / "out" / "emergency").exists()

    # With the tagging key named too, the root changes: the plan is written as usual.
    r = cli("compromise", ws, "--key", releases.keyid[:10], "--role", "targets", "--targets", targets, "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    old_targets = json.loads((ws / "metadata" / "1.root.json").read_text())["signed"]["roles"]["targets"]["keyids"]
    assert (doc["replace_online"], doc["compromised_keys"], doc["delegated"]) == (
        ["targets"], old_targets, {releases.keyid: ["releases"]})
    assert doc["plan"] == str(ws / "out" / "emergency" / "emergency-plan.toml") and Path(doc["plan"]).exists()

    # A targets.json not signed by this root's targets key cannot say what is delegated.
    other = make_online_keys(hsm, tmp_path / "b", label="online-b")
    md.signatures.clear()
    md.sign(signer(other.open()["targets"]))
    targets.write_bytes(md.to_bytes(JSONSerializer()))
    r = cli("compromise", ws, "--key", releases.keyid[:10], "--targets", targets, "--out", tmp_path / "e")
    assert (r.code, r.err.splitlines()[0]) == (3, f"error: {targets} is not signed by the targets key(s) of "
                                                  "root v1: it cannot say which keys are delegated")
    # Signed by the targets key, and also by a key root does not give targets: refused, not ignored.
    md.signatures.clear()
    md.sign(signer(online.open()["targets"]))
    md.sign(signer(other.open()["targets"]), append=True)
    stray = list(md.signatures)[-1]
    targets.write_bytes(md.to_bytes(JSONSerializer()))
    r = cli("compromise", ws, "--key", releases.keyid[:10], "--targets", targets, "--out", tmp_path / "e")
    assert (r.code, r.err.splitlines()[0]) == (3, f"error: {targets} carries a signature by key id "
                                                  f"{stray[:16]}, which is not a key of the targets role "
                                                  "as root v1 lists it: a signature the role does not "
                                                  "ask for is refused, not ignored")
    snapshot_like = tmp_path / "root-as-targets.json"
    shutil.copy(ws / "metadata" / "1.root.json", snapshot_like)
    r = cli("compromise", ws, "--key", releases.keyid[:10], "--targets", snapshot_like, "--out", tmp_path / "e")
    assert (r.code, r.err.splitlines()[0]) == (3, f"error: {snapshot_like} is root metadata, not targets")
    assert not (tmp_path / "e").exists()


def test_unwritable_destinations_are_operator_errors(hsm: SoftHsm, tmp_path: Path) -> None:
    """A workspace or an emergency plan aimed below a file: exit 7 with the path, no traceback."""
    hsm.make("tok-alice")
    make_online_keys(hsm, tmp_path / "a", label="online-a")
    plan = tmp_path / "p.toml"
    plan.write_text(plan_toml("w", {"alice": "tok-alice"}, ["alice"], 1, _paths(tmp_path / "a")))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    r = cli("init", blocker / "ws", "--plan", plan)
    assert r.code == 7 and r.err.startswith(f"error: cannot create the workspace {blocker / 'ws'}: ")
    assert r.err.splitlines()[1] == "hint: choose a folder on a writable disk"
    ws = tmp_path / "ws"
    run_steps(hsm, ws, plan, None, ["alice"])
    r = cli("compromise", ws, "--role", "targets", "--out", blocker / "e")
    assert r.code == 7 and r.err.startswith(f"error: cannot write {blocker / 'e'}/"), r.err
    assert "Traceback" not in r.err and blocker.read_text() == "not a folder\n"
