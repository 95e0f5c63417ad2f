"""Issue 16's three-level chain through the unchanged CLI on SoftHSM tokens: the root CA (key born
on its token), then ``operation = "intermediate"``: the intermediate CA's key born on its own
holder's token (never leaving it) and certified by the ROOT CA key under the root's 2-of-3
approvals; its published folder is a CA folder (``ca.pem``, ``chain.pem``, ``ca.json``) that an
``issue`` ceremony continues (a code-signing leaf from a CSR made outside the tool) and a ``crl``
ceremony after it (the leaf revoked by the intermediate). Judged by openssl (``-untrusted``,
``-crl_check``), cryptography's client verifier (the intermediate in the untrusted pool) and
pkilint; the refusals say what is wrong, with their exit code, and write nothing."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.conftest import SoftHsm
from tests.support.helpers import cli
from tests.support.x509_ceremony import (
    CA,
    INTERMEDIATE_SUBJECT,
    LEAF_SUBJECT,
    ROOT_SUBJECT,
    code_signing_verifier,
    crl_table,
    issue_table,
    make_csr,
    next_ceremony,
    openssl,
    pkilint,
    publish_root,
    run,
    x509_plan,
)

ICA = "ica"  # the intermediate CA key's holder
INTERMEDIATE_TABLE = f"""[x509]
operation = "intermediate"
ca = "{CA}"
intermediate = "{ICA}"
[x509.profile]
kind = "intermediate"
subject = "{INTERMEDIATE_SUBJECT}"
not_before = "2026-01-01T00:00:00Z"
not_after = "2031-01-01T00:00:00Z"
path_length = 0
"""


def _fingerprint(pem: Path) -> str:
    return hashlib.sha256(x509.load_pem_x509_certificate(pem.read_bytes()).public_bytes(Encoding.DER)).hexdigest()


def _intermediate(hsm: SoftHsm, tmp: Path, root_dir: Path, table: str = INTERMEDIATE_TABLE,
                  name: str = "ica", make_token: bool = True) -> Path:
    """The intermediate ceremony up to its draft: init pinned by the root, the ica key made."""
    if make_token:
        hsm.make(f"x509-{ICA}")
    plan = x509_plan(tmp / f"{name}-plan" / "plan.toml", f"acme-{name}", table, extra=(ICA,))
    ws = tmp / f"{name}-ws"
    r = cli("init", ws, "--plan", plan, "--previous", root_dir, "--expect-root",
            _fingerprint(root_dir / "ca.pem"))
    assert r.code == 0, r.err
    # init says who signs in the CA's terms: approvers at their threshold, the CA key's holder
    assert r.out.splitlines()[1:6] == [
        "operation: intermediate", "approvers: 2 of 3 (alice, bob, carol), before the CA key signs",
        f"CA key holder: {CA}", f"intermediate CA key holder: {ICA} (a new key, made on their token)",
        f"continues the CA {ROOT_SUBJECT} after its ceremony #1 (ca.json and every file it lists verified)"]
    r = cli("keygen", ws, "--keyholder", ICA, "--pin-file", hsm.pin_file)
    assert r.code == 0, r.err
    return ws


def _under_ica(tmp: Path, name: str, table: str, previous: Path, *extra: str) -> Path:
    """A ceremony of the intermediate CA (its key kept from its folder's ca.json), drafted."""
    plan = x509_plan(tmp / f"{name}-plan" / "plan.toml", name, table.replace(f'ca = "{CA}"', f'ca = "{ICA}"'),
                     ca=ICA)
    ws = tmp / f"{name}-ws"
    r = cli("init", ws, "--plan", plan, "--previous", previous, *extra)
    assert r.code == 0, r.err
    r = cli("draft", ws)
    assert r.code == 0, r.err
    return ws


def test_root_then_token_born_intermediate_then_leaf_and_crl_by_the_intermediate(
        hsm: SoftHsm, tmp_path: Path) -> None:
    root_dir = publish_root(hsm, tmp_path)
    root_pem = root_dir / "ca.pem"
    root = x509.load_pem_x509_certificate(root_pem.read_bytes())

    ws = _intermediate(hsm, tmp_path, root_dir)
    r = cli("draft", ws)
    assert r.code == 0, r.err
    assert "a new intermediate CA: " + INTERMEDIATE_SUBJECT in r.out + r.err
    r = cli("sign", ws, "--keyholder", CA, "--pin-file", hsm.pin_file)  # the root key waits for approvals
    assert r.code == 6 and "before its approvals verify" in r.err
    run(ws, hsm, "bob", "carol", CA)
    r = cli("publish", ws)
    assert r.code == 0, r.err
    inter_dir = ws / "metadata"
    inter_pem = inter_dir / "ca.pem"
    inter = x509.load_pem_x509_certificate(inter_pem.read_bytes())
    assert inter.issuer == root.subject and inter.subject.rfc4514_string() == INTERMEDIATE_SUBJECT
    assert (inter_dir / "chain.pem").read_bytes() == root_pem.read_bytes()
    # the certified key is the one born on ica's token (journaled at keygen), not a CSR's
    state = json.loads((inter_dir / "ca.json").read_text())
    key = state["keys"][state["ca_key"]]
    assert (key["x-ceremony-keyholder"], key["x-ceremony-token-label"]) == (ICA, f"x509-{ICA}")
    assert inter.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode() \
        == key["keyval"]["public"]
    # the root's own folder continued: it issued the intermediate
    issuer = json.loads((inter_dir / "issuer" / "ca.json").read_text())
    assert f"{inter.serial_number:x}" in issuer["serials"]
    r = cli("record", "verify", ws, "--allow-unsealed")
    assert r.code == 0, r.out + r.err

    # the root continues from issuer/: its CRL revoking the intermediate (no key made, none kept twice)
    root_crl = next_ceremony(hsm, tmp_path, "root-crl", crl_table(inter.serial_number), inter_dir / "issuer")
    [root_crl_file] = sorted(root_crl.glob("crl-*.pem"))
    assert x509.load_pem_x509_crl(root_crl_file.read_bytes()).is_signature_valid(root.public_key())
    v = openssl("verify", "-crl_check", "-CAfile", root_pem, "-CRLfile", root_crl_file, inter_pem)
    assert v.returncode != 0 and "certificate revoked" in v.stdout + v.stderr
    p = pkilint("lint_crl", "lint", "-t", "CRL", "-p", "PKIX", "-s", "ERROR", root_crl_file)
    assert (p.returncode, p.stdout.strip(), p.stderr) == (0, "", "")

    # the intermediate's folder travels by USB with its chain, checked and pinned by the ROOT on arrival
    (tmp_path / "stick").mkdir()
    r = cli("export", ws, "--usb", tmp_path / "stick")
    assert r.code == 0, r.err
    r = cli("import", "--usb", tmp_path / "stick", "--out", tmp_path / "online", "--expect-root",
            _fingerprint(root_pem))
    assert r.code == 0, r.err
    assert "chained through chain.pem to the root " + root.subject.rfc4514_string() in r.out
    assert sorted(p.name for p in (tmp_path / "online").iterdir()) == ["ca.json", "ca.pem", "chain.pem"]
    r = cli("import", "--usb", tmp_path / "stick", "--out", tmp_path / "online-2", "--expect-root",
            _fingerprint(inter_pem))
    assert r.code == 3, r.err
    assert "the bundle's root certificate (the end of chain.pem) is not the root you expected" in r.err
    assert not (tmp_path / "online-2").exists()

    # a code-signing leaf from a CSR made outside, issued by the intermediate (pinned by the root)
    (tmp_path / "leaf-plan").mkdir()
    make_csr(tmp_path / "leaf-plan" / "leaf.csr", LEAF_SUBJECT)
    leaf_ws = _under_ica(tmp_path, "leaf", issue_table("leaf", LEAF_SUBJECT, "leaf.csr"), inter_dir,
                         "--trusted", str(root_pem))
    run(leaf_ws, hsm, "alice", "carol", ICA)
    r = cli("publish", leaf_ws)
    assert r.code == 0, r.err
    leaf_dir = leaf_ws / "metadata"
    [leaf_file] = sorted(leaf_dir.glob("issued-*.pem"))
    leaf = x509.load_pem_x509_certificate(leaf_file.read_bytes())
    assert leaf.issuer == inter.subject

    # the intermediate's CRL revoking the leaf
    crl_ws = _under_ica(tmp_path, "crl", crl_table(leaf.serial_number), leaf_dir)
    run(crl_ws, hsm, "alice", "bob", ICA)
    r = cli("publish", crl_ws)
    assert r.code == 0, r.err
    crl_file = crl_ws / "metadata" / "crl-1.pem"
    crl = x509.load_pem_x509_crl(crl_file.read_bytes())
    assert crl.issuer == inter.subject and crl.is_signature_valid(inter.public_key())

    v = openssl("verify", "-CAfile", root_pem, inter_pem)
    assert v.returncode == 0, v.stdout + v.stderr
    v = openssl("verify", "-CAfile", root_pem, "-untrusted", inter_pem, leaf_file)
    assert v.returncode == 0, v.stdout + v.stderr
    v = openssl("verify", "-crl_check", "-CAfile", root_pem, "-untrusted", inter_pem,
                "-CRLfile", crl_file, leaf_file)
    assert v.returncode != 0 and "certificate revoked" in v.stdout + v.stderr
    for cert in (root_pem, inter_pem, leaf_file):
        p = pkilint("lint_pkix_cert", "lint", "-s", "ERROR", cert)
        assert (p.returncode, p.stdout.strip(), p.stderr) == (0, "", ""), cert.name
    p = pkilint("lint_crl", "lint", "-t", "CRL", "-p", "PKIX", "-s", "ERROR", crl_file)
    assert (p.returncode, p.stdout.strip(), p.stderr) == (0, "", "")
    chain = code_signing_verifier(root, datetime(2027, 1, 1, tzinfo=UTC)).verify(leaf, [inter]).chain
    assert chain == [leaf, inter, root]

    for w in (leaf_ws, crl_ws):
        r = cli("record", "verify", w, "--allow-unsealed")
        assert r.code == 0, r.out + r.err
    # the printable script says how each result is verified with openssl (root anchor, intermediate untrusted)
    r = cli("script", ws)
    assert r.code == 0, r.err
    assert "Verify: openssl verify -CAfile WORKSPACE/metadata/chain.pem WORKSPACE/metadata/ca.pem" in r.out
    r = cli("script", leaf_ws)
    assert r.code == 0, r.err
    assert ("Verify: openssl verify -CAfile WORKSPACE/metadata/chain.pem -untrusted WORKSPACE/metadata/ca.pem "
            "WORKSPACE/metadata/issued-SERIAL.pem") in r.out


def test_intermediate_refusals_name_what_is_wrong_and_write_nothing(hsm: SoftHsm, tmp_path: Path) -> None:
    root_dir = publish_root(hsm, tmp_path)

    # an approver's kept key offered as the intermediate CA's key: refused at draft (exit 3)
    table = INTERMEDIATE_TABLE.replace(f'intermediate = "{ICA}"', 'intermediate = "alice"')
    plan = x509_plan(tmp_path / "reuse-plan" / "plan.toml", "reuse", table)
    ws = tmp_path / "reuse-ws"
    r = cli("init", ws, "--plan", plan, "--previous", root_dir)
    assert r.code == 0, r.err
    lines = (ws / "journal.jsonl").read_text().count("\n")
    r = cli("draft", ws)
    assert r.code == 3, r.err
    assert ("is already a key of the CA continued here: an intermediate CA's key is made new, on its "
            "holder's own token") in r.err
    assert (ws / "journal.jsonl").read_text().count("\n") == lines

    # an intermediate allowing as long a path as the root above it: the CA's rules refuse it at draft
    bad = _intermediate(hsm, tmp_path, root_dir, INTERMEDIATE_TABLE.replace("path_length = 0", "path_length = 1"),
                        name="long")
    lines = (bad / "journal.jsonl").read_text()
    r = cli("draft", bad)
    assert r.code == 3, r.err
    assert "(rule ceremony.path_length.nested)" in r.err
    assert r.err.startswith("error: the intermediate certificate breaks 1 rule")
    assert (bad / "journal.jsonl").read_text() == lines and not list((bad / "metadata").rglob("*.json"))

    ws = _intermediate(hsm, tmp_path, root_dir, make_token=False)  # its token made above
    r = cli("draft", ws)
    assert r.code == 0, r.err
    run(ws, hsm, "alice", "bob", CA)
    r = cli("publish", ws)
    assert r.code == 0, r.err
    inter_dir = ws / "metadata"
    leaf_table = issue_table("leaf", LEAF_SUBJECT, "leaf.csr").replace(f'ca = "{CA}"', f'ca = "{ICA}"')
    (tmp_path / "p").mkdir()
    make_csr(tmp_path / "p" / "leaf.csr", LEAF_SUBJECT)
    plan = x509_plan(tmp_path / "p" / "plan.toml", "leaf", leaf_table, ca=ICA)

    # under the intermediate (path length 0), another CA: the issuing CA's rules refuse it at draft
    make_csr(tmp_path / "p" / "sub.csr", "CN=Acme Sub CA,O=Acme,ST=WA,C=US")
    sub_table = issue_table("intermediate", "CN=Acme Sub CA,O=Acme,ST=WA,C=US", "sub.csr").replace(
        f'ca = "{CA}"', f'ca = "{ICA}"')
    sub_plan = x509_plan(tmp_path / "p" / "sub.toml", "sub", sub_table, ca=ICA)
    sub = tmp_path / "sub-ws"
    r = cli("init", sub, "--plan", sub_plan, "--previous", inter_dir)
    assert r.code == 0, r.err
    lines = (sub / "journal.jsonl").read_text()
    r = cli("draft", sub)
    assert r.code == 3, r.err
    assert "(rule rfc5280.issuer.path_length)" in r.err
    assert (sub / "journal.jsonl").read_text() == lines

    # pinned by the intermediate's own fingerprint instead of the root's: refused (exit 3)
    r = cli("init", tmp_path / "w1", "--plan", plan, "--previous", inter_dir, "--expect-root",
            _fingerprint(inter_dir / "ca.pem"))
    assert r.code == 3, r.err
    assert f"the root certificate at the end of {inter_dir}/chain.pem is not the root you expected" in r.err
    assert not (tmp_path / "w1").exists()

    # trusted: a root the folder does not chain to (the intermediate itself)
    r = cli("init", tmp_path / "w2", "--plan", plan, "--previous", inter_dir, "--trusted", inter_dir / "ca.pem")
    assert r.code == 3, r.err
    assert f"{inter_dir}/chain.pem's root is not the CA certificate in {inter_dir}/ca.pem" in r.err
    assert not (tmp_path / "w2").exists()

    # without a pin: trust on first use, said with the ROOT's words
    r = cli("init", tmp_path / "w3", "--plan", plan, "--previous", inter_dir)
    assert r.code == 0, r.err
    assert f"the root certificate in {inter_dir} was trusted on first use" in r.out + r.err

    # a chain.pem changed after publication: its digest is not the one ca.json lists (exit 3)
    copy = tmp_path / "copy"
    shutil.copytree(inter_dir, copy)
    (copy / "chain.pem").write_bytes((root_dir / "ca.pem").read_bytes() + b"\n")
    r = cli("init", tmp_path / "w4", "--plan", plan, "--previous", copy)
    assert r.code == 3, r.err
    assert f"{copy}/chain.pem is not the file ca.json lists" in r.err
    assert not (tmp_path / "w4").exists()

    # a chain.pem listed with its digest but naming another root: the link does not verify (exit 3)
    other = tmp_path / "other"
    shutil.copytree(inter_dir, other)
    (other / "chain.pem").write_bytes((inter_dir / "ca.pem").read_bytes())
    state = json.loads((other / "ca.json").read_text())
    state["files"]["chain.pem"] = hashlib.sha256((other / "chain.pem").read_bytes()).hexdigest()
    (other / "ca.json").write_text(json.dumps(state))
    r = cli("init", tmp_path / "w5", "--plan", plan, "--previous", other)
    assert r.code == 3, r.err
    assert f"{other}/ca.pem was not issued by certificate 1 of chain.pem" in r.err
    assert not (tmp_path / "w5").exists()
