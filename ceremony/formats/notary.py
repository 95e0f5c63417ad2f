"""The offline ceremony for a Notary v1 / Docker Content Trust collection (``format = "notary"``).

Same commands, same journal, same thresholds as TUF (``ceremony init/keygen/draft/sign/status/
publish``); what differs is kept here and in ``notary_root`` / ``notary_json`` / ``notary_keys``
/ ``notary_x509``. Nothing in this module opens a socket: the online side (server keys, the
tagging key, the upload) is ``ceremony.online.notary_ops`` over ``ceremony.online.notary``.

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
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from cryptography.hazmat.primitives.serialization import Encoding, load_pem_public_key

from ceremony import attestation, chain, keyids
from ceremony.compromise import check_declared
from ceremony.errors import PlanError, StateError, VerificationError, WorkspaceError
from ceremony.events import DRAFT_CREATED
from ceremony.formats import notary_detached, notary_record, previous_copies, tuf as tuf_format
from ceremony.formats.base import ThresholdStatus, roles_in_signed
from ceremony.formats.defaults import FormatDefaults
from ceremony.formats.notary_chain import infer_gun, online_expiries, verify_directory, walk
from ceremony.formats.notary_files import (
    SIDECAR,
    KeyFile,
    key_file_bytes as notary_key_file_bytes,
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
    public_key_entry,
    x509_key_entry,
)
from ceremony.formats.notary_record import key_file_bytes
from ceremony.formats.notary_root import (
    NOTARY_ROOT_EXPIRY,
    ONLINE_ROLES,
    SUPPORTED_ALGORITHMS,
    NotaryKey,
    NotaryMetadata,
    NotaryRoot,
    build_root,
    certificate_not_after,
    is_notary_root,
    root_problems,
    status,
)
from ceremony.formats.notary_sign import open_token_key, sign_checked, sign_sha256
from ceremony.formats.notary_x509 import build_root_certificate, root_certificate_problems, validate_gun
from ceremony.formats.protocol import CeremonyView, DetachedAdapter, Draft, Format, FormatClass, InitInputs
from ceremony.formats.token_keys import key_event
from ceremony.journal import Event
from ceremony.plan import Plan
from ceremony.state import KeyRecord
from ceremony.trusted_start import check_expected, root_fingerprint
from ceremony.workspace import Workspace, atomic_write
from hsm.pkcs11 import Module, PinProvider


def sha256(data: bytes) -> str:
    """Hex sha256, the digest the journal records of files."""
    return hashlib.sha256(data).hexdigest()


__all__ = ["NotaryFormat", "check_notary_plan", "open_token_key", "sign_checked", "sign_sha256"]


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
    oldest root present, pinned by ``expect_root``); return what init journals and copies.

    Raises:
        VerificationError: the chain does not verify, or the sidecar names keys it does not
            hold or another GUN.
    """
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
        previous_copies.FILES: previous_copies.digests(copied),  # each copy, checked on read
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




