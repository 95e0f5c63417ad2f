"""Issue 16, trust nothing read: ``ca.json``'s own facts are re-derived from the signed artifacts
beside it at ``init --previous`` (``ceremony.formats.x509.facts``). Each fact tampered (the file
digests updated too, as whoever edits ``ca.json`` would) is refused with the field and the file
named, exit 3, and no workspace; the untampered continuation still works.

Most folders here are a CA made in software through the pure layer (``SoftwareCa``): it signs
CRLs and certificates a ceremony never would (a CRL that drops a revocation, a CRL revoking a
serial never issued), as an attacker holding an old CA key, or a bug, could. The rehearsal
(real SoftHSM tokens) gives the untampered folders, and a whole second CRL ceremony shows that
revocations only grow.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ceremony.formats.x509 import carry, crl as x509_crl
from ceremony.formats.x509.csr import read_csr
from ceremony.formats.x509.facts import TRUSTED
from ceremony.formats.x509.keys import X509Key
from tests.conftest import SoftHsm
from tests.support.helpers import cli
from tests.support.x509_ceremony import (
    LEAF_SUBJECT,
    crl_table,
    issue_table,
    make_csr,
    next_ceremony,
    publish_root,
    x509_plan,
)
from tests.support.x509_software_ca import SoftwareCa, pem, token_sign

TAIL = "; refusing to continue this CA"
WHEN = datetime(2026, 6, 1, tzinfo=UTC)


def _entry(public: Any, name: str) -> tuple[str, dict[str, Any]]:
    spki = public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    keyid = hashlib.sha256(spki).hexdigest()
    text = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    return keyid, X509Key(keyid, text, {"x-ceremony-algorithm": "ecdsa-p256",
                                        "x-ceremony-keyholder": name}).to_dict()


def _csr_bytes(tmp: Path, name: str) -> bytes:
    make_csr(tmp / f"{name}.csr", f"CN={name},O=Acme,ST=WA,C=US")
    return (tmp / f"{name}.csr").read_bytes()


class Folder:
    """A CA folder written as a ceremony publishes it: the software CA's certificate, what it
    issued, its CRLs, and a ``ca.json`` whose facts are the artifacts' own."""

    def __init__(self, path: Path, ca: SoftwareCa, files: dict[str, bytes], state: dict[str, Any],
                 leaves: list[str]) -> None:
        self.path, self.ca, self.files, self.state, self.leaves = path, ca, files, state, leaves

    @classmethod
    def make(cls, tmp: Path, *, leaves: int = 1, crls: tuple[tuple[int, ...], ...] = ((0,),)) -> Folder:
        """A root CA with ``leaves`` code-signing leaves and one CRL per tuple (revoking the
        leaves at those indexes, numbered from 1)."""
        ca = SoftwareCa.root("ecdsa-p256")
        issued = [ca.issue(_csr_bytes(tmp, f"leaf{i}"), "leaf", f"CN=leaf{i},O=Acme,ST=WA,C=US")
                  for i in range(leaves)]
        files = {carry.CA_FILE: pem(ca.certificate)}
        files.update({f"issued-{c.serial_number:x}.pem": pem(c) for c in issued})
        revoked: list[dict[str, Any]] = []
        for number, which in enumerate(crls, start=1):
            entries = [(issued[i].serial_number, WHEN, "keyCompromise") for i in which]
            files[f"crl-{number}.pem"] = pem(ca.crl(entries, number))
            revoked = [{"serial": f"{s:x}", "revoked_at": t.isoformat(), "reason": r} for s, t, r in entries]
        ca_id, ca_entry = _entry(ca.key.public_key(), "ca")
        approvers = [_entry(ec.generate_private_key(ec.SECP256R1()).public_key(), n)
                     for n in ("alice", "bob", "carol")]
        state = {"_type": carry.STATE_TYPE, "sequence": 1 + leaves + len(crls), "ca_key": ca_id,
                 "ca_subject": ca.certificate.subject.rfc4514_string(),
                 "keys": {ca_id: ca_entry, **dict(approvers)}, "approvers": [k for k, _ in approvers],
                 "threshold": 2,
                 "serials": [f"{ca.certificate.serial_number:x}", *(f"{c.serial_number:x}" for c in issued)],
                 "crl_number": len(crls), "revoked": revoked}
        folder = cls(tmp / "prev", ca, files, state, [f"{c.serial_number:x}" for c in issued])
        folder.write()
        return folder

    def write(self) -> None:
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir()
        for name, data in self.files.items():
            (self.path / name).write_bytes(data)
        (self.path / carry.STATE).write_bytes(carry.state_bytes(self.state, self.files))

    def serial(self, i: int) -> str:
        """The serial (hex) of the ``i``-th leaf."""
        return self.leaves[i]


