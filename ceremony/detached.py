"""Signing across sessions and machines: a draft travels out, detached signatures come back.

``export_draft`` writes a self-contained draft file (the unsigned root, the
previous root it must follow, the repository and ceremony it belongs to).
``sign_draft`` runs wherever the keyholder's token is and writes a signature
file, but only after ``review_draft`` checked the draft against what the keyholder
already trusts (their own trusted root, never the one the file carries; no alias
keys or mismatched key ids: ``ceremony.draft_trust``) and the digest words the room
read aloud matched; ``import_signature`` takes it back into the workspace only if it
is for this very draft of this very ceremony, from a key that counts, not a
duplicate, and verifies.

The files carry their metadata ``format`` (a file without one is TUF, as files written
before notary support are). Everything format-neutral (reading the files, the refusals, the
journal) is here; what a draft and a signature look like for each format lives in a small
adapter the format hands out (``Format.detached()``: ``ceremony.formats.tuf_detached``,
``ceremony.formats.notary_detached``), found through ``ceremony.formats.registry``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ceremony import integrity
from ceremony.errors import StateError, VerificationError
from ceremony.formats import tuf as tuf_format
from ceremony.formats.registry import DEFAULT, format_class, names
from ceremony.frozen import frozen
from ceremony.inputs import load_json, read_input_file
from ceremony.integrity import check_signature_token
from ceremony.keyids import alias_notes
from ceremony.steps.detached import signature_imported
from ceremony.workspace import atomic_write

if TYPE_CHECKING:
    from ceremony.formats.protocol import DetachedAdapter, RolesDetached
    from ceremony.session import Session
    from hsm.pkcs11 import Module, PinProvider

DRAFT_KIND = "ceremony-draft"
SIGNATURE_KIND = "ceremony-signature"
MAX_FILE = 1024 * 1024


def _read_json(path: Path, kind: str) -> dict[str, Any]:
    # Bounded, a regular file (never a FIFO), strict JSON: see ceremony.inputs.
    data = read_input_file(path, MAX_FILE, too_large=f"far larger than any {kind} file")
    obj = load_json(data, f"{path} (a {kind} file)")
    if not isinstance(obj, dict) or obj.get("kind") != kind:
        raise VerificationError(f"{path} is not a {kind} file")
    return obj


#: The fields of a signature file outside the signatures themselves, and their types. None of
#: them is signed, so each is checked for type before anything reads it.
_SIGNATURE_FIELDS: dict[str, tuple[type, ...]] = {
    "kind": (str,), "format": (str,), "repository": (str,), "ceremony_id": (str,),
    "version": (int,), "digest": (str,), "keyholder": (str,), "signatures": (list,)}
_SIGNATURE_ENTRY: dict[str, tuple[type, ...]] = {
    "keyid": (str,), "sig": (str,), "token_serial": (str, type(None)), "role": (str,)}
_OPTIONAL_ENTRY = ("token_serial", "role")  # role: a signature over a role beyond root
_TYPE_NAMES = {str: "a string", int: "an integer", list: "a list", type(None): "null"}


def check_signature_fields(obj: dict[str, Any], where: str) -> None:
    """Refuse a signature file whose unsigned fields are missing or of the wrong type.

    ``format`` may be absent (files from before notary support); every other field must be
    there. Each entry of ``signatures`` is an object with a string ``keyid`` and ``sig`` and
    an optional string ``token_serial``.

    Raises:
        VerificationError: naming the file and the field.
    """
    for name, kinds in _SIGNATURE_FIELDS.items():
        if name not in obj:
            if name == "format":
                continue
            raise VerificationError(f"{where} lacks the field '{name}'")
        _check_type(obj[name], kinds, f"{where}: the field '{name}'")
    for i, entry in enumerate(obj["signatures"]):
        if not isinstance(entry, dict):
            raise VerificationError(f"{where}: signatures[{i}] is not an object")
        for name, kinds in _SIGNATURE_ENTRY.items():
            if name in entry:
                _check_type(entry[name], kinds, f"{where}: the field 'signatures[{i}].{name}'")
            elif name not in _OPTIONAL_ENTRY:
                raise VerificationError(f"{where}: signatures[{i}] lacks the field '{name}'")


def _check_type(value: Any, kinds: tuple[type, ...], what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, kinds):
        want = " or ".join(_TYPE_NAMES[k] for k in kinds)
        raise VerificationError(f"{what} must be {want}, not {type(value).__name__} "
                                f"({json.dumps(value)[:40]})")


# ---- formats ------------------------------------------------------------------------


FORMATS = names()


def _format(name: str) -> DetachedAdapter:
    """The detached-signing adapter of a metadata format (``document``, ``load``, ``keys_of``,
    ``sign``, ``verify``), from the format registry.

    Raises:
        VerificationError: a format this tool cannot sign.
    """
    if name not in FORMATS:
        raise VerificationError(f"the format {name!r} is not one this tool signs "
                                f"({', '.join(FORMATS)})")
    return format_class(name).detached()


def _file_format(obj: dict[str, Any], path: Path) -> str:
    fmt = obj.get("format", DEFAULT)  # files from before notary support carry no format
    if not isinstance(fmt, str) or fmt not in FORMATS:
        raise VerificationError(f"{path} is for the format {fmt!r}, which this tool does not "
                                f"sign ({', '.join(FORMATS)})")
    return fmt


# ---- the draft travels out -----------------------------------------------------------


def export_draft(c: Session, out: Path) -> Path:
    """Write the current draft of ceremony ``c`` as a travelling draft file (never overwrites).

    Raises:
        StateError: nothing drafted.
        WorkspaceError: ``out`` exists.
        VerificationError: the journal's draft or online keys differ from the plan's key files.
    """
    md = c.draft_metadata()
    integrity.check_draft(c)  # the draft that travels is what the plan and key files give
    fmt = c.plan.format
    doc = {"kind": DRAFT_KIND, "format": fmt, "repository": c.plan.repository,
           "ceremony_id": c.state.init["ceremony_id"], "version": md.signed.version,
           "digest": c.state.draft_digest, **_format(fmt).document(c.format)}
    if c.state.draft and c.state.draft.get("roles"):  # targets, delegations: signed with root
        doc["roles"] = c.state.draft["roles"]
    if c.plan.compromised_keys:  # so a remote keyholder is told before touching a token
        doc["compromised_keys"] = list(c.plan.compromised_keys)
    atomic_write(out, json.dumps(doc, indent=1, sort_keys=True).encode(), exclusive=True)
    return out


def spoken_digest(root_digest: str, roles: Mapping[str, Any] | None) -> str:
    """The digest the room reads aloud for a travelling draft (``export-draft`` prints it,
    ``sign-draft --expect-digest`` checks it).

    A root drafted alone: its own digest. A root drafted with other roles (targets, delegated
    roles; ``roles``: name -> the journaled ``{"version", "digest", "signed"}``): the sha256 of
    ``{"root": ROOT_DIGEST, "roles": {NAME: DIGEST, ...}}`` (sorted keys, no spaces), so that
    the words cover every role the keyholder's token will sign, not the root alone: a role
    swapped in the file on its way, with a digest of its own that matches, no longer matches
    the words.
    """
    if not roles:
        return root_digest
    body = {"root": root_digest, "roles": {name: str(roles[name].get("digest"))
                                            for name in sorted(roles)}}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@frozen
class TravellingDraft:
    """A draft file, checked for internal consistency.

    ``draft`` and ``previous`` are the format's root views (python-tuf ``Metadata[Root]`` or
    ``NotaryMetadata``); both offer ``signed.version/keys/roles`` and ``signed_bytes``.
    """

    repository: str
    ceremony_id: str
    draft: Any
    previous: Any | None
    digest: str
    format: str = DEFAULT
    compromised: tuple[str, ...] = ()
    # The roles drafted with root (targets, delegations), checked against their digests.
    roles: Mapping[str, Any] = field(default_factory=dict)
    # What the room reads aloud (:func:`spoken_digest`): the root's digest, or root and roles'.
    spoken: str = ""


def load_draft(path: Path) -> TravellingDraft:
    """Read and check a draft file.

    Raises:
        VerificationError: malformed, its digest does not match its content, a key id that is
            no hash of its key, or one key listed twice in the draft's root role.
    """
    obj = _read_json(path, DRAFT_KIND)
    fmt = _file_format(obj, path)
    try:
        repository, ceremony_id, digest = obj["repository"], obj["ceremony_id"], obj["digest"]
        for name in ("repository", "ceremony_id", "digest"):  # unsigned: typed before use
            _check_type(obj[name], (str,), f"{path}: the field '{name}'")
        draft, prev, actual = _format(fmt).load(obj, path, repository)
    except KeyError as e:
        raise VerificationError(f"{path} lacks the field {e}") from None
    if actual != digest:
        raise VerificationError(f"{path}: the draft does not match its digest; it was changed")
    aliases = alias_notes(draft.signed, "root", tuf_format.key_name)
    if aliases:
        raise VerificationError(f"{path}: in the draft of root v{draft.signed.version}, "
                                f"{aliases[0]}; a draft that lists one key twice is not signed")
    if prev is not None and prev.signed.version + 1 != draft.signed.version:
        raise VerificationError(f"{path}: the draft (v{draft.signed.version}) does not follow "
                                f"the previous root (v{prev.signed.version})")
    compromised = obj.get("compromised_keys", [])
    if not isinstance(compromised, list) or not all(isinstance(k, str) for k in compromised):
        raise VerificationError(f"{path}: compromised_keys must be a list of key ids")
    roles = _format(fmt).load_roles(obj, path)  # a format signing roles beyond root (TUF)
    spoken = spoken_digest(digest, obj.get("roles") if roles else None)  # each digest checked above
    return TravellingDraft(repository, ceremony_id, draft, prev, digest, fmt, tuple(compromised),
                           roles, spoken)


def keys_of(draft: TravellingDraft, keyholder: str) -> list[Any]:
    """``keyholder``'s root keys in the draft and the previous root."""
    return list(_format(draft.format).keys_of(draft.draft, draft.previous, keyholder))


