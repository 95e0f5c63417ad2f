"""A keyholder elsewhere: a travelling draft shown, signed, and its signature sent back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ceremony.errors import UsageError, VerificationError, WorkspaceError
from ceremony.flows.export import Sent, bundle_to_qr, bundle_to_usb
from ceremony.flows.imports import IMPORT_QR, IMPORT_USB
from ceremony.formats import tuf as tuf_format


@dataclass(frozen=True)
class RemoteDraft:
    """A travelling draft as the keyholder reviews it before signing (nothing signed yet).

    ``changes`` are computed against the keyholder's own trusted root (``trusted``), never
    against the root the file carries; ``anchor`` says which root that is (for a first root
    v1: none, and the digest words are the only anchor).
    """

    path: Path
    keyholder: str
    version: int
    digest: str
    repository: str
    ceremony_id: str
    format: str
    changes: list[str]  # in words, per role
    expiries: list[str]  # absolute, UTC
    keys: list[str]  # the keyholder's keys that sign (id and token)
    out: Path  # where the signature file goes
    trusted: Path | None = None  # the keyholder's trusted root file or chain folder
    anchor: str = ""  # the trusted root in words
    spoken: str = ""  # what the room reads aloud: the root's digest, or root and roles' together


def _utc(when: Any) -> str:
    return f"{when:%Y-%m-%d %H:%M:%S} UTC"


def remote_draft(path: Path, keyholder: str, out: Path | None = None,
                 trusted: Path | None = None) -> RemoteDraft:
    """Read a travelling draft for ``keyholder`` and check it against their ``trusted`` root
    (``review_draft``), in words. No token is touched.

    Raises:
        UsageError: a rotation (v2 and later) and no trusted root.
        VerificationError: the draft is bad, does not continue the trusted root, lists an
            alias key or a key under a wrong id, or ``keyholder`` holds no key that counts.
        WorkspaceError: the signature file exists already.
    """
    # lazy: ceremony.detached (~7 ms), which the TUI's start-up does without
    from ceremony.detached import review_draft
    path = Path(path).expanduser()
    trusted = Path(trusted).expanduser() if trusted else None
    r = review_draft(path, keyholder, trusted)
    d = r.draft
    prev = d.previous.signed if d.previous else None
    new = d.draft.signed
    expiries = [f"root v{new.version} expires {_utc(new.expires)}"]
    if prev is not None:
        expiries.append(f"the previous root v{prev.version} expires {_utc(prev.expires)}")
    described = []
    for k in r.keys:
        f = getattr(k, "unrecognized_fields", {}) or {}
        token = f.get(tuf_format.X_TOKEN_LABEL) or (f"YubiKey {f.get(tuf_format.X_TOKEN_SERIAL)}"
                                                    if f.get(tuf_format.X_DEVICE) == "yubikey"
                                                    else None)
        described.append(f"key {k.keyid[:16]}" + (f" on {token}" if token else ""))
    target = Path(out).expanduser() if out else path.with_name(
        f"{new.version}.root.sig-{keyholder}.json")
    if target.is_dir():
        target = target / f"{new.version}.root.sig-{keyholder}.json"
    if target.exists():
        raise WorkspaceError(f"{target} exists already; a signature file is never overwritten",
                             hint="name another file with --out")
    return RemoteDraft(path, keyholder, new.version, d.digest, d.repository, d.ceremony_id,
                       d.format, r.changes, expiries, described, target, trusted,
                       r.anchor.source, d.spoken)


def confirm_words(rd: RemoteDraft, words: str | None) -> None:
    """Check the digest words the room read aloud (or the hex digest) against the draft.

    Raises:
        UsageError: none given, or not readable as a digest.
        VerificationError: they do not match (the first differing word is named).
    """
    # lazy: ceremony.draft_trust (~3 ms), which the TUI's start-up does without
    from ceremony.draft_trust import confirm_digest
    confirm_digest(rd.spoken or rd.digest, words)


def sign_remote(rd: RemoteDraft, module: Any, pin: Any, words: str | None,
                on_touch: Any = None) -> Path:
    """``ceremony sign-draft FILE --keyholder NAME --trusted ROOT --expect-digest WORDS``
    on the keyholder's token; the draft is read and checked again first.

    Raises:
        UsageError: no digest words, or no trusted root for a rotation.
        VerificationError: the draft changed since it was read, is bad, or the words differ.
        hsm.errors.HsmError: token missing or wrong, PIN refused.
    """
    # lazy: ceremony.detached (~7 ms), which the TUI's start-up does without
    from ceremony.detached import load_draft, sign_draft
    if load_draft(rd.path).digest != rd.digest:
        raise VerificationError(f"{rd.path} changed since it was reviewed; nothing was signed",
                                hint="review it again")
    return sign_draft(rd.path, rd.keyholder, module, pin, rd.out, on_touch=on_touch,
                      trusted=rd.trusted, expect_digest=words)


def signature_bundle(rd: RemoteDraft) -> Any:
    """The signature file as a ``signature`` bundle (``ceremony pack --kind signature``)."""
    # lazy: ceremony.transfer and the bundle code (~17 ms), which sign-draft and the TUI's start-up do without
    from ceremony.transfer import check_arrival
    from ceremony.transport import Bundle  # lazy: ceremony.transport.bundle (~5 ms), as above
    bundle = Bundle.from_files("signature", rd.repository, rd.ceremony_id,
                               {rd.out.name: rd.out.read_bytes()})
    check_arrival(bundle, None)  # send only what the receiver will accept
    return bundle


def send_signature(rd: RemoteDraft, how: str, folder: Path, size: str = "medium") -> Sent:
    """Carry a written signature file back: a USB bundle folder, or QR PNG frames + sheet.

    Raises:
        WorkspaceError: the folder already holds a bundle / is not empty (nothing written).
        UsageError: an unknown transport.
    """
    bundle = signature_bundle(rd)
    if how == IMPORT_USB:
        return bundle_to_usb(bundle, folder, "signature")
    if how == IMPORT_QR:
        return bundle_to_qr(bundle, folder, size, "signature")
    raise UsageError(f"unknown transport {how!r}")
