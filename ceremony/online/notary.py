"""Talking to a notary-server, and the online tagging (targets) key. Online side only.

What happens here, and why it is not in the offline ceremony:

* the timestamp key (always) and, as Docker does it, the snapshot key are held by the server;
  their public halves must be fetched before a root can be drafted (reference doc §3.10);
* the current root/targets are read back to draft a rotation;
* uploads go as one multipart request, so the server applies root and targets atomically (a
  new root that swaps the targets key without a re-signed targets.json breaks every client,
  reference doc §6, and ``publish`` refuses it);
* the tagging key is a software key by design (publishers use it with the stock CLI); it is
  made here and handed over as a PKCS#8 PEM that ``notary key import`` accepts.

Only ``urllib`` is used; TLS is verified against the given CA file (or the system store).
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ceremony.errors import RemoteError, VerificationError, WorkspaceError
from ceremony.formats.notary_json import (
    Signature,
    assert_reserializes,
    canonical_bytes,
    format_expiry,
    parse,
    serialize,
)
from ceremony.formats.notary_keys import (
    ECDSA,
    ecdsa_der_to_raw,
    go_pem,
    key_entry,
    key_id,
    public_key_entry,
    public_key_from_entry,
    signature_problem,
    spki_der,
)
from ceremony.formats.notary_x509 import gun_problem

__all__ = [
    "TARGETS_EXPIRY",
    "NotaryServer",
    "fetch_metadata",
    "fetch_server_key",
    "generate_tagging_key",
    "initial_targets",
    "load_tagging_key",
    "publish",
    "resign_targets",
    "sign_ecdsa",
    "sign_targets",
    "tagging_key_entry",
    "write_tagging_key",
]

#: notary's default targets expiry (``NotaryTargetsExpiry`` = 3 x 365 days), also DCT's.
TARGETS_EXPIRY = timedelta(days=3 * 365)

_SERVER_KEY_ROLES = ("timestamp", "snapshot")


@dataclass(frozen=True)
class NotaryServer:
    """Where a notary-server is and how to trust it.

    Attributes:
        url: base URL, e.g. ``https://notary.example.com:4443`` (no trailing ``/v2``).
        ca_file: PEM bundle of the CA(s) that issued the server's TLS certificate; None uses
            the system store.
        timeout: seconds per request.
    """

    url: str
    ca_file: Path | None = None
    timeout: float = 30.0

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(
            cafile=str(self.ca_file) if self.ca_file is not None else None
        )

    def _trust_url(self, gun: str, tail: str) -> str:
        problem = gun_problem(gun)
        if problem:
            raise VerificationError(f"{gun!r} is not a valid notary GUN: {problem}")
        quoted = urllib.parse.quote(gun, safe="/")
        return f"{self.url.rstrip('/')}/v2/{quoted}/_trust/tuf/{tail}"


def _error_text(status: int, body: bytes) -> str:
    """Extract notary's reason from an error body: ``detail.Error.Msg``, else ``message``."""
    try:
        document = json.loads(body.decode("utf-8"))
        errors = document["errors"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        text = body.decode("utf-8", errors="replace").strip()
        return f"HTTP {status}" + (f": {text[:500]}" if text else "")
    reasons = []
    for error in errors if isinstance(errors, list) else []:
        if not isinstance(error, dict):
            continue
        detail = error.get("detail")
        inner = detail.get("Error") if isinstance(detail, dict) else None
        message = inner.get("Msg") if isinstance(inner, dict) else None
        if not message and isinstance(detail, str) and detail:
            message = f"{error.get('message', '')} ({detail})"
        if not message:
            message = str(error.get("message") or error.get("code") or "unknown error")
        code = error.get("code")
        reasons.append(f"{message} [{code}]" if code else message)
    return f"HTTP {status}: " + ("; ".join(reasons) if reasons else "no reason given")


def _request(
    server: NotaryServer,
    url: str,
    *,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(
            request, timeout=server.timeout, context=server._context()
        ) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RemoteError(
            f"cannot reach the notary server at {server.url}: {reason}",
            hint="check the URL, the network, and the CA file given for its TLS certificate",
        ) from None


def fetch_server_key(server: NotaryServer, gun: str, role: str) -> dict[str, Any]:
    """Fetch the public key the server holds for ``role`` (timestamp or snapshot) of ``gun``.

    The server creates the key on first request; the answer is normalized to the key entry
    notary writes into root.json (``"private": null``).

    Returns:
        The key entry, ready to go into ``signed.keys``.

    Raises:
        RemoteError: the server refused or could not be reached.
        VerificationError: the answer is not a usable public key.
    """
    if role not in _SERVER_KEY_ROLES:
        raise VerificationError(f"the server holds only timestamp and snapshot keys, not {role}")
    status, body = _request(server, server._trust_url(gun, f"{role}.key"))
    if status != 200:
        raise RemoteError(
            f"notary server refused to give the {role} key of {gun}: {_error_text(status, body)}"
        )
    try:
        document = json.loads(body.decode("utf-8"))
        keytype = document["keytype"]
        public = document["keyval"]["public"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise VerificationError(f"the server's {role} key for {gun} is not a notary key") from None
    if not isinstance(keytype, str) or not isinstance(public, str):
        raise VerificationError(f"the server's {role} key for {gun} is not a notary key")
    entry = {"keytype": keytype, "keyval": {"private": None, "public": public}}
    public_key_from_entry(entry)  # refuses keys notary could not use
    return entry


def fetch_metadata(
    server: NotaryServer, gun: str, role: str, *, version: int | None = None
) -> bytes | None:
    """Fetch current (or, for root, versioned ``<N>.root.json``) metadata bytes as served.

    Returns:
        The exact bytes, or None when the server has none (HTTP 404: GUN not initialized, or
        no such version).

    Raises:
        RemoteError: any other refusal, or the server could not be reached.
    """
    name = f"{version}.{role}.json" if version is not None else f"{role}.json"
    status, body = _request(server, server._trust_url(gun, name))
    if status == 404:
        return None
    if status != 200:
        raise RemoteError(
            f"notary server refused to give {name} of {gun}: {_error_text(status, body)}"
        )
    return body


def _role_keyids(root: bytes, role: str) -> list[str]:
    roles = parse(root).signed.get("roles")
    entry = roles.get(role) if isinstance(roles, dict) else None
    keyids = entry.get("keyids") if isinstance(entry, dict) else None
    return sorted(keyids) if isinstance(keyids, list) else []


def publish(server: NotaryServer, gun: str, files: Mapping[str, bytes]) -> None:
    """Upload several roles in ONE multipart request, so the server applies them atomically.

    Before anything is sent, every file must re-serialize to itself under notary's rules, and a
    new root that changes the targets key must come with a re-signed ``targets`` (otherwise the
    server accepts it and every client breaks: "valid signatures did not meet threshold for
    targets").

    Args:
        server: the notary-server.
        gun: the collection.
        files: role name (``root``, ``targets``, ``snapshot``, ``targets/…``) -> exact bytes.

    Raises:
        VerificationError: a file fails the self-check, or the upload would swap the targets key
            without a re-signed targets file; nothing was sent.
        RemoteError: the server refused (its reason is in the message) or could not be reached.
    """
    if not files:
        raise VerificationError("nothing to upload")
    for role, data in files.items():
        try:
            assert_reserializes(data)
        except VerificationError as exc:
            raise VerificationError(f"refusing to upload {role}: {exc.message}") from None
    if "root" in files and "targets" not in files:
        current = fetch_metadata(server, gun, "root")
        if current is not None and _role_keyids(current, "targets") != _role_keyids(
            files["root"], "targets"
        ):
            raise VerificationError(
                "refusing to upload a root that changes the targets key without a targets.json "
                "signed by the new key: every client would fail with 'valid signatures did not "
                "meet threshold for targets'",
                hint="re-sign targets.json with the new tagging key and upload both together",
            )
    boundary = "ceremony-" + secrets.token_hex(16)
    parts = []
    for role, data in files.items():
        if any(c in role for c in '"\r\n'):
            raise VerificationError(f"role name {role!r} cannot be sent")
        parts.append(
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="files"; filename="{role}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode("ascii")
            + data
            + b"\r\n"
        )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode("ascii")
    status, answer = _request(
        server,
        server._trust_url(gun, ""),
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    if status != 200:
        raise RemoteError(
            f"notary server refused the upload of {', '.join(files)} for {gun}: "
            f"{_error_text(status, answer)}",
            hint="nothing was changed on the server; the local files are untouched",
        )


# --------------------------------------------------------------------------- tagging key


def generate_tagging_key() -> ec.EllipticCurvePrivateKey:
    """Make a new tagging (targets) key in software: ECDSA P-256, as the notary CLI does."""
    return ec.generate_private_key(ec.SECP256R1())


def tagging_key_entry(private_key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    """The ``ecdsa`` key entry that goes into root.json ``keys`` for this tagging key."""
    return public_key_entry(private_key.public_key())


def write_tagging_key(path: Path, private_key: ec.EllipticCurvePrivateKey, gun: str) -> str:
    """Write the tagging key for ``notary key import``: unencrypted PKCS#8 PEM with headers.

    The headers ``gun: <gun>`` and ``role: targets`` tell notary where the key belongs
    (trustmanager/keys.go ``checkValidity`` refuses a targets key without a gun). This file is
    the one deliberate secret output: created with O_EXCL and mode 0600, never overwritten.

    Returns:
        The key's id, as notary will name the imported file and as root.json lists it.

    Raises:
        WorkspaceError: the file already exists.
    """
    der = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pem = go_pem("PRIVATE KEY", der, {"gun": gun, "role": "targets"})
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise WorkspaceError(f"{path} already exists; the tagging key was not written") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    return key_id(ECDSA, spki_der(private_key.public_key()))


def load_tagging_key(path: Path, gun: str) -> ec.EllipticCurvePrivateKey:
    """Read a tagging key handed over as by ``write_tagging_key`` (PKCS#8 PEM, gun/role headers).

    Raises:
        VerificationError: unreadable, encrypted, not an ECDSA key, or its headers name another
            GUN or role.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise VerificationError(f"cannot read the tagging key {path}: {exc.strerror}") from None
    headers: dict[str, str] = {}
    lines = data.decode("ascii", errors="replace").splitlines()
    if lines and lines[0].startswith("-----BEGIN"):
        for line in lines[1:]:
            if not line.strip():
                break
            name, sep, value = line.partition(":")
            if not sep:
                break
            headers[name.strip()] = value.strip()
    if headers.get("role", "targets") != "targets":
        raise VerificationError(f"{path} is a {headers['role']} key, not a targets key")
    if "gun" in headers and headers["gun"] != gun:
        raise VerificationError(f"{path} is the tagging key of {headers['gun']!r}, not {gun!r}")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise VerificationError(
            f"{path} is not an unencrypted PKCS#8 private key: {exc}",
            hint="use the file written by `ceremony notary tagging-key`",
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise VerificationError(f"{path} is not an ECDSA key; notary tagging keys are ECDSA")
    return key


def initial_targets(
    private_key: ec.EllipticCurvePrivateKey,
    *,
    now: datetime | None = None,
    expires: datetime | None = None,
) -> bytes:
    """targets.json v1 of a new collection, as notary starts it: no targets, empty
    delegations, 3-year expiry, signed by the tagging key (a new GUN needs root AND targets)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return sign_targets(
        {
            "_type": "Targets",
            "delegations": {"keys": {}, "roles": []},
            "expires": format_expiry(expires or moment + TARGETS_EXPIRY),
            "targets": {},
            "version": 1,
        },
        private_key,
    )


def sign_ecdsa(private_key: ec.EllipticCurvePrivateKey, payload: bytes) -> bytes:
    """Sign ``payload`` as notary's ``ecdsa`` method expects: SHA-256, raw ``r||s``."""
    der = private_key.sign(payload, ec.ECDSA(hashes.SHA256()))
    return ecdsa_der_to_raw(der, private_key.public_key())


def sign_targets(signed: Mapping[str, Any], private_key: ec.EllipticCurvePrivateKey) -> bytes:
    """Sign a targets ``signed`` object with a software tagging key; return checked wire bytes.

    Raises:
        VerificationError: ``signed`` is not a Targets object, or the result fails the
            self-check or its own signature check.
    """
    if signed.get("_type") != "Targets":
        raise VerificationError(f"expected a Targets object, got _type {signed.get('_type')!r}")
    entry = key_entry(ECDSA, spki_der(private_key.public_key()))
    keyid = key_id(ECDSA, spki_der(private_key.public_key()))
    payload = canonical_bytes(signed)
    signature = Signature(keyid=keyid, method="ecdsa", sig=sign_ecdsa(private_key, payload))
    wire = serialize(signed, [signature])
    assert_reserializes(wire)
    problem = signature_problem(entry, signature, parse(wire).payload)
    if problem:
        raise VerificationError(f"the signed targets.json does not verify: {problem}")
    return wire


def resign_targets(
    targets: bytes,
    private_key: ec.EllipticCurvePrivateKey,
    *,
    expires: datetime | None = None,
    now: datetime | None = None,
) -> bytes:
    """Re-sign ``targets.json`` with a (new) tagging key for a tagging-key rotation.

    Same ``targets`` and ``delegations`` (delegations are signed by their own keys and survive),
    version + 1, a fresh expiry, and only the new key's signature.

    Args:
        targets: the current targets.json bytes.
        private_key: the new tagging key.
        expires: the new expiry; default now + 3 x 365 days (notary's and DCT's default).
        now: the current time (tests pin it).

    Returns:
        The new targets.json bytes, self-checked and signature-checked.

    Raises:
        VerificationError: ``targets`` is not a targets file, or the result fails a check.
    """
    signed = copy.deepcopy(parse(targets).signed)
    if signed.get("_type") != "Targets":
        raise VerificationError(f"expected a Targets file, got _type {signed.get('_type')!r}")
    version = signed.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise VerificationError("targets.json has no valid version")
    signed["version"] = version + 1
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    signed["expires"] = format_expiry(expires or moment + TARGETS_EXPIRY)
    return sign_targets(signed, private_key)
