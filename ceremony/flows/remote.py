"""A keyholder elsewhere: a travelling draft shown, signed, and its signature sent back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ceremony.errors import UsageError, WorkspaceError
from ceremony.flows.export import IMPORT_QR, IMPORT_USB, Sent, bundle_to_qr, bundle_to_usb


@dataclass(frozen=True)
class RemoteDraft:
    """A travelling draft as the keyholder reviews it before signing (nothing signed yet)."""

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


def _utc(when: Any) -> str:
    return f"{when:%Y-%m-%d %H:%M:%S} UTC"


def remote_draft(path: Path, keyholder: str, out: Path | None = None) -> RemoteDraft:
    """Read a travelling draft for ``keyholder`` (``load_draft``), in words.

    Raises:
        VerificationError: the draft is bad, or ``keyholder`` holds no key that counts.
        WorkspaceError: the signature file exists already.
    """
    from ceremony.detached import keys_of, load_draft
    from ceremony.errors import VerificationError
    from ceremony.formats import tuf as tuf_format
    path = Path(path).expanduser()
    d = load_draft(path)
    prev = d.previous.signed if d.previous else None
    new = d.draft.signed
    try:
        changes = list(tuf_format.diff_roots(prev, new))
    except Exception:  # noqa: BLE001 - a format without TUF's roles: list the version only
        changes = [f"root v{new.version} follows v{prev.version}" if prev else
                   f"new repository: root v{new.version}"]
    expiries = [f"root v{new.version} expires {_utc(new.expires)}"]
    if prev is not None:
        expiries.append(f"the previous root v{prev.version} expires {_utc(prev.expires)}")
    keys = keys_of(d, keyholder)
    if not keys:
        raise VerificationError(f"{keyholder} holds no key in root v{new.version} or the root "
                                "before it: their signature would count toward no threshold",
                                hint="check the name (as in the plan) and the draft file")
    described = []
    for k in keys:
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
                       d.format, changes, expiries, described, target)


def sign_remote(rd: RemoteDraft, module: Any, pin: Any, on_touch: Any = None) -> Path:
    """``ceremony sign-draft FILE --keyholder NAME --out SIG`` on the keyholder's token.

    Raises:
        VerificationError: the draft changed since it was read, or is bad.
        hsm.errors.HsmError: token missing or wrong, PIN refused.
    """
    from ceremony.detached import load_draft, sign_draft
    from ceremony.errors import VerificationError
    if load_draft(rd.path).digest != rd.digest:
        raise VerificationError(f"{rd.path} changed since it was reviewed; nothing was signed",
                                hint="review it again")
    return sign_draft(rd.path, rd.keyholder, module, pin, rd.out, on_touch=on_touch)


def signature_bundle(rd: RemoteDraft) -> Any:
    """The signature file as a ``signature`` bundle (``ceremony pack --kind signature``)."""
    from ceremony.transfer import check_arrival
    from ceremony.transport import Bundle
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
