"""End to end: roots built here, accepted (or refused) by the real notary client and server.

The root key is a software key whose callback returns raw r||s (P-256/P-384) or PKCS#1 v1.5
(RSA), standing in for the token; everything else is the code under test: the certificate, key
ids, canonical JSON, the wire form, the server keys fetched online, the tagging key handed to a
publisher, the re-signed targets.json, and the single multipart upload.
"""

from __future__ import annotations

import json
import stat
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ceremony.errors import RemoteError, VerificationError, WorkspaceError
from ceremony.formats.notary_json import (
    Signature,
    assert_reserializes,
    canonical_bytes,
    parse,
    serialize,
)
from ceremony.formats.notary_keys import entry_key_id, signature_problem, x509_key_entry
from ceremony.formats.notary_root import build_root
from ceremony.formats.notary_x509 import build_root_certificate, root_certificate_problems
from ceremony.online.notary import (
    NotaryServer,
    fetch_metadata,
    fetch_server_key,
    generate_tagging_key,
    initial_targets,
    publish,
    resign_targets,
    tagging_key_entry,
    write_tagging_key,
)
from tests.support.notary_fixtures import software_sign_raw
from tests.support.notary_harness import NotaryStack, free_port

pytestmark = pytest.mark.notary

TEN_YEARS = timedelta(days=3650)


@dataclass
class RootKey:
    """A stand-in for one token key: its private half never goes anywhere but ``sign``."""

    private: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    certificate: x509.Certificate
    entry: dict[str, Any]
    keyid: str

    def sign(self, payload: bytes) -> Signature:
        if isinstance(self.private, ec.EllipticCurvePrivateKey):
            return Signature(self.keyid, "ecdsa", software_sign_raw(self.private)(payload))
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        return Signature(self.keyid, "rsapss", self.private.sign(payload, pss, hashes.SHA256()))


def make_root_key(
    gun: str, kind: str = "p256", *, now: datetime | None = None, cn: str | None = None
) -> RootKey:
    private: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if kind == "rsa":
        private = rsa.generate_private_key(65537, 2048)
        rsa_key = private

        def sign_raw(message: bytes) -> bytes:
            return rsa_key.sign(message, padding.PKCS1v15(), hashes.SHA256())

    else:
        private = ec.generate_private_key(ec.SECP384R1() if kind == "p384" else ec.SECP256R1())
        sign_raw = software_sign_raw(private)
    certificate = build_root_certificate(cn or gun, private.public_key(), sign_raw, now=now)
    entry = x509_key_entry(certificate)
    return RootKey(private, certificate, entry, entry_key_id(entry))


def root_signed(
    *,
    version: int,
    root_keys: list[RootKey],
    others: dict[str, dict[str, Any]],
    threshold: int = 1,
) -> dict[str, Any]:
    """root.json ``signed`` as the ceremony drafts it (``notary_root.build_root``)."""
    return build_root(
        version=version,
        expires=datetime.now(UTC).replace(microsecond=0) + TEN_YEARS,
        root_keys=[key.entry for key in root_keys],
        root_threshold=threshold,
        online={role: ([entry], 1) for role, entry in others.items()},
    )


def sign_wire(signed: dict[str, Any], signers: list[RootKey]) -> bytes:
    payload = canonical_bytes(signed)
    wire = serialize(signed, [key.sign(payload) for key in signers])
    assert_reserializes(wire)
    return wire


@dataclass
class Collection:
    gun: str
    server: NotaryServer
    root_key: RootKey
    tagging: ec.EllipticCurvePrivateKey
    others: dict[str, dict[str, Any]]
    root: bytes
    work: Path


def bootstrap(stack: NotaryStack, gun: str, work: Path, kind: str = "p256") -> Collection:
    """The offline init as the ceremony does it: one root signature, root+targets in one POST."""
    server = NotaryServer(stack.url, stack.ca_file)
    root_key = make_root_key(gun, kind)
    tagging = generate_tagging_key()
    others = {
        "targets": tagging_key_entry(tagging),
        "snapshot": fetch_server_key(server, gun, "snapshot"),
        "timestamp": fetch_server_key(server, gun, "timestamp"),
    }
    signed = root_signed(version=1, root_keys=[root_key], others=others)
    root = sign_wire(signed, [root_key])
    publish(server, gun, {"root": root, "targets": initial_targets(tagging)})
    (work / "hello.txt").write_text("hello world\n")
    return Collection(gun, server, root_key, tagging, others, root, work)


