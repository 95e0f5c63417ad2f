"""The notary ceremony end to end: root keys on SoftHSM, the same commands as TUF, and the real
notary-server and notary client judging the result.

Every offline step (init, keygen, draft, sign, status, publish) runs with sockets disabled; the
online steps are ``ceremony notary fetch-keys / tagging-key / publish / verify``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ceremony.engine import Ceremony
from ceremony.errors import RemoteError, ThresholdError, VerificationError
from ceremony.formats.notary_json import parse, serialize
from ceremony.online.notary import (
    NotaryServer,
    fetch_metadata,
    initial_targets,
    load_tagging_key,
    publish,
)
from tests.conftest import SoftHsm
from tests.support.helpers import Run, cli
from tests.support.notary_fixtures import (
    no_network,
    ok,
)
from tests.support.notary_harness import ClientResult, NotaryStack, start_notary
from tests.support.plans import notary_plan

pytestmark = pytest.mark.notary

INTEGRITY = "could not validate the path to a trusted root: failed to validate integrity of roots"
ROTATE = ("could not rotate trust to a new trusted root: failed to validate data with current "
          "trusted certificates")
NO_LEAF = ("could not validate the path to a trusted root: unable to retrieve valid leaf "
           "certificates")


class Rig:
    """One GUN on one notary stack, the SoftHSM tokens, and the commands around them."""

    def __init__(self, stack: NotaryStack, hsm: SoftHsm, tmp: Path, gun: str) -> None:
        self.stack, self.hsm, self.tmp, self.gun = stack, hsm, tmp, gun
        self.server = NotaryServer(stack.url, stack.ca_file)
        self.hello = tmp / "hello.txt"
        self.hello.write_text("hello world\n")

    def fetch_keys(self, out: Path, *extra: str | Path, server: NotaryStack | None = None) -> Run:
        stack = server or self.stack
        return cli("notary", "fetch-keys", self.gun, "--server", stack.url, "--ca",
                   stack.ca_file, "--out", out, *extra)

    def tagging_key(self, name: str) -> tuple[Path, Path]:
        pem = self.tmp / f"{name}.pem"
        ok(cli("notary", "tagging-key", self.gun, "--out", pem))
        return pem, self.tmp / f"{name}.pub.json"

    def plan(self, name: str, holders: dict[str, str], root: list[str], threshold: int,
             targets: Path, server_keys: Path, **kwargs: object) -> Path:
        path = self.tmp / f"{name}.toml"
        gun = str(kwargs.pop("gun", self.gun))
        path.write_text(notary_plan(name, gun, holders, root, threshold, targets, server_keys,
                                    **kwargs))  # type: ignore[arg-type]
        return path

    def ceremony(self, ws: Path, plan: Path, signers: list[str], *,
                 previous: Path | None = None, publish: bool = True) -> list[str]:
        """init → keygen (whoever needs it) → draft → sign → status → publish, offline."""
        pin = ("--pin-file", self.hsm.pin_file)
        with no_network():
            init = ok(cli("init", ws, "--plan", plan, "--json",
                          *(("--previous", previous) if previous else ())))
            needed = json.loads(init.out)["needs_keygen"]
            for holder in needed:
                ok(cli("keygen", ws, "--keyholder", holder, *pin))
            ok(cli("draft", ws))
            for holder in signers:
                ok(cli("sign", ws, "--keyholder", holder, *pin))
            ok(cli("status", ws))
            if publish:
                ok(cli("publish", ws))
        return needed

    def upload(self, ws: Path, targets_key: Path | None = None, gun: str | None = None) -> Run:
        return cli("notary", "publish", ws / "metadata", "--server", self.stack.url, "--ca",
                   self.stack.ca_file, "--gun", gun or self.gun,
                   *(("--targets-key", targets_key) if targets_key else ()))

    def notary(self, trust: Path, *args: str) -> ClientResult:
        return self.stack.notary(trust, *args)

    def lists(self, trust: Path, *extra: str) -> str:
        return self.stack.notary(trust, *extra, "list", self.gun).check().stdout

    def bootstrap(self, holders: dict[str, str] | None = None, threshold: int = 1,
                  signers: list[str] | None = None,
                  **kwargs: object) -> tuple[Path, Path, Path, Path]:
        """A new GUN from an offline ceremony: (workspace, server keys, tagging pem, its .pub)."""
        holders = holders or {"alice": "tok-alice"}
        self.hsm.make(*holders.values())
        keys = self.tmp / "server-keys-1"
        ok(self.fetch_keys(keys))
        pem, pub = self.tagging_key("targets-1")
        plan = self.plan("v1", holders, list(holders), threshold, pub, keys, **kwargs)
        ws = self.tmp / "ws1"
        self.ceremony(ws, plan, signers or list(holders)[:threshold])
        ok(self.upload(ws, pem))
        return ws, keys, pem, pub


def keyid_of(pub: Path) -> str:
    return str(json.loads(pub.read_text())["keyid"])


def files_of(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- accepted


def test_bootstrap_tofu_publisher_and_trust_pinning(
    notary_stack: NotaryStack, hsm: SoftHsm, tmp_path: Path
) -> None:
    rig = Rig(notary_stack, hsm, tmp_path, "example.com/ceremony/bootstrap")
    ws, _, pem, pub = rig.bootstrap(algorithms={"alice": "ecdsa-p384"})
    meta = ws / "metadata"
    root = (meta / "root.json").read_bytes()
    served = fetch_metadata(rig.server, rig.gun, "root")
    assert root == (meta / "1.root.json").read_bytes() == served
    assert b"x-ceremony" not in root and b"alice" not in root  # identities stay out of root.json
    document = json.loads(root)
    signed = document["signed"]
    (root_id,) = signed["roles"]["root"]["keyids"]
    assert signed["keys"][root_id]["keytype"] == "ecdsa-x509"
    assert signed["consistent_snapshot"] is False and signed["version"] == 1
    assert [s["method"] for s in document["signatures"]] == ["ecdsa"]
    assert len(parse(root).signatures[0].sig) == 96  # P-384: raw r||s
    assert signed["roles"]["targets"]["keyids"] == [keyid_of(pub)]
    sidecar = json.loads((meta / "ceremony-keys.json").read_text())
    assert sidecar["gun"] == rig.gun and sidecar["keys"][root_id]["keyholder"] == "alice"
    assert sidecar["keys"][root_id]["token_label"] == "tok-alice"
    assert sidecar["keys"][root_id]["uri"].startswith("pkcs11:token=tok-alice;")
    journal = [json.loads(line) for line in (ws / "journal.jsonl").read_text().splitlines()]
    (generated,) = [e["data"] for e in journal if e["type"] == "key-generated"]
    assert generated["keyid"] == root_id and generated["certificate"]["not_after"]

    # TOFU: a fresh trust dir accepts the HSM root.
    assert "No targets present in this repository." in rig.lists(tmp_path / "fresh")
    # The publisher holds only the handed-over tagging key and uses the stock CLI.
    publisher = tmp_path / "publisher"
    rig.notary(publisher, "key", "import", str(pem)).check()
    added = rig.notary(publisher, "add", rig.gun, "v1", str(rig.hello), "--publish").check()
    assert f"Successfully published changes for repository {rig.gun}" in added.stdout
    assert "v1" in rig.lists(tmp_path / "fresh2")
    assert "root" not in rig.notary(publisher, "key", "list").check().stdout.split("ROLE")[-1]

    # Trust pinning on the root certificate's key id.
    for name, keyid, accepted in (("good", root_id, True), ("bad", "0" * 64, False)):
        config = tmp_path / f"{name}.json"
        config.write_text(json.dumps({"trust_pinning": {"certs": {rig.gun: [keyid]}}}))
        result = rig.notary(tmp_path / f"pinned-{name}", "-c", str(config), "list", rig.gun)
        assert (result.rc == 0) is accepted, result
        if not accepted:
            assert ("could not validate the path to a trusted root: unable to match any "
                    "certificates to trust_pinning config") in result.stdout + result.stderr

    verified = ok(cli("notary", "verify", meta, "--server", rig.stack.url, "--ca",
                      rig.stack.ca_file))
    assert f"trusted root v1 ({meta / '1.root.json'}) for {rig.gun}" in verified.out
    assert "serves this chain, and a targets.json signed by root v1's targets key" in verified.out
    # Publishing again sends nothing.
    assert "nothing sent" in ok(rig.upload(ws, pem)).out


def test_tagging_key_rotation(notary_stack: NotaryStack, hsm: SoftHsm, tmp_path: Path) -> None:
    rig = Rig(notary_stack, hsm, tmp_path, "example.com/ceremony/tagging")
    ws1, _, old_pem, _ = rig.bootstrap()
    publisher, old_client = tmp_path / "publisher", tmp_path / "old-client"
    rig.notary(publisher, "key", "import", str(old_pem)).check()
    rig.notary(publisher, "add", rig.gun, "v1", str(rig.hello), "--publish").check()
    assert "v1" in rig.lists(old_client)  # caches root v1

    keys2 = tmp_path / "server-keys-2"
    fetched = ok(rig.fetch_keys(keys2, "--previous", ws1 / "metadata"))
    assert "replaces" not in fetched.out
    new_pem, new_pub = rig.tagging_key("targets-2")
    plan = rig.plan("v2", {"alice": "tok-alice"}, ["alice"], 1, new_pub, keys2)
    ws2 = tmp_path / "ws2"
    with no_network():
        init = ok(cli("init", ws2, "--plan", plan, "--previous", ws1 / "metadata", "--json"))
        assert json.loads(init.out)["needs_keygen"] == []  # alice's root key is kept
        draft = ok(cli("draft", ws2))
        assert f"targets: + add key {keyid_of(new_pub)[:12]}" in draft.out
        opened = Ceremony.open(ws2)
        assert any(line.startswith("the tagging (targets) key changes: upload with `ceremony "
                                   "notary publish") for line in opened.changes())
        assert opened.describe()[0].startswith(f"notary root version 2 for {rig.gun}, expires ")
        ok(cli("sign", ws2, "--keyholder", "alice", "--pin-file", hsm.pin_file))
        status = ok(cli("status", ws2))
        assert "previous root v1: 1/1 - alice signed; threshold met" in status.out
        assert "root v1 (current)" in status.out
        ok(cli("publish", ws2))
    assert sorted(p.name for p in (ws2 / "metadata").glob("*.root.json")) == \
        ["1.root.json", "2.root.json"]

    # The trap: a root that swaps the tagging key alone is refused before anything is sent.
    refused = rig.upload(ws2)
    assert refused.code == 3
    assert ("error: refusing to upload root v2: it changes the targets key and needs a "
            "targets.json signed by the new tagging key") in refused.err
    served = fetch_metadata(rig.server, rig.gun, "root")
    assert served == (ws1 / "metadata" / "1.root.json").read_bytes()

    wrong = rig.upload(ws2, old_pem)
    assert wrong.code == 3 and "is not the targets key of root v2" in wrong.err
    uploaded = ok(rig.upload(ws2, new_pem))
    assert "uploaded root + targets" in uploaded.out
    targets = parse((ws2 / "metadata" / "targets.json").read_bytes()).signed
    assert "v1" in targets["targets"]
    assert "v1" in rig.lists(old_client)
    assert "v1" in rig.lists(tmp_path / "fresh")

    stale = rig.notary(publisher, "add", rig.gun, "v2", str(rig.hello), "--publish")
    assert stale.rc != 0
    assert ("could not find necessary signing keys, at least one of these keys must be "
            "available: " + keyid_of(new_pub)) in stale.stderr
    rig.notary(publisher, "key", "import", str(new_pem)).check()
    rig.notary(publisher, "publish", rig.gun).check()
    assert "v2" in rig.lists(old_client)


def test_emergency_tagging_key_compromise(
    notary_stack: NotaryStack, hsm: SoftHsm, tmp_path: Path
) -> None:
    rig = Rig(notary_stack, hsm, tmp_path, "example.com/ceremony/emergency")
    ws1, _, old_pem, old_pub = rig.bootstrap()
    old_client = tmp_path / "old-client"
    rig.lists(old_client)
    # The room assesses the compromise and gets a plan to review (the same command as TUF).
    assessed = ok(cli("compromise", ws1, "--role", "targets"))
    plan = ws1 / "out/emergency/emergency-plan.toml"
    assert f"emergency plan written to {plan}" in assessed.out
    assert f'compromised_keys = ["{keyid_of(old_pub)}"]' in plan.read_text()
    new_pem, new_pub = rig.tagging_key("targets-new")
    (plan.parent / "new-online").mkdir()
    (plan.parent / "new-online/targets.pub.pem").write_bytes(new_pub.read_bytes())
    ws2 = tmp_path / "ws2"
    assert rig.ceremony(ws2, plan, ["alice"], previous=ws1 / "metadata") == []
    ok(rig.upload(ws2, new_pem))
    assert "No targets present" in rig.lists(old_client)
    attacker = tmp_path / "attacker"  # holds the compromised tagging key
    rig.notary(attacker, "key", "import", str(old_pem)).check()
    refused = rig.notary(attacker, "add", rig.gun, "evil", str(rig.hello), "--publish")
    assert refused.rc != 0
    assert ("could not find necessary signing keys, at least one of these keys must be "
            "available: " + keyid_of(new_pub)) in refused.stderr
    assert keyid_of(old_pub) not in (ws2 / "metadata/root.json").read_text()


def test_root_key_rotation_walked_by_a_client_at_v1(
    notary_stack: NotaryStack, hsm: SoftHsm, tmp_path: Path
) -> None:
    rig = Rig(notary_stack, hsm, tmp_path, "example.com/ceremony/root-rotation")
    ws1, keys, _, pub1 = rig.bootstrap()
    old_client = tmp_path / "old-client"
    rig.lists(old_client)  # trusts root v1
    hsm.make("tok-bob")

    # v2: alice's key replaced by bob's; signed by both (old and new threshold).
    plan2 = rig.plan("v2", {"alice": "tok-alice", "bob": "tok-bob"}, ["bob"], 1, pub1, keys)
    ws2 = tmp_path / "ws2"
    needed = rig.ceremony(ws2, plan2, ["bob"], previous=ws1 / "metadata", publish=False)
    assert needed == ["bob"]
    below = cli("publish", ws2)
    assert below.code == 6
    assert ("error: root v2 cannot be published below threshold: previous root v1: 0/1 - "
            "nobody has signed; waiting for one of alice; root v2: 1/1 - bob signed") in below.err
    # Signed only by the new root key: the server refuses it with notary's message.
    with pytest.raises(RemoteError) as raised:
        publish(rig.server, rig.gun, {"root": (ws2 / "metadata/drafts/2.root.json").read_bytes()})
    assert ROTATE in raised.value.message
    with no_network():
        ok(cli("sign", ws2, "--keyholder", "alice", "--pin-file", hsm.pin_file))
        ok(cli("publish", ws2))
    assert "uploaded root for" in ok(rig.upload(ws2)).out  # targets key unchanged: root alone

    # v3: a tagging rotation signed by bob alone (his key is found through the sidecar).
    pem3, pub3 = rig.tagging_key("targets-3")
    plan3 = rig.plan("v3", {"bob": "tok-bob"}, ["bob"], 1, pub3, keys)
    ws3 = tmp_path / "ws3"
    assert rig.ceremony(ws3, plan3, ["bob"], previous=ws2 / "metadata") == []
    ok(rig.upload(ws3, pem3))

    walked = rig.notary(old_client, "-D", "list", rig.gun).check()
    for version in (2, 3):
        assert f"successfully verified downloaded {version}.root" in walked.stderr
    assert "No targets present" in walked.stdout
    verified = ok(cli("notary", "verify", ws3 / "metadata"))
    assert ("v2: ok - previous root v1: 1/1 - alice signed; threshold met; root v2: 1/1 - bob "
            "signed") in verified.out
    assert "chain verified: newest root is v3" in verified.out


def test_root_threshold_2_of_3_is_honoured(
    notary_stack: NotaryStack, hsm: SoftHsm, tmp_path: Path
) -> None:
    rig = Rig(notary_stack, hsm, tmp_path, "example.com/ceremony/threshold")
    holders = {"alice": "tok-alice", "bob": "tok-bob", "carol": "tok-carol"}
    hsm.make(*holders.values())
    keys = tmp_path / "server-keys"
    ok(rig.fetch_keys(keys))
    pem, pub = rig.tagging_key("targets-1")
    ws = tmp_path / "ws1"
    rig.ceremony(ws, rig.plan("v1", holders, list(holders), 2, pub, keys), ["alice"],
                 publish=False)
    below = cli("publish", ws)
    assert (below.code, below.err.splitlines()[0]) == (
        6, "error: root v1 cannot be published below threshold: root v1: 1/2 - alice signed; "
           "waiting for one of bob, carol")
    one = (ws / "metadata/drafts/1.root.json").read_bytes()
    targets = initial_targets(load_tagging_key(pem, rig.gun))
    with pytest.raises(RemoteError) as raised:
        publish(rig.server, rig.gun, {"root": one, "targets": targets})
    assert INTEGRITY in raised.value.message
    ok(cli("sign", ws, "--keyholder", "carol", "--pin-file", hsm.pin_file))
    ok(cli("publish", ws))
    ok(rig.upload(ws, pem))
    served = parse(fetch_metadata(rig.server, rig.gun, "root") or b"")
    assert served.signed["roles"]["root"]["threshold"] == 2 and len(served.signatures) == 2
    client = tmp_path / "client"
    assert "No targets present" in rig.lists(client)

    # v2 must meet the old 2-of-3 as well: one old signature is refused by notary.
    pem2, pub2 = rig.tagging_key("targets-2")
    ws2 = tmp_path / "ws2"
    rig.ceremony(ws2, rig.plan("v2", holders, list(holders), 2, pub2, keys), ["bob"],
                 previous=ws / "metadata", publish=False)
    status = json.loads(ok(cli("status", ws2, "--json")).out)["thresholds"]
    assert status["old"]["signed"] == ["bob"] and not status["verified"]
    with pytest.raises(RemoteError) as raised:
        publish(rig.server, rig.gun, {
            "root": (ws2 / "metadata/drafts/2.root.json").read_bytes(),
            "targets": initial_targets(load_tagging_key(pem2, rig.gun)),
        })
    assert ROTATE in raised.value.message
    ok(cli("sign", ws2, "--keyholder", "alice", "--pin-file", hsm.pin_file))
    ok(cli("publish", ws2))
    ok(rig.upload(ws2, pem2))
    walked = rig.notary(client, "-D", "list", rig.gun).check()
    assert "No targets present" in walked.stdout


def test_server_keys_rotated_after_a_signer_rebuild(hsm: SoftHsm, tmp_path: Path) -> None:
    stack = start_notary(tmp_path / "stack")  # its own stack: the signer is rebuilt
    try:
        rig = Rig(stack, hsm, tmp_path, "example.com/ceremony/server-rebuilt")
        ws1, _, pem, pub = rig.bootstrap()
        publisher, old_client = tmp_path / "publisher", tmp_path / "old-client"
        rig.notary(publisher, "key", "import", str(pem)).check()
        rig.notary(publisher, "add", rig.gun, "v1", str(rig.hello), "--publish").check()
        assert "v1" in rig.lists(old_client)
        old = parse((ws1 / "metadata/root.json").read_bytes()).signed["roles"]

        stack.restart_signer()  # the compromised signer's keys are gone
        refused = rig.fetch_keys(tmp_path / "k-refused", "--previous", ws1 / "metadata")
        assert refused.code == 3
        assert (f"error: the server's timestamp key for {rig.gun} (") in refused.err
        assert (f"is not the timestamp key of root v1 in {ws1 / 'metadata'} "
                f"({old['timestamp']['keyids'][0][:12]}): this server does not hold the "
                "collection's keys") in refused.err
        assert not (tmp_path / "k-refused").exists()

        keys2 = tmp_path / "server-keys-2"
        ok(rig.fetch_keys(keys2, "--previous", ws1 / "metadata", "--new-server-keys"))
        ws2 = tmp_path / "ws2"
        rig.ceremony(ws2, rig.plan("v2", {"alice": "tok-alice"}, ["alice"], 1, pub, keys2),
                     ["alice"], previous=ws1 / "metadata")
        new = parse((ws2 / "metadata/root.json").read_bytes()).signed["roles"]
        for role in ("timestamp", "snapshot"):
            assert new[role]["keyids"] != old[role]["keyids"]
        ok(rig.upload(ws2))  # targets key unchanged: root alone; the server re-signs the rest
        assert "v1" in rig.lists(old_client)
        rig.notary(publisher, "add", rig.gun, "v2", str(rig.hello), "--publish").check()
        assert "v2" in rig.lists(old_client)
        assert "v2" in rig.lists(tmp_path / "fresh")
    finally:
        stack.stop()


# --------------------------------------------------------------------------- refused


def test_refused_as_notary_refuses_tampered_cn_and_expired(
    notary_stack: NotaryStack, hsm: SoftHsm, tmp_path: Path
) -> None:
    rig = Rig(notary_stack, hsm, tmp_path, "example.com/ceremony/cn-other")
    hsm.make("tok-alice", "tok-erin")
    keys = tmp_path / "server-keys"
    ok(rig.fetch_keys(keys))
    pem, pub = rig.tagging_key("targets")
    tagging = load_tagging_key(pem, rig.gun)
    ws = tmp_path / "ws"
    rig.ceremony(ws, rig.plan("v1", {"alice": "tok-alice"}, ["alice"], 1, pub, keys), ["alice"])
    root = (ws / "metadata/root.json").read_bytes()

    # A certificate whose CN is not the GUN: refused locally, and by notary-server.
    target = "example.com/ceremony/cn-target"
    local = rig.upload(ws, pem, gun=target)
    assert local.code == 3
    assert (f"the certificate's CN is 'example.com/ceremony/cn-other' but the GUN is "
            f"'{target}'") in local.err
    with pytest.raises(RemoteError) as raised:
        publish(rig.server, target, {"root": root, "targets": initial_targets(tagging)})
    assert NO_LEAF in raised.value.message

    # A tampered root (threshold 1 -> 2 after signing).
    document = parse(root)
    signed = json.loads(json.dumps(document.signed))
    signed["roles"]["root"]["threshold"] = 2
    tampered_dir = tmp_path / "tampered"
    tampered_dir.mkdir()
    tampered = serialize(signed, document.signatures)
    (tampered_dir / "1.root.json").write_bytes(tampered)
    checked = cli("notary", "verify", tampered_dir)
    (root_id,) = document.signed["roles"]["root"]["keyids"]
    assert (checked.code, checked.err.splitlines()[0]) == (
        3, f"error: {tampered_dir / '1.root.json'} is not signed by its own root threshold: "
           f"root v1: 0/2 - nobody has signed; waiting for 2 of key {root_id[:12]}")
    with pytest.raises(RemoteError) as raised:
        publish(rig.server, rig.gun, {"root": tampered, "targets": initial_targets(tagging)})
    assert INTEGRITY in raised.value.message

    # An expired certificate: the draft refuses it; made anyway, notary refuses it too.
    plan = rig.plan("expired", {"erin": "tok-erin"}, ["erin"], 1, pub, keys)
    c = Ceremony.init(tmp_path / "ws-expired", plan)
    past = datetime.now(UTC) - timedelta(days=3651)
    c.keygen("erin", hsm.module, hsm.pin, now=past)
    with pytest.raises(VerificationError) as refused:
        c.draft()
    assert refused.value.message.startswith(
        "the root certificate of erin cannot be used: the certificate expired at ")
    c.draft(now=past + timedelta(minutes=1))
    c.sign("erin", hsm.module, hsm.pin)
    assert c.status().lines() == ["root v1: 0/1 - nobody has signed; waiting for one of erin"]
    with pytest.raises(ThresholdError) as below:
        c.publish()
    assert below.value.message == ("root v1 cannot be published below threshold: "
                                   "root v1: 0/1 - nobody has signed; waiting for one of erin")
    expired = (tmp_path / "ws-expired/metadata/drafts/1.root.json").read_bytes()
    with pytest.raises(RemoteError) as raised:
        publish(rig.server, "example.com/ceremony/expired",
                {"root": expired, "targets": initial_targets(tagging)})
    assert NO_LEAF in raised.value.message


# --------------------------------------------------------------------------- bad input


def test_bad_plans_are_refused_at_init(notary_stack: NotaryStack, hsm: SoftHsm,
                                       tmp_path: Path) -> None:
    rig = Rig(notary_stack, hsm, tmp_path, "example.com/ceremony/bad*gun")
    keys, pub = tmp_path / "keys", tmp_path / "t.pub.json"
    plan = rig.plan("bad-gun", {"alice": "tok-alice"}, ["alice"], 1, pub, keys)
    r = cli("init", tmp_path / "ws1", "--plan", plan)
    assert (r.code, r.err.splitlines()[0]) == (
        2, "error: repository 'example.com/ceremony/bad*gun' is not a valid notary GUN: the GUN "
           "contains '*', which notary-server's routes refuse ('*' only marks a wildcard "
           "certificate CN)")
    assert not (tmp_path / "ws1").exists()
    assert cli("notary", "tagging-key", rig.gun, "--out", tmp_path / "x.pem").code == 2
    for algorithm in ("ed25519", "rsa-3072"):
        plan = rig.plan(f"alg-{algorithm}", {"alice": "tok-alice"}, ["alice"], 1, pub, keys,
                        gun="example.com/ceremony/alg", algorithms={"alice": algorithm})
        r = cli("init", tmp_path / f"ws-{algorithm}", "--plan", plan)
        assert (r.code, r.err.splitlines()[0]) == (
            2, f"error: keyholder alice: algorithm '{algorithm}' cannot hold a notary root key "
               "here; use ecdsa-p256 or ecdsa-p384")


def test_server_key_from_the_wrong_server_is_refused(
    notary_stack: NotaryStack, hsm: SoftHsm, tmp_path: Path
) -> None:
    rig = Rig(notary_stack, hsm, tmp_path, "example.com/ceremony/wrong-server")
    ws1, _, _, pub = rig.bootstrap()
    other = start_notary(tmp_path / "other-stack")
    try:
        # Online: compared with the chain being continued.
        r = rig.fetch_keys(tmp_path / "k1", "--previous", ws1 / "metadata", server=other)
        assert r.code == 3 and "this server does not hold the collection's keys" in r.err
        # Offline: keys fetched elsewhere without a check are refused by init.
        ok(rig.fetch_keys(tmp_path / "k2", server=other))
    finally:
        other.stop()
    plan = rig.plan("v2", {"alice": "tok-alice"}, ["alice"], 1, pub, tmp_path / "k2")
    with no_network():
        r = cli("init", tmp_path / "ws2", "--plan", plan, "--previous", ws1 / "metadata")
    first = r.err.splitlines()[0]
    assert r.code == 3
    assert first.startswith(f"error: the snapshot key in {tmp_path / 'k2' / 'snapshot.pub.json'}")
    assert first.endswith("it was fetched from a server that does not hold this collection's "
                          "keys (another server, or one rebuilt since that root was signed)")
    assert "--new-server-keys" in r.err
    assert not (tmp_path / "ws2").exists()


def test_server_refusal_is_shown_and_loses_nothing(
    notary_stack: NotaryStack, hsm: SoftHsm, tmp_path: Path
) -> None:
    rig = Rig(notary_stack, hsm, tmp_path, "example.com/ceremony/race")
    ws1, keys, _, pub = rig.bootstrap()
    # Two ceremonies continue root v1; the first one to upload wins.
    wsa, wsb = tmp_path / "ws2a", tmp_path / "ws2b"
    rig.ceremony(wsa, rig.plan("v2a", {"alice": "tok-alice"}, ["alice"], 1, pub, keys),
                 ["alice"], previous=ws1 / "metadata")
    rig.ceremony(wsb, rig.plan("v2b", {"alice": "tok-alice"}, ["alice"], 1, pub, keys,
                               root_expires="365d"), ["alice"], previous=ws1 / "metadata")
    ok(rig.upload(wsa))
    before = files_of(wsb)
    lost = rig.upload(wsb)
    assert lost.code == 9
    assert lost.err.splitlines() == [
        f"error: notary server refused the upload of root for {rig.gun}: HTTP 400: A newer "
        "version of metadata is already available. [VERSION]",
        "hint: nothing was changed on the server; the local files are untouched"]
    assert files_of(wsb) == before
    assert fetch_metadata(rig.server, rig.gun, "root") == (wsa / "metadata/root.json").read_bytes()


def test_offline_modules_do_not_import_the_online_side() -> None:
    code = ("import sys, ceremony.formats.notary, ceremony.engine; "
            "bad = [m for m in sys.modules "
            "       if m.startswith('ceremony.online') or m == 'urllib.request']; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False, cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stdout + result.stderr
