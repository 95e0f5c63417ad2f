"""Target files travel in export bundles (USB and QR) beside the role metadata that lists them
(``target+DIR+NAME``: bundles carry plain names), and are verified on arrival against every
role in the bundle that lists their path (length and sha256 as signed); the refusals, each
with its message and exit code, nothing written."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ceremony.errors import VerificationError
from ceremony.formats.tuf_roles import bundle_target_name, target_path_of
from tests.conftest import SoftHsm
from tests.e2e.test_roles_ceremony import POLICY, roles_plan
from tests.support.helpers import Run, cli
from tests.support.roles import Role, signed_small_roles, usb_round_trip

NAME = "target+doi+policy.json"


def _published(hsm: SoftHsm, tmp: Path, policy: bytes = POLICY, extra: str | None = None) -> Path:
    """:func:`signed_small_roles`'s ceremony with ``policy`` as doi's target file, published."""
    ws = signed_small_roles(hsm, tmp, policy, extra)
    r = cli("publish", ws)
    assert r.code == 0, r.err
    return ws


def _pack(tmp: Path, files: dict[str, bytes], out: Path) -> Run:
    src = tmp / "src"
    src.mkdir(parents=True)
    for name, data in files.items():
        (src / name).write_bytes(data)
    out.mkdir()
    return cli("pack", *sorted(src.iterdir()), "--kind", "signed-metadata", "--repository",
               "test/repo", "--usb", out)


def test_usb_export_carries_the_target_files_and_import_verifies_them(hsm: SoftHsm, tmp_path: Path) -> None:
    ws = _published(hsm, tmp_path)
    r = usb_round_trip(ws, tmp_path)
    assert f"{NAME}: target doi/policy.json, {len(POLICY)} bytes, matches doi v1" in r.out, r.out
    assert (tmp_path / "in" / NAME).read_bytes() == POLICY
    served = ws / "targets" / "doi" / f"{hashlib.sha256(POLICY).hexdigest()}.policy.json"
    assert served.read_bytes() == POLICY


def test_qr_export_carries_the_target_files(hsm: SoftHsm, tmp_path: Path) -> None:
    ws = _published(hsm, tmp_path)
    r = cli("export", ws, "--qr", tmp_path / "qr")
    assert r.code == 0, r.err
    r = cli("import", "--qr", tmp_path / "qr", "--out", tmp_path / "in")
    assert r.code == 0, r.err
    assert f"{NAME}: target doi/policy.json, {len(POLICY)} bytes, matches doi v1" in r.out, r.out
    assert (tmp_path / "in" / NAME).read_bytes() == POLICY


def test_a_target_file_another_format_would_claim_travels_as_a_target(hsm: SoftHsm, tmp_path: Path) -> None:
    """An X.509 CA folder's state file as doi's target (CA material shipped by TUF): the
    bundle is still checked as TUF metadata, and the file as doi's target."""
    ca_json = b'{"type": "x509-ca", "note": "claimed by the X.509 format if it were a root"}\n'
    r = usb_round_trip(_published(hsm, tmp_path, ca_json), tmp_path)
    assert f"{NAME}: target doi/policy.json, {len(ca_json)} bytes, matches doi v1" in r.out, r.out


def test_a_target_file_changed_in_the_workspace_after_publish_is_not_exported(
        hsm: SoftHsm, tmp_path: Path) -> None:
    ws = _published(hsm, tmp_path)
    (served,) = (ws / "targets" / "doi").iterdir()
    served.write_bytes(POLICY.replace(b"doi", b"evil"))
    stick = tmp_path / "stick"
    stick.mkdir()
    r = cli("export", ws, "--usb", stick)
    assert r.code == 3, r.err
    assert (f"error: targets/doi/{served.name} differs from what was published (journal: sha256 "
            f"{hashlib.sha256(POLICY).hexdigest()[:16]}...); nothing was exported") in r.err, r.err
    assert list(stick.iterdir()) == []
    served.unlink()
    r = cli("export", ws, "--usb", stick)
    assert r.code == 3, r.err
    assert (f"error: targets/doi/{served.name} is missing (the journal recorded it); nothing was "
            "exported") in r.err, r.err
    assert list(stick.iterdir()) == []


