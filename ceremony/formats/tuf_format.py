"""TUF as a :class:`ceremony.formats.protocol.Format`: the root a TUF ceremony publishes.

The pure helpers (building, reading and counting a root through python-tuf's Metadata
API) are :mod:`ceremony.formats.tuf`; this module binds them to one ceremony (its plan,
journal and workspace, read through a ``CeremonyView``) and to the tokens that sign.
Root keys carry their keyholder and token in ``x-ceremony-*`` fields, so a published
root tells the next ceremony who holds which key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from securesystemslib.signer import Key, Signature
from tuf.api.metadata import Metadata, Root, Targets

from ceremony import keyids
from ceremony.errors import PlanError, StateError, VerificationError
from ceremony.formats import previous_copies, tuf as tuf_format, tuf_compat, tuf_layout, tuf_roles
from ceremony.formats.base import Draft, InitInputs, RoleVerdict, ThresholdStatus, roles_in_signed
from ceremony.formats.defaults import FormatDefaults
from ceremony.formats.token_keys import key_event, open_root_key
from ceremony.inputs import load_json
from ceremony.journal import Event
from ceremony.keyids import public_identity
from ceremony.keys import key_from_crypto, load_public_key_file
from ceremony.plan import (
    Plan,
    client_warnings,
    load_delegation_keys,
    load_online_keys,
    shared_online_keys,
)
from ceremony.state import KeyRecord
from ceremony.trusted_start import check_expected, root_fingerprint
from ceremony.workspace import Workspace, atomic_write
from hsm.pkcs11 import Module, PinProvider

if TYPE_CHECKING:  # annotations only: ceremony.chain is imported where it is used
    from ceremony import chain
    from ceremony.formats.protocol import CeremonyView, DetachedAdapter, Format, FormatClass, RolesFormat


def sha256_hex(data: bytes) -> str:
    """Hex sha256, the digest the journal records of files."""
    return hashlib.sha256(data).hexdigest()


class TufFormat(FormatDefaults, tuf_format.XFieldKeys):
    """A TUF root ceremony (``format = "tuf"``, the default)."""

    name: ClassVar[str] = "tuf"
    offline_roles: ClassVar[bool] = True  # targets and delegated roles may be signed offline

    def __init__(self, view: CeremonyView) -> None:
        self.view = view

    # ---- before the workspace exists -------------------------------------------------------

    @classmethod
    def check_plan(cls, plan: Plan, text: str) -> None:
        """``plan.parse_plan``'s rules, and tuf-on-ci's names under its compat.

        Raises:
            PlanError: a keyholder tuf-on-ci could not name (``tuf_compat.check_plan``).
        """
        tuf_compat.check_plan(plan)

    @classmethod
    def prepare(cls, plan: Plan, text: str, plan_dir: Path, previous: Path | None,
                trusted: Path | None, expect_root: str | None) -> InitInputs:
        """The online public keys and a previous chain (any versions), verified before init
        writes anything: the chain from ``trusted``, else from its oldest root (whose
        fingerprint ``expect_root`` may pin).

        Raises:
            PlanError: a key file is invalid, an online key is a root key, or the plan's
                emergency facts do not fit.
            VerificationError: the previous chain does not verify.
        """
        online = tuf_compat.online_keys(plan, load_online_keys(plan, plan_dir)) \
            | load_delegation_keys(plan, plan_dir)  # delegations to keys held elsewhere
        tuf_roles.check_target_files(plan, plan_dir)
        prev_info, prev_files = (_load_previous(previous, trusted, expect_root) if previous
                                 else (None, {}))
        newest = None
        if prev_info is not None:
            newest = tuf_format.from_bytes(prev_files[f"{prev_info['version']}.root.json"],
                                           "previous")
            _check_online_vs_root(online, newest.signed)
            if plan.offline and previous is not None:  # its targets and delegations, verified
                roles_info, role_files = tuf_roles.read_previous(previous, newest)
                prev_info = prev_info | ({"roles": roles_info} if roles_info else {})
                prev_files = prev_files | role_files
        elif plan.out_of_band:
            raise PlanError("ceremony.out_of_band only applies when continuing a repository "
                            "(--previous)")
        if prev_info is not None:  # every copy journaled, checked where it is read again
            prev_info = prev_info | {previous_copies.FILES: previous_copies.digests(prev_files)}
        from ceremony.compromise import check_declared  # lazy: init only (~14M instructions on every command)

        check_declared(plan, set(newest.signed.keys) if newest else None,
                       newest.signed.version if newest else 0,
                       {role: [k.key.keyid for k in keys] for role, keys in online.items()})
        warnings = shared_online_keys(online) + client_warnings(plan)
        online_data = {role: [k.key.to_dict() | {"keyid": k.key.keyid} for k in keys]
                       for role, keys in online.items()}
        return InitInputs(prev_info, prev_files, online_data, warnings)

    @classmethod
    def detached(cls) -> DetachedAdapter:
        """TUF's detached-signing adapter (:class:`ceremony.formats.tuf_detached.TufDetached`)."""
        from ceremony.formats.tuf_detached import TufDetached  # lazy: only travelling drafts
        return TufDetached()

    @classmethod
    def claims(cls, data: bytes) -> bool:
        """A TUF root file: ``signed._type`` is ``root``."""
        try:
            top = load_json(data, "root metadata")
        except VerificationError:
            return False
        return isinstance(top, dict) and isinstance(top.get("signed"), dict) and \
            top["signed"].get("_type") == Root.type

    @classmethod
    def walk_chain(cls, first: bytes, directory: Path, *, check_expiry: bool,
                   trusted_name: str, repository: str | None = None) -> chain.ChainReport:
        """python-tuf's rules, every version from ``first`` on (:func:`ceremony.chain.walk`).

        Raises:
            VerificationError: a root does not verify.
        """
        from ceremony import chain  # lazy: ceremony.chain (~8M instr.), for a previous chain or a published one
        return chain.walk(first, directory, check_expiry=check_expiry, trusted_name=trusted_name)

    @classmethod
    def verify_folder(cls, directory: Path) -> chain.ChainReport:
        """The chain in ``directory`` from its ``1.root.json``, python-tuf's rules.

        Raises:
            VerificationError: the chain does not verify.
        """
        from ceremony import chain  # lazy: ceremony.chain (~8M instr.), for a previous chain or a published one
        return chain.walk((Path(directory) / "1.root.json").read_bytes(), Path(directory))

    @classmethod
    def self_signed_root(cls, data: bytes, where: str, repository: str) -> Metadata[Root]:
        """The root, signed by its own threshold.

        Raises:
            VerificationError: not TUF root metadata, or below its own threshold.
        """
        from ceremony import chain  # lazy: ceremony.chain (~8M instr.), for a previous chain or a published one
        md = tuf_format.from_bytes(data, where)
        chain.check_self_signed(md, where)
        return md

    @classmethod
    def read_published(cls, directory: Path, trusted_path: Path, trusted: bytes,
                       trusted_name: str, at: datetime,
                       files: dict[int, Path] | None) -> tuple[chain.PublishedChain, bool]:
        """The published chain from ``trusted`` (expiry judged by the caller), ``root.json``
        and the online roles a client follows (timestamp -> snapshot -> targets); every
        root key's attestation is re-checked (``True``).

        Raises:
            VerificationError: the chain or a file a client fetches does not verify.
        """
        from ceremony import (
            chain,  # lazy: ceremony.chain (~8M instr.), for a previous chain or a published one
            online_check,  # lazy: `ceremony verify` only, not the ceremony's steps
        )

        report = chain.walk(trusted, directory, now=at, check_expiry=False,
                            trusted_name=trusted_name, files=files)
        out = chain.PublishedChain(report, None, at=at)
        out.folder = [chain.root_json_line(directory, report, tuf_format.from_bytes),
                      *online_check.check_online(directory, report.newest.signed, at,
                                                 refuse_expired=not out.expired)]
        return out, True

    @classmethod
    def check_keyids(cls, root: Any, what: str) -> None:
        """Every key's id follows one of TUF's rules (:func:`ceremony.keyids.check_root_keyids`).

        Raises:
            VerificationError: a key is listed under an id that matches neither rule.
        """
        keyids.check_root_keyids(root, what, tuf_format.key_name)

    @classmethod
    def with_names(cls, root: Any, *named: Any) -> Any:
        """A TUF root names its keyholders itself: ``root`` as it is."""
        return root

    targets_refusal: ClassVar[str | None] = None  # compromise --targets reads TUF targets

    @classmethod
    def preview_warnings(cls, plan: Plan, plan_dir: Path) -> list[str]:
        """An online key shared by two roles (the plan's key files read, nothing written).

        Raises:
            PlanError: a key file is invalid or missing.
        """
        return list(shared_online_keys(tuf_compat.online_keys(plan, load_online_keys(plan, plan_dir))))

    @classmethod
    def online_key_note(cls, path: Path, name: str, data: bytes) -> str | None:
        """A TUF public key file (any the other formats do not claim), checked.

        Raises:
            PlanError: not a usable public key file.
        """
        key = load_public_key_file(path, name).key
        return f"{name}: public key {key.keyid[:16]} ({key.scheme})"

    @classmethod
    def record_key_file(cls, event: Mapping[str, Any]) -> bytes:
        """``keys/root-NAME.json``: the key dict with its id, as keygen writes it."""
        from ceremony.formats import tuf_record  # lazy: with ceremony.chain (~8M instr.), record/previous chain
        return tuf_record.key_file_bytes(event)

    @classmethod
    def record_sealers(cls, ws: Workspace, events: list[Event]) -> list[tuple[str, str, Any]]:
        """The root keys that signed the published root and name their token (``x-`` fields).

        Raises:
            StateError: nothing published.
            VerificationError: the published or the previous root was changed.
        """
        from ceremony.formats import tuf_record  # lazy: with ceremony.chain (~8M instr.), record/previous chain
        return list(tuf_record.sealers(ws, events))

    @classmethod
    def record_check_published(cls, ws: Workspace, events: list[Event], version: int,
                               data: bytes, name: str) -> tuple[str | None, str | None]:
        """The published root is the journaled draft, journaled signatures only, at threshold."""
        from ceremony.formats import tuf_record  # lazy: with ceremony.chain (~8M instr.), record/previous chain
        return tuf_record.check_published(ws, events, version, data, name)

    @classmethod
    def record_describe_published(cls, ws: Workspace, events: list[Event]) -> list[str]:
        """The last published root in words, with its threshold verdicts.

        Raises:
            StateError: nothing published.
            VerificationError: the published or the previous root was changed.
        """
        from ceremony.formats import tuf_record  # lazy: with ceremony.chain (~8M instr.), record/previous chain
        return tuf_record.describe_published(ws, events)

    rehearsal_scenarios: ClassVar[tuple[str, ...]] = (
        "bootstrap", "targets-rotation", "root-rotation", "emergency-targets", "emergency-root", "doi")

    rehearsal_hint: ClassVar[str | None] = None

    @classmethod
    def rehearsal_key_files(cls, directory: Path, repository: str) -> str:
        """The PEM public keys are TUF's key files as they are."""
        return ".pub.pem"

    # ---- keys ------------------------------------------------------------------------------

    def online_keys(self) -> dict[str, list[Key]]:
        """The online roles' public keys as copied in at init."""
        return {role: [Key.from_dict(k["keyid"], {f: v for f, v in k.items() if f != "keyid"})
                       for k in keys]
                for role, keys in self.view.state.init["online_keys"].items()}

    def describe_key(self, keyholder: str, tk: Any, intent: dict[str, Any], now: datetime | None,
                     attestation: dict[str, Any] | None = None) -> tuple[dict[str, Any], bytes]:
        """The key with its keyholder and token in ``x-`` fields (and a YubiKey's
        ``attestation``, which travels in the root metadata), and its key file."""
        public = key_from_crypto(tk.public_key())
        key = tuf_format.root_key(public, keyholder, intent["algorithm"], tk.token.label,
                                  tk.token.serial, tk.ref.uri(),
                                  device="yubikey" if attestation else None,
                                  attestation=attestation or None,
                                  extra=tuf_compat.root_key_fields(self.view.plan, keyholder))
        data = key_event(keyholder, key.to_dict(), key.keyid, tk, intent)
        return data, self.key_file_from_event(data)

    def key_file_from_event(self, event: dict[str, Any]) -> bytes:
        """``keys/root-NAME.json``: the key dict with its id, as keygen writes it."""
        from ceremony.formats import tuf_record  # lazy: with ceremony.chain (~8M instr.), record/previous chain
        return tuf_record.key_file_bytes(event)

    def key_from_record(self, rec: KeyRecord) -> Key:
        """A key generated in this ceremony, as a securesystemslib ``Key``."""
        return Key.from_dict(rec.keyid, dict(rec.key))

    # ---- previous chain --------------------------------------------------------------------

    def previous_root(self) -> Metadata[Root] | None:
        """The newest root copied in at init, re-checked against its journaled digest.

        Raises:
            VerificationError: the file was changed after init.
        """
        info = self.view.state.init.get("previous")
        if not info:  # no previous chain (read_previous's answer too): tuf_record stays unloaded
            return None
        from ceremony.formats import tuf_record  # lazy: with ceremony.chain (~8M instr.), record/previous chain
        return tuf_record.read_previous(self.view.ws, info)

    def previous_version(self, version: int) -> Root:
        """Root ``version`` of the chain copied in at init (its signed part), checked
        against the digest init journaled (not checked for a previous release's journal).

        Raises:
            VerificationError: the copy was changed after init.
        """
        from ceremony import chain  # lazy: ceremony.chain (~8M instr.), for a previous chain or a published one
        path = self.view.ws.previous / f"{version}.root.json"
        data = previous_copies.check(path, chain.read_root_file(path),
                                     self.view.state.init.get("previous"))
        return tuf_format.from_bytes(data, path.name).signed

    # ---- draft -----------------------------------------------------------------------------

    def _build(self, root_keys: Sequence[Any], version: int, now: datetime,
               online: dict[str, list[Key]]) -> Metadata[Root]:
        plan = self.view.plan
        md = tuf_format.build_root(
            version, tuf_format.expiry(now, plan.root.expires), plan.consistent_snapshot,
            list(root_keys), plan.root.threshold,
            {r.name: (online[r.name], r.threshold) for r in plan.online}
            | self._offline_top_roles(root_keys), created=now)
        tuf_compat.annotate_root(md.signed, plan)  # tuf-on-ci's period fields, under its compat
        return md

    def build_draft(self, root_keys: Sequence[Any], now: datetime | None) -> Draft:
        """Root previous + 1 (or 1) from the plan, ``root_keys`` and the online keys.

        Raises:
            VerificationError: a rotation would make a root key an online key.
        """
        prev = self.previous_root()
        now = now or tuf_format.utcnow()
        version = prev.signed.version + 1 if prev else 1
        md = self._build(root_keys, version, now, self.online_keys())
        if prev is not None:
            check_rotation(prev.signed, md.signed, offline=[r.name for r in self.view.plan.offline])
        return Draft(md, {"version": version, "digest": tuf_format.signed_digest(md),
                          "signed": md.signed.to_dict(), "created": now.isoformat()}
                     | self._roles_fields(root_keys, now))

    def rebuilt_digest(self, root_keys: Sequence[Any], version: int, created: datetime,
                       online: dict[str, list[dict[str, Any]]]) -> str | None:
        """The digest of the draft rebuilt whole (a TUF draft is a function of its inputs)."""
        keys = {role: [Key.from_dict(k["keyid"], {f: v for f, v in k.items() if f != "keyid"})
                       for k in entries] for role, entries in online.items()}
        return tuf_format.signed_digest(self._build(root_keys, version, created, keys))

    def draft_metadata(self) -> Metadata[Root]:
        """The journaled draft with every journaled signature attached.

        Raises:
            StateError: nothing drafted yet.
        """
        d = self.view.state.draft
        if d is None:
            raise StateError("there is no draft yet", hint="run `ceremony draft WORKSPACE` first")
        md: Metadata[Root] = Metadata(Root.from_dict(json.loads(json.dumps(d["signed"]))))
        for keyid, s in self.view.state.signatures.items():
            md.signatures[keyid] = Signature(keyid, s["sig"])
        return md

    def draft_bytes(self) -> bytes:
        """The draft as python-tuf serializes it, with the signatures so far."""
        return tuf_format.to_bytes(self.draft_metadata())

    def write_draft(self) -> None:
        """Write ``metadata/drafts/N.root.json`` atomically.

        Raises:
            WorkspaceError: the write failed.
        """
        md = self.draft_metadata()
        atomic_write(self.view.ws.draft_path(md.signed.version), tuf_format.to_bytes(md))

    def draft_roles(self, signed: Mapping[str, Any]) -> dict[str, tuple[list[dict[str, Any]], Any]]:
        """Each role's key entries and threshold, as the draft's ``roles`` and ``keys`` list them."""
        return roles_in_signed(signed)

    def draft_file_digest(self, data: bytes, name: str) -> str | None:
        """The digest of the signed part of a draft file as read back.

        Raises:
            VerificationError: the file is not root metadata.
        """
        return tuf_format.signed_digest(tuf_format.from_bytes(data, name))

    def describe(self, md: Any) -> list[str]:
        """Roles, keys by name, thresholds, expiry."""
        return tuf_format.describe_root(md.signed)

    def changes(self, md: Any) -> list[str]:
        """What changes from the previous root to ``md``, per role."""
        prev = self.previous_root()
        return tuf_format.diff_roots(prev.signed if prev else None, md.signed)

    # ---- sign ------------------------------------------------------------------------------

    def keys_of(self, keyholder: str) -> list[Key]:
        """``keyholder``'s root keys in the draft and the previous root (by ``x-`` fields)."""
        roots = [self.draft_metadata().signed]
        prev = self.previous_root()
        if prev is not None:
            roots.append(prev.signed)
        keys: dict[str, Key] = {}
        for root in roots:
            for keyid in root.roles[Root.type].keyids:
                key = root.keys[keyid]
                if tuf_format.keyholder_of(key) == keyholder:
                    keys[keyid] = key
        return list(keys.values())

    def signing_payload(self, md: Any) -> bytes:
        """The canonical JSON of ``signed`` (python-tuf's)."""
        return bytes(md.signed_bytes)

    def sign_one(self, keyholder: str, key: Any, module: Module, pin: PinProvider,
                 on_touch: Callable[[str], None] | None,
                 payload: bytes) -> tuple[dict[str, Any], str]:
        """One signature through securesystemslib's ``Signer`` over the token key, verified
        by the key's own securesystemslib view before it is journaled.

        Raises:
            hsm.errors.HsmError: token missing/wrong, PIN refused, a signature that does
                not verify.
        """
        from hsm.signer import TokenSigner  # lazy: securesystemslib.signer, token steps only
        located = tuf_compat.located(key, self.view.plan, keyholder)  # a key tuf-on-ci made
        signer = TokenSigner(open_root_key(located, module, pin, on_touch), key)
        sig = signer.sign(payload)
        key.verify_signature(sig, payload)  # the securesystemslib view agrees, too
        return {"sig": sig.signature}, signer.token_key.token.serial

    def threshold_status(self, md: Any, previous: Any | None) -> ThresholdStatus:
        """python-tuf's verdicts, counting distinct keys (:func:`ceremony.formats.tuf.status`)."""
        return tuf_format.status(md, previous.signed if previous is not None else None)

    # ---- publish ---------------------------------------------------------------------------

    def write_published(self, md: Any) -> tuple[bytes, list[Path]]:
        """``N.root.json`` (never replaced) and ``root.json``. Only signatures that count go
        out: the draft holds no stray ones (``sign`` refuses them).

        Raises:
            WorkspaceError: ``N.root.json`` exists with other bytes, or a write failed.
        """
        metadata = self.view.ws.metadata
        data = tuf_format.to_bytes(md)
        numbered = metadata / f"{md.signed.version}.root.json"
        if not (numbered.exists() and numbered.read_bytes() == data):
            atomic_write(numbered, data, exclusive=True)
        atomic_write(metadata / "root.json", data)
        tuf_layout.write_history(self.view, data, md.signed.version)  # tuf-on-ci's root_history/
        return data, [numbered, metadata / "root.json"]

    def published_files(self) -> dict[str, bytes]:
        """``N.root.json`` and ``root.json`` as :meth:`write_published` wrote them: a function
        of the journal (tuf-on-ci's ``root_history/`` copies are not among them)."""
        md = self.draft_metadata()
        data = tuf_format.to_bytes(md)
        return {f"{md.signed.version}.root.json": data, "root.json": data}

    def published_extra(self, name: str, version: int) -> bytes | None:
        """A role published with root ``version`` (``N.targets.json``, ``N.ROLE.json``), rebuilt
        from the journal; nothing else is published beside the root."""
        d = self.view.state.draft
        if d is None or not d.get("roles") or d["version"] != version:
            return None
        consistent = bool(self.draft_metadata().signed.consistent_snapshot)
        for n, md in self._role_mds().items():
            if name == tuf_roles.file_name(n, md.signed.version, consistent):
                return tuf_roles.to_bytes(md)
        return None

    @classmethod
    def check_bundle_extra(cls, files: Mapping[str, bytes], newest_root: bytes) -> list[str]:
        """The role files a signed-metadata bundle carries beside its root chain (targets and
        delegated roles), each verified against its delegator in the bundle's newest root; a
        file that is neither is refused.

        Raises:
            VerificationError: a role file does not verify, or a file is not one.
        """
        return tuf_roles.check_bundle(files, tuf_format.from_bytes(newest_root, "the newest root"))

    # ---- roles beyond root, signed offline (issue 15; ceremony.formats.tuf_roles) -----------

    def _holder_keys(self, root_keys: Sequence[Any]) -> dict[str, Key]:
        """Each keyholder's key: the root keys given, and the keys generated here."""
        keys = {name: k for k in root_keys if (name := tuf_format.keyholder_of(k))}
        for name, rec in self.view.state.keys.items():
            keys.setdefault(name, self.key_from_record(rec))
        for name in self.view.plan.signers:  # kept from the roles of the repository continued
            kept = [k for k in self.previous_role_keys_of(name)
                    if k.keyid not in self.view.plan.compromised_keys]
            if name not in keys and kept:
                keys[name] = kept[0]
        missing = [n for n in self.view.plan.signers if n not in keys]
        if missing:
            raise StateError("no root key yet for " + ", ".join(missing),
                             hint="run `ceremony keygen WORKSPACE --keyholder NAME` for each")
        return keys

    def previous_role_keys_of(self, keyholder: str) -> list[Key]:
        """``keyholder``'s keys in the previous targets role and delegations (``x-`` fields)."""
        prev = self.previous_root()
        if prev is None:
            return []
        pools: list[Mapping[str, Key]] = [
            {k: prev.signed.keys[k] for k in prev.signed.roles[tuf_roles.TARGETS].keyids}]
        for md in self._previous_roles().values():
            if md.signed.delegations is not None:
                pools.append(md.signed.delegations.keys)
        found = {k.keyid: k for pool in pools for k in pool.values()
                 if tuf_format.keyholder_of(k) == keyholder}
        return list(found.values())

    def _offline_top_roles(self, root_keys: Sequence[Any]) -> dict[str, tuple[list[Key], int]]:
        """``targets`` as root lists it when the plan signs it offline: its keyholders' keys."""
        role = self.view.plan.offline_role(tuf_roles.TARGETS)
        if role is None:
            return {}
        keys = self._holder_keys(root_keys)
        return {role.name: ([keys[k] for k in role.keyholders], role.threshold)}

    def _roles_fields(self, root_keys: Sequence[Any], now: datetime) -> dict[str, Any]:
        """``roles`` of the draft's event: targets and every delegated role, built now.

        Raises:
            PlanError: a target file is missing, or the journal names no plan folder.
        """
        plan = self.view.plan
        if not plan.offline:
            return {}
        plan_dir = self.view.state.init.get("plan_dir")
        if not isinstance(plan_dir, str) or not plan_dir:
            raise PlanError("this workspace does not record the plan's folder, where the target "
                            "files are", hint="start a new workspace with this release's init")
        versions = {n: md.signed.version + 1 for n, md in self._previous_roles().items()}
        elsewhere = {r.name: self.online_keys()[r.name] for r in plan.offline if r.key_paths}
        mds = tuf_roles.build(plan, self._holder_keys(root_keys), now, Path(plan_dir), versions,
                              elsewhere)
        tuf_compat.annotate_roles(mds, plan)  # tuf-on-ci's period fields, under its compat
        return {"roles": tuf_roles.journal_fields(mds)}

    def _previous_roles(self) -> dict[str, Metadata[Targets]]:
        """The offline roles of the repository continued (copied in at init, re-checked).

        Raises:
            VerificationError: a copy was changed after init.
        """
        info = (self.view.state.init.get("previous") or {}).get("roles") or {}
        return tuf_roles.load_previous(self.view.ws.previous, info)

    def role_changes(self) -> list[str]:
        """What changes in targets and the delegations from the repository continued."""
        prev = self.previous_root()
        if prev is None:
            return []
        old_top = prev.signed.roles[tuf_roles.TARGETS]
        root = self.draft_metadata().signed
        top = root.roles[tuf_roles.TARGETS]
        return tuf_roles.diff(self._previous_roles(),
                              (old_top.keyids, old_top.threshold, prev.signed.keys),
                              self._role_mds(), (top.keyids, top.threshold, root.keys))

    def _role_mds(self) -> dict[str, Metadata[Targets]]:
        d = self.view.state.draft
        if d is None:
            raise StateError("there is no draft yet", hint="run `ceremony draft WORKSPACE` first")
        mds = tuf_roles.from_journal(d.get("roles") or {}, self.view.state.role_signatures)
        order = [r.name for r in self.view.plan.offline]  # the journal sorts its keys: the plan's order
        return dict(sorted(mds.items(), key=lambda m: order.index(m[0]) if m[0] in order else len(order)))

    def _signers_of(self, mds: Mapping[str, Metadata[Targets]]
                    ) -> dict[str, tuple[list[str], int, Mapping[str, Key]]]:
        root = self.draft_metadata().signed
        top = root.roles[tuf_roles.TARGETS]
        targets = mds[tuf_roles.TARGETS].signed
        return {name: tuf_roles.delegator(name, (top.keyids, top.threshold), root.keys, targets)
                for name in mds}

    def role_keys_of(self, keyholder: str) -> dict[str, list[Key]]:
        """Role -> ``keyholder``'s keys that count toward it (by ``x-`` fields)."""
        out: dict[str, list[Key]] = {}
        for name, (ids, _threshold, keys) in self._signers_of(self._role_mds()).items():
            mine = [keys[k] for k in ids if tuf_format.keyholder_of(keys[k]) == keyholder]
            if mine:
                out[name] = mine
        return out

    def role_payload(self, role: str) -> bytes:
        """The canonical JSON of the drafted role's ``signed`` (python-tuf's)."""
        return bytes(self._role_mds()[role].signed_bytes)

    def role_verdicts(self) -> tuple[RoleVerdict, ...]:
        """Each drafted role's signatures counted by distinct key against its delegator's
        keys and threshold (root for targets, targets for a delegated role)."""
        mds = self._role_mds()
        return tuple(tuf_roles.verdict(name, mds[name], ids, threshold, keys)
                     for name, (ids, threshold, keys) in self._signers_of(mds).items())

    def describe_roles(self) -> list[str]:
        """Targets and the delegated roles in words (keys by keyholder, paths, UTC expiry)."""
        mds = self._role_mds()
        root = self.draft_metadata().signed
        top = root.roles[tuf_roles.TARGETS]
        return tuf_roles.describe(mds, (top.keyids, top.threshold), root.keys)

    def roles_to_publish(self) -> dict[str, bytes]:
        """``metadata/N.ROLE.json`` for every drafted role and ``targets/...`` for every target
        file (consistent-snapshot names when the root says so), the target files re-hashed.

        Raises:
            VerificationError: a target file is missing or changed since the draft.
        """
        mds = self._role_mds()
        plan = self.view.plan
        plan_dir = Path(str(self.view.state.init.get("plan_dir") or "."))
        data = tuf_roles.check_targets_unchanged(plan, plan_dir, mds)
        consistent = bool(self.draft_metadata().signed.consistent_snapshot)
        out = self._role_files(mds, consistent)
        for path, content in data.items():
            name = tuf_roles.target_file_name(path, sha256_hex(content), consistent)
            out[f"targets/{name}"] = content
        return out | tuf_layout.unversioned_roles(out, plan)  # tuf-on-ci's metadata/ROLE.json

    def published_role_files(self) -> dict[str, bytes]:
        """The roles' metadata files :meth:`roles_to_publish` gives (``metadata/N.ROLE.json``,
        tuf-on-ci's ``metadata/ROLE.json``), rebuilt from the journal alone."""
        out = self._role_files(self._role_mds(), bool(self.draft_metadata().signed.consistent_snapshot))
        return out | tuf_layout.unversioned_roles(out, self.view.plan)

    @staticmethod
    def _role_files(mds: Mapping[str, Metadata[Targets]], consistent: bool) -> dict[str, bytes]:
        """``metadata/N.ROLE.json`` (consistent-snapshot names when the root says so) of each role."""
        return {f"metadata/{tuf_roles.file_name(n, md.signed.version, consistent)}":
                tuf_roles.to_bytes(md) for n, md in mds.items()}

    # ---- checks ----------------------------------------------------------------------------

    def plan_online_keys(self, base: Path) -> dict[str, list[dict[str, Any]]]:
        """The online key entries the plan's key files in ``base`` hold.

        Raises:
            PlanError: a key file is missing or not a public key.
        """
        return {role: [k.key.to_dict() | {"keyid": k.key.keyid} for k in keys]
                for role, keys in (tuf_compat.online_keys(self.view.plan,
                                                          load_online_keys(self.view.plan, base))
                                   | load_delegation_keys(self.view.plan, base)).items()}



