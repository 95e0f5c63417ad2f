"""The plan's ``[x509]`` table: what one CA signing operation is, checked before init.

The shared plan shape (``ceremony.plan``) gives the keyholders and ``roles.root``; for an X.509
ceremony ``roles.root.keyholders`` lists the approvers **and** the CA key's holder (every one of
them gets a key on their token by ``keygen``, or keeps the one the previous ceremony recorded),
``roles.root.threshold`` is how many distinct approvers must approve before the CA key signs,
and ``roles.root.expires`` is the lifetime of a CRL this ceremony issues (``nextUpdate -
thisUpdate``). The ``[x509]`` table says the rest::

    [x509]
    operation = "root"          # "root" | "intermediate" | "issue" | "crl" | "cross-sign"
    ca = "ca-holder"            # the keyholder whose token holds the CA key
    intermediate = "ica-holder" # intermediate: the keyholder whose token makes the new CA's key
    csr = "requests/leaf.csr"   # issue: the request, relative to the plan's folder
    [x509.profile]              # root and issue: the certificate's profile (x509-model's CertProfile)
    kind = "root"
    ...
    [[x509.revoke]]             # crl: the certificates revoked, by serial (hex), with a reason
    serial = "5a0c..."
    reason = "keyCompromise"
    revoked_at = "2026-12-01T00:00:00Z"
    new_ca = "new/metadata"     # cross-sign: the new root CA's folder; the old CA key certifies it
    [x509.trust]                # root: Notation's trust store and trust policy (x509-model's trust)
    store = "acme"
    [[x509.trust.policies]]
    ...

Only the table's shape is checked here (every field known, of its type); what a profile or a
Notation table may say is the pure layer's (``ceremony.formats.x509.profile``, ``trust``),
asked by :func:`check` as well so that ``init`` refuses a bad plan before any token is touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ceremony.errors import PlanError
from ceremony.inputs import check_text, load_toml
from ceremony.plan import Plan

OPERATIONS = ("root", "intermediate", "issue", "crl", "cross-sign")
TABLE = "x509"
#: RFC 5280 reason names (the CRL entry's reasonCode), as the plan spells them.
REASONS = ("unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
           "cessationOfOperation", "certificateHold", "privilegeWithdrawn", "aACompromise")
_SERIAL = re.compile(r"[0-9a-f]{1,40}")
MAX_REVOKED = 1000


@dataclass(frozen=True)
class Revocation:
    """One certificate the CRL revokes: its serial, when, and why (RFC 5280 reason name)."""

    serial: int
    revoked_at: datetime
    reason: str


@dataclass(frozen=True)
class X509Plan:
    """The ``[x509]`` table, checked for shape."""

    operation: str
    ca: str
    approvers: tuple[str, ...]
    threshold: int
    profile: dict[str, Any] | None
    csr: str | None
    revoke: tuple[Revocation, ...]
    trust: dict[str, Any] | None
    new_ca: str | None = None  # cross-sign: the new root CA's published folder (relative to the plan)
    #: intermediate: the keyholder whose token generates the intermediate CA's key (signs nothing here)
    intermediate: str | None = None


def _where(key: str) -> str:
    return f"{TABLE}.{key}"


def _utc(value: Any, where: str) -> datetime:
    """A TOML date-time or RFC 3339 text, in UTC (a plan says absolute UTC times).

    Raises:
        PlanError: not a date-time with a UTC offset.
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise PlanError(f"{where} must be a UTC date-time such as 2026-12-01T00:00:00Z, "
                            f"not {value[:40]!r}") from None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise PlanError(f"{where} must be a UTC date-time such as 2026-12-01T00:00:00Z")
    return value.astimezone(UTC)