def lists(stack: NotaryStack, trust_dir: Path, gun: str, *extra: str) -> str:
    return stack.notary(trust_dir, *extra, "list", gun).check().stdout


# --------------------------------------------------------------------------- accepted


@pytest.mark.parametrize("kind", ["p256", "p384", "rsa"])
def test_offline_root_is_trusted_and_publisher_uses_handed_over_key(
    notary_stack: NotaryStack, tmp_path: Path, kind: str
) -> None:
    gun = f"example.com/offline/{kind}"
    collection = bootstrap(notary_stack, gun, tmp_path, kind)
    assert root_certificate_problems([collection.root_key.certificate], gun) == []
    assert fetch_metadata(collection.server, gun, "root") == collection.root

    # TOFU: a fresh trust dir accepts the root.
    assert "No targets present in this repository." in lists(notary_stack, tmp_path / "fresh", gun)

    # The publisher holds only the tagging key, handed over as PKCS#8 PEM with headers.
    pem = tmp_path / "targets.pem"
    keyid = write_tagging_key(pem, collection.tagging, gun)
    assert keyid == entry_key_id(collection.others["targets"])
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert pem.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\ngun: " + gun.encode())
    with pytest.raises(WorkspaceError):
        write_tagging_key(pem, collection.tagging, gun)
    publisher = tmp_path / "publisher"
    notary_stack.notary(publisher, "key", "import", str(pem)).check()
    assert keyid in notary_stack.notary(publisher, "key", "list").check().stdout
    added = notary_stack.notary(
        publisher, "add", gun, "v1", str(tmp_path / "hello.txt"), "--publish"
    ).check()
    assert f"Successfully published changes for repository {gun}" in added.stdout
    assert "v1" in lists(notary_stack, tmp_path / "fresh2", gun)


def test_tagging_key_rotation_root_and_targets_together(
    notary_stack: NotaryStack, tmp_path: Path
) -> None:
    gun = "example.com/offline/rotate-tagging"
    c = bootstrap(notary_stack, gun, tmp_path)
    old_pem, new_pem = tmp_path / "old.pem", tmp_path / "new.pem"
    write_tagging_key(old_pem, c.tagging, gun)
    publisher, old_client = tmp_path / "publisher", tmp_path / "old-client"
    notary_stack.notary(publisher, "key", "import", str(old_pem)).check()
    hello = str(tmp_path / "hello.txt")
    notary_stack.notary(publisher, "add", gun, "v1", hello, "--publish").check()
    assert "v1" in lists(notary_stack, old_client, gun)  # caches root v1

    new_tagging = generate_tagging_key()
    others = {**c.others, "targets": tagging_key_entry(new_tagging)}
    root2 = sign_wire(
        root_signed(version=2, root_keys=[c.root_key], others=others), [c.root_key]
    )
    current_targets = fetch_metadata(c.server, gun, "targets")
    assert current_targets is not None
    targets2 = resign_targets(current_targets, new_tagging)
    old, new = parse(current_targets).signed, parse(targets2).signed
    assert new["version"] == old["version"] + 1
    assert (new["targets"], new["delegations"]) == (old["targets"], old["delegations"])

    # The trap: a root that swaps the tagging key alone is refused before anything is sent.
    with pytest.raises(VerificationError) as raised:
        publish(c.server, gun, {"root": root2})
    assert raised.value.message == (
        "refusing to upload a root that changes the targets key without a targets.json signed "
        "by the new key: every client would fail with 'valid signatures did not meet threshold "
        "for targets'"
    )
    assert fetch_metadata(c.server, gun, "root") == c.root

    publish(c.server, gun, {"root": root2, "targets": targets2})
    assert "v1" in lists(notary_stack, old_client, gun)
    assert "v1" in lists(notary_stack, tmp_path / "fresh", gun)

    refused = notary_stack.notary(
        publisher, "add", gun, "v2", str(tmp_path / "hello.txt"), "--publish"
    )
    new_id = entry_key_id(tagging_key_entry(new_tagging))
    assert refused.rc != 0
    assert (
        "could not find necessary signing keys, at least one of these keys must be available: "
        + new_id
    ) in refused.stderr
    write_tagging_key(new_pem, new_tagging, gun)
    notary_stack.notary(publisher, "key", "import", str(new_pem)).check()
    notary_stack.notary(publisher, "publish", gun).check()
    assert "v2" in lists(notary_stack, old_client, gun)