class NotaryFormat(FormatDefaults, tuf_format.XFieldKeys):
    """A Notary v1 collection's root ceremony (``format = "notary"``; the module docstring
    says what differs from TUF and why). Its caches (who holds which key, the previous
    chain's bytes, the parsed draft) live on this object, keyed by what they depend on."""

    name: ClassVar[str] = "notary"

    def __init__(self, view: CeremonyView) -> None:
        self.view = view
        self._views: dict[str, tuple[tuple[object, ...], Any]] = {}
        self._sidecar: dict[str, dict[str, Any]] | None = None
        self._previous_bytes: dict[Path, bytes] = {}

    @property
    def gun(self) -> str:
        """The collection's GUN (the plan's repository)."""
        return self.view.plan.repository

    # ---- before the workspace exists -------------------------------------------------------

    @classmethod
    def check_plan(cls, plan: Plan, text: str) -> None:
        """Refuse what a notary collection cannot be (:func:`check_notary_plan`).

        Raises:
            PlanError: the GUN, an algorithm, an online role or ``consistent_snapshot`` does
                not fit notary.
        """
        if plan.format != "notary":
            raise PlanError(f"the plan's format is {plan.format!r}, not 'notary'")
        if plan.witnesses_required:
            raise PlanError("ceremony.witnesses_required is supported for format \"tuf\" only")
        for i, holder in enumerate(plan.keyholders):
            if holder.device == "yubikey" and holder.algorithm != "ecdsa-p256":
                raise PlanError(f"keyholders[{i}] ({holder.name}): a YubiKey holds a notary root key "
                                f"as ecdsa-p256 only, not {holder.algorithm}", hint="notary signs "
                                "with SHA-256, which a P-384 key on the card would need hashed "
                                "apart from its PIN-always signing")
        check_notary_plan(plan, text)

    @classmethod
    def prepare(cls, plan: Plan, text: str, plan_dir: Path, previous: Path | None,
                trusted: Path | None, expect_root: str | None) -> InitInputs:
        """The online key files and the previous chain (with its sidecar), checked.

        Raises:
            PlanError: a key file is unusable, or an online key is a root key.
            VerificationError: the previous chain does not verify, or a server key does not
                match it.
        """
        online = _load_online(plan, plan_dir)
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
        return InitInputs(prev_info, prev_files, online_data, warnings)

    @classmethod
    def detached(cls) -> DetachedAdapter:
        """Notary's detached-signing adapter (:mod:`ceremony.formats.notary_detached`)."""
        return notary_detached.ADAPTER

    @classmethod
    def claims(cls, data: bytes) -> bool:
        """A notary root file: ``signed._type`` is ``Root`` (TUF's is ``root``)."""
        return is_notary_root(data)

    @classmethod
    def walk_chain(cls, first: bytes, directory: Path, *, check_expiry: bool,
                   trusted_name: str, repository: str | None = None) -> chain.ChainReport:
        """Notary's rules (:func:`ceremony.formats.notary_chain.walk`); ``repository`` pins
        the GUN the certificates must name.

        Raises:
            VerificationError: a root does not verify.
        """
        return walk(first, directory, gun=repository, check_expiry=check_expiry,
                    trusted_name=trusted_name)

    @classmethod
    def check_bundle_extra(cls, files: Mapping[str, bytes], newest_root: bytes) -> list[str]:
        """What a root-metadata bundle of a collection carries beside its verified root chain:
        only ``root.json`` (checked by the caller) and the ``ceremony-keys.json`` sidecar, read
        as :func:`ceremony.formats.notary_files.read_sidecar` reads it at ``init --previous``
        (for this GUN, naming only keys a root of the bundle holds); anything else is refused.

        Raises:
            VerificationError: the sidecar does not verify, or a file is none of those.
        """
        newest = NotaryMetadata.from_bytes(newest_root, "the newest root")
        gun = infer_gun(newest.signed)
        roots = {n: d for n, d in files.items() if chain.is_root_file(n)}
        other = sorted(n for n in files if n not in roots and n not in ("root.json", SIDECAR))
        if other:
            raise VerificationError(f"{other[0]} in the bundle is not metadata this tool publishes "
                                    "for a notary collection (its root versions, root.json and "
                                    f"{SIDECAR}); nothing was written")
        if SIDECAR not in files:
            return []
        known: set[str] = set(newest.signed.keys)
        for name, data in roots.items():
            known |= set(NotaryMetadata.from_bytes(data, name).signed.keys)
        named = read_sidecar(files[SIDECAR], gun, known, f"{SIDECAR} in the bundle")
        return [f"{SIDECAR}: names the holders of {len(named)} key(s) of {gun}'s roots"]

    @classmethod
    def verify_folder(cls, directory: Path) -> chain.ChainReport:
        """The chain in ``directory`` from its ``1.root.json``, keyholders named from its
        sidecar (:func:`ceremony.formats.notary_chain.verify_directory`).

        Raises:
            VerificationError: the chain (or the sidecar) does not verify.
        """
        return verify_directory(Path(directory))[0]

    @classmethod
    def self_signed_root(cls, data: bytes, where: str, repository: str) -> NotaryMetadata:
        """The root, as notary would accept it for ``repository``, signed by its own threshold.

        Raises:
            VerificationError: not a notary root, refused by notary's rules, or below its own
                threshold.
        """
        md = NotaryMetadata.from_bytes(data, where)
        problems = root_problems(md.signed, repository, check_expiry=False)
        if problems:
            raise VerificationError(f"{where}: " + "; ".join(problems))
        st = status(md, None, repository, check_expiry=False)
        if not st.verified:
            raise VerificationError(f"{where} is not signed by its own root threshold: "
                                    f"{st.new.describe()}")
        return md

    @classmethod
    def read_published(cls, directory: Path, trusted_path: Path, trusted: bytes,
                       trusted_name: str, at: datetime,
                       files: dict[int, Path] | None) -> tuple[chain.PublishedChain, bool]:
        """The collection's chain from ``trusted`` (a notary root's certificates expire too:
        the walk judges them at ``at``) and ``root.json``; attestations are re-checked only
        when the sidecar carries any (a notary root names no tokens otherwise).

        Raises:
            VerificationError: the chain, the sidecar or ``root.json`` does not verify.
        """
        report, gun = verify_directory(directory, trusted=trusted_path, now=at)
        out = chain.PublishedChain(report, gun, at=at)
        out.folder = [chain.root_json_line(directory, report, NotaryMetadata.from_bytes)]
        newest: Any = report.newest.signed  # a NotaryRoot view in the report
        return out, any(attestation.stored(k) for k in newest.role_keys("root"))

    @classmethod
    def check_keyids(cls, root: Any, what: str) -> None:
        """Every key's id is notary's hash of its certificate entry.

        Raises:
            VerificationError: a key swapped under an old id.
        """
        for keyid, key in root.keys.items():
            if keyid != entry_key_id(key.entry):
                raise VerificationError(
                    f"{what}: {tuf_format.key_name(key)} is listed under the id {keyid[:12]}, "
                    f"which is not the hash of its key ({entry_key_id(key.entry)[:12]}): a key "
                    "swapped under an old id")

    @classmethod
    def with_names(cls, root: Any, *named: Any) -> Any:
        """A notary root carries no keyholder names: ``root`` given the names the ``named``
        roots (a travelling draft's, from its sidecar) hold for its keys. Public facts that
        only choose a token; the token's key is compared with the certificate before it signs."""
        if not isinstance(root, NotaryMetadata):
            return root
        identities: dict[str, Any] = {}
        for md in named:
            if md is not None:
                identities.update({k: dict(v.identity) for k, v in md.signed.keys.items()
                                   if v.identity and k in root.signed.keys})
        return NotaryMetadata(NotaryRoot(root.signed.to_dict(), identities), root.signature_list)

    targets_refusal: ClassVar[str | None] = (
        "--targets reads TUF targets metadata; a Notary collection's delegations are removed "
        "with `notary delegation remove` on the online side")

    @classmethod
    def preview_warnings(cls, plan: Plan, plan_dir: Path) -> list[str]:
        """Nothing before init: notary's key files are read and checked by ``init`` itself."""
        return []

    @classmethod
    def online_key_note(cls, path: Path, name: str, data: bytes) -> str | None:
        """A notary public key file (JSON without a TUF ``scheme``), checked by the notary
        loader; ``None`` for any other file.

        Raises:
            PlanError: a notary key file that is no usable public key.
        """
        if not (data.lstrip().startswith(b"{") and b'"scheme"' not in data):
            return None
        return f"{name}: notary public key {load_key_file(path, name).keyid[:16]}"

    @classmethod
    def record_key_file(cls, event: Mapping[str, Any]) -> bytes:
        """The key file as keygen wrote it: the key entry, its keyholder and canonical id."""
        return key_file_bytes(event)

    @classmethod
    def record_sealers(cls, ws: Workspace, events: list[Event]) -> list[tuple[str, str, Any]]:
        """The root keys that signed the published root, named from the journal and the
        previous sidecar (:func:`ceremony.formats.notary_record.sealers`).

        Raises:
            StateError: nothing published.
            VerificationError: the published root, the previous root or its sidecar was changed.
        """
        return list(notary_record.sealers(ws, events))

    @classmethod
    def record_check_published(cls, ws: Workspace, events: list[Event], version: int,
                               data: bytes, name: str) -> tuple[str | None, str | None]:
        """The published root is the journaled draft, journaled signatures only, at threshold."""
        return notary_record.check_published(ws, events, version, data, name)

    @classmethod
    def record_describe_published(cls, ws: Workspace, events: list[Event]) -> list[str]:
        """The last published root in words (keys named), with its threshold verdicts.

        Raises:
            StateError: nothing published.
            VerificationError: the published or the previous root was changed.
        """
        return notary_record.describe_published(ws, events)

    rehearsal_scenarios: ClassVar[tuple[str, ...]] = ("bootstrap",)

    rehearsal_hint: ClassVar[str | None] = ("rehearse notary rotations against a test notary-server; the "
                                             "rotation scenarios here are TUF only")

    @classmethod
    def rehearsal_key_files(cls, directory: Path, repository: str) -> str:
        """The throwaway keys as the ``ROLE.pub.json`` key files a notary plan names. Live,
        snapshot and timestamp are notary-server's (``ceremony notary fetch-keys``) and
        targets the publisher's tagging key; a rehearsal needs no server."""
        for role in ONLINE_ROLES:
            pem = directory / f"{role}.pub.pem"
            public = load_pem_public_key(pem.read_bytes())
            entry = public_key_entry(public)  # type: ignore[arg-type]
            (directory / f"{role}.pub.json").write_bytes(
                notary_key_file_bytes(entry, gun=repository, role=role))
            pem.unlink()
        return ".pub.json"

    # ---- who holds which key ---------------------------------------------------------------

    def identities(self) -> dict[str, dict[str, Any]]:
        """keyid -> keyholder/token facts: the previous sidecar, then this ceremony's keys."""
        return dict(self._cached("identities", self._build_identities))

    def _sidecar_identities(self) -> dict[str, dict[str, Any]]:
        if self._sidecar is not None:
            return self._sidecar
        out: dict[str, dict[str, Any]] = {}
        ws = self.view.ws
        info = self.view.state.init.get("previous") or {}
        if info.get("sidecar_sha256"):
            path = ws.previous / SIDECAR
            data = self._read_previous(path)
            if sha256(data) != info["sidecar_sha256"]:
                raise VerificationError(f"{path} was changed after the ceremony started")
            known: set[str] = set()
            for version in info["versions"]:
                root_path = ws.previous / f"{version}.root.json"
                known |= set(self._previous_file(root_path, None).signed.keys)
            out.update(read_sidecar(data, self.gun, known, str(path)))
        self._sidecar = out
        return out

    def _build_identities(self) -> dict[str, dict[str, Any]]:
        out = dict(self._sidecar_identities())
        for rec in self.view.state.keys.values():
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
        """A copy in ``previous/``, checked against the digest init journaled for it (a
        previous release's journal has none but the newest root's and the sidecar's, checked
        by their readers); each file read once per format object.

        Raises:
            VerificationError: the copy was changed after init.
        """
        if path not in self._previous_bytes:
            self._previous_bytes[path] = previous_copies.check(
                path, chain.read_root_file(path), self.view.state.init.get("previous"))
        return self._previous_bytes[path]

    def _cached(self, name: str, build: Callable[[], Any], *extra: object) -> Any:
        """``build()`` again only when what it depends on changed: the keys generated (the
        names on keys), and ``extra`` (the draft and its signatures)."""
        stamp = (len(self.view.state.keys), *extra)
        entry = self._views.get(name)
        if entry is None or entry[0] != stamp:
            entry = self._views[name] = (stamp, build())
        return entry[1]

    # ---- keys ------------------------------------------------------------------------------

    def online_keys(self) -> dict[str, list[NotaryKey]]:
        """The online roles' keys as copied in at init."""
        return {role: [NotaryKey(k["keyid"], {f: v for f, v in k.items() if f != "keyid"})
                       for k in keys]
                for role, keys in self.view.state.init["online_keys"].items()}

    def describe_key(self, keyholder: str, tk: Any, intent: dict[str, Any], now: datetime | None,
                     attestation: dict[str, Any] | None = None) -> tuple[dict[str, Any], bytes]:
        """The key's certificate (CN = GUN), signed on the token and checked against notary's
        leaf rules, journaled with the key; the key file names the keyholder. A YubiKey's
        attestation is journaled by the keygen step (root.json cannot carry it).

        Raises:
            VerificationError: the certificate would not be accepted by notary.
        """
        public = tk.public_key()

        def sign_raw(message: bytes) -> bytes:
            return sign_sha256(tk, message)

        certificate = build_root_certificate(self.gun, public, sign_raw, now=now)
        problems = root_certificate_problems([certificate], self.gun, now=now)
        if problems:
            raise VerificationError(
                f"the root certificate made for {keyholder} would be refused by notary: "
                + "; ".join(problems)
            )
        entry = x509_key_entry(certificate)
        keyid = entry_key_id(entry)
        data = {
            **key_event(keyholder, entry, keyid, tk, intent),
            "canonical_keyid": canonical_key_id(entry),
            "certificate": {
                "serial": format(certificate.serial_number, "x"),
                "not_before": certificate.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "not_after": certificate.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "sha256": hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest(),
            },
        }
        return data, key_file_bytes(data)

    def key_file_from_event(self, event: dict[str, Any]) -> bytes:
        """The key file as keygen wrote it (rewritten when a full disk lost it)."""
        return key_file_bytes(event)

    def key_from_record(self, rec: KeyRecord) -> NotaryKey:
        """A key generated in this ceremony, with its keyholder/token identity."""
        return NotaryKey(rec.keyid, dict(rec.key), self.identities().get(rec.keyid, {}))

    # ---- previous chain --------------------------------------------------------------------

    def previous_root(self) -> NotaryMetadata | None:
        """The newest trusted root this ceremony continues from, re-checked against the journal.

        Raises:
            VerificationError: the file was changed after init.
        """
        if not self.view.state.init.get("previous"):
            return None
        md: NotaryMetadata = self._cached("previous", self._load_previous_root)
        return md

    def _load_previous_root(self) -> NotaryMetadata | None:
        return notary_record.read_previous(self.view.ws, self.view.state.init["previous"],
                                           self.identities())

    def previous_version(self, version: int) -> NotaryRoot:
        """Root ``version`` of the chain copied in at init (its signed part)."""
        return self._previous_file(self.view.ws.previous / f"{version}.root.json", None).signed

    # ---- draft -----------------------------------------------------------------------------

    def build_draft(self, root_keys: Sequence[Any], now: datetime | None) -> Draft:
        """The next notary root from the plan and the keys; unsigned. Expiry is capped at
        notary's 10 years and at the earliest root certificate's notAfter.

        Raises:
            VerificationError: a root certificate is no longer usable, a key is both a root
                and an online key, or notary would refuse the root.
            PlanError: a role would list one public key twice.
        """
        plan = self.view.plan
        prev = self.previous_root()
        now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        version = prev.signed.version + 1 if prev else 1
        keys: list[NotaryKey] = [k for k in root_keys if isinstance(k, NotaryKey)]
        assert len(keys) == len(root_keys), "a notary ceremony's root key is not a NotaryKey"
        for key in keys:
            problems = root_certificate_problems(key.certificates(), self.gun, now=now)
            if problems:
                raise VerificationError(
                    f"the root certificate of {tuf_format.key_name(key)} "
                    "cannot be used: " + "; ".join(problems),
                    hint="give that keyholder a new token in the plan: a new key gets a new "
                    "certificate",
                )
        expires = min(now + plan.root.expires, now + NOTARY_ROOT_EXPIRY,
                      *(certificate_not_after(k) for k in keys))
        online = self.online_keys()
        # one public key under two ids (two certificates) counts once
        keyids.refuse_aliases("root", keys, tuf_format.key_name)
        root_ids = {keyids.public_identity(k) for k in keys}
        for role, role_keys in online.items():
            keyids.refuse_aliases(role, role_keys, lambda k: f"key {k.keyid[:12]}")
            for key in role_keys:
                if keyids.public_identity(key) in root_ids:
                    raise VerificationError(f"a {role} key is also a root key; online keys "
                                            "must never be root keys")
        signed = build_root(
            version=version, expires=expires, root_keys=[k.entry for k in keys],
            root_threshold=plan.root.threshold,
            online={r.name: ([k.entry for k in online[r.name]], r.threshold)
                    for r in plan.online},
        )
        md = NotaryMetadata(NotaryRoot(signed, self.identities()))
        problems = root_problems(md.signed, self.gun, now=now)
        if problems:
            raise VerificationError("the drafted root would be refused by notary: "
                                    + "; ".join(problems))
        return Draft(md, {"version": version, "digest": md.digest, "signed": signed,
                          "created": now.isoformat(),
                          "expiry_capped": expires < now + plan.root.expires})

    def rebuilt_digest(self, root_keys: Sequence[Any], version: int, created: datetime,
                       online: dict[str, list[dict[str, Any]]]) -> str | None:
        """Not rebuilt: a notary draft's expiry depends on the certificates' notAfter at
        drafting time; its online roles and thresholds are checked field by field."""
        return None

    def draft_metadata(self) -> NotaryMetadata:
        """The current draft with every journaled signature attached, in signing order.

        Raises:
            StateError: nothing drafted yet.
        """
        d = self.view.state.draft
        if d is None:
            raise StateError("there is no draft yet", hint="run `ceremony draft WORKSPACE` first")
        root = self._cached("draft-root", lambda: NotaryRoot(d["signed"], self.identities()),
                            d["digest"])
        signatures = [Signature(keyid, s.get("method", ECDSA), base64.b64decode(s["sig"]))
                      for keyid, s in self.view.state.signatures.items()]
        return NotaryMetadata(root, signatures)

    def draft_bytes(self) -> bytes:
        """The draft's wire bytes with the signatures so far."""
        return self.draft_metadata().to_bytes()

    def write_draft(self) -> None:
        """Replace the draft view (atomic, not fsynced: the journal is what is durable).

        Raises:
            WorkspaceError: the write failed.
        """
        md = self.draft_metadata()
        _write_view(self.view.ws.draft_path(md.signed.version), md.to_bytes())

    def draft_roles(self, signed: Mapping[str, Any]) -> dict[str, tuple[list[dict[str, Any]], Any]]:
        """Each role's key entries and threshold, as the draft's ``roles`` and ``keys`` list them."""
        return roles_in_signed(signed)

    def draft_file_digest(self, data: bytes, name: str) -> str | None:
        """The draft view's digest as read back; the journal's own when a crash tore the file
        (the view is not fsynced and is rebuilt from the journal), None when it is not a root."""
        try:
            json.loads(data)
        except (ValueError, UnicodeDecodeError):
            draft = self.view.state.draft
            assert draft is not None
            return str(draft["digest"])  # torn: rebuilt when next written
        try:
            return NotaryMetadata.from_bytes(data, name).digest
        except VerificationError:
            return None

    def describe(self, md: Any) -> list[str]:
        """A root in words: GUN, version, expiry, each role's keys by name and threshold."""
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

    def changes(self, md: Any) -> list[str]:
        """What changes from the previous root to ``md``, in words (and how a new tagging
        key goes online)."""
        prev = self.previous_root()
        out = tuf_format.diff_roots(prev.signed if prev else None, md.signed)  # type: ignore[arg-type]
        d = self.view.state.draft
        if d is not None and d.get("expiry_capped") and md.signed.version == d["version"]:
            out.append("expiry capped at notary's 10 years / the root certificates' notAfter")
        if prev is not None:
            old_t, new_t = prev.signed.roles["targets"].keyids, md.signed.roles["targets"].keyids
            if sorted(old_t) != sorted(new_t):
                out.append("the tagging (targets) key changes: upload with `ceremony notary "
                           "publish ... --targets-key NEW.pem` (root and re-signed targets "
                           "together)")
        return out

    # ---- sign ------------------------------------------------------------------------------

    def keys_of(self, keyholder: str) -> list[NotaryKey]:
        """``keyholder``'s keys that count toward the new or the previous root threshold."""
        roots = [self.draft_metadata().signed]
        prev = self.previous_root()
        if prev is not None:
            roots.append(prev.signed)
        keys: dict[str, NotaryKey] = {}
        for root in roots:
            for key in root.role_keys("root"):
                if key.keyholder == keyholder:
                    keys.setdefault(key.keyid, key)
        return list(keys.values())

    def signing_payload(self, md: Any) -> bytes:
        """Notary's canonical JSON of ``signed``."""
        return bytes(md.signed_bytes)

    def sign_one(self, keyholder: str, key: Any, module: Module, pin: PinProvider,
                 on_touch: Callable[[str], None] | None,
                 payload: bytes) -> tuple[dict[str, Any], str]:
        """One notary signature (method ecdsa: SHA-256, raw r||s), checked against the key's
        certificate before it is journaled.

        Raises:
            SignatureCheckError: the token's signature does not verify with the certificate.
            hsm.errors.HsmError: token missing/wrong, PIN refused.
        """
        raw, tk = sign_checked(key, open_token_key(key, module, pin, on_touch), payload)
        return {"method": ECDSA, "sig": base64.b64encode(raw).decode("ascii")}, tk.token.serial

    def threshold_status(self, md: Any, previous: Any | None) -> ThresholdStatus:
        """Notary's counting rules (:func:`ceremony.formats.notary_root.status`)."""
        return status(md, previous.signed if previous is not None else None, self.gun)

    # ---- publish ---------------------------------------------------------------------------

    def write_published(self, md: Any) -> tuple[bytes, list[Path]]:
        """Write metadata/N.root.json, root.json (exact wire bytes), the chain and the sidecar.

        Raises:
            VerificationError: the root would be refused by notary, or its bytes would not
                survive notary's re-serialization.
            WorkspaceError: a published file exists with other content.
        """
        ws = self.view.ws
        version = md.signed.version
        problems = root_problems(md.signed, self.gun)
        if problems:
            raise VerificationError(f"root v{version} would be refused by notary: "
                                    + "; ".join(problems))
        data = self._published_root(md)
        written: list[Path] = []
        info = self.view.state.init.get("previous") or {}
        for v in info.get("versions", []):
            name = f"{v}.root.json"
            _write_once(ws.metadata / name, self._read_previous(ws.previous / name))
        numbered = ws.metadata / f"{version}.root.json"
        _write_once(numbered, data)
        atomic_write(ws.metadata / "root.json", data)
        written += [numbered, ws.metadata / "root.json"]
        sidecar = ws.metadata / SIDECAR
        atomic_write(sidecar, self._sidecar_for(md.signed, version))
        written.append(sidecar)
        return data, written

    def _published_root(self, md: NotaryMetadata) -> bytes:
        """The root's wire bytes as published: only the signatures that count (keys of this
        root or of the previous one), re-serialization checked.

        Raises:
            VerificationError: the bytes would not survive notary's re-serialization.
        """
        prev = self.previous_root()
        counting = set(md.signed.roles["root"].keyids)
        if prev is not None:
            counting |= set(prev.signed.roles["root"].keyids)
        data = NotaryMetadata(md.signed, [s for s in md.signature_list if s.keyid in counting]).to_bytes()
        assert_reserializes(data)
        return data

    def published_files(self) -> dict[str, bytes]:
        """``N.root.json``, ``root.json`` and the sidecar as :meth:`write_published` wrote them,
        rebuilt from the journal (the previous chain's copies are checked against ``init``'s
        digests elsewhere)."""
        md = self.draft_metadata()
        data = self._published_root(md)
        version = md.signed.version
        return {f"{version}.root.json": data, "root.json": data,
                SIDECAR: self._sidecar_for(md.signed, version)}

    def _sidecar_for(self, signed: Any, version: int) -> bytes:
        """The sidecar published beside root ``version``: who holds each key of the chain."""
        info = self.view.state.init.get("previous") or {}
        chain_keys = set(signed.keys)
        for v in info.get("versions", []):
            chain_keys |= set(self._previous_file(self.view.ws.previous / f"{v}.root.json",
                                                  None).signed.keys)
        kept = {k: v for k, v in self.identities().items() if k in chain_keys}
        return sidecar_bytes(self.gun, version, kept)

    def published_sidecar(self, version: int) -> bytes:
        """The sidecar ``publish`` wrote for root ``version``, rebuilt from the journal (its
        draft and key records), for ``ceremony.integrity`` to compare with the file."""
        draft = next(e.data for e in self.view.journal.events
                     if e.type == DRAFT_CREATED and e.data["version"] == version)
        return self._sidecar_for(NotaryRoot(draft["signed"], self.identities()), version)

    def published_extra(self, name: str, version: int) -> bytes | None:
        """The sidecar (``ceremony-keys.json``) published beside root ``version``."""
        return self.published_sidecar(version) if name == SIDECAR else None

    # ---- checks ----------------------------------------------------------------------------

    def plan_online_keys(self, base: Path) -> dict[str, list[dict[str, Any]]]:
        """The online key entries the plan's key files in ``base`` hold (GUN and role checked).

        Raises:
            PlanError: a key file is missing, unusable, or for another GUN or role.
        """
        return {role: [{"keyid": k.keyid, **k.entry} for k in keys]
                for role, keys in _load_online(self.view.plan, base).items()}



def _write_once(path: Path, data: bytes) -> None:
    """Write ``path`` once; the same bytes again is a no-op, other bytes a refusal.

    Raises:
        WorkspaceError: the file exists with other content.
    """
    if path.exists():
        if path.read_bytes() != data:
            raise WorkspaceError(f"{path} already exists with other content; it is never "
                                 "overwritten")
        return
    atomic_write(path, data, exclusive=True)


if TYPE_CHECKING:  # mypy proves the class and its objects are what the protocol says
    _CLASS: FormatClass = NotaryFormat
    _FORMAT: Callable[[CeremonyView], Format] = NotaryFormat
