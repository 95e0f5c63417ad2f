"""Online keys named by signer URI, and the fields tuf-on-ci reads (``compat = "tuf-on-ci"``).

Two plan facts live here, apart from the TUF format's bulk:

* **Online keys by URI.** An online key may be named by the securesystemslib signer URI
  that signs with it on the online side (``awskms:``, ``gcpkms:``, ``azurekms:``, ``hv:``),
  given beside its public key file. The ceremony records the URI in the key (``x-`` field)
  and never resolves it: no cloud SDK is imported, no service is contacted. The URI is a
  label for the online operator; the public key file is the only key material trusted.
* **tuf-on-ci.** tuf-on-ci's signing tool finds "its" keys by ``x-tuf-on-ci-keyowner``
  (``@`` + the lower-cased user name, as ``tuf_on_ci_sign._user.User`` reads it), online keys
  by ``x-tuf-on-ci-online-uri``, and role expiry and re-signing periods in whole days in
  ``x-tuf-on-ci-expiry-period`` / ``x-tuf-on-ci-signing-period`` (root's in the root's
  ``signed``, snapshot's and timestamp's in their role entries of the root). It computes a
  key id over the whole key object, custom fields included, which is our rule already
  (:func:`ceremony.keyids.new_tuf_keyid`).

Pure: nothing here reads a file or a token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ceremony import keyids
from ceremony.errors import PlanError

if TYPE_CHECKING:
    from securesystemslib.signer import Key

    from ceremony.keys import PublicKeyFile
    from ceremony.plan import Plan

TUF_ON_CI = "tuf-on-ci"
COMPAT_MODES = (TUF_ON_CI,)

X_ONLINE_URI = "x-ceremony-online-uri"  # (both URI fields are named in tuf.X_ONLINE_URIS too)
"""Where a key's online signer is, outside tuf-on-ci compatibility (the URI as given)."""
TOC_KEYOWNER = "x-tuf-on-ci-keyowner"
TOC_ONLINE_URI = "x-tuf-on-ci-online-uri"
TOC_EXPIRY = "x-tuf-on-ci-expiry-period"
TOC_SIGNING = "x-tuf-on-ci-signing-period"

#: The signer URI schemes securesystemslib 1.6 resolves for online keys, and the shape of
#: what follows the scheme in each (its signer modules' ``from_priv_key_uri``).
#: (Patterns, compiled by ``re`` on first use, not at import: start-up time.)
URI_FORMS: dict[str, tuple[str, str]] = {
    "awskms": (r"awskms:[A-Za-z0-9:/_+=,.@-]{1,2048}",
               "awskms:<key id, ARN or alias>"),
    "gcpkms": (r"gcpkms:projects/[A-Za-z0-9_.:-]+/locations/[A-Za-z0-9_-]+/"
               r"keyRings/[A-Za-z0-9_-]+/cryptoKeys/[A-Za-z0-9_-]+/cryptoKeyVersions/[0-9]+",
               "gcpkms:projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N"),
    "azurekms": (r"azurekms://[A-Za-z0-9.-]+/keys/[A-Za-z0-9-]+(/[A-Za-z0-9]+)?",
                 "azurekms://<vault>.vault.azure.net/keys/<name>/<version>"),
    "hv": (r"hv:[A-Za-z0-9_.-]+/[0-9]+", "hv:<key name>/<version>"),
}
MAX_URI = 2048
#: A GitHub user name, as tuf-on-ci names its signers (its signing tool takes ``user-name``).
_HANDLE = r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}"  # compiled by re on first use


def parse_compat(value: str | None, fmt: str) -> str | None:
    """``ceremony.compat``: None, or ``"tuf-on-ci"`` for a TUF plan.

    Raises:
        PlanError: another value, or compat on a format that is not TUF.
    """
    if value is None:
        return None
    if value not in COMPAT_MODES:
        raise PlanError(f"ceremony.compat must be \"{TUF_ON_CI}\", not {value[:40]!r}")
    if fmt != "tuf":
        raise PlanError(f"ceremony.compat = \"{value}\" applies to format = \"tuf\" only, "
                        f"not {fmt!r}")
    return value


def check_uris(role: str, uris: Any, key_count: int, fmt: str = "tuf") -> tuple[str, ...]:
    """``roles.ROLE.uris``: one signer URI per public key file, by position (TUF only).

    Raises:
        PlanError: another format than TUF, not a list of strings, an unknown scheme, a
            malformed URI, or a URI without its public key file at the same position in ``keys``.
    """
    if uris is None:
        return ()
    where = f"roles.{role}.uris"
    if fmt != "tuf":
        raise PlanError(f"{where} applies to format = \"tuf\" only, not {fmt!r}",
                        hint="a Notary server holds its own snapshot and timestamp keys")
    if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
        raise PlanError(f"{where} must be a list of signer URIs (strings)")
    for i, uri in enumerate(uris):
        check_uri(uri, f"{where}[{i}]")
    if len(uris) > key_count:
        raise PlanError(f"{where}[{key_count}] {uris[key_count][:80]!r} has no public key: "
                        f"roles.{role}.keys lists {key_count} key file"
                        f"{'' if key_count == 1 else 's'}; give each URI's public key file at "
                        "the same position in keys",
                        hint="the ceremony never asks the KMS for a key: the public key file is "
                             "the key the root lists, and the URI says where it signs")
    dupes = sorted({u for u in uris if uris.count(u) > 1})
    if dupes:
        raise PlanError(f"{where} lists {dupes[0][:80]!r} twice")
    return tuple(uris)


