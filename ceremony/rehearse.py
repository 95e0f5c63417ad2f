"""A whole ceremony on throwaway SoftHSM tokens, with no prompts.

Used by CI, by officers rehearsing a plan's shape, and by the demo. It runs
the very same engine steps as a live ceremony (init, keygen per keyholder,
draft, sign to threshold, publish, verify); only the tokens and the PIN are
throwaway. The PIN is random, held in memory only and never shown, so the
rehearsal tokens are useless once the process ends.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ceremony.compromise import assess, current_root, write_plan as write_emergency
from ceremony.errors import PlanError, UsageError
from ceremony.formats.registry import DEFAULT, format_class, names
from ceremony.formats.tuf_compat import TUF_ON_CI, check_uri
from ceremony.online.rehearsal_keys import ONLINE_TOKEN, make_online_keys
from hsm import softhsm
from hsm.pkcs11 import get_module, resolve_module_path

if TYPE_CHECKING:  # the engine is loaded when a rehearsal runs, not when this module is
    from ceremony.engine import Ceremony


@dataclass
class RehearsalResult:
    """What a rehearsal produced."""

    workspace: Path
    softhsm_dir: Path
    plan: Path
    version: int
    signers: list[str]
    lines_: list[str]

    def lines(self) -> list[str]:
        return self.lines_

    def to_dict(self) -> dict[str, Any]:
        return {"workspace": str(self.workspace), "softhsm_dir": str(self.softhsm_dir),
                "plan": str(self.plan), "version": self.version, "signers": self.signers}


NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]


def keyholder_names(n: int) -> list[str]:
    """Friendly names for ``n`` rehearsal keyholders."""
    return NAMES[:n] if n <= len(NAMES) else [f"keyholder{i + 1}" for i in range(n)]


def write_plan(path: Path, name: str, keyholders: list[str], threshold: int, algorithm: str,
               online_dir: Path, fmt: str = DEFAULT, repository: str = "rehearsal/repository",
               key_suffix: str = ".pub.pem") -> None:
    """Write a rehearsal plan naming one token per keyholder and the online key files
    (``online_dir/ROLE`` + ``key_suffix``)."""
    lines = ["[ceremony]", f'name = "{name}"', f'format = "{fmt}"', f'repository = "{repository}"',
             "rehearsal = true", ""]
    for k in keyholders:
        lines += ["[[keyholders]]", f'name = "{k}"', f'token = "rehearsal-{k}"',
                  f'algorithm = "{algorithm}"', ""]
    members = ", ".join(f'"{k}"' for k in keyholders)
    lines += ["[roles.root]", f"keyholders = [{members}]", f"threshold = {threshold}",
              'expires = "365d"', ""]
    for role, period in (("targets", "90d"), ("snapshot", "7d"), ("timestamp", "1d")):
        rel = (online_dir / f"{role}{key_suffix}").relative_to(path.parent)
        lines += [f"[roles.{role}]", f'keys = ["{rel}"]', "threshold = 1", f'expires = "{period}"', ""]
    path.write_text("\n".join(lines))


SCENARIOS = ("bootstrap", "targets-rotation", "root-rotation", "emergency-targets",
             "emergency-root", "doi")

#: The ``doi`` scenario's repository, shaped like Docker Official Images' production TUF
#: repository: root 3 of 5, targets offline 2 of 4, three terminating delegations whose
#: targets are policy and key files (role -> keyholders, threshold, path pattern, targets).
DOI_HOLDERS = NAMES[:7]
DOI_ROOT = (DOI_HOLDERS[:5], 3)
DOI_ROLES: dict[str, tuple[list[str], int, str | None, tuple[str, ...]]] = {
    "targets": (["alice", "bob", "frank", "grace"], 2, None, ()),
    "doi": (list(DOI_HOLDERS), 2, "doi/*", ("doi/policy.json", "doi/kms-attestation.pub")),
    "testing": (["carol", "dave", "frank", "grace"], 2, "testing/*", ("testing/policy.json",)),
    "rekor": (["bob", "erin", "frank", "grace"], 2, "rekor/*", ("rekor/rekor.pub",)),
}


def write_doi_plan(path: Path, algorithm: str, online_dir: Path, online_uri: str | None = None) -> None:
    """The ``doi`` scenario's plan and its target files (policies as JSON, keys as PEM public
    keys made now), beside the plan; snapshot and timestamp are the online keys in
    ``online_dir``.

    With ``online_uri`` the plan is tuf-on-ci's, as DOI's own repository is: ``compat =
    "tuf-on-ci"``, and snapshot and timestamp share one online key, ``online_dir/online.pub.pem``,
    named by that signer URI (recorded in the key, never contacted)."""
    from cryptography.hazmat.primitives.asymmetric import ec  # lazy: the doi scenario only
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat  # lazy: the doi scenario only
    lines = ["[ceremony]", 'name = "rehearsal-doi"', 'format = "tuf"',
             'repository = "rehearsal/doi"', "rehearsal = true",
             *([f'compat = "{TUF_ON_CI}"'] if online_uri else []), ""]
    for k in DOI_HOLDERS:
        lines += ["[[keyholders]]", f'name = "{k}"', f'token = "rehearsal-{k}"',
                  f'algorithm = "{algorithm}"', ""]
    root, threshold = DOI_ROOT
    lines += ["[roles.root]", f"keyholders = {_toml_list(root)}", f"threshold = {threshold}",
              'expires = "365d"', ""]
    for role, period in (("snapshot", "7d"), ("timestamp", "1d")):
        rel = (online_dir / f"{'online' if online_uri else role}.pub.pem").relative_to(path.parent)
        lines += [f"[roles.{role}]", f'keys = ["{rel}"]', *([f"uris = {_toml_list([online_uri])}"]
                                                            if online_uri else []),
                  "threshold = 1", f'expires = "{period}"', ""]
    for name, (holders, t, pattern, targets) in DOI_ROLES.items():
        lines += ["[roles.targets]"] if pattern is None else \
            ["[[delegations]]", f'name = "{name}"', f'paths = ["{pattern}"]', "terminating = true"]
        lines += [f"keyholders = {_toml_list(holders)}", f"threshold = {t}", 'expires = "180d"']
        if targets:
            lines.append(f"targets = {_toml_list(list(targets))}")
        lines.append("")
        for target in targets:
            f = path.parent / target
            f.parent.mkdir(parents=True, exist_ok=True)
            if target.endswith(".pub"):
                pub = ec.generate_private_key(ec.SECP256R1()).public_key()
                f.write_bytes(pub.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
            else:
                f.write_text(f'{{"role": "{name}", "allow": ["{pattern}"]}}\n')
    path.write_text("\n".join(lines))


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"
FORMATS = names()


class _Rig:
    """Throwaway tokens, the in-memory PIN, and the published chain of a rehearsal."""

    def __init__(self, base: Path, log: Callable[[str], None]) -> None:
        self.base = base
        self.log = log
        self.dir = softhsm.create(base / "softhsm")
        softhsm.activate(self.dir)
        self._pin = secrets.token_hex(8)
        self.module = get_module(resolve_module_path(env={}))
        self.repo = base / "repository" / "metadata"
        self.repo.mkdir(parents=True, exist_ok=True)
        self._online = 0

    def pin(self, _info: object = None) -> str:
        return self._pin

    def tokens(self, labels: list[str]) -> None:
        for label in labels:
            softhsm.init_token(self.dir, label, self._pin)
        self.module.refresh()

    def online_keys(self, directory: Path, roles: tuple[str, ...] = ("targets", "snapshot", "timestamp")) -> None:
        """New online keys on the online token; public PEMs written to ``directory``."""
        token = self.module.find_token(label=ONLINE_TOKEN)
        self._online = make_online_keys(self.module, token, self.pin, directory, roles,
                                        first_id=self._online + 1,
                                        label_suffix=f"-{self._online + 1}") - 1

    def format_keys(self, directory: Path, fmt: str, repository: str) -> str:
        """The online keys made on the throwaway online token, written as the key files the
        format's plan names (``Format.rehearsal_key_files``: notary's ``ROLE.pub.json``,
        where live they come from notary-server and the publisher); their suffix."""
        self.online_keys(directory)
        return format_class(fmt).rehearsal_key_files(directory, repository)

    def run(self, workspace: Path, plan: Path, signers: list[str] | None,
            previous: bool) -> tuple[Ceremony, list[str]]:
        """init → keygen → draft → sign → publish, then add the new version to the chain.

        Returns the ceremony and the keyholders who signed, in signing order.
        """
        from ceremony.engine import Ceremony  # lazy: tuf and the steps, loaded when a rehearsal runs
        c = Ceremony.init(workspace, plan, self.repo if previous else None)
        self.log(f"initialised {workspace}")
        for k in c.plan.signers:  # root's keyholders, then those of the offline roles
            if c.needs_key(k):
                rec = c.keygen(k, self.module, self.pin)
                self.log(f"{k}: key {rec.keyid[:12]} generated on {rec.token_label}")
        md = c.draft()
        self.log(f"drafted root v{md.signed.version}")
        prev = c.previous_root()
        for line in c.changes(md):
            self.log("  " + line)
        if signers is None:
            # Sign with whoever is needed: keyholders of the new root first (after a compromise
            # the removed keys are not used), then old keyholders if the old threshold needs them.
            signers = []
            holders = list(c.plan.signers) + (
                [c.format.key_name(prev.signed.keys[k]) for k in prev.signed.roles["root"].keyids]
                if prev else [])
            for k in dict.fromkeys(holders):
                if c.status().verified:
                    break
                signers.append(k)
                res = c.sign(k, self.module, self.pin)
                self.log(f"{k} signed: " + "; ".join(res.status.lines()))
        else:
            for k in signers:
                res = c.sign(k, self.module, self.pin)
                self.log(f"{k} signed: " + "; ".join(res.status.lines()))
        c.publish()
        v = md.signed.version
        (self.repo / f"{v}.root.json").write_bytes((workspace / "metadata" / f"{v}.root.json").read_bytes())
        sidecar = workspace / "metadata" / "ceremony-keys.json"  # notary: who holds which key
        if sidecar.is_file():
            (self.repo / sidecar.name).write_bytes(sidecar.read_bytes())
        for rel in c.state.published and _published_roles(c) or ():  # targets, delegations
            dest = self.repo.parent / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes((workspace / rel).read_bytes())
        return c, signers


def _published_roles(c: Ceremony) -> list[str]:
    """The role files the last ``published`` event lists (metadata and target files)."""
    from ceremony.events import Published, parse  # lazy: loaded with the engine, rehearsals only
    pubs = [p for e in c.journal.events if isinstance(p := parse(e), Published)]
    return sorted(pubs[-1].roles or {}) if pubs else []


def rehearse(workspace: Path, keyholders: int = 5, threshold: int = 3,
             softhsm_dir: Path | None = None, algorithm: str = "ecdsa-p256",
             scenario: str = "bootstrap", fmt: str = DEFAULT,
             log: Callable[[str], None] = lambda m: None,
             keep_tokens: bool = False, online_uri: str | None = None) -> RehearsalResult:
    """Run a whole ceremony on fresh SoftHSM tokens: the bootstrap, then the scenario.

    Scenarios after the bootstrap (each in its own workspace, ``WORKSPACE.<scenario>``):
    ``targets-rotation`` (new tagging key), ``root-rotation`` (the last keyholder leaves,
    a new one joins), ``emergency-targets`` (targets key compromised), ``emergency-root``
    (two root keys compromised; in band while the honest ones meet the old threshold).
    ``fmt="notary"`` rehearses a Notary v1 collection's bootstrap (its server keys made
    locally, no server); its rotations are not rehearsed here.

    The throwaway tokens are removed at the end (they hold private keys, however
    worthless), unless ``keep_tokens``; the plan, the online public keys and the verified
    chain stay beside them. ``online_uri`` (``doi`` only) names the online key by its signer
    URI in a tuf-on-ci plan (:func:`write_doi_plan`); a throwaway token key stands in for it.
    The workspaces stay too: a rehearsal's record can be compared with the live one
    (``ceremony record compare``) without its tokens.

    Raises:
        UsageError: impossible keyholder/threshold numbers or unknown scenario.
        CeremonyError, HsmError: as the live steps would.
    """
    owners = [n for n in FORMATS if scenario in format_class(n).rehearsal_sequence]
    if scenario not in SCENARIOS and not owners:
        raise UsageError(f"--scenario must be one of {', '.join((*SCENARIOS, *_sequences()))}")
    fmt = owners[0] if owners else fmt  # a scenario a format rehearses as a sequence (x509)
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}")
    klass = format_class(fmt)
    if scenario not in klass.rehearsal_scenarios:
        only = " and ".join(f"the {s}" for s in klass.rehearsal_scenarios)
        raise UsageError(f"--format {fmt} rehearses {only} only, not {scenario}",
                         hint=klass.rehearsal_hint)
    if online_uri is not None:
        _check_online_uri(online_uri, scenario)
    if not 1 <= keyholders <= 50:
        raise UsageError("--keyholders must be between 1 and 50")
    if not 1 <= threshold <= keyholders:
        raise UsageError(f"--threshold must be between 1 and --keyholders ({keyholders})")
    if owners:
        return _rehearse_sequence(Path(workspace), klass, scenario, keyholder_names(keyholders),
                                  threshold, algorithm, softhsm_dir, log, keep_tokens)
    if scenario == "emergency-root" and keyholders - 2 < threshold:
        raise UsageError("emergency-root needs at least threshold + 2 keyholders")
    workspace = Path(workspace)
    base = Path(softhsm_dir) if softhsm_dir else Path(tempfile.mkdtemp(prefix="ceremony-rehearsal-"))
    rig = _Rig(base, log)
    names = keyholder_names(keyholders)
    extra = keyholder_names(keyholders + 1)[-1] if scenario == "root-rotation" else None
    labels = [f"rehearsal-{k}" for k in names] + ([f"rehearsal-{extra}"] if extra else [])
    if scenario == "doi":
        return _rehearse_doi(workspace, rig, algorithm, log, keep_tokens, online_uri)
    log(f"making {len(labels) + 1} throwaway SoftHSM tokens in {rig.dir.root}")
    rig.tokens([*labels, ONLINE_TOKEN])
    plan_path = base / "plan.toml"
    repository = "rehearsal/repository"
    suffix = rig.format_keys(base / "online", fmt, repository)
    write_plan(plan_path, "rehearsal", names, threshold, algorithm, base / "online",
               fmt=fmt, repository=repository, key_suffix=suffix)
    first, first_signers = rig.run(workspace, plan_path, names[:threshold], previous=False)
    lines = [f"bootstrap: root v1 signed by {', '.join(first_signers)} ({threshold} of {keyholders})",
             f"workspace: {workspace}"]

    if scenario != "bootstrap":
        second = Path(f"{workspace}.{scenario}")
        plan2 = base / f"plan-{scenario}.toml"
        if scenario == "targets-rotation":
            rig.online_keys(base / "online-2", ("targets",))
            for role in ("snapshot", "timestamp"):
                (base / "online-2" / f"{role}.pub.pem").write_bytes((base / "online" / f"{role}.pub.pem").read_bytes())
            write_plan(plan2, "rehearsal-targets", names, threshold, algorithm, base / "online-2")
        elif scenario == "root-rotation":
            assert extra is not None
            members = [*names[:-1], extra]
            write_plan(plan2, "rehearsal-root", members, threshold, algorithm, base / "online")
        else:
            kwargs: dict[str, Any] = ({"role": "targets"} if scenario == "emergency-targets"
                                      else {"keyholders": names[:2]})
            a = assess(current_root(first), first.plan, **kwargs)
            for line in a.lines:
                log("compromise: " + line)
            out = base / f"emergency-{scenario}"
            plan2 = write_emergency(first, a, out)
            rig.online_keys(out / "new-online", tuple(a.replace_online))
        _, second_signers = rig.run(second, plan2, None, previous=True)
        lines.append(f"{scenario}: root v2 signed by {', '.join(second_signers)}; workspace: {second}")
    report = klass.verify_folder(rig.repo)
    lines.append(f"verified: the chain in {rig.repo} ends at v{report.newest_version}")
    lines += _finish(rig, keep_tokens)
    return RehearsalResult(workspace, rig.dir.root, plan_path, report.newest_version,
                           first_signers, lines)


def _finish(rig: _Rig, keep_tokens: bool) -> list[str]:
    """Keep or remove the throwaway tokens; the line that says which."""
    if keep_tokens:
        return [f"throwaway tokens kept: {rig.dir.root} (SOFTHSM2_CONF={rig.dir.conf})"]
    rig.module.close()
    shutil.rmtree(rig.dir.root, ignore_errors=True)
    return [f"throwaway tokens removed from {rig.dir.root} (--keep-tokens keeps them)"]


def _check_online_uri(uri: str, scenario: str) -> None:
    """``--online-uri``: the doi scenario's, and a signer URI the plan would accept.

    Raises:
        UsageError: another scenario, or a URI of an unknown scheme or form.
    """
    if scenario != "doi":
        raise UsageError(f"--online-uri applies to --scenario doi only, not {scenario}",
                         hint="the other scenarios name their online keys by PEM file only")
    try:
        check_uri(uri, "--online-uri")
    except PlanError as e:
        raise UsageError(e.message, hint=e.hint) from None


def _rehearse_doi(workspace: Path, rig: _Rig, algorithm: str, log: Callable[[str], None],
                  keep_tokens: bool, online_uri: str | None = None) -> RehearsalResult:
    """The ``doi`` scenario: a Docker-Official-Images-shaped repository bootstrapped on
    SoftHSM (root 3/5, offline targets 2/4, delegations doi 2/7, testing 2/4 and rekor 2/4
    with policy and key files as targets; snapshot and timestamp online), then its root chain
    and its delegation tree verified with python-tuf (``verify_delegate``, every target's
    length and hash)."""
    from tuf.api.metadata import Metadata  # lazy: python-tuf, loaded when a rehearsal runs

    from ceremony.formats.tuf_roles import verify_tree  # lazy: python-tuf, the doi scenario only
    labels = [f"rehearsal-{k}" for k in DOI_HOLDERS]
    log(f"making {len(labels) + 1} throwaway SoftHSM tokens in {rig.dir.root}")
    rig.tokens([*labels, ONLINE_TOKEN])
    base = rig.base
    rig.online_keys(base / "online", ("online",) if online_uri else ("snapshot", "timestamp"))
    plan_path = base / "plan-doi.toml"
    write_doi_plan(plan_path, algorithm, base / "online", online_uri)
    _c, signers = rig.run(workspace, plan_path, None, previous=False)
    report = format_class("tuf").verify_folder(rig.repo)
    root = Metadata.from_bytes((rig.repo / "1.root.json").read_bytes())
    tree = verify_tree(root, rig.repo.parent, bool(root.signed.consistent_snapshot))
    lines = [f"doi: root v1, targets and {len(DOI_ROLES) - 1} delegations signed by "
             f"{', '.join(signers)}", f"workspace: {workspace}",
             *([f"online: snapshot and timestamp by one key named {online_uri} "
                f"(compat = \"{TUF_ON_CI}\")"] if online_uri else []),
             f"verified: the chain in {rig.repo} ends at v{report.newest_version}",
             *(f"verified: {line}" for line in tree), *_finish(rig, keep_tokens)]
    return RehearsalResult(workspace, rig.dir.root, plan_path, report.newest_version, signers,
                           lines)


def _sequences() -> list[str]:
    """The scenarios formats rehearse as a sequence of ceremonies (``rehearsal_sequence``)."""
    return [sc for n in FORMATS for sc in format_class(n).rehearsal_sequence]


def _rehearse_sequence(workspace: Path, klass: Any, scenario: str, names: list[str], threshold: int,
                       algorithm: str, softhsm_dir: Path | None, log: Callable[[str], None],
                       keep_tokens: bool) -> RehearsalResult:
    """A format's scenario run as a sequence of ceremonies, each continuing from the folder the
    one before published (``klass.rehearsal_sequence[scenario]``: the steps; the format writes
    each step's plan from the previous result, ``klass.rehearsal_plan``): the X.509 CA's root,
    issuance and CRL ceremonies. Every step is the live engine's init, keygen, draft, sign (each
    keyholder a threshold still waits for, in plan order) and publish; the last folder is
    checked by ``klass.verify_folder``.

    Raises:
        CeremonyError, HsmError: as the live steps would.
    """
    from ceremony.engine import Ceremony  # lazy: the steps, loaded when a rehearsal runs
    from ceremony.plan import load_plan  # lazy: only to read which tokens a plan names
    base = Path(softhsm_dir) if softhsm_dir else Path(tempfile.mkdtemp(prefix="ceremony-rehearsal-"))
    rig = _Rig(base, log)
    previous: Path | None = None
    lines: list[str] = []
    first_signers: list[str] = []
    plan_path = base / "plan.toml"
    made: set[str] = set()
    for i, step in enumerate(klass.rehearsal_sequence[scenario]):
        ws = workspace if i == 0 else Path(f"{workspace}.{step}")
        plan = klass.rehearsal_plan(step, base, names, threshold, algorithm, previous)
        if i == 0:
            plan_path = plan
        labels = [h.token for h in load_plan(plan).keyholders if h.token and h.token not in made]
        if labels:  # the first step's, and a token a later step adds (an intermediate CA's)
            log(f"making {len(labels)} throwaway SoftHSM tokens in {rig.dir.root}")
            rig.tokens(labels)
            made.update(labels)
        c = Ceremony.init(ws, plan, previous)
        for k in c.plan.root.keyholders:
            if c.needs_key(k):
                rec = c.keygen(k, rig.module, rig.pin)
                log(f"{k}: key {rec.keyid[:12]} generated on {rec.token_label}")
        md = c.draft()
        for line in c.describe(md):
            log("  " + line)
        signers = []
        for k in c.plan.root.keyholders:
            st = c.status()
            if st.verified:
                break
            if k not in {n for v in (st.old, st.new) if v and not v.met for n in v.unsigned}:
                continue
            res = c.sign(k, rig.module, rig.pin)
            signers.append(k)
            log(f"{k} signed: " + "; ".join(res.status.lines()))
        written = c.publish()
        c.close()
        first_signers = first_signers or signers
        previous = ws / "metadata"
        lines.append(f"{step}: {', '.join(p.name for p in written)} signed by {', '.join(signers)}; "
                     f"workspace: {ws}")
    assert previous is not None  # a sequence has at least one step
    report = klass.verify_folder(previous)
    lines += list(report.lines)
    if keep_tokens:
        lines.append(f"throwaway tokens kept: {rig.dir.root} (SOFTHSM2_CONF={rig.dir.conf})")
    else:
        rig.module.close()
        shutil.rmtree(rig.dir.root, ignore_errors=True)
        lines.append(f"throwaway tokens removed from {rig.dir.root} (--keep-tokens keeps them)")
    return RehearsalResult(workspace, rig.dir.root, plan_path, report.newest_version,
                           first_signers, lines)
