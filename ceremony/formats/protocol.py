"""What a metadata format is to the ceremony: the :class:`Format` protocol, and the
:class:`CeremonyView` a format may read.

The session and the steps (``ceremony.session``, ``ceremony.steps``) are the same for
every format: they open the workspace, check the step may run, journal, and write files
through a format object they hold (``Session.format``). Everything that depends on what
the published root *is* (its wire bytes, its keys and key ids, how a token signs it, how
thresholds count, how it reads in words, how a chain of it is walked) is the format's.
A format reads the ceremony only through a :class:`CeremonyView` (its workspace, plan,
replayed state and journal), so it never imports the engine or the session: the
dependency runs one way, session → format.

How to add a format (a third one, e.g. an X.509 CA):

1. Write one package ``ceremony/formats/<name>/`` (or module ``ceremony/formats/<name>.py``)
   holding a class that implements :class:`Format` on its instances (bound to one ceremony's
   :class:`CeremonyView`) and :class:`FormatClass` on the class itself (``name``,
   ``check_plan`` for its plan rules, asked by ``plan.parse_plan``, and ``prepare`` for
   ``init``; ``claims``, ``walk_chain``, ``verify_folder``, ``read_published``,
   ``self_signed_root``, ``check_keyids``, ``with_names`` for files read from outside;
   ``preview_warnings``, ``targets_refusal`` and ``online_key_note`` for the plan preview,
   ``compromise --targets`` and arriving online key files; ``record_*`` for the record, the
   report and the seal, read from the journal alone; ``detached`` for travelling drafts;
   ``rehearsal_*`` for ``rehearse``), its pure model (wire bytes, keys, key ids, root views
   with the shape of :class:`RootMetadata`, threshold verdicts from
   ``ceremony.formats.base``, chain walk) and its detached-signing adapter
   (:class:`DetachedAdapter`). The class inherits
   :class:`ceremony.formats.defaults.FormatDefaults`: the optional hooks (the last section of
   each protocol: ``online_roles``, ``plan_table``, ``offline_roles``, ``rehearsal_sequence``
   and ``rehearsal_plan``, ``check_bundle``, ``check_bundle_extra``, ``export_files``,
   ``script_publish``, ``script_verify``, ``init_lines``, ``signers_in_order``) with the
   behaviour of a root chain like TUF's; override those that differ. Callers call every hook
   directly, never through ``getattr`` (``tests/architecture/test_format_protocol_hooks.py``).
   ``published_files`` names every file ``publish`` writes with its bytes: the publish step
   journals each one's digest, and a deleted one is put back only when it rebuilds to it.
2. Add one line to ``ceremony.formats.registry.FORMATS``: ``"<name>": "module:Class"``.

``tests/model/test_third_format.py`` does exactly this with a toy format
(``tests/support/toy_format``) and runs init, keygen, draft, sign, status, publish and
``record verify`` through the unchanged CLI; it also fails when a module outside
``formats/`` compares anything with a format's name.

The session builds its format from the plan through the registry; the steps, the
integrity checks (``ceremony.integrity``), the chain walks (``chain.verify_published``,
``transfer``), detached signing (``detached``, ``draft_trust``), the record views
(``record``, ``record_check``, ``seal``), the plan (``plan.parse_plan``: format names and
per-format rules), the TUI's plan preview (``flows.new``), ``compromise --targets``
(``flows.emergency``), ``rehearse`` and ``rehearse --format`` ask the format or the registry.
Still shared outside ``formats/`` (to move next): the ``x-ceremony-*`` key-field names and
``key_name``/``keyholder_of`` live in ``ceremony.formats.tuf`` and are imported from there
by the steps, ``integrity``, ``attestation``, ``token_keys`` and the TUI; ``status.expiries``
and ``compromise.current_root`` are typed with python-tuf's ``Root`` (so
``Session.previous_root``/``draft_metadata`` still return ``Any``); ``seal.Sealer.public``
tells a notary key from a TUF one by its ``public_key`` method; ``plan.client_warnings``
(tuf-js and P-384) is TUF's, called by ``TufFormat.prepare`` only.
Tests: run the format's own real client against what the ceremony publishes (as
``notary``, python-tuf's ngclient and tuf-js are run for the two formats here).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

# The two values the protocol's methods return live with the verdicts, in ``base`` (a module
# that loads at start-up); they are named here too, as the protocol's own.
from ceremony.formats.base import Draft as Draft, InitInputs as InitInputs

if TYPE_CHECKING:  # annotations only: the formats import this module for mypy alone
    from ceremony.formats.base import KeyView, RoleVerdict, ThresholdStatus
    from ceremony.journal import Event, Journal
    from ceremony.plan import Plan
    from ceremony.state import KeyRecord, State
    from ceremony.workspace import Workspace
    from hsm.pkcs11 import Module, PinProvider

OnTouch = Callable[[str], None] | None


class RootRole(Protocol):
    """One role of a root: the key ids it lists and how many must sign."""

    @property
    def keyids(self) -> list[str]: ...

    @property
    def threshold(self) -> int: ...


class SignedRoot(Protocol):
    """The signed part of a root as every format's view has it (python-tuf's ``Root``,
    ``NotaryRoot``): what the session, the steps and the views read of it."""

    @property
    def version(self) -> int: ...

    @property
    def expires(self) -> datetime: ...

    @property
    def keys(self) -> Mapping[str, KeyView]: ...

    @property
    def roles(self) -> Mapping[str, RootRole]: ...


class RootMetadata(Protocol):
    """A root with its signatures, as every format's view has it (python-tuf's
    ``Metadata[Root]``, ``NotaryMetadata``): ``signed`` and the bytes its signatures cover."""

    @property
    def signed(self) -> SignedRoot: ...

    @property
    def signed_bytes(self) -> bytes: ...


class CeremonyView(Protocol):
    """What a format may read of a ceremony: nothing else, and never to change it.

    ``state`` is the replay of ``journal`` and is replaced after every append, so a format
    reads it anew each time (never keeps it).
    """

    ws: Workspace
    plan: Plan
    state: State
    journal: Journal


class RolesFormat(Protocol):
    """A format that signs roles beyond root offline in the same ceremony (TUF's ``targets``
    and its delegated roles, issue 15). Its ``build_draft`` puts ``roles`` into the draft's
    fields (role -> version, digest, signed part); the session asks the methods below only
    when the journaled draft holds such roles, so a format that signs root alone (Notary,
    a third format) never implements them. Set ``offline_roles = True`` on the class to let
    a plan declare such roles for it (``plan.parse_plan`` refuses them otherwise)."""

    def role_keys_of(self, keyholder: str) -> dict[str, list[Any]]:
        """Role -> the keys of ``keyholder`` that count toward that role's threshold."""
        ...

    def role_payload(self, role: str) -> bytes:
        """The bytes a signature over the drafted ``role`` signs."""
        ...

    def role_verdicts(self) -> tuple[RoleVerdict, ...]:
        """Every drafted role's signatures, counted against its threshold."""
        ...

    def describe_roles(self) -> list[str]:
        """The drafted roles in words: keys by keyholder, thresholds, paths, UTC expiry,
        target files."""
        ...

    def previous_role_keys_of(self, keyholder: str) -> list[Any]:
        """``keyholder``'s keys in the roles of the repository continued (a keyholder of these
        roles alone keeps their key, as a root keyholder does)."""
        ...

    def role_changes(self) -> list[str]:
        """What changes in these roles from the repository continued, in words (empty for a
        new repository)."""
        ...

    def roles_to_publish(self) -> dict[str, bytes]:
        """The files publishing the roles writes (path in the workspace -> bytes), every
        input re-checked first.

        Raises:
            VerificationError: an input changed since the draft (a target file).
        """
        ...

    def published_role_files(self) -> dict[str, bytes]:
        """The roles' own metadata files among :meth:`roles_to_publish` (path in the workspace
        -> bytes), rebuilt from the journal alone: how the session puts a deleted one back
        (target files come from outside the journal and are not among them)."""
        ...