def test_forged_target_files_are_refused_on_arrival(hsm: SoftHsm, tmp_path: Path) -> None:
    ws = _published(hsm, tmp_path)
    meta = {n: (ws / "metadata" / n).read_bytes() for n in ("1.root.json", "1.targets.json", "1.doi.json")}

    evil = POLICY.replace(b"doi", b"evil")
    r = _pack(tmp_path / "a", {**meta, NAME: evil}, tmp_path / "a" / "out")
    assert r.code == 3, r.err
    want = hashlib.sha256(POLICY).hexdigest()[:16]
    assert (f"error: {NAME} in the bundle is not the target doi/policy.json that doi v1 signed: "
            f"{len(evil)} bytes, sha256 {hashlib.sha256(evil).hexdigest()[:16]}..., where doi lists "
            f"{len(POLICY)} bytes, sha256 {want}...; nothing was written") in r.err, r.err
    assert list((tmp_path / "a" / "out").iterdir()) == []

    r = _pack(tmp_path / "b", {**meta, "target+doi+other.json": POLICY}, tmp_path / "b" / "out")
    assert r.code == 3, r.err
    assert ("error: target+doi+other.json in the bundle is target doi/other.json, which no role in "
            "the bundle lists; nothing was written") in r.err, r.err
    assert list((tmp_path / "b" / "out").iterdir()) == []

    r = _pack(tmp_path / "d", {**meta, "2.doi.json": meta["1.doi.json"]}, tmp_path / "d" / "out")
    assert r.code == 3, r.err
    assert "error: the bundle carries doi twice (1.doi.json, 2.doi.json)" in r.err, r.err
    assert list((tmp_path / "d" / "out").iterdir()) == []

    r = _pack(tmp_path / "c", {"1.root.json": meta["1.root.json"], NAME: POLICY}, tmp_path / "c" / "out")
    assert r.code == 3, r.err
    assert ("error: the bundle carries target files without the targets metadata that lists "
            "them; nothing was written") in r.err, r.err
    assert list((tmp_path / "c" / "out").iterdir()) == []


def test_target_paths_a_bundle_cannot_name() -> None:
    assert bundle_target_name("doi/policy.json") == NAME
    assert target_path_of(f"doi/{'a' * 64}.policy.json", "a" * 64) == "doi/policy.json"
    assert target_path_of("doi/policy.json", "a" * 64) == "doi/policy.json"
    with pytest.raises(VerificationError) as e:
        bundle_target_name("doi/a+b.json")
    assert e.value.message == ("target doi/a+b.json cannot travel in a bundle: its path component "
                               "'a+b.json' is not a plain name (letters, digits, '.', '-', '_', not "
                               "starting with '.', '-' or '_'), so it cannot travel in a bundle; "
                               "nothing was exported")
    with pytest.raises(VerificationError) as e:
        bundle_target_name("doi/" + "x" * 130)
    assert e.value.message == ("target doi/" + "x" * 130 + " cannot travel in a bundle: its path has "
                               "134 characters, more than 121, so its bundle name would not fit in "
                               "128; nothing was exported")
    assert bundle_target_name("d/" + "x" * 119) == "target+d+" + "x" * 119  # 128, the most


@pytest.mark.parametrize(("target", "component"), [("doi/c++.json", "c++.json"),
                                                     ("doi/my policy.json", "my policy.json"),
                                                     ("doi/.hidden", ".hidden")])
def test_a_target_path_a_bundle_cannot_name_is_refused_at_init(tmp_path: Path, target: str,
                                                               component: str) -> None:
    """Refused by the plan check (exit 2, nothing written), not at export after every
    signature: export names a target by its path with '+' for '/' (one rule for both)."""
    online = tmp_path / "plan" / "online"
    online.mkdir(parents=True)
    for role in ("snapshot", "timestamp"):
        (online / f"{role}.pub.pem").write_bytes(
            ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
                Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    plan = roles_plan(tmp_path, holders={"alice": "tok-alice"}, root=["alice"], threshold=1,
                      targets=Role("targets", ["alice"], 1),
                      delegations=[Role("doi", ["alice"], 1, paths=["doi/*"], terminating=True,
                                        targets=[target])])
    (tmp_path / "plan" / target).write_bytes(POLICY)
    r = cli("init", tmp_path / "ws", "--plan", plan.write(tmp_path / "plan" / "plan.toml"))
    assert r.code == 2, r.err
    assert (f"error: delegations[0] (doi).targets lists {target!r}: its path component "
            f"{component!r} is not a plain name (letters, digits, '.', '-', '_', not starting with "
            "'.', '-' or '_'), so it cannot travel in a bundle") in r.err, r.err
    assert not (tmp_path / "ws").exists()


def test_roles_without_consistent_snapshots_travel_and_verify(hsm: SoftHsm, tmp_path: Path) -> None:
    """consistent_snapshot = false: the roles are published as ROLE.json and travel so."""
    ws = _published(hsm, tmp_path, extra="consistent_snapshot = false")
    r = usb_round_trip(ws, tmp_path)
    assert "doi.json: doi v1 verified against targets (1 target(s))" in r.out, r.out
    assert f"{NAME}: target doi/policy.json, {len(POLICY)} bytes, matches doi v1" in r.out, r.out
    assert (tmp_path / "in" / "doi.json").read_bytes() == (ws / "metadata" / "doi.json").read_bytes()
