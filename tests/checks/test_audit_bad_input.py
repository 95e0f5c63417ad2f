"""``ceremony audit``'s bad input: each refused with its exact message and exit 3 ("could not
verify"), nothing on standard output, nothing written (the folders are byte-for-byte as before).

Archived attestations that do not verify, attest a key no role lists, or name another serial
than the key records (or than their folder); attestation folders incomplete or garbage; metadata
folders missing, empty, garbage or oversize; chains and roles not signed at threshold.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from tuf.api.metadata import Metadata
from tuf.api.serialization.json import JSONSerializer

from ceremony.audit import folder as audit_folder
from tests.support.audit_repo import (
    Repo,
    attest_all,
    holder,
    make_repo,
    roots_pem,
    standard_repo,
    write_attestation,
)
from tests.support.helpers import cli
from tests.support.vpiv.attestation_ca import TestAttestationCA

AT = "2026-12-01T12:00:00Z"


def tree(*folders: Path) -> dict[str, str]:
    """Every file under ``folders`` by path, with its digest (to show nothing was written)."""
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for f in folders if f.exists() for p in sorted(f.rglob("*")) if p.is_file()}


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Repo, Path, Path]:
    repo = standard_repo(tmp_path / "metadata")
    return repo, attest_all(repo, tmp_path / "attestations"), roots_pem(tmp_path / "roots.pem")


def refused(meta: Path, roots: Path, att: Path | None, message: str, *, exact: bool = True) -> None:
    """The audit exits 3 with ``message`` as its first line, prints nothing, writes nothing."""
    before = tree(meta.parent)
    extra = ["--attestations", att] if att is not None else []
    for json_flag in ([], ["--json"]):
        r = cli("audit", meta, "--attestation-roots", roots, "--at", AT, *extra, *json_flag)
        assert r.code == 3, (r.out, r.err)
        assert r.out == ""
        first = r.err.splitlines()[0]
        assert first == f"error: {message}" if exact else message in first, first
        assert "Traceback" not in r.err
    assert tree(meta.parent) == before


# ---- archived attestations -----------------------------------------------------------


def test_an_attestation_whose_chain_does_not_verify(setup: tuple[Repo, Path, Path]) -> None:
    repo, att, roots = setup
    write_attestation(att, repo.root[0], TestAttestationCA(label="other"))  # replaces 10000001's files
    refused(repo.folder, roots, att,
            "attestation 10000001 does not verify: the device certificate does not chain to a "
            "trusted roots.pem root (issuer: CN=Test PIV Root CA Serial 263751 (other\\, not Yubico))")


def test_an_attestation_signed_by_another_devices_key(setup: tuple[Repo, Path, Path]) -> None:
    repo, att, roots = setup
    other = write_attestation(att.parent / "x", repo.root[1], serial=10000001)  # bob's key, device 1
    (att / "10000001" / "Slot9CAttestation.pem").write_bytes((other / "Slot9CAttestation.pem").read_bytes())
    write_attestation(att.parent / "y", repo.root[0], serial=10000042)
    (att / "10000001" / "SlotF9Intermediate.pem").write_bytes(
        (att.parent / "y" / "10000042" / "SlotF9Intermediate.pem").read_bytes())
    refused(repo.folder, roots, att,
            "attestation 10000001 does not verify: the slot attestation is not signed by the "
            "device's attestation key (f9)", exact=False)


def test_an_attestation_of_a_key_no_role_lists(setup: tuple[Repo, Path, Path]) -> None:
    repo, att, roots = setup
    write_attestation(att, holder("mallory", 10000099))
    refused(repo.folder, roots, att,
            "attestation 10000099 (YubiKey 10000099) attests a key that no role of this repository lists")


def test_an_attestation_whose_serial_disagrees_with_the_keys_recorded_serial(tmp_path: Path) -> None:
    alice = holder("alice", 10000001, **{"x-ceremony-token-serial": "10000001"})
    online = holder("online", None, **{"x-tuf-on-ci-online-uri": "hv:k"})
    repo = make_repo(tmp_path / "metadata", root=[alice], targets=[alice], online=online)
    att = tmp_path / "attestations"
    write_attestation(att, alice, serial=10000050)  # the same key, attested by another YubiKey
    refused(repo.folder, roots_pem(tmp_path / "roots.pem"), att,
            "attestation 10000050 names YubiKey 10000050, but @alice's key records YubiKey 10000001")


def test_an_attestation_filed_under_another_serial(setup: tuple[Repo, Path, Path]) -> None:
    repo, att, roots = setup
    (att / "10000001").rename(att / "12345678")
    refused(repo.folder, roots, att,
            "attestation 12345678 does not verify: the attestation names serial 10000001, but the "
            "device is YubiKey 12345678")


def test_an_incomplete_or_garbage_attestation_folder(setup: tuple[Repo, Path, Path]) -> None:
    repo, att, roots = setup
    (att / "10000002" / "SlotF9Intermediate.pem").unlink()
    refused(repo.folder, roots, att,
            f"attestation 10000002: SlotF9Intermediate.pem is missing from {att / '10000002'}")
    write_attestation(att, repo.root[1])
    (att / "10000003" / "Slot9CAttestation.pem").write_text("not a certificate\n")
    refused(repo.folder, roots, att, "attestation 10000003: Slot9CAttestation.pem ", exact=False)
    (att / "10000003" / "Slot9CAttestation.pem").write_bytes(b"A" * (65 * 1024))
    refused(repo.folder, roots, att, "far larger than a certificate", exact=False)


def test_an_attestation_folder_that_is_missing_or_empty(setup: tuple[Repo, Path, Path], tmp_path: Path) -> None:
    repo, _, roots = setup
    refused(repo.folder, roots, tmp_path / "nowhere",
            f"the attestation folder {tmp_path / 'nowhere'} does not exist")
    (tmp_path / "empty").mkdir()
    refused(repo.folder, roots, tmp_path / "empty",
            f"{tmp_path / 'empty'} holds no attestation (<serial>/Slot9CAttestation.pem and "
            "<serial>/SlotF9Intermediate.pem)")


# ---- metadata ------------------------------------------------------------------------


def test_a_missing_or_empty_metadata_folder(setup: tuple[Repo, Path, Path], tmp_path: Path) -> None:
    _, _, roots = setup
    refused(tmp_path / "nothing", roots, None, f"the metadata folder {tmp_path / 'nothing'} does not exist")
    (tmp_path / "empty").mkdir()
    refused(tmp_path / "empty", roots, None,
            f"{tmp_path / 'empty'} holds no root metadata (root.json or N.root.json)")
    refused(roots, roots, None, f"the metadata folder {roots} is not a folder")


def _damage(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda meta: (meta / name).write_bytes(data)


@pytest.mark.parametrize(("damage", "message"), [
    (_damage("1.root.json", b"\x00garbage"), "1.root.json is not valid JSON"),
    (_damage("1.root.json", b"{" + b" " * (1024 * 1024 + 1) + b"}"), "far larger than any root metadata"),
    (_damage("root.json", b"[]"), "root.json is not valid TUF root metadata"),
    (_damage("targets.json", b"{\"signed\": 1"), "targets.json is not valid JSON"),
    (_damage("doi.json", b"{\"signed\": {}, \"signatures\": []}"), "doi.json is not valid TUF metadata"),
    (lambda meta: (meta / "02.root.json").write_bytes(b"{}"),
     "02.root.json in {meta} is named like a root version but no client fetches it"),
    (lambda meta: ((meta / "doi.json").unlink(), os.mkfifo(meta / "doi.json")),
     "{meta}/doi.json is a FIFO (named pipe), not a regular file; it was not read"),
    (lambda meta: ((meta / "targets.json").unlink(), (meta / "targets.json").mkdir()),
     "{meta}/targets.json is a folder, not a regular file; it was not read"),
    (lambda meta: (meta / "root.json").write_bytes((meta / "1.root.json").read_bytes()),
     "root.json holds root v1, not the newest v2: a client fetching root.json lands on v1"),
    (lambda meta: (meta / "root.json").write_bytes((meta / "2.root.json").read_bytes() + b" "),
     "root.json and 2.root.json are both root v2 but differ: one of them was changed after publishing"),
])
def test_garbage_metadata(tmp_path: Path, damage: Callable[[Path], None], message: str) -> None:
    repo = standard_repo(tmp_path / "metadata")
    damage(repo.folder)
    refused(repo.folder, roots_pem(tmp_path / "roots.pem"), None,
            message.format(meta=repo.folder), exact=False)


def test_an_oversize_role_file(setup: tuple[Repo, Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    repo, _, roots = setup
    monkeypatch.setattr(audit_folder, "MAX_METADATA_FILE", 1024)
    refused(repo.folder, roots, None,
            f"{repo.folder / 'targets.json'} is ", exact=False)
    r = cli("audit", repo.folder, "--attestation-roots", roots)
    assert r.err.rstrip().endswith("bytes, far larger than any TUF metadata")


def _resign(path: Path, signer_holder) -> None:  # type: ignore[no-untyped-def]
    md = Metadata.from_bytes(path.read_bytes())
    md.signatures.clear()
    md.sign(signer_holder.signer)
    path.write_bytes(md.to_bytes(JSONSerializer()))


def test_a_root_version_not_signed_at_threshold(setup: tuple[Repo, Path, Path]) -> None:
    repo, _, roots = setup
    _resign(repo.folder / "2.root.json", holder("mallory"))
    (repo.folder / "root.json").write_bytes((repo.folder / "2.root.json").read_bytes())
    refused(repo.folder, roots, None, "2.root.json is not signed at threshold: ", exact=False)


def test_a_role_not_signed_by_its_delegator(setup: tuple[Repo, Path, Path]) -> None:
    repo, _, roots = setup
    _resign(repo.folder / "targets.json", holder("mallory"))
    refused(repo.folder, roots, None,
            "targets.json is not signed at threshold by the keys root v2 gives targets: "
            "targets: 0/1 - nobody has signed", exact=False)
    repo = standard_repo(repo.folder.parent / "again")
    _resign(repo.folder / "bin-3.json", repo.root[0])
    refused(repo.folder, roots, None,
            "bin-3.json is not signed at threshold by the keys bins delegates to bin-3", exact=False)


def test_metadata_of_the_wrong_type_for_its_role(setup: tuple[Repo, Path, Path]) -> None:
    repo, _, roots = setup
    (repo.folder / "doi.json").write_bytes((repo.folder / "snapshot.json").read_bytes())
    refused(repo.folder, roots, None, "doi.json is snapshot metadata, but role doi is targets")


def test_nothing_is_written_on_success_either(setup: tuple[Repo, Path, Path]) -> None:
    repo, att, roots = setup
    before = tree(repo.folder, att)
    r = cli("audit", repo.folder, "--attestations", att, "--attestation-roots", roots, "--at", AT, "--json")
    assert r.code == 0 and json.loads(r.out)["passed"] is True
    assert tree(repo.folder, att) == before
