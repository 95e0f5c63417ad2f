"""A travelling draft is confirmed against what the keyholder already trusts.

``sign-draft`` computes the changes against the keyholder's own trusted root (never the one
the file carries), refuses alias keys and key ids that are not the hash of their key, and
signs only after the digest words the room read aloud match. Each attack below is a draft
file that is self-consistent (its digest recomputed after the edit), so only those checks
stand between it and the keyholder's token: every refusal is asserted with its message and
exit code, with no signature file written, no PIN asked for and no PKCS#11 module opened.
The happy path is signed, imported, published and read by python-tuf's ngclient.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from securesystemslib.formats import encode_canonical
from tuf.api.metadata import Metadata

from ceremony.fingerprint import digest_words
from ceremony.formats import tuf as tuf_format
from ceremony.words import pgp_words
from tests.conftest import SoftHsm
from tests.support.helpers import OnlineKeys, cli, make_online_keys, run_steps
from tests.support.plans import plan_toml
from tests.support.tuf_repo import client_download, publish_online, serve

THREE = {"alice": "tok-alice", "bob": "tok-bob", "carol": "tok-carol"}
ROLES = ("targets", "snapshot", "timestamp")


class Spy:
    """Records every PIN request and every PKCS#11 module load made by the CLI."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import ceremony.interaction
        import hsm.pkcs11
        self.pins: list[object] = []
        self.modules: list[str] = []
        real_provider, real_module = ceremony.interaction.pin_provider, hsm.pkcs11.get_module

        def provider(*a: Any, **k: Any) -> Callable[[Any], str]:
            inner = real_provider(*a, **k)

            def provide(info: Any) -> str:
                self.pins.append(info)
                return inner(info)
            return provide

        def get_module(path: str) -> Any:
            self.modules.append(path)
            return real_module(path)

        monkeypatch.setattr(ceremony.interaction, "pin_provider", provider)
        monkeypatch.setattr(hsm.pkcs11, "get_module", get_module)

    def untouched(self) -> bool:
        return self.pins == [] and self.modules == []


@pytest.fixture
def rotation(hsm: SoftHsm, tmp_path: Path) -> dict[str, Path]:
    """Root v1 published (alice, bob, carol; 2 of 3), and a v2 draft (the same keys, a
    version bump) signed by alice in the room and exported for carol, who keeps her own copy
    of the published chain."""
    hsm.make(*THREE.values())
    make_online_keys(hsm, tmp_path / "a", label="online-a")
    plan = tmp_path / "p.toml"
    plan.write_text(plan_toml("travel", THREE, list(THREE), 2,
                              {r: [str(tmp_path / "a" / f"{r}.pub.pem")] for r in ROLES}))
    ws1, ws2 = tmp_path / "ws1", tmp_path / "ws2"
    run_steps(hsm, ws1, plan, None, ["alice", "bob"])
    trusted = tmp_path / "carol-trusts"
    trusted.mkdir()
    shutil.copy(ws1 / "metadata" / "1.root.json", trusted)
    run_steps(hsm, ws2, plan, ws1 / "metadata", ["alice"], publish=False)
    draft = tmp_path / "travel" / "2.root.draft.json"
    draft.parent.mkdir()
    r = cli("export-draft", ws2, "--out", draft)
    assert r.code == 0, r.err
    hsm.module.close()
    return {"ws1": ws1, "ws2": ws2, "draft": draft, "trusted": trusted}


def _reseal(doc: dict[str, Any]) -> dict[str, Any]:
    """The draft file's digest recomputed over its (edited) draft: self-consistent again.

    Built with python-tuf's own ``Metadata.from_dict``, not ``tuf_format.from_bytes``: the
    strict parser refuses the very attacks (a key under an id not its hash) these files carry,
    and the attack must reach ``sign-draft`` intact."""
    md = Metadata.from_dict(copy.deepcopy(doc["draft"]))
    return {**doc, "digest": tuf_format.signed_digest(md)}


