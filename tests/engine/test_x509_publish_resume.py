"""An X.509 publish cut short, run again: the outputs it already wrote (these very bytes) are
kept, the rest written and the temporary file of the write it was killed in removed, so the
folder comes out as an uncut publish's; anything else in an output's place (other bytes, a
link, a folder) is refused before anything is written. The crash
sweep (test_crash_sweep_publish) kills the publish at every write; this is its fast witness."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import SoftHsm
from tests.support.helpers import cli
from tests.support.x509_ceremony import CA, root_ceremony, run

REFUSED = ("metadata/ca.json already exists; an output is never overwritten; nothing was published")


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_a_publish_cut_short_finishes_and_a_foreign_file_is_refused(hsm: SoftHsm, tmp_path: Path) -> None:
    ws = root_ceremony(hsm, tmp_path)
    run(ws, hsm, "alice", "bob", CA)
    uncut = tmp_path / "uncut"
    shutil.copytree(ws, uncut)
    r = cli("publish", uncut)
    assert r.code == 0, r.err
    published = _files(uncut / "metadata")
    journal = (ws / "journal.jsonl").read_bytes()

    # the place of ca.json taken by other bytes, a link to the very bytes, a folder: refused, exit 3
    ca_json = ws / "metadata" / "ca.json"
    for make in (lambda: ca_json.write_bytes(published["ca.json"] + b" "),
                 lambda: ca_json.symlink_to(uncut / "metadata" / "ca.json"),
                 lambda: ca_json.mkdir()):
        before = _files(ws)
        make()
        r = cli("publish", ws)
        assert r.code == 3, r.err
        assert REFUSED in r.err
        assert "a publish cut short writes these very bytes" in r.err
        assert not (ws / "metadata" / "ca.pem").exists()
        assert (ws / "journal.jsonl").read_bytes() == journal
        if ca_json.is_dir() and not ca_json.is_symlink():
            ca_json.rmdir()
        else:
            ca_json.unlink()
        assert _files(ws) == before

    # what a publish killed after its first two outputs leaves, with the third's temporary file:
    # publish again finishes it and removes the temporary file (not the operator's hidden files)
    for name in ("ca.pem", "notation/trustpolicy.json"):
        (ws / "metadata" / name).parent.mkdir(parents=True, exist_ok=True)
        (ws / "metadata" / name).write_bytes(published[name])
    (ws / "metadata" / ".ca.json.k3_x9q0z.tmp").write_bytes(published["ca.json"][:100])
    (ws / "metadata" / ".notes.tmp").write_text("the operator's, not a temporary file of the tool\n")
    r = cli("publish", ws)
    assert r.code == 0, r.err
    assert "removed metadata/.ca.json.k3_x9q0z.tmp, the temporary file of a write cut short" in r.err
    assert _files(ws / "metadata") == published | {".notes.tmp": b"the operator's, not a temporary file of the tool\n"}
    assert [json.loads(x)["type"] for x in (ws / "journal.jsonl").read_text().splitlines()][-1] == "published"
    r = cli("record", "verify", ws, "--allow-unsealed")
    assert r.code == 0, r.out + r.err
