"""Test helpers: online keys on SoftHSM, a bootstrap setup, running the CLI in-process (plans
are written by tests/support/plans.py)."""

from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ceremony.cli import main
from ceremony.rehearse import keyholder_names
from hsm.pkcs11 import TokenKey
from tests.conftest import SoftHsm
from tests.support.plans import ONLINE_ROLES, plan_toml, rehearsal_plan


@dataclass
class Run:
    code: int
    out: str
    err: str


def cli(*args: str | Path) -> Run:
    """Run ``ceremony ARGS`` in this process (same PKCS#11 module and sessions)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in args])
    return Run(code, out.getvalue(), err.getvalue())


@dataclass
class Setup:
    plan: Path
    names: list[str]
    online_keys: OnlineKeys

    def online(self) -> dict[str, TokenKey]:
        """The online keys, opened afresh (each CLI run logs out, as a process would)."""
        return self.online_keys.open()


@dataclass
class OnlineKeys:
    hsm: SoftHsm
    label: str
    ids: dict[str, bytes]

    def open(self) -> dict[str, TokenKey]:
        token = self.hsm.module.find_token(label=self.label)
        return {role: self.hsm.module.open_key(token, self.hsm.pin, "ecdsa-p256", key_id)
                for role, key_id in self.ids.items()}


def make_online_keys(hsm: SoftHsm, directory: Path, label: str = "online",
                     roles: tuple[str, ...] = ONLINE_ROLES,
                     prefix: str = "") -> OnlineKeys:
    """Online keys on a SoftHSM token; their public PEMs in ``directory``."""
    if label not in [t.label for t in hsm.module.tokens()]:
        hsm.make(label)
    token = hsm.module.find_token(label=label)
    directory.mkdir(parents=True, exist_ok=True)
    ids = {}
    for role in roles:
        name = f"{prefix}{role}"
        tk = hsm.module.generate(token, hsm.pin, "ecdsa-p256", f"online-{name}", name.encode())
        (directory / f"{name}.pub.pem").write_bytes(
            tk.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
        ids[role] = name.encode()
    return OnlineKeys(hsm, label, ids)


def bootstrap_setup(hsm: SoftHsm, tmp: Path, n: int = 5, threshold: int = 3,
                    algorithm: str = "ecdsa-p256", rehearsal: bool = True) -> Setup:
    """Tokens for ``n`` keyholders, online keys, and a plan naming them."""
    names = keyholder_names(n)
    hsm.make(*[f"rehearsal-{k}" for k in names])
    online = make_online_keys(hsm, tmp / "plan" / "online")
    plan = rehearsal_plan(tmp / "plan" / "plan.toml", "test-ceremony", names, threshold, algorithm,
                          tmp / "plan" / "online", rehearsal=rehearsal)
    return Setup(plan, names, online)


def run_steps(hsm: SoftHsm, ws: Path, plan: Path, previous: Path | None,
              signers: list[str], publish: bool = True):
    """init → keygen (whoever needs it) → draft → sign → publish, through the engine."""
    from ceremony.engine import Ceremony
    c = Ceremony.init(ws, plan, previous)
    for k in c.plan.root.keyholders:
        if c.needs_key(k):
            c.keygen(k, hsm.module, hsm.pin)
    c.draft()
    for k in signers:
        c.sign(k, hsm.module, hsm.pin)
    if publish:
        c.publish()
    return c


def rewrite_journal(ws: Path, edit: Callable[[list[dict[str, Any]]], None]) -> None:
    """Rewrite a workspace's journal as an attacker with the whole folder would.

    ``edit`` changes the parsed lines in place; then every line's ``seq``, ``prev`` and
    ``hash`` are recomputed with ``ceremony.journal``'s own hashing, so the chain verifies
    again (``ceremony.journal.read`` accepts the result).
    """
    import json

    from ceremony.journal import GENESIS, _digest
    path = ws / "journal.jsonl"
    objs = [json.loads(x) for x in path.read_text().splitlines()]
    edit(objs)
    prev, out = GENESIS, []
    for seq, o in enumerate(objs, start=1):
        body = {"seq": seq, "time": o["time"], "type": o["type"], "data": o["data"], "prev": prev}
        prev = _digest(body)
        out.append(json.dumps({**body, "hash": prev}, sort_keys=True, separators=(",", ":")))
    path.write_text("\n".join(out) + "\n")


TRIO = {k: f"tok-{k}" for k in ("alice", "bob", "carol")}  # keyholder -> token label


def online_key_paths(directory: Path) -> dict[str, list[str]]:
    """The plan's online key files as :func:`make_online_keys` writes them into ``directory``."""
    return {r: [str(directory / f"{r}.pub.pem")] for r in ONLINE_ROLES}


def published_v1(hsm: SoftHsm, tmp: Path) -> Path:
    """``tmp/repo`` holding a published root v1 (alice, bob, carol; 2 of 3) signed by alice and
    bob, made by a real ceremony on SoftHSM; its plan's online keys are in ``tmp/a``."""
    import shutil
    hsm.make(*TRIO.values())
    make_online_keys(hsm, tmp / "a", label="online-a")
    repo = tmp / "repo"
    repo.mkdir()
    plan = tmp / "p1.toml"
    plan.write_text(plan_toml("v1", TRIO, list(TRIO), 2, online_key_paths(tmp / "a")))
    run_steps(hsm, tmp / "ws1", plan, None, ["alice", "bob"])
    shutil.copy(tmp / "ws1" / "metadata" / "1.root.json", repo)
    return repo
