"""Throwaway online keys for a rehearsal: the online side's targets, snapshot and timestamp keys
made on a SoftHSM token, with their public keys written as PEM for the plan.

A live repository's online keys live in its KMS or HSM and only their public keys come to the
ceremony. A rehearsal of the whole path (ceremony, then the online side signing targets,
snapshot and timestamp with python-tuf or its own tooling) needs online keys it can sign with:
these. ``ceremony rehearse`` and ``make demo`` make theirs the same way. From a shell::

    CEREMONY_PIN=... python -m ceremony.online.rehearsal_keys TOKENS_DIR PUBKEY_DIR

(``softhsm-setup/make-online-keys.sh`` wraps it). The token is labelled ``rehearsal-online``;
each key's CKA_LABEL is ``online-<role>``, so the online side finds it by that label.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hsm.errors import HsmError

ONLINE_TOKEN = "rehearsal-online"
ROLES = ("targets", "snapshot", "timestamp")


def make_online_keys(module: Any, token: Any, pin: Any, directory: Path,
                     roles: tuple[str, ...] = ROLES, first_id: int = 1,
                     label_suffix: str = "") -> int:
    """Generate one P-256 key per role on ``token``; write ``directory/<role>.pub.pem``.

    Key ids are ``0x10, n`` for n from ``first_id`` (so several batches on one token never
    collide). Returns the next free ``n``.

    Raises:
        hsm.errors.HsmError: the token refused.
    """
    directory.mkdir(parents=True, exist_ok=True)
    n = first_id
    for role in roles:
        tk = module.generate(token, pin, "ecdsa-p256", f"online-{role}{label_suffix}",
                             bytes([0x10, n]))
        (directory / f"{role}.pub.pem").write_bytes(
            tk.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
        n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    """Shell entry point: a ``rehearsal-online`` token in TOKENS_DIR, PEMs in PUBKEY_DIR."""
    from hsm import softhsm  # lazy: python-pkcs11, for this script only (importers want ONLINE_TOKEN)
    from hsm.pkcs11 import get_module, resolve_module_path  # lazy: as above
    ap = argparse.ArgumentParser(prog="python -m ceremony.online.rehearsal_keys",
                                 description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("tokens", type=Path, help="folder for the throwaway token (SOFTHSM2_CONF)")
    ap.add_argument("out", type=Path, help="folder for targets/snapshot/timestamp .pub.pem")
    args = ap.parse_args(argv)
    pin = os.environ.get("CEREMONY_PIN", "")
    if not pin:
        print("error: give the throwaway token's PIN in CEREMONY_PIN", file=sys.stderr)
        return 5
    try:
        d = softhsm.create(args.tokens)
        softhsm.activate(d)
        softhsm.init_token(d, ONLINE_TOKEN, pin)
        module = get_module(resolve_module_path(env={}))
        module.refresh()
        make_online_keys(module, module.find_token(label=ONLINE_TOKEN), lambda _i: pin, args.out)
        module.close()
    except HsmError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return e.exit_code
    for role in ROLES:
        print(f"{role}: {args.out / (role + '.pub.pem')} (token {ONLINE_TOKEN!r}, "
              f"key label online-{role})", file=sys.stderr)
    print(f"export SOFTHSM2_CONF={d.conf}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
