"""``ceremony audit`` on repositories made by python-tuf directly (no ceremony): a root chain,
offline targets, terminating delegations, succinct hash bins, snapshot and timestamp online by
KMS URI; every offline key bound to an archived attestation (``<serial>/Slot9CAttestation.pem``,
``SlotF9Intermediate.pem``) issued by the virtual PIV card's attestation CA. Each finding the
audit makes, its words and its exit code (11); and a tree that would hang a naive walk (a
cycle, 2**17 hash bins, 40 levels) ends at once.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tuf.api.metadata import DelegatedRole, Delegations, Metadata, Targets
from tuf.api.serialization.json import JSONSerializer

from ceremony.audit.model import MAX_DEPTH
from tests.support.audit_repo import (
    NOW,
    Repo,
    alias,
    attest_all,
    holder,
    make_repo,
    roots_pem,
    standard_repo,
    write_attestation,
)
from tests.support.helpers import cli

AT = "2026-12-01T12:00:00Z"  # the repository was made at NOW (2026-12-01T00:00:00Z)


@pytest.fixture
def roots(tmp_path: Path) -> Path:
    return roots_pem(tmp_path / "roots.pem")


def audit(meta: Path, roots: Path, *extra: str | Path, at: str = AT) -> tuple[int, str, str, dict]:
    """Run the audit twice (text, then --json); both must agree on the exit code."""
    text = cli("audit", meta, "--attestation-roots", roots, "--at", at, *extra)
    as_json = cli("audit", meta, "--attestation-roots", roots, "--at", at, "--json", *extra)
    assert text.code == as_json.code, (text.err, as_json.err)
    return text.code, text.out, text.err, json.loads(as_json.out) if as_json.out else {}


def findings(doc: dict) -> list[tuple[str, str]]:
    return [(f["kind"], f["message"]) for f in doc["findings"]]


def test_a_python_tuf_repository_with_delegations_and_hash_bins_passes(tmp_path: Path, roots: Path) -> None:
    repo = standard_repo(tmp_path / "metadata")
    att = attest_all(repo, tmp_path / "attestations")
    code, out, err, doc = audit(repo.folder, roots, "--attestations", att)
    assert code == 0, out + err
    assert out.splitlines()[-1] == ("audit passed: every offline key is bound to a verified YubiKey "
                                    "attestation; no findings")
    assert doc["passed"] is True and doc["findings"] == []
    assert doc["at"] == AT and doc["trust"] == "rehearsal roots roots.pem (not Yubico)"
    assert doc["root_chain"]["versions"] == [1, 2] and doc["root_chain"]["trusted"] == "1.root.json"
    roles = {r["name"]: r for r in doc["roles"]}
    assert list(roles) == ["root", "targets", "snapshot", "timestamp", "doi", "rekor", "bins",
                           *[f"bin-{i}" for i in range(8)]]
    assert roles["doi"]["delegator"] == "targets" and roles["doi"]["paths"] == ["doi/*"]
    assert roles["doi"]["terminating"] is True and roles["bin-5"]["delegator"] == "bins"
    assert roles["timestamp"]["online"] is True and roles["targets"]["online"] is False
    assert roles["root"]["version"] == 2 and roles["root"]["expires"] == "2027-12-01T00:00:00Z"
    keys = {k["owner"]: k for k in doc["keys"]}
    alice = keys["@alice"]
    assert alice["roles"] == ["root", "targets"] and alice["owner_field"] == "x-tuf-on-ci-keyowner"
    assert (alice["attestation"], alice["attestation_source"]) == ("verified", "folder 10000001")
    assert (alice["serial"], alice["firmware"], alice["pin_policy"], alice["touch_policy"]) == (
        10000001, "5.7.1", "always", "always")
    assert keys["@frank"]["roles"] == ["bins", *[f"bin-{i}" for i in range(8)]]
    online = keys[None]
    assert online["online"] is True and online["attestation"] == "not-needed"
    assert online["online_uri"] == "gcpkms:projects/p/keys/online"
    assert {k["attestation"] for k in doc["keys"] if k["owner"]} == {"verified"}
    lines = out.splitlines()
    assert any(x.startswith(f"  {repo.root[0].key.keyid[:12]} ecdsa, @alice (x-tuf-on-ci-keyowner), "
                            "roles root, targets, YubiKey 10000001 firmware 5.7.1, PIN always, touch "
                            "always (attestation from folder 10000001)") for x in lines)
    assert "  bin-7 (from bins): v1, offline, signed by 1 of 1 keys (threshold 1), expires " \
           "2027-12-01 00:00:00 UTC" in lines
    # ... and python-tuf's own walk agrees: every role verifies by its delegator.
    _python_tuf_agrees(repo)


def _python_tuf_agrees(repo: Repo) -> None:
    meta = repo.folder
    root = Metadata.from_bytes((meta / "root.json").read_bytes())
    targets = Metadata.from_bytes((meta / "targets.json").read_bytes())
    root.verify_delegate("targets", targets)
    for name in ("doi", "rekor", "bins"):
        targets.verify_delegate(name, Metadata.from_bytes((meta / f"{name}.json").read_bytes()))
    bins = Metadata.from_bytes((meta / "bins.json").read_bytes())
    for i in range(8):
        bins.verify_delegate(f"bin-{i}", Metadata.from_bytes((meta / f"bin-{i}.json").read_bytes()))


def test_without_attestations_every_offline_key_is_a_finding(tmp_path: Path, roots: Path) -> None:
    repo = standard_repo(tmp_path / "metadata")
    code, out, _, doc = audit(repo.folder, roots)
    assert code == 11
    assert [k for k, _ in findings(doc)] == ["no-attestation"] * 6
    assert ("no-attestation", "@frank (bins, bin-0, bin-1, bin-2, bin-3, bin-4 and 3 more): offline "
            "key without a YubiKey attestation") in findings(doc)
    assert out.splitlines()[-7] == "6 findings:"
    assert "  [no-attestation] @alice (root, targets): offline key without a YubiKey attestation" in out.splitlines()
    # One key attested, the others not: only the others are named.
    write_attestation(tmp_path / "one", repo.root[1])
    code, _, _, doc = audit(repo.folder, roots, "--attestations", tmp_path / "one")
    assert code == 11 and len(doc["findings"]) == 5
    assert "@bob" not in json.dumps(doc["findings"])


def test_ec_keys_on_firmware_below_5_7_are_flagged(tmp_path: Path, roots: Path) -> None:
    repo = standard_repo(tmp_path / "metadata", firmware=(5, 4, 3))
    att = attest_all(repo, tmp_path / "attestations")
    code, _, _, doc = audit(repo.folder, roots, "--attestations", att)
    assert code == 11
    assert [k for k, _ in findings(doc)] == ["ysa-2024-03"] * 6
    assert ("ysa-2024-03", "@alice (root, targets): EC key on YubiKey 10000001 firmware 5.4.3, "
            "affected by Yubico YSA-2024-03 (below 5.7)") in findings(doc)


def test_one_public_key_under_two_ids_is_flagged(tmp_path: Path, roots: Path) -> None:
    alice, bob, online = holder("alice", 1), holder("bob", 2), holder("online")
    twin = alias(alice, "@alice-again")
    repo = make_repo(tmp_path / "metadata", root=[alice, bob], targets=[bob], online=online,
                     root_extra=[twin], delegated={"doi": [alice]})
    att = attest_all(repo, tmp_path / "attestations")
    code, _, _, doc = audit(repo.folder, roots, "--attestations", att)
    assert code == 11
    ids = f"{alice.key.keyid[:12]}, {twin.key.keyid[:12]}"
    assert findings(doc) == [("duplicate-key", f"@alice (root, doi): one public key listed under 2 ids ({ids})")]
    key = next(k for k in doc["keys"] if k["owner"] == "@alice")
    assert key["keyids"] == [alice.key.keyid, twin.key.keyid] and key["attestation"] == "verified"


def test_a_key_shared_between_offline_and_online_roles_is_flagged(tmp_path: Path, roots: Path) -> None:
    alice, online = holder("alice", 1), holder("online")
    kms = holder("kms", None, **{"x-tuf-on-ci-online-uri": "awskms:arn:aws:kms:eu:1:key/k"})
    repo = make_repo(tmp_path / "metadata", root=[alice], targets=[alice, online], online=online,
                     root_extra=[kms])
    att = attest_all(repo, tmp_path / "attestations")
    write_attestation(att, kms, serial=77)  # an attestation binds a key, online or not
    code, _, _, doc = audit(repo.folder, roots, "--attestations", att)
    assert code == 11
    assert findings(doc) == [
        ("shared-online-offline", "@kms (root): a key of offline role(s) root is online (it names "
         "an online URI)"),
        ("shared-online-offline", "@online (targets, snapshot, timestamp): a key "
         "of offline role(s) targets is online (an online role lists it)")]
    kms_doc = next(k for k in doc["keys"] if k["owner"] == "@kms")
    assert kms_doc["online_uri"] == "awskms:arn:aws:kms:eu:1:key/k" and kms_doc["serial"] == 77


def test_every_roles_expiry_is_judged_at_the_given_instant(tmp_path: Path, roots: Path) -> None:
    repo = standard_repo(tmp_path / "metadata")
    att = attest_all(repo, tmp_path / "attestations")
    code, _, _, doc = audit(repo.folder, roots, "--attestations", att, at="2027-11-15T00:00:00Z")
    assert code == 11
    got = findings(doc)
    assert ("expired", "role timestamp (v1) expired at 2026-12-02 00:00:00 UTC") in got
    assert ("expired", "role snapshot (v1) expired at 2026-12-08 00:00:00 UTC") in got
    assert ("expiring", "role root (v2) expires at 2027-12-01 00:00:00 UTC, in 16 days: inside its "
            "warning window") in got
    assert {n for k, n in [(f["kind"], f["subject"]) for f in doc["findings"]] if k == "expiring"} == {
        "root", "targets", "doi", "rekor", "bins", *[f"bin-{i}" for i in range(8)]}
    # A narrower window: only the expired online roles remain.
    code, _, _, doc = audit(repo.folder, roots, "--attestations", att, "--warn-days", "10",
                            at="2027-11-15T00:00:00Z")
    assert code == 11 and {f["kind"] for f in doc["findings"]} == {"expired"}
    code, _, _, doc = audit(repo.folder, roots, "--attestations", att, at="2027-12-01T00:00:00Z")
    assert ("expired", "role bin-3 (v1) expired at 2027-12-01 00:00:00 UTC") in findings(doc)


def test_a_delegated_role_without_metadata_is_a_finding(tmp_path: Path, roots: Path) -> None:
    alice, online = holder("alice", 1), holder("online", None, **{"x-tuf-on-ci-online-uri": "hv:k"})
    repo = make_repo(tmp_path / "metadata", root=[alice], targets=[alice], online=online,
                     delegated={"doi": [alice], "rekor": [alice]}, skip=("rekor",))
    att = attest_all(repo, tmp_path / "attestations")
    code, out, _, doc = audit(repo.folder, roots, "--attestations", att)
    assert code == 11
    assert findings(doc) == [("missing-role", "role rekor (delegated by targets) has no metadata in the folder")]
    assert "  rekor (from targets): no metadata" in out.splitlines()


def _rewrite(path: Path, signer_holder, delegate_to: list[str]) -> None:  # type: ignore[no-untyped-def]
    key = signer_holder.key
    t = Targets(expires=NOW.replace(year=2027))
    t.delegations = Delegations({key.keyid: key}, {n: DelegatedRole(n, [key.keyid], 1, False, paths=["*"])
                                                    for n in delegate_to})
    md = Metadata(t)
    md.sign(signer_holder.signer)
    path.write_bytes(md.to_bytes(JSONSerializer()))


def test_a_delegation_cycle_is_walked_once(tmp_path: Path, roots: Path) -> None:
    alice, online = holder("alice", 1), holder("online", None, **{"x-tuf-on-ci-online-uri": "hv:k"})
    repo = make_repo(tmp_path / "metadata", root=[alice], targets=[alice], online=online,
                     delegated={"a": [alice]})
    _rewrite(repo.folder / "a.json", alice, ["b"])
    _rewrite(repo.folder / "b.json", alice, ["a"])
    att = attest_all(repo, tmp_path / "attestations")
    code, out, err, doc = audit(repo.folder, roots, "--attestations", att)
    assert code == 0, out + err
    assert [r["name"] for r in doc["roles"]] == ["root", "targets", "snapshot", "timestamp", "a", "b"]


def test_a_tree_of_two_to_the_seventeen_hash_bins_is_refused_at_once(tmp_path: Path, roots: Path) -> None:
    alice, online = holder("alice", 1), holder("online", None, **{"x-tuf-on-ci-online-uri": "hv:k"})
    repo = make_repo(tmp_path / "metadata", root=[alice], targets=[alice], online=online, bins=alice,
                     bin_bits=17, skip=("bin-files",))
    code, out, err, _ = audit(repo.folder, roots)
    assert code == 3 and out == ""
    assert err.splitlines()[0] == ("error: role bins delegates to 131072 roles, which brings the tree "
                                   "past 4096 roles: more than the audit walks")


def test_a_delegation_chain_deeper_than_the_bound_is_refused(tmp_path: Path, roots: Path) -> None:
    alice, online = holder("alice", 1), holder("online", None, **{"x-tuf-on-ci-online-uri": "hv:k"})
    repo = make_repo(tmp_path / "metadata", root=[alice], targets=[alice], online=online,
                     delegated={"d1": [alice]})
    for i in range(1, MAX_DEPTH + 8):
        _rewrite(repo.folder / f"d{i}.json", alice, [f"d{i + 1}"])
    code, _, err, _ = audit(repo.folder, roots)
    assert code == 3
    assert err.splitlines()[0] == (f"error: role d{MAX_DEPTH} delegates further at depth {MAX_DEPTH + 1}: "
                                   f"deeper than the {MAX_DEPTH} levels the audit follows")


def test_a_tuf_on_ci_checkout_is_read_through_its_metadata_folder(tmp_path: Path, roots: Path) -> None:
    """tuf-on-ci keeps ``metadata/root.json`` and ``metadata/root_history/N.root.json``."""
    repo = standard_repo(tmp_path / "checkout" / "metadata")
    history = repo.folder / "root_history"
    history.mkdir()
    for v in (1, 2):
        (repo.folder / f"{v}.root.json").rename(history / f"{v}.root.json")
    att = attest_all(repo, tmp_path / "attestations" / "keys")  # archived under keys/
    code, out, err, doc = audit(tmp_path / "checkout", roots, "--attestations", tmp_path / "attestations")
    assert code == 0, out + err
    assert doc["root_chain"] == {"versions": [1, 2], "trusted": "root_history/1.root.json",
                                 "trusted_sha256": doc["root_chain"]["trusted_sha256"]}
    assert att.is_dir()


def test_the_bundled_yubico_roots_refuse_the_test_cas_attestations(tmp_path: Path) -> None:
    repo = standard_repo(tmp_path / "metadata")
    att = attest_all(repo, tmp_path / "attestations")
    r = cli("audit", repo.folder, "--attestations", att, "--at", AT)
    assert r.code == 3 and r.out == ""
    assert r.err.splitlines()[0] == (
        "error: attestation 10000001 does not verify: the device certificate does not chain to a "
        "trusted yubico root (issuer: CN=Test PIV Root CA Serial 263751 (vpiv\\, not Yubico))")


def test_a_bad_at_is_a_usage_error(tmp_path: Path, roots: Path) -> None:
    repo = standard_repo(tmp_path / "metadata")
    r = cli("audit", repo.folder, "--at", "next tuesday")
    assert r.code == 64 and "--at 'next tuesday' is not an ISO 8601 time" in r.err


def test_the_audit_is_judged_from_bytes_alone(tmp_path: Path) -> None:
    """The pure part: a Source of bytes in memory, no folder read by the model."""
    from datetime import datetime

    from ceremony.attestation import load_roots
    from ceremony.audit.model import FolderAttestation, Source, audit as run_audit

    repo = standard_repo(tmp_path / "metadata")
    att = attest_all(repo, tmp_path / "attestations")
    files = {p.name: p.read_bytes() for p in repo.folder.iterdir()}
    roots = {v: (f"{v}.root.json", files[f"{v}.root.json"]) for v in (1, 2)}
    asked: list[str] = []

    def fetch(role: str) -> tuple[str, bytes] | None:
        asked.append(role)
        return (f"{role}.json", files[f"{role}.json"]) if f"{role}.json" in files else None

    folder = [FolderAttestation(d.name, (d / "Slot9CAttestation.pem").read_bytes(),
                                (d / "SlotF9Intermediate.pem").read_bytes()) for d in sorted(att.iterdir())]
    trust = load_roots(roots_pem(tmp_path / "roots.pem")).store
    result = run_audit(Source(roots, files["root.json"], fetch), trust,
                       at=datetime.fromisoformat("2026-12-01T12:00:00+00:00"), attestations=folder)
    assert result.passed and result.root_versions == [1, 2]
    assert asked == ["targets", "snapshot", "timestamp", "doi", "rekor", "bins", *[f"bin-{i}" for i in range(8)]]


def test_unreadable_attestation_roots_are_refused(tmp_path: Path) -> None:
    repo = standard_repo(tmp_path / "metadata")
    (tmp_path / "roots.pem").write_text("garbage\n")
    r = cli("audit", repo.folder, "--attestation-roots", tmp_path / "roots.pem")
    assert r.code == 3 and r.out == "" and r.err.startswith(f"error: the attestation roots {tmp_path / 'roots.pem'}")


def test_an_online_role_the_repository_lacks_is_a_usage_error(tmp_path: Path, roots: Path) -> None:
    repo = standard_repo(tmp_path / "metadata")
    r = cli("audit", repo.folder, "--attestation-roots", roots, "--online-role", "target")
    assert r.code == 64 and r.out == ""
    assert r.err.splitlines() == ["error: --online-role target: the repository has no role target",
                                  "hint: roles: root, targets, snapshot, timestamp, doi, rekor, bins, "
                                  "bin-0, bin-1, bin-2, bin-3, bin-4 and 3 more"]


def test_the_older_sigstore_archive_layout_is_read_too(tmp_path: Path, roots: Path) -> None:
    """sigstore's 2021-2022 ceremonies: ``<serial>/<serial>_key_cert.pem`` and ``_device_cert.pem``."""
    repo = standard_repo(tmp_path / "metadata")
    att = attest_all(repo, tmp_path / "attestations")
    for d in att.iterdir():
        (d / "Slot9CAttestation.pem").rename(d / f"{d.name}_key_cert.pem")
        (d / "SlotF9Intermediate.pem").rename(d / f"{d.name}_device_cert.pem")
    code, out, err, doc = audit(repo.folder, roots, "--attestations", att)
    assert code == 0, out + err
    assert {k["attestation_source"] for k in doc["keys"] if k["owner"]} == {
        f"folder {h.serial}" for h in repo.offline()}


