"""Offline targets and delegated roles (issue 15): a ceremony on SoftHSM drafts root, targets
and two terminating delegations together, each keyholder's one `sign` signs every role the
draft asks of them, publish writes every role's metadata (consistent-snapshot names) and the
target files, and python-tuf's ngclient and tuf-js both download a delegated target."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from securesystemslib.formats import encode_canonical

from tests.conftest import SoftHsm
from tests.support.clients import both_clients_accept
from tests.support.helpers import cli, make_online_keys
from tests.support.roles import Role, RolesPlan, publish_online_roles, signed_small_roles, usb_round_trip
from tests.support.tuf_repo import serve

HOLDERS = {k: f"tok-{k}" for k in ("alice", "bob", "carol", "dave")}
POLICY = b'{"policy": "doi", "allow": ["docker.io/library/*"]}\n'
REKOR = b"-----BEGIN PUBLIC KEY-----\nnot really a key, any file is a target\n-----END PUBLIC KEY-----\n"
README = b"top-level target listed by targets itself\n"


def roles_plan(tmp: Path, **changes: object) -> RolesPlan:
    """root alice, bob, carol 2/3; targets alice, bob, dave 2/3 with one file; doi (carol,
    dave 2/2, doi/*) and rekor (bob 1/1, rekor/*), both terminating, each with a file."""
    files = tmp / "plan"
    (files / "doi").mkdir(parents=True, exist_ok=True)
    (files / "rekor").mkdir(parents=True, exist_ok=True)
    (files / "doi" / "policy.json").write_bytes(POLICY)
    (files / "rekor" / "rekor.pub").write_bytes(REKOR)
    (files / "README.txt").write_bytes(README)
    spec = {"name": "roles", "holders": HOLDERS, "root": ["alice", "bob", "carol"],
            "threshold": 2, "online_dir": files / "online",
            "targets": Role("targets", ["alice", "bob", "dave"], 2, "90d", targets=["README.txt"]),
            "delegations": [Role("doi", ["carol", "dave"], 2, "60d", paths=["doi/*"],
                                 terminating=True, targets=["doi/policy.json"]),
                            Role("rekor", ["bob"], 1, "60d", paths=["rekor/*"], terminating=True,
                                 targets=["rekor/rekor.pub"]),
                            Role("partner", [], 1, "60d", paths=["partner/*"],
                                 extra=f'keys = ["{files / "online" / "snapshot.pub.pem"}"]')]}
    spec.update(changes)
    return RolesPlan(**spec)  # type: ignore[arg-type]


def test_offline_targets_and_delegations_end_to_end(hsm: SoftHsm, tmp_path: Path) -> None:
    hsm.make(*HOLDERS.values())
    online = make_online_keys(hsm, tmp_path / "plan" / "online", roles=("snapshot", "timestamp"))
    plan = roles_plan(tmp_path).write(tmp_path / "plan" / "plan.toml")
    ws = tmp_path / "ws"
    r = cli("init", ws, "--plan", plan)
    assert r.code == 0, r.err
    for k in HOLDERS:  # dave holds no root key: he is keygen'd for targets and doi
        r = cli("keygen", ws, "--keyholder", k, "--pin-file", hsm.pin_file)
        assert r.code == 0, r.err
    r = cli("script", ws)  # the printable script names every role and who signs which
    assert r.code == 0, r.err
    assert "Generate dave's key: ceremony keygen" in r.out
    html = (ws / "record" / "script.html").read_text()
    assert "delegated doi 2 of 2 for doi/*, terminating, 1 target file(s)" in html
    assert "signs targets, doi; only until status shows every threshold met" in html
    r = cli("draft", ws)
    assert r.code == 0, r.err
    assert "targets version 1: 2 of 3 (alice, bob, dave), expires " in r.out
    assert "delegated role doi version 1: 2 of 2 (carol, dave), expires " in r.out
    assert "  paths doi/*; terminating" in r.out
    assert "delegated role partner (keys held elsewhere, not signed here): 1 of 1 (key " in r.out
    assert f"  target doi/policy.json: {len(POLICY)} bytes, sha256 " in r.out

    from ceremony.session import Session
    from ceremony.tui.flow import signing_candidates
    c = Session.open(ws, write=False)
    try:  # the TUI's sign screen offers dave, who holds no root key, for targets and doi
        assert signing_candidates(c) == ["alice", "bob", "carol", "dave"]
    finally:
        c.close()

    r = cli("publish", ws)  # nobody signed: refused, every role's verdict named
    assert r.code == 6, r.err
    assert "targets v1: 0/2 - nobody has signed; waiting for 2 of alice, bob, dave" in r.err
    assert "doi v1: 0/2" in r.err

    r = cli("sign", ws, "--keyholder", "bob", "--pin-file", hsm.pin_file)
    assert r.code == 0, r.err
    assert "bob signed root, targets, rekor (draft of root v1) with token 'tok-bob'" in r.out
    r = cli("sign", ws, "--keyholder", "dave", "--pin-file", hsm.pin_file)
    assert r.code == 0, r.err
    assert "dave signed targets, doi (draft of root v1)" in r.out
    r = cli("sign", ws, "--keyholder", "dave", "--pin-file", hsm.pin_file)
    assert (r.code, "dave has already signed targets, doi (draft of root v1)" in r.err) == (8, True)
    r = cli("publish", ws)  # root 1/2 and doi 1/2: still refused
    assert r.code == 6 and "doi v1: 1/2 - dave signed; waiting for one of carol" in r.err, r.err
    assert not (ws / "metadata" / "1.targets.json").exists()
    st = cli("status", ws)  # the next step names a keyholder whose role still waits
    assert "next: ceremony sign WORKSPACE --keyholder alice" in st.out, st.out
    r = cli("sign", ws, "--keyholder", "carol", "--pin-file", hsm.pin_file)
    assert r.code == 0, r.err
    assert "carol signed root, doi (draft of root v1)" in r.out
    c = Session.open(ws, write=False)
    try:  # alice still holds unsigned keys of root and targets; the others signed all theirs
        assert signing_candidates(c) == ["alice"]
    finally:
        c.close()

    st = cli("status", ws, "--json")
    assert st.code == 0, st.err
    verdicts = json.loads(st.out)["thresholds"]
    assert verdicts["verified"] is True
    assert [(v["label"], v["signed"]) for v in verdicts["roles"]] == [
        ("targets v1", ["bob", "dave"]), ("doi v1", ["carol", "dave"]), ("rekor v1", ["bob"])]

    r = cli("publish", ws)
    assert r.code == 0, r.err
    meta = ws / "metadata"
    for name in ("1.root.json", "1.targets.json", "1.doi.json", "1.rekor.json"):
        assert (meta / name).is_file(), name
    targets = json.loads((meta / "1.targets.json").read_text())["signed"]
    assert targets["delegations"]["roles"][0] | {"keyids": None} == {
        "name": "doi", "keyids": None, "threshold": 2, "terminating": True, "paths": ["doi/*"]}
    assert (ws / "targets" / "doi").is_dir()
    assert [d["name"] for d in targets["delegations"]["roles"]] == ["doi", "rekor", "partner"]
    assert not (meta / "1.partner.json").exists()  # signed where its keys are, not here

    r = cli("verify", "--trusted", meta / "1.root.json", meta)  # the ceremony's own folder
    assert r.code == 0, r.err
    assert "1.targets.json: targets v1, 2/2 signed by root v1's targets key(s)" in r.out
    assert "1.doi.json: doi v1, signed at its delegation's threshold" in r.out

    repo = tmp_path / "repo"
    publish_online_roles(ws, repo, online.open())
    r = cli("verify", "--trusted", meta / "1.root.json", repo / "metadata")  # with the online side
    assert r.code == 0, r.err
    assert "1.rekor.json: rekor v1, signed at its delegation's threshold" in r.out
    bootstrap = (meta / "1.root.json").read_bytes()
    with serve(repo) as url:
        both_clients_accept(url, tmp_path / "clients", bootstrap, 1, POLICY, "doi/policy.json")
        both_clients_accept(url, tmp_path / "clients2", bootstrap, 1, REKOR, "rekor/rekor.pub")
        both_clients_accept(url, tmp_path / "clients3", bootstrap, 1, README, "README.txt")


def test_target_file_changed_between_draft_and_publish_is_refused(hsm: SoftHsm,
                                                                  tmp_path: Path) -> None:
    ws = signed_small_roles(hsm, tmp_path, POLICY)
    policy = tmp_path / "plan" / "doi" / "policy.json"
    journal = (ws / "journal.jsonl").read_bytes()
    policy.write_bytes(POLICY.replace(b"doi", b"evil"))
    r = cli("publish", ws)
    assert r.code == 3, r.err
    assert (f"target file doi/policy.json changed between draft and publish: the draft lists "
            f"{len(POLICY)} bytes") in r.err
    assert "nothing was published" in r.err
    assert sorted(p.name for p in (ws / "metadata").iterdir()) == ["drafts"]
    assert not (ws / "targets").exists()
    assert (ws / "journal.jsonl").read_bytes() == journal

    policy.unlink()  # gone altogether: refused the same way, naming the file
    r = cli("publish", ws)
    assert (r.code, f"delegation 'doi': target file {policy} does not exist" in r.err) == (3, True)
    assert (ws / "journal.jsonl").read_bytes() == journal

    policy.write_bytes(POLICY)  # put back as drafted: publish goes through
    r = cli("publish", ws)
    assert r.code == 0, r.err
    assert (ws / "metadata" / "1.doi.json").is_file()
    doi = ws / "metadata" / "1.doi.json"  # a delegated role edited after publish: verify says so
    data = json.loads(doi.read_text())
    data["signed"]["targets"]["doi/policy.json"]["length"] += 1
    doi.write_text(json.dumps(data))
    r = cli("verify", "--trusted", ws / "metadata" / "1.root.json", ws / "metadata")
    assert r.code == 3, r.out
    assert "1.doi.json is not signed at its delegation's threshold" in r.err


def test_record_verify_checks_the_roles_published_with_root(hsm: SoftHsm, tmp_path: Path) -> None:
    ws = signed_small_roles(hsm, tmp_path, POLICY)
    assert cli("publish", ws).code == 0
    r = cli("seal", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file)
    assert r.code == 0, r.err
    r = cli("record", "verify", ws)
    assert r.code == 0, r.err
    assert "targets, doi published as journaled (3 files), each signed at threshold" in r.out
    report = (ws / "record" / "report.html").read_text()
    assert "<td>doi (delegated: doi/*)</td><td>1 of 1</td><td>alice</td>" in report

    from ceremony.session import Session  # the TUI's draft review reads every role too
    from ceremony.tui.screens.draft import draft_text
    c = Session.open(ws, write=False)
    try:
        text = draft_text(c).plain
    finally:
        c.close()
    assert "delegated role doi version 1: 1 of 1 (alice), expires " in text
    assert "  target doi/policy.json: " in text
    doi = ws / "metadata" / "1.doi.json"
    doi.write_bytes(doi.read_bytes().replace(b'"version": 1', b'"version": 2'))
    r = cli("record", "verify", ws)
    assert r.code == 3, r.out
    assert "FAIL metadata/1.doi.json is not the file published with root v1" in r.out
    doi.unlink()
    r = cli("record", "verify", ws)
    assert (r.code, "FAIL metadata/1.doi.json is missing (published with root v1)" in r.out) == \
        (3, True), r.out


def test_export_carries_the_roles_and_import_verifies_them(hsm: SoftHsm, tmp_path: Path) -> None:
    ws = signed_small_roles(hsm, tmp_path, POLICY)
    assert cli("publish", ws).code == 0
    r = usb_round_trip(ws, tmp_path)
    assert "1.targets.json: targets v1 verified against root (0 target(s))" in r.out
    assert "1.doi.json: doi v1 verified against targets (1 target(s))" in r.out
    for name in ("1.root.json", "1.targets.json", "1.doi.json"):
        assert (tmp_path / "in" / name).read_bytes() == (ws / "metadata" / name).read_bytes()

    _forged_bundles(ws, tmp_path)


def test_qr_export_carries_the_roles(hsm: SoftHsm, tmp_path: Path) -> None:
    ws = signed_small_roles(hsm, tmp_path, POLICY)
    assert cli("publish", ws).code == 0
    r = cli("export", ws, "--qr", tmp_path / "qr")
    assert r.code == 0, r.err
    r = cli("import", "--qr", tmp_path / "qr", "--out", tmp_path / "in")
    assert r.code == 0, r.err
    assert "1.doi.json: doi v1 verified against targets (1 target(s))" in r.out
    assert (tmp_path / "in" / "1.doi.json").read_bytes() == (ws / "metadata" / "1.doi.json").read_bytes()


def _forged_bundles(ws: Path, tmp_path: Path) -> None:
    """A delegated role changed after signing, or without its delegator: refused by pack."""
    # changed after signing: refused, nothing written
    forged = tmp_path / "forged"
    forged.mkdir()
    for name in ("1.root.json", "1.targets.json", "1.doi.json"):
        (forged / name).write_bytes((ws / "metadata" / name).read_bytes())
    doi = forged / "1.doi.json"
    doi.write_bytes(doi.read_bytes().replace(b'"length": ', b'"length": 1'))
    out = tmp_path / "out"
    out.mkdir()
    r = cli("pack", *sorted(forged.iterdir()), "--kind", "signed-metadata", "--repository",
            "test/repo", "--usb", out)
    assert r.code == 3, r.err
    assert "1.doi.json in the bundle does not verify against targets" in r.err
    assert list(out.iterdir()) == []
    (forged / "1.targets.json").unlink()  # a delegated role without its delegator
    r = cli("pack", *sorted(forged.iterdir()), "--kind", "signed-metadata", "--repository",
            "test/repo", "--usb", out)
    assert (r.code, "the bundle carries doi without targets" in r.err) == (3, True), r.err


def test_detached_signing_covers_every_role(hsm: SoftHsm, tmp_path: Path) -> None:
    """export-draft carries targets and the delegations with root; sign-draft signs every role
    the keyholder holds; import-signature verifies and journals each; publish goes through."""
    hsm.make("tok-alice")
    make_online_keys(hsm, tmp_path / "plan" / "online", roles=("snapshot", "timestamp"))
    plan = roles_plan(tmp_path, holders={"alice": "tok-alice"}, root=["alice"], threshold=1,
                      targets=Role("targets", ["alice"], 1),
                      delegations=[Role("doi", ["alice"], 1, paths=["doi/*"], terminating=True,
                                        targets=["doi/policy.json"])]).write(tmp_path / "plan" / "plan.toml")
    ws = tmp_path / "ws"
    for step in (("init", ws, "--plan", plan),
                 ("keygen", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file), ("draft", ws),
                 ("export-draft", ws, "--out", tmp_path / "draft.json", "--json")):
        r = cli(*step)
        assert r.code == 0, r.err
    exported = json.loads(r.out)
    spoken = exported["digest"]  # what the room reads aloud: root and its roles together
    doc = json.loads((tmp_path / "draft.json").read_text())
    assert sorted(doc["roles"]) == ["doi", "targets"]
    assert doc["digest"] == exported["root_digest"] != spoken

    # the root's own digest no longer vouches for the roles beside it
    r = cli("sign-draft", tmp_path / "draft.json", "--keyholder", "alice", "--pin-file",
            hsm.pin_file, "--expect-digest", doc["digest"], "--out", tmp_path / "x.sig.json")
    assert r.code == 3, r.err
    assert f"error: the digest you were given ({doc['digest'][:16]}...) is not this draft's ({spoken[:16]}...)" in r.err
    assert not (tmp_path / "x.sig.json").exists()

    # a role swapped on the way, its digest recomputed to match: the words catch it
    swapped_doi = {**doc["roles"]["doi"]["signed"], "expires": "2099-01-01T00:00:00Z"}
    swapped = dict(doc, roles={**doc["roles"], "doi": {
        **doc["roles"]["doi"], "signed": swapped_doi,
        "digest": hashlib.sha256(encode_canonical(swapped_doi).encode()).hexdigest()}})
    (tmp_path / "swapped.json").write_text(json.dumps(swapped))
    r = cli("sign-draft", tmp_path / "swapped.json", "--keyholder", "alice", "--pin-file",
            hsm.pin_file, "--expect-digest", spoken, "--out", tmp_path / "x.sig.json")
    assert r.code == 3, r.err
    assert (f"error: the digest you were given ({spoken[:16]}...) is not this draft's" in r.err
            and "the draft was changed on its way, or it is another draft; nothing was signed"
            in r.err), r.err
    assert not (tmp_path / "x.sig.json").exists()

    forged = dict(doc, roles={**doc["roles"], "doi": {**doc["roles"]["doi"], "version": 1,
                                                      "signed": {**doc["roles"]["doi"]["signed"],
                                                                 "version": 9}}})
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    r = cli("sign-draft", tmp_path / "forged.json", "--keyholder", "alice", "--pin-file",
            hsm.pin_file, "--expect-digest", spoken, "--out", tmp_path / "x.sig.json")
    assert r.code == 3, r.err
    assert "the journaled draft of role 'doi' does not match its digest" in r.err
    assert not (tmp_path / "x.sig.json").exists()

    r = cli("sign-draft", tmp_path / "draft.json", "--keyholder", "alice", "--pin-file",
            hsm.pin_file, "--expect-digest", spoken, "--out", tmp_path / "alice.sig.json")
    assert r.code == 0, r.err
    sig = json.loads((tmp_path / "alice.sig.json").read_text())
    assert sorted(s.get("role", "root") for s in sig["signatures"]) == ["doi", "root", "targets"]

    r = cli("import-signature", ws, tmp_path / "alice.sig.json")
    assert r.code == 0, r.err
    st = json.loads(cli("status", ws, "--json").out)["thresholds"]
    assert st["verified"] is True
    assert [v["signed"] for v in st["roles"]] == [["alice"], ["alice"]]
    r = cli("import-signature", ws, tmp_path / "alice.sig.json")
    assert r.code == 8, r.err
    assert cli("publish", ws).code == 0
    assert (ws / "metadata" / "1.doi.json").is_file()
