"""What is written out is what was journaled: re-derivation checks before a step relies on a file.

The journal is hash-chained, but the chain only proves that lines were not edited one by one: an
attacker who can write the whole workspace can rewrite the journal and recompute every hash. So
the steps that rely on the draft or on published files re-check them against what such an
attacker cannot (or cannot as easily) change:

* **Online keys** (:func:`check_online_keys`, before ``draft``; :func:`check_draft`, before
  ``sign``, ``publish``, ``seal`` and ``export``). The journal's ``initialized`` event lists the
  online keys the draft is built from. They are compared, role by role and key by key, with

  1. the plan's own key files where the plan was read at ``init`` (its folder is journaled as
     ``plan_dir``; the files live outside the workspace, so a workspace rewrite does not reach
     them). Unreachable files (the plan's stick was taken away) fall back to (2);
  2. the copies ``init`` wrote to ``keys/online-ROLE-ID.json``;
  3. the draft's online roles (keys and the plan's thresholds); for TUF the whole draft is
     rebuilt from the plan, the root keys and the anchored online keys, and its digest must be
     the journaled one.

  Limits: an attacker who rewrites the journal *and* ``keys/`` *and* either the plan's key files
  outside the workspace or the journaled ``plan_dir`` is not caught here; what catches them is
  the room reading the draft's key fingerprints aloud, and, once sealed, the seal (root tokens
  sign the journal head, which no rewrite can recompute).
* **Published files** (:func:`check_export`): every file ``export`` ships must have the digest
  the ``published`` event recorded (``N.root.json``, ``root.json``); the previous chain copied in
  at ``init`` must walk from its first root to the newest, whose digest ``init`` journaled; the
  notary sidecar must be the one the journal's key records rebuild.
* **Detached signatures** (:func:`check_signature_token`): the token serial and label a
  signature file names are not signed; they must be those journaled for the key (its
  ``key-generated`` event, or a kept key's ``x-ceremony-token-*`` fields in the previous root),
  else the transcript would record a token that never signed.

Every refusal is a :class:`~ceremony.errors.VerificationError` (exit 3): a file read back did not
verify against the journal. Nothing is written before these checks pass.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from ceremony.errors import CeremonyError, VerificationError
from ceremony.events import PUBLISHED
from ceremony.formats import previous_copies, tuf as tuf_format
from ceremony.session import Session

#: The journal field (``initialized`` event) holding the plan's folder at ``init``.
PLAN_DIR = "plan_dir"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _short(keyid: str) -> str:
    return str(keyid)[:16]


# ---- online keys ------------------------------------------------------------------------


def anchored_online_keys(c: Session) -> tuple[dict[str, list[dict[str, Any]]], str]:
    """The online keys as the plan's key files give them, and where they were read.

    The plan's folder journaled at ``init`` is tried first (outside the workspace); when its
    files cannot be read, the ``keys/online-*.json`` copies made at ``init``.

    Raises:
        VerificationError: a copy in ``keys/`` is missing or unreadable.
    """
    plan_dir = c.state.init.get(PLAN_DIR)
    if isinstance(plan_dir, str) and plan_dir:
        try:
            return _plan_files(c, Path(plan_dir)), f"the plan's key files in {plan_dir}"
        except (CeremonyError, OSError):
            pass  # the plan's folder is gone (a stick taken away): the copies made at init
    return _workspace_copies(c), "the key files copied to keys/ at init"


def _plan_files(c: Session, base: Path) -> dict[str, list[dict[str, Any]]]:
    """Raises:
        PlanError: a key file is missing or not a public key.
    """
    return c.format.plan_online_keys(base)


def _workspace_copies(c: Session) -> dict[str, list[dict[str, Any]]]:
    """The ``keys/online-ROLE-ID.json`` copies ``init`` wrote, per role (by file name).

    Raises:
        VerificationError: a copy is unreadable, or its content is not the key its name says.
    """
    out: dict[str, list[dict[str, Any]]] = {role: [] for role in c.state.init.get("online_keys") or {}}
    folder = c.ws.keys
    for path in sorted(folder.glob("online-*.json")) if folder.is_dir() else []:
        stem = path.name[len("online-"):-len(".json")]
        role, _, short = stem.rpartition("-")
        try:
            entry = json.loads(path.read_bytes())
            ok = isinstance(entry, dict) and str(entry.get("keyid", "")).startswith(short)
        except (OSError, ValueError):
            ok = False
        if not role or not ok:
            raise VerificationError(f"keys/{path.name} is not the online key its name says",
                                    hint="restore the workspace from a copy; nothing was done")
        out.setdefault(role, []).append(entry)
    return out


def _compare_keys(want: dict[str, list[dict[str, Any]]], got: dict[str, list[dict[str, Any]]],
                  want_what: str, got_what: str) -> None:
    """Refuse the first role whose keys differ, naming the role and both key ids.

    Raises:
        VerificationError: a role's keys differ.
    """
    for role in sorted(set(want) | set(got)):
        a, b = want.get(role, []), got.get(role, [])
        a_ids, b_ids = [str(k.get("keyid")) for k in a], [str(k.get("keyid")) for k in b]
        if sorted(a_ids) != sorted(b_ids):
            left = sorted(set(a_ids) - set(b_ids)) or a_ids or ["none"]
            right = sorted(set(b_ids) - set(a_ids)) or b_ids or ["none"]
            raise VerificationError(
                f"the {role} key in {got_what} is {_short(right[0])}, but in {want_what} it "
                f"is {_short(left[0])}: {_CHANGED}; refusing",
                hint="restore the workspace (or the plan's key files) from a copy, or start a "
                     "new workspace from the plan; nothing was done")
        by_id = {str(k.get("keyid")): k for k in b}
        for k in a:
            other = by_id[str(k.get("keyid"))]
            if other != k:
                raise VerificationError(
                    f"the {role} key {_short(str(k.get('keyid')))} in {got_what} differs from "
                    f"{want_what} (same id, other content): {_CHANGED}; refusing",
                    hint="restore the workspace (or the plan's key files) from a copy; nothing "
                         "was done")


#: Why two views of the online keys can differ; the tool cannot tell which one is true.
_CHANGED = ("the online keys are not those the ceremony started with (a rewritten journal, or "
            "replaced key files)")


def check_online_keys(c: Session) -> tuple[dict[str, list[dict[str, Any]]], str]:
    """Refuse a journal whose online keys differ from the plan's key files (and ``keys/``).

    Returns the anchored online keys (role -> key entries with ``keyid``) and where they
    were read.

    Raises:
        VerificationError: a role's keys differ; the message names the role and both key ids.
    """
    journaled = c.state.init.get("online_keys") or {}
    anchored, where = anchored_online_keys(c)
    _compare_keys(anchored, journaled, where, "the journal")
    if where.startswith("the plan's"):
        _compare_keys(journaled, _workspace_copies(c), "the journal",
                      "the key files copied to keys/ at init")
    return anchored, where


def check_draft(c: Session) -> None:
    """Before a step relies on the draft: the online keys are anchored (:func:`check_online_keys`)
    and the draft's online roles are those keys at the plan's thresholds; a TUF draft is rebuilt
    whole from the plan and the keys and must have the journaled digest.

    Raises:
        VerificationError: the journal or the draft differs (the message names the role and
            both key ids, or the field).
    """
    anchored, where = check_online_keys(c)
    draft = c.state.draft
    if draft is None:
        return
    roles = c.format.draft_roles(draft.get("signed") or {})  # the format reads its draft
    for r in c.plan.online:
        in_draft, threshold = roles.get(r.name, ([], None))
        _compare_keys({r.name: anchored.get(r.name, [])}, {r.name: in_draft},
                      where, f"the draft of root v{draft.get('version')}")
        if threshold != r.threshold:
            raise VerificationError(
                f"the draft of root v{draft.get('version')} gives {r.name} the threshold "
                f"{threshold}, the plan {r.threshold}: the journal was rewritten; "
                "refusing", hint="restore the workspace from a copy; nothing was done")
    root_threshold = roles.get("root", ([], None))[1]
    if root_threshold != c.plan.root.threshold:
        raise VerificationError(
            f"the draft of root v{draft.get('version')} gives root the threshold "
            f"{root_threshold}, the plan {c.plan.root.threshold}: the journal was "
            "rewritten; refusing", hint="restore the workspace from a copy; nothing was done")
    _rebuild(c, anchored)


def _rebuild(c: Session, anchored: dict[str, list[dict[str, Any]]]) -> None:
    """Rebuild the draft from the plan, the root keys and ``anchored`` (for a format that
    rebuilds drafts: TUF's is a function of them); same digest or refuse.

    Raises:
        VerificationError: the rebuilt draft differs from the journaled one.
    """
    d = c.state.draft
    assert d is not None  # check_draft runs on a drafted ceremony (draft_metadata() refused)
    try:
        created = datetime.fromisoformat(str(d["created"]))
    except (KeyError, ValueError):
        raise VerificationError(f"the draft of root v{d.get('version')} in the journal has no "
                                "valid creation time; the journal was rewritten") from None
    digest = c.format.rebuilt_digest(c.root_keys(), int(d["version"]), created, anchored)
    if digest is not None and digest != d.get("digest"):
        raise VerificationError(
            f"the draft of root v{d.get('version')} is not what the plan and the key files give "
            "(rebuilt, its digest differs from the journal's): the journal was rewritten; "
            "refusing", hint="restore the workspace from a copy; nothing was done")


# ---- files that go out ------------------------------------------------------------------


def check_export(c: Session, files: dict[str, bytes]) -> None:
    """Refuse to ship any published-metadata file that is not what the journal recorded.

    ``files`` are the exact bytes about to be bundled: ``N.root.json`` of each published
    version and ``root.json`` (the digests of the ``published`` events), the previous chain
    copied in at ``init`` (walked from its first root to the newest, whose digest ``init``
    journaled), and a notary ``ceremony-keys.json`` (rebuilt from the journal).

    Raises:
        VerificationError: a file was replaced, is extra, or is missing; the message names it.
    """
    published = {e.data["version"]: e for e in c.journal.events if e.type == PUBLISHED}
    if not published:
        return
    newest = published[max(published)]
    info = c.state.init.get("previous") or {}
    previous_versions = [int(v) for v in info.get("versions") or []]
    previous: dict[str, bytes] = {}
    for name, data in files.items():
        version = _version_of(name)
        if name == "root.json":
            _same(name, data, newest.data["sha256"], f"the root published at journal line "
                  f"{newest.seq} (v{newest.data['version']})")
        elif version is not None and version in published:
            e = published[version]
            _same(name, data, e.data["sha256"], f"the root published at journal line {e.seq}")
        elif version is not None and version in previous_versions:
            previous[name] = data
        elif (want := c.format.published_extra(name, newest.data["version"])) is not None:
            if data != want:
                raise VerificationError(
                    f"metadata/{name} differs from the key records in the journal: it was "
                    "replaced after publish; nothing was exported",
                    hint="restore the file from a copy (or publish again in a copy of the "
                         "workspace); `ceremony record verify` names every difference")
        else:
            raise VerificationError(f"{name} is not a file the journal recorded; nothing was "
                                    "exported")
    for version in published:
        if f"{version}.root.json" not in files:
            raise VerificationError(f"metadata/{version}.root.json (published) is missing; "
                                    "nothing was exported")
    if previous_versions:
        _check_previous(c, previous, previous_versions, info)


def _version_of(name: str) -> int | None:
    """N for a file named exactly ``N.root.json`` (not ``01.root.json``), else None."""
    head, _, rest = name.partition(".")
    if not (head.isdigit() and rest == "root.json") or name != f"{int(head)}.root.json":
        return None
    return int(head)


def _same(name: str, data: bytes, want: str, what: str) -> None:
    got = _sha256(data)
    if got != want:
        raise VerificationError(
            f"metadata/{name} differs from {what} (journaled sha256 {want[:16]}..., the file "
            f"has {got[:16]}...): it was replaced after publish; nothing was exported",
            hint="restore the file from a copy, or remove it: the next command rebuilds a "
                 "published TUF root from the journal, exactly as published; `ceremony record "
                 "verify` names every difference")


def _check_previous(c: Session, files: dict[str, bytes], versions: list[int],
                    info: dict[str, Any]) -> None:
    """The previous chain's bytes walk from its first root to the journaled newest one.

    Raises:
        VerificationError: a version is missing, or the chain no longer verifies.
    """
    for v in versions:
        if f"{v}.root.json" not in files:
            raise VerificationError(f"previous/{v}.root.json (copied in at init) is missing; "
                                    "nothing was exported")
    newest = files[f"{info['version']}.root.json"]
    if _sha256(newest) != info.get("sha256"):
        raise VerificationError(
            f"previous/{info['version']}.root.json differs from the root journaled at init "
            f"(sha256 {str(info.get('sha256'))[:16]}...): it was replaced; nothing was exported",
            hint="restore the file from a copy")
    first = min(versions)
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in files.items():
            (Path(tmp) / name).write_bytes(data)
        try:
            report = c.format.walk_chain(files[f"{first}.root.json"], Path(tmp),
                                         check_expiry=False,
                                         trusted_name=f"previous/{first}.root.json")
        except VerificationError as e:
            raise VerificationError(f"the previous chain copied in at init no longer verifies: "
                                    f"{e.message}; nothing was exported") from None
    if report.newest_bytes != newest:
        raise VerificationError("the previous chain copied in at init does not end at the root "
                                "journaled at init; nothing was exported")
    # a copy edited so that it still verifies (a TUF root re-serialized): only its digest tells
    journaled = info.get(previous_copies.FILES) or {}  # none in a previous release's journal
    for name, data in sorted(files.items()):
        if name in journaled and _sha256(data) != journaled[name]:
            raise VerificationError(
                f"previous/{name} differs from the copy journaled at init (sha256 "
                f"{journaled[name][:16]}...): it was replaced; nothing was exported",
                hint="restore the file from a copy")


# ---- detached signatures ------------------------------------------------------------------


def journaled_token(c: Session, key: Any) -> tuple[str | None, str | None]:
    """The token serial and label the journal records for a root key: its ``key-generated``
    event, else (a kept key) its ``x-ceremony-token-*`` fields in the previous root."""
    for rec in c.state.keys.values():
        if rec.keyid == key.keyid:
            return rec.token_serial, rec.token_label
    fields = getattr(key, "unrecognized_fields", None) or {}
    serial, label = fields.get(tuf_format.X_TOKEN_SERIAL), fields.get(tuf_format.X_TOKEN_LABEL)
    return (None if serial is None else str(serial)), (None if label is None else str(label))


def check_signature_token(c: Session, path: Path, keyholder: str, key: Any,
                          entry: dict[str, Any]) -> None:
    """Refuse a detached signature whose unsigned token fields are not the key's journaled ones.

    The signature verifies over the draft, but ``token_serial`` (and ``token_label``, when a
    file carries it) are not signed: written into the journal, a forged serial would make the
    transcript name a token that never signed.

    Raises:
        VerificationError: a field differs from the journal (the message says which and both).
    """
    serial, label = journaled_token(c, key)
    for field, want in (("token_serial", serial), ("token_label", label)):
        if want is None or (field == "token_label" and field not in entry):
            continue
        got = entry.get(field)
        if got is None or str(got) != str(want):
            what = field.replace("_", " ")
            raise VerificationError(
                f"{path}: the signature by {keyholder} (key {_short(key.keyid)[:12]}) names "
                f"{what} {got!r}, but the journal records {want!r} for that key: the file was "
                "edited; nothing was imported",
                hint="ask the keyholder for the signature file as sign-draft wrote it")