def _field(folder: Path) -> dict:
    """An ``x-ceremony-attestation`` field from an archived attestation's two files."""
    return {"type": "yubikey-piv", "slot": "9c",
            "certificates": [(folder / "Slot9CAttestation.pem").read_text(),
                             (folder / "SlotF9Intermediate.pem").read_text()]}


def test_a_keys_own_attestation_field_is_verified_and_a_wrong_one_is_a_finding(
        tmp_path: Path, roots: Path) -> None:
    alice, bob = holder("alice", 41), holder("bob", 42)
    online = holder("online", None, **{"x-tuf-on-ci-online-uri": "hv:k"})
    alice.fields.update({"x-ceremony-attestation": _field(write_attestation(tmp_path / "a", alice)),
                         "x-ceremony-token-serial": "41"})
    bob.fields["x-ceremony-attestation"] = _field(write_attestation(tmp_path / "b", alice))  # alice's!
    repo = make_repo(tmp_path / "metadata", root=[alice, bob], targets=[alice], online=online)
    code, _, _, doc = audit(repo.folder, roots)
    assert code == 11
    keys = {k["owner"]: k for k in doc["keys"]}
    assert (keys["@alice"]["attestation"], keys["@alice"]["attestation_source"], keys["@alice"]["serial"]) == (
        "verified", "x-ceremony-attestation", 41)
    assert keys["@bob"]["attestation"] == "failed"
    assert findings(doc) == [("attestation-failed", "@bob (root): its attestation does not verify: the "
                              "attestation is for another key than this one")]
