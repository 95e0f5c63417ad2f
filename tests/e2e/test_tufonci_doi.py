"""Issue 15's DOI-shaped repository under ``compat = "tuf-on-ci"`` (root 3/5, offline targets
2/4, terminating delegations doi 2/7, testing 2/4, rekor 2/4 with policy and key files as
targets; snapshot and timestamp online on one KMS key named by its URI), made on SoftHSM from
the ``doi`` scenario's plan, then continued by the real ``tuf-on-ci-sign``: a signing event adds
a policy to ``doi``, and two of its signers (alice, then bob) each sign it with their SoftHSM
key from their own run of the tool; python-tuf's ngclient and tuf-js download the new policy
through ``doi`` v2 and an untouched delegation's target beside it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tuf.api.metadata import Key, Metadata, Root, Targets

from ceremony.engine import Ceremony
from ceremony.formats import tuf_layout
from ceremony.rehearse import DOI_HOLDERS, write_doi_plan
from tests.conftest import SoftHsm
from tests.support.clients import both_clients_accept
from tests.support.helpers import make_online_keys
from tests.support.tuf_repo import serve
from tests.support.tufonci import (
    KMS,
    as_piv_9c,
    git,
    publish_online,
    seed_repository,
    sign_on_softhsm,
    targets_signing_event,
)

EVENT = "sign/doi-policy"
NEW_POLICY = b'{"role": "doi", "allow": ["docker.io/library/*", "docker.io/docker/*"]}\n'


def _compat_doi_plan(tmp: Path) -> Path:
    """The doi scenario's plan made tuf-on-ci's: compat, one online key for snapshot and
    timestamp, named by its KMS URI."""
    plan = tmp / "plan-doi.toml"
    write_doi_plan(plan, "ecdsa-p256", tmp / "online")
    text = plan.read_text().replace("rehearsal = true\n", 'rehearsal = true\ncompat = "tuf-on-ci"\n')
    text = re.sub(r'keys = \["online/(snapshot|timestamp)\.pub\.pem"\]',
                  f'keys = ["online/online.pub.pem"]\nuris = ["{KMS}"]', text)
    assert text.count(KMS) == 2
    plan.write_text(text)
    return plan


def _ceremony(hsm: SoftHsm, tmp: Path) -> Path:
    make_online_keys(hsm, tmp / "online", roles=("online",))
    hsm.make(*[f"rehearsal-{k}" for k in DOI_HOLDERS])
    ws = tmp / "ws"
    c = Ceremony.init(ws, _compat_doi_plan(tmp))
    for k in c.plan.signers:
        c.keygen(k, hsm.module, hsm.pin)
    c.draft()
    for k in DOI_HOLDERS:
        if c.status().verified:
            break
        c.sign(k, hsm.module, hsm.pin)
    c.publish()
    c.close()
    return ws


def _signing_event(clone: Path) -> None:
    """doi v2 with a new policy, as tuf-on-ci leaves a changed role for its signers (here and in
    tests/e2e/test_doi_done.py)."""
    targets_signing_event(clone, EVENT, "doi", "doi/policy-2.json", NEW_POLICY, "doi v2: a new policy")


def _doi_key(targets: Targets, owner: str) -> tuple[str, Key]:
    """``owner``'s doi key: (key id, key)."""
    assert targets.delegations and targets.delegations.keys is not None
    (keyid,) = [k for k, key in targets.delegations.keys.items()
                if key.unrecognized_fields["x-tuf-on-ci-keyowner"] == owner]
    return keyid, targets.delegations.keys[keyid]


def test_doi_repository_continued_by_two_tuf_on_ci_signers(hsm: SoftHsm, tmp_path: Path) -> None:
    ws = _ceremony(hsm, tmp_path)
    files = tuf_layout.repository_files(ws / "metadata")
    assert sorted(files) == ["metadata/doi.json", "metadata/rekor.json", "metadata/root.json",
                             "metadata/root_history/1.root.json", "metadata/targets.json",
                             "metadata/testing.json"]
    root_json = json.loads(files["metadata/root.json"])["signed"]
    assert root_json["roles"]["snapshot"]["keyids"] == root_json["roles"]["timestamp"]["keyids"]
    targets = Metadata.from_bytes(files["metadata/targets.json"]).signed
    assert isinstance(targets, Targets)

    clone, bare = seed_repository(tmp_path / "git", files)
    _signing_event(clone)
    home = tmp_path / "home"
    home.mkdir()
    for signer in ("alice", "bob"):
        keyid, key = _doi_key(targets, f"@{signer}")
        run = sign_on_softhsm(hsm, clone, EVENT, signer, home, {keyid: as_piv_9c(hsm, key)})
        assert "Your signature is requested for role(s) {'doi'}" in run.stdout, run.stdout
        assert " * New artifact 'doi/policy-2.json'" in run.stdout

    signed = tmp_path / "signed"
    git(tmp_path, "clone", "--quiet", "--branch", EVENT, str(bare), str(signed))
    doi = Metadata.from_bytes((signed / "metadata" / "doi.json").read_bytes())
    assert doi.signed.version == 2
    targets.verify_delegate("doi", doi.signed_bytes, doi.signatures)  # 2 of 7: alice and bob
    assert sum(1 for s in doi.signatures.values() if s.signature) == 2

    v1 = files["metadata/root.json"]
    root = Metadata.from_bytes(v1).signed
    assert isinstance(root, Root)
    site = tmp_path / "site"
    (site / "metadata").mkdir(parents=True)
    (site / "metadata" / "1.root.json").write_bytes(v1)
    online = hsm.module.open_key(hsm.module.find_token(label="online"), hsm.pin, "ecdsa-p256", b"online")
    publish_online(site, root, online,
                   {r: (signed / "metadata" / f"{r}.json").read_bytes()
                    for r in ("targets", "doi", "testing", "rekor")},
                   {"doi/policy-2.json": NEW_POLICY,
                    "rekor/rekor.pub": (tmp_path / "rekor" / "rekor.pub").read_bytes()})
    with serve(site) as url:
        both_clients_accept(url, tmp_path / "clients", v1, 1, NEW_POLICY, "doi/policy-2.json")
        both_clients_accept(url, tmp_path / "clients-rekor", v1, 1,
                            (tmp_path / "rekor" / "rekor.pub").read_bytes(), "rekor/rekor.pub")
