"""The record of a notary ceremony: who seals it, and the root key files the record checks.

``ceremony.record`` seals a journal head with the root keys that signed the published root.
For TUF those keys name their keyholder and token in ``x-`` fields inside root.json; a notary
root cannot carry such fields (notary-server drops them), so here the keys come from the
published root (its certificates, checked against the journal's digest) and who holds them
from the journal's ``key-generated`` events and, for keys kept from an earlier ceremony, the
previous ``ceremony-keys.json`` sidecar whose digest ``init`` journaled. The sidecar only names
people and tokens: every seal signature is checked against the certificate's public key.

The seal signature itself is the same as for TUF (``seal.seal_payload``, the token's own
raw signature for the key's algorithm); the algorithm is read from the certificate's curve,
not from the unsigned sidecar.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from ceremony.chain import read_root_file
from ceremony.errors import StateError, VerificationError
from ceremony.events import DRAFT_CREATED, KEY_GENERATED, PUBLISHED, SIGNATURE_ADDED
from ceremony.formats import previous_copies, tuf as tuf_format
from ceremony.formats.base import published_verdict
from ceremony.formats.notary_files import SIDECAR, read_sidecar, yubikey_identity
from ceremony.formats.notary_root import NotaryKey, NotaryMetadata, NotaryRoot, status

__all__ = ["check_published", "describe_published", "key_file_bytes", "published_root",
           "sealers"]

_CURVES = {"secp256r1": "ecdsa-p256", "secp384r1": "ecdsa-p384"}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def key_file_bytes(event: Mapping[str, Any]) -> bytes:
    """``keys/root-NAME.json`` as the notary keygen writes it (``NotaryFormat.describe_key``), from
    its journal event."""
    entry = event["key"]
    return json.dumps({"keyid": event["keyid"], "keyholder": event["keyholder"], **entry,
                       "canonical_keyid": event["canonical_keyid"]},
                      indent=1, sort_keys=True).encode()


def _read(path: Path) -> bytes:
    return read_root_file(path)


def _identities(ws: Any, events: list[Any]) -> dict[str, dict[str, Any]]:
    """keyid -> keyholder/token: the previous sidecar (digest-checked), then this journal."""
    init = events[0].data if events else {}
    info = init.get("previous") or {}
    out: dict[str, dict[str, Any]] = {}
    if info.get("sidecar_sha256"):
        path = ws.previous / SIDECAR
        data = _read(path)
        if _sha256(data) != info["sidecar_sha256"]:
            raise VerificationError(f"{path} was changed after the ceremony started")
        known: set[str] = set()
        for version in info.get("versions", []):
            name = f"{version}.root.json"
            data_n = previous_copies.check(ws.previous / name, _read(ws.previous / name), info)
            known |= set(NotaryMetadata.from_bytes(data_n, name).signed.keys)
        out.update(read_sidecar(data, str(init.get("repository")), known, str(path)))
    for e in events:
        if e.type == KEY_GENERATED:
            d = e.data
            out[d["keyid"]] = {"keyholder": d["keyholder"], "token_label": d.get("token_label"),
                               "token_serial": d.get("token_serial"), "uri": d.get("uri"),
                               "algorithm": d.get("algorithm"),
                               **yubikey_identity(d.get("device"), d.get("attestation"))}
    return out


def published_root(ws: Any, events: list[Any]) -> NotaryMetadata:
    """The last published notary root, read back and checked against the journal's digest.

    Raises:
        StateError: nothing published yet.
        VerificationError: the file is missing or differs from what was published.
    """
    ev = next((e for e in reversed(events) if e.type == PUBLISHED), None)
    if ev is None:
        raise StateError("no root has been published yet", hint="publish before sealing")
    path = ws.metadata / f"{ev.data['version']}.root.json"
    data = _read(path)
    if _sha256(data) != ev.data["sha256"]:
        raise VerificationError(f"{path.name} differs from the root published at journal line "
                                f"{ev.seq}", hint="the published metadata was changed; restore it")
    return NotaryMetadata.from_bytes(data, path.name)


def _previous_root(ws: Any, events: list[Any],
                   identities: Mapping[str, Any] | None = None) -> NotaryMetadata | None:
    return read_previous(ws, events[0].data.get("previous") if events else None, identities)


def read_previous(ws: Any, info: Mapping[str, Any] | None,
                  identities: Mapping[str, Any] | None = None) -> NotaryMetadata | None:
    """The newest root of the previous chain as init journaled it (``info``, the init event's
    ``previous``), read from ``previous/`` and checked against its journaled digest.

    Raises:
        VerificationError: the copy in ``previous/`` was changed after init.
    """
    if not info:
        return None
    path = ws.previous / f"{info['version']}.root.json"
    data = _read(path)
    if _sha256(data) != info["sha256"]:
        raise VerificationError(f"{path} was changed after the ceremony started")
    return NotaryMetadata.from_bytes(data, path.name, identities)


def _algorithm(key: NotaryKey) -> str | None:
    public = key.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        return _CURVES.get(public.curve.name)
    return None


def sealers(ws: Any, events: list[Any]) -> list[tuple[str, str, NotaryKey]]:
    """(keyholder, keyid, key) for each root key that signed the published root and whose
    token is known; the key's identity holds the token and the algorithm of its certificate.

    Keys come from the published root or, for a rotation, the previous root (an old key that
    signed to meet the old threshold signed the root too).

    Raises:
        StateError: nothing published.
        VerificationError: the published root, the previous root or its sidecar was changed.
    """
    md = published_root(ws, events)
    prev = _previous_root(ws, events)
    identities = _identities(ws, events)
    pools = [md.signed.keys] + ([prev.signed.keys] if prev is not None else [])
    out = []
    for keyid in sorted(md.signatures):
        key = next((p[keyid] for p in pools if keyid in p), None)
        identity = identities.get(keyid) or {}
        if key is None or not identity.get("uri"):
            continue
        algorithm = _algorithm(key)
        if algorithm is None:
            continue
        key = NotaryKey(keyid, key.entry, {**identity, "algorithm": algorithm})
        out.append((str(identity.get("keyholder") or keyid[:12]), keyid, key))
    return out


def check_published(ws: Any, events: list[Any], version: int, data: bytes,
                    name: str) -> tuple[str | None, str | None]:
    """Check a published notary root (already digest-checked against the journal): it is the
    journaled draft, carries only journaled signatures, and is signed at every threshold.

    Returns:
        (problem, None) or (None, the check passed), in the record's words.
    """
    try:
        identities = _identities(ws, events)
        md = NotaryMetadata.from_bytes(data, name, identities)
    except VerificationError as err:
        return err.message, None
    draft = next((d for d in events if d.type == DRAFT_CREATED
                  and d.data["version"] == version), None)
    if draft is None or md.digest != draft.data["digest"]:
        return f"metadata/{name} is not the draft journaled for v{version}", None
    journaled = {d.data["keyid"]: d.data["sig"] for d in events
                 if d.type == SIGNATURE_ADDED and d.data.get("draft") == draft.data["digest"]}
    stray = [s.keyid for s in md.signature_list
             if journaled.get(s.keyid) != base64.b64encode(s.sig).decode("ascii")]
    if stray:
        return (f"metadata/{name} carries a signature never journaled (key {stray[0][:12]})",
                None)
    try:
        prev = _previous_root(ws, events, identities)
        st = status(md, prev.signed if prev else None, str(events[0].data.get("repository")),
                    check_expiry=False)
    except VerificationError as err:
        return err.message, None
    return published_verdict(st, name)


def describe_published(ws: Any, events: list[Any]) -> list[str]:
    """The last published notary root in words (keys named), with its threshold verdicts.

    Raises:
        StateError, VerificationError: as ``published_root``.
    """
    identities = _identities(ws, events)
    md = published_root(ws, events)
    md = NotaryMetadata(NotaryRoot(md.signed.to_dict(), identities), md.signature_list)
    prev = _previous_root(ws, events, identities)
    st = status(md, prev.signed if prev else None, str(events[0].data.get("repository")),
                check_expiry=False)
    return [*tuf_format.describe_root(md.signed), *st.lines()]  # type: ignore[arg-type]