def test_root_key_rotation_walked_by_a_client_at_v1(
    notary_stack: NotaryStack, tmp_path: Path
) -> None:
    gun = "example.com/offline/rotate-root"
    c = bootstrap(notary_stack, gun, tmp_path)
    old_client = tmp_path / "old-client"
    lists(notary_stack, old_client, gun)  # trusts root v1

    second, third = make_root_key(gun), make_root_key(gun, "p384")
    # Signed only by the new key: refused by the server with notary's message.
    only_new = sign_wire(
        root_signed(version=2, root_keys=[second], others=c.others),
        [second],
    )
    with pytest.raises(RemoteError) as raised:
        publish(c.server, gun, {"root": only_new})
    assert (
        "could not rotate trust to a new trusted root: failed to validate data with current "
        "trusted certificates"
    ) in raised.value.message

    v2 = root_signed(version=2, root_keys=[second], others=c.others)
    publish(c.server, gun, {"root": sign_wire(v2, [second, c.root_key])})
    v3 = root_signed(version=3, root_keys=[third], others=c.others)
    publish(c.server, gun, {"root": sign_wire(v3, [third, second])})

    walked = notary_stack.notary(old_client, "-D", "list", gun).check()
    for version in (2, 3):
        assert f"successfully verified downloaded {version}.root" in walked.stderr
    for version in (1, 2, 3):
        served = fetch_metadata(c.server, gun, "root", version=version)
        assert served is not None and parse(served).signed["version"] == version
    assert "No targets present" in lists(notary_stack, tmp_path / "fresh", gun)


def test_trust_pinning_on_the_certificate_id(notary_stack: NotaryStack, tmp_path: Path) -> None:
    gun = "example.com/offline/pinned"
    c = bootstrap(notary_stack, gun, tmp_path)
    for name, keyid, ok in (("good", c.root_key.keyid, True), ("bad", "0" * 64, False)):
        config = tmp_path / f"{name}.json"
        config.write_text(json.dumps({"trust_pinning": {"certs": {gun: [keyid]}}}))
        result = notary_stack.notary(tmp_path / name, "-c", str(config), "list", gun)
        assert (result.rc == 0) is ok, result
        if not ok:
            assert (
                "could not validate the path to a trusted root: unable to match any "
                "certificates to trust_pinning config"
            ) in result.stdout + result.stderr


# --------------------------------------------------------------------------- refused


def _bootstrap_variant(
    stack: NotaryStack, gun: str, root_key: RootKey, *, tamper: bool = False
) -> bytes:
    server = NotaryServer(stack.url, stack.ca_file)
    tagging = generate_tagging_key()
    others = {
        "targets": tagging_key_entry(tagging),
        "snapshot": fetch_server_key(server, gun, "snapshot"),
        "timestamp": fetch_server_key(server, gun, "timestamp"),
    }
    signed = root_signed(version=1, root_keys=[root_key], others=others)
    signatures = [root_key.sign(canonical_bytes(signed))]
    if tamper:
        signed["roles"]["root"]["threshold"] = 2
    return serialize(signed, signatures)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        (
            "cn-not-gun",
            "could not validate the path to a trusted root: unable to retrieve valid leaf "
            "certificates",
        ),
        (
            "expired",
            "could not validate the path to a trusted root: unable to retrieve valid leaf "
            "certificates",
        ),
        (
            "tampered",
            "could not validate the path to a trusted root: failed to validate integrity of roots",
        ),
    ],
)
def test_server_refusals_carry_notarys_message(
    notary_stack: NotaryStack, case: str, message: str
) -> None:
    gun = f"example.com/offline/refused-{case}"
    if case == "cn-not-gun":
        key = make_root_key(gun, cn="example.com/someone-else")
    elif case == "expired":
        key = make_root_key(gun, now=datetime.now(UTC) - TEN_YEARS - timedelta(days=1))
        assert root_certificate_problems([key.certificate], gun)[0].startswith(
            "the certificate expired at "
        )
    else:
        key = make_root_key(gun)
    root = _bootstrap_variant(notary_stack, gun, key, tamper=case == "tampered")
    server = NotaryServer(notary_stack.url, notary_stack.ca_file)
    with pytest.raises(RemoteError) as raised:
        publish(server, gun, {"root": root})
    assert raised.value.message == (
        f"notary server refused the upload of root for {gun}: HTTP 400: {message} [INVALID_UPDATE]"
    )
    assert fetch_metadata(server, gun, "root") is None


