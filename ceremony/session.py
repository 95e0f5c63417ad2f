"""One open workspace: its plan, its journal, its state, and what can be read from them.

A :class:`Session` is what every step works on (``ceremony.steps``): it opens or
creates a workspace (holding its lock), replays the journal into state, answers
the read-only questions the steps, views and faces ask (the previous root, the
root keys, the draft with its signatures, threshold status, who signs with
which token), puts back derived files a crash or a full disk left missing, and
appends an event to the journal. It acts on no token and journals no step of
its own: the steps (keygen, draft, sign, publish, ...) do, each in its module,
and ``ceremony.engine.Ceremony`` is the facade that calls them.

The format-specific parts the steps call (``_describe_key``, ``_sign_one``,
``_write_published``, ``build_draft``, ...) are methods here, TUF's; the Notary
format overrides them (``ceremony.formats.notary``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
import weakref
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, cast

from securesystemslib.signer import Key, Signature
from tuf.api.metadata import Metadata, Root

from ceremony import __version__, chain
from ceremony.attestation import public_of
from ceremony.compromise import check_declared
from ceremony.errors import (
    CeremonyError,
    PlanError,
    StateError,
    VerificationError,
    WorkspaceError,
)
from ceremony.events import KEY_GENERATED, PUBLISHED, Event, Initialized
from ceremony.formats import tuf as tuf_format
from ceremony.formats.base import ThresholdStatus
from ceremony.journal import Journal
from ceremony.keyids import public_identity
from ceremony.keys import key_from_crypto
from ceremony.lock import hold as hold_workspace, note
from ceremony.plan import (
    Plan,
    client_warnings,
    load_online_keys,
    parse_plan,
    read_plan_text,
    shared_online_keys,
)
from ceremony.preflight import require_preflight
from ceremony.state import KeyRecord, State, replay
from ceremony.trusted_start import check_expected, root_fingerprint
from ceremony.workspace import Workspace, atomic_write, fsync_dir
from hsm.pkcs11 import Module, PinProvider
from hsm.signer import TokenSigner
from hsm.uri import parse_uri


def sha256(data: bytes) -> str:
    """Hex sha256, the digest used throughout the record."""
    return hashlib.sha256(data).hexdigest()



class Session:
    """One workspace: its plan, its journal, its state and the queries over them.

    The steps (:mod:`ceremony.steps`) advance it; :class:`ceremony.engine.Ceremony` is
    the facade the CLI and the TUI call (``c.keygen(...)``, ``c.sign(...)``).
    """

    def __init__(self, ws: Workspace, journal: Journal, plan: Plan) -> None:
        self.ws = ws
        self.journal = journal
        self.plan = plan
        self.state: State = replay(journal.events)
        self.hold: Any = None  # this process's hold on the workspace lock (ceremony.lock)

    def _adopt_hold(self, hold: Any) -> None:
        """Keep ``hold`` while this object lives (or until :meth:`close`, or the CLI command's
        end: see :class:`ceremony.lock.Sitting`)."""
        self.hold = hold
        weakref.finalize(self, hold.release)

    def close(self) -> None:
        """Let go of the workspace: another process may open it once this process holds it
        no more. Nothing is written; the object must not be used to change it afterwards."""
        if self.hold is not None:
            self.hold.release()

    # ---- opening -------------------------------------------------------------

    @classmethod
    def init(cls, root: Path, plan_path: Path, previous: Path | None = None, *,
             trusted: Path | None = None, expect_root: str | None = None) -> Self:
        """Start a ceremony in a new folder from a plan (and, for a rotation, a previous chain).

        The plan and the online public keys are validated and copied in first;
        a previous chain (any versions) is verified from ``trusted``, else from its oldest
        root (whose fingerprint ``expect_root`` may pin), before anything is written.

        Raises:
            PlanError: the plan or a key file is invalid.
            VerificationError: the previous chain does not verify.
            WorkspaceError: the folder already holds something.
        """
        text = read_plan_text(Path(plan_path))  # bounded, a regular file, strict UTF-8
        plan = parse_plan(text)
        klass = cls._class_for(plan.format)
        if klass is not cls:
            return cast(Self, klass.init(root, plan_path, previous, trusted=trusted,
                                         expect_root=expect_root))
        online = load_online_keys(plan, Path(plan_path).resolve().parent)
        prev_info, prev_files = (_load_previous(previous, trusted, expect_root) if previous
                                 else (None, {}))
        newest = None
        if prev_info is not None:
            newest = tuf_format.from_bytes(prev_files[f"{prev_info['version']}.root.json"], "previous")
            _check_online_vs_root(online, newest.signed)
        elif plan.out_of_band:
            raise PlanError("ceremony.out_of_band only applies when continuing a repository (--previous)")
        check_declared(plan, set(newest.signed.keys) if newest else None,
                       newest.signed.version if newest else 0,
                       {role: [k.key.keyid for k in keys] for role, keys in online.items()})
        warnings = shared_online_keys(online) + client_warnings(plan)

        online_data = {role: [k.key.to_dict() | {"keyid": k.key.keyid} for k in keys]
                       for role, keys in online.items()}
        ws, journal = create_workspace(Path(root), plan, text, prev_info, prev_files, online_data,
                                       warnings, plan_dir=Path(plan_path).resolve().parent)
        c = cls(ws, journal, plan)
        c._adopt_hold(hold_workspace(ws.root))  # one process per workspace from its first line
        return c

    @classmethod
    def open(cls, root: Path, *, write: bool = True) -> Self:
        """Open an existing workspace, checking its journal and plan.

        To change it (``write``, the default) this process takes the workspace lock
        (:mod:`ceremony.lock`: one process per workspace), sets an incomplete last journal
        line aside (:meth:`ceremony.journal.Journal.recover`) and writes again any file the
        journal describes that a failed write left missing (:meth:`rewrite_missing_files`).
        A reader (``write=False``: status, script) takes no lock and changes nothing; an
        incomplete last line is left out of its view and reported in ``journal.torn``.

        Raises:
            WorkspaceError: not a workspace, another process holds it, or the journal is broken.
            VerificationError: the plan was edited after ``init``.
        """
        ws = Workspace(Path(root))
        ws.check()
        if not write:
            return cls._open_checked(ws, Journal.open(ws.journal))
        hold = hold_workspace(ws.root)
        try:
            c = cls._open_checked(ws, Journal.open(ws.journal, recover=True))
        except BaseException:
            hold.release()
            raise
        c._adopt_hold(hold)
        done = c.journal.recovered
        if done is not None:
            note(f"the journal ended with an incomplete line ({done.data['size']} bytes, an append "
                 f"cut short by a crash or a full disk); it was set aside into "
                 f"{done.data['set_aside']} and journaled as line {done.seq}")
        c.rewrite_missing_files()
        return c

    @classmethod
    def _open_checked(cls, ws: Workspace, journal: Journal) -> Self:
        """The ceremony of a checked journal, once its plan matches the one it started with."""
        state = replay(journal.events)
        if not state.init:
            raise WorkspaceError(f"{ws.journal} has no initialisation event")
        try:
            text = ws.plan.read_bytes()
        except OSError:
            raise WorkspaceError(f"{ws.plan} is missing") from None
        if sha256(text) != state.init["plan_sha256"]:
            raise VerificationError(f"{ws.plan} was changed after the ceremony started",
                                    hint="the plan is fixed at init; start a new workspace for a new plan")
        plan = parse_plan(text.decode())
        return cast(Self, cls._class_for(plan.format)(ws, journal, plan))

    @classmethod
    def _class_for(cls, fmt: str) -> type[Session]:
        """The class a workspace of format ``fmt`` opens as: ``cls`` itself here; the engine
        facade picks the format's class (``ceremony.engine.ceremony_class``).

        Raises:
            PlanError: the format has no engine.
        """
        if fmt != "tuf":
            raise PlanError(f"no ceremony engine for format {fmt!r}")
        return cls

    def rewrite_missing_files(self) -> None:
        """Write again the files the journal fully describes that are missing: the draft being
        signed and generated keys' public key files. A step whose event was journaled reports
        success even when writing such a file failed (a full disk, see :meth:`_write_derived`);
        the next command that opens the workspace puts the file back. A sealed workspace is a
        record and is left as it is; a file that cannot be rebuilt is a warning here (the step
        that needs it says why)."""
        if self.state.sealed:
            return
        try:
            if self.state.draft is not None and \
                    not self.ws.draft_path(self.state.draft["version"]).exists():
                self._write_derived(self._write_draft)
            self._rewrite_published()
            generated = {e.data["keyholder"]: e.data for e in self.journal.events
                         if e.type == KEY_GENERATED}
            for keyholder, event in generated.items():
                path = self.ws.keys / f"root-{keyholder}.json"
                if not path.exists():
                    data = self._key_file_from_event(event)
                    self._write_derived(lambda p=path, d=data: atomic_write(p, d))  # type: ignore[misc]
        except CeremonyError as e:
            note(f"a file missing from the workspace could not be rebuilt from the journal: "
                 f"{e.message}")

    def _rewrite_published(self) -> None:
        """Put back a published root file that was deleted (``metadata/N.root.json``,
        ``root.json``): rebuilt from the journaled draft and signatures, and written only when
        its bytes have the digest the ``published`` event recorded, so what comes back is
        exactly what was published (anything else stays missing, and export names it)."""
        d = self.state.draft
        if d is None or not self.state.draft_published:
            return
        event = next((e.data for e in reversed(self.journal.events)
                      if e.type == PUBLISHED and e.data.get("version") == d["version"]), None)
        if event is None:
            return
        missing = [name for name in event.get("files", [])
                   if not (self.ws.metadata / str(name)).exists()]
        if not missing:
            return
        data = self._published_bytes()
        if data is None or sha256(data) != event.get("sha256"):
            return
        for name in missing:
            self._write_derived(lambda p=self.ws.metadata / str(name): atomic_write(p, data))  # type: ignore[misc]
            note(f"metadata/{name} was missing; rebuilt from the journal (sha256 {event['sha256'][:16]}... "
                 "as published)")

    def _published_bytes(self) -> bytes | None:
        """The published root's file bytes as :meth:`_write_published` wrote them (TUF)."""
        return tuf_format.to_bytes(self.draft_metadata())

    def _key_file_from_event(self, event: dict[str, Any]) -> bytes:
        """``keys/root-NAME.json`` as keygen wrote it, from its ``key-generated`` event (TUF)."""
        return json.dumps({"keyid": event["keyid"], **event["key"]}, indent=1,
                          sort_keys=True).encode()

    def _write_derived(self, write: Callable[[], None]) -> None:
        """Write a file derived from an event already journaled; a failure is a warning.

        The journal is what makes a step done: once its event is fsynced the step succeeded,
        and a view of it that could not be written (the disk is full) must not turn that into
        a failure the room would act on. The next command writes the file again
        (:meth:`rewrite_missing_files`).
        """
        try:
            write()
        except WorkspaceError as e:
            note(f"{e.message}; the step is recorded in the journal and the file is written "
                 "again by the next command")

    def append(self, event: Event) -> None:
        """Journal a typed event (:mod:`ceremony.events`): the one way the steps record what
        they did. Fsynced before this returns; ``self.state`` is refreshed.

        Raises:
            StateError: the ceremony is sealed.
            WorkspaceError: the journal cannot be written.
        """
        self.record(event.TYPE, event.to_data())

    def require_token_step(self) -> None:
        """Refuse a token step (keygen, sign, publish) of a live ceremony without a passing
        preflight; rehearsals only warn. Refuse anything once the record is sealed.

        Raises:
            StateError: sealed, or (live) no passing preflight recorded.
        """
        if self.state.sealed:
            raise StateError("the ceremony is sealed; nothing more can be done in this workspace",
                             hint="start a new workspace (e.g. init --previous) for the next change")
        require_preflight(self)

    def record(self, type_: str, data: dict[str, Any]) -> None:
        """Journal an event given as its type string and data dict, unchecked.

        Only :meth:`append` calls it in the tool; tests use it to write what the tool never
        would (a forged seal, a confirmation after the seal) and check it is caught.

        Raises:
            StateError: the ceremony is sealed.
            WorkspaceError: the journal cannot be written.
        """
        if self.state.sealed:
            raise StateError("the ceremony is sealed; nothing more is recorded in this workspace")
        self.journal.append(type_, data)
        self.state = replay(self.journal.events)

    # ---- previous root (rotations) ---------------------------------------------

    def previous_root(self) -> Metadata[Root] | None:
        """The newest trusted root this ceremony continues from, re-checked against the journal."""
        info = self.state.init.get("previous")
        if not info:
            return None
        path = self.ws.previous / f"{info['version']}.root.json"
        data = chain.read_root_file(path)
        if sha256(data) != info["sha256"]:
            raise VerificationError(f"{path} was changed after the ceremony started")
        return tuf_format.from_bytes(data, path.name)

    def revoked_in(self, keyid: str) -> int | None:
        """The root version that dropped ``keyid``, if it was ever a root key of the chain."""
        info = self.state.init.get("previous")
        if not info:
            return None
        was_root = False
        for v in info.get("versions", []):
            is_root = keyid in self._previous_version(int(v)).roles[Root.type].keyids
            if was_root and not is_root:
                return int(v)
            was_root = was_root or is_root
        return self.state.draft["version"] if was_root and self.state.draft else None

    def _previous_version(self, version: int) -> Any:
        """Root ``version`` of the chain copied in at init (its signed part; TUF)."""
        path = self.ws.previous / f"{version}.root.json"
        return tuf_format.from_bytes(chain.read_root_file(path), path.name).signed

    def previous_keys_of(self, keyholder: str) -> list[Key]:
        """Root keys of ``keyholder`` in the previous root (by their ``x-`` fields)."""
        prev = self.previous_root()
        if prev is None:
            return []
        root = prev.signed
        return [root.keys[k] for k in root.roles[Root.type].keyids
                if tuf_format.keyholder_of(root.keys[k]) == keyholder]

    # ---- keygen --------------------------------------------------------------

    def needs_key(self, keyholder: str) -> bool:
        """Whether ``keyholder`` must still generate a key in this ceremony."""
        if keyholder in self.state.keys:
            return False
        return not self._reusable_previous_key(keyholder)

    def _reusable_previous_key(self, keyholder: str) -> Key | None:
        holder = self.plan.keyholder(keyholder)
        for key in self.previous_keys_of(keyholder):
            if key.keyid in self.plan.compromised_keys:
                continue  # declared compromised: the keyholder needs a new key
            f = key.unrecognized_fields
            if (holder.token is None or f.get(tuf_format.X_TOKEN_LABEL) == holder.token) and \
               (holder.serial is None or f.get(tuf_format.X_TOKEN_SERIAL) == holder.serial):
                return key
        return None

    def _describe_key(self, keyholder: str, tk: Any, intent: dict[str, Any], now: datetime | None,
                      attestation: dict[str, Any] | None = None) -> tuple[dict[str, Any], bytes]:
        """The ``key-generated`` journal data and the public key file for a new token key (TUF).

        ``attestation`` (a YubiKey's, as :mod:`ceremony.attestation` records it in the key's
        ``x-`` fields) marks the key as a YubiKey's and travels in the root metadata.
        """
        public = key_from_crypto(tk.public_key())
        key = tuf_format.root_key(public, keyholder, intent["algorithm"], tk.token.label,
                                  tk.token.serial, tk.ref.uri(), device="yubikey" if attestation else None,
                                  attestation=attestation or None)
        data = {"keyholder": keyholder, "key": key.to_dict(), "keyid": key.keyid,
                "algorithm": intent["algorithm"], "token_label": tk.token.label,
                "token_serial": tk.token.serial, "key_id_hex": intent["key_id_hex"],
                "uri": tk.ref.uri()}
        return data, json.dumps({"keyid": key.keyid, **key.to_dict()}, indent=1, sort_keys=True).encode()

    # ---- draft ---------------------------------------------------------------

    def root_keys(self) -> list[Key]:
        """The root keys the plan asks for: kept from the previous root, or generated here.

        Raises:
            StateError: some keyholders still need to generate their key.
        """
        keys, waiting = [], []
        for name in self.plan.root.keyholders:
            rec = self.state.keys.get(name)
            if rec is not None:
                keys.append(self._key_from_record(rec))
                continue
            kept = self._reusable_previous_key(name)
            if kept is not None:
                keys.append(kept)
            else:
                waiting.append(name)
        if waiting:
            raise StateError("no root key yet for " + ", ".join(waiting),
                             hint="run `ceremony keygen WORKSPACE --keyholder NAME` for each")
        return keys

    def _key_from_record(self, rec: KeyRecord) -> Any:
        """A key generated in this ceremony, in the format's key type (TUF: an sslib Key)."""
        return Key.from_dict(rec.keyid, dict(rec.key))

    def online_keys(self) -> dict[str, list[Key]]:
        """The online roles' public keys as copied in at init."""
        return {role: [Key.from_dict(k["keyid"], {f: v for f, v in k.items() if f != "keyid"})
                       for k in keys]
                for role, keys in self.state.init["online_keys"].items()}

    def build_draft(self, version: int, now: datetime, online: dict[str, list[Key]]) -> Metadata[Root]:
        """Root ``version`` as the plan, the root keys and ``online`` make it at ``now`` (TUF);
        ``draft`` journals it, ``ceremony.integrity`` rebuilds it to check the journal's."""
        return tuf_format.build_root(
            version, tuf_format.expiry(now, self.plan.root.expires), self.plan.consistent_snapshot,
            self.root_keys(), self.plan.root.threshold,
            {r.name: (online[r.name], r.threshold) for r in self.plan.online}, created=now)

    def draft_metadata(self) -> Metadata[Root]:
        """The current draft with every journaled signature attached.

        Raises:
            StateError: nothing drafted yet.
        """
        d = self.state.draft
        if d is None:
            raise StateError("there is no draft yet", hint="run `ceremony draft WORKSPACE` first")
        md: Metadata[Root] = Metadata(Root.from_dict(json.loads(json.dumps(d["signed"]))))
        for keyid, s in self.state.signatures.items():
            md.signatures[keyid] = Signature(keyid, s["sig"])
        return md

    def _write_draft(self) -> None:
        md = self.draft_metadata()
        atomic_write(self.ws.draft_path(md.signed.version), tuf_format.to_bytes(md))

    def describe(self, md: Metadata[Root] | None = None) -> list[str]:
        """The draft (or ``md``) in words for the room: roles, keys by name, thresholds, expiry."""
        md = md or self.draft_metadata()
        return tuf_format.describe_root(md.signed)

    def changes(self, md: Metadata[Root] | None = None) -> list[str]:
        """What changes from the previous root to the draft (or ``md``), in words, per role."""
        md = md or self.draft_metadata()
        prev = self.previous_root()
        return tuf_format.diff_roots(prev.signed if prev else None, md.signed)

    def check_draft_file(self) -> None:
        """Refuse to go on if the draft file on disk no longer matches what was drafted.

        Raises:
            VerificationError: the file's signed part was edited.
        """
        d = self.state.draft
        assert d is not None
        path = self.ws.draft_path(d["version"])
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return  # rebuilt from the journal when next written
        if self._draft_file_digest(data, path.name) != d["digest"]:
            raise VerificationError(
                f"the draft {path.name} was changed after it was drafted; refusing to sign it",
                hint="nothing was signed; restore the draft or start a new workspace")

    def _draft_file_digest(self, data: bytes, name: str) -> str | None:
        """The digest of the signed part of a draft file as read back (TUF).

        Raises:
            VerificationError: the file is not root metadata.
        """
        return tuf_format.signed_digest(tuf_format.from_bytes(data, name))

    # ---- sign ----------------------------------------------------------------

    def signing_keys(self, keyholder: str) -> list[Key]:
        """Keys of ``keyholder`` that count toward the new or the previous root threshold."""
        md = self.draft_metadata()
        keys: dict[str, Key] = {}
        roots = [md.signed]
        prev = self.previous_root()
        if prev is not None:
            roots.append(prev.signed)
        for root in roots:
            for keyid in root.roles[Root.type].keyids:
                key = root.keys[keyid]
                if tuf_format.keyholder_of(key) == keyholder:
                    keys[keyid] = key
        return self._not_compromised(keyholder, list(keys.values()))

    def _not_compromised(self, keyholder: str, keys: list[Any]) -> list[Any]:
        """``keys`` without those the plan declares compromised; none left is an error.

        Raises:
            VerificationError: every key of ``keyholder`` that would count is compromised.
        """
        kept = [k for k in keys if k.keyid not in self.plan.compromised_keys]
        if keys and not kept:
            raise VerificationError(
                f"{keyholder}'s key {keys[0].keyid[:12]} was declared compromised "
                "(ceremony.compromised_keys): it does not sign this root",
                hint="the other keyholders sign; a compromised key never counts")
        return kept

    def _sign_one(self, keyholder: str, key: Any, module: Module, pin: PinProvider,
                  on_touch: Callable[[str], None] | None, payload: bytes) -> tuple[dict[str, Any], str]:
        """One verified signature over ``payload`` (TUF): its journal fields and the token serial.

        Raises:
            hsm.errors.HsmError: token missing/wrong, PIN refused, a signature that does not verify.
        """
        signer = self._signer(key, module, pin, on_touch)
        sig = signer.sign(payload)
        key.verify_signature(sig, payload)  # the securesystemslib view agrees, too
        return {"sig": sig.signature}, signer.token_key.token.serial

    def _signer(self, key: Key, module: Module, pin: PinProvider,
                on_touch: Callable[[str], None] | None = None) -> TokenSigner:
        return TokenSigner(open_root_key(key, module, pin, on_touch), key)

    def token_for(self, keyholder: str) -> str:
        """Which token(s) ``keyholder`` must insert to sign the current draft."""
        return ", ".join(tuf_format.token_hint(k) for k in self.signing_keys(keyholder))

    # ---- status & publish ----------------------------------------------------

    def status(self) -> ThresholdStatus:
        """Threshold verdicts for the current draft.

        Raises:
            StateError: nothing drafted yet.
        """
        prev = self.previous_root()
        return self._emergency_view(tuf_format.status(self.draft_metadata(), prev.signed if prev else None))

    def _emergency_view(self, st: ThresholdStatus) -> ThresholdStatus:
        """``st`` with the plan's emergency facts applied: an out-of-band root does not need the
        previous threshold, and nobody waits for a keyholder whose previous key is compromised."""
        old = st.old
        if old is None:
            return st
        if self.plan.compromised_keys:
            barred = self.barred_keyholders()
            old = replace(old, unsigned=tuple(n for n in old.unsigned if n not in barred))
        return ThresholdStatus(st.version, st.new, old,
                               old_required=st.old_required and not self.plan.out_of_band)

    def barred_keyholders(self) -> set[str]:
        """Keyholders whose key in the previous root the plan declares compromised."""
        prev = self.previous_root()
        if prev is None:
            return set()
        keys = prev.signed.keys
        return {h for k in self.plan.compromised_keys if k in keys
                for h in [tuf_format.keyholder_of(keys[k])] if h}

    def _write_published(self, md: Any) -> tuple[bytes, list[Path]]:
        """Write the published root (TUF: ``N.root.json`` and ``root.json``); its bytes and files.

        Only signatures that count go out: the draft holds no stray ones (``sign`` refuses them).
        """
        data = tuf_format.to_bytes(md)
        numbered = self.ws.metadata / f"{md.signed.version}.root.json"
        if not (numbered.exists() and numbered.read_bytes() == data):
            atomic_write(numbered, data, exclusive=True)
        atomic_write(self.ws.metadata / "root.json", data)
        return data, [numbered, self.ws.metadata / "root.json"]


