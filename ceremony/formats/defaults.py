"""The optional hooks of :class:`ceremony.formats.protocol.Format` and ``FormatClass``, with the
behaviour a format gets when it says nothing: :class:`FormatDefaults` (and
:class:`DetachedDefaults` for its ``DetachedAdapter``).

Every format class inherits it (TUF, notary, X.509, the tests' toy format) and overrides what
it does differently, so the session, the steps, the plan reader, ``rehearse``, ``script``,
``transfer``, the CLI and the TUI call each hook directly (mypy checks the call against the
protocol) instead of asking ``getattr(fmt, "hook", fallback)``. A default here is exactly what
those callers did before when the attribute was absent, so inheriting it changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

from ceremony.errors import UsageError, VerificationError
from ceremony.formats.base import is_root_file
from ceremony.plan import ONLINE_ROLES


class FormatDefaults:
    """The defaults of the optional format hooks (class attributes and methods a format may
    override); each names the caller that reads it."""

    name: ClassVar[str]

    # ---- the class: the plan, rehearse, transfer ---------------------------------------------

    #: ``plan.parse_plan``: the roles beside root the plan names under ``roles.NAME`` (an X.509
    #: CA has none).
    online_roles: ClassVar[tuple[str, ...]] = ONLINE_ROLES
    #: ``plan.parse_plan``: the format's own top-level plan table (``[x509]``), which its
    #: ``check_plan`` reads; ``None``: none, and a stray table is refused as unknown.
    plan_table: ClassVar[str | None] = None
    #: ``plan.parse_plan``: whether a plan may declare roles beyond root signed offline
    #: (TUF's ``roles.targets.keyholders`` and ``[[delegations]]``, :class:`RolesFormat`).
    offline_roles: ClassVar[bool] = False
    #: ``ceremony.rehearse``: scenarios rehearsed as a sequence of ceremonies, each continuing
    #: from the folder the one before published (scenario -> its steps); see
    #: :meth:`rehearsal_plan`.
    rehearsal_sequence: ClassVar[Mapping[str, tuple[str, ...]]] = MappingProxyType({})

    @classmethod
    def rehearsal_plan(cls, step: str, base: Path, names: list[str], threshold: int, algorithm: str,
                       previous: Path | None) -> Path:
        """The plan of ``step`` of a rehearsed sequence, written under ``base`` from the folder
        the ``previous`` step published. Asked only for a scenario in
        :attr:`rehearsal_sequence`, which is empty here.

        Raises:
            UsageError: the format rehearses no sequence.
        """
        raise UsageError(f"format {cls.name!r} rehearses no sequence of ceremonies (step {step!r})")

    @classmethod
    def check_bundle(cls, files: Mapping[str, bytes],
                     expect_root: str | None) -> tuple[list[str], bytes | None] | None:
        """``ceremony.transfer``: a published folder arriving in a bundle, checked by the format
        itself when it is no root chain (an X.509 CA's folder): the notes and the newest root's
        bytes. ``None`` here: the bundle is a root chain, which ``transfer`` walks itself.

        Raises:
            VerificationError: a file does not verify (a format that checks its own bundle).
        """
        return None

    @classmethod
    def draft_words(cls, signed: Any) -> list[str] | None:
        """``ceremony.draft_trust.changes``: a travelling draft's signed part read out by the
        format itself, for the keyholder reviewing it before signing (an X.509 TBS); ``None``
        here: ``draft_trust`` compares it with the trusted root, role by role."""
        return None

    @classmethod
    def check_bundle_extra(cls, files: Mapping[str, bytes], newest_root: bytes) -> list[str]:
        """``ceremony.transfer``: the files a format publishes beside a root chain (TUF's
        targets and delegated roles), verified against the chain's ``newest_root``: the notes.
        Here a format that publishes nothing beside its roots: any other file in the bundle is
        refused, so that none rides along unread.

        Raises:
            VerificationError: such a file does not verify, or (here) is there at all.
        """
        other = sorted(n for n in files if not is_root_file(n) and n != "root.json")
        if other:
            raise VerificationError(f"{other[0]} in the bundle is not metadata this tool publishes "
                                    "beside a root chain; nothing was written")
        return []

    # ---- a format bound to a ceremony: the CLI, the TUI, the script, export ----------------

    #: ``ceremony.tui.flow.signing_candidates``: whether the signers sign in order (an X.509
    #: CA's approvers before its CA key), so the sign screen offers first whom the next step
    #: waits for.
    signers_in_order: ClassVar[bool] = False

    def init_lines(self) -> list[str] | None:
        """``ceremony init``'s summary of who signs and what the ceremony continues, when the
        format says it itself (an X.509 CA's approvers and CA key); ``None``: the CLI's root
        threshold and verified chain lines."""
        return None

    def script_publish(self, version: int) -> str:
        """``ceremony.script``: what the publish step writes, for the printable script."""
        return f"writes metadata/{version}.root.json"

    def script_verify(self, workspace: str, continues: bool) -> tuple[str, str]:
        """``ceremony.script``: the auditor's verify command and what it checks, for the
        printable script; ``continues``: the ceremony continues a previous chain (verified
        from its first root, ``PREVIOUS/1.root.json``)."""
        trusted = "PREVIOUS/1.root.json" if continues else f"{workspace}/metadata/1.root.json"
        return (f"ceremony verify --trusted {trusted} {workspace}/metadata",
                "chain verified from the first root")

    def export_files(self) -> dict[str, bytes] | None:
        """``ceremony.transfer.export``: the files a published ceremony carries out, checked,
        when the format gathers them itself (an X.509 CA's folder); ``None``: the root chain,
        ``root.json`` and the roles published with it, gathered and checked by ``transfer``.

        Raises:
            VerificationError: a file is missing or differs (a format that gathers them).
        """
        return None


class DetachedDefaults:
    """The default of the optional hook of :class:`ceremony.formats.protocol.DetachedAdapter`
    (every format's adapter inherits it)."""

    def load_roles(self, obj: dict[str, Any], path: Path) -> dict[str, Any]:
        """``ceremony.detached.read_draft``: the roles drafted with root that a travelling draft
        file carries, each checked (TUF's targets and delegated roles). None here: a format that
        signs root alone reads no ``roles``.

        Raises:
            VerificationError: a role does not match its digest (a format that reads some).
        """
        return {}
