"""What a keyholder checks a travelling draft against before their token signs it.

A draft file is self-consistent by construction: its digest is recomputed from its own
content, which anyone who edits the file can recompute too, and the ``previous`` root it
carries is whatever the editor put there. So neither is evidence. Before a token is touched,
the keyholder brings two things the file cannot forge:

- their own copy of the current trusted root (``--trusted ROOT.json``, or the chain folder
  they trust, walked from ``1.root.json``). The changes they are shown are computed against
  it, never against the draft's ``previous``; a draft whose ``previous`` differs from it is
  refused. A first root (v1) has no previous root: then the digest words below are the only
  anchor, and the tool says so.
- the digest words the room read aloud to them over another channel (phone, video call,
  paper), typed or given with ``--expect-digest WORDS|HEX``; they must match the draft's
  digest, in full.

And a root that lists one public key under two ids (an alias, which counts one key twice
toward a threshold) or a key under an id that is not its hash is refused before any PIN
prompt: ``_refuse_alias_and_bad_ids`` (the format's key-id rule, then ``ceremony.keyids``' aliases).

Logic only: reading files and raising; the CLI and the TUI ask the questions.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from ceremony import keyids
from ceremony.errors import UsageError, VerificationError
from ceremony.formats import tuf as tuf_format
from ceremony.formats.registry import detect, format_class
from ceremony.frozen import frozen
from ceremony.words import pgp_words, words_to_bytes

#: What to bring, said wherever the trusted root is missing.
BRING_TRUSTED = ("bring your own copy of the repository's current root: --trusted ROOT.json "
                 "(the newest root you trust) or --trusted DIR (the N.root.json chain you "
                 "trust, from 1.root.json); the copy travelling inside the draft is not "
                 "evidence")
#: What to bring, said wherever the digest confirmation is missing.
BRING_WORDS = ("the digest words the ceremony read aloud to you over another channel (phone, "
               "video call, paper), or its 64-digit hex digest")

_HEX = re.compile(r"[0-9a-fA-F]{64}")


@frozen
class Anchor:
    """The root the keyholder already trusts (None for a first root v1), and where it came
    from, in words."""

    root: Any | None  # Metadata[Root] or NotaryMetadata
    source: str

    @property
    def version(self) -> int:
        """The trusted version (0 when there is none)."""
        return int(self.root.signed.version) if self.root is not None else 0


# ---- the trusted root ------------------------------------------------------------------


def load_trusted(path: Path, fmt: str, repository: str) -> Anchor:
    """Read the keyholder's trusted root: one root file (checked against its own threshold)
    or a chain folder (walked from its ``1.root.json``). Expiry is not held against it: a
    rotation may renew an expired root.

    Raises:
        VerificationError: missing, unreadable, another format, or not verifying.
    """
    from ceremony import chain  # lazy: ~8M instructions, for a trusted root given
    path = Path(path).expanduser()
    klass = format_class(fmt)
    if path.is_dir():
        files = chain.previous_root_files(path)
        first = files[1]
        data = chain.read_root_file(first)
        _same_format(data, fmt, first)
        report = klass.walk_chain(data, path, check_expiry=False, trusted_name=str(first),
                                  repository=repository)
        return Anchor(report.newest, f"root v{report.newest_version} of the chain in {path}, "
                                     f"verified from 1.root.json")
    data = chain.read_root_file(path)
    _same_format(data, fmt, path)
    md = klass.self_signed_root(data, str(path), repository)
    return Anchor(md, f"root v{md.signed.version} from {path}")


def _same_format(data: bytes, fmt: str, path: Path) -> None:
    found = detect(data).name
    if found != fmt:
        raise VerificationError(f"{path} is a {found} root, but the draft is a {fmt} root")


def anchor_draft(draft: Any, trusted: Anchor | None) -> tuple[Any, Anchor]:
    """``draft`` (a ``TravellingDraft``) with its ``previous`` replaced by the keyholder's
    trusted root, after checking that the draft continues exactly that root.

    Returns:
        (the anchored draft, the anchor; for a first root v1 an anchor with no root).

    Raises:
        UsageError: a rotation (v2 and later) and no trusted root was brought.
        VerificationError: the draft does not continue the trusted root, or its ``previous``
            differs from it.
    """
    version = draft.draft.signed.version
    if version == 1:
        if trusted is not None:
            raise VerificationError(
                f"the draft is root v1 of a new repository, but you trust {trusted.source}: "
                "it does not continue your repository; nothing was signed",
                hint="ask the ceremony which repository this draft is for")
        return replace(draft, previous=None), Anchor(
            None, "none: root v1 starts a new repository, so the digest words are the only "
                  "anchor")
    if trusted is None:
        raise UsageError(f"root v{version} continues root v{version - 1}: {BRING_TRUSTED}",
                         hint="nothing was signed and no token was touched")
    if trusted.version != version - 1:
        raise VerificationError(
            f"the draft is root v{version}, but your trusted root is v{trusted.version} "
            f"({trusted.source}): it must continue v{trusted.version} as "
            f"v{trusted.version + 1}; nothing was signed",
            hint="bring the newest root you trust, or ask the ceremony for the right draft")
    carried = draft.previous
    if carried is None:
        raise VerificationError(f"the draft is root v{version} but carries no previous root; "
                                "nothing was signed")
    if _signed_digest(carried) != _signed_digest(trusted.root):
        raise VerificationError(
            f"the draft's previous root v{carried.signed.version} differs from your trusted "
            f"root v{trusted.version} ({trusted.source}): the draft was changed, or it is for "
            "another repository; nothing was signed",
            hint="do not sign: get the draft again by another route and compare the digest "
                 "words")
    named = format_class(draft.format).with_names(trusted.root, draft.previous, draft.draft)
    return replace(draft, previous=named), trusted


def _signed_digest(md: Any) -> str:
    return hashlib.sha256(md.signed_bytes).hexdigest()


# ---- key ids and aliases ----------------------------------------------------------------


def _refuse_alias_and_bad_ids(fmt: str, root: Any, what: str) -> None:
    """Refuse a root with a key whose id is not its hash (the format's rule:
    ``Format.check_keyids``), or one public key under two ids (the shared rules of
    :mod:`ceremony.keyids`, found by the public key itself).

    Raises:
        VerificationError: naming the key (and its keyholder when known).
    """
    refuse = "do not sign: the draft was changed; get it again by another route"
    try:
        format_class(fmt).check_keyids(root, what)
    except VerificationError as e:
        raise VerificationError(f"{e.message}; nothing was signed", hint=refuse) from None
    for group in keyids.alias_groups(list(root.keys), root.keys):
        if len(group) > 1:
            raise VerificationError(
                f"{what}: {keyids.alias_note(group, root.keys, tuf_format.key_name)}; an alias "
                "counts one key twice toward a threshold, so nothing was signed", hint=refuse)


# ---- the changes, against the trusted root ------------------------------------------------


def changes(draft: Any, anchor: Anchor) -> list[str]:
    """What the (anchored) draft changes from the trusted root, in words, per role; a key
    whose published fields changed under the same id is named too."""
    prev = anchor.root.signed if anchor.root is not None else None
    new = draft.draft.signed
    if (words := format_class(draft.format).draft_words(new)) is not None:  # a format that reads its draft out (x509)
        return words
    try:
        out = list(tuf_format.diff_roots(prev, new))
    except Exception:  # noqa: BLE001 - a format without TUF's roles: list the version only
        out = [f"root v{new.version} follows v{prev.version}" if prev else
               f"new repository: root v{new.version}"]
    if prev is not None:
        for keyid, key in new.keys.items():
            old = prev.keys.get(keyid)
            if old is not None and old.to_dict() != key.to_dict():
                out.append(f"key {keyid[:12]} ({tuf_format.key_name(key)}): its published "
                           "fields change under the same id")
    return out


# ---- the digest words -------------------------------------------------------------------


def confirm_digest(digest: str, given: str | None) -> None:
    """Check the digest words (or hex) the room read aloud against the draft's digest.

    Raises:
        UsageError: nothing given, or not a digest in words or hex (a word that is not a PGP
            word, or not 32 of them).
        VerificationError: the words do not match this draft (the first differing word named).
    """
    text = (given or "").strip()
    if not text:
        raise UsageError(f"confirm the draft's digest: give {BRING_WORDS}",
                         hint="nothing was signed and no token was touched")
    expected = bytes.fromhex(digest)
    compact = re.sub(r"[\s:]", "", text)
    if _HEX.fullmatch(compact):
        if compact.lower() != digest.lower():
            raise VerificationError(
                f"the digest you were given ({compact.lower()[:16]}...) is not this draft's "
                f"({digest[:16]}...): the draft was changed on its way, or it is another "
                "draft; nothing was signed",
                hint="do not sign: compare again with the ceremony over another channel")
        return
    words = [w for w in re.split(r"[\s/,]+", text) if w]
    try:
        got = words_to_bytes(words)
    except ValueError as e:
        raise UsageError(f"the digest words cannot be read: {e}",
                         hint="type the words as read aloud (case does not matter), or the hex "
                              "digest") from None
    if len(got) != len(expected):
        raise UsageError(f"the digest is {len(expected)} words; you gave {len(got)}",
                         hint="every word counts: a shortened digest can be forged")
    if got != expected:
        mine, theirs = pgp_words(expected), pgp_words(got)
        n = next(i for i in range(len(mine)) if mine[i] != theirs[i])
        raise VerificationError(
            f"the digest words do not match this draft: word {n + 1} is {mine[n]!r} here, "
            f"{theirs[n]!r} as read aloud; the draft was changed on its way, or it is another "
            "draft; nothing was signed",
            hint="do not sign: compare again with the ceremony over another channel")


# ---- all of it, before any token ---------------------------------------------------------


def review(draft: Any, trusted: Path | None) -> tuple[Any, Anchor]:
    """Anchor a loaded ``TravellingDraft`` in the keyholder's trusted root and refuse alias
    keys and bad key ids in the draft and in that root. No token is touched.

    Returns:
        (the draft with the trusted root as its previous, the anchor).

    Raises:
        UsageError: a rotation without a trusted root.
        VerificationError: see ``load_trusted``, ``anchor_draft``, ``_refuse_alias_and_bad_ids``.
    """
    anchor = load_trusted(trusted, draft.format, draft.repository) if trusted else None
    if draft.previous is not None:
        _refuse_alias_and_bad_ids(draft.format, draft.previous.signed,
                                  f"the draft's previous root v{draft.previous.signed.version}")
    _refuse_alias_and_bad_ids(draft.format, draft.draft.signed, f"root v{draft.draft.signed.version}")
    anchored, anchor = anchor_draft(draft, anchor)
    if anchor.root is not None:
        _refuse_alias_and_bad_ids(draft.format, anchor.root.signed, f"your trusted root v{anchor.version}")
    return anchored, anchor
