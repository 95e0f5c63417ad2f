"""Issue 15's "Done when", end to end in one test, all real parts.

A DOI-shaped repository (root 3/5, offline targets 2/4, terminating delegations doi/* 2/7,
testing/* 2/4, rekor/* 2/4 with policy and key files as targets, snapshot and timestamp online
on one KMS key named by its URI, ``compat = "tuf-on-ci"``) is made by a scripted ceremony
through the CLI where every offline key is on a virtual YubiKey (tests/support/vpiv: real
pcscd, libykcs11, yubikit, real attestations). The harness has two readers, so the seven
keyholders' cards take turns in the first one, as they would at a one-reader ceremony
table. Then: python-tuf's ngclient and tuf-js download a delegated target; the real
``tuf-on-ci-sign`` continues it (a signing event adding a policy to ``doi``, signed by alice
and bob on their YubiKeys through ykcs11, pushed to a local bare remote); both clients accept
the new policy; and ``ceremony audit`` of the published repository binds every offline key
(root, targets, the three delegations) to its YubiKey attestation: exit 0, no finding.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tuf.api.metadata import Metadata, Root, Targets

from ceremony.formats import tuf_layout
from ceremony.rehearse import DOI_HOLDERS, DOI_ROOT, write_doi_plan
from tests.conftest import SoftHsm
from tests.e2e.test_tufonci_doi import EVENT, NEW_POLICY, _signing_event
from tests.engine.test_yubikey_ceremony import files  # noqa: F401  (PIN/PUK files, the test CA's roots)
from tests.support.clients import both_clients_accept
from tests.support.helpers import cli, make_online_keys
from tests.support.tuf_repo import serve
from tests.support.tufonci import KMS, git, publish_online, run_sign, seed_repository
from tests.support.vpiv.card import VirtualYubiKey
from tests.support.vpiv.fixtures import PIN, next_serial, pcsc  # noqa: F401
from tests.support.vpiv.harness import YKCS11, PcscHarness

#: The reader every card is inserted into, one at a time.
READER = 0


def _plan(tmp: Path, cards: dict[str, VirtualYubiKey]) -> Path:
    """The doi scenario's plan with tuf-on-ci's compat, one online key named by its KMS URI
    for snapshot and timestamp, and every keyholder on their YubiKey."""
    plan = tmp / "plan" / "plan-doi.toml"
    plan.parent.mkdir(parents=True, exist_ok=True)
    write_doi_plan(plan, "ecdsa-p256", tmp / "plan" / "online")
    text = plan.read_text().replace("rehearsal = true\n", 'rehearsal = true\ncompat = "tuf-on-ci"\n')
    text = re.sub(r'keys = \["online/(snapshot|timestamp)\.pub\.pem"\]',
                  f'keys = ["online/online.pub.pem"]\nuris = ["{KMS}"]', text)
    for name, card in cards.items():
        text = text.replace(f'token = "rehearsal-{name}"',
                            f'device = "yubikey"\nserial = "{card.serial}"\ntouch = "cached"')
    assert text.count(KMS) == 2 and "token =" not in text
    plan.write_text(text)
    return plan


def _with(pcsc: PcscHarness, card: VirtualYubiKey) -> None:  # noqa: F811
    """``card`` alone in the reader."""
    pcsc.remove_all()
    pcsc.insert(card, READER)


def test_doi_repository_on_seven_yubikeys_clients_tuf_on_ci_and_audit(
        hsm: SoftHsm, tmp_path: Path, pcsc: PcscHarness, files: dict[str, Path]) -> None:  # noqa: F811
    cards = {name: VirtualYubiKey(serial=next_serial()) for name in DOI_HOLDERS}
    assert len(cards) == 7
    online = make_online_keys(hsm, tmp_path / "plan" / "online", roles=("online",))
    plan = _plan(tmp_path, cards)
    ws, roots, pin = tmp_path / "ws", files["roots"], files["pin"]
    try:
        # -- the ceremony: every keyholder's card provisioned at keygen, attested, recorded.
        r = cli("init", ws, "--plan", plan)
        assert r.code == 0, r.err
        for name, card in cards.items():
            _with(pcsc, card)
            r = cli("keygen", ws, "--keyholder", name, "--provision", "--confirm-serial", card.serial,
                    "--new-pin-file", pin, "--new-puk-file", files["puk"], "--attestation-roots", roots)
            assert r.code == 0, r.err
            assert r.out.splitlines()[0].startswith(
                f"{name}: ecdsa-p256 key in slot 9c of YubiKey {card.serial} (provisioned now), attested:")
        r = cli("draft", ws)
        assert r.code == 0, r.err
        # alice, bob, carol: root 3/5, targets 2/4, doi 2/7; dave: testing; erin: rekor.
        signers = ["alice", "bob", "carol", "dave", "erin"]
        for name in signers:
            _with(pcsc, cards[name])
            r = cli("sign", ws, "--keyholder", name, "--pin-file", pin)
            assert r.code == 0, r.err
        assert cards["frank"].pin_verifications() == cards["grace"].pin_verifications()
        r = cli("publish", ws)
        assert r.code == 0, r.err

        # -- across the air gap: the roles and their target files in one bundle, verified on arrival.
        (tmp_path / "stick").mkdir()
        r = cli("export", ws, "--usb", tmp_path / "stick")
        assert r.code == 0, r.err
        r = cli("import", "--usb", tmp_path / "stick", "--out", tmp_path / "arrived")
        assert r.code == 0, r.err
        for name, role in (("target+doi+policy.json", "doi"), ("target+doi+kms-attestation.pub", "doi"),
                           ("target+testing+policy.json", "testing"), ("target+rekor+rekor.pub", "rekor")):
            data = (tmp_path / "plan" / name.removeprefix("target+").replace("+", "/")).read_bytes()
            assert f"{name}: target {name[7:].replace('+', '/')}, {len(data)} bytes, matches {role} v1" \
                in r.out, r.out
            assert (tmp_path / "arrived" / name).read_bytes() == data

        files_out = tuf_layout.repository_files(ws / "metadata")
        assert sorted(files_out) == [
            "metadata/doi.json", "metadata/rekor.json", "metadata/root.json",
            "metadata/root_history/1.root.json", "metadata/targets.json", "metadata/testing.json"]
        v1 = files_out["metadata/root.json"]
        root = Metadata[Root].from_bytes(v1).signed
        assert len(root.roles["root"].keyids) == len(DOI_ROOT[0]) and root.roles["root"].threshold == 3
        snapshot_key = root.keys[root.roles["snapshot"].keyids[0]]
        assert snapshot_key.unrecognized_fields["x-tuf-on-ci-online-uri"] == KMS
        targets = Metadata[Targets].from_bytes(files_out["metadata/targets.json"]).signed
        assert targets.delegations and targets.delegations.roles and targets.delegations.keys
        assert {n: (len(d.keyids), d.threshold, d.terminating) for n, d in targets.delegations.roles.items()} \
            == {"doi": (7, 2, True), "testing": (4, 2, True), "rekor": (4, 2, True)}
        by_owner = {k.unrecognized_fields["x-tuf-on-ci-keyowner"]: (kid, k)
                    for kid, k in targets.delegations.keys.items()}
        for name, card in cards.items():  # every offline key is the card's attested 9c key
            _kid, key = by_owner[f"@{name}"]
            assert key.unrecognized_fields["x-ceremony-token-serial"] == str(card.serial)
            assert "x-ceremony-attestation" in key.unrecognized_fields

        # -- the real tuf-on-ci-sign: a signing event on doi, signed by alice and bob's YubiKeys.
        clone, bare = seed_repository(tmp_path / "git", files_out)
        _signing_event(clone)
        home = tmp_path / "home"
        home.mkdir()
        for signer in ("alice", "bob"):
            card = cards[signer]
            _with(pcsc, card)
            keyid, _key = by_owner[f"@{signer}"]
            before = card.pin_verifications()
            run = run_sign(clone, EVENT, YKCS11, hsm.dir.conf, signer, f"{PIN}\n\n", home,
                           signing_keys={keyid: f"hsm:2?label=YubiKey%20PIV%20%23{card.serial}"})
            assert run.returncode == 0, run.stdout + run.stderr
            assert "Your signature is requested for role(s) {'doi'}" in run.stdout, run.stdout
            assert card.pin_verifications() > before  # the card signed, nothing else could
        signed = tmp_path / "signed"
        git(tmp_path, "clone", "--quiet", "--branch", EVENT, str(bare), str(signed))
        doi = Metadata[Targets].from_bytes((signed / "metadata" / "doi.json").read_bytes())
        assert doi.signed.version == 2
        targets.verify_delegate("doi", doi.signed_bytes, doi.signatures)  # 2 of 7: alice and bob

        # -- python-tuf and tuf-js, down to delegated targets, through the online side (KMS stand-in).
        rekor_pub = (tmp_path / "plan" / "rekor" / "rekor.pub").read_bytes()
        site = tmp_path / "site"
        (site / "metadata").mkdir(parents=True)
        (site / "metadata" / "1.root.json").write_bytes(v1)
        publish_online(site, root, online.open()["online"],
                       {r: (signed / "metadata" / f"{r}.json").read_bytes()
                        for r in ("targets", "doi", "testing", "rekor")},
                       {"doi/policy-2.json": NEW_POLICY, "rekor/rekor.pub": rekor_pub})
        with serve(site) as url:
            both_clients_accept(url, tmp_path / "clients", v1, 1, NEW_POLICY, "doi/policy-2.json")
            both_clients_accept(url, tmp_path / "clients-rekor", v1, 1, rekor_pub, "rekor/rekor.pub")
    finally:
        pcsc.remove_all()

    # -- ceremony audit: every offline key bound to its YubiKey attestation.
    r = cli("audit", site / "metadata", "--attestation-roots", roots, "--json")
    assert r.code == 0, r.out + r.err
    doc = json.loads(r.out)
    assert doc["passed"] is True and doc["findings"] == []
    offline = {k["owner"]: k for k in doc["keys"] if k["attestation"] != "not-needed"}
    assert set(offline) == set(cards), offline.keys()
    for name, card in cards.items():
        k = offline[name]
        assert (k["attestation"], k["serial"], k["pin_policy"], k["touch_policy"]) == (
            "verified", card.serial, "always", "cached"), k
    assert set(offline["frank"]["roles"]) == {"targets", "doi", "testing", "rekor"}
    assert [k["roles"] for k in doc["keys"] if k["attestation"] == "not-needed"] == [["snapshot", "timestamp"]]
