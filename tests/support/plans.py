"""The one plan builder of the tests: every test that needs a plan writes it through :class:`Plan`.

A plan is data here (keyholders, root, online roles, witnesses, the ``[ceremony]`` fields of a
rotation or an emergency), and :meth:`Plan.text` is the only code in the tests that lays it out
as TOML, so a change to the plan format is one edit. The layout is fixed (``[ceremony]``, then
each keyholder, the witnesses, ``roles.root``, the online roles): the same data gives the same
bytes, hence the same plan digest (the TUI snapshots show it).

The shorthands below (:func:`plan_toml`, :func:`notary_plan`, :func:`rehearsal_plan`) are the
shapes most tests use; they only fill a :class:`Plan`.

Plans that are deliberately malformed stay possible without leaving the builder: ``threshold``
takes raw TOML (``'"2"'``), and ``extra`` (in ``[ceremony]``) and ``Keyholder.extra`` take raw
lines (an unknown field, a bad algorithm). A test that must break the TOML itself edits the
text afterwards, and says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ONLINE_ROLES = ("targets", "snapshot", "timestamp")


@dataclass(frozen=True)
class Keyholder:
    """One ``[[keyholders]]`` entry; fields left ``None`` are not written."""

    name: str
    token: str | None = None
    device: str | None = None
    serial: str | None = None
    touch: str | None = None
    algorithm: str | None = None
    extra: str | None = None  # raw TOML lines (bad-input tests)

    def lines(self) -> list[str]:
        out = ["[[keyholders]]", f'name = "{self.name}"']
        for key in ("token", "device", "serial", "touch", "algorithm"):
            value = getattr(self, key)
            if value is not None:
                out.append(f'{key} = "{value}"')
        if self.extra:
            out.append(self.extra)
        return [*out, ""]


@dataclass(frozen=True)
class Online:
    """One online role: its key files, threshold and expiry."""

    keys: Sequence[str | Path]
    expires: str = "30d"
    threshold: int = 1
    uris: Sequence[str] = ()  # signer URIs by position (online keys by KMS URI)


@dataclass
class Plan:
    """A whole plan. ``root`` defaults to every keyholder; ``rehearsal=None`` leaves the line
    out (the plan's own default: a live ceremony)."""

    name: str
    keyholders: Sequence[Keyholder]
    threshold: int | str
    online: Mapping[str, Online]
    repository: str = "test/repo"
    format: str | None = None
    rehearsal: bool | None = True
    pkcs11_module: str | None = None
    compromised_keys: Sequence[str] | None = None
    witnesses_required: int | None = None
    extra: str | None = None  # raw TOML lines at the end of [ceremony]
    witnesses: Sequence[str] = ()
    root: Sequence[str] | None = None
    root_expires: str = "365d"
    root_extra: str | None = None  # raw TOML lines in [roles.root]
    tail: str | None = None  # raw TOML lines after the last role (bad-input tests: broken tables)

    def text(self) -> str:
        """The plan as TOML, in the fixed layout."""
        lines = ["[ceremony]", f'name = "{self.name}"']
        if self.format is not None:
            lines.append(f'format = "{self.format}"')
        lines.append(f"repository = {json.dumps(self.repository)}")
        if self.rehearsal is not None:
            lines.append(f"rehearsal = {'true' if self.rehearsal else 'false'}")
        if self.pkcs11_module is not None:
            lines.append(f"pkcs11_module = {json.dumps(self.pkcs11_module)}")
        if self.compromised_keys is not None:
            lines.append(f"compromised_keys = {_list(self.compromised_keys)}")
        if self.witnesses_required is not None:
            lines.append(f"witnesses_required = {self.witnesses_required}")
        if self.extra:
            lines.append(self.extra)
        lines.append("")
        for holder in self.keyholders:
            lines += holder.lines()
        for witness in self.witnesses:
            lines += ["[[witnesses]]", f'name = "{witness}"', ""]
        root = [h.name for h in self.keyholders] if self.root is None else self.root
        lines += ["[roles.root]", f"keyholders = {_list(root)}", f"threshold = {self.threshold}",
                  f'expires = "{self.root_expires}"']
        if self.root_extra:
            lines.append(self.root_extra)
        lines.append("")
        for role, spec in self.online.items():
            lines += [f"[roles.{role}]", f"keys = {_list(spec.keys)}", f"threshold = {spec.threshold}",
                      f'expires = "{spec.expires}"']
            lines += [f"uris = {_list(spec.uris)}"] if spec.uris else []
            lines.append("")
        if self.tail:
            lines += [self.tail, ""]
        return "\n".join(lines)

    def write(self, path: Path) -> Path:
        """Write the plan to ``path`` (its folder made if missing); return ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.text())
        return path


def _list(items: Iterable[str | Path]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def online_roles(paths: Mapping[str, Sequence[str | Path]] | Path | str, *,
                 expires: Mapping[str, str] | str = "30d", suffix: str = ".pub.pem") -> dict[str, Online]:
    """The three online roles: ``paths`` maps role -> key files, or is a folder holding
    ``ROLE`` + ``suffix``; ``expires`` is one period or one per role."""
    out = {}
    for role in ONLINE_ROLES:
        keys = [Path(paths) / f"{role}{suffix}"] if isinstance(paths, (Path, str)) else list(paths[role])
        period = expires if isinstance(expires, str) else expires[role]
        out[role] = Online(keys, period)
    return out


#: The expiries a rehearsal and the runbook give the online roles.
RUNBOOK_EXPIRES = {"targets": "90d", "snapshot": "7d", "timestamp": "1d"}


def tokens(holders: Mapping[str, str], algorithms: Mapping[str, str] | None = None) -> list[Keyholder]:
    """Keyholders on PKCS#11 tokens: ``holders`` maps keyholder -> token label."""
    return [Keyholder(name, token=label, algorithm=(algorithms or {}).get(name))
            for name, label in holders.items()]


def plan_toml(name: str, holders: dict[str, str], root: list[str], threshold: int,
              online: dict[str, list[str]], root_expires: str = "365d",
              extra: str = "", rehearsal: bool = True, *, compromised_keys: Sequence[str] | None = None,
              witnesses_required: int | None = None, witnesses: Sequence[str] = ()) -> str:
    """A TUF plan: ``holders`` maps keyholder -> token label; ``online`` maps role -> key paths.

    Rehearsal by default: tests run on SoftHSM on a networked machine, where a live
    ceremony's preflight would (rightly) refuse. ``rehearsal=False`` leaves the line out.
    """
    return Plan(name, tokens(holders), threshold, online_roles(online), rehearsal=rehearsal or None,
                compromised_keys=compromised_keys, witnesses_required=witnesses_required,
                extra=extra, witnesses=witnesses, root=root, root_expires=root_expires).text()


def notary_plan(name: str, gun: str, holders: dict[str, str], root: list[str], threshold: int,
                targets: Path, server_keys: Path, *, algorithms: dict[str, str] | None = None,
                root_expires: str = "3650d") -> str:
    """A ``format = "notary"`` plan naming the tagging key and the server keys (a folder)."""
    # Rehearsal: the tests run on a networked machine, where a live ceremony's preflight refuses.
    online = {"targets": Online([targets], "1095d"),
              "snapshot": Online([server_keys / "snapshot.pub.json"], "1095d"),
              "timestamp": Online([server_keys / "timestamp.pub.json"], "1095d")}
    return Plan(name, tokens(holders, algorithms), threshold, online, repository=gun,
                format="notary", root=root, root_expires=root_expires).text()


def rehearsal_plan(path: Path, name: str, keyholders: Sequence[str], threshold: int, algorithm: str,
                   online_dir: Path, *, rehearsal: bool = True) -> Path:
    """The plan ``ceremony rehearse`` writes (tokens ``rehearsal-NAME``, online keys relative to
    the plan, the runbook's expiries); written to ``path``."""
    holders = [Keyholder(k, token=f"rehearsal-{k}", algorithm=algorithm) for k in keyholders]
    rel = online_dir.relative_to(path.parent)
    return Plan(name, holders, threshold, online_roles(rel, expires=RUNBOOK_EXPIRES),
                repository="rehearsal/repository", format="tuf", rehearsal=rehearsal).write(path)


def software_plan(tmp: Path, rehearsal: bool, names: tuple[str, ...] = ("alice", "bob"),
                  threshold: int = 1) -> Path:
    """``tmp/plan.toml``, a rehearsal-shaped plan whose online keys are made in software (in
    ``tmp/online``): for steps that touch no token."""
    online = tmp / "online"
    online.mkdir(parents=True, exist_ok=True)
    for role in ONLINE_ROLES:
        pub = ec.generate_private_key(ec.SECP256R1()).public_key()
        (online / f"{role}.pub.pem").write_bytes(
            pub.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    return rehearsal_plan(tmp / "plan.toml", "preflight-test", names, threshold, "ecdsa-p256", online,
                          rehearsal=rehearsal)


def plan_text(threshold: str = "2", ceremony_extra: str = "", alice_extra: str = "") -> str:
    """The plan of the issue's example (3 keyholders, carol by serial with ed25519), as text;
    ``threshold`` and the extras are raw TOML, for the plan-validation and bad-input tests."""
    holders = [Keyholder("alice", token="alice-key", extra=alice_extra or None),
               Keyholder("bob", token="bob-key"),
               Keyholder("carol", serial="0123456789abcdef", algorithm="ed25519")]
    return Plan("acme-root-2026", holders, threshold, online_roles("online", expires=RUNBOOK_EXPIRES),
                repository="acme/updates", format="tuf", rehearsal=None, extra=ceremony_extra).text()