def _load_previous(directory: Path, trusted: Path | None = None,
                   expect_root: str | None = None) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Verify a previous chain (any version) from its trusted start; return what to copy in.

    The start is ``trusted``, else the oldest root present (trust on first use: its
    fingerprint is journaled and shown, and ``expect_root`` refuses any other).

    Raises:
        VerificationError: the chain does not verify, or its start is not the expected one.
    """
    from ceremony import chain  # lazy: ceremony.chain (~8M instr.), for a previous chain or a published one
    directory = Path(directory)
    files = chain.previous_root_files(directory)
    start, name = chain.trusted_start(files, trusted)
    check_expected(root_fingerprint(start), expect_root, f"the trusted root {name}")
    report = chain.walk(start, directory, files=files, check_expiry=False, trusted_name=name)
    first = report.trusted_version
    copied = chain.verified_copies(report, files)
    newest = report.newest_bytes
    return ({"version": report.newest_version, "sha256": sha256_hex(newest),
             "versions": [first, *report.versions],
             "trusted_version": first, "trusted_sha256": root_fingerprint(start),
             "online": chain.online_expiries(
                 files[report.newest_version].parent if report.newest_version in files
                 else directory, report.newest.signed)}, copied)


def _check_online_vs_root(online: dict[str, Any], previous: Root) -> None:
    """Refuse an online key that is (or was) a root key: online keys live on networked machines.

    Raises:
        PlanError: an online key file holds a root key of the previous root.
    """
    # the key, not its id: one key has many ids
    root_ids = {public_identity(previous.keys[k]): k for k in previous.roles[Root.type].keyids}
    for role, keys in online.items():
        for k in keys:
            if public_identity(k.key) in root_ids:
                holder = tuf_format.key_name(previous.keys[root_ids[public_identity(k.key)]])
                raise PlanError(f"{k.source}: the {role} key is a root key ({holder}) of root "
                                f"v{previous.version}; a root key must never be an online key")


def check_rotation(old: Root, new: Root, offline: Sequence[str] = ()) -> None:
    """Refuse rotations no client could follow, before anyone signs (``offline``: the roles
    signed offline, whose keys may be root keys).

    Raises:
        VerificationError: a root key is reused as an online key.
    """
    # the key, not its id: one key has many ids
    root_ids = {public_identity(new.keys[k]): k for k in new.roles[Root.type].keyids}
    for role in [r for r in tuf_format.ONLINE_ROLES if r not in offline]:
        shared = {root_ids[i] for k in new.roles[role].keyids
                  if (i := public_identity(new.keys[k])) in root_ids}
        if shared:
            raise VerificationError(f"a {role} key is also a root key ({sorted(shared)[0][:12]}); "
                                    "online keys must never be root keys")


if TYPE_CHECKING:  # mypy proves the class and its objects are what the protocol says
    _CLASS: FormatClass = TufFormat
    _FORMAT: Callable[[CeremonyView], Format] = TufFormat
    _ROLES: Callable[[CeremonyView], RolesFormat] = TufFormat