def _refused(tmp: Path, previous: Path, message: str) -> None:
    """``init --previous`` refuses: exit 3, the exact message, no workspace."""
    plan = x509_plan(tmp / "next-plan" / "plan.toml", "next", crl_table(0x5A0C))
    ws = tmp / "next-ws"
    r = cli("init", ws, "--plan", plan, "--previous", previous)
    assert r.code == 3, r.out + r.err
    assert r.err.splitlines()[0] == f"error: {message}{TAIL}"
    assert not ws.exists()


def _tampered(tmp: Path, change: Callable[[dict[str, Any]], None], **kw: Any) -> Folder:
    folder = Folder.make(tmp, **kw)
    change(folder.state)
    folder.write()
    return folder


# ---- the issue's reproduction, and each fact of ca.json ----------------------------------------


def test_a_crl_number_rolled_back_is_refused(tmp_path: Path) -> None:
    f = _tampered(tmp_path, lambda s: s.update(crl_number=0))
    _refused(tmp_path, f.path, f"{f.path}/ca.json says crl_number 0, but {f.path}/crl-1.pem, the newest CRL "
                               "signed by the CA, has cRLNumber 1")


def test_a_crl_number_moved_ahead_is_refused(tmp_path: Path) -> None:
    f = _tampered(tmp_path, lambda s: s.update(crl_number=7))
    _refused(tmp_path, f.path, f"{f.path}/ca.json says crl_number 7, but {f.path}/crl-1.pem, the newest CRL "
                               "signed by the CA, has cRLNumber 1")


def test_a_crl_number_without_any_crl_is_refused(tmp_path: Path) -> None:
    f = _tampered(tmp_path, lambda s: s.update(crl_number=3, revoked=[]), crls=())
    _refused(tmp_path, f.path, f"{f.path}/ca.json says crl_number 3, but the folder holds no CRL signed by "
                               "the CA (crl_number 0)")


def test_an_issued_serial_dropped_from_serials_is_refused(tmp_path: Path) -> None:
    f = Folder.make(tmp_path, crls=())
    leaf = f.serial(0)
    f.state["serials"].remove(leaf)
    f.write()
    _refused(tmp_path, f.path, f"{f.path}/ca.json serials omits {leaf}, the serial of "
                               f"{f.path}/issued-{leaf}.pem")


def test_a_serial_never_issued_added_to_serials_is_refused(tmp_path: Path) -> None:
    f = _tampered(tmp_path, lambda s: s["serials"].append("5a0c"))
    _refused(tmp_path, f.path, f"{f.path}/ca.json lists the serial 5a0c in serials, but no certificate with "
                               "that serial signed by the CA is beside it (issued-5a0c.pem)")


def test_a_serial_listed_twice_is_refused(tmp_path: Path) -> None:
    f = Folder.make(tmp_path)
    leaf = f.serial(0)
    f.state["serials"].append(leaf)
    f.write()
    _refused(tmp_path, f.path, f"{f.path}/ca.json lists the serial {leaf} twice in serials")


