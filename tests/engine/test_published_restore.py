"""A published file deleted from the workspace is put back by the next command that opens it,
each file from what the format says it published (``Format.published_files``, a role's from
``roles_to_publish``) and only when its rebuilt bytes have the digest the ``published`` event
journaled for that very file (``outputs``, ``roles``); a file whose rebuilt bytes differ stays
missing, with a warning naming it. Multi-file publishes: an X.509 CA's folder (the certificate,
``ca.json``, Notation's trust policy and trust store), TUF roles published with root (targets,
a delegation, a target file), notary's sidecar."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ceremony.engine import Ceremony
from tests.conftest import SoftHsm
from tests.support.helpers import TRIO, cli, rewrite_journal
from tests.support.notary_fixtures import offline_key_files
from tests.support.plans import notary_plan
from tests.support.roles import signed_small_roles
from tests.support.x509_ceremony import publish_root


def _published(ws: Path) -> dict[str, Any]:
    lines = [json.loads(x) for x in (ws / "journal.jsonl").read_text().splitlines()]
    return next(x["data"] for x in reversed(lines) if x["type"] == "published")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _restored(rel: str, digest: str) -> str:
    return f"warning: {rel} was missing; rebuilt from the journal (sha256 {digest[:16]}... as published)"


def _notary_published(hsm: SoftHsm, tmp_path: Path) -> Path:
    """A Notary collection's root v1 published by alice and bob (2 of 2): its workspace."""
    holders = {k: TRIO[k] for k in ("alice", "bob")}
    hsm.make(*holders.values())
    keys, targets = offline_key_files(tmp_path / "online", "example.com/proto/app")
    plan = tmp_path / "plan.toml"
    plan.write_text(notary_plan("p", "example.com/proto/app", holders, list(holders), 2, targets, keys))
    c = Ceremony.init(tmp_path / "ws", plan)
    for name in holders:
        c.keygen(name, hsm.module, hsm.pin)
    c.draft()
    for name in holders:
        c.sign(name, hsm.module, hsm.pin)
    c.publish()
    c.close()
    ws = tmp_path / "ws"
    return ws


def test_a_deleted_file_of_an_x509_ca_folder_is_restored_each_from_its_own_digest(
        hsm: SoftHsm, tmp_path: Path) -> None:
    metadata = publish_root(hsm, tmp_path)
    ws = metadata.parent
    outputs = _published(ws)["outputs"]
    # every file the publish wrote, each with its own digest (not the certificate's for all)
    on_disk = {p.relative_to(metadata).as_posix(): p.read_bytes() for p in metadata.rglob("*")
               if p.is_file() and "drafts" not in p.parts}
    assert outputs == {name: _sha(body) for name, body in on_disk.items()}
    gone = ["ca.json", "notation/trustpolicy.json",
            next(n for n in outputs if n.startswith("notation/truststore/"))]
    assert len(set(outputs[n] for n in gone)) == 3
    for name in gone:
        (metadata / name).unlink()

    out = tmp_path / "stick"
    out.mkdir()
    r = cli("export", ws, "--usb", out)  # opening the workspace restores, then export checks
    assert r.code == 0, r.err
    for name in gone:
        assert _restored(f"metadata/{name}", outputs[name]) in r.err
        assert (metadata / name).read_bytes() == on_disk[name]
    assert "ca.pem was missing" not in r.err  # a file still there is not rewritten