class RolesDetached(Protocol):
    """The detached-signing half of :class:`RolesFormat`: the roles drafted with root travel
    in the draft file (``roles``), and a keyholder signs those they hold a key in. Asked only
    when a draft file carries ``roles`` (read by :meth:`DetachedAdapter.load_roles`)."""

    def role_keys_of(self, draft: Any, roles: dict[str, Any], keyholder: str) -> dict[str, list[Any]]:
        """Role -> ``keyholder``'s keys that count toward it."""
        ...

    def sign_roles(self, roles: dict[str, Any], keys: dict[str, list[Any]], module: Module,
                   pin: PinProvider, on_touch: OnTouch = None) -> list[dict[str, Any]]:
        """One verified signature entry (naming its ``role``) per role and key."""
        ...


class DetachedAdapter(Protocol):
    """How a draft travels to a keyholder's own machine and a signature comes back
    (:mod:`ceremony.detached`): the format's half of it."""

    def document(self, fmt: Format) -> dict[str, Any]:
        """The format's fields of a travelling draft file (draft, previous root, ...) for the
        ceremony ``fmt`` is bound to."""
        ...

    def load(self, obj: dict[str, Any], path: Path, repository: str) -> tuple[Any, Any, str]:
        """``(draft, previous, digest)`` from a travelling draft file, checked.

        Raises:
            VerificationError: the file does not hold this format's root.
        """
        ...

    def keys_of(self, draft: Any, previous: Any, keyholder: str) -> list[Any]:
        """``keyholder``'s root keys that count for ``draft``."""
        ...

    def sign(self, draft: Any, keys: list[Any], module: Module, pin: PinProvider,
             on_touch: OnTouch = None) -> list[dict[str, Any]]:
        """One verified signature entry per key (what the signature file carries)."""
        ...

    def verify(self, key: Any, entry: dict[str, Any], payload: bytes) -> dict[str, Any] | None:
        """The journal fields of a returned signature entry, or ``None`` when it does not verify."""
        ...

    # ---- optional hook (default in ceremony.formats.defaults.DetachedDefaults) -------------

    def load_roles(self, obj: dict[str, Any], path: Path) -> dict[str, Any]:
        """The roles beyond root a draft file carries (``roles``), each checked against its
        digest; empty for a format that signs root alone.

        Raises:
            VerificationError: a role does not match its digest.
        """
        ...


