"""A rehearsal workspace for the TUI: throwaway SoftHSM tokens, online keys, plan, init.

``ceremony rehearse`` runs a whole ceremony with no prompts; this prepares the
same kind of workspace and stops, so people can walk through it in the TUI
(and so the TUI tests start from exactly what a demo would). The tokens' PIN
is the one the caller chooses; it is only used to initialise the tokens and is
never written anywhere.

Run ``python -m ceremony.tui.demo DIR`` (PIN from ``CEREMONY_PIN`` or a prompt),
then ``SOFTHSM2_CONF=DIR/softhsm/softhsm2.conf ceremony tui DIR/workspace``.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hsm import softhsm

ONLINE_TOKEN = "rehearsal-online"


@dataclass(frozen=True)
class Prepared:
    """What :func:`prepare` made."""

    base: Path
    plan: Path
    workspace: Path
    softhsm: softhsm.SoftHsmDir


def prepare(base: Path, names: list[str], threshold: int, pin: str,
            softhsm_dir: softhsm.SoftHsmDir | None = None, algorithm: str = "ecdsa-p256",
            name: str = "rehearsal", init: bool = True,
            tokens: list[str] | None = None) -> Prepared:
    """Make tokens for ``names`` (or only ``tokens``), online keys, a plan, and the workspace.

    Raises:
        HsmError: SoftHSM is missing or a token cannot be made.
        CeremonyError: the plan or workspace cannot be created.
    """
    from ceremony.engine import Ceremony
    from ceremony.rehearse import write_plan
    from hsm.pkcs11 import get_module, resolve_module_path

    base = Path(base)
    base.mkdir(parents=True, exist_ok=True)
    d = softhsm_dir or softhsm.create(base / "softhsm")
    softhsm.activate(d)
    for label in [f"rehearsal-{k}" for k in names] if tokens is None else tokens:
        softhsm.init_token(d, label, pin)
    softhsm.init_token(d, ONLINE_TOKEN, pin)
    module = get_module(resolve_module_path(env={}))
    module.refresh()
    token = module.find_token(label=ONLINE_TOKEN)
    online = base / "online"
    online.mkdir(exist_ok=True)
    for i, role in enumerate(("targets", "snapshot", "timestamp")):
        tk = module.generate(token, lambda _i: pin, "ecdsa-p256", f"online-{role}",
                             bytes([0x10 + i]))
        pem = tk.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        (online / f"{role}.pub.pem").write_bytes(pem)
    module.refresh()  # log out of the online token: the ceremony starts with no session
    plan = base / "plan.toml"
    write_plan(plan, name, names, threshold, algorithm, online)
    ws = base / "workspace"
    if init:
        Ceremony.init(ws, plan)
    return Prepared(base, plan, ws, d)


def main(argv: list[str] | None = None) -> int:
    """Shell entry point: prepare DIR and print how to open it in the TUI."""
    from ceremony.errors import CeremonyError
    from ceremony.rehearse import keyholder_names
    from hsm.errors import HsmError
    ap = argparse.ArgumentParser(prog="python -m ceremony.tui.demo",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--keyholders", type=int, default=3)
    ap.add_argument("--threshold", type=int, default=2)
    args = ap.parse_args(argv)
    pin = os.environ.get("CEREMONY_PIN") or getpass.getpass("PIN for the throwaway tokens: ")
    try:
        p = prepare(args.dir, keyholder_names(args.keyholders), args.threshold, pin)
    except (CeremonyError, HsmError) as e:
        print(f"error: {e.message}", file=sys.stderr)
        return e.exit_code
    print(f"SOFTHSM2_CONF={p.softhsm.conf} ceremony tui {p.workspace}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