@frozen
class Review:
    """A travelling draft as its keyholder checks it, before any token is touched.

    ``draft.previous`` is the keyholder's own trusted root (``anchor``), never the root the
    file carried; ``changes`` are computed against it; ``keys`` are the keyholder's keys that
    sign (compromised ones left out).
    """

    draft: TravellingDraft
    anchor: Any  # ceremony.draft_trust.Anchor
    changes: list[str]
    keys: list[Any]
    role_keys: Mapping[str, list[Any]] = field(default_factory=dict)  # role -> keys that sign


def review_draft(path: Path, keyholder: str, trusted: Path | None) -> Review:
    """Read a draft file and check it against what ``keyholder`` already trusts: the trusted
    root (a file or chain folder; none for a first root v1), no alias keys, no key under an
    id that is not its hash, and a key of theirs that counts. No token is touched.

    Raises:
        UsageError: a rotation and no trusted root.
        VerificationError: the draft is bad, does not continue the trusted root, or the
            keyholder has no key that counts.
    """
    from ceremony import draft_trust  # lazy: with ceremony.chain (~8M instr.), sign-draft only
    draft, anchor = draft_trust.review(load_draft(path), trusted)
    all_keys = keys_of(draft, keyholder)
    adapter = cast("RolesDetached", _format(draft.format))  # asked only when roles travel
    role_keys = {role: kept for role, ks in adapter.role_keys_of(draft.draft, dict(draft.roles),
                                                                  keyholder).items()
                 if (kept := [k for k in ks if k.keyid not in draft.compromised])} \
        if draft.roles else {}
    if not all_keys and role_keys:  # a keyholder of targets or a delegation alone
        return Review(draft, anchor, draft_trust.changes(draft, anchor), [], role_keys)
    if not all_keys:
        raise VerificationError(f"{keyholder} holds no key in root v{draft.draft.signed.version} "
                                "or the root before it: their signature would count toward no threshold")
    keys = [k for k in all_keys if k.keyid not in draft.compromised]
    if not keys:
        raise VerificationError(f"{keyholder}'s key {all_keys[0].keyid[:12]} was declared compromised "
                                "(ceremony.compromised_keys): it does not sign this root",
                                hint="the other keyholders sign; a compromised key never counts")
    return Review(draft, anchor, draft_trust.changes(draft, anchor), keys, role_keys)