class Format(Protocol):
    """One metadata format bound to one ceremony (built by the session from the plan).

    Root views are the format's own types, read here as :class:`RootMetadata` (python-tuf's
    ``Metadata[Root]`` for TUF, ``NotaryMetadata`` for notary: ``signed`` with ``version``,
    ``expires``, ``keys``, ``roles``, and ``signed_bytes``); ``Any`` where a method takes a
    root view back (the format reads its own type). Keys are the format's key
    views (``keyid``, ``unrecognized_fields`` with the ``x-ceremony-*`` facts). Caches a
    format keeps live on the format object, keyed by what they depend on in the state.
    """

    name: ClassVar[str]
    view: CeremonyView

    # ---- init ----------------------------------------------------------------------------

    def online_keys(self) -> dict[str, list[Any]]:
        """The online roles' public keys as copied in at init."""
        ...

    # ---- keys ----------------------------------------------------------------------------

    def describe_key(self, keyholder: str, tk: Any, intent: dict[str, Any], now: datetime | None,
                     attestation: dict[str, Any] | None = None) -> tuple[dict[str, Any], bytes]:
        """The ``key-generated`` journal data and the public key file of a new token key.

        Raises:
            VerificationError: what the format made of the key would be refused.
        """
        ...

    def key_file_from_event(self, event: dict[str, Any]) -> bytes:
        """``keys/root-NAME.json`` as keygen wrote it, from its ``key-generated`` event."""
        ...

    def key_from_record(self, rec: KeyRecord) -> KeyView:
        """A key generated in this ceremony, as the format's key view."""
        ...

    def key_name(self, key: Any) -> str:
        """How a key is called in the room (its keyholder, else a short id)."""
        ...

    def keyholder_of(self, key: Any) -> str | None:
        """The keyholder a root key belongs to, if known."""
        ...

    def token_hint(self, key: Any) -> str:
        """Which token to insert to sign with ``key``."""
        ...

    def token_of(self, key: Any) -> tuple[str | None, str | None]:
        """The label and serial of the token a root key was made on, as the root (or the
        format's record of it) says: how a key kept from the previous root is matched with the
        plan's token for its keyholder (``None`` where it says nothing)."""
        ...

    # ---- previous chain ------------------------------------------------------------------

    def previous_root(self) -> RootMetadata | None:
        """The newest trusted root this ceremony continues from, re-checked against the journal.

        Raises:
            VerificationError: the copy in ``previous/`` was changed after init.
        """
        ...

    def previous_version(self, version: int) -> Any:
        """The signed part of root ``version`` of the chain copied in at init."""
        ...

    # ---- draft ---------------------------------------------------------------------------

    def build_draft(self, root_keys: Sequence[Any], now: datetime | None) -> Draft:
        """The next root from the plan, ``root_keys`` and the online keys, with its checks.

        Raises:
            VerificationError: the root would be refused (by the format's clients).
            PlanError: a role would list one public key twice.
        """
        ...

    def draft_metadata(self) -> RootMetadata:
        """The current draft with every journaled signature attached.

        Raises:
            StateError: nothing drafted yet.
        """
        ...

    def draft_bytes(self) -> bytes:
        """The draft file's bytes (``metadata/drafts/N.root.json``): the draft as it stands."""
        ...

    def write_draft(self) -> None:
        """Write the draft file (a view of the journal).

        Raises:
            WorkspaceError: the write failed.
        """
        ...

    def draft_roles(self, signed: Mapping[str, Any]) -> dict[str, tuple[list[dict[str, Any]], Any]]:
        """Each role of a journaled draft's signed part (``draft-created``'s ``signed``, read
        from the journal, so checked by the caller): its key entries (``keyid`` + the key as
        the online key files give it) and its threshold, as the draft lists them."""
        ...

    def draft_file_digest(self, data: bytes, name: str) -> str | None:
        """The digest of a draft file's signed part as read back (``None``: not a root).

        Raises:
            VerificationError: the file is not root metadata.
        """
        ...

    def describe(self, md: Any) -> list[str]:
        """A root in words for the room: roles, keys by name, thresholds, expiry."""
        ...

    def changes(self, md: Any) -> list[str]:
        """What changes from the previous root to ``md``, in words."""
        ...

    # ---- sign ----------------------------------------------------------------------------

    def keys_of(self, keyholder: str) -> Sequence[KeyView]:
        """``keyholder``'s keys that count toward the draft's or the previous root's threshold
        (before the plan's compromised keys are taken out)."""
        ...

    def signing_payload(self, md: Any) -> bytes:
        """The bytes a root key signs."""
        ...

    def sign_one(self, keyholder: str, key: Any, module: Module, pin: PinProvider,
                 on_touch: OnTouch, payload: bytes) -> tuple[dict[str, Any], str]:
        """One signature over ``payload``, verified: its journal fields and the token serial.

        Raises:
            hsm.errors.HsmError: token missing/wrong, PIN refused, a signature that does
                not verify.
        """
        ...

    def threshold_status(self, md: Any, previous: Any | None) -> ThresholdStatus:
        """Threshold verdicts of ``md`` (and of the previous root over it)."""
        ...

    # ---- publish -------------------------------------------------------------------------

    def write_published(self, md: Any) -> tuple[bytes, list[Path]]:
        """Write the published root into ``metadata/``; its bytes and the files written.

        Raises:
            VerificationError: the root would be refused by the format's clients.
            WorkspaceError: a published file exists with other content.
        """
        ...

    def published_files(self) -> dict[str, bytes]:
        """Every file publishing the draft writes into ``metadata/`` (its name there -> its
        bytes), rebuilt from the journal: the files ``write_published`` returns and those it
        writes beside them (notary's sidecar, an X.509 CA's ``ca.json`` and Notation files).
        The publish step journals each one's digest (``published``'s ``outputs``), and the
        session puts back a deleted one only when its rebuilt bytes have that digest.

        Raises:
            StateError: nothing drafted.
            VerificationError: what the journal holds no longer builds the published files.
        """
        ...

    def published_extra(self, name: str, version: int) -> bytes | None:
        """A file published beside root ``version`` other than the root (notary's sidecar),
        rebuilt from the journal for the integrity check; ``None`` when ``name`` is none."""
        ...

    # ---- checks --------------------------------------------------------------------------

    def plan_online_keys(self, base: Path) -> dict[str, list[dict[str, Any]]]:
        """The online key entries the plan's key files hold now (``keyid`` + key dict)."""
        ...

    def rebuilt_digest(self, root_keys: Sequence[Any], version: int, created: datetime,
                       online: dict[str, list[dict[str, Any]]]) -> str | None:
        """The digest of root ``version`` rebuilt from the plan, ``root_keys`` and the
        ``online`` key entries as of ``created``, to compare with the journaled draft's;
        ``None`` when the format does not rebuild drafts (the other checks still apply)."""
        ...

    def walk_chain(self, first: bytes, directory: Path, *, check_expiry: bool,
                   trusted_name: str, repository: str | None = None) -> Any:
        """Walk a root chain in ``directory`` from ``first`` as the format's client would
        (a ``chain.ChainReport``; the class's own method, also asked of the bound format).

        Raises:
            VerificationError: a root in the chain does not verify.
        """
        ...

    # ---- optional hooks (defaults in ceremony.formats.defaults.FormatDefaults) ------------

    signers_in_order: ClassVar[bool]  # the sign screen offers first whom the next step waits for

    def init_lines(self) -> list[str] | None:
        """``init``'s summary of who signs, when the format says it (``None``: the CLI's)."""
        ...

    def script_publish(self, version: int) -> str:
        """What publishing root ``version`` writes, for the printable script."""
        ...

    def script_verify(self, workspace: str, continues: bool) -> tuple[str, str]:
        """The printable script's verify command and what it checks."""
        ...

    def export_files(self) -> dict[str, bytes] | None:
        """The published files ``export`` carries, checked, when the format gathers them
        (``None``: ``transfer`` gathers the root chain and the roles published with it).

        Raises:
            VerificationError: a file is missing or differs.
        """
        ...