def open_root_key(key: Key, module: Module, pin: PinProvider,
                  on_touch: Callable[[str], None] | None = None) -> Any:
    """The token key behind a root key, found by its ``x-ceremony-*`` fields (no PIN spent yet).

    A YubiKey key (``x-ceremony-device = "yubikey"``) opens through
    ``hsm.yubikey.signing`` on ykcs11 (``module`` is not used): its PIN retry counter
    is read before every login, each signature asks for the PIN (policy ALWAYS), and
    ``on_touch`` is called before the card waits for a touch. Any other key opens on
    ``module`` by its PKCS#11 URI.

    Raises:
        hsm.errors.HsmError: token missing or ambiguous, wrong key on it, PIN budget spent.
    """
    f = key.unrecognized_fields
    if f.get(tuf_format.X_DEVICE) == "yubikey":
        from hsm.yubikey.signing import open_signing_key  # lazy: yubikit, only for a YubiKey key
        serial = str(f.get(tuf_format.X_TOKEN_SERIAL, ""))
        if not serial.isdigit():
            raise VerificationError(f"{tuf_format.key_name(key)}'s key names no YubiKey serial")
        return open_signing_key(int(serial), pin, on_touch, expected_public=public_of(key))
    token = module.find_token(label=f.get(tuf_format.X_TOKEN_LABEL),
                              serial=f.get(tuf_format.X_TOKEN_SERIAL))
    ref = parse_uri(f[tuf_format.X_KEY_URI])
    return module.open_key(token, pin, f[tuf_format.X_ALGORITHM], ref.key_id,
                           expected_public=public_of(key))


