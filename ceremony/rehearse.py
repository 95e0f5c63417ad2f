"""A whole ceremony on throwaway SoftHSM tokens, with no prompts.

Used by CI, by officers rehearsing a plan's shape, and by the demo. It runs
the very same engine steps as a live ceremony (init, keygen per keyholder,
draft, sign to threshold, publish, verify); only the tokens and the PIN are
throwaway. The PIN is random, held in memory only and never shown, so the
rehearsal tokens are useless once the process ends.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ceremony.errors import UsageError
from hsm import softhsm

ONLINE_TOKEN = "rehearsal-online"


@dataclass
class RehearsalResult:
    """What a rehearsal produced."""

    workspace: Path
    softhsm_dir: Path
    plan: Path
    version: int
    signers: list[str]
    lines_: list[str]

    def lines(self) -> list[str]:
        return self.lines_

    def to_dict(self) -> dict[str, Any]:
        return {"workspace": str(self.workspace), "softhsm_dir": str(self.softhsm_dir),
                "plan": str(self.plan), "version": self.version, "signers": self.signers}


NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]


def keyholder_names(n: int) -> list[str]:
    """Friendly names for ``n`` rehearsal keyholders."""
    return NAMES[:n] if n <= len(NAMES) else [f"keyholder{i + 1}" for i in range(n)]


def write_plan(path: Path, name: str, keyholders: list[str], threshold: int, algorithm: str,
               online_dir: Path, fmt: str = "tuf", repository: str = "rehearsal/repository") -> None:
    """Write a rehearsal plan naming one token per keyholder and the online key files."""
    lines = ["[ceremony]", f'name = "{name}"', f'format = "{fmt}"', f'repository = "{repository}"',
             "rehearsal = true", ""]
    for k in keyholders:
        lines += ["[[keyholders]]", f'name = "{k}"', f'token = "rehearsal-{k}"',
                  f'algorithm = "{algorithm}"', ""]
    members = ", ".join(f'"{k}"' for k in keyholders)
    lines += ["[roles.root]", f"keyholders = [{members}]", f"threshold = {threshold}",
              'expires = "365d"', ""]
    for role, period in (("targets", "90d"), ("snapshot", "7d"), ("timestamp", "1d")):
        rel = (online_dir / f"{role}.pub.pem").relative_to(path.parent)
        lines += [f"[roles.{role}]", f'keys = ["{rel}"]', "threshold = 1", f'expires = "{period}"', ""]
    path.write_text("\n".join(lines))


def rehearse(workspace: Path, keyholders: int = 5, threshold: int = 3,
             softhsm_dir: Path | None = None, algorithm: str = "ecdsa-p256",
             log: Callable[[str], None] = lambda m: None) -> RehearsalResult:
    """Run the whole bootstrap ceremony on fresh SoftHSM tokens.

    Raises:
        UsageError: impossible keyholder/threshold numbers.
        CeremonyError, HsmError: as the live steps would.
    """
    from ceremony import chain
    from ceremony.engine import Ceremony
    from hsm.pkcs11 import get_module, resolve_module_path

    if not 1 <= keyholders <= 50:
        raise UsageError("--keyholders must be between 1 and 50")
    if not 1 <= threshold <= keyholders:
        raise UsageError(f"--threshold must be between 1 and --keyholders ({keyholders})")
    workspace = Path(workspace)
    base = Path(softhsm_dir) if softhsm_dir else Path(tempfile.mkdtemp(prefix="ceremony-rehearsal-"))
    d = softhsm.create(base / "softhsm")
    softhsm.activate(d)
    pin = secrets.token_hex(8)
    names = keyholder_names(keyholders)
    log(f"making {keyholders + 1} throwaway SoftHSM tokens in {d.root}")
    for k in names:
        softhsm.init_token(d, f"rehearsal-{k}", pin)
    softhsm.init_token(d, ONLINE_TOKEN, pin)
    module = get_module(resolve_module_path(env={}))
    module.refresh()

    def provide(_info: object) -> str:
        return pin

    online_dir = base / "online"
    online_dir.mkdir(exist_ok=True)
    token = module.find_token(label=ONLINE_TOKEN)
    for i, role in enumerate(("targets", "snapshot", "timestamp")):
        tk = module.generate(token, provide, "ecdsa-p256", f"online-{role}", bytes([0x10 + i]))
        pem = tk.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        (online_dir / f"{role}.pub.pem").write_bytes(pem)
    plan_path = base / "plan.toml"
    write_plan(plan_path, "rehearsal", names, threshold, algorithm, online_dir)

    c = Ceremony.init(workspace, plan_path)
    log(f"initialised {workspace}")
    for k in names:
        rec = c.keygen(k, module, provide)
        log(f"{k}: key {rec.keyid[:12]} generated on {rec.token_label}")
    md = c.draft()
    log(f"drafted root v{md.signed.version}")
    signers = names[:threshold]
    for k in signers:
        res = c.sign(k, module, provide)
        log(f"{k} signed: " + "; ".join(res.status.lines()))
    c.publish()
    version = md.signed.version
    report = chain.walk((workspace / "metadata" / "1.root.json").read_bytes(), workspace / "metadata")
    lines = [f"rehearsal complete: root v{version} signed by {', '.join(signers)} "
             f"({threshold} of {keyholders})",
             f"workspace: {workspace}", f"throwaway tokens: {d.root}",
             f"verified: chain ends at v{report.newest_version}"]
    return RehearsalResult(workspace, d.root, plan_path, version, signers, lines)