def test_version_refusals(notary_stack: NotaryStack, tmp_path: Path) -> None:
    gun = "example.com/offline/versions"
    c = bootstrap(notary_stack, gun, tmp_path)
    with pytest.raises(RemoteError) as raised:
        publish(c.server, gun, {"root": c.root})
    assert raised.value.message == (
        f"notary server refused the upload of root for {gun}: HTTP 400: A newer version of "
        "metadata is already available. [VERSION]"
    )
    v3 = sign_wire(
        root_signed(version=3, root_keys=[c.root_key], others=c.others), [c.root_key]
    )
    with pytest.raises(RemoteError) as raised:
        publish(c.server, gun, {"root": v3})
    assert raised.value.message.endswith(
        "HTTP 400: Root modifications must increment the version. Current 1, new 3 [INVALID_UPDATE]"
    )


def test_self_check_blocks_upload_of_non_go_bytes(
    notary_stack: NotaryStack, tmp_path: Path
) -> None:
    gun = "example.com/offline/not-go"
    c = bootstrap(notary_stack, gun, tmp_path)
    pretty = json.dumps(json.loads(c.root), indent=2).encode()
    with pytest.raises(VerificationError) as raised:
        publish(c.server, gun, {"root": pretty})
    assert raised.value.message.startswith(
        "refusing to upload root: metadata is not in notary's byte-exact form"
    )


def test_unreachable_server_is_a_remote_error() -> None:
    server = NotaryServer(f"https://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(RemoteError) as raised:
        fetch_server_key(server, "example.com/app", "timestamp")
    assert raised.value.message.startswith(f"cannot reach the notary server at {server.url}: ")


def test_signature_checker_agrees_with_the_client(
    notary_stack: NotaryStack, tmp_path: Path
) -> None:
    c = bootstrap(notary_stack, "example.com/offline/sigcheck", tmp_path)
    document = parse(c.root)
    (signature,) = document.signatures
    assert signature_problem(c.root_key.entry, signature, document.payload) is None
    flipped_sig = bytes([signature.sig[0] ^ 1]) + signature.sig[1:]
    flipped = Signature(signature.keyid, signature.method, flipped_sig)
    assert signature_problem(c.root_key.entry, flipped, document.payload) == (
        "signature does not verify over the canonical signed bytes"
    )
    der = Signature(signature.keyid, "ecdsa", b"\x30" * 70)
    assert signature_problem(c.root_key.entry, der, document.payload) == (
        "ecdsa signature is 70 bytes; notary expects raw r||s of 64 bytes for this curve "
        "(DER is refused)"
    )


def test_root_threshold_above_one_is_honoured(notary_stack: NotaryStack, tmp_path: Path) -> None:
    # Facts for the ceremony's threshold support: notary counts distinct valid root keys.
    server = NotaryServer(notary_stack.url, notary_stack.ca_file)
    integrity = (
        "could not validate the path to a trusted root: failed to validate integrity of roots"
    )
    rotate = (
        "could not rotate trust to a new trusted root: failed to validate data with current "
        "trusted certificates"
    )
    for signers, refusal in ((1, integrity), (2, None)):
        gun = f"example.com/offline/threshold-{signers}"
        keys = [make_root_key(gun) for _ in range(3)]
        tagging = generate_tagging_key()
        others = {
            "targets": tagging_key_entry(tagging),
            "snapshot": fetch_server_key(server, gun, "snapshot"),
            "timestamp": fetch_server_key(server, gun, "timestamp"),
        }
        signed = root_signed(version=1, root_keys=keys, others=others, threshold=2)
        files = {"root": sign_wire(signed, keys[:signers]), "targets": initial_targets(tagging)}
        if refusal:
            with pytest.raises(RemoteError) as raised:
                publish(server, gun, files)
            assert refusal in raised.value.message
            continue
        publish(server, gun, files)
        client = tmp_path / "client"
        assert "No targets present" in lists(notary_stack, client, gun)
        signed = root_signed(version=2, root_keys=keys, others=others, threshold=2)
        with pytest.raises(RemoteError) as raised:
            publish(server, gun, {"root": sign_wire(signed, keys[:1])})
        assert rotate in raised.value.message
        publish(server, gun, {"root": sign_wire(signed, [keys[0], keys[2]])})
        walked = notary_stack.notary(client, "-D", "list", gun).check()
        # The client fetches the new root by checksum and checks it against the cached v1.
        assert "200 when retrieving metadata for root." in walked.stderr
        assert walked.stderr.count("root validation succeeded") >= 3
        assert "No targets present" in walked.stdout