def create_workspace(root: Path, plan: Plan, text: str, prev_info: dict[str, Any] | None,
                     prev_files: dict[str, bytes], online_data: dict[str, list[dict[str, Any]]],
                     warnings: list[str], plan_dir: Path | None = None) -> tuple[Workspace, Journal]:
    """Create a workspace all at once: built in a hidden folder beside it, then renamed.

    A crash part-way leaves only the hidden ``.NAME.init-*`` folder, never a workspace
    without its first journal line, so ``init`` can simply be run again.

    Raises:
        WorkspaceError: the folder already holds a ceremony or anything else.
    """
    final = Workspace(root)
    if final.journal.exists():
        raise WorkspaceError(f"{root} already holds a ceremony (journal.jsonl exists)",
                             hint="choose a new folder; a workspace is never reused")
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise WorkspaceError(f"{root} is not empty", hint="choose a new, empty folder")
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.init-", dir=root.parent))
    except OSError as e:
        raise WorkspaceError(f"cannot create the workspace {root}: {e.strerror}",
                             hint="choose a folder on a writable disk") from None
    ws = Workspace(tmp)
    ws.create()
    atomic_write(ws.plan, text.encode(), exclusive=True)
    for name, data in prev_files.items():
        atomic_write(ws.previous / name, data, exclusive=True)
    for role, entries in online_data.items():
        for entry in entries:
            atomic_write(ws.keys / f"online-{role}-{entry['keyid'][:16]}.json",
                         json.dumps(entry, indent=1, sort_keys=True).encode(), exclusive=True)
    journal = Journal.create(ws.journal)
    first = Initialized(
        ceremony_id=str(uuid.uuid4()),
        plan_sha256=sha256(text.encode()),
        name=plan.name,
        format=plan.format,
        repository=plan.repository,
        rehearsal=plan.rehearsal,
        online_keys=online_data,
        previous=prev_info,
        tool_version=_tool_version(),
        warnings=list(warnings),
        # where the plan's key files are: ``ceremony.integrity`` re-reads them before drafting
        plan_dir=str(plan_dir) if plan_dir is not None else None,
    )
    journal.append(first.TYPE, first.to_data())
    try:
        os.rename(tmp, root)  # onto a missing or empty folder: atomic
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise WorkspaceError(f"cannot create the workspace {root}: {e.strerror}") from None
    fsync_dir(root.parent)
    return final, Journal(final.journal, journal.events)


