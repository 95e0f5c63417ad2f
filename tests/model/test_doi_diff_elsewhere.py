"""The draft's changes for delegations to keys held elsewhere (``keys = [...]`` in the plan:
the ceremony lists them in targets and never signs their metadata): a key added or removed,
the threshold and paths changed, such a delegation added or removed, each said in words
like a delegation signed here; their target files are not the ceremony's and are not diffed."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key
from securesystemslib.signer import CryptoSigner, SSlibKey
from tuf.api.metadata import Metadata, Targets
from tuf.api.serialization.json import JSONSerializer

from tests.conftest import SoftHsm
from tests.e2e.test_roles_rotation import HOLDERS, ceremony
from tests.support.helpers import make_online_keys
from tests.support.roles import Role, RolesPlan


def _pem(path: Path) -> ec.EllipticCurvePrivateKey:
    """A key held elsewhere: its public half written to ``path`` for the plan."""
    private = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    return private


def _signed_elsewhere(meta: Path, name: str, private: ec.EllipticCurvePrivateKey) -> None:
    """``1.NAME.json`` as its holders publish it, signed with their key under the id targets
    gives it (the previous repository holds it, and init verifies it)."""
    targets = Metadata[Targets].from_bytes((meta / "1.targets.json").read_bytes()).signed
    assert targets.delegations is not None and targets.delegations.roles is not None
    pem = private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    public = SSlibKey.from_crypto(load_pem_public_key(pem))
    (keyid,) = [k for k in targets.delegations.roles[name].keyids
                if targets.delegations.keys[k].keyval == public.keyval]
    md = Metadata(Targets(version=1, expires=targets.expires))
    md.sign(CryptoSigner(private, targets.delegations.keys[keyid]))  # type: ignore[arg-type]
    (meta / f"1.{name}.json").write_bytes(md.to_bytes(JSONSerializer()))


def _elsewhere(name: str, keys: list[Path], threshold: int, paths: list[str]) -> Role:
    listed = ", ".join(f'"{k}"' for k in keys)
    return Role(name, [], threshold, "60d", paths=paths, terminating=True, extra=f"keys = [{listed}]")


def test_changes_of_delegations_held_elsewhere_are_in_the_draft(hsm: SoftHsm, tmp_path: Path) -> None:
    hsm.make(*HOLDERS.values())
    d = tmp_path / "plan"
    make_online_keys(hsm, d / "online", roles=("snapshot", "timestamp"))
    (d / "doi").mkdir(parents=True)
    (d / "doi" / "policy.json").write_text('{"v": 1}\n')
    k1, _k2, k3 = (_pem(d / f"partner-{i}.pub.pem") for i in (1, 2, 3))
    p1, p2, p3 = (d / f"partner-{i}.pub.pem" for i in (1, 2, 3))
    doi = Role("doi", ["bob"], 1, paths=["doi/*"], terminating=True, targets=["doi/policy.json"])
    v1 = RolesPlan("v1", HOLDERS, ["alice", "bob"], 1, d / "online", Role("targets", ["alice"], 1),
                   [doi, _elsewhere("partner", [p1], 1, ["partner/*"]),
                    _elsewhere("legacy", [p3], 1, ["legacy/*"])])
    ceremony(hsm, tmp_path / "ws1", v1.write(d / "v1.toml"), holders=("alice", "bob"))
    _signed_elsewhere(tmp_path / "ws1" / "metadata", "partner", k1)
    _signed_elsewhere(tmp_path / "ws1" / "metadata", "legacy", k3)

    v2 = RolesPlan("v2", HOLDERS, ["alice", "bob"], 1, d / "online", Role("targets", ["alice"], 1),
                   [doi, _elsewhere("partner", [p1, p2], 2, ["partner/*", "vendor/*"]),
                    _elsewhere("newco", [p3], 1, ["newco/*"])])
    out = ceremony(hsm, tmp_path / "ws2", v2.write(d / "v2.toml"), tmp_path / "ws1", holders=("alice", "bob"))
    changes = out.split("changes:\n", 1)[1]
    v2_targets = Metadata[Targets].from_bytes((tmp_path / "ws2" / "metadata" / "2.targets.json").read_bytes())
    delegations = v2_targets.signed.delegations
    assert delegations is not None and delegations.roles is not None
    v1_ids = set(Metadata[Targets].from_bytes((tmp_path / "ws1" / "metadata" / "1.targets.json")
                                              .read_bytes()).signed.delegations.roles["partner"].keyids)  # type: ignore[union-attr]
    (added,) = set(delegations.roles["partner"].keyids) - v1_ids
    (newco,) = delegations.roles["newco"].keyids
    label = "delegation partner (keys held elsewhere)"
    for line in (f"{label}: + add key {added[:12]}", f"{label}: threshold 1 -> 2",
                 f"{label}: paths partner/* (terminating) -> partner/*, vendor/* (terminating)",
                 f"delegation newco (keys held elsewhere): + added (1 of key {newco[:12]})",
                 "delegation legacy (keys held elsewhere): - removed"):
        assert f"  {line}\n" in changes, changes
    assert "delegation doi" not in changes  # unchanged, signed here
    assert "target" not in changes.replace("(terminating)", "")  # their files are not ours to diff
