"""The offline ceremony for a Notary v1 / Docker Content Trust collection (``format = "notary"``).

Same commands, same journal, same thresholds as TUF (``ceremony init/keygen/draft/sign/status/
publish``); what differs is kept here and in ``notary_root`` / ``notary_json`` / ``notary_keys``
/ ``notary_x509``. Nothing in this module opens a socket: the online side (server keys, the
tagging key, the upload) is ``ceremony.cli_notary`` over ``ceremony.online.notary``.

Decisions, and why:

* **Root keys and certificates.** Each keyholder's key is generated on their token, as for TUF.
  Notary publishes a root key as a self-signed x509 leaf whose CN is the GUN; that certificate
  is built at keygen time and signed *on the token* (``notary_x509.build_root_certificate``),
  checked against notary's leaf rules, and journaled in the ``key-generated`` event. The key id
  everywhere (journal, roles, signatures, sidecar) is the id of the ``ecdsa-x509`` entry, not
  the SPKI "canonical" id ``notary key list`` prints (that one is journaled too, for people).
* **Algorithms.** ``ecdsa-p256`` and ``ecdsa-p384`` only. Notary's ``ecdsa`` method is SHA-256
  then raw ``r||s`` for every curve, so P-384 is signed as CKM_ECDSA over a host SHA-256 digest
  (not the token layer's SHA-384). RSA (notary wants PKCS#1 v1.5 for the certificate and PSS
  for metadata) and ed25519 (notary has no ed25519 certificates) are refused at ``init`` with a
  PlanError.
* **Who holds which key** cannot live in root.json: notary-server decodes it into Go structs and
  drops unknown fields, and any extra byte breaks every client. It lives in the journal's
  ``key-generated`` events and, to continue a collection, in a sidecar ``ceremony-keys.json``
  that ``publish`` writes next to ``N.root.json`` (keyid -> keyholder, token label/serial,
  pkcs11 URI, algorithm; public facts only). ``init --previous DIR`` reads it if present,
  refuses it if it names keys the chain does not hold or another GUN, and copies it into the
  workspace (its sha256 is journaled). It is not signed, and need not be: before a token signs,
  its key is compared with the certificate's key, so a wrong entry can only ask for the wrong
  token. Without it a continued collection still verifies; its keyholders just get new keys.
* **Draft.** ``_type: Root``, ``consistent_snapshot: false``, version previous + 1 (or 1), the
  root keys' certificate entries, the plan's root threshold (>1 is honoured by the real client),
  and the online keys the plan names. Expiry: now + ``roles.root.expires``, capped at notary's
  10 years and at the earliest root certificate's notAfter (a root outliving its certificates
  is unusable). Online roles: threshold 1 each; snapshot and timestamp exactly one key each,
  held by the server and fetched online by ``ceremony notary fetch-keys`` into key files the
  plan names like any online key; the targets (tagging) key is the plan's targets key (made by
  ``ceremony notary tagging-key``).
* **Server keys when continuing.** A timestamp/snapshot key that differs from the previous
  root's is refused at ``init`` unless its key file says, on purpose, which keys it
  ``replaces`` (``fetch-keys --new-server-keys``, after a server rebuild): a changed server key
  otherwise means the keys came from the wrong server.
* **Signatures.** Over notary's canonical JSON of ``signed``; ``"method": "ecdsa"``, raw
  ``r||s`` base64; checked with notary's own verifier rules before they are journaled.
* **The draft file** (``metadata/drafts/N.root.json``, wire bytes with the signatures so far)
  is a view of the journal: replaced atomically after every step but not fsynced, since the
  fsynced journal append before it is what makes the step durable; a view torn by a crash is
  rebuilt from the journal, while a readable one whose signed part differs is refused as edited.
* **Publish** writes ``metadata/N.root.json`` and ``metadata/root.json`` as the exact wire
  bytes after ``assert_reserializes`` (Go's serialization of the parsed file equals the file),
  copies the previous chain so ``metadata/`` holds ``1..N`` (ready for ``ceremony verify``, for
  ``ceremony notary publish`` and for the next ``init --previous``), and writes the sidecar.
  Only signatures that count go out.
* **Rotations.** Tagging key: the plan names the new targets key; the root keys are kept; the
  online ``ceremony notary publish`` re-signs targets.json with the new key and uploads both in
  one request. Root keys: keyholders with new tokens get new keys; the draft is signed by the
  previous root's threshold and its own. Server keys: new timestamp/snapshot keys fetched from
  the rebuilt server with ``--new-server-keys``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from ceremony import chain
from ceremony.compromise import check_declared
from ceremony.engine import Ceremony, create_workspace, sha256
from ceremony.errors import PlanError, StateError, VerificationError, WorkspaceError
from ceremony.events import DRAFT_CREATED, DraftCreated
from ceremony.formats import tuf as tuf_format
from ceremony.formats.base import ThresholdStatus
from ceremony.formats.notary_chain import online_expiries, walk
from ceremony.formats.notary_files import (
    SIDECAR,
    KeyFile,
    load_key_file,
    read_sidecar,
    sidecar_bytes,
    yubikey_identity,
)
from ceremony.formats.notary_json import Signature, assert_reserializes
from ceremony.formats.notary_keys import (
    ECDSA,
    canonical_key_id,
    entry_key_id,
    signature_problem,
    x509_key_entry,
)
from ceremony.formats.notary_root import (
    NOTARY_ROOT_EXPIRY,
    ONLINE_ROLES,
    SUPPORTED_ALGORITHMS,
    NotaryKey,
    NotaryMetadata,
    NotaryRoot,
    build_root,
    certificate_not_after,
    root_problems,
    status,
)
from ceremony.formats.notary_x509 import build_root_certificate, root_certificate_problems, validate_gun
from ceremony.plan import Plan, parse_plan
from ceremony.state import KeyRecord
from ceremony.workspace import atomic_write
from hsm.errors import SignatureCheckError
from hsm.pkcs11 import Module, PinProvider, TokenKey

__all__ = ["NotaryCeremony", "check_notary_plan", "open_token_key", "sign_sha256"]


def sign_sha256(tk: TokenKey, message: bytes) -> bytes:
    """Sign as notary's ``ecdsa`` method: SHA-256 of ``message``, raw ``r||s`` from the token.

    P-256 keys go through ``TokenKey.sign_raw`` (SHA-256 on the host, CKM_ECDSA, verified).
    For P-384 ``sign_raw`` would hash with SHA-384, so the SHA-256 digest is signed with
    ``TokenKey.sign_digest`` (CKM_ECDSA, verified over the same digest).

    Raises:
        hsm.errors.HsmError: the token failed or went away.
        VerificationError: the key is not an ECDSA key.
    """
    algorithm = tk.algorithm
    if algorithm.family != "ec":
        raise VerificationError(f"notary root keys are ECDSA keys, not {algorithm.name}")
    if algorithm.hash is hashlib.sha256:
        return tk.sign_raw(message)
    return tk.sign_digest(hashlib.sha256(message).digest(), "sha256")


def sign_checked(key: NotaryKey, tk: TokenKey, payload: bytes) -> tuple[bytes, TokenKey]:
    """Sign ``payload`` with ``key`` on its token ``tk``; the raw signature, checked as notary would.

    Raises:
        SignatureCheckError: the token's signature does not verify with the key's certificate.
        hsm.errors.HsmError: the token failed, went away, or refused the PIN.
    """
    raw = sign_sha256(tk, payload)
    problem = signature_problem(key.entry, Signature(key.keyid, ECDSA, raw), payload)
    if problem:
        raise SignatureCheckError(f"the signature from {tk.ref.describe()} does not verify with "
                                  f"{key.keyholder}'s certificate: {problem}")
    return raw, tk


def open_token_key(key: NotaryKey, module: Module, pin: PinProvider,
                   on_touch: Any = None) -> TokenKey:
    """Open ``key``'s private half on its token (found by the journal/sidecar identity).

    The token's public key must equal the certificate's (``expected_public``), so a wrong
    identity entry can only ask for the wrong token, never make a wrong signature. A
    YubiKey's key opens through ykcs11 (a PIN per signature, ``on_touch`` before the card
    waits for a touch), as for TUF (``ceremony.engine.open_root_key``).

    Raises:
        VerificationError: no token is known for the key.
        hsm.errors.HsmError: token missing or wrong, PIN refused.
    """
    from hsm.uri import parse_uri

    f = key.identity
    if f.get("device") == "yubikey":
        from ceremony.engine import open_root_key
        return open_root_key(key, module, pin, on_touch)  # type: ignore[arg-type]
    if not f.get("uri") or not f.get("algorithm"):
        raise VerificationError(f"no token is known for key {key.keyid[:12]}")
    token = module.find_token(label=f.get("token_label"), serial=f.get("token_serial"))
    return module.open_key(token, pin, f["algorithm"], parse_uri(f["uri"]).key_id,
                           expected_public=key.public_key())


def check_notary_plan(plan: Plan, text: str) -> None:
    """Refuse what a notary collection cannot be, before anything is written.

    Raises:
        PlanError: the GUN, an algorithm, an online role or ``consistent_snapshot`` does not
            fit notary; the message says why.
    """
    validate_gun(plan.repository)
    for holder in plan.keyholders:
        if holder.algorithm not in SUPPORTED_ALGORITHMS:
            raise PlanError(
                f"keyholder {holder.name}: algorithm {holder.algorithm!r} cannot hold a notary "
                f"root key here; use {' or '.join(SUPPORTED_ALGORITHMS)}",
                hint="notary signs root metadata with ECDSA (SHA-256, raw r||s); RSA would "
                "need PKCS#1 v1.5 certificates and PSS metadata signatures, and notary has no "
                "ed25519 certificates",
            )
    for role in plan.online:
        if role.threshold != 1:
            raise PlanError(
                f"roles.{role.name}.threshold must be 1 for a notary collection, not "
                f"{role.threshold}",
                hint="notary-server holds one snapshot and one timestamp key, and the notary "
                "CLI signs targets with one tagging key",
            )
        if role.name in ("snapshot", "timestamp") and len(role.key_paths) != 1:
            raise PlanError(
                f"roles.{role.name}.keys must name exactly one key: the one notary-server "
                "holds for this GUN (fetched with `ceremony notary fetch-keys`)"
            )
    try:
        explicit = tomllib.loads(text).get("ceremony", {}).get("consistent_snapshot")
    except tomllib.TOMLDecodeError:  # pragma: no cover - parse_plan already accepted it
        explicit = None
    if explicit is True:
        raise PlanError(
            "ceremony.consistent_snapshot = true does not apply to notary: notary roots always "
            "say false",
            hint="remove the line",
        )


def _load_online(plan: Plan, base: Path) -> dict[str, list[KeyFile]]:
    out: dict[str, list[KeyFile]] = {}
    seen: dict[str, str] = {}
    for role in plan.online:
        keys = []
        for i, rel in enumerate(role.key_paths):
            where = f"roles.{role.name}.keys[{i}]"
            key = load_key_file(base / rel, where)
            if key.gun is not None and key.gun != plan.repository:
                raise PlanError(
                    f"{where}: {rel} is a key for {key.gun!r}, not for {plan.repository!r}"
                )
            if key.role is not None and key.role != role.name:
                raise PlanError(f"{where}: {rel} holds the {key.role} key, not a {role.name} key")
            if key.keyid in seen and seen[key.keyid] == role.name:
                raise PlanError(f"roles.{role.name}.keys lists the same key twice ({rel})")
            seen.setdefault(key.keyid, role.name)
            keys.append(key)
        out[role.name] = keys
    return out


def _load_previous(directory: Path, gun: str, trusted: Path | None = None,
                   expect_root: str | None = None) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Verify a notary chain (any version) from its trusted start (``trusted``, else the
    oldest root present, pinned by ``expect_root``); return what init journals and copies."""
    from ceremony.trusted_start import check_expected, root_fingerprint
    directory = Path(directory)
    files = chain.previous_root_files(directory)
    start, name = chain.trusted_start(files, trusted)
    check_expected(root_fingerprint(start), expect_root, f"the trusted root {name}")
    report = walk(start, directory, gun=gun, check_expiry=False, trusted_name=name, files=files)
    first = report.trusted_version
    versions = [first, *report.versions]
    copied = chain.verified_copies(report, files)
    known: set[str] = set()
    for data in copied.values():
        known |= set(NotaryMetadata.from_bytes(data, "root").signed.keys)
    sidecar_sha = None
    sidecar_path = directory / SIDECAR
    if sidecar_path.is_file():
        data = chain.read_root_file(sidecar_path)
        read_sidecar(data, gun, known, str(sidecar_path))
        copied[SIDECAR] = data
        sidecar_sha = sha256(data)
    newest = report.newest_bytes
    info = {
        "version": report.newest_version,
        "sha256": sha256(newest),
        "versions": versions,
        "trusted_version": first,
        "trusted_sha256": root_fingerprint(start),
        "online": online_expiries(directory, report.newest.signed),  # type: ignore[arg-type]
        "sidecar_sha256": sidecar_sha,
    }
    return info, copied