def _revocations(raw: Any) -> tuple[Revocation, ...]:
    if not isinstance(raw, list) or not raw:
        raise PlanError(f"{_where('revoke')} must list at least one [[x509.revoke]] table")
    if len(raw) > MAX_REVOKED:
        raise PlanError(f"{_where('revoke')} lists {len(raw)} certificates (at most {MAX_REVOKED})")
    out: list[Revocation] = []
    for i, item in enumerate(raw):
        where = f"{TABLE}.revoke[{i}]"
        if not isinstance(item, dict):
            raise PlanError(f"{where} must be a table")
        unknown = sorted(set(item) - {"serial", "reason", "revoked_at"})
        if unknown:
            raise PlanError(f"unknown field {where}.{unknown[0]} in the plan",
                            hint="check the spelling; unknown fields are never ignored")
        serial = item.get("serial")
        if not isinstance(serial, str) or not _SERIAL.fullmatch(serial.lower()):
            raise PlanError(f"{where}.serial must be the certificate's serial number in hex "
                            "(1 to 40 digits, as `openssl x509 -serial` prints it)")
        reason = item.get("reason", "unspecified")
        if reason not in REASONS:
            raise PlanError(f"{where}.reason must be one of {', '.join(REASONS)}, not {str(reason)[:40]!r}")
        if "revoked_at" not in item:
            raise PlanError(f"{where}.revoked_at is required")
        number = int(serial, 16)
        if any(r.serial == number for r in out):
            raise PlanError(f"{TABLE}.revoke lists the serial {serial} twice")
        out.append(Revocation(number, _utc(item["revoked_at"], f"{where}.revoked_at"), str(reason)))
    return tuple(out)


def parse(plan: Plan, text: str) -> X509Plan:
    """The ``[x509]`` table of ``plan`` (whose TOML ``text`` the shared parser already read).

    Raises:
        PlanError: the table is missing, a field is unknown, missing, or does not fit the
            operation; the message names the field.
    """
    data = load_toml(text, "the plan", error=PlanError)
    table = data.get(TABLE)
    if not isinstance(table, dict):
        raise PlanError(f"a plan with format = \"x509\" needs an [{TABLE}] table (operation, ca, ...)")
    known = {"operation", "ca", "csr", "profile", "revoke", "trust", "new_ca", "intermediate"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise PlanError(f"unknown field {_where(unknown[0])} in the plan",
                        hint="check the spelling; unknown fields are never ignored")
    op = table.get("operation")
    if op not in OPERATIONS:
        raise PlanError(f"{_where('operation')} must be one of {', '.join(OPERATIONS)}, "
                        f"not {str(op)[:40]!r}")
    ca = table.get("ca")
    if not isinstance(ca, str) or ca not in plan.root.keyholders:
        raise PlanError(f"{_where('ca')} must name the keyholder holding the CA key, one of "
                        f"roles.root.keyholders ({', '.join(plan.root.keyholders)})")
    holder = table.get("intermediate")
    if holder is not None and (not isinstance(holder, str) or holder not in plan.root.keyholders
                               or holder == ca):
        raise PlanError(f"{_where('intermediate')} must name the keyholder whose token makes the "
                        f"intermediate CA's key, one of roles.root.keyholders "
                        f"({', '.join(plan.root.keyholders)}) other than the CA's {ca}")
    approvers = tuple(k for k in plan.root.keyholders if k not in (ca, holder))
    if not approvers:
        raise PlanError("roles.root.keyholders lists no approver beside the CA key's holder: "
                        "every CA signature needs approvals")
    if plan.root.threshold > len(approvers):
        raise PlanError(f"roles.root.threshold is {plan.root.threshold} but only "
                        f"{len(approvers)} approver(s) are listed beside the CA key's holder "
                        f"{ca}: it could never be met")
    needs = {"root": {"profile"}, "intermediate": {"profile", "intermediate"},
             "issue": {"profile", "csr"}, "crl": {"revoke"}, "cross-sign": {"new_ca"}}[op]
    allowed = needs | ({"trust"} if op == "root" else set()) | {"operation", "ca"}
    for key in sorted(needs):
        if key not in table:
            raise PlanError(f"{_where(key)} is required for operation = \"{op}\"")
    for key in sorted(set(table) - allowed):
        raise PlanError(f"{_where(key)} does not apply to operation = \"{op}\"")
    profile = table.get("profile")
    if profile is not None and not isinstance(profile, dict):
        raise PlanError(f"{_where('profile')} must be a table")
    trust = table.get("trust")
    if trust is not None and not isinstance(trust, dict):
        raise PlanError(f"{_where('notation')} must be a table")
    new_ca = table.get("new_ca")
    if new_ca is not None and (not isinstance(new_ca, str) or check_text(new_ca, max_chars=4096)):
        raise PlanError(f"{_where('new_ca')} must be the path of the new root CA's published folder")
    csr = table.get("csr")
    if csr is not None:
        problem = check_text(csr, max_chars=4096) if isinstance(csr, str) else "is not a path"
        if problem:
            raise PlanError(f"{_where('csr')} {str(csr)[:40]!r} {problem}")
    revoke = _revocations(table["revoke"]) if "revoke" in table else ()
    return X509Plan(op, ca, approvers, plan.root.threshold, profile, csr, revoke, trust, new_ca,
                    holder)