def test_a_revocation_dropped_from_revoked_is_refused(tmp_path: Path) -> None:
    f = Folder.make(tmp_path)
    leaf = f.serial(0)
    f.state["revoked"] = []
    f.write()
    _refused(tmp_path, f.path, f"{f.path}/ca.json revoked omits the serial {leaf} (keyCompromise, "
                               f"2026-06-01T00:00:00+00:00), which {f.path}/crl-1.pem, the newest CRL signed "
                               "by the CA, revokes")


def test_a_revocation_reason_changed_is_refused(tmp_path: Path) -> None:
    f = Folder.make(tmp_path)
    leaf = f.serial(0)
    f.state["revoked"][0]["reason"] = "superseded"
    f.write()
    _refused(tmp_path, f.path, f"{f.path}/ca.json lists in revoked the serial {leaf} (superseded, "
                               f"2026-06-01T00:00:00+00:00), which {f.path}/crl-1.pem, the newest CRL signed "
                               "by the CA, does not revoke so")


def test_a_revocation_without_any_crl_is_refused(tmp_path: Path) -> None:
    f = Folder.make(tmp_path, crls=())
    f.state["revoked"] = [{"serial": f.serial(0), "revoked_at": WHEN.isoformat(), "reason": "keyCompromise"}]
    f.write()
    _refused(tmp_path, f.path, f"{f.path}/ca.json lists 1 revocation(s) in revoked, but the folder holds no "
                               "CRL signed by the CA")


def test_a_malformed_revoked_field_is_refused(tmp_path: Path) -> None:
    f = _tampered(tmp_path, lambda s: s.update(revoked=[{"serial": "1"}]))
    _refused(tmp_path, f.path, f"{f.path}/ca.json field revoked is not a list of revocations (serial, "
                               "revoked_at, reason)")


def test_a_ca_subject_changed_is_refused(tmp_path: Path) -> None:
    f = _tampered(tmp_path, lambda s: s.update(ca_subject="CN=Someone Else"))
    actual = f.ca.certificate.subject.rfc4514_string()
    _refused(tmp_path, f.path, f"{f.path}/ca.json says ca_subject 'CN=Someone Else', but {f.path}/ca.pem "
                               f"certifies {actual!r}")


def test_a_root_ca_sequence_changed_is_refused(tmp_path: Path) -> None:
    f = _tampered(tmp_path, lambda s: s.update(sequence=1))
    _refused(tmp_path, f.path, f"{f.path}/ca.json says sequence 1, but {f.path} shows 3 ceremonies of this "
                               "root CA (ca.pem, then 2 certificate(s) and CRL(s) it signed)")


def test_a_ca_key_swapped_for_an_approvers_is_refused(tmp_path: Path) -> None:
    f = _tampered(tmp_path, lambda s: s.update(ca_key=s["approvers"][0]))
    _refused(tmp_path, f.path, f"{f.path}/ca.pem does not certify the CA key ca.json names")


def test_a_threshold_above_the_approvers_is_refused(tmp_path: Path) -> None:
    f = _tampered(tmp_path, lambda s: s.update(threshold=4))
    _refused(tmp_path, f.path, f"{f.path}/ca.json says threshold 4 with 3 approvers (1 to the number of "
                               "approvers)")


def test_an_approver_listed_twice_is_refused(tmp_path: Path) -> None:
    f = _tampered(tmp_path, lambda s: s.update(approvers=[*s["approvers"], s["approvers"][0]]))
    _refused(tmp_path, f.path, f"{f.path}/ca.json lists an approver twice in approvers")


# ---- the signed artifacts against each other ---------------------------------------------------


def test_a_newer_crl_dropping_a_revocation_is_refused(tmp_path: Path) -> None:
    """Both CRLs signed by the CA key, ca.json agreeing with the newest: still refused."""
    f = Folder.make(tmp_path, leaves=2, crls=((0, 1), (1,)))
    assert [r["serial"] for r in f.state["revoked"]] == [f.serial(1)]
    _refused(tmp_path, f.path, f"{f.path}/crl-2.pem no longer revokes the serial {f.serial(0)} that "
                               f"{f.path}/crl-1.pem revoked: revocations only grow")