class FormatClass(Protocol):
    """The class of a format, as the registry hands it out: what ``init`` asks before a
    workspace exists, and the constructor binding it to a ceremony."""

    name: str

    def __call__(self, view: CeremonyView) -> Format:
        """The format bound to ``view``."""
        ...

    def check_plan(self, plan: Plan, text: str) -> None:
        """Refuse a plan this format cannot publish.

        Raises:
            PlanError: the message names what does not fit.
        """
        ...

    def prepare(self, plan: Plan, text: str, plan_dir: Path, previous: Path | None,
                trusted: Path | None, expect_root: str | None) -> InitInputs:
        """Read and check what ``init`` copies in: the online key files and the previous chain.

        Raises:
            PlanError: a key file is unusable, or the plan does not fit the previous chain.
            VerificationError: the previous chain does not verify.
        """
        ...

    def detached(self) -> DetachedAdapter:
        """The format's detached-signing adapter."""
        ...

    def claims(self, data: bytes) -> bool:
        """Whether ``data`` (a root file read from outside) is this format's root: how a chain,
        a bundle or a keyholder's trusted root is told apart (``registry.detect``)."""
        ...

    def walk_chain(self, first: bytes, directory: Path, *, check_expiry: bool,
                   trusted_name: str, repository: str | None = None) -> Any:
        """Walk the root chain in ``directory`` from the trusted ``first`` as the format's
        client would (a ``chain.ChainReport``); ``repository`` pins notary's GUN.

        Raises:
            VerificationError: a root in the chain does not verify.
        """
        ...

    def verify_folder(self, directory: Path) -> Any:
        """Walk a published metadata folder from its ``1.root.json`` (a ``chain.ChainReport``).

        Raises:
            VerificationError: the chain does not verify.
        """
        ...

    def self_signed_root(self, data: bytes, where: str, repository: str) -> Any:
        """A single root file read as the format's root view, signed by its own threshold
        (expiry not held against it).

        Raises:
            VerificationError: not this format's root, refused by its rules, or below its
                own threshold.
        """
        ...

    def read_published(self, directory: Path, trusted_path: Path, trusted: bytes,
                       trusted_name: str, at: datetime,
                       files: dict[int, Path] | None) -> tuple[Any, bool]:
        """A published folder read as the format's client would, from the trusted root
        (``chain.verify_published``): a ``chain.PublishedChain`` with what the folder says,
        and whether the newest root keys' attestations are to be re-checked.

        Raises:
            VerificationError: the chain or a file a client fetches does not verify.
        """
        ...

    def check_keyids(self, root: Any, what: str) -> None:
        """Refuse a root (its ``signed`` view) with a key listed under an id that is not the
        format's hash of it (a key swapped under an old id).

        Raises:
            VerificationError: the message names the key.
        """
        ...

    def with_names(self, root: Any, *named: Any) -> Any:
        """``root`` with the keyholder names the ``named`` roots carry for its keys (a format
        whose roots name no keyholders takes them from a travelling draft's sidecar)."""
        ...

    # ---- outside a ceremony: plan preview, emergency, transfer ------------------------------

    targets_refusal: str | None  # why ``compromise --targets`` does not apply (None: it does)

    def preview_warnings(self, plan: Plan, plan_dir: Path) -> list[str]:
        """What the room is told of a plan's online key files before ``init`` (the TUI's plan
        preview): nothing is written.

        Raises:
            PlanError: a key file is invalid or missing.
        """
        ...

    def online_key_note(self, path: Path, name: str, data: bytes) -> str | None:
        """``"NAME: ... public key ID"`` for an online public key file of this format arriving
        in a bundle, checked (``None``: not this format's key file; the registry's default
        format takes every file no other claims).

        Raises:
            PlanError: the file is this format's but is no usable public key.
        """
        ...

    # ---- the record (from the journal and the workspace alone: no session, no token) -------

    def record_key_file(self, event: Mapping[str, Any]) -> bytes:
        """``keys/root-NAME.json`` as keygen wrote it, from its ``key-generated`` event data."""
        ...

    def record_sealers(self, ws: Workspace, events: list[Event]) -> list[tuple[str, str, Any]]:
        """``(keyholder, keyid, key)`` for each root key that signed the published root and
        whose token is known (the key with its ``x-ceremony-*`` facts in
        ``unrecognized_fields``): who seals the journal.

        Raises:
            StateError: nothing published.
            VerificationError: the published or the previous root was changed.
        """
        ...

    def record_check_published(self, ws: Workspace, events: list[Event], version: int,
                               data: bytes, name: str) -> tuple[str | None, str | None]:
        """Check published root ``version`` (``data``, already digest-checked against the
        journal ``events`` up to its publication): the journaled draft, only journaled
        signatures, every threshold met. ``(problem, None)`` or ``(None, the check passed)``."""
        ...

    def record_describe_published(self, ws: Workspace, events: list[Event]) -> list[str]:
        """The last root published in ``events`` in words, with its threshold verdicts (the
        report).

        Raises:
            StateError: nothing published.
            VerificationError: the published or the previous root was changed.
        """
        ...

    rehearsal_scenarios: tuple[str, ...]
    rehearsal_hint: str | None  # what to do instead of a scenario the format does not rehearse

    def rehearsal_key_files(self, directory: Path, repository: str) -> str:
        """Turn the throwaway online keys' ``ROLE.pub.pem`` in ``directory`` into the key files
        the format's plan names; the suffix of those files (``.pub.pem`` when kept)."""
        ...

    # ---- optional hooks (defaults in ceremony.formats.defaults.FormatDefaults) ------------

    online_roles: tuple[str, ...]  # the roles beside root a plan names (``roles.NAME``)
    plan_table: str | None  # the format's own top-level plan table, read by its check_plan
    offline_roles: bool  # whether a plan may declare roles beyond root signed offline
    rehearsal_sequence: Mapping[str, tuple[str, ...]]  # scenario -> steps, one ceremony each

    def rehearsal_plan(self, step: str, base: Path, names: list[str], threshold: int,
                       algorithm: str, previous: Path | None) -> Path:
        """The plan of one step of a :attr:`rehearsal_sequence` scenario, written under ``base``
        from the folder the ``previous`` step published.

        Raises:
            UsageError: the format rehearses no sequence.
        """
        ...

    def check_bundle(self, files: Mapping[str, bytes],
                     expect_root: str | None) -> tuple[list[str], bytes | None] | None:
        """A published folder arriving in a bundle checked by the format itself (notes, newest
        root bytes); ``None``: a root chain, walked by ``transfer``.

        Raises:
            VerificationError: a file does not verify.
        """
        ...

    def draft_words(self, signed: Any) -> list[str] | None:
        """A travelling draft's signed part in the format's own words, for the keyholder
        reviewing it (``None``: compared with the trusted root role by role)."""
        ...

    def check_bundle_extra(self, files: Mapping[str, bytes], newest_root: bytes) -> list[str]:
        """The files published beside a root chain (TUF's roles) checked against its newest
        root: the notes.

        Raises:
            VerificationError: such a file does not verify.
        """
        ...