def test_a_deleted_role_published_with_root_is_restored_and_a_target_file_is_not(
        hsm: SoftHsm, tmp_path: Path) -> None:
    """A role's metadata is rebuilt from the journal; a target file is not (its bytes come from
    the plan's folder): it stays missing and export refuses, naming it."""
    ws = signed_small_roles(hsm, tmp_path, b'{"policy": "doi"}\n')
    r = cli("publish", ws)
    assert r.code == 0, r.err
    event = _published(ws)
    roles = event["roles"]
    targets_file = next(rel for rel in roles if rel.startswith("metadata/") and "targets" in rel)
    target = next(rel for rel in roles if rel.startswith("targets/"))
    root_file = f"metadata/{event['version']}.root.json"
    before = {rel: (ws / rel).read_bytes() for rel in (targets_file, target, root_file)}
    for rel in before:
        (ws / rel).unlink()

    stick = tmp_path / "stick"
    stick.mkdir()
    r = cli("export", ws, "--usb", stick)
    assert _restored(targets_file, roles[targets_file]) in r.err
    assert _restored(root_file, event["sha256"]) in r.err
    for rel in (targets_file, root_file):
        assert (ws / rel).read_bytes() == before[rel]
    assert r.code == 3, r.err
    assert f"error: {target} is missing (the journal recorded it); nothing was exported" in r.err
    assert f"{target} was missing" not in r.err and not (ws / target).exists()
    assert list(stick.iterdir()) == []

    (ws / target).write_bytes(before[target])  # put back from a copy: export goes ahead
    r = cli("export", ws, "--usb", stick)
    assert r.code == 0, r.err
    assert "was missing" not in r.err


def test_a_file_whose_rebuilt_bytes_are_not_what_was_journaled_stays_missing(
        hsm: SoftHsm, tmp_path: Path) -> None:
    """A notary publish journaled before ``outputs`` was kept gives every name in ``files`` the
    root's digest: the root files come back, the sidecar (other bytes) is named and not written,
    and an export without it is refused (the publish wrote it) until it is restored from a copy."""
    ws = _notary_published(hsm, tmp_path)
    event = _published(ws)
    assert event["files"] == ["1.root.json", "root.json", "ceremony-keys.json"]
    sidecar = ws / "metadata" / "ceremony-keys.json"
    assert event["outputs"]["ceremony-keys.json"] == _sha(sidecar.read_bytes()) != event["sha256"]

    def old_style(lines: list[dict[str, Any]]) -> None:
        next(x for x in lines if x["type"] == "published")["data"].pop("outputs")
    rewrite_journal(ws, old_style)
    root = (ws / "metadata" / "1.root.json").read_bytes()
    sidecar_bytes = sidecar.read_bytes()
    (ws / "metadata" / "1.root.json").unlink()
    sidecar.unlink()
    journal_before = (ws / "journal.jsonl").read_bytes()
    (tmp_path / "stick").mkdir()

    r = cli("export", ws, "--usb", tmp_path / "stick")
    assert _restored("metadata/1.root.json", event["sha256"]) in r.err
    assert (ws / "metadata" / "1.root.json").read_bytes() == root
    assert ("warning: metadata/ceremony-keys.json is missing and what the journal rebuilds for it "
            f"is not what was published (sha256 {event['sha256'][:16]}...); it is not written: "
            "restore it from a copy") in r.err
    assert not sidecar.exists()
    # the publish wrote it (the journal's ``files``): an export without it is refused
    assert r.code == 3, r.err
    assert ("error: metadata/ceremony-keys.json is missing (the journal recorded it); nothing was "
            "exported") in r.err
    assert list((tmp_path / "stick").iterdir()) == []
    assert (ws / "journal.jsonl").read_bytes() == journal_before

    sidecar.write_bytes(sidecar_bytes)  # restored from a copy: the export goes ahead
    r = cli("export", ws, "--usb", tmp_path / "stick")
    assert r.code == 0, r.err
    assert (ws / "journal.jsonl").read_bytes() != journal_before  # the export is journaled


def test_the_report_lists_a_sidecars_journaled_digest_not_the_files(hsm: SoftHsm, tmp_path: Path) -> None:
    """The record's outputs are a function of the journal: a Notary sidecar's digest comes from
    ``published.outputs`` (since this release journals it), whatever the folder holds now."""
    from ceremony import journal
    from ceremony.record import _outputs
    from ceremony.workspace import Workspace

    ws = _notary_published(hsm, tmp_path)
    journaled = _published(ws)["outputs"]["ceremony-keys.json"]
    (ws / "metadata" / "ceremony-keys.json").write_bytes(b"{}")  # changed after publish
    listed = dict(_outputs(Workspace(ws), journal.read(ws / "journal.jsonl")))
    assert listed["metadata/ceremony-keys.json"] == journaled