def test_a_crl_revoking_a_serial_the_ca_never_issued_is_refused(tmp_path: Path) -> None:
    f = Folder.make(tmp_path, crls=())
    f.files["crl-1.pem"] = pem(f.ca.crl([(0x5A0C, WHEN, "keyCompromise")], 1))
    f.state.update(crl_number=1, sequence=3,
                   revoked=[{"serial": "5a0c", "revoked_at": WHEN.isoformat(), "reason": "keyCompromise"}])
    f.write()
    _refused(tmp_path, f.path, f"{f.path}/crl-1.pem revokes the serial 5a0c, which is not a certificate this "
                               f"CA issued ({f.path}/ca.json serials)")


def test_a_crl_renamed_to_another_number_is_refused(tmp_path: Path) -> None:
    f = Folder.make(tmp_path)
    f.files["crl-2.pem"] = f.files.pop("crl-1.pem")
    f.state["crl_number"] = 2
    f.write()
    _refused(tmp_path, f.path, f"{f.path}/crl-2.pem has cRLNumber 1, not the number its name says")


def test_an_issued_certificate_under_another_serial_name_is_refused(tmp_path: Path) -> None:
    f = Folder.make(tmp_path, crls=())
    leaf = f.serial(0)
    f.files["issued-5a0c.pem"] = f.files.pop(f"issued-{leaf}.pem")
    f.state["serials"] = [s if s != leaf else "5a0c" for s in f.state["serials"]]
    f.write()
    _refused(tmp_path, f.path, f"{f.path}/issued-5a0c.pem holds the certificate with serial {leaf}, not the "
                               f"serial its name says ({f.path}/ca.json serials)")


def test_a_crl_removed_between_two_others_is_refused(tmp_path: Path) -> None:
    f = Folder.make(tmp_path, crls=((0,), (0,), (0,)))
    del f.files["crl-2.pem"]
    f.state["sequence"] = 4
    f.write()
    _refused(tmp_path, f.path, f"{f.path}/crl-2.pem is missing ({f.path}/ca.json files) before "
                               f"{f.path}/crl-3.pem: a CRL of this CA was removed")


def test_a_crl_issued_before_the_one_it_follows_is_refused(tmp_path: Path) -> None:
    f = Folder.make(tmp_path)
    ca, leaf = f.ca, int(f.serial(0), 16)
    later = datetime(2027, 6, 1, tzinfo=UTC)  # crl-1's thisUpdate; SoftwareCa.crl's is 2027-01-01
    tbs = x509_crl.tbs_crl(ca.certificate.subject, ca.key.public_key(), [(leaf, WHEN, "keyCompromise")],
                           later, later + timedelta(days=30), 1)
    f.files["crl-1.pem"] = pem(x509.load_der_x509_crl(
        x509_crl.assemble_crl(tbs, token_sign(ca.key, tbs, ca.hash_name))))
    f.files["crl-2.pem"] = pem(ca.crl([(leaf, WHEN, "keyCompromise")], 2))
    f.state.update(crl_number=2, sequence=4)
    f.write()
    _refused(tmp_path, f.path, f"{f.path}/crl-2.pem was issued (thisUpdate 2027-01-01T00:00:00+00:00) before "
                               f"{f.path}/crl-1.pem: CRL numbers only grow with time")


def test_a_ca_pem_that_is_not_a_ca_certificate_is_refused(tmp_path: Path) -> None:
    """Self-signed, its key the one ca.json names, but basicConstraints cA false."""
    f = Folder.make(tmp_path, leaves=0, crls=())
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name.from_rfc4514_string("CN=Not A CA,O=Acme,ST=WA,C=US")
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(0x5A0C).not_valid_before(datetime(2026, 1, 1, tzinfo=UTC))
            .not_valid_after(datetime(2030, 1, 1, tzinfo=UTC))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    keyid, entry = _entry(key.public_key(), "ca")
    f.files[carry.CA_FILE] = pem(cert)
    del f.state["keys"][f.state["ca_key"]]
    f.state["keys"][keyid] = entry
    f.state.update(ca_key=keyid, ca_subject=name.rfc4514_string(), serials=["5a0c"])
    f.write()
    _refused(tmp_path, f.path, f"{f.path}/ca.pem is not a CA certificate (basicConstraints cA), so "
                               f"{f.path}/ca.json's ca_key cannot be a CA key")