def _edited(rot: dict[str, Path], name: str, edit: Callable[[dict[str, Any]], None],
            reseal: bool = True) -> tuple[Path, str]:
    """An edited copy of the draft; and the room's words (those of the genuine draft)."""
    doc = json.loads(rot["draft"].read_text())
    room = digest_words(doc["digest"])
    edit(doc)
    path = rot["draft"].with_name(f"{name}.json")
    path.write_text(json.dumps(_reseal(doc) if reseal else doc))
    return path, room


def _refused(spy: Spy, draft: Path, *extra: str | Path, who: str = "carol") -> tuple[int, str]:
    out = draft.with_name(f"{who}.sig.json")
    r = cli("sign-draft", draft, "--keyholder", who, "--out", out, *extra)
    assert not out.exists(), "a signature file was written"
    assert spy.untouched(), (spy.pins, spy.modules)
    return r.code, r.err.splitlines()[-2] if "hint:" in r.err else r.err.splitlines()[-1]


def _key_of(doc: dict[str, Any], keyholder: str) -> tuple[str, dict[str, Any]]:
    keys = doc["draft"]["signed"]["keys"]
    return next((k, v) for k, v in keys.items() if v.get("x-ceremony-keyholder") == keyholder)


def test_an_alias_key_added_in_transit_is_refused_before_any_pin(
        rotation: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(monkeypatch)

    def alias(doc: dict[str, Any]) -> None:
        signed = doc["draft"]["signed"]
        bob_id, bob = _key_of(doc, "bob")
        twin = {**bob, "x-ceremony-keyholder": "dave"}  # bob's public key, another name
        twin_id = hashlib.sha256(str(encode_canonical(twin)).encode()).hexdigest()  # a valid id
        signed["keys"][twin_id] = twin
        signed["roles"]["root"]["keyids"].append(twin_id)
        signed["roles"]["root"]["threshold"] = 3
        doc["alias"] = (bob_id, twin_id)

    path, room = _edited(rotation, "alias", alias)
    bob_id, twin_id = json.loads(path.read_text())["alias"]
    code, line = _refused(spy, path, "--trusted", rotation["trusted"], "--expect-digest", room)
    assert (code, line) == (3, f"error: {path}: in the draft of root v2, one key is listed "
                               f"twice, as bob and dave (ids {bob_id[:12]} and {twin_id[:12]}): "
                               "it counts once; a draft that lists one key twice is not signed")


def test_a_key_swapped_under_an_old_id_is_refused_before_any_pin(
        rotation: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(monkeypatch)
    mallory = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    swapped: list[tuple[str, dict[str, Any]]] = []

    def swap(doc: dict[str, Any]) -> None:
        bob_id, bob = _key_of(doc, "bob")
        bob["keyval"] = {"public": mallory}
        swapped.append((bob_id, bob))

    path, room = _edited(rotation, "swapped", swap)
    code, line = _refused(spy, path, "--trusted", rotation["trusted"], "--expect-digest", room)
    bob_id, key = swapped[0]
    # Both ids a key may rightly carry, computed here: neither is the id it travels under.
    whole = hashlib.sha256(str(encode_canonical(key)).encode()).hexdigest()
    standard = hashlib.sha256(str(encode_canonical(
        {f: key[f] for f in ("keytype", "scheme", "keyval")})).encode()).hexdigest()
    assert bob_id not in (whole, standard)
    assert (code, line) == (3, f"error: {path} (draft): bob ({bob_id[:12]}) is listed under key "
                               f"id {bob_id}, which does not match the key: calculated {whole} "
                               f"over the whole key object and {standard} over keytype, scheme "
                               "and keyval")


def test_a_recomputed_digest_does_not_match_the_words_the_room_read(
        rotation: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(monkeypatch)

    def lower(doc: dict[str, Any]) -> None:
        doc["draft"]["signed"]["roles"]["root"]["threshold"] = 1

    path, room = _edited(rotation, "threshold", lower)
    mine = pgp_words(bytes.fromhex(json.loads(path.read_text())["digest"]))
    theirs = [w for w in room.split() if w != "/"]
    n = next(i for i in range(32) if mine[i] != theirs[i])
    code, line = _refused(spy, path, "--trusted", rotation["trusted"], "--expect-digest", room)
    assert (code, line) == (3, f"error: the digest words do not match this draft: word {n + 1} "
                               f"is {mine[n]!r} here, {theirs[n]!r} as read aloud; the draft was "
                               "changed on its way, or it is another draft; nothing was signed")
    # The hex digest the room read is held to the same rule.
    genuine = json.loads(rotation["draft"].read_text())["digest"]
    code, line = _refused(spy, path, "--trusted", rotation["trusted"], "--expect-digest", genuine)
    assert (code, line) == (3, f"error: the digest you were given ({genuine[:16]}...) is not "
                               f"this draft's ({json.loads(path.read_text())['digest'][:16]}...): "
                               "the draft was changed on its way, or it is another draft; "
                               "nothing was signed")


def test_the_previous_root_in_the_file_is_not_evidence(
        rotation: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(monkeypatch)

    def forge_previous(doc: dict[str, Any]) -> None:  # not covered by the draft's digest
        doc["previous"]["signed"]["roles"]["root"]["threshold"] = 1

    path, room = _edited(rotation, "previous", forge_previous, reseal=False)
    code, line = _refused(spy, path, "--trusted", rotation["trusted"], "--expect-digest", room)
    assert (code, line) == (3, "error: the draft's previous root v1 differs from your trusted "
                               f"root v1 (root v1 of the chain in {rotation['trusted']}, verified "
                               "from 1.root.json): the draft was changed, or it is for another "
                               "repository; nothing was signed")


def test_without_a_trusted_root_or_the_words_nothing_is_signed(
        rotation: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(monkeypatch)
    draft = rotation["draft"]
    room = digest_words(json.loads(draft.read_text())["digest"])
    code, line = _refused(spy, draft, "--expect-digest", room)
    assert (code, line) == (64, "error: root v2 continues root v1: bring your own copy of the "
                                "repository's current root: --trusted ROOT.json (the newest root "
                                "you trust) or --trusted DIR (the N.root.json chain you trust, "
                                "from 1.root.json); the copy travelling inside the draft is not "
                                "evidence")
    monkeypatch.setattr("sys.stdin", io.StringIO(room))  # scripted: not a terminal
    code, line = _refused(spy, draft, "--trusted", rotation["trusted"])
    assert (code, line) == (64, "error: confirm the draft's digest with --expect-digest "
                                "WORDS|HEX: the digest words the ceremony read aloud to you over "
                                "another channel (phone, video call, paper), or its 64-digit hex "
                                "digest")
    words = room.split()
    words[0] = "aardvark" if words[0] != "aardvark" else "absurd"  # a real word, a wrong one
    code, line = _refused(spy, draft, "--trusted", rotation["trusted"], "--expect-digest",
                          " ".join(words))
    assert code == 3 and line.startswith("error: the digest words do not match this draft: "
                                         "word 1 is ")
    code, line = _refused(spy, draft, "--trusted", rotation["trusted"], "--expect-digest",
                          " ".join(room.split()[:9]))
    assert (code, line) == (64, "error: the digest is 32 words; you gave 8")
    code, line = _refused(spy, draft, "--trusted", rotation["trusted"], "--expect-digest",
                          "hello " + room)
    assert (code, line) == (64, "error: the digest words cannot be read: word 1 ('hello') is not "
                                "a two-syllable PGP word; a word may be missing, doubled or "
                                "swapped")
    # A trusted root of another version, or of another repository start.
    code, line = _refused(spy, draft, "--trusted", rotation["ws2"] / "plan.toml",
                          "--expect-digest", room)
    assert (code, line) == (3, "error: plan.toml is not valid JSON: Expecting value: line 1 "
                               "column 2 (char 1)")
    assert list(draft.parent.iterdir()) == [draft]


def test_typed_words_sign_and_the_root_reaches_a_client(
        rotation: dict[str, Path], hsm: SoftHsm, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    draft, ws2 = rotation["draft"], rotation["ws2"]
    exported = json.loads(draft.read_text())
    room = digest_words(exported["digest"])

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    spy = Spy(monkeypatch)
    monkeypatch.setattr("sys.stdin", Terminal(room.upper() + "\n"))  # typed, any case
    sig = tmp_path / "carol.sig.json"
    r = cli("sign-draft", draft, "--keyholder", "carol", "--trusted",
            rotation["trusted"] / "1.root.json", "--out", sig, "--pin-file", hsm.pin_file)
    assert r.code == 0, r.err
    assert f"trusted root: root v1 from {rotation['trusted'] / '1.root.json'}" in r.err
    changes = [x.strip() for x in r.err.splitlines() if x.startswith("  ")]
    assert changes and all(c.startswith("expiry: ") or c.endswith("(version bump only)")
                           for c in changes), changes  # the same keys: no add, no remove
    assert "Type the digest words the ceremony read aloud to you" in r.err
    assert "digest words match" in r.err and f"carol signed root v2: {sig}" in r.out
    assert len(spy.pins) == 1 and spy.modules
    r = cli("import-signature", ws2, sig)
    assert r.code == 0 and "root v2: 2/2 - alice, carol signed; threshold met" in r.out, r.err
    assert cli("publish", ws2).code == 0
    repo = tmp_path / "repo"
    (repo / "metadata").mkdir(parents=True)
    shutil.copy(rotation["ws1"] / "metadata" / "1.root.json", repo / "metadata")
    shutil.copy(ws2 / "metadata" / "2.root.json", repo / "metadata")
    publish_online(repo, OnlineKeys(hsm, "online-a", {r: r.encode() for r in ROLES}).open())
    bootstrap = (rotation["ws1"] / "metadata" / "1.root.json").read_bytes()
    with serve(repo) as url:
        assert client_download(url, tmp_path / "client", bootstrap) == (2, b"hello, world\n")
    # The same draft again, once the keyholder trusts v2: an old draft replayed, refused.
    spy = Spy(monkeypatch)
    code, line = _refused(spy, draft, "--trusted", repo / "metadata", "--expect-digest", room)
    assert (code, line) == (3, f"error: the draft is root v2, but your trusted root is v2 (root "
                               f"v2 of the chain in {repo / 'metadata'}, verified from "
                               "1.root.json): it must continue v2 as v3; nothing was signed")


def test_a_first_root_is_anchored_by_the_words_alone(hsm: SoftHsm, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    hsm.make("tok-alice", "tok-bob")
    make_online_keys(hsm, tmp_path / "a", label="online-a")
    plan = tmp_path / "p.toml"
    plan.write_text(plan_toml("first", {"alice": "tok-alice", "bob": "tok-bob"},
                              ["alice", "bob"], 2,
                              {r: [str(tmp_path / "a" / f"{r}.pub.pem")] for r in ROLES}))
    ws = tmp_path / "ws"
    assert cli("init", ws, "--plan", plan).code == 0
    for k in ("alice", "bob"):
        assert cli("keygen", ws, "--keyholder", k, "--pin-file", hsm.pin_file).code == 0
    r = cli("draft", ws)
    digest = r.out.split("(digest ")[1].split(")")[0]
    words = digest_words(digest)
    assert len(words.replace(" / ", " ").split()) == 32
    assert r.code == 0 and f"digest words (read aloud): {words}" in r.out.splitlines()
    assert cli("sign", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file).code == 0
    draft = tmp_path / "travel" / "1.root.draft.json"
    draft.parent.mkdir()
    r = cli("export-draft", ws, "--out", draft)
    assert r.code == 0 and f"digest words (read aloud): {words}" in r.out.splitlines()
    hsm.module.close()
    spy = Spy(monkeypatch)
    code, line = _refused(spy, draft, "--trusted", tmp_path / "nowhere.json", "--expect-digest",
                          words)
    assert (code, line) == (3, f"error: {tmp_path / 'nowhere.json'} does not exist")
    r = cli("sign-draft", draft, "--keyholder", "bob", "--expect-digest", words,
            "--pin-file", hsm.pin_file)
    assert r.code == 0, r.err
    assert ("trusted root: none: root v1 starts a new repository, so the digest words are the "
            "only anchor") in r.err
    assert len(spy.pins) == 1
    r = cli("import-signature", ws, draft.with_name("1.root.sig-bob.json"))
    assert r.code == 0 and "root v1: 2/2 - alice, bob signed; threshold met" in r.out
    assert cli("publish", ws).code == 0
    # A v1 draft with a trusted root: it cannot continue anybody's repository.
    r = cli("sign-draft", draft, "--keyholder", "bob", "--expect-digest", words, "--trusted",
            ws / "metadata", "--out", tmp_path / "again.json")
    assert (r.code, r.err.splitlines()[-2]) == (
        3, f"error: the draft is root v1 of a new repository, but you trust root v1 of the chain "
           f"in {ws / 'metadata'}, verified from 1.root.json: it does not continue your "
           "repository; nothing was signed")
    assert not (tmp_path / "again.json").exists()


def test_import_prints_the_words_export_read_aloud_in_full(
        rotation: dict[str, Path], tmp_path: Path) -> None:
    ws2 = rotation["ws2"]
    (tmp_path / "stick").mkdir()
    r = cli("export", ws2, "--usb", tmp_path / "stick")
    assert r.code == 0, r.err
    said = next(x for x in r.out.splitlines() if x.startswith("read aloud: "))
    said = said.removeprefix("read aloud: ")
    assert len(said.replace(" / ", " ").split()) == 32
    r = cli("import", "--usb", tmp_path / "stick", "--out", tmp_path / "in")
    assert r.code == 0, r.err
    assert f"bundle words (compare with those read aloud at export): {said}" in r.out.splitlines()
    r = cli("export", ws2, "--qr", tmp_path / "qr")
    assert r.code == 0, r.err
    said = next(x for x in r.out.splitlines() if x.startswith("message words (read aloud): "))
    said = said.removeprefix("message words (read aloud): ")
    assert len(said.replace(" / ", " ").split()) == 16  # the whole 16-byte message id
    r = cli("import", "--qr", tmp_path / "qr", "--out", tmp_path / "in-qr")
    assert r.code == 0, r.err
    assert f"message words (compare with those read aloud at export): {said}" in \
        r.out.splitlines()


def test_the_tui_asks_for_the_trusted_root_and_the_words(rotation: dict[str, Path],
                                                         hsm: SoftHsm, tmp_path: Path) -> None:
    """``ceremony tui --draft FILE --keyholder NAME``: a rotation without a trusted root is
    refused until one is given on the screen; signing waits for the words."""
    from textual.widgets import Input

    from ceremony.tui.app import make_app
    from ceremony.tui.screens.confirm import ConfirmScreen
    from ceremony.tui.screens.remote import RemoteSignScreen
    from tests.faces.tui.test_tui import Driver, run_async

    sig = tmp_path / "carol.sig.json"
    room = digest_words(json.loads(rotation["draft"].read_text())["digest"])

    @run_async
    async def scenario() -> None:
        app = make_app(tmp_path / "unused", draft=rotation["draft"], keyholder="carol",
                       signature_out=sig)
        async with app.run_test(size=(120, 40)) as pilot:
            d = Driver(app, pilot)
            screen = await d.at(RemoteSignScreen)
            await d.until(lambda: "root v2 continues root v1: bring your own copy" in d.banner(),
                          "the refusal")
            assert screen.draft is None
            field = screen.query_one("#trusted", Input)
            assert field.has_focus
            await d.press("enter")  # still nothing: an empty field is no trusted root
            await d.until(lambda: not app.busy, "the second refusal")
            assert screen.draft is None and "root v2 continues root v1" in d.banner()
            field.value = str(rotation["trusted"])
            await d.press("enter")
            await d.until(lambda: screen.draft is not None, "the draft read")
            shown = str(screen.query_one("#draft").render())
            assert f"trusted root: root v1 of the chain in {rotation['trusted']}" in shown
            assert "Changes (against your trusted root)" in shown
            assert "+ add" not in shown and "- remove" not in shown
            screen.query_one("#words", Input).value = room
            await d.press("enter")
            await d.at(ConfirmScreen)
            await d.press(*"carol", "enter")
            await d.pin(typed=True)
            await d.until(lambda: not app.busy and screen.written is not None, "the signature")

    scenario()
    assert sig.is_file()
    r = cli("import-signature", rotation["ws2"], sig)
    assert r.code == 0 and "root v2: 2/2 - alice, carol signed; threshold met" in r.out, r.err


# ---- notary drafts: the same checks, by notary's rules --------------------------------------


def test_notary_drafts_are_checked_against_the_trusted_chain_and_the_words(
        hsm: SoftHsm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ceremony.formats.notary_chain import verify_directory
    from ceremony.formats.notary_json import canonical_bytes
    from ceremony.formats.notary_keys import (
        certificates_from_entry,
        entry_key_id,
        public_key_entry,
    )
    from tests.support.notary_fixtures import no_network, offline_key_files, ok
    from tests.support.plans import notary_plan

    gun = "example.com/travel/app"
    two = {"alice": "tok-alice", "bob": "tok-bob"}
    hsm.make(*two.values())
    keys, targets = offline_key_files(tmp_path / "keys", gun)
    plan = tmp_path / "plan.toml"
    plan.write_text(notary_plan("v", gun, two, list(two), 1, targets, keys))
    pin = ("--pin-file", hsm.pin_file)
    ws1, ws2 = tmp_path / "ws1", tmp_path / "ws2"
    with no_network():
        ok(cli("init", ws1, "--plan", plan))
        for holder in two:
            ok(cli("keygen", ws1, "--keyholder", holder, *pin))
        ok(cli("draft", ws1))
        ok(cli("sign", ws1, "--keyholder", "alice", *pin))
        ok(cli("publish", ws1))
        ok(cli("init", ws2, "--plan", plan, "--previous", ws1 / "metadata"))
        ok(cli("draft", ws2))
        ok(cli("export-draft", ws2, "--out", tmp_path / "d2.json"))
    hsm.module.close()
    genuine = json.loads((tmp_path / "d2.json").read_text())
    room = digest_words(genuine["digest"])
    trusted = ("--trusted", ws1 / "metadata")
    spy = Spy(monkeypatch)

    def variant(name: str, edit: Callable[[dict[str, Any]], None]) -> Path:
        doc = json.loads(json.dumps(genuine))
        edit(doc)
        doc["digest"] = hashlib.sha256(canonical_bytes(doc["draft"])).hexdigest()  # consistent
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(doc))
        return path

    root_ids = genuine["draft"]["roles"]["root"]["keyids"]
    alice_id = next(k for k, v in genuine["identities"]["keys"].items()
                    if v["keyholder"] == "alice")
    cert = certificates_from_entry(genuine["draft"]["keys"][alice_id])[0]
    alice_key = cert.public_key()
    assert isinstance(alice_key, ec.EllipticCurvePublicKey)
    twin = public_key_entry(alice_key)  # alice's key again, as a bare ecdsa key
    twin_id = entry_key_id(twin)

    def alias(doc: dict[str, Any]) -> None:
        doc["draft"]["keys"][twin_id] = twin
        doc["draft"]["roles"]["root"]["keyids"].append(twin_id)

    aliased = variant("alias", alias)
    code, line = _refused(spy, aliased, *trusted, "--expect-digest", room, who="bob")
    first, second = alice_id, twin_id  # in the file's order
    assert (code, line) == (3, f"error: {aliased}: in the draft of root v2, one key is listed "
                               f"twice, as alice and key {second[:12]} (ids {first[:12]} and "
                               f"{second[:12]}): it counts once; a draft that lists one key "
                               "twice is not signed")

    other = next(k for k in root_ids if k != alice_id)

    def swap(doc: dict[str, Any]) -> None:  # bob's certificate under alice's id
        doc["draft"]["keys"][alice_id] = doc["draft"]["keys"][other]

    code, line = _refused(spy, variant("swapped", swap), *trusted, "--expect-digest", room, who="bob")
    assert code == 3 and f"keys[{alice_id[:12]}] is listed under an id that is not the hash of " \
                         "the key" in line

    def forge_previous(doc: dict[str, Any]) -> None:
        doc["previous"]["signed"]["roles"]["root"]["threshold"] = 2

    code, line = _refused(spy, variant("previous", forge_previous), *trusted,
                          "--expect-digest", room, who="bob")
    assert (code, line) == (3, "error: the draft's previous root v1 differs from your trusted "
                               f"root v1 (root v1 of the chain in {ws1 / 'metadata'}, verified "
                               "from 1.root.json): the draft was changed, or it is for another "
                               "repository; nothing was signed")

    def lower(doc: dict[str, Any]) -> None:
        doc["draft"]["roles"]["targets"]["threshold"] = 2

    code, line = _refused(spy, variant("edited", lower), *trusted, "--expect-digest", room, who="bob")
    assert code == 3 and line.startswith("error: the digest words do not match this draft: word ")
    code, line = _refused(spy, tmp_path / "d2.json", "--expect-digest", room, who="bob")
    assert code == 64 and line.startswith("error: root v2 continues root v1: bring your own copy")
    code, line = _refused(spy, tmp_path / "d2.json", "--trusted", ws1 / "metadata" / "1.root.json",
                          who="bob")
    assert code == 64 and line.startswith("error: confirm the draft's digest with --expect-digest")

    # The genuine draft, the trusted root file, the words: bob signs, and the chain verifies.
    r = cli("sign-draft", tmp_path / "d2.json", "--keyholder", "bob", "--trusted",
            ws1 / "metadata" / "1.root.json", "--expect-digest", room, *pin)
    assert r.code == 0, r.err
    assert f"trusted root: root v1 from {ws1 / 'metadata' / '1.root.json'}" in r.err
    with no_network():
        ok(cli("import-signature", ws2, tmp_path / "2.root.sig-bob.json"))
        ok(cli("publish", ws2))
    assert verify_directory(ws2 / "metadata")[0].newest_version == 2


def test_the_tui_refuses_an_alias_key_before_any_pin(rotation: dict[str, Path],
                                                     tmp_path: Path) -> None:
    from ceremony.tui.app import make_app
    from ceremony.tui.screens.pin import PinScreen
    from ceremony.tui.screens.remote import RemoteSignScreen
    from tests.faces.tui.test_tui import Driver, run_async

    def alias(doc: dict[str, Any]) -> None:
        _bob_id, bob = _key_of(doc, "bob")
        twin = {**bob, "x-ceremony-keyholder": "dave"}
        twin_id = hashlib.sha256(str(encode_canonical(twin)).encode()).hexdigest()
        doc["draft"]["signed"]["keys"][twin_id] = twin
        doc["draft"]["signed"]["roles"]["root"]["keyids"].append(twin_id)

    path, _room = _edited(rotation, "alias", alias)
    sig = tmp_path / "carol.sig.json"

    @run_async
    async def scenario() -> None:
        app = make_app(tmp_path / "unused", draft=path, keyholder="carol", signature_out=sig,
                       trusted=rotation["trusted"])
        async with app.run_test(size=(120, 40)) as pilot:
            d = Driver(app, pilot)
            screen = await d.at(RemoteSignScreen)
            await d.until(lambda: "one key is listed twice, as bob and dave" in d.banner()
                          and "a draft that lists one key twice is not signed" in d.banner(),
                          "the refusal")
            assert screen.draft is None
            await d.press("enter")  # nothing to sign
            assert isinstance(app.screen, RemoteSignScreen)
            assert not any(isinstance(s, PinScreen) for s in app.screen_stack)

    scenario()
    assert not sig.exists()


def test_tui_trusted_goes_with_a_draft(tmp_path: Path) -> None:
    r = cli("tui", tmp_path / "ws", "--trusted", tmp_path / "1.root.json")
    assert (r.code, r.err.strip()) == (64, "error: --keyholder, --trusted and --out go with "
                                           "--draft FILE")