def check_uri(uri: str, where: str) -> str:
    """One signer URI: a known scheme and its form. Nothing is resolved.

    Raises:
        PlanError: an unknown scheme, or not the form of its scheme.
    """
    scheme = uri.split(":", 1)[0] if ":" in uri else ""
    if scheme not in URI_FORMS:
        known = ", ".join(f"{s}:" for s in URI_FORMS)
        raise PlanError(f"{where} {uri[:80]!r} is not an online signer URI this tool records: "
                        f"its scheme must be one of {known}",
                        hint="an online key is named by the securesystemslib signer URI of its "
                             "KMS; keys on tokens are keyholders' keys, not online keys")
    pattern, form = URI_FORMS[scheme]
    if len(uri) > MAX_URI or not re.fullmatch(pattern, uri):
        raise PlanError(f"{where} {uri[:80]!r} is not a {scheme} signer URI (expected {form})")
    return uri


def check_plan(plan: Plan) -> None:
    """Under tuf-on-ci, every keyholder is a signer tuf-on-ci can name: a GitHub user name
    (its signing tool matches ``@`` + the lower-cased ``user-name`` against the key's owner),
    and no two keyholders become the same owner.

    tuf-on-ci's signers sign targets, so targets must be signed offline.

    Raises:
        PlanError: targets is an online role, a delegation to keys held elsewhere, a
            keyholder's name is no GitHub user name, or two names differ only in case.
    """
    if plan.compat != TUF_ON_CI:
        return
    if plan.offline_role("targets") is None:
        raise PlanError("compat = \"tuf-on-ci\" needs targets signed offline: give "
                        "roles.targets keyholders and a threshold instead of online keys",
                        hint="tuf-on-ci signs only snapshot and timestamp online; its signers "
                             "sign targets")
    for role in plan.offline:
        if role.key_paths:
            raise PlanError(f"compat = \"tuf-on-ci\": delegation {role.name!r} names keys held "
                            "elsewhere (keys = ...), which tuf-on-ci cannot name: its signers are "
                            "keyholders (an @owner on each key)",
                            hint="give the delegation keyholders of the plan instead")
    owners: dict[str, str] = {}
    for holder in plan.keyholders:
        if not re.fullmatch(_HANDLE, holder.name):
            raise PlanError(f"keyholder {holder.name!r} cannot sign in tuf-on-ci: with compat = "
                            "\"tuf-on-ci\" a keyholder's name is their GitHub user name (letters, "
                            "digits and single inner hyphens, at most 39)")
        other = owners.setdefault(keyowner(holder.name), holder.name)
        if other != holder.name:
            raise PlanError(f"keyholders {other!r} and {holder.name!r} are both "
                            f"{keyowner(holder.name)} to tuf-on-ci (it ignores case): give each "
                            "keyholder their own GitHub user name")


def keyowner(keyholder: str) -> str:
    """tuf-on-ci's name for a keyholder: ``@`` + the lower-cased name (its ``User.name``)."""
    return "@" + keyholder.lower()


def keyholder_from_owner(owner: Any) -> str | None:
    """The keyholder a ``x-tuf-on-ci-keyowner`` names (``@alice`` -> ``alice``), if any."""
    return owner[1:] if isinstance(owner, str) and owner.startswith("@") and owner[1:] else None


def root_key_fields(plan: Plan, keyholder: str) -> dict[str, Any]:
    """The extra ``x-`` fields of a new root key under the plan's compat mode."""
    if plan.compat == TUF_ON_CI:
        return {TOC_KEYOWNER: keyowner(keyholder)}
    return {}


def online_key(key: Key, uri: str | None, compat: str | None) -> Key:
    """``key`` with its signer URI recorded (``x-tuf-on-ci-online-uri`` under tuf-on-ci, else
    ``x-ceremony-online-uri``) and its id recomputed over the whole object; as it is
    without a URI."""
    if uri is None:
        return key
    from securesystemslib.signer import Key  # lazy: securesystemslib.signer, not loaded by the plan parser
    field = TOC_ONLINE_URI if compat == TUF_ON_CI else X_ONLINE_URI
    data = dict(key.to_dict()) | {field: uri}
    return Key.from_dict(keyids.new_tuf_keyid(data), data)