def test_a_certificate_issued_under_the_roots_own_serial_is_refused(tmp_path: Path) -> None:
    """Signed by the CA key, named for its serial, listed: but the serial is ca.pem's."""
    f = Folder.make(tmp_path, leaves=0, crls=())
    ca = f.ca
    own = ca.certificate.serial_number
    info = read_csr(_csr_bytes(tmp_path, "twin"))
    twin = ca.sign_tbs(ca.tbs_from_csr(info, "leaf", "CN=twin,O=Acme,ST=WA,C=US", serial=own))
    f.files[f"issued-{own:x}.pem"] = pem(twin)
    f.state["sequence"] = 2
    f.write()
    _refused(tmp_path, f.path, f"{f.path}/issued-{own:x}.pem has the serial {own:x} of {f.path}/ca.pem: a "
                               "serial issued twice")


def test_an_untampered_software_folder_is_accepted_and_what_was_trusted_is_journaled(tmp_path: Path) -> None:
    f = Folder.make(tmp_path, leaves=2, crls=((0,), (0, 1)))
    plan = x509_plan(tmp_path / "next-plan" / "plan.toml", "next", crl_table(0x5A0C))
    r = cli("init", tmp_path / "ws", "--plan", plan, "--previous", f.path)
    assert r.code == 0, r.err
    first = json.loads((tmp_path / "ws" / "journal.jsonl").read_text().splitlines()[0])
    assert first["data"]["previous"]["trusted"] == TRUSTED
    assert first["data"]["previous"]["version"] == 5


# ---- the real thing: rehearsed folders (SoftHSM tokens) ----------------------------------------


@pytest.fixture(scope="module")
def rehearsed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("rehearsal")
    r = cli("rehearse", "--scenario", "x509", "--keyholders", "3", "--threshold", "2", base / "ws",
            "--softhsm-dir", base / "hsm")
    assert r.code == 0, r.err
    return base


@pytest.mark.parametrize("step", [".intermediate", ".leaf", ".crl"])
def test_the_untampered_rehearsed_folders_continue(rehearsed: Path, tmp_path: Path, step: str) -> None:
    plan = Path(f"{rehearsed / 'ws'}.crl") / "plan.toml"
    r = cli("init", tmp_path / "ws", "--plan", plan, "--previous", Path(f"{rehearsed / 'ws'}{step}") / "metadata")
    assert r.code == 0, r.err


def test_the_issues_reproduction_on_a_rehearsed_folder(rehearsed: Path, tmp_path: Path) -> None:
    prev = tmp_path / "PREV"
    shutil.copytree(Path(f"{rehearsed / 'ws'}.crl") / "metadata", prev)
    text = (prev / "ca.json").read_text()
    assert text.count('"crl_number": 1') == 1
    (prev / "ca.json").write_text(text.replace('"crl_number": 1', '"crl_number": 0'))
    plan = Path(f"{rehearsed / 'ws'}.crl") / "plan.toml"
    r = cli("init", tmp_path / "NEW", "--plan", plan, "--previous", prev)
    assert r.code == 3, r.out + r.err
    assert r.err.splitlines()[0] == (f"error: {prev}/ca.json says crl_number 0, but {prev}/crl-1.pem, the "
                                     f"newest CRL signed by the CA, has cRLNumber 1{TAIL}")
    assert not (tmp_path / "NEW").exists()


