"""Issue 16: an X.509 CA ceremony through the unchanged CLI, on real SoftHSM tokens.

A root CA whose key is generated on a token, approved 2-of-3 by approvers' own token keys,
self-signed on the token, published with Notation's trust store; then, from its published
folder (``init --previous``), an intermediate CA and a code-signing leaf issued from CSRs made
outside the tool (software keys), and the leaf revoked by a CRL. Each result is checked by
tools nobody here wrote: ``openssl verify`` (with ``-crl_check`` after the revocation),
cryptography's ``PolicyBuilder`` client verifier with a code-signing extension policy, and
pkilint.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from tests.conftest import SoftHsm
from tests.support.helpers import cli
from tests.support.plans import Keyholder, Plan
from tests.support.x509_ceremony import (
    APPROVERS,
    CA,
    INTERMEDIATE_SUBJECT,
    LEAF_SUBJECT,
    ROOT_SUBJECT,
    ROOT_TABLE,
    code_signing_verifier,
    crl_table,
    issue_table,
    make_csr,
    next_ceremony,
    openssl,
    pkilint,
    publish_root,
    root_ceremony,
    run,
)


def test_root_ca_born_on_a_token_under_two_of_three_approvals(hsm: SoftHsm, tmp_path: Path) -> None:
    ws = root_ceremony(hsm, tmp_path)
    r = cli("status", ws)
    assert r.code == 0, r.err
    draft = json.loads((ws / "metadata" / "drafts" / "1.root.json").read_text())
    tbs_sha = draft["signed"]["tbs_sha256"]

    # the CA holder first: refused, naming who is missing, nothing journaled
    lines = (ws / "journal.jsonl").read_text().count("\n")
    r = cli("sign", ws, "--keyholder", CA, "--pin-file", hsm.pin_file)
    assert r.code == 6, r.err
    assert ("the CA key does not sign the root certificate " + ROOT_SUBJECT + " before its approvals "
            "verify: approvals of the root certificate " + ROOT_SUBJECT + ": 0/2 - nobody has signed; "
            "waiting for 2 of alice, bob, carol") in r.err
    assert (ws / "journal.jsonl").read_text().count("\n") == lines

    run(ws, hsm, "alice")
    r = cli("sign", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file)  # a second approval
    assert (r.code, "alice has already signed root v1" in r.err) == (8, True)
    r = cli("sign", ws, "--keyholder", CA, "--pin-file", hsm.pin_file)  # 1 of 2: still refused
    assert r.code == 6 and "1/2 - alice signed; waiting for one of bob, carol" in r.err
    r = cli("publish", ws)
    assert r.code == 6, r.err
    run(ws, hsm, "carol", CA)

    st = cli("status", ws, "--json")
    verdict = json.loads(st.out)["thresholds"]
    assert verdict["verified"] is True
    assert verdict["old"]["signed"] == ["alice", "carol"] and verdict["new"]["signed"] == [CA]

    r = cli("publish", ws)
    assert r.code == 0, r.err
    ca_pem = ws / "metadata" / "ca.pem"
    cert = x509.load_pem_x509_certificate(ca_pem.read_bytes())
    assert cert.subject.rfc4514_string() == ROOT_SUBJECT
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).critical
    # the signature is the token's: the CA key journaled at keygen verifies it
    assert hashlib.sha256(cert.tbs_certificate_bytes).hexdigest() == tbs_sha
    r = openssl("verify", "-CAfile", ca_pem, ca_pem)
    assert r.returncode == 0, r.stdout + r.stderr
    store = ws / "metadata" / "notation" / "truststore" / "x509" / "ca" / "acme"
    assert [p.name for p in store.iterdir()] == ["acme-signing.pem"]
    policy = json.loads((ws / "metadata" / "notation" / "trustpolicy.json").read_text())
    assert policy["version"] == "1.0"
    state = json.loads((ws / "metadata" / "ca.json").read_text())
    assert state["sequence"] == 1 and state["threshold"] == 2
    r = cli("script", ws)  # the printable script says how an X.509 result is verified
    assert r.code == 0, r.err
    assert "Verify: openssl verify -CAfile WORKSPACE/metadata/ca.pem WORKSPACE/metadata/issued-SERIAL.pem" in r.out

    r = cli("record", "verify", ws, "--allow-unsealed")
    assert r.code == 0, r.out + r.err
    assert "metadata/ca.pem is the journaled TBS signed by the CA key after its approvals" in r.out

    # the seal: the approvers who approved and the CA key sign the journal head
    r = cli("seal", ws, "--keyholder", "bob", "--pin-file", hsm.pin_file)
    assert (r.code, "bob did not sign the published root, so does not seal it" in r.err) == (8, True)
    for k in ("alice", "carol", CA):
        r = cli("seal", ws, "--keyholder", k, "--pin-file", hsm.pin_file)
        assert r.code == 0, r.err
    r = cli("record", "verify", ws)
    assert r.code == 0, r.out + r.err
    assert "signed by alice, ca, carol" in r.out  # sorted by name
    report = (ws / "record" / "report.html").read_text()
    assert "approvals of the root certificate" in report and "CA signature over the root certificate" in report


# ---- the chain: root CA -> intermediate and code-signing leaf from CSRs -> CRL -------------------


def test_root_intermediate_leaf_and_crl_verify_with_openssl_cryptography_and_pkilint(
        hsm: SoftHsm, tmp_path: Path) -> None:
    root_dir = publish_root(hsm, tmp_path)
    ca_pem = root_dir / "ca.pem"
    root = x509.load_pem_x509_certificate(ca_pem.read_bytes())

    # an intermediate CA from a CSR made outside the tool by a software key
    (tmp_path / "inter-plan").mkdir()
    make_csr(tmp_path / "inter-plan" / "inter.csr", INTERMEDIATE_SUBJECT)
    inter_dir = next_ceremony(hsm, tmp_path, "inter", issue_table("intermediate", INTERMEDIATE_SUBJECT, "inter.csr"),
                              root_dir)
    [inter_file] = sorted(inter_dir.glob("issued-*.pem"))
    inter = x509.load_pem_x509_certificate(inter_file.read_bytes())
    assert inter.issuer == root.subject and inter.subject.rfc4514_string() == INTERMEDIATE_SUBJECT
    assert inter.extensions.get_extension_for_class(x509.BasicConstraints).value.ca

    # a code-signing leaf from a CSR made outside, continuing from the intermediate's folder
    (tmp_path / "leaf-plan").mkdir()
    make_csr(tmp_path / "leaf-plan" / "leaf.csr", LEAF_SUBJECT)
    leaf_dir = next_ceremony(hsm, tmp_path, "leaf", issue_table("leaf", LEAF_SUBJECT, "leaf.csr"), inter_dir,
                             approvers=("alice", "carol"))
    issued = sorted(leaf_dir.glob("issued-*.pem"))
    assert inter_file.name in [p.name for p in issued]  # the CA's folder carries what it issued
    leaf_file = next(p for p in issued if p.name != inter_file.name)
    leaf = x509.load_pem_x509_certificate(leaf_file.read_bytes())
    state = json.loads((leaf_dir / "ca.json").read_text())
    assert state["sequence"] == 3 and f"{leaf.serial_number:x}" in state["serials"]

    for cert in (ca_pem, inter_file, leaf_file):
        r = openssl("verify", "-CAfile", ca_pem, cert)
        assert r.returncode == 0, r.stdout + r.stderr
        r = pkilint("lint_pkix_cert", "lint", "-s", "ERROR", cert)
        assert (r.returncode, r.stdout.strip(), r.stderr) == (0, "", ""), cert.name

    at = datetime(2027, 1, 1, tzinfo=UTC)
    verified = code_signing_verifier(root, at).verify(leaf, [])
    assert verified.chain == [leaf, root]

    # the leaf revoked by the CA's next CRL
    crl_dir = next_ceremony(hsm, tmp_path, "crl", crl_table(leaf.serial_number), leaf_dir)
    [crl_file] = sorted(crl_dir.glob("crl-*.pem"))
    crl = x509.load_pem_x509_crl(crl_file.read_bytes())
    assert crl.is_signature_valid(root.public_key())
    entry = crl.get_revoked_certificate_by_serial_number(leaf.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    r = pkilint("lint_crl", "lint", "-t", "CRL", "-p", "PKIX", "-s", "ERROR", crl_file)
    assert (r.returncode, r.stdout.strip(), r.stderr) == (0, "", "")
    r = openssl("verify", "-crl_check", "-CAfile", ca_pem, "-CRLfile", crl_file, inter_file)
    assert r.returncode == 0, r.stdout + r.stderr
    r = openssl("verify", "-crl_check", "-CAfile", ca_pem, "-CRLfile", crl_file, leaf_file)
    assert r.returncode != 0 and "certificate revoked" in r.stdout + r.stderr

    r = cli("record", "verify", crl_dir.parent, "--allow-unsealed")
    assert r.code == 0, r.out + r.err
    r = cli("status", crl_dir.parent)  # the CRL's nextUpdate is the expiry status tracks
    assert r.code == 0, r.err
    assert f"(published): expires {crl.next_update_utc:%Y-%m-%d %H:%M:%S} UTC" in r.out


def test_an_approver_approves_on_their_own_machine_and_a_foreign_approval_is_refused(
        hsm: SoftHsm, tmp_path: Path) -> None:
    ws = root_ceremony(hsm, tmp_path)
    draft = tmp_path / "1.draft.json"
    r = cli("export-draft", ws, "--out", draft)
    assert r.code == 0, r.err
    digest = json.loads(draft.read_text())["digest"]
    sig = tmp_path / "alice.sig.json"
    r = cli("sign-draft", draft, "--keyholder", "alice", "--out", sig, "--expect-digest", digest,
            "--pin-file", hsm.pin_file)
    assert r.code == 0, r.err
    assert f"subject: {ROOT_SUBJECT}" in r.out + r.err  # the approver read the TBS in words

    # a tampered approval (its signature no longer over this statement): refused, nothing journaled
    forged = json.loads(sig.read_text())
    forged["signatures"][0]["sig"] = forged["signatures"][0]["sig"][:-2] + (
        "00" if not forged["signatures"][0]["sig"].endswith("00") else "01")
    bad = tmp_path / "alice.forged.json"
    bad.write_text(json.dumps(forged))
    lines = (ws / "journal.jsonl").read_text().count("\n")
    r = cli("import-signature", ws, bad)
    assert r.code == 3, r.err
    assert f"{bad}: the signature by alice does not verify over root v1" in r.err
    assert (ws / "journal.jsonl").read_text().count("\n") == lines

    r = cli("import-signature", ws, sig)
    assert r.code == 0, r.err
    r = cli("sign-draft", draft, "--keyholder", CA, "--out", tmp_path / "ca.sig.json",
            "--expect-digest", digest, "--pin-file", hsm.pin_file)  # the CA key signs in the room
    assert r.code == 3 and "ca holds no key in root v1" in r.err, r.err
    run(ws, hsm, "bob", CA)
    assert cli("publish", ws).code == 0
    r = cli("record", "verify", ws, "--allow-unsealed")
    assert r.code == 0, r.out + r.err


def test_the_published_ca_folder_travels_by_usb_and_qr_and_is_checked_on_arrival(
        hsm: SoftHsm, tmp_path: Path) -> None:
    metadata = publish_root(hsm, tmp_path)
    ws = metadata.parent
    der = x509.load_pem_x509_certificate((metadata / "ca.pem").read_bytes()).public_bytes(Encoding.DER)
    fingerprint = hashlib.sha256(der).hexdigest()

    (tmp_path / "stick").mkdir()
    r = cli("export", ws, "--usb", tmp_path / "stick")
    assert r.code == 0, r.err
    r = cli("import", "--usb", tmp_path / "stick", "--out", tmp_path / "online", "--expect-root", fingerprint)
    assert r.code == 0, r.err
    assert "self-signed, 0 issued certificate(s) and 0 CRL(s) signed by it" in r.out
    store = "truststore+x509+ca+acme+acme-signing.pem"  # Notation's path, '/' spelled '+'
    assert sorted(p.name for p in (tmp_path / "online").iterdir()) == [
        "ca.json", "ca.pem", "trustpolicy.json", store]
    assert (tmp_path / "online" / "ca.pem").read_bytes() == (metadata / "ca.pem").read_bytes()
    # the trust store certificate travels with the policy: the verifying side installs both
    assert (tmp_path / "online" / store).read_bytes() == (
        metadata / "notation" / "truststore" / "x509" / "ca" / "acme" / "acme-signing.pem").read_bytes()
    assert f"{store}: the root certificate, for Notation's trust store ca:acme" in r.out

    # a bundle whose trust store file is another certificate than the CA's root: refused
    forged = tmp_path / "forged"
    forged.mkdir()
    for n in ("ca.json", "ca.pem", "trustpolicy.json"):
        shutil.copy(tmp_path / "online" / n, forged / n)
    other = tmp_path / "other.csr"
    key = make_csr(other, LEAF_SUBJECT)  # any certificate but the root: a self-signed one
    name = x509.Name.from_rfc4514_string("CN=Not The Root")
    fake = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(datetime(2026, 1, 1, tzinfo=UTC))
            .not_valid_after(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=1))
            .sign(key, hashes.SHA256()))
    (forged / store).write_bytes(fake.public_bytes(Encoding.PEM))
    (tmp_path / "stick-f").mkdir()
    # (pack checks a bundle as import does: the same check_arrival, before anything is written)
    r = cli("pack", "--kind", "signed-metadata", "--repository", "acme-signing", "--usb", tmp_path / "stick-f",
            *sorted(forged.iterdir()))
    assert r.code == 3, r.err
    assert (f"{store} is not the root certificate the CA folder in the bundle chains to: refusing it "
            "as a trust anchor") in r.err
    assert list((tmp_path / "stick-f").iterdir()) == []

    r = cli("import", "--usb", tmp_path / "stick", "--out", tmp_path / "elsewhere",
            "--expect-root", hashlib.sha256(b"another CA").hexdigest())
    assert r.code == 3 and "the bundle's CA certificate ca.pem is not the root you expected" in r.err, r.err
    assert not (tmp_path / "elsewhere").exists()

    (tmp_path / "frames").mkdir()
    r = cli("export", ws, "--qr", tmp_path / "frames")
    assert r.code == 0, r.err
    r = cli("import", "--qr", tmp_path / "frames", "--out", tmp_path / "online-qr")
    assert r.code == 0, r.err
    assert (tmp_path / "online-qr" / "ca.json").read_bytes() == (metadata / "ca.json").read_bytes()

    (metadata / "ca.json").write_bytes((metadata / "ca.json").read_bytes() + b" ")  # changed after publish
    (tmp_path / "stick-2").mkdir()
    r = cli("export", ws, "--usb", tmp_path / "stick-2")
    assert r.code == 3 and "metadata/ca.json differs from what the journal records; nothing was exported" in r.err


NEW_ROOT_SUBJECT = "CN=Acme Signing Root 2,O=Acme,ST=WA,C=US"


def test_a_new_root_is_cross_signed_by_the_old_one_under_both_approval_sets(
        hsm: SoftHsm, tmp_path: Path) -> None:
    old = publish_root(hsm, tmp_path)
    # the new root CA: its own approvers and CA key, its own ceremony
    new_approvers = ("dave", "erin", "frank")
    hsm.make(*[f"x509-{k}" for k in (*new_approvers, "ca2")])
    holders = [Keyholder(k, token=f"x509-{k}") for k in (*new_approvers, "ca2")]
    # path length 0: under the old root (path length 1) its cross-certificate must leave room
    table = ROOT_TABLE.replace(ROOT_SUBJECT, NEW_ROOT_SUBJECT).replace('ca = "ca"', 'ca = "ca2"').replace(
        "path_length = 1", "path_length = 0")
    plan = Plan("acme-root-2", holders, 2, {}, repository="acme-signing", format="x509",
                root_expires="30d", tail=table).write(tmp_path / "new-plan" / "plan.toml")
    new_ws = tmp_path / "new-ws"
    assert cli("init", new_ws, "--plan", plan).code == 0
    for k in (*new_approvers, "ca2"):
        assert cli("keygen", new_ws, "--keyholder", k, "--pin-file", hsm.pin_file).code == 0
    assert cli("draft", new_ws).code == 0
    run(new_ws, hsm, "dave", "erin", "ca2")
    assert cli("publish", new_ws).code == 0
    new = new_ws / "metadata"

    # the cross-signing: the old CA key certifies the new root, after both sets approve
    (tmp_path / "cross-plan").mkdir()
    shutil.copytree(new, tmp_path / "cross-plan" / "new-root")
    holders = [Keyholder(k, token=f"x509-{k}") for k in (*APPROVERS, *new_approvers, CA)]
    plan = Plan("acme-cross", holders, 4, {}, repository="acme-signing", format="x509", root_expires="30d",
                tail=f'[x509]\noperation = "cross-sign"\nca = "{CA}"\nnew_ca = "new-root"\n'
                ).write(tmp_path / "cross-plan" / "plan.toml")
    ws = tmp_path / "cross-ws"
    text = plan.read_text()
    plan.write_text(text.replace("threshold = 4", "threshold = 3"))  # one set's approvals short
    r = cli("init", ws, "--plan", plan, "--previous", old)
    assert (r.code, r.err.splitlines()[0]) == (2, "error: roles.root.threshold is 3; a cross-signing needs the "
                                                  "old CA's 2 approvals and the new CA's 2: set it to 4")
    assert not ws.exists()
    plan.write_text(text)
    r = cli("init", ws, "--plan", plan, "--previous", old)
    assert r.code == 0, r.err
    r = cli("draft", ws)  # every key kept from the two CAs' records: no keygen
    assert r.code == 0, r.err
    run(ws, hsm, "alice", "bob", "dave")
    r = cli("sign", ws, "--keyholder", CA, "--pin-file", hsm.pin_file)
    assert r.code == 6, r.err
    assert (f"approvals of the cross-certificate for {NEW_ROOT_SUBJECT} by both CAs' approvers: 3/4 - alice, "
            "bob, dave signed; waiting for one of erin, frank; the old CA's approvers: 2/2; the new CA's "
            "approvers: 1/2") in r.err
    run(ws, hsm, "erin", CA)
    r = cli("publish", ws)
    assert r.code == 0, r.err
    [cross_file] = [p for p in (ws / "metadata").glob("issued-*.pem")]
    cross = x509.load_pem_x509_certificate(cross_file.read_bytes())
    new_root = x509.load_pem_x509_certificate((new / "ca.pem").read_bytes())
    assert cross.subject == new_root.subject and cross.public_key() == new_root.public_key()
    v = openssl("verify", "-CAfile", old / "ca.pem", cross_file)
    assert v.returncode == 0, v.stdout + v.stderr
    p = pkilint("lint_pkix_cert", "lint", "-s", "ERROR", cross_file)
    assert (p.returncode, p.stdout.strip(), p.stderr) == (0, "", "")
    state = json.loads((ws / "metadata" / "ca.json").read_text())
    assert state["threshold"] == 2 and len(state["approvers"]) == 3  # the old CA's own approvers
    r = cli("record", "verify", ws, "--allow-unsealed")
    assert r.code == 0, r.out + r.err
