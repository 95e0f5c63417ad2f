"""The emergency screen: what could be compromised, the assessment, the plan for review."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ceremony.compromise import (
    assess,
    current_root,
    delegations_of,
    offline_delegations,
    read_targets,
    write_plan,
)
from ceremony.errors import UsageError
from ceremony.formats import tuf as tuf_format
from ceremony.formats.registry import format_class
from ceremony.plan import ONLINE_ROLES
from ceremony.session import Session

if TYPE_CHECKING:  # a type only: python-tuf is loaded by the compromise check itself
    from tuf.api.metadata import Root


@dataclass(frozen=True)
class Suspect:
    """Something that can be named as compromised: a root keyholder, an online key, a role."""

    kind: str  # "keyholder", "key" or "role"
    value: str
    label: str


def compromise_suspects(c: Session) -> list[Suspect]:
    """What ``ceremony compromise`` can name, from the current root: keyholders, online keys,
    whole roles.

    Raises:
        StateError: nothing published and no previous root.
    """
    root = current_root(c)
    out: list[Suspect] = []
    for keyid in root.roles["root"].keyids:
        name = tuf_format.keyholder_of(root.keys[keyid]) or keyid[:12]
        out.append(Suspect("keyholder", name, f"root key of {name} ({keyid[:12]})"))
    for role in ONLINE_ROLES:
        for keyid in root.roles[role].keyids:
            out.append(Suspect("key", keyid, f"{role} key {keyid[:12]}"))
    out.append(Suspect("role", "root", "whole role: root (every root key)"))
    out += [Suspect("role", r, f"whole role: {r} (every {r} key)") for r in ONLINE_ROLES]
    return out


def assess_suspects(c: Session, chosen: list[Suspect]) -> Any:
    """``ceremony compromise --key/--keyholder/--role`` for the chosen suspects.

    ``assess`` takes one whole role: with several chosen, the first is passed as
    the role and every other online role is named by its keys (the same verdict).

    Raises:
        UsageError: nothing chosen.
        StateError: no root to respond for.
    """
    root = current_root(c)
    keys = [s.value for s in chosen if s.kind == "key"]
    holders = [s.value for s in chosen if s.kind == "keyholder"]
    roles = [s.value for s in chosen if s.kind == "role"]
    if "root" in roles:
        roles.remove("root")
        roles.insert(0, "root")
    role = roles[0] if roles else None
    for other in roles[1:]:
        keys += list(root.roles[other].keyids)
    return assess(root, c.plan, keys=list(dict.fromkeys(keys)), keyholders=holders, role=role)


def write_emergency_plan(c: Session, assessment: Any, out: Path) -> tuple[Path, list[str]]:
    """``ceremony compromise ... --out DIR``: write the plan for review; the next commands.

    Raises:
        WorkspaceError: the plan file exists already.
    """
    path = write_plan(c, assessment, Path(out).expanduser())
    lines = [f"emergency plan written to {path}",
             "review it, add the new online keys, then:",
             f"  ceremony init NEW_WORKSPACE --plan {path} --previous {c.ws.metadata}"]
    return path, lines


def respond(c: Session, *, keys: list[str] | None = None, keyholders: list[str] | None = None,
            role: str | None = None, targets: Path | None = None,
            out: Path | None = None) -> tuple[Any, Path | None]:
    """``ceremony compromise WORKSPACE --key/--keyholder/--role [--targets FILE] [--out DIR]``:
    the assessment, and the emergency plan written for review when the root must change
    (by default into ``out/emergency``).

    Returns:
        (the assessment, the plan written or None when the online side's follow-up is the
        whole response).

    Raises:
        UsageError: ``targets`` for a Notary collection (its delegations are removed online).
        StateError: nothing published and no previous root.
        VerificationError: the targets file does not verify against the current root.
        WorkspaceError: the plan file exists already.
    """
    root = current_root(c)
    delegations = None
    if targets:
        refusal = format_class(c.plan.format).targets_refusal
        if refusal is not None:
            raise UsageError(refusal)
        # only a format without a targets refusal gets here: TUF, whose root view is python-tuf's
        delegations = delegations_of(cast("Root", root), read_targets(Path(targets)), str(targets))
    if delegations is None:  # targets signed offline here: its delegations are in the journal
        delegations = offline_delegations(c)
    a = assess(root, c.plan, keys=keys, keyholders=keyholders, role=role, delegations=delegations)
    if not a.needs_root_change:
        return a, None
    return a, write_plan(c, a, Path(out) if out else c.ws.out / "emergency")
