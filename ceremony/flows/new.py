"""A new ceremony started from the TUI: the plan previewed, then the workspace created."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ceremony.compromise import describe_declared
from ceremony.errors import UsageError, WorkspaceError
from ceremony.formats.registry import format_class
from ceremony.plan import parse_plan, read_plan_text
from ceremony.resume import refuse_finished_init

if TYPE_CHECKING:
    from ceremony.engine import Ceremony


@dataclass(frozen=True)
class PlanPreview:
    """A plan read and checked before anything is created (``ceremony init`` without writing)."""

    plan: Any
    plan_path: Path
    previous: Path | None
    warnings: list[str]


def preview_plan(workspace: Path, plan_path: Path, previous: Path | None = None) -> PlanPreview:
    """Read and check a plan (and its online keys) for a new workspace; nothing is written.

    Raises:
        PlanError: the plan or an online key file is invalid, or missing.
        WorkspaceError: the workspace already exists.
    """
    workspace, plan_path = Path(workspace), Path(plan_path).expanduser()
    if workspace.exists():
        raise WorkspaceError(f"{workspace} already exists",
                             hint="open it with `ceremony tui WORKSPACE` (without --plan), or "
                                  "name a new folder")
    plan = parse_plan(read_plan_text(plan_path))
    warnings = format_class(plan.format).preview_warnings(plan, plan_path.resolve().parent)
    if previous is not None and not Path(previous).expanduser().is_dir():
        raise WorkspaceError(f"the previous metadata folder {previous} does not exist")
    return PlanPreview(plan, plan_path, None if previous is None else Path(previous).expanduser(),
                       warnings)


def start_ceremony(workspace: Path, preview: PlanPreview) -> Ceremony:
    """``ceremony init WORKSPACE --plan PLAN [--previous DIR]`` after the room reviewed the plan.

    Raises:
        PlanError / VerificationError / WorkspaceError: as ``Ceremony.init`` (nothing written).
    """
    from ceremony.engine import Ceremony  # lazy: the steps (flows loads every module)
    return Ceremony.init(Path(workspace), preview.plan_path, preview.previous)


def init_ceremony(workspace: Path, plan_path: Path, previous: Path | None = None, *,
                  trusted: Path | None = None,
                  expect_root: str | None = None) -> tuple[Ceremony, list[str], list[str]]:
    """``ceremony init WORKSPACE --plan PLAN [--previous DIR [--trusted ROOT] [--expect-root
    WORDS]]``: the workspace created, the plan journaled, a previous chain verified first.

    A workspace already initialised from this very plan is refused as "init had finished" (its
    process may have died before saying so), not as a folder to choose afresh.

    Returns:
        (the ceremony, the keys the plan declares compromised, the keyholders still to keygen).

    Raises:
        UsageError: ``trusted`` or ``expect_root`` without ``previous``.
        PlanError / VerificationError / WorkspaceError: as ``Ceremony.init`` (nothing written).
    """
    if (trusted or expect_root) and not previous:
        raise UsageError("--trusted and --expect-root name the start of a --previous chain")
    from ceremony.engine import Ceremony  # lazy: the steps (flows loads every module)
    refuse_finished_init(Path(workspace), Path(plan_path))
    c = Ceremony.init(Path(workspace), Path(plan_path), previous, trusted=trusted,
                      expect_root=expect_root)
    todo = c.keyholders_waiting()
    return c, list(describe_declared(c)), todo
