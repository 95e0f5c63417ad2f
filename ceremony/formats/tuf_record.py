"""The record of a TUF ceremony: its key files, who seals it, and its published roots as the
offline record check and the report read them (``TufFormat``'s ``record_*`` methods).

Everything here works from the journal and the workspace's files alone (no session, no token):
``ceremony.record``, ``ceremony.record_check`` and ``ceremony.seal`` ask the journal's format
through the registry. A TUF root names each key's keyholder and token in its ``x-ceremony-*``
fields, so the sealers come from the published root (and, for a rotation, the previous root).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from securesystemslib.signer import Key
from tuf.api.metadata import Metadata, Root

from ceremony import chain
from ceremony.errors import StateError, VerificationError
from ceremony.events import PUBLISHED, DraftCreated, Published, SignatureAdded, parse
from ceremony.formats import tuf as tuf_format, tuf_roles
from ceremony.formats.base import published_verdict
from ceremony.journal import Event
from ceremony.workspace import Workspace


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def key_file_bytes(event: Mapping[str, Any]) -> bytes:
    """``keys/root-NAME.json``: the key dict with its id, as keygen writes it."""
    return json.dumps({"keyid": event["keyid"], **event["key"]}, indent=1, sort_keys=True).encode()


def load_published(ws: Workspace, events: list[Event]) -> Metadata[Root]:
    """The last published root, read back and checked against the journal's digest.

    Raises:
        StateError: nothing published yet.
        VerificationError: the file is missing or differs from what was published.
    """
    ev = next((e for e in reversed(events) if e.type == PUBLISHED), None)
    if ev is None:
        raise StateError("no root has been published yet", hint="publish before sealing")
    pub = parse(ev)
    assert isinstance(pub, Published)  # picked by its type above
    path = ws.metadata / f"{pub.version}.root.json"
    data = chain.read_root_file(path)
    if _sha256(data) != pub.sha256:
        raise VerificationError(f"{path.name} differs from the root published at journal line "
                                f"{ev.seq}", hint="the published metadata was changed; restore it")
    return tuf_format.from_bytes(data, path.name)


def previous_root(ws: Workspace, events: list[Event]) -> Metadata[Root] | None:
    """The newest root of the previous chain copied in at init, checked against the journal.

    Raises:
        VerificationError: the copy in ``previous/`` was changed after init.
    """
    return read_previous(ws, events[0].data.get("previous") if events else None)


def read_previous(ws: Workspace, info: Mapping[str, Any] | None) -> Metadata[Root] | None:
    """The newest root of the previous chain as init journaled it (``info``, the init event's
    ``previous``), read from ``previous/`` and checked against its journaled digest.

    Raises:
        VerificationError: the copy in ``previous/`` was changed after init.
    """
    if not info:
        return None
    path = ws.previous / f"{info['version']}.root.json"
    data = chain.read_root_file(path)
    if _sha256(data) != info["sha256"]:
        raise VerificationError(f"{path} was changed after the ceremony started")
    return tuf_format.from_bytes(data, path.name)


def sealers(ws: Workspace, events: list[Event]) -> list[tuple[str, str, Key]]:
    """(keyholder, keyid, key) for each root key that signed the published root and names its
    token (``x-ceremony-key-uri``): from the published root or, for a rotation, the previous
    root (an old key that signed to meet the old threshold signed the root too).

    Raises:
        StateError: nothing published.
        VerificationError: the published or the previous root was changed.
    """
    md = load_published(ws, events)
    prev = previous_root(ws, events)
    pools = [md.signed.keys] + ([prev.signed.keys] if prev is not None else [])
    out = []
    for keyid in sorted(md.signatures):
        key = next((p[keyid] for p in pools if keyid in p), None)
        if key is None or tuf_format.X_KEY_URI not in key.unrecognized_fields:
            continue
        out.append((tuf_format.keyholder_of(key) or keyid[:12], keyid, key))
    return out


def check_published(ws: Workspace, events: list[Event], version: int, data: bytes,
                    name: str) -> tuple[str | None, str | None]:
    """Check a published root (already digest-checked against the journal): it is the
    journaled draft, carries only journaled signatures, and is signed at every threshold.

    Returns:
        (problem, None) or (None, the check passed), in the record's words.
    """
    typed = [parse(e) for e in events]
    md = tuf_format.from_bytes(data, name)
    draft = next((d for d in typed if isinstance(d, DraftCreated) and d.version == version), None)
    if draft is None or tuf_format.signed_digest(md) != draft.digest:
        return f"metadata/{name} is not the draft journaled for v{version}", None
    journaled = {d.keyid: d.sig for d in typed
                 if isinstance(d, SignatureAdded) and d.draft == draft.digest}
    stray = [k for k, s in md.signatures.items() if journaled.get(k) != s.signature]
    if stray:
        return (f"metadata/{name} carries a signature never journaled (key {stray[0][:12]})",
                None)
    try:
        prev = previous_root(ws, events)
        st = tuf_format.status(md, prev.signed if prev else None, f"metadata/{name}")
    except VerificationError as err:
        return err.message, None
    problem, check = published_verdict(st, name)
    if problem is None and draft.roles:
        problem, more = _check_roles(ws, typed, version, draft, md.signed)
        check = f"{check}; {more}" if more else check
    return (problem, None) if problem else (None, check)


def _check_roles(ws: Workspace, typed: list[Any], version: int, draft: DraftCreated,
                 root: Root) -> tuple[str | None, str | None]:
    """The other roles published with root ``version``: every file has the digest the
    ``published`` event journaled, and every role is its journaled draft signed at its
    delegator's threshold by journaled signatures."""
    pub = next((e for e in typed if isinstance(e, Published) and e.version == version), None)
    if pub is None:
        return None, None
    for rel, digest in sorted((pub.roles or {}).items()):
        try:
            data = (ws.root / rel).read_bytes()
        except OSError:
            return f"{rel} is missing (published with root v{version})", None
        if _sha256(data) != digest:
            return f"{rel} is not the file published with root v{version}", None
    assert draft.roles is not None
    sigs: dict[str, dict[str, Any]] = {}
    for e in typed:
        if isinstance(e, SignatureAdded) and e.role and e.role in draft.roles \
                and e.draft == draft.roles[e.role].get("digest"):
            sigs.setdefault(e.role, {})[e.keyid] = {"sig": e.sig}
    try:
        mds = tuf_roles.from_journal(draft.roles, sigs)
    except VerificationError as err:
        return err.message, None
    top = root.roles[tuf_roles.TARGETS]
    verdicts = [tuf_roles.verdict(n, md, *tuf_roles.delegator(n, (top.keyids, top.threshold),
                                                              root.keys, mds[tuf_roles.TARGETS].signed))
                for n, md in mds.items()]
    short = [v.describe() for v in verdicts if not v.met]
    if short:
        return "a role published with root is not signed at threshold: " + "; ".join(short), None
    return None, (f"{', '.join(mds)} published as journaled ({len(pub.roles or {})} files), "
                  "each signed at threshold")


def describe_published(ws: Workspace, events: list[Event]) -> list[str]:
    """The last published root in words, with its threshold verdicts.

    Raises:
        StateError, VerificationError: as :func:`load_published`.
    """
    md = load_published(ws, events)
    prev = previous_root(ws, events)
    st = tuf_format.status(md, prev.signed if prev else None)
    return [*tuf_format.describe_root(md.signed), *st.lines()]
