"""One open workspace: its plan, its journal, its state, and what can be read from them.

A :class:`Session` is what every step works on (``ceremony.steps``): it opens or
creates a workspace (holding its lock), replays the journal into state, answers
the read-only questions the steps, views and faces ask (the previous root, the
root keys, the draft with its signatures, threshold status, who signs with
which token), puts back derived files a crash or a full disk left missing, and
appends an event to the journal. It acts on no token and journals no step of
its own: the steps (keygen, draft, sign, publish, ...) do, each in its module,
and ``ceremony.engine.Ceremony`` is the facade that calls them.

What depends on the metadata format (the key a token key becomes, the draft, one
signature, threshold counting, the published files) is the session's ``format``
(:class:`ceremony.formats.protocol.Format`), built from the plan through
:mod:`ceremony.formats.registry`: the session names no concrete format.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import weakref
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, cast

from ceremony import __version__
from ceremony.errors import (
    CeremonyError,
    StateError,
    VerificationError,
    WorkspaceError,
)
from ceremony.events import KEY_GENERATED, PUBLISHED, Event, Initialized, Published, parse
from ceremony.formats.base import KeyView, ThresholdStatus
from ceremony.formats.registry import format_class, format_for
from ceremony.journal import Journal
from ceremony.lock import Hold, hold as hold_workspace, note
from ceremony.plan import Plan, parse_plan, read_plan_text
from ceremony.state import State, fold, replay
from ceremony.workspace import Workspace, atomic_write, fsync_dir

if TYPE_CHECKING:
    from ceremony.formats.protocol import CeremonyView, Format, RolesFormat, RootMetadata


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
        # The format reads this session through a weak proxy: no reference cycle, so a session
        # dropped by its caller is freed at once and its hold on the workspace lock goes with it
        # (a cycle would keep the lock until the garbage collector ran).
        # Raises PlanError for a format with no engine.
        self.format: Format = format_for(cast("CeremonyView", weakref.proxy(self)))
        self.hold: Hold | None = None  # this process's hold on the workspace lock (ceremony.lock)

    def _adopt_hold(self, hold: Hold) -> None:
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
        klass = format_class(plan.format)
        klass.check_plan(plan, text)
        plan_dir = Path(plan_path).resolve().parent
        inputs = klass.prepare(plan, text, plan_dir, Path(previous) if previous else None,
                               trusted, expect_root)
        ws, journal = create_workspace(Path(root), plan, text, inputs.previous,
                                       inputs.previous_files, inputs.online, inputs.warnings,
                                       plan_dir=plan_dir)
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
        return cls(ws, journal, plan)

    def rewrite_missing_files(self) -> None:
        """Write again the files the journal fully describes that are missing: the draft being
        signed and generated keys' public key files (and a YubiKey key's attestation). A step
        whose event was journaled reports success even when writing such a file failed (a full
        disk, see :meth:`_write_derived`); the next command that opens the workspace puts the
        file back. A sealed workspace is a record and is left as it is; a file that cannot be
        rebuilt is a warning here (the step that needs it says why)."""
        if self.state.sealed:
            return
        try:
            if self.state.draft is not None and \
                    not self.ws.draft_path(self.state.draft["version"]).exists():
                self._write_derived(self.format.write_draft)
            self._rewrite_published()
            generated = {e.data["keyholder"]: e.data for e in self.journal.events
                         if e.type == KEY_GENERATED}
            for keyholder, event in generated.items():
                path = self.ws.keys / f"root-{keyholder}.json"
                if not path.exists():
                    data = self.format.key_file_from_event(event)
                    self._write_derived(lambda p=path, d=data: atomic_write(p, d))  # type: ignore[misc]
                pem_path = self.ws.keys / f"attestation-{keyholder}.pem"
                if event.get("device") == "yubikey" and not pem_path.exists():
                    from ceremony.attestation import journaled_pem  # lazy: cryptography, YubiKey keys only
                    pem = journaled_pem(event)
                    if pem is not None:
                        text = pem.encode()
                        self._write_derived(lambda p=pem_path, d=text: atomic_write(p, d))  # type: ignore[misc]
        except CeremonyError as e:
            note(f"a file missing from the workspace could not be rebuilt from the journal: "
                 f"{e.message}")

    def _rewrite_published(self) -> None:
        """Put back a published file that was deleted (``metadata/N.root.json``, ``root.json``,
        a notary sidecar, an X.509 CA's ``ca.json``, a role published with root): each rebuilt
        from the journal by the format (``Format.published_files``, ``published_role_files``) and
        written only when its bytes have the digest the ``published`` event recorded for that
        file, so what comes back is exactly what was published. A file whose rebuilt bytes
        differ stays missing, with a warning (export names it too)."""
        d = self.state.draft
        if d is None or not self.state.draft_published:
            return
        found = next((e for e in reversed(self.journal.events)
                      if e.type == PUBLISHED and e.data.get("version") == d["version"]), None)
        if found is None:
            return
        event = cast(Published, parse(found))
        # per file: journaled before ``outputs`` was kept, every name in ``files`` had the root's
        want = {f"metadata/{name}": digest for name, digest in
                (event.outputs or dict.fromkeys(event.files, event.sha256)).items()}
        # the roles' metadata published with root (target files come from the plan's folder,
        # not the journal: a missing one stays missing, and export names it)
        want |= {rel: digest for rel, digest in (event.roles or {}).items() if rel.startswith("metadata/")}
        missing = [rel for rel in want if not (self.ws.root / rel).exists()]
        if not missing:
            return
        rebuilt = {f"metadata/{name}": data for name, data in self.format.published_files().items()}
        roles = self.roles_format()
        if roles is not None and any(rel in (event.roles or {}) for rel in missing):
            rebuilt |= roles.published_role_files()
        for rel in missing:
            data = rebuilt.get(rel)
            if data is None or sha256(data) != want[rel]:
                note(f"{rel} is missing and what the journal rebuilds for it is not what was "
                     f"published (sha256 {want[rel][:16]}...); it is not written: restore it "
                     "from a copy")
                continue
            self._write_derived(lambda p=self.ws.root / rel, b=data: atomic_write(p, b))  # type: ignore[misc]
            note(f"{rel} was missing; rebuilt from the journal (sha256 {want[rel][:16]}... "
                 "as published)")

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
        from ceremony.airgap import require_preflight  # lazy: the air-gap re-check, not needed by status
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
        event = self.journal.append(type_, data)
        self.state = fold(self.state, [event])

    # ---- previous root (rotations) ---------------------------------------------

    def previous_root(self) -> RootMetadata | None:
        """The newest trusted root this ceremony continues from, re-checked against the journal
        (the format's root view).

        Raises:
            VerificationError: the copy in ``previous/`` was changed after init.
        """
        return self.format.previous_root()

    def revoked_in(self, keyid: str) -> int | None:
        """The root version that dropped ``keyid``, if it was ever a root key of the chain."""
        info = self.state.init.get("previous")
        if not info:
            return None
        was_root = False
        for v in info.get("versions", []):
            is_root = keyid in self.format.previous_version(int(v)).roles["root"].keyids
            if was_root and not is_root:
                return int(v)
            was_root = was_root or is_root
        return self.state.draft["version"] if was_root and self.state.draft else None

    def previous_keys_of(self, keyholder: str) -> list[KeyView]:
        """Root keys of ``keyholder`` in the previous root (as the format names keyholders)."""
        prev = self.previous_root()
        if prev is None:
            return []
        root = prev.signed
        keys = [root.keys[k] for k in root.roles["root"].keyids
                if self.format.keyholder_of(root.keys[k]) == keyholder]
        if self.plan.offline:  # a format that signs offline roles: their keyholders' keys too
            keys += cast("RolesFormat", self.format).previous_role_keys_of(keyholder)
        return keys

    # ---- keygen --------------------------------------------------------------

    def needs_key(self, keyholder: str) -> bool:
        """Whether ``keyholder`` must still generate a key in this ceremony."""
        if keyholder in self.state.keys:
            return False
        return not self._reusable_previous_key(keyholder)

    def keyholders_waiting(self) -> list[str]:
        """The plan's root keyholders who must still generate a key, in plan order (status, the
        next step, the TUI and the printable script all ask this one question)."""
        return [k for k in self.plan.signers if self.needs_key(k)]

    def _reusable_previous_key(self, keyholder: str) -> KeyView | None:
        holder = self.plan.keyholder(keyholder)
        for key in self.previous_keys_of(keyholder):
            if key.keyid in self.plan.compromised_keys:
                continue  # declared compromised: the keyholder needs a new key
            label, serial = self.format.token_of(key)
            if (holder.token is None or label == holder.token) and \
               (holder.serial is None or serial == holder.serial):
                return key
        return None

    # ---- draft ---------------------------------------------------------------

    def root_keys(self) -> list[KeyView]:
        """The root keys the plan asks for: kept from the previous root, or generated here.

        Raises:
            StateError: some keyholders still need to generate their key.
        """
        return list(self._keys_of(self.plan.root.keyholders).values())

    def signer_keys(self) -> dict[str, KeyView]:
        """The key of every keyholder the plan's roles name (root and the offline roles), by
        keyholder: kept from the previous root, or generated here.

        Raises:
            StateError: some keyholders still need to generate their key.
        """
        return self._keys_of(self.plan.signers)

    def _keys_of(self, names: Sequence[str]) -> dict[str, KeyView]:
        keys: dict[str, KeyView] = {}
        waiting = []
        for name in names:
            rec = self.state.keys.get(name)
            if rec is not None:
                keys[name] = self.format.key_from_record(rec)
                continue
            kept = self._reusable_previous_key(name)
            if kept is not None:
                keys[name] = kept
            else:
                waiting.append(name)
        if waiting:
            raise StateError("no root key yet for " + ", ".join(waiting),
                             hint="run `ceremony keygen WORKSPACE --keyholder NAME` for each")
        return keys

    def online_keys(self) -> dict[str, list[Any]]:
        """The online roles' public keys as copied in at init (the format's key views)."""
        return self.format.online_keys()

    def draft_metadata(self) -> RootMetadata:
        """The current draft with every journaled signature attached (the format's root view).

        Raises:
            StateError: nothing drafted yet.
        """
        return self.format.draft_metadata()

    def describe(self, md: RootMetadata | None = None) -> list[str]:
        """The draft (or ``md``) in words for the room: roles, keys by name, thresholds, expiry.

        Raises:
            StateError: no ``md`` and nothing drafted yet.
        """
        lines = self.format.describe(md or self.draft_metadata())
        roles = self.roles_format() if self._is_draft(md) else None
        return lines + (roles.describe_roles() if roles is not None else [])

    def changes(self, md: RootMetadata | None = None) -> list[str]:
        """What changes from the previous root to the draft (or ``md``), in words, per role.

        Raises:
            StateError: no ``md`` and nothing drafted yet.
        """
        lines = self.format.changes(md or self.draft_metadata())
        roles = self.roles_format() if self._is_draft(md) else None
        if roles is not None and self.previous_root() is None:
            lines += ["new repository: " + line.strip() for line in roles.describe_roles()
                      if not line.startswith("  target ")]
        elif roles is not None:
            lines += roles.role_changes()
        return lines

    def _is_draft(self, md: RootMetadata | None) -> bool:
        """Whether ``md`` is (a view of) the current draft: none given, or its version."""
        d = self.state.draft
        return d is not None and (md is None or md.signed.version == d["version"])

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
        if self.format.draft_file_digest(data, path.name) != d["digest"]:
            raise VerificationError(
                f"the draft {path.name} was changed after it was drafted; refusing to sign it",
                hint="nothing was signed; restore the draft or start a new workspace")

    # ---- sign ----------------------------------------------------------------

    def signing_keys(self, keyholder: str) -> list[KeyView]:
        """Keys of ``keyholder`` that count toward the new or the previous root threshold.

        Raises:
            StateError: nothing drafted yet.
            VerificationError: every such key is declared compromised.
        """
        return self._not_compromised(keyholder, list(self.format.keys_of(keyholder)))

    def _not_compromised(self, keyholder: str, keys: list[KeyView]) -> list[KeyView]:
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

    def token_for(self, keyholder: str) -> str:
        """Which token(s) ``keyholder`` must insert to sign the current draft."""
        return ", ".join(self.format.token_hint(k) for k in self.signing_keys(keyholder))

    # ---- status & publish ----------------------------------------------------

    def status(self) -> ThresholdStatus:
        """Threshold verdicts for the current draft.

        Raises:
            StateError: nothing drafted yet.
        """
        st = self._emergency_view(self.format.threshold_status(self.draft_metadata(),
                                                               self.previous_root()))
        roles = self.roles_format()
        return replace(st, roles=roles.role_verdicts()) if roles is not None else st

    def roles_format(self) -> RolesFormat | None:
        """The format as it signs the roles beyond root the draft holds (targets, delegated
        roles), or None when the draft holds root alone (always, for a format that signs only
        root: its drafts carry no ``roles``)."""
        d = self.state.draft
        if d is None or not d.get("roles"):
            return None
        return cast("RolesFormat", self.format)

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
                               old_required=st.old_required and not self.plan.out_of_band,
                               roles=st.roles)

    def barred_keyholders(self) -> set[str]:
        """Keyholders whose key in the previous root the plan declares compromised."""
        prev = self.previous_root()
        if prev is None:
            return set()
        keys = prev.signed.keys
        return {h for k in self.plan.compromised_keys if k in keys
                for h in [self.format.keyholder_of(keys[k])] if h}


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
    import uuid  # lazy: uuid (and platform, ~4 ms), for a new workspace only

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


def utc(dt: datetime) -> str:
    """A datetime as ``YYYY-MM-DD HH:MM:SS UTC``."""
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
