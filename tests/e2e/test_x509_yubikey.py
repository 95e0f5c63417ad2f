"""The CA key of an X.509 root CA born in a YubiKey's PIV slot 9c (a virtual card behind the real
pcscd, libykcs11 and yubikit: tests/support/vpiv), its attestation verified at keygen and kept
with the key; approvers on SoftHSM tokens; the root certificate signed on the card through ykcs11
and verified by openssl."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.conftest import SoftHsm
from tests.support.helpers import cli
from tests.support.plans import Keyholder, Plan
from tests.support.vpiv.attestation_ca import default_ca
from tests.support.vpiv.card import VirtualYubiKey
from tests.support.vpiv.fixtures import PIN, PUK, pcsc, ykcs11, yubikey  # noqa: F401
from tests.support.x509_ceremony import (
    APPROVERS,
    CA,
    INTERMEDIATE_SUBJECT,
    LEAF_SUBJECT,
    NOTATION_TABLE,
    ROOT_SUBJECT,
    ROOT_TABLE,
    issue_table,
    make_csr,
    openssl,
    publish_root,
    run,
)

ISSUE_INTERMEDIATE = f"""[x509]
operation = "intermediate"
ca = "{CA}"
intermediate = "ica"
[x509.profile]
kind = "intermediate"
subject = "{INTERMEDIATE_SUBJECT}"
not_before = "2026-01-01T00:00:00Z"
not_after = "2031-01-01T00:00:00Z"
path_length = 0
"""


def test_a_root_ca_key_in_a_yubikey_keeps_its_attestation(
        hsm: SoftHsm, tmp_path: Path, yubikey: VirtualYubiKey) -> None:  # noqa: F811
    pin, puk, roots = tmp_path / "yk-pin", tmp_path / "yk-puk", tmp_path / "roots.pem"
    pin.write_text(PIN + "\n")
    puk.write_text(PUK + "\n")
    for f in (pin, puk):
        os.chmod(f, 0o600)
    roots.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in default_ca().roots))
    hsm.make(*[f"x509-{k}" for k in APPROVERS])
    holders = [*(Keyholder(k, token=f"x509-{k}") for k in APPROVERS),
               Keyholder(CA, device="yubikey", serial=str(yubikey.serial), touch="cached")]
    plan = Plan("acme-root-yk", holders, 2, {}, repository="acme-signing", format="x509",
                root_expires="30d", tail=ROOT_TABLE + NOTATION_TABLE).write(tmp_path / "plan" / "plan.toml")
    ws = tmp_path / "ws"
    assert cli("init", ws, "--plan", plan).code == 0
    for k in APPROVERS:
        r = cli("keygen", ws, "--keyholder", k, "--pin-file", hsm.pin_file)
        assert r.code == 0, r.err
    r = cli("keygen", ws, "--keyholder", CA, "--provision", "--confirm-serial", str(yubikey.serial),
            "--new-pin-file", pin, "--new-puk-file", puk, "--attestation-roots", roots)
    assert r.code == 0, r.err
    assert r.out.splitlines()[0].startswith(f"{CA}: ecdsa-p256 key in slot 9c of YubiKey {yubikey.serial} "
                                            "(provisioned now), attested:")
    assert cli("draft", ws).code == 0
    run(ws, hsm, "alice", "bob")
    r = cli("sign", ws, "--keyholder", CA, "--pin-file", pin)
    assert r.code == 0, r.err
    assert r.out.splitlines()[0] == f"{CA} signed root v1 with YubiKey {yubikey.serial}"
    r = cli("publish", ws)
    assert r.code == 0, r.err

    ca_pem = ws / "metadata" / "ca.pem"
    cert = x509.load_pem_x509_certificate(ca_pem.read_bytes())
    assert cert.subject.rfc4514_string() == ROOT_SUBJECT
    v = openssl("verify", "-CAfile", ca_pem, ca_pem)
    assert v.returncode == 0, v.stdout + v.stderr
    # the attestation travels with the CA key: in the CA's state for the next ceremony
    state = json.loads((ws / "metadata" / "ca.json").read_text())
    entry = state["keys"][state["ca_key"]]
    assert entry["x-ceremony-device"] == "yubikey" and entry["x-ceremony-token-serial"] == str(yubikey.serial)
    att = entry["x-ceremony-attestation"]
    assert att["type"] == "yubikey-piv" and att["slot"] == "9c" and len(att["certificates"]) == 2
    r = cli("record", "verify", ws, "--allow-unsealed")
    assert r.code == 0, r.out + r.err
    assert f"ca's key was generated on YubiKey {yubikey.serial}" in r.out  # re-checked offline


def test_an_intermediate_ca_key_born_in_a_yubikey_keeps_its_attestation_and_signs_a_leaf(
        hsm: SoftHsm, tmp_path: Path, yubikey: VirtualYubiKey) -> None:  # noqa: F811
    pin, puk, roots = tmp_path / "yk-pin", tmp_path / "yk-puk", tmp_path / "roots.pem"
    pin.write_text(PIN + "\n")
    puk.write_text(PUK + "\n")
    for f in (pin, puk):
        os.chmod(f, 0o600)
    roots.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in default_ca().roots))
    root_dir = publish_root(hsm, tmp_path)  # the root CA on SoftHSM
    ica = Keyholder("ica", device="yubikey", serial=str(yubikey.serial), touch="cached")
    holders = [*(Keyholder(k, token=f"x509-{k}") for k in (*APPROVERS, CA)), ica]
    plan = Plan("acme-ica-yk", holders, 2, {}, repository="acme-signing", format="x509",
                root_expires="30d", tail=ISSUE_INTERMEDIATE).write(tmp_path / "ica-plan" / "plan.toml")
    ws = tmp_path / "ica-ws"
    r = cli("init", ws, "--plan", plan, "--previous", root_dir)
    assert r.code == 0, r.err
    r = cli("keygen", ws, "--keyholder", "ica", "--provision", "--confirm-serial", str(yubikey.serial),
            "--new-pin-file", pin, "--new-puk-file", puk, "--attestation-roots", roots)
    assert r.code == 0, r.err
    assert cli("draft", ws).code == 0
    run(ws, hsm, "alice", "bob", CA)  # the ROOT CA key (SoftHSM) certifies the card's key
    r = cli("publish", ws)
    assert r.code == 0, r.err
    inter_dir = ws / "metadata"
    state = json.loads((inter_dir / "ca.json").read_text())
    entry = state["keys"][state["ca_key"]]
    assert entry["x-ceremony-keyholder"] == "ica" and entry["x-ceremony-device"] == "yubikey"
    assert entry["x-ceremony-attestation"]["slot"] == "9c"
    r = cli("record", "verify", ws, "--allow-unsealed")
    assert r.code == 0, r.out + r.err
    assert f"ica's key was generated on YubiKey {yubikey.serial}" in r.out

    # the intermediate's key on the card signs a code-signing leaf (key kept from ca.json)
    (tmp_path / "leaf-plan").mkdir()
    make_csr(tmp_path / "leaf-plan" / "leaf.csr", LEAF_SUBJECT)
    holders = [*(Keyholder(k, token=f"x509-{k}") for k in APPROVERS), ica]
    leaf_table = issue_table("leaf", LEAF_SUBJECT, "leaf.csr").replace(f'ca = "{CA}"', 'ca = "ica"')
    plan = Plan("acme-leaf-yk", holders, 2, {}, repository="acme-signing", format="x509",
                root_expires="30d", tail=leaf_table).write(tmp_path / "leaf-plan" / "plan.toml")
    leaf_ws = tmp_path / "leaf-ws"
    r = cli("init", leaf_ws, "--plan", plan, "--previous", inter_dir, "--trusted", root_dir / "ca.pem")
    assert r.code == 0, r.err
    assert cli("draft", leaf_ws).code == 0, "the card's key is kept, not made again"
    run(leaf_ws, hsm, "alice", "carol")
    r = cli("sign", leaf_ws, "--keyholder", "ica", "--pin-file", pin)
    assert r.code == 0, r.err
    r = cli("publish", leaf_ws)
    assert r.code == 0, r.err
    [leaf] = sorted((leaf_ws / "metadata").glob("issued-*.pem"))
    v = openssl("verify", "-CAfile", root_dir / "ca.pem", "-untrusted", inter_dir / "ca.pem", leaf)
    assert v.returncode == 0, v.stdout + v.stderr
