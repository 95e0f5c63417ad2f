"""``ceremony audit METADATA_DIR``: a TUF repository's keys, roles and attestations, judged.

Thin: reading is :mod:`ceremony.audit.folder`, judging :mod:`ceremony.audit.model`; this module
parses, prints and returns the exit code: 0 when the audit passed, ``EXIT_FINDINGS`` (11) when
everything verified but there are findings; a repository that cannot be verified raises
``VerificationError`` (3) before anything is printed. Nothing is written.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ceremony.cli.common import Add, emit
from ceremony.errors import EXIT_FINDINGS, UsageError


def _lines(result: Any) -> list[str]:
    """The audit in words: the chain, each role, each key, then the findings."""
    from ceremony.audit.model import listing  # lazy: python-tuf, securesystemslib
    lines = [f"audit at {result.at:%Y-%m-%d %H:%M:%S} UTC, attestations checked against {result.trust}",
             f"root chain: v{result.root_versions[0]}..v{result.root_versions[-1]} verified, from "
             f"{result.trusted_root} taken on trust (sha256 {result.trusted_sha256}: compare it "
             "with the one you hold)", "roles:"]
    for r in result.roles:
        if r.state == "missing":
            lines.append(f"  {r.name} (from {r.delegator}): no metadata")
            continue
        where = f" (from {r.delegator})" if r.delegator and r.delegator != "root" else ""
        kind = "online" if r.online else "offline"
        lines.append(f"  {r.name}{where}: v{r.version}, {kind}, signed by {len(r.signed)} of "
                     f"{len(r.keyids)} keys (threshold {r.threshold}), expires "
                     f"{r.expires:%Y-%m-%d %H:%M:%S} UTC")
    lines.append("keys:")
    for k in result.keys:
        owner = f"{k.owner} ({k.owner_field})" if k.owner else "no owner field"
        head = f"  {k.keyids[0][:12]} {k.keytype}, {owner}, roles {listing(k.roles)}"
        if k.online:
            lines.append(head + (f", online ({k.online_uri})" if k.online_uri else ", online"))
        elif k.attestation == "verified":
            lines.append(head + f", YubiKey {k.serial} firmware {k.firmware}, PIN {k.pin_policy}, "
                         f"touch {k.touch_policy} (attestation from {k.attestation_source})")
        else:
            lines.append(head + f", attestation {k.attestation}")
    if result.passed:
        lines.append("audit passed: every offline key is bound to a verified YubiKey attestation; "
                     "no findings")
    else:
        lines.append(f"{len(result.findings)} finding{'s' if len(result.findings) != 1 else ''}:")
        lines += [f"  [{f.kind}] {f.message}" for f in result.findings]
    return lines


def cmd_audit(args: argparse.Namespace) -> int:
    from ceremony import attestation  # lazy: hsm.yubikey and cryptography (~40 ms)
    from ceremony.audit.folder import read_attestations, read_source  # lazy: python-tuf
    from ceremony.audit.model import audit  # lazy: python-tuf, securesystemslib
    from ceremony.trusted_start import parse_instant  # lazy: the chain's helpers
    if args.warn_days < 0:
        raise UsageError(f"--warn-days {args.warn_days} is negative")
    at = parse_instant(args.at) if args.at else datetime.now(UTC).replace(microsecond=0)
    source = read_source(Path(args.metadata_dir))
    folder = read_attestations(Path(args.attestations)) if args.attestations else []
    trust = (attestation.load_roots(Path(args.attestation_roots)) if args.attestation_roots
             else attestation.bundled())
    result = audit(source, trust.store, at=at, attestations=folder,
                   online_roles=args.online_role or (), warn_days=args.warn_days,
                   trust_name=trust.description)
    emit(args, _lines(result), result.to_dict())
    return 0 if result.passed else EXIT_FINDINGS


def add_commands(add: Add) -> None:
    """Register audit."""
    p = add("audit", cmd_audit, "audit a TUF repository: root chain, delegations, and every "
            "offline key bound to a verified YubiKey attestation", ws=False)
    p.add_argument("metadata_dir", metavar="METADATA_DIR")
    p.add_argument("--attestations", metavar="DIR",
                   help="archived attestations: DIR/<serial>/Slot9CAttestation.pem and "
                        "SlotF9Intermediate.pem")
    p.add_argument("--at", metavar="TIME",
                   help="judge expiry and certificates at this instant (ISO 8601 UTC) instead of now")
    p.add_argument("--attestation-roots", metavar="PEM",
                   help="check attestations against these roots instead of the bundled Yubico "
                        "roots (rehearsals and tests)")
    p.add_argument("--online-role", action="append", metavar="ROLE",
                   help="count ROLE as online too (its keys need no attestation), e.g. targets "
                        "when a service signs it; repeatable")
    p.add_argument("--warn-days", type=int, default=30, metavar="N",
                   help="flag an offline role expiring within N days (default 30; a role's own "
                        "x-tuf-on-ci-signing-period wins)")
