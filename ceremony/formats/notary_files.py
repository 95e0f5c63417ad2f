"""Public files beside a Notary v1 collection: the ``ceremony-keys.json`` sidecar (which token
holds which root key; notary-server drops unknown fields, so these facts travel beside root.json)
and the online public key files written by ``ceremony notary fetch-keys`` / ``tagging-key``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import load_pem_public_key

from ceremony.attestation import field_pem
from ceremony.errors import PlanError, VerificationError
from ceremony.formats.notary_keys import entry_key_id, public_key_entry, public_key_from_entry
from ceremony.formats.notary_root import EXTRA_SIDECAR_FIELDS, IDENTITY_FIELDS, ONLINE_KEYTYPES, Identities
from ceremony.inputs import load_json
from ceremony.keys import read_public_key_bytes

#: The sidecar published next to root.json: keyid -> keyholder/token (public facts only).
SIDECAR = "ceremony-keys.json"
SIDECAR_KIND = "ceremony-notary-keys"

#: Public key files written by ``ceremony notary fetch-keys`` / ``tagging-key``.
KEY_FILE_KIND = "notary-public-key"


def read_sidecar(data: bytes, gun: str, known_keyids: Iterable[str], what: str) -> dict[str, Any]:
    """Parse and check a ``ceremony-keys.json`` sidecar; returns keyid -> identity.

    The sidecar is not signed: it only tells people which token to bring. A wrong entry cannot
    make a wrong signature (the token's key is checked against the certificate before signing),
    but an entry for a key the chain does not hold, or for another GUN, is refused.

    Raises:
        VerificationError: malformed, for another GUN, or naming unknown keys.
    """
    document = load_json(data, what)  # strict: bounded nesting, no NaN, no lone surrogate
    if not isinstance(document, dict) or document.get("kind") != SIDECAR_KIND:
        raise VerificationError(f"{what} is not a {SIDECAR} file")
    if document.get("gun") != gun:
        raise VerificationError(
            f"{what} describes the keys of {document.get('gun')!r}, not of {gun!r}"
        )
    keys = document.get("keys")
    if not isinstance(keys, dict):
        raise VerificationError(f"{what} has no keys object")
    known = set(known_keyids)
    out: dict[str, Any] = {}
    for keyid, identity in keys.items():
        if keyid not in known:
            raise VerificationError(
                f"{what} names key {str(keyid)[:12]}, which no root of this chain holds"
            )
        if not isinstance(identity, dict) or not isinstance(identity.get("keyholder"), str):
            raise VerificationError(f"{what}: the entry for {keyid[:12]} has no keyholder")
        unknown = set(identity) - {*IDENTITY_FIELDS, *EXTRA_SIDECAR_FIELDS}
        if unknown:
            raise VerificationError(f"{what}: unknown field {sorted(unknown)[0]!r}")
        if not all(v is None or isinstance(v, str) for v in identity.values()):
            raise VerificationError(f"{what}: the entry for {keyid[:12]} must hold strings")
        out[keyid] = dict(identity)
    return out


def yubikey_identity(device: str | None, attestation: dict[str, Any] | None) -> dict[str, str]:
    """The sidecar fields of a YubiKey's key: the device, and its attestation as PEM (public)."""
    if device != "yubikey":
        return {}
    field = (attestation or {}).get("field") or {}
    return {"device": "yubikey", "attestation": field_pem(field)}


def sidecar_bytes(gun: str, version: int, identities: Identities) -> bytes:
    """The sidecar for root ``version``: public facts only (no PIN, no private key)."""
    document = {
        "kind": SIDECAR_KIND,
        "gun": gun,
        "root_version": version,
        "keys": {keyid: dict(identities[keyid]) for keyid in sorted(identities)},
    }
    return (json.dumps(document, indent=1, sort_keys=True) + "\n").encode()


@dataclass(frozen=True)
class KeyFile:
    """An online public key read from a file the plan names."""

    source: str
    entry: dict[str, Any]
    keyid: str
    role: str | None = None
    gun: str | None = None
    replaces: tuple[str, ...] | None = None
    fetched_from: str | None = None


def key_file_bytes(
    entry: Mapping[str, Any],
    *,
    gun: str,
    role: str,
    fetched_from: str | None = None,
    replaces: Sequence[str] | None = None,
) -> bytes:
    """A public key file for the plan: the notary key entry plus where it belongs.

    ``replaces`` records, on purpose, that this server key takes the place of the previous
    root's key(s) for ``role`` (a rebuilt server); ``init --previous`` refuses a changed
    server key without it.
    """
    document: dict[str, Any] = {
        "kind": KEY_FILE_KIND,
        "gun": gun,
        "role": role,
        "keyid": entry_key_id(entry),
        "keytype": entry["keytype"],
        "keyval": {"private": None, "public": entry["keyval"]["public"]},
    }
    if fetched_from is not None:
        document["fetched_from"] = fetched_from
    if replaces is not None:
        document["replaces"] = sorted(replaces)
    return (json.dumps(document, indent=1, sort_keys=True) + "\n").encode()


_KEY_FILE_FIELDS = {"kind", "gun", "role", "keyid", "keytype", "keyval", "fetched_from",
                    "replaces"}


def load_key_file(path: Path, field: str) -> KeyFile:
    """Read one online public key: our key file, a bare notary key entry, or PEM SPKI.

    Raises:
        PlanError: missing, too large, a private key, or not a usable notary public key.
    """
    data = read_public_key_bytes(
        path, field, hint="the tagging key stays with the publisher; `ceremony notary tagging-key` "
                          "writes its public half as a .pub.json file for the plan")
    text = data.decode("utf-8", "replace").strip()
    if not text.startswith("{"):
        try:
            entry = public_key_entry(load_pem_public_key(data))  # type: ignore[arg-type]
        except (ValueError, TypeError, VerificationError) as exc:
            raise PlanError(f"{field}: {path} is not a public key: {exc}") from None
        return KeyFile(str(path), entry, entry_key_id(entry))
    try:
        document = load_json(text, f"{field}: {path}", error=PlanError)
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
        unknown = set(document) - _KEY_FILE_FIELDS
        if unknown:
            raise ValueError(
                f"unknown field {sorted(unknown)[0]!r}"
                + (" (a TUF key? notary keys have no scheme)" if "scheme" in unknown else "")
            )
        if document.get("kind", KEY_FILE_KIND) != KEY_FILE_KIND:
            raise ValueError(f"kind is {document.get('kind')!r}")
        keyval = document.get("keyval")
        if not isinstance(keyval, dict) or keyval.get("private") not in (None, ""):
            raise ValueError("it must hold a public key only (keyval.private null)")
        if set(keyval) - {"public", "private"}:
            raise ValueError("keyval has unknown fields")
        entry = {"keytype": document.get("keytype"),
                 "keyval": {"private": None, "public": keyval.get("public")}}
        if entry["keytype"] not in ONLINE_KEYTYPES:
            raise ValueError(
                f"keytype {entry['keytype']!r} cannot be an online key "
                f"(use one of {', '.join(ONLINE_KEYTYPES)})"
            )
        public_key_from_entry(entry)
        keyid = entry_key_id(entry)
        claimed = document.get("keyid")
        if claimed is not None and claimed != keyid:
            raise ValueError(f"its keyid {claimed} does not match the key (expected {keyid})")
        replaces = document.get("replaces")
        if replaces is not None and (
            not isinstance(replaces, list) or not all(isinstance(r, str) for r in replaces)
        ):
            raise ValueError("replaces must be a list of key ids")
        for name in ("gun", "role", "fetched_from"):
            if document.get(name) is not None and not isinstance(document[name], str):
                raise ValueError(f"{name} must be a string")
    except (ValueError, VerificationError) as exc:
        reason = exc.message if isinstance(exc, VerificationError) else str(exc)
        raise PlanError(
            f"{field}: {path} is not a notary public key: {reason}",
            hint="use the files written by `ceremony notary fetch-keys` and "
            "`ceremony notary tagging-key`, or a PEM SubjectPublicKeyInfo",
        ) from None
    return KeyFile(
        str(path),
        entry,
        keyid,
        role=document.get("role"),
        gun=document.get("gun"),
        replaces=tuple(replaces) if replaces is not None else None,
        fetched_from=document.get("fetched_from"),
    )
