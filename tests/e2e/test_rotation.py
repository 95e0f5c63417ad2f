"""Root rotations as a table of cases (python-tuf's key-rotation tests are the model),
each run on SoftHSM and checked by two TUF clients nobody here wrote (python-tuf's ngclient and
tuf-js) walking every version."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from ceremony.errors import ThresholdError
from tests.conftest import SoftHsm
from tests.support.clients import both_clients_accept, both_clients_refuse
from tests.support.helpers import cli, make_online_keys, run_steps
from tests.support.plans import plan_toml
from tests.support.tuf_repo import publish_online, serve


@dataclass
class Version:
    """One root version: keyholder -> token, root members, threshold, who signs, what fails."""

    holders: dict[str, str]
    root: list[str]
    threshold: int
    signers: list[str]
    online: str = "a"  # which set of online keys ("a", "b", ...)
    refused: str = ""  # the threshold both clients must name when they refuse this version


T = {k: f"tok-{k}" for k in ("alice", "bob", "carol", "dave", "erin")}
NEW = {k: f"tok-{k}-2" for k in ("alice", "bob", "carol")}

# fmt: off
CASES = {
    "targets (tagging) key rotation": [
        Version(T, ["alice", "bob", "carol"], 2, ["alice", "bob"]),
        Version(T, ["alice", "bob", "carol"], 2, ["bob", "carol"], online="b"),
    ],
    "keyholder leaves, another joins": [
        Version(T, ["alice", "bob", "carol"], 2, ["alice", "bob"]),
        Version(T, ["alice", "bob", "dave"], 2, ["carol", "dave", "alice"]),
        Version(T, ["alice", "bob", "dave"], 2, ["dave", "bob"]),
    ],
    "threshold raised 2 -> 3": [
        Version(T, ["alice", "bob", "carol"], 2, ["alice", "bob"]),
        Version(T, ["alice", "bob", "carol"], 3, ["alice", "bob", "carol"]),
    ],
    "every root key replaced (firmware advisory)": [
        Version(T, ["alice", "bob", "carol"], 2, ["alice", "bob"]),
        Version(NEW, ["alice", "bob", "carol"], 2, ["alice", "bob"]),
    ],
    "refused: signed only by the new keys": [
        Version(T, ["alice", "bob", "carol"], 2, ["alice", "bob"]),
        Version({**T, "dave": "tok-dave", "erin": "tok-erin"}, ["dave", "erin"], 2,
                ["dave", "erin"], refused="root was signed by 0/2 keys"),
    ],
    "refused: signed only by the old keys": [
        Version(T, ["alice", "bob"], 1, ["alice"]),
        Version({**T, "dave": "tok-dave", "erin": "tok-erin"}, ["dave", "erin"], 2,
                ["alice", "dave"], refused="root was signed by 1/2 keys"),
    ],
}
# fmt: on


@pytest.mark.parametrize("case", list(CASES))
def test_rotation_case(hsm: SoftHsm, tmp_path: Path, case: str) -> None:
    versions = CASES[case]
    labels = sorted({t for v in versions for t in v.holders.values()})
    hsm.make(*labels)
    online = {s: make_online_keys(hsm, tmp_path / f"online-{s}", label=f"online-{s}")
              for s in sorted({v.online for v in versions})}
    repo = tmp_path / "repo"
    (repo / "metadata").mkdir(parents=True)
    previous: Path | None = None
    for n, v in enumerate(versions, start=1):
        plan = tmp_path / f"plan{n}.toml"
        paths = {r: [str(tmp_path / f"online-{v.online}" / f"{r}.pub.pem")]
                 for r in ("targets", "snapshot", "timestamp")}
        holders = {k: t for k, t in v.holders.items()}
        plan.write_text(plan_toml(f"v{n}", holders, v.root, v.threshold, paths))
        ws = tmp_path / f"ws{n}"
        if v.refused:
            c = run_steps(hsm, ws, plan, previous, v.signers, publish=False)
            with pytest.raises(ThresholdError, match=f"root v{n} cannot be published below threshold"):
                c.publish()
            # Served anyway, both clients refuse it just the same.
            shutil.copy(ws / "metadata" / "drafts" / f"{n}.root.json", repo / "metadata" / f"{n}.root.json")
            publish_online(repo, online[v.online].open(), version=n)
            with serve(repo) as url:
                both_clients_refuse(url, tmp_path / "client-refused",
                                    (repo / "metadata" / "1.root.json").read_bytes(),
                                    "UnsignedMetadataError", v.refused)
            # and so does `ceremony verify`, naming the threshold that is not met
            r = cli("verify", "--trusted", repo / "metadata" / "1.root.json", repo / "metadata")
            assert r.code == 3
            assert r.err.startswith(f"error: {n}.root.json is not signed at threshold: ")
            assert "waiting for" in r.err
            return
        run_steps(hsm, ws, plan, previous, v.signers)
        shutil.copy(ws / "metadata" / f"{n}.root.json", repo / "metadata" / f"{n}.root.json")
        previous = repo / "metadata"
        # Each published version is walked by a client bootstrapped from 1.root.json.
        publish_online(repo, online[v.online].open(), version=n)
        with serve(repo) as url:
            both_clients_accept(url, tmp_path / f"client{n}",
                                (repo / "metadata" / "1.root.json").read_bytes(), root_version=n)


def test_targets_signed_by_the_old_key_are_rejected_after_rotation(hsm: SoftHsm, tmp_path: Path) -> None:
    hsm.make("tok-alice")
    a = make_online_keys(hsm, tmp_path / "a", label="online-a")
    b = make_online_keys(hsm, tmp_path / "b", label="online-b")
    repo = tmp_path / "repo"
    (repo / "metadata").mkdir(parents=True)
    for n, keys in ((1, "a"), (2, "b")):
        paths = {r: [str(tmp_path / keys / f"{r}.pub.pem")] for r in ("targets", "snapshot", "timestamp")}
        plan = tmp_path / f"p{n}.toml"
        plan.write_text(plan_toml(f"v{n}", {"alice": "tok-alice"}, ["alice"], 1, paths))
        run_steps(hsm, tmp_path / f"ws{n}", plan, repo / "metadata" if n > 1 else None, ["alice"])
        shutil.copy(tmp_path / f"ws{n}" / "metadata" / f"{n}.root.json", repo / "metadata")
    bootstrap = (repo / "metadata" / "1.root.json").read_bytes()
    # targets signed by the old tagging key after the rotation: refused
    publish_online(repo, {**b.open(), "targets": a.open()["targets"]}, version=2)
    with serve(repo) as url:
        both_clients_refuse(url, tmp_path / "c1", bootstrap, "UnsignedMetadataError",
                            "targets was signed by 0/1 keys", tufjs_error="RuntimeError")
    # new keys: accepted
    publish_online(repo, b.open(), version=3)
    with serve(repo) as url:
        both_clients_accept(url, tmp_path / "c2", bootstrap, root_version=2)