def _check_against_previous(online: dict[str, list[KeyFile]], previous: NotaryRoot) -> None:
    root_ids = set(previous.roles["root"].keyids)
    for role, keys in online.items():
        for key in keys:
            if key.keyid in root_ids:
                raise PlanError(
                    f"{key.source}: the {role} key is a root key of root v{previous.version}; "
                    "a root key must never be an online key"
                )
    for role in ("snapshot", "timestamp"):
        old = sorted(previous.roles[role].keyids)
        for key in online.get(role, []):
            if [key.keyid] == old or key.keyid in old:
                continue
            if key.replaces is not None and sorted(key.replaces) == old:
                continue
            raise VerificationError(
                f"the {role} key in {key.source} ({key.keyid[:12]}) is not the {role} key of "
                f"root v{previous.version} ({', '.join(k[:12] for k in old)}): it was fetched "
                "from a server that does not hold this collection's keys (another server, or "
                "one rebuilt since that root was signed)",
                hint="fetch the keys again from the collection's own server; after a server "
                "compromise, fetch the rebuilt server's new keys on purpose with "
                "`ceremony notary fetch-keys GUN ... --new-server-keys`",
            )


def _write_view(path: Path, data: bytes) -> None:
    """Replace a file derived from the journal (the draft being signed): atomic, not fsynced.

    The journal append before it is what makes a step durable (fsynced); this file is a view
    of it, rewritten after every step and rebuilt from the journal if a crash tore it (see
    ``check_draft_file``), so it does not pay two more fsyncs per signature.

    Raises:
        WorkspaceError: the write failed.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WorkspaceError(f"cannot write {path}: {exc.strerror}") from None


class NotaryCeremony(Ceremony):
    """A ceremony whose output is a Notary v1 root (see the module docstring)."""

    # ---- opening -------------------------------------------------------------

    @classmethod
    def init(cls, root: Path, plan_path: Path, previous: Path | None = None, *,
             trusted: Path | None = None, expect_root: str | None = None) -> NotaryCeremony:
        """Start a notary ceremony: plan, online key files and previous chain checked first.

        Raises:
            PlanError: the plan is invalid for notary (GUN, algorithm, online roles), or a key
                file is unusable.
            VerificationError: the previous chain does not verify, or a server key does not
                match it.
            WorkspaceError: the folder already holds something.
        """
        path = Path(plan_path)
        from ceremony.plan import read_plan_text
        text = read_plan_text(path)
        plan = parse_plan(text)
        if plan.format != "notary":
            raise PlanError(f"the plan's format is {plan.format!r}, not 'notary'")
        check_notary_plan(plan, text)
        online = _load_online(plan, path.resolve().parent)
        prev_info, prev_files = (
            _load_previous(Path(previous), plan.repository, trusted, expect_root) if previous
            else (None, {})
        )
        newest = None
        if prev_info is not None:
            newest = NotaryMetadata.from_bytes(
                prev_files[f"{prev_info['version']}.root.json"], "previous root"
            )
            _check_against_previous(online, newest.signed)
        elif plan.out_of_band:
            raise PlanError(
                "ceremony.out_of_band only applies when continuing a repository (--previous)"
            )
        check_declared(plan, set(newest.signed.keys) if newest else None,
                       newest.signed.version if newest else 0,
                       {role: [k.keyid for k in keys] for role, keys in online.items()})
        warnings = []
        roles_of: dict[str, list[str]] = {}
        for role, keys in online.items():
            for key in keys:
                roles_of.setdefault(key.keyid, []).append(role)
        for keyid, roles in roles_of.items():
            if len(roles) > 1:
                warnings.append(
                    f"the same key ({keyid[:12]}) is used by {' and '.join(roles)}: a "
                    "compromise of one role is a compromise of both"
                )

        online_data = {
            role: [{"keyid": k.keyid, **k.entry} for k in keys] for role, keys in online.items()
        }
        ws, journal = create_workspace(Path(root), plan, text, prev_info, prev_files, online_data,
                                       warnings, plan_dir=path.resolve().parent)
        return cls(ws, journal, plan)

    @property
    def gun(self) -> str:
        return self.plan.repository

    # ---- who holds which key -------------------------------------------------

    def identities(self) -> dict[str, dict[str, Any]]:
        """keyid -> keyholder/token facts: the previous sidecar, then this ceremony's keys."""
        return self._cached("identities", self._build_identities)

    def _sidecar_identities(self) -> dict[str, dict[str, Any]]:
        cache = self.__dict__.get("_sidecar")
        if cache is not None:
            return cache
        out: dict[str, dict[str, Any]] = {}
        info = self.state.init.get("previous") or {}
        if info.get("sidecar_sha256"):
            path = self.ws.previous / SIDECAR
            data = self._read_previous(path)
            if sha256(data) != info["sidecar_sha256"]:
                raise VerificationError(f"{path} was changed after the ceremony started")
            known = set()
            for version in info["versions"]:
                root_path = self.ws.previous / f"{version}.root.json"
                known |= set(self._previous_file(root_path, None).signed.keys)
            out.update(read_sidecar(data, self.gun, known, str(path)))
        self.__dict__["_sidecar"] = out
        return out

    def _build_identities(self) -> dict[str, dict[str, Any]]:
        out = dict(self._sidecar_identities())
        for rec in self.state.keys.values():
            out[rec.keyid] = {
                "keyholder": rec.keyholder,
                "token_label": rec.token_label,
                "token_serial": rec.token_serial,
                "uri": rec.uri,
                "algorithm": rec.algorithm,
                "canonical_keyid": canonical_key_id(rec.key),
                **yubikey_identity(rec.device, rec.attestation),
            }
        return out

    def _previous_file(self, path: Path, identities: dict[str, Any] | None) -> NotaryMetadata:
        return NotaryMetadata.from_bytes(self._read_previous(path), path.name, identities)

    def _read_previous(self, path: Path) -> bytes:
        # The previous chain is fixed at init (its newest file is re-checked against the
        # journal by previous_root); read each file once per process.
        cache = self.__dict__.setdefault("_previous_bytes", {})
        if path not in cache:
            cache[path] = chain.read_root_file(path)
        return cache[path]

    def _cached(self, name: str, build: Any, *extra: object) -> Any:
        """``build()`` again only when what it depends on changed: the keys generated (the
        names on keys), and ``extra`` (the draft and its signatures)."""
        cache = self.__dict__.setdefault("_views", {})
        stamp = (len(self.state.keys), *extra)
        entry = cache.get(name)
        if entry is None or entry[0] != stamp:
            entry = cache[name] = (stamp, build())
        return entry[1]

    # ---- previous root (rotations) -------------------------------------------

    def previous_root(self) -> NotaryMetadata | None:  # type: ignore[override]
        """The newest trusted root this ceremony continues from, re-checked against the journal."""
        info = self.state.init.get("previous")
        if not info:
            return None
        return self._cached("previous", self._load_previous_root)

    def _load_previous_root(self) -> NotaryMetadata:
        info = self.state.init["previous"]
        path = self.ws.previous / f"{info['version']}.root.json"
        data = chain.read_root_file(path)
        if sha256(data) != info["sha256"]:
            raise VerificationError(f"{path} was changed after the ceremony started")
        return NotaryMetadata.from_bytes(data, path.name, self.identities())

    def _previous_version(self, version: int) -> Any:
        return self._previous_file(self.ws.previous / f"{version}.root.json", None).signed

    # ---- keygen --------------------------------------------------------------

    def _describe_key(self, keyholder: str, tk: Any, intent: dict[str, Any], now: datetime | None,
                      attestation: dict[str, Any] | None = None) -> tuple[dict[str, Any], bytes]:
        """The key's certificate (CN = GUN), signed on the token and checked against notary's
        leaf rules, journaled with the key; the key file names the keyholder. A YubiKey's
        attestation is journaled by :mod:`ceremony.attestation` (root.json cannot carry it).

        Raises:
            VerificationError: the certificate would not be accepted by notary.
        """
        public = tk.public_key()

        def sign_raw(message: bytes) -> bytes:
            return sign_sha256(tk, message)

        certificate = build_root_certificate(
            self.gun, public, sign_raw, now=now
        )
        problems = root_certificate_problems([certificate], self.gun, now=now)
        if problems:
            raise VerificationError(
                f"the root certificate made for {keyholder} would be refused by notary: "
                + "; ".join(problems)
            )
        entry = x509_key_entry(certificate)
        keyid = entry_key_id(entry)
        data = {
            "keyholder": keyholder, "key": entry, "keyid": keyid,
            "algorithm": intent["algorithm"], "token_label": tk.token.label,
            "token_serial": tk.token.serial, "key_id_hex": intent["key_id_hex"],
            "uri": tk.ref.uri(), "canonical_keyid": canonical_key_id(entry),
            "certificate": {
                "serial": format(certificate.serial_number, "x"),
                "not_before": certificate.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "not_after": certificate.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "sha256": hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest(),
            },
        }
        from ceremony.formats.notary_record import key_file_bytes

        return data, key_file_bytes(data)

    def _key_file_from_event(self, event: dict[str, Any]) -> bytes:
        """The key file as keygen wrote it (rewritten when a full disk lost it)."""
        from ceremony.formats.notary_record import key_file_bytes
        return key_file_bytes(event)

    # ---- draft ---------------------------------------------------------------

    def _key_from_record(self, rec: KeyRecord) -> NotaryKey:
        """A key generated in this ceremony, with its keyholder/token identity."""
        return NotaryKey(rec.keyid, dict(rec.key), self.identities().get(rec.keyid, {}))

    def root_keys(self) -> list[NotaryKey]:  # type: ignore[override]
        """The plan's root keys as notary views: the engine collects them through
        ``_key_from_record`` and the previous root, both this format's here.

        Raises:
            StateError: some keyholders still need to generate their key.
        """
        keys = super().root_keys()
        views: list[NotaryKey] = [k for k in keys if isinstance(k, NotaryKey)]
        assert len(views) == len(keys), "a notary ceremony's root key is not a NotaryKey"
        return views

    def online_keys(self) -> dict[str, list[NotaryKey]]:  # type: ignore[override]
        """The online roles' keys as copied in at init."""
        return {role: [NotaryKey(k["keyid"], {f: v for f, v in k.items() if f != "keyid"})
                       for k in keys]
                for role, keys in self.state.init["online_keys"].items()}

    def draft(self, now: datetime | None = None) -> NotaryMetadata:  # type: ignore[override]
        """Draft the next notary root from the plan and the keys; unsigned.

        Raises:
            StateError: keys missing, or a draft already exists.
            VerificationError: a root certificate is no longer usable, or a key is both a root
                and an online key.
            PlanError: a role would list one public key twice.
        """
        if self.state.draft is not None:
            raise StateError(f"root v{self.state.draft['version']} is already drafted",
                             hint="sign it (`ceremony sign`), or start a new workspace to "
                             "change it")
        from ceremony import integrity
        integrity.check_online_keys(self)  # the journal's online keys are the plan's
        prev = self.previous_root()
        now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        version = prev.signed.version + 1 if prev else 1
        root_keys = self.root_keys()
        for key in root_keys:
            problems = root_certificate_problems(key.certificates(), self.gun, now=now)
            if problems:
                raise VerificationError(
                    f"the root certificate of {tuf_format.key_name(key)} "
                    "cannot be used: " + "; ".join(problems),
                    hint="give that keyholder a new token in the plan: a new key gets a new "
                    "certificate",
                )
        expires = min(now + self.plan.root.expires, now + NOTARY_ROOT_EXPIRY,
                      *(certificate_not_after(k) for k in root_keys))
        online = self.online_keys()
        from ceremony import keyids  # one public key under two ids (two certificates) counts once
        keyids.refuse_aliases("root", root_keys, tuf_format.key_name)
        root_ids = {keyids.public_identity(k) for k in root_keys}
        for role, keys in online.items():
            keyids.refuse_aliases(role, keys, lambda k: f"key {k.keyid[:12]}")
            for key in keys:
                if keyids.public_identity(key) in root_ids:
                    raise VerificationError(f"a {role} key is also a root key; online keys "
                                            "must never be root keys")
        signed = build_root(
            version=version, expires=expires, root_keys=[k.entry for k in root_keys],
            root_threshold=self.plan.root.threshold,
            online={r.name: ([k.entry for k in online[r.name]], r.threshold)
                    for r in self.plan.online},
        )
        md = NotaryMetadata(NotaryRoot(signed, self.identities()))
        problems = root_problems(md.signed, self.gun, now=now)
        if problems:
            raise VerificationError("the drafted root would be refused by notary: "
                                    + "; ".join(problems))
        self.append(DraftCreated(version=version, digest=md.digest, signed=signed,
                                 created=now.isoformat(), format_fields={
                                     "expiry_capped": expires < now + self.plan.root.expires}))
        self._write_draft()
        return md

    def draft_metadata(self) -> NotaryMetadata:  # type: ignore[override]
        """The current draft with every journaled signature attached, in signing order.

        Raises:
            StateError: nothing drafted yet.
        """
        d = self.state.draft
        if d is None:
            raise StateError("there is no draft yet", hint="run `ceremony draft WORKSPACE` first")

        root = self._cached("draft-root", lambda: NotaryRoot(d["signed"], self.identities()),
                            d["digest"])
        signatures = [Signature(keyid, s.get("method", ECDSA), base64.b64decode(s["sig"]))
                      for keyid, s in self.state.signatures.items()]
        return NotaryMetadata(root, signatures)

    def _write_draft(self) -> None:
        md = self.draft_metadata()
        _write_view(self.ws.draft_path(md.signed.version), md.to_bytes())

    def _draft_file_digest(self, data: bytes, name: str) -> str | None:
        """The draft view's digest as read back; the journal's own when a crash tore the file
        (the view is not fsynced and is rebuilt from the journal), None when it is not a root."""
        try:
            json.loads(data)
        except (ValueError, UnicodeDecodeError):
            assert self.state.draft is not None
            return str(self.state.draft["digest"])  # torn: rebuilt when next written
        try:
            return NotaryMetadata.from_bytes(data, name).digest
        except VerificationError:
            return None

    def describe(self, md: NotaryMetadata | None = None) -> list[str]:  # type: ignore[override]
        """A root in words: GUN, version, expiry, each role's keys by name and threshold."""
        md = md or self.draft_metadata()
        root = md.signed
        lines = [f"notary root version {root.version} for {self.gun}, expires "
                 f"{root.expires:%Y-%m-%d %H:%M:%S} UTC"]
        for role in ("root", *ONLINE_ROLES):
            r = root.roles[role]
            if role == "root":
                names = ", ".join(
                    f"{tuf_format.key_name(k)} (certificate until "
                    f"{certificate_not_after(k):%Y-%m-%d})" for k in root.role_keys(role))
            else:
                names = ", ".join(k[:12] for k in r.keyids)
            lines.append(f"  {role}: {r.threshold} of {len(r.keyids)} ({names})")
        return lines

    def changes(self, md: NotaryMetadata | None = None) -> list[str]:  # type: ignore[override]
        """What changes from the previous root to ``md`` (default: the draft), in words."""
        md = md or self.draft_metadata()
        prev = self.previous_root()
        old_root = prev.signed if prev else None
        out = tuf_format.diff_roots(old_root, md.signed)  # type: ignore[arg-type]
        d = self.state.draft
        if d is not None and d.get("expiry_capped") and md.signed.version == d["version"]:
            out.append("expiry capped at notary's 10 years / the root certificates' notAfter")
        if prev is not None:
            old_t, new_t = prev.signed.roles["targets"].keyids, md.signed.roles["targets"].keyids
            if sorted(old_t) != sorted(new_t):
                out.append("the tagging (targets) key changes: upload with `ceremony notary "
                           "publish ... --targets-key NEW.pem` (root and re-signed targets "
                           "together)")
        return out

    # ---- sign ----------------------------------------------------------------

    def signing_keys(self, keyholder: str) -> list[NotaryKey]:  # type: ignore[override]
        """Keys of ``keyholder`` that count toward the new or the previous root threshold."""
        md = self.draft_metadata()
        roots = [md.signed]
        prev = self.previous_root()
        if prev is not None:
            roots.append(prev.signed)
        keys: dict[str, NotaryKey] = {}
        for root in roots:
            for key in root.role_keys("root"):
                if key.keyholder == keyholder:
                    keys.setdefault(key.keyid, key)
        return self._not_compromised(keyholder, list(keys.values()))

    def _open_token_key(self, key: NotaryKey, module: Module, pin: PinProvider,
                        on_touch: Any = None) -> TokenKey:
        return open_token_key(key, module, pin, on_touch)

    def _sign_one(self, keyholder: str, key: Any, module: Module, pin: PinProvider,
                  on_touch: Any, payload: bytes) -> tuple[dict[str, Any], str]:
        """One notary signature (method ecdsa: SHA-256, raw r||s), checked against the key's
        certificate before it is journaled.

        Raises:
            SignatureCheckError: the token's signature does not verify with the certificate.
        """
        raw, tk = sign_checked(key, self._open_token_key(key, module, pin, on_touch), payload)
        return {"method": ECDSA, "sig": base64.b64encode(raw).decode("ascii")}, tk.token.serial

    def token_for(self, keyholder: str) -> str:
        """Which token(s) ``keyholder`` must insert to sign the current draft."""
        return ", ".join(tuf_format.token_hint(k)  # type: ignore[arg-type]
                         for k in self.signing_keys(keyholder))

    # ---- status & publish ----------------------------------------------------

    def status(self) -> ThresholdStatus:
        """Threshold verdicts for the current draft (notary's counting rules).

        Raises:
            StateError: nothing drafted yet.
        """
        prev = self.previous_root()
        return self._emergency_view(status(self.draft_metadata(), prev.signed if prev else None, self.gun))

    def _published_bytes(self) -> bytes | None:
        """Not rebuilt for notary: its published folder holds the chain and the sidecar too,
        whose digests the journal does not each record (export names what is missing)."""
        return None

    def _write_published(self, md: Any) -> tuple[bytes, list[Path]]:
        """Write metadata/N.root.json, root.json (exact wire bytes), the chain and the sidecar.

        Raises:
            VerificationError: the root would be refused by notary, or its bytes would not
                survive notary's re-serialization.
        """
        version = md.signed.version
        problems = root_problems(md.signed, self.gun)
        if problems:
            raise VerificationError(f"root v{version} would be refused by notary: "
                                    + "; ".join(problems))
        prev = self.previous_root()
        counting = set(md.signed.roles["root"].keyids)
        if prev is not None:
            counting |= set(prev.signed.roles["root"].keyids)
        out = NotaryMetadata(md.signed, [s for s in md.signature_list if s.keyid in counting])
        data = out.to_bytes()
        assert_reserializes(data)
        written: list[Path] = []
        info = self.state.init.get("previous") or {}
        for v in info.get("versions", []):
            name = f"{v}.root.json"
            self._write_once(self.ws.metadata / name, (self.ws.previous / name).read_bytes())
        numbered = self.ws.metadata / f"{version}.root.json"
        self._write_once(numbered, data)
        atomic_write(self.ws.metadata / "root.json", data)
        written += [numbered, self.ws.metadata / "root.json"]
        sidecar = self.ws.metadata / SIDECAR
        atomic_write(sidecar, self._sidecar_for(md.signed, version))
        written.append(sidecar)
        return data, written

    def _sidecar_for(self, signed: Any, version: int) -> bytes:
        """The sidecar published beside root ``version``: who holds each key of the chain."""
        info = self.state.init.get("previous") or {}
        chain_keys = set(signed.keys)
        for v in info.get("versions", []):
            chain_keys |= set(self._previous_file(self.ws.previous / f"{v}.root.json",
                                                  None).signed.keys)
        kept = {k: v for k, v in self.identities().items() if k in chain_keys}
        return sidecar_bytes(self.gun, version, kept)

    def published_sidecar(self, version: int) -> bytes:
        """The sidecar ``publish`` wrote for root ``version``, rebuilt from the journal (its
        draft and key records), for ``ceremony.integrity`` to compare with the file."""
        draft = next(e.data for e in self.journal.events
                     if e.type == DRAFT_CREATED and e.data["version"] == version)
        return self._sidecar_for(NotaryRoot(draft["signed"], self.identities()), version)

    @staticmethod
    def _write_once(path: Path, data: bytes) -> None:
        if path.exists():
            if path.read_bytes() != data:
                raise WorkspaceError(f"{path} already exists with other content; it is never "
                                     "overwritten")
            return
        atomic_write(path, data, exclusive=True)