def sign_draft(path: Path, keyholder: str, module: Module, pin: PinProvider, out: Path,
               on_touch: Any = None, *, trusted: Path | None, expect_digest: str | None) -> Path:
    """Sign a travelling draft on ``keyholder``'s token; write a detached signature file.

    Everything is checked before the token is asked for anything: the draft against the
    keyholder's ``trusted`` root (``review_draft``) and its digest against ``expect_digest``,
    the words (or hex) the room read aloud.

    Raises:
        UsageError: a rotation without ``trusted``, or no/unreadable ``expect_digest``.
        VerificationError: the draft is bad or does not match what the keyholder trusts or was
            read, or the keyholder has no key that counts.
        hsm.errors.HsmError: token missing/wrong, PIN refused.
    """
    from ceremony.draft_trust import confirm_digest  # lazy: sign-draft only
    review = review_draft(path, keyholder, trusted)
    draft = review.draft
    confirm_digest(draft.spoken or draft.digest, expect_digest)  # root and roles, as read aloud
    adapter = _format(draft.format)
    sigs = adapter.sign(draft.draft, review.keys, module, pin, on_touch) if review.keys else []
    if review.role_keys:  # the roles drafted with root that this keyholder signs too
        sigs += cast("RolesDetached", adapter).sign_roles(dict(draft.roles), dict(review.role_keys),
                                                          module, pin, on_touch)
    doc = {"kind": SIGNATURE_KIND, "format": draft.format, "repository": draft.repository,
           "ceremony_id": draft.ceremony_id, "version": draft.draft.signed.version,
           "digest": draft.digest, "keyholder": keyholder, "signatures": sigs}
    atomic_write(out, json.dumps(doc, indent=1, sort_keys=True).encode(), exclusive=True)
    return out