def test_an_intermediate_sequence_below_what_its_folder_shows_is_refused(rehearsed: Path, tmp_path: Path) -> None:
    prev = tmp_path / "PREV"
    shutil.copytree(Path(f"{rehearsed / 'ws'}.crl") / "metadata", prev)
    state = json.loads((prev / "ca.json").read_text())
    assert state["sequence"] == 4
    state["sequence"] = 3
    (prev / "ca.json").write_text(json.dumps(state))
    _refused(tmp_path, prev, f"{prev}/ca.json says sequence 3, but {prev} shows at least 4 ceremonies (the "
                             "root's, this CA's ca.pem, then 2 certificate(s) and CRL(s) it signed)")


def test_a_chain_swapped_for_another_root_is_refused(rehearsed: Path, tmp_path: Path) -> None:
    prev = tmp_path / "PREV"
    shutil.copytree(Path(f"{rehearsed / 'ws'}.crl") / "metadata", prev)
    other = pem(SoftwareCa.root("ecdsa-p256").certificate)
    (prev / "chain.pem").write_bytes(other)
    state = json.loads((prev / "ca.json").read_text())
    state["files"]["chain.pem"] = hashlib.sha256(other).hexdigest()
    (prev / "ca.json").write_text(json.dumps(state))
    _refused(tmp_path, prev, f"{prev}/ca.pem was not issued by certificate 1 of chain.pem "
                             f"({x509.load_pem_x509_certificate(other).subject.rfc4514_string()})")


# ---- a CRL ceremony: only serials the CA issued, and revocations only grow ----------------------


def test_a_second_crl_ceremony_keeps_every_earlier_revocation(hsm: SoftHsm, tmp_path: Path) -> None:
    root_dir = publish_root(hsm, tmp_path)
    leaves: list[str] = []
    prev = root_dir
    for i in range(2):
        (tmp_path / f"leaf{i}-plan").mkdir()
        make_csr(tmp_path / f"leaf{i}-plan" / "leaf.csr", LEAF_SUBJECT)
        prev = next_ceremony(hsm, tmp_path, f"leaf{i}", issue_table("leaf", LEAF_SUBJECT, "leaf.csr"), prev)
        [new] = {p.name for p in prev.glob("issued-*.pem")} - set(leaves)
        leaves.append(new)
    first, second = (x509.load_pem_x509_certificate((prev / n).read_bytes()).serial_number for n in leaves)
    crl1 = next_ceremony(hsm, tmp_path, "crl1", crl_table(first), prev)
    crl2 = next_ceremony(hsm, tmp_path, "crl2", crl_table(second), crl1)
    newest = x509.load_pem_x509_crl((crl2 / "crl-2.pem").read_bytes())
    assert sorted(e.serial_number for e in newest) == sorted([first, second])
    assert (crl2 / "crl-1.pem").read_bytes() == (crl1 / "crl-1.pem").read_bytes()
    state = json.loads((crl2 / "ca.json").read_text())
    assert (state["crl_number"], sorted(r["serial"] for r in state["revoked"])) == (
        2, sorted([f"{first:x}", f"{second:x}"]))
    # a third CRL ceremony revoking a serial the CA never issued, or one already revoked: refused
    # at draft, nothing journaled
    for name, serial, message in [
            ("crl3", 0x5A0C, "x509.revoke names serial 5a0c, which this CA never issued (its ca.json lists "
                             "every serial)"),
            ("crl4", first, f"x509.revoke names serial {first:x}, which the CA's last CRL (crl-2.pem) already "
                            "revokes: every later CRL keeps it")]:
        plan = x509_plan(tmp_path / f"{name}-plan" / "plan.toml", name, crl_table(serial))
        r = cli("init", tmp_path / f"{name}-ws", "--plan", plan, "--previous", crl2)
        assert r.code == 0, r.err
        before = (tmp_path / f"{name}-ws" / "journal.jsonl").read_text()
        r = cli("draft", tmp_path / f"{name}-ws")
        assert r.code == 3, r.out + r.err
        assert r.err.splitlines()[0] == f"error: {message}"
        assert (tmp_path / f"{name}-ws" / "journal.jsonl").read_text() == before
