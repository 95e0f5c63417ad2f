"""Notation's trust material, written from the plan: the trust store folder and trustpolicy.json.

The verifying side (a cluster's admission controller, a CI job running ``notation verify``)
installs two things: the root certificates in ``x509/ca/<store>/`` under Notation's config
folder, and a trust policy naming that store and the identities trusted to sign. Both are
built here from the plan's ``x509.trust`` table and validated with Notation's own rules
(notation-go ``verifier/trustpolicy``: version 1.0; unique statement names; each registry scope
in one statement, ``*`` alone; levels strict/permissive/audit/skip, ``skip`` without stores or
identities; trust stores ``ca:<name>`` with ``[a-zA-Z0-9_.-]+`` names; identities ``*`` alone or
``x509.subject: <DN>`` with C, ST and O, no multi-valued or repeated attribute, no DN a subset of
another in the same statement), so a policy Notation would refuse is refused at plan time.

Files come back as a dict of relative POSIX path -> bytes; every path component is checked
here (no separators in names, no ``.``/``..``), and the writer creates regular files only.

Plan table (``where`` is the caller's, e.g. ``x509.trust``)::

    [x509.trust]
    store = "acme"
    [[x509.trust.policies]]
    name = "acme-images"
    registry_scopes = ["registry.acme.example/team/app"]   # or ["*"]
    level = "strict"
    identities = ["C=US,ST=WA,O=Acme,CN=Acme Signer"]        # or ["*"]

API (stable): ``TrustStatement``, ``TrustPlan``, ``parse_trust(table, where)``,
``trust_policy(plan) -> dict``, ``trust_policy_json(plan) -> bytes``,
``validate_trust_policy(doc, error=...)``, ``trust_store_files(store, roots)``,
``trust_material(plan, roots)``, ``TRUST_POLICY_PATH``, ``check_file_name(name, what)``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ceremony.errors import PlanError, VerificationError
from ceremony.formats.x509.profile import NOTATION_SUBJECT_ATTRIBUTES, load_certificate
from hsm.pem import is_ca

__all__ = [
    "LEVELS",
    "TRUST_POLICY_PATH",
    "TrustPlan",
    "TrustStatement",
    "check_file_name",
    "check_registry_scope",
    "parse_trust",
    "trust_material",
    "trust_policy",
    "trust_policy_json",
    "trust_store_files",
    "validate_trust_policy",
]

#: Where Notation reads the policy, relative to its config folder (notation-go ``dir.PathTrustPolicy``).
TRUST_POLICY_PATH = "trustpolicy.json"
LEVELS = ("strict", "permissive", "audit", "skip")
_X509_SUBJECT = "x509.subject"
_FILE_NAME = re.compile(r"[a-zA-Z0-9_.-]+")
# notation-go validateRegistryScopeFormat (adapted from distribution's reference grammar)
_DOMAIN = re.compile(r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
                     r"(?:(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))+)?(?::[0-9]+)?")
_REPOSITORY = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-*)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-*)[a-z0-9]+)*)*")
_MAX_ITEMS = 256
_MAX_TEXT = 1024


@dataclass(frozen=True)
class TrustStatement:
    """One trust policy statement: which repositories, how strictly, whose signatures."""

    name: str
    registry_scopes: tuple[str, ...]
    level: str
    identities: tuple[str, ...]  # RFC 4514 DNs, or ("*",); empty for level "skip"


@dataclass(frozen=True)
class TrustPlan:
    """The plan's ``x509.trust`` table: the store's name and the statements."""

    store: str
    statements: tuple[TrustStatement, ...]


def check_file_name(name: str, what: str, *, error: type[Exception] = PlanError) -> str:
    """Return ``name`` if it is one safe path component (``[a-zA-Z0-9_.-]+``, not ``.``/``..``).

    Raises:
        PlanError: (or ``error``) naming ``what``.
    """
    if not isinstance(name, str) or not _FILE_NAME.fullmatch(name) or name in (".", "..") or len(name) > 128:
        raise error(f"{what} {str(name)[:40]!r} must be 1-128 letters, digits, '_', '.' or '-' (not '.' or "
                    "'..'): it becomes a file or folder name, and Notation allows no other")
    return name


def check_registry_scope(scope: str, where: str, *, error: type[Exception] = PlanError) -> str:
    """Return ``scope`` if Notation accepts it: ``*`` or ``domain/repository`` without tag or scheme.

    Raises:
        PlanError: (or ``error``) with Notation's reason.
    """
    if scope == "*":
        return scope
    if not isinstance(scope, str) or len(scope) > _MAX_TEXT:
        raise error(f"{where} must list registry scopes (text)")
    if "*" in scope:
        raise error(f"{where}: registry scope {scope[:80]!r} has a wildcard; Notation accepts '*' alone or a "
                    "fully qualified repository such as registry.example.com/team/app")
    domain, slash, repository = scope.partition("/")
    if not slash or not _DOMAIN.fullmatch(domain) or not _REPOSITORY.fullmatch(repository):
        raise error(f"{where}: registry scope {scope[:80]!r} is not valid; Notation needs a fully qualified "
                    "repository without scheme or tag, such as registry.example.com/team/app")
    return scope


def _dn_pairs(text: str, where: str, error: type[Exception]) -> frozenset[tuple[str, str]]:
    """A trusted identity's DN as (type, value) pairs, with Notation's rules."""
    try:
        name = x509.Name.from_rfc4514_string(text.strip())
    except ValueError:
        raise error(f"{where}: trusted identity {text[:80]!r} is not an RFC 4514 distinguished name") from None
    pairs: dict[str, str] = {}
    for rdn in name.rdns:
        if len(rdn) != 1:
            raise error(f"{where}: trusted identity {text[:80]!r} has a multi-valued RDN, which Notation refuses")
        attr = next(iter(rdn))
        if attr.oid.dotted_string in pairs:
            raise error(f"{where}: trusted identity {text[:80]!r} repeats {attr.rfc4514_attribute_name}; "
                        "Notation needs each attribute once")
        pairs[attr.oid.dotted_string] = str(attr.value)
    for short, oid in NOTATION_SUBJECT_ATTRIBUTES:
        if not pairs.get(oid.dotted_string):
            raise error(f"{where}: trusted identity {text[:80]!r} has no {short}; Notation needs C, ST and O "
                        "at a minimum")
    return frozenset(pairs.items())


def _check_identities(identities: list[str], where: str, error: type[Exception]) -> None:
    if "*" in identities and len(identities) > 1:
        raise error(f"{where}: the wildcard identity '*' cannot be combined with other identities")
    parsed = [(i, _dn_pairs(i, where, error)) for i in identities if i != "*"]
    for i, (a, pa) in enumerate(parsed):
        for j, (b, pb) in enumerate(parsed):
            if i != j and pa <= pb:
                raise error(f"{where}: trusted identities {a[:60]!r} and {b[:60]!r} overlap (one is a subset "
                            "of the other); Notation refuses that")


def _strings(table: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = table.get(key)
    if not isinstance(value, list) or not value or len(value) > _MAX_ITEMS:
        raise PlanError(f"{where}.{key} must be a non-empty list (at most {_MAX_ITEMS} items)")
    if not all(isinstance(v, str) and v and len(v) <= _MAX_TEXT and v.isprintable() for v in value):
        raise PlanError(f"{where}.{key} must list non-empty printable strings")
    if len(set(value)) != len(value):
        raise PlanError(f"{where}.{key} lists {next(v for v in value if value.count(v) > 1)[:60]!r} twice")
    return value


def _known(table: Mapping[str, Any], fields: tuple[str, ...], where: str) -> None:
    if not isinstance(table, Mapping):
        raise PlanError(f"{where} must be a table")
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise PlanError(f"unknown field {where}.{unknown[0]} in the plan", hint="known fields: " + ", ".join(fields))


def parse_trust(table: Mapping[str, Any], where: str = "x509.trust") -> TrustPlan:
    """A :class:`TrustPlan` from the plan, checked with Notation's rules.

    Raises:
        PlanError: naming the field, with the rule Notation would apply.
    """
    _known(table, ("store", "policies"), where)
    if "store" not in table:
        raise PlanError(f"{where}.store is required: the name of Notation's trust store (ca:<store>)")
    store = check_file_name(table["store"], f"{where}.store")
    policies = table.get("policies")
    if not isinstance(policies, list) or not policies or len(policies) > _MAX_ITEMS:
        raise PlanError(f"{where}.policies must list at least one trust policy statement ([[{where}.policies]])")
    statements = []
    for i, raw in enumerate(policies):
        at = f"{where}.policies[{i}]"
        _known(raw, ("name", "registry_scopes", "level", "identities"), at)
        name = raw.get("name")
        if not isinstance(name, str) or not name or len(name) > 128 or not name.isprintable():
            raise PlanError(f"{at}.name is required: a printable name of at most 128 characters")
        level = raw.get("level", "strict")
        if level not in LEVELS:
            raise PlanError(f"{at}.level must be one of {', '.join(LEVELS)}, not {str(level)[:40]!r}")
        scopes = _strings(raw, "registry_scopes", at)
        if "*" in scopes and len(scopes) > 1:
            raise PlanError(f"{at}.registry_scopes: the wildcard scope '*' cannot be combined with other scopes")
        for scope in scopes:
            check_registry_scope(scope, f"{at}.registry_scopes")
        if level == "skip":
            if "identities" in raw:
                raise PlanError(f"{at}: level skip verifies nothing, so it takes no identities (Notation refuses "
                                "a skip statement with trust stores or identities)")
            identities: list[str] = []
        else:
            if "identities" not in raw:
                raise PlanError(f"{at}.identities is required: the subjects trusted to sign (or [\"*\"])")
            identities = _strings(raw, "identities", at)
            _check_identities(identities, f"{at}.identities", PlanError)
        statements.append(TrustStatement(name=name, registry_scopes=tuple(scopes), level=level,
                                         identities=tuple(identities)))
    plan = TrustPlan(store=store, statements=tuple(statements))
    validate_trust_policy(trust_policy(plan), error=PlanError)
    return plan


def trust_policy(plan: TrustPlan) -> dict[str, Any]:
    """The trust policy document (version 1.0) as a JSON-ready dict."""
    statements = []
    for s in plan.statements:
        item: dict[str, Any] = {"name": s.name, "registryScopes": list(s.registry_scopes),
                                "signatureVerification": {"level": s.level}}
        if s.level != "skip":
            item["trustStores"] = [f"ca:{plan.store}"]
            item["trustedIdentities"] = ["*" if i == "*" else f"{_X509_SUBJECT}: {i}" for i in s.identities]
        statements.append(item)
    return {"version": "1.0", "trustPolicies": statements}


def trust_policy_json(plan: TrustPlan) -> bytes:
    """``trustpolicy.json`` bytes: validated, indented, keys in a fixed order, newline-terminated.

    Raises:
        PlanError: the document breaks one of Notation's rules (cannot happen after parse_trust).
    """
    document = trust_policy(plan)
    validate_trust_policy(document, error=PlanError)
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def validate_trust_policy(doc: Any, *, error: type[Exception] = VerificationError) -> None:
    """Check a trust policy document with Notation's 1.0 rules (see the module docstring).

    Used on what this tool writes and on a policy read back (a record check), hence ``error``.

    Raises:
        VerificationError: (or ``error``) naming the statement and the rule.
    """
    if not isinstance(doc, Mapping):
        raise error("the trust policy is not a JSON object")
    if doc.get("version") != "1.0":
        raise error(f"the trust policy's version is {str(doc.get('version'))[:20]!r}; Notation supports \"1.0\"")
    statements = doc.get("trustPolicies")
    if not isinstance(statements, list) or not statements:
        raise error("the trust policy has no trust policy statements")
    names: set[str] = set()
    scopes: set[str] = set()
    for statement in statements:
        if not isinstance(statement, Mapping) or not isinstance(statement.get("name"), str) or not statement["name"]:
            raise error("a trust policy statement has no name; every statement needs one")
        name = statement["name"]
        where = f"trust policy statement {name[:60]!r}"
        if name in names:
            raise error(f"two trust policy statements are named {name[:60]!r}; names must be unique")
        names.add(name)
        verification = statement.get("signatureVerification")
        level = verification.get("level") if isinstance(verification, Mapping) else None
        if level not in LEVELS:
            raise error(f"{where} has no valid signatureVerification level ({', '.join(LEVELS)})")
        stores, identities = statement.get("trustStores") or [], statement.get("trustedIdentities") or []
        if not isinstance(stores, list) or not isinstance(identities, list):
            raise error(f"{where}: trustStores and trustedIdentities must be lists")
        if level == "skip":
            if stores or identities:
                raise error(f"{where} skips verification but names trust stores or identities")
        else:
            if not stores or not identities:
                raise error(f"{where} must name both trust stores and trusted identities")
            for store in stores:
                kind, sep, store_name = str(store).partition(":")
                if not sep or kind not in ("ca", "signingAuthority", "tsa"):
                    raise error(f"{where}: trust store {str(store)[:60]!r} is not <ca|signingAuthority|tsa>:<name>")
                check_file_name(store_name, f"{where}: trust store name", error=error)
            dns = []
            for identity in identities:
                if identity == "*":
                    continue
                prefix, sep, value = str(identity).partition(":")
                if not sep or prefix != _X509_SUBJECT or not value.strip():
                    raise error(f"{where}: trusted identity {str(identity)[:60]!r} is not \"x509.subject: <DN>\"")
                dns.append(value.strip())
            if "*" in identities and len(identities) > 1:
                raise error(f"{where}: the wildcard identity '*' cannot be combined with other identities")
            _check_identities(dns, where, error)
        statement_scopes = statement.get("registryScopes")
        if not isinstance(statement_scopes, list) or not statement_scopes:
            raise error(f"{where} has no registry scopes")
        if "*" in statement_scopes and len(statement_scopes) > 1:
            raise error(f"{where}: the wildcard scope '*' cannot be combined with other scopes")
        for scope in statement_scopes:
            check_registry_scope(scope, where, error=error)
            if scope in scopes:
                raise error(f"registry scope {scope[:80]!r} is in two trust policy statements; Notation allows "
                            "one statement per scope")
            scopes.add(scope)


def _pem(cert: x509.Certificate | bytes) -> bytes:
    parsed = cert if isinstance(cert, x509.Certificate) else load_certificate(cert, "root certificate")
    return parsed.public_bytes(Encoding.PEM)


def trust_store_files(store: str, roots: Mapping[str, x509.Certificate | bytes]) -> dict[str, bytes]:
    """``x509/ca/<store>/<root>.pem`` for each root (PEM), keyed by relative POSIX path.

    Raises:
        PlanError: a store or root name is not one safe file name, or there is no root.
        VerificationError: a root is not a CA certificate.
    """
    check_file_name(store, "the trust store name")
    if not roots:
        raise PlanError("the trust store needs at least one root certificate")
    files = {}
    for name, cert in roots.items():
        check_file_name(name, "the root certificate's file name")
        parsed = cert if isinstance(cert, x509.Certificate) else load_certificate(cert, "root certificate")
        if not is_ca(parsed):
            raise VerificationError(f"the certificate {name!r} for the trust store is not a CA certificate")
        files[f"x509/ca/{store}/{name}.pem"] = _pem(parsed)
    return files


def trust_material(plan: TrustPlan, roots: Mapping[str, x509.Certificate | bytes]) -> dict[str, bytes]:
    """The trust store files and ``trustpolicy.json``, for the verifying side to install.

    Raises:
        PlanError: as ``trust_store_files`` and ``trust_policy_json``.
        VerificationError: as ``trust_store_files``.
    """
    files = trust_store_files(plan.store, roots)
    files[TRUST_POLICY_PATH] = trust_policy_json(plan)
    return files
