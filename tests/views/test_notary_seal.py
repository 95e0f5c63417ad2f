"""The seal of a notary ceremony on SoftHSM: the journal head signed by the root keys that signed
the published root, found through the journal and the ceremony-keys.json sidecar (notary roots
carry no names), and checked offline by ``ceremony record verify``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ceremony import record_check
from ceremony.engine import Ceremony
from tests.conftest import SoftHsm
from tests.support.helpers import cli
from tests.support.notary_fixtures import no_network, offline_key_files, ok
from tests.support.plans import notary_plan
from tests.views.test_record import write_lines

GUN = "example.com/sealed/app"


def _plan(tmp: Path, name: str, holders: dict[str, str], threshold: int, targets: Path,
          keys: Path, algorithms: dict[str, str] | None = None) -> Path:
    path = tmp / f"{name}.toml"
    path.write_text(notary_plan(name, GUN, holders, list(holders), threshold, targets, keys,
                                algorithms=algorithms))
    return path


def test_notary_seal_verifies_offline_and_tampering_is_named(hsm: SoftHsm,
                                                             tmp_path: Path) -> None:
    holders = {"alice": "tok-alice", "bob": "tok-bob", "carol": "tok-carol"}
    hsm.make(*holders.values())
    keys, targets = offline_key_files(tmp_path / "keys", GUN)
    ws = tmp_path / "ws"
    pin = ("--pin-file", hsm.pin_file)
    with no_network():
        ok(cli("init", ws, "--plan", _plan(tmp_path, "v1", holders, 2, targets, keys,
                                           algorithms={"alice": "ecdsa-p384"})))
        for holder in holders:
            ok(cli("keygen", ws, "--keyholder", holder, *pin))
        ok(cli("draft", ws))
        ok(cli("sign", ws, "--keyholder", "alice", *pin))
        # carol's signature travels: the seal finds her key all the same
        ok(cli("export-draft", ws, "--out", tmp_path / "draft.json"))
        ok(cli("sign-draft", tmp_path / "draft.json", "--keyholder", "carol", *pin,
               "--expect-digest", json.loads((tmp_path / "draft.json").read_text())["digest"]))
        ok(cli("import-signature", ws, tmp_path / "1.root.sig-carol.json"))
        unpublished = cli("seal", ws, *pin)
        assert (unpublished.code, unpublished.err.splitlines()[0]) == (
            8, "error: no root has been published yet")
        ok(cli("publish", ws))
        unsealed = ok(cli("record", "verify", ws, "--allow-unsealed"))
        assert "keys/root-alice.json matches journal line" in unsealed.out
        bob = cli("seal", ws, "--keyholder", "bob", *pin)
        assert (bob.code, bob.err.splitlines()[0]) == (
            8, "error: bob did not sign the published root, so does not seal it")
        target = len((ws / "journal.jsonl").read_text().splitlines())  # the line the seal covers
        first = ok(cli("seal", ws, "--keyholder", "alice", *pin))
        assert "waiting for carol" in first.out
        done = ok(cli("seal", ws, "--keyholder", "carol", *pin))
        assert done.out.splitlines() == [f"sealed at journal line {target} by alice, carol",
                                         f"record written to {ws / 'record'}"]
        verified = ok(cli("record", "verify", ws))
    assert "record verified" in verified.out
    for needle in ("journal chain intact", "plan.toml matches the journal",
                   "keys/root-bob.json matches journal line",
                   "record/transcript.json matches journal lines"):
        assert needle in verified.out, needle
    v = record_check.check_record(ws)
    assert v.ok and v.sealed and v.sealers == ["alice", "carol"]
    c = Ceremony.open(ws)
    events = c.journal.events
    assert [e.type for e in events[-3:]] == ["seal-signature", "seal-signature", "sealed"]
    seal = events[-1].data
    assert {s["keyholder"]: s["algorithm"] for s in seal["signatures"]} == {
        "alice": "ecdsa-p384", "carol": "ecdsa-p256"}
    assert (ws / "record" / "report.html").is_file()
    assert any(line.startswith(f"ok   seal verified: journal line {seal['seq']} (head "
                               f"{seal['head'][:16]}) signed by alice, carol")
               for line in v.lines())
    again = cli("sign", ws, "--keyholder", "bob", *pin)
    assert again.code == 8 and "the ceremony is sealed" in again.err

    # A forger swaps the two seal signatures and rehashes the whole journal: both fail.
    forged = tmp_path / "forged"
    shutil.copytree(ws, forged)
    cf = Ceremony.open(forged)
    lines = [json.loads(x) for x in cf.ws.journal.read_text().splitlines()]
    sigs = lines[-1]["data"]["signatures"]
    sigs[0]["sig"], sigs[1]["sig"] = sigs[1]["sig"], sigs[0]["sig"]
    write_lines(cf, lines, rehash=True)
    problems = record_check.check_record(forged).problems
    assert "the seal signature of alice does not verify" in problems
    assert "the seal signature of carol does not verify" in problems

    # The published root changed after the seal: named, and the seal cannot be checked.
    changed = tmp_path / "changed"
    shutil.copytree(ws, changed)
    root = changed / "metadata" / "1.root.json"
    root.write_bytes(root.read_bytes().replace(b'"threshold":2', b'"threshold":1', 1))
    problems = record_check.check_record(changed).problems
    assert "metadata/1.root.json differs from the root published at journal line " \
        f"{next(e.seq for e in events if e.type == 'published')}" in problems
    assert any(p.startswith("cannot check the seal: 1.root.json differs from the root "
                            "published") for p in problems)


def test_rotation_seal_names_a_kept_key_through_the_previous_sidecar(hsm: SoftHsm,
                                                                     tmp_path: Path) -> None:
    hsm.make("tok-alice", "tok-dave")
    keys, targets = offline_key_files(tmp_path / "keys", GUN)
    ws1, ws2 = tmp_path / "ws1", tmp_path / "ws2"
    pin = ("--pin-file", hsm.pin_file)
    alice = {"alice": "tok-alice"}
    both = {"alice": "tok-alice", "dave": "tok-dave"}
    with no_network():
        ok(cli("init", ws1, "--plan", _plan(tmp_path, "v1", alice, 1, targets, keys)))
        ok(cli("keygen", ws1, "--keyholder", "alice", *pin))
        ok(cli("draft", ws1))
        ok(cli("sign", ws1, "--keyholder", "alice", *pin))
        ok(cli("publish", ws1))
        init = ok(cli("init", ws2, "--plan", _plan(tmp_path, "v2", both, 2, targets, keys),
                      "--previous", ws1 / "metadata", "--json"))
        assert json.loads(init.out)["needs_keygen"] == ["dave"]
        ok(cli("keygen", ws2, "--keyholder", "dave", *pin))
        ok(cli("draft", ws2))
        for holder in both:
            ok(cli("sign", ws2, "--keyholder", holder, *pin))
        ok(cli("publish", ws2))
        sealed = ok(cli("seal", ws2, *pin))
    assert "sealed at journal line" in sealed.out
    # alice's key was made in ws1: ws2's journal has no key-generated event for her.
    assert [e.data["keyholder"] for e in Ceremony.open(ws2).journal.events
            if e.type == "key-generated"] == ["dave"]
    v = record_check.check_record(ws2)
    assert v.ok, v.problems
    assert v.sealers == ["alice", "dave"]

    # The previous sidecar (who holds which key) was edited after init: the seal cannot be
    # checked, and the record says why.
    tampered = tmp_path / "tampered"
    shutil.copytree(ws2, tampered)
    sidecar = tampered / "previous" / "ceremony-keys.json"
    sidecar.write_text(sidecar.read_text().replace('"tok-alice"', '"tok-mallory"'))
    problems = record_check.check_record(tampered).problems
    assert f"cannot check the seal: {sidecar} was changed after the ceremony started" in problems
    assert not record_check.check_record(tampered).sealed


def test_published_notary_root_is_checked_against_the_journal(hsm: SoftHsm,
                                                              tmp_path: Path) -> None:
    """``notary_record.check_published``: what ``record verify`` can check of a notary root
    beyond its digest (the journaled draft, journaled signatures, thresholds)."""
    from ceremony.formats import notary_record
    from ceremony.formats.notary_json import parse, serialize

    hsm.make("tok-alice")
    keys, targets = offline_key_files(tmp_path / "keys", GUN)
    ws = tmp_path / "ws"
    pin = ("--pin-file", hsm.pin_file)
    with no_network():
        ok(cli("init", ws, "--plan", _plan(tmp_path, "v1", {"alice": "tok-alice"}, 1, targets,
                                           keys)))
        ok(cli("keygen", ws, "--keyholder", "alice", *pin))
        ok(cli("draft", ws))
        ok(cli("sign", ws, "--keyholder", "alice", *pin))
        ok(cli("publish", ws))
    c = Ceremony.open(ws)
    events = c.journal.events
    data = (ws / "metadata/1.root.json").read_bytes()
    assert notary_record.check_published(c.ws, events, 1, data, "1.root.json") == (
        None, "metadata/1.root.json is the journaled draft, signed at threshold (root v1: 1/1 - "
              "alice signed; threshold met)")
    document = parse(data)
    unsigned = serialize(document.signed, [])
    assert notary_record.check_published(c.ws, events, 1, unsigned, "1.root.json") == (
        "metadata/1.root.json is not signed at threshold: root v1: 0/1 - nobody has signed; "
        "waiting for one of alice", None)
    doubled = serialize(document.signed, [*document.signatures, document.signatures[0].__class__(
        "ab" * 32, "ecdsa", document.signatures[0].sig)])
    assert notary_record.check_published(c.ws, events, 1, doubled, "1.root.json")[0] == \
        "metadata/1.root.json carries a signature never journaled (key abababababab)"
    assert notary_record.describe_published(c.ws, events)[-1] == \
        "root v1: 1/1 - alice signed; threshold met"