def import_signature(c: Session, path: Path) -> list[str]:
    """Take a detached signature file into ceremony ``c``; returns the key ids added.

    Raises:
        VerificationError: for another repository, ceremony or draft; from a key that is
            not (or no longer) a root key, or not the keyholder's; or not verifying.
        StateError: no draft, already published, or already signed by that key.
    """
    obj = _read_json(path, SIGNATURE_KIND)
    check_signature_fields(obj, str(path))
    md = c.draft_metadata()
    if c.state.draft_published:
        raise StateError(f"root v{md.signed.version} is already published")
    try:
        repository, ceremony_id, digest = obj["repository"], obj["ceremony_id"], obj["digest"]
        keyholder, sigs = obj["keyholder"], obj["signatures"]
    except KeyError as e:
        raise VerificationError(f"{path} lacks the field {e}") from None
    if repository != c.plan.repository:
        raise VerificationError(f"{path} is a signature for repository {repository!r}, "
                                f"not {c.plan.repository!r}")
    if ceremony_id != c.state.init["ceremony_id"]:
        raise VerificationError(f"{path} belongs to another ceremony ({ceremony_id})")
    fmt = _file_format(obj, path)
    if fmt != c.plan.format:
        raise VerificationError(f"{path} is a {fmt} signature file; this is a {c.plan.format} "
                                "ceremony")
    if digest != c.state.draft_digest:
        raise VerificationError(f"{path} signs another draft (digest {str(digest)[:16]}...), "
                                f"not the current root v{md.signed.version} "
                                f"({str(c.state.draft_digest)[:16]}...): it is stale or foreign")
    if not isinstance(sigs, list) or not sigs or not all(isinstance(s, dict) for s in sigs):
        raise VerificationError(f"{path} holds no signatures")
    adapter = _format(fmt)
    counting = {k.keyid: k for k in c.signing_keys(keyholder)}
    payload = md.signed_bytes
    checked: list[tuple[str, dict[str, Any], Any]] = []
    role_checked = _check_role_signatures(c, path, keyholder, adapter,
                                          [s for s in sigs if "role" in s])
    sigs = [s for s in sigs if "role" not in s]
    for s in sigs:  # every signature is checked before any is journaled
        keyid = s.get("keyid")
        if not isinstance(keyid, str):
            raise VerificationError(f"{path}: a signature names no key id")
        if keyid in c.state.signatures or keyid in [k for k, _, _ in checked]:
            raise StateError(f"{path}: {keyholder} has already signed root v{md.signed.version} "
                             f"with key {str(keyid)[:12]}; a duplicate is not added")
        if keyid in c.plan.compromised_keys:
            raise VerificationError(f"{path}: the signature is from a key declared compromised "
                                    f"({keyid[:12]}): it never counts")
        if keyid not in counting:
            revoked = c.revoked_in(str(keyid))
            why = (f"a revoked key (removed in root v{revoked})" if revoked
                   else f"a key that is not {keyholder}'s root key")
            raise VerificationError(f"{path}: the signature is from {why} ({str(keyid)[:12]}); "
                                    "it counts toward no threshold")
        fields = adapter.verify(counting[keyid], s, payload)
        if fields is None:
            raise VerificationError(f"{path}: the signature by {keyholder} does not verify over "
                                    f"root v{md.signed.version}")
        check_signature_token(c, path, keyholder, counting[keyid], s)  # unsigned fields
        checked.append((keyid, fields, s.get("token_serial")))
    for keyid, fields, serial in checked:
        signature_imported(c, keyholder, keyid, fields, c.state.draft_digest, serial, str(path.name))
    c.format.write_draft()
    assert c.state.draft is not None
    for role, keyid, fields, serial in role_checked:
        signature_imported(c, keyholder, keyid, fields, c.state.draft["roles"][role]["digest"],
                           serial, str(path.name), role=role)
    return [keyid for keyid, _, _ in checked] + [k for _, k, _, _ in role_checked
                                                 if k not in [c_[0] for c_ in checked]]