def _tool_version() -> str:
    return __version__


def _load_previous(directory: Path, trusted: Path | None = None,
                   expect_root: str | None = None) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Verify a previous chain (any version) from its trusted start; return what to copy in.

    The start is ``trusted``, else the oldest root present (trust on first use: its
    fingerprint is journaled and shown, and ``expect_root`` refuses any other).
    """
    directory = Path(directory)
    files = chain.previous_root_files(directory)
    start, name = chain.trusted_start(files, trusted)
    check_expected(root_fingerprint(start), expect_root, f"the trusted root {name}")
    report = chain.walk(start, directory, files=files, check_expiry=False, trusted_name=name)
    first = report.trusted_version
    copied = chain.verified_copies(report, files)
    newest = report.newest_bytes
    return ({"version": report.newest_version, "sha256": sha256(newest),
             "versions": [first, *report.versions],
             "trusted_version": first, "trusted_sha256": root_fingerprint(start),
             "online": chain.online_expiries(
                 files[report.newest_version].parent if report.newest_version in files
                 else directory, report.newest.signed)}, copied)


def _check_online_vs_root(online: dict, previous: Root) -> None:
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


def utc(dt: datetime) -> str:
    """A datetime as ``YYYY-MM-DD HH:MM:SS UTC``."""
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
