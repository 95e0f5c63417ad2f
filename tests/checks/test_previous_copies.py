"""Every copy ``init --previous`` makes into ``previous/`` is journaled by digest and checked
where it is read again: an edited intermediate root (or notary sidecar) is refused, exit 3."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ceremony import integrity
from ceremony.engine import Ceremony
from ceremony.errors import VerificationError
from ceremony.formats import notary_record, previous_copies
from tests.conftest import SoftHsm
from tests.engine.test_notary_ceremony_offline import online_keys, run, write_plan
from tests.support.helpers import cli, online_key_paths, published_v1, run_steps
from tests.support.notary_fixtures import no_network, ok
from tests.support.plans import plan_toml

THREE = {k: f"tok-{k}" for k in ("alice", "bob", "carol")}


@pytest.fixture
def tuf_ws(hsm: SoftHsm, tmp_path: Path) -> Path:
    """A TUF workspace continuing the chain v1, v2 (carol removed in v2), draft v3 made."""
    repo = published_v1(hsm, tmp_path)
    p2 = tmp_path / "p2.toml"
    p2.write_text(plan_toml("v2", THREE, ["alice", "bob"], 2, online_key_paths(tmp_path / "a")))
    run_steps(hsm, tmp_path / "ws2", p2, repo, ["alice", "bob"])
    shutil.copy(tmp_path / "ws2" / "metadata" / "2.root.json", repo)
    p3 = tmp_path / "p3.toml"
    p3.write_text(plan_toml("v3", THREE, ["alice", "bob"], 2, online_key_paths(tmp_path / "a")))
    ws = tmp_path / "ws3"
    r = cli("init", ws, "--plan", p3, "--previous", repo)
    assert r.code == 0, r.err
    assert cli("draft", ws).code == 0
    return ws


def test_init_journals_every_copy(tuf_ws: Path) -> None:
    info = json.loads((tuf_ws / "journal.jsonl").read_text().splitlines()[0])["data"]["previous"]
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
             for p in (tuf_ws / "previous").iterdir()}
    assert set(files) == {"1.root.json", "2.root.json"}
    assert info["files"] == files


def test_tuf_previous_version_refuses_an_edited_intermediate_root(tuf_ws: Path) -> None:
    copy = tuf_ws / "previous" / "1.root.json"
    carol = next(k for k, v in json.loads(copy.read_text())["signed"]["keys"].items()
                 if v.get("x-ceremony-keyholder") == "carol")
    c = Ceremony.open(tuf_ws, write=False)
    assert c.revoked_in(carol) == 2  # unedited: read and used
    copy.write_bytes(copy.read_bytes() + b" ")  # still valid JSON, still the same root
    c = Ceremony.open(tuf_ws, write=False)
    with pytest.raises(VerificationError) as err:
        c.revoked_in(carol)
    assert err.value.message == f"{copy} was changed after the ceremony started"
    # through the CLI: a detached signature's import asks whether its key was revoked
    forged = {"kind": "ceremony-signature", "repository": "test/repo",
              "ceremony_id": c.state.init["ceremony_id"], "version": 3,
              "digest": c.state.draft_digest, "keyholder": "carol",
              "signatures": [{"keyid": carol, "sig": "30" * 8}]}
    f = tuf_ws.parent / "carol.sig.json"
    f.write_text(json.dumps(forged))
    journal = (tuf_ws / "journal.jsonl").read_bytes()
    r = cli("import-signature", tuf_ws, f)
    assert (r.code, r.err.splitlines()[0]) == (
        3, f"error: {copy} was changed after the ceremony started")
    assert (tuf_ws / "journal.jsonl").read_bytes() == journal


def test_a_previous_release_journal_falls_back_to_the_old_checks(tmp_path: Path) -> None:
    path = tmp_path / "previous" / "1.root.json"
    # no ``files`` key (the previous release's journal): used as that release did
    assert previous_copies.check(path, b"edited", {"version": 2, "sha256": "00"}) == b"edited"
    assert previous_copies.check(path, b"x", None) == b"x"


def test_a_file_init_did_not_copy_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "previous" / "7.root.json"
    with pytest.raises(VerificationError) as err:
        previous_copies.check(path, b"{}", {"files": {"1.root.json": "00"}})
    assert err.value.message == f"{path} was not copied in by init; refusing"


def test_tuf_on_ci_history_is_written_only_from_the_copies_init_verified(tmp_path: Path) -> None:
    """publish under tuf-on-ci compat copies previous/ into metadata/root_history/: a copy
    edited after init is refused there (it was written as found), and so is one added."""
    from types import SimpleNamespace

    from ceremony.formats import tuf_layout
    from ceremony.formats.tuf_compat import TUF_ON_CI

    (tmp_path / "previous").mkdir()
    (tmp_path / "metadata").mkdir()
    v1 = b'{"signed": {"version": 1}}'
    (tmp_path / "previous" / "1.root.json").write_bytes(v1)
    info = {"version": 1, "sha256": hashlib.sha256(v1).hexdigest(),
            previous_copies.FILES: previous_copies.digests({"1.root.json": v1})}
    view = SimpleNamespace(plan=SimpleNamespace(compat=TUF_ON_CI),
                           ws=SimpleNamespace(metadata=tmp_path / "metadata", previous=tmp_path / "previous"),
                           state=SimpleNamespace(init={"previous": info}))
    (tmp_path / "previous" / "1.root.json").write_bytes(v1 + b" ")
    with pytest.raises(VerificationError) as err:
        tuf_layout.write_history(view, b"v2", 2)  # type: ignore[arg-type]
    assert err.value.message == (f"{tmp_path / 'previous' / '1.root.json'} was changed after the "
                                 "ceremony started")
    assert not (tmp_path / "metadata" / "root_history").exists()
    (tmp_path / "previous" / "1.root.json").write_bytes(v1)
    assert [p.name for p in tuf_layout.write_history(view, b"v2", 2)] == ["1.root.json", "2.root.json"]  # type: ignore[arg-type]
    assert (tmp_path / "metadata" / "root_history" / "1.root.json").read_bytes() == v1
    # init continued no chain: nothing in previous/ is history
    view.state.init = {"previous": None}
    with pytest.raises(VerificationError) as err:
        tuf_layout.write_history(view, b"v3", 3)  # type: ignore[arg-type]
    assert err.value.message == f"{tmp_path / 'previous' / '1.root.json'} was not copied in by init; refusing"


@pytest.fixture
def notary_ws(hsm: SoftHsm, tmp_path: Path) -> Path:
    """A notary workspace continuing the chain v1, v2 (with its sidecar), draft v3 made."""
    hsm.make("tok-alice")
    keys, targets = online_keys(tmp_path / "keys")
    run(hsm, tmp_path / "ws1", write_plan(tmp_path, "v1", keys, targets))
    run(hsm, tmp_path / "ws2", write_plan(tmp_path, "v2", keys, targets),
        tmp_path / "ws1" / "metadata")
    ws = tmp_path / "ws3"
    with no_network():
        ok(cli("init", ws, "--plan", write_plan(tmp_path, "v3", keys, targets),
               "--previous", tmp_path / "ws2" / "metadata"))
        ok(cli("draft", ws))
    return ws


def test_notary_readers_refuse_an_edited_intermediate_root(notary_ws: Path) -> None:
    copy = notary_ws / "previous" / "1.root.json"
    info = json.loads((notary_ws / "journal.jsonl").read_text().splitlines()[0])["data"]
    assert set(info["previous"]["files"]) == {"1.root.json", "2.root.json", "ceremony-keys.json"}
    c = Ceremony.open(notary_ws, write=False)
    alice = next(iter(c.format.previous_version(1).roles["root"].keyids))
    assert c.revoked_in(alice) in (None, 2, 3)  # unedited: every version read, no refusal
    draft = c.draft_metadata().signed
    copy.write_bytes(copy.read_bytes() + b" ")
    message = f"{copy} was changed after the ceremony started"
    # each reader, on a fresh format object (each caches what it read)
    readers: dict[str, Callable[[Any], object]] = {
        "previous_version": lambda f: f.previous_version(1),
        "sidecar identities": lambda f: f._sidecar_identities(),
    }
    readers["sidecar for publish"] = lambda f: f._sidecar_for(draft, 3)
    for name, read in readers.items():
        fresh = Ceremony.open(notary_ws, write=False)  # kept alive: its format's view
        with pytest.raises(VerificationError) as err:
            read(fresh.format)
        assert err.value.message == message, name
    with pytest.raises(VerificationError) as err:
        Ceremony.open(notary_ws, write=False).revoked_in(alice)
    assert err.value.message == message
    # through the CLI: status and publish (which copies the chain into metadata/)
    for command in (("status",), ("publish",)):
        r = cli(*command, notary_ws)
        assert (r.code, r.err) == (3, f"error: {message}\n"), command
    assert not (notary_ws / "metadata" / "1.root.json").exists()


def test_notary_record_refuses_an_edited_intermediate_root(notary_ws: Path) -> None:
    copy = notary_ws / "previous" / "1.root.json"
    copy.write_bytes(copy.read_bytes() + b" ")
    c = Ceremony.open(notary_ws, write=False)
    with pytest.raises(VerificationError) as err:
        notary_record._identities(c.ws, c.journal.events)
    assert err.value.message == f"{copy} was changed after the ceremony started"


def test_export_refuses_an_edited_copy_of_an_intermediate_root(hsm: SoftHsm,
                                                                notary_ws: Path) -> None:
    with no_network():
        ok(cli("sign", notary_ws, "--keyholder", "alice", "--pin-file", hsm.pin_file))
        ok(cli("publish", notary_ws))
    copy = notary_ws / "previous" / "1.root.json"
    copy.write_bytes(copy.read_bytes() + b" ")  # the chain still walks: only the digest tells
    stick = notary_ws.parent / "stick"
    stick.mkdir()
    r = cli("export", notary_ws, "--usb", stick)
    assert r.code == 3, r.err
    assert r.err == f"error: {copy} was changed after the ceremony started\n"
    assert list(stick.iterdir()) == []


def test_export_check_refuses_a_tuf_copy_edited_so_it_still_verifies(hsm: SoftHsm,
                                                                     tuf_ws: Path) -> None:
    for holder in ("alice", "bob"):
        ok(cli("sign", tuf_ws, "--keyholder", holder, "--pin-file", hsm.pin_file))
    ok(cli("publish", tuf_ws))
    copy = tuf_ws / "previous" / "1.root.json"
    copy.write_bytes(copy.read_bytes() + b" ")  # the chain still walks: only the digest tells
    c = Ceremony.open(tuf_ws, write=False)
    files = {p.name: p.read_bytes() for p in (tuf_ws / "previous").glob("*.root.json")}
    files |= {name: (tuf_ws / "metadata" / name).read_bytes()
              for name in ("3.root.json", "root.json")}
    with pytest.raises(VerificationError) as err:  # the export's own check of what it ships
        integrity.check_export(c, files)
    assert err.value.message.startswith(
        "previous/1.root.json differs from the copy journaled at init (sha256 ")
    assert err.value.message.endswith("...): it was replaced; nothing was exported")
    stick = tuf_ws.parent / "stick"
    stick.mkdir()
    r = cli("export", tuf_ws, "--usb", stick)
    assert (r.code, r.err.splitlines()[0]) == (3, f"error: {err.value.message}")
    assert list(stick.iterdir()) == []