def _check_role_signatures(c: Session, path: Path, keyholder: str, adapter: DetachedAdapter,
                           sigs: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any], Any]]:
    """Verify the entries of a signature file over roles beyond root (targets, delegations):
    each names a role of the draft, a key of ``keyholder`` that counts toward it, and verifies
    over that role's draft. Returns (role, keyid, fields, token serial) for each.

    Raises:
        VerificationError: a role the draft does not hold, a key that does not count, a
            signature that does not verify.
        StateError: that key already signed that role.
    """
    if not sigs:
        return []
    roles = c.roles_format()
    if roles is None:
        raise VerificationError(f"{path}: signatures over roles beyond root, but this draft "
                                "holds root alone")
    counting = roles.role_keys_of(keyholder)
    out: list[tuple[str, str, dict[str, Any], Any]] = []
    for s in sigs:
        role, keyid = str(s["role"]), s.get("keyid")
        keys = {k.keyid: k for k in counting.get(role, [])}
        if keyid not in keys:
            raise VerificationError(f"{path}: the signature over {role} is from a key that is not "
                                    f"{keyholder}'s key in {role} ({str(keyid)[:12]}); it counts "
                                    "toward no threshold")
        if keyid in c.state.role_signatures.get(role, {}) or (role, keyid) in [(r, k) for r, k, _, _ in out]:
            raise StateError(f"{path}: {keyholder} has already signed {role} with key "
                             f"{str(keyid)[:12]}; a duplicate is not added")
        fields = adapter.verify(keys[str(keyid)], s, roles.role_payload(role))
        if fields is None:
            raise VerificationError(f"{path}: the signature by {keyholder} does not verify over "
                                    f"the draft of {role}")
        check_signature_token(c, path, keyholder, keys[str(keyid)], s)  # unsigned fields
        out.append((role, str(keyid), fields, s.get("token_serial")))
    return out