def online_keys(plan: Plan, loaded: Mapping[str, Sequence[PublicKeyFile]]) -> dict[str, list[PublicKeyFile]]:
    """The plan's online key files with their URIs recorded in the keys.

    Raises:
        PlanError: under tuf-on-ci, an online key without a URI (tuf-on-ci names online
            signers by it).
    """
    out: dict[str, list[PublicKeyFile]] = {}
    for role in plan.online:
        files = list(loaded.get(role.name, ()))
        if plan.compat == TUF_ON_CI and len(role.uris) < len(files):
            raise PlanError(f"roles.{role.name}.keys[{len(role.uris)}] has no signer URI: "
                            "compat = \"tuf-on-ci\" names every online key by its URI "
                            f"(roles.{role.name}.uris, one per key file)")
        out[role.name] = [replace(f, key=online_key(f.key, role.uris[i] if i < len(role.uris)
                                                    else None, plan.compat))
                          for i, f in enumerate(files)]
    if plan.compat == TUF_ON_CI:
        _one_online_key(out)
    return out


def _one_online_key(online: Mapping[str, Sequence[PublicKeyFile]]) -> None:
    """tuf-on-ci signs snapshot and timestamp with one key (its ``OnlineConfig``): both roles
    list that one key, under one URI.

    Raises:
        PlanError: the two roles list other keys, or more than one.
    """
    ids = {role: [f.key.keyid for f in online.get(role, ())] for role in ("snapshot", "timestamp")}
    if len(ids["snapshot"]) != 1 or ids["snapshot"] != ids["timestamp"]:
        raise PlanError("compat = \"tuf-on-ci\" signs snapshot and timestamp with one online key: "
                        "roles.snapshot and roles.timestamp must each list the same single key "
                        "file, under the same URI",
                        hint="tuf-on-ci's online signing reads one key for both roles")


def days(period: timedelta) -> int:
    """A period in whole days, at least 1 (tuf-on-ci counts days)."""
    return max(1, int(period.total_seconds() // 86400))


def annotate_root(root: Any, plan: Plan) -> None:
    """Under tuf-on-ci, the periods tuf-on-ci reads: root's in ``signed``, snapshot's and
    timestamp's in their role entries. ``root`` is a python-tuf ``Root``; changed in place."""
    if plan.compat != TUF_ON_CI:
        return
    root.unrecognized_fields[TOC_EXPIRY] = days(plan.root.expires)
    root.unrecognized_fields[TOC_SIGNING] = days(plan.root.signing_period or plan.root.expires / 2)
    for role in plan.online:
        if role.name in ("snapshot", "timestamp"):
            fields = root.roles[role.name].unrecognized_fields
            fields[TOC_EXPIRY] = days(role.expires)
            fields[TOC_SIGNING] = days(role.signing_period or role.expires / 2)


def annotate_roles(mds: Mapping[str, Any], plan: Plan) -> None:
    """Under tuf-on-ci, each offline role's periods in its own ``signed`` (targets and the
    delegated roles; tuf-on-ci reads them there, and refuses to show a role without them):
    its plan expiry, and half of it to re-sign. ``mds``: role name -> python-tuf
    ``Metadata[Targets]``, changed in place before the draft is journaled."""
    if plan.compat != TUF_ON_CI:
        return
    for role in plan.offline:
        fields = mds[role.name].signed.unrecognized_fields
        fields[TOC_EXPIRY] = days(role.expires)
        fields[TOC_SIGNING] = days(role.expires / 2)


def located(key: Any, plan: Plan, keyholder: str) -> Any:
    """A root key made by tuf-on-ci (no ``x-ceremony-*`` token facts), with the token facts
    of its keyholder in the plan, so it can be found and opened to sign a rotation: the
    keyholder's token (label/serial, or their YubiKey), the key in PIV slot 9c's key id (2,
    where tuf-on-ci's HSM signer keeps it), the algorithm its scheme names. The key id stays
    the root's; the key on the token is compared with the public key before any signature.
    ``key`` as it is when it names its token already (a key this tool made), or when the
    keyholder is not in this plan (a previous root's keyholder this ceremony replaces: their
    key names its token, or they cannot sign here).
    """
    from ceremony.formats import tuf  # lazy: python-tuf, only when a key is opened to sign
    from hsm.algorithms import ALGORITHMS  # lazy: only when a key is opened to sign
    from hsm.uri import KeyRef  # lazy: only when a key is opened to sign
    fields = key.unrecognized_fields
    if tuf.X_KEY_URI in fields or TOC_KEYOWNER not in fields:
        return key
    holder = next((h for h in plan.keyholders if h.name == keyholder), None)
    if holder is None:
        return key
    algorithm = next((n for n, a in ALGORITHMS.items() if a.sslib_scheme == key.scheme), holder.algorithm)
    facts: dict[str, Any] = {tuf.X_ALGORITHM: algorithm,
                             tuf.X_KEY_URI: KeyRef(b"\x02", holder.token, holder.serial).uri()}
    if holder.token is not None:
        facts[tuf.X_TOKEN_LABEL] = holder.token
    if holder.serial is not None:
        facts[tuf.X_TOKEN_SERIAL] = holder.serial
    if holder.is_yubikey:
        facts[tuf.X_DEVICE] = "yubikey"
    return type(key).from_dict(key.keyid, dict(key.to_dict()) | facts)
