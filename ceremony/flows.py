"""Small UI-independent steps the TUI needs on top of the engine, transfer and transport modules.

Each function here is what one CLI command does between parsing and printing
(``export``, ``import``, ``export-draft``, ``import-signature``, ``compromise``),
returned as data instead of printed, so the TUI screens can stay free of
ceremony logic. Nothing here imports Textual; everything raises the usual
``CeremonyError``/``HsmError`` with the operator sentence.
"""

from __future__ import annotations

import inspect
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ceremony.errors import UsageError, WorkspaceError

SIGNED_METADATA = "signed-metadata"
IMPORT_USB, IMPORT_QR, IMPORT_FILE = "usb", "qr", "file"
#: The smallest QR version drawn on a terminal (as ``ceremony.transport.fit_size``).
MIN_TERMINAL_VERSION = 5


# ---- export -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """What one export wrote (and journaled): lines for the room, and where it went."""

    transport: str
    where: Path
    lines: list[str]


def export_usb_to(c: Any, folder: Path) -> Sent:
    """``ceremony export WORKSPACE --usb FOLDER``: write the workspace's bundle, read it back,
    journal it. Published metadata once published, else the travelling draft.

    Raises:
        StateError: nothing to export yet.
        WorkspaceError: the folder is missing, or already holds a bundle (nothing written).
    """
    from ceremony.fingerprint import fingerprint_words
    from ceremony.transfer import record_export, workspace_bundle
    from ceremony.transport import export_usb, find_bundles
    folder = Path(folder).expanduser()
    bundle = workspace_bundle(c)
    existing = find_bundles(folder) if folder.is_dir() else []
    if existing:
        raise WorkspaceError(f"{folder} already holds a bundle ({existing[0].name}); "
                             "a stick carries one bundle at a time",
                             hint="use a fresh stick or folder; nothing was written")
    path = export_usb(bundle, folder)
    record_export(c, bundle, "usb", path)
    return Sent("usb", path, [f"{bundle.manifest.kind} bundle written to {path} and read back",
                              f"bundle digest {bundle.digest}",
                              f"read aloud: {fingerprint_words(bundle.digest)}"])


def export_qr_to(c: Any, folder: Path, size: str = "medium") -> Sent:
    """``ceremony export WORKSPACE --qr FOLDER``: PNG frames and a printable sheet, journaled.

    Raises:
        StateError: nothing to export yet.
        WorkspaceError: the folder exists and is not empty (nothing written).
        VerificationError: the bundle is too large for QR.
    """
    from ceremony.transfer import record_export, workspace_bundle
    from ceremony.transport import export_qr
    bundle = workspace_bundle(c)
    out = export_qr(bundle, Path(folder).expanduser(), size=size)
    record_export(c, bundle, "qr", out.directory)
    return Sent("qr", out.directory, [
        f"{bundle.manifest.kind} bundle as {len(out.frames)} QR frame(s) ({out.size.name}) in "
        f"{out.directory}", f"printable sheet: {out.sheet}",
        f"message words (read aloud): {out.message_words}"])


def export_draft_to(c: Any, out: Path) -> Sent:
    """``ceremony export-draft WORKSPACE --out FILE`` (a folder gets the usual file name).

    Raises:
        StateError: nothing drafted.
        WorkspaceError: the file exists.
    """
    from ceremony.detached import export_draft
    out = Path(out).expanduser()
    version = c.state.draft["version"] if c.state.draft else None
    if out.is_dir():
        out = out / f"{version}.root.draft.json"
    export_draft(c, out)
    return Sent("file", out, [f"draft of root v{version} written to {out}",
                              f"digest {c.state.draft_digest}",
                              f"the keyholder runs: ceremony sign-draft {out.name} "
                              "--keyholder NAME"])


def published_exports(c: Any) -> list[dict[str, Any]]:
    """Journaled exports of the published metadata (a draft sent out earlier does not count)."""
    return [e for e in c.state.exports if e.get("kind") == SIGNED_METADATA]


def default_export_dir(c: Any, what: str) -> Path:
    """A fresh folder under the workspace's ``out/`` for an export (``qr``, ``usb``, ...)."""
    base = c.ws.out / what
    if not base.exists():
        return base
    n = 2
    while (c.ws.out / f"{what}-{n}").exists():
        n += 1
    return c.ws.out / f"{what}-{n}"


def removable_mounts(probes: Any = None) -> list[Any]:
    """Mounted removable drives (USB sticks), read where the preflight probes look."""
    from ceremony.transport import list_removable_mounts
    if probes is None:
        return list_removable_mounts()
    return list_removable_mounts(Path(probes.proc_root) / "mounts", probes.sys_root)


# ---- animated QR on a terminal ------------------------------------------------------------------


@dataclass
class TerminalQr:
    """Frames of a bundle's message drawn as half-block lines, sized to a terminal.

    ``size="auto"`` takes the largest code that fits ``columns`` x ``lines``
    (less ``reserve`` lines for status); a named size (small, medium, large) is
    checked and refused if it would wrap, never drawn cut or wrapped.
    """

    message: bytes
    words: str
    size: Any
    _frames: Iterator[bytes] = field(repr=False)

    @classmethod
    def for_terminal(cls, message: bytes, columns: int, lines: int, size: str = "auto",
                     reserve: int = 2) -> TerminalQr:
        """Raises:
            UsageError: the code does not fit (the message says what it needs and what to do).
        """
        from ceremony.transport import frames as _frames
        from ceremony.transport.qr import MAX_QR_MESSAGE, QR_SIZES, QrSize, qr_size
        from ceremony.transport.terminal import terminal_cells
        from ceremony.words import pgp_words
        if len(message) > MAX_QR_MESSAGE:
            raise UsageError(f"the bundle compresses to {len(message)} bytes, more than QR "
                             f"transport carries ({MAX_QR_MESSAGE}); use a USB stick")
        if size == "auto":
            # The largest version that fits, as ``transport.fit_size`` picks it (at least 5).
            candidates = [QrSize("terminal", v, "M", f"fits {columns}x{lines}")
                          for v in range(40, MIN_TERMINAL_VERSION - 1, -1)]
        else:
            candidates = [qr_size(size)]
        preset = next((p for p in candidates
                       if _fits(p.modules, columns, lines, reserve)), None)
        if preset is None:
            p = candidates[-1]
            cols, rows = terminal_cells(p.modules)
            what = ("even the smallest QR code" if size == "auto"
                    else f"a {p.name} QR code (version {p.version})")
            others = [n for n, q in QR_SIZES.items() if _fits(q.modules, columns, lines, reserve)]
            raise UsageError(
                f"the terminal is {columns}x{lines} but {what} needs {cols}x{rows + reserve} "
                "(columns x lines): it would wrap, so it is not drawn",
                hint="enlarge the window or shrink the font"
                     + (f", choose another size ({', '.join(others + ['auto'])})" if others
                        else ", choose the size 'auto'" if size != "auto" else "")
                     + ", or write PNG files and a printable sheet instead")
        mid = _frames.message_id(message)
        stream = _frames.fountain_frames(message, preset.frame_bytes)
        return cls(message, " ".join(pgp_words(mid[:4])), preset, stream)

    def fits(self, columns: int, lines: int, reserve: int = 2) -> bool:
        """Whether the chosen code still fits a (resized) terminal."""
        return _fits(self.size.modules, columns, lines, reserve)

    def next_frame(self) -> tuple[str, list[str]]:
        """The next frame (plain frames first, then fountain frames, without end): its label
        and its lines, dark modules drawn as blocks (to be shown black on white)."""
        from ceremony.transport import frames as _frames
        from ceremony.transport import render_terminal
        from ceremony.transport.qr import encode_qr
        raw = next(self._frames)
        frame = _frames.parse_frame(raw)
        code = encode_qr(raw, self.size.version, self.size.ec_level)
        return frame.label, render_terminal(code, color=False, invert=True)


def _fits(modules: int, columns: int, lines: int, reserve: int) -> bool:
    from ceremony.transport.terminal import terminal_cells
    cols, rows = terminal_cells(modules)
    return cols <= columns and rows <= lines - reserve


def bundle_for_display(c: Any) -> tuple[Any, bytes]:
    """The workspace's bundle and its QR message (``ceremony export --animate``)."""
    from ceremony.transfer import workspace_bundle
    from ceremony.transport import bundle_message
    bundle = workspace_bundle(c)
    return bundle, bundle_message(bundle)


def record_display(c: Any, bundle: Any) -> None:
    """Journal an animated display, as ``ceremony export --animate`` does."""
    from ceremony.transfer import record_export
    record_export(c, bundle, "qr-animated", Path("terminal"))


# ---- import -------------------------------------------------------------------------------------


def split_paths(text: str) -> list[Path]:
    """Paths typed into one field: shell-style quoting, so names with spaces can be given.

    Raises:
        UsageError: nothing given, or unbalanced quotes.
    """
    try:
        parts = shlex.split(text)
    except ValueError as e:
        raise UsageError(f"cannot read the paths: {e}") from None
    if not parts:
        raise UsageError("name a file or folder")
    return [Path(p).expanduser() for p in parts]


def import_signatures(c: Any, how: str, text: str) -> list[str]:
    """``ceremony import WORKSPACE --usb DIR | --qr FILES`` or ``import-signature FILE``.

    Everything is verified before it is used; each signature is journaled by
    the import. Returns lines for the room (the thresholds follow from ``c.status()``).

    Raises:
        UsageError: no path, or an unknown transport.
        VerificationError: the bundle, frames or signature do not verify, or belong elsewhere.
        StateError: no draft, already published, or a duplicate signature.
    """
    from ceremony.detached import import_signature
    from ceremony.transfer import import_to_workspace
    from ceremony.transport import import_qr, import_usb
    paths = split_paths(text)
    if how == IMPORT_FILE:
        lines = []
        for p in paths:
            added = import_signature(c, p)
            lines.append(f"imported {len(added)} signature(s) from {p}")
        return lines
    if how == IMPORT_USB:
        if len(paths) != 1:
            raise UsageError("name one bundle folder (or the stick holding it)")
        bundle = import_usb(paths[0])
    elif how == IMPORT_QR:
        bundle = import_qr(paths)
    else:
        raise UsageError(f"unknown transport {how!r}")
    arrival = import_to_workspace(c, bundle)
    return [f"{bundle.manifest.kind} bundle verified (digest {bundle.digest[:16]}...)",
            *arrival.notes]


# ---- emergency ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Suspect:
    """Something that can be named as compromised: a root keyholder, an online key, a role."""

    kind: str  # "keyholder", "key" or "role"
    value: str
    label: str


def compromise_suspects(c: Any) -> list[Suspect]:
    """What ``ceremony compromise`` can name, from the current root: keyholders, online keys,
    whole roles.

    Raises:
        StateError: nothing published and no previous root.
    """
    from ceremony.compromise import current_root
    from ceremony.formats import tuf as tuf_format
    from ceremony.plan import ONLINE_ROLES
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


def assess_suspects(c: Any, chosen: list[Suspect]) -> Any:
    """``ceremony compromise --key/--keyholder/--role`` for the chosen suspects.

    ``assess`` takes one whole role: with several chosen, the first is passed as
    the role and every other online role is named by its keys (the same verdict).

    Raises:
        UsageError: nothing chosen.
        StateError: no root to respond for.
    """
    from ceremony.compromise import assess, current_root
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


def write_emergency_plan(c: Any, assessment: Any, out: Path) -> tuple[Path, list[str]]:
    """``ceremony compromise ... --out DIR``: write the plan for review; the next commands.

    Raises:
        WorkspaceError: the plan file exists already.
    """
    from ceremony.compromise import write_plan
    path = write_plan(c, assessment, Path(out).expanduser())
    lines = [f"emergency plan written to {path}",
             "review it, add the new online keys, then:",
             f"  ceremony init NEW_WORKSPACE --plan {path} --previous {c.ws.metadata}"]
    return path, lines


# ---- the printable script -----------------------------------------------------------------------


def write_script(c: Any, out: Path | None = None) -> Path:
    """``ceremony script WORKSPACE``: the printable script, by default ``record/script.html``."""
    from ceremony.script import render_html
    from ceremony.workspace import atomic_write
    path = out or c.ws.record / "script.html"
    atomic_write(path, render_html(c).encode())
    return path


# ---- touch --------------------------------------------------------------------------------------


TouchCallback = Callable[[str], None]


def call_with_touch(fn: Callable[..., Any], *args: Any, on_touch: TouchCallback | None,
                    **kwargs: Any) -> Any:
    """Call a token step, handing it ``on_touch`` when it takes one.

    Token layers that know when a touch is awaited (``hsm.yubikey.signing``)
    call it just before the card blocks; steps that do not take it yet are
    called as they are (a PKCS#11 module cannot say when a touch is awaited).
    """
    if on_touch is not None and _accepts(fn, "on_touch"):
        kwargs["on_touch"] = on_touch
    return fn(*args, **kwargs)


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD
                                 for p in params.values())


# ---- tokens present (keygen and sign screens) ---------------------------------------------------


@dataclass(frozen=True)
class Presence:
    """Whether a keyholder's token (a PKCS#11 token, or a YubiKey by serial) is present."""

    present: bool
    text: str


@dataclass(frozen=True)
class _Wanted:
    device: str  # "pkcs11" or "yubikey"
    label: str | None
    serial: str | None

    def describe(self) -> str:
        if self.device == "yubikey":
            return f"YubiKey {self.serial}"
        return f"token {self.label}" if self.label else f"serial {self.serial}"


def _wanted_for_keygen(c: Any, name: str) -> _Wanted:
    h = c.plan.keyholder(name)
    return _Wanted("yubikey" if h.is_yubikey else "pkcs11", h.token, h.serial)


def _wanted_for_signing(c: Any, name: str) -> list[_Wanted]:
    from ceremony.formats import tuf as tuf_format
    out = []
    for key in c.signing_keys(name):
        f = key.unrecognized_fields
        serial = f.get(tuf_format.X_TOKEN_SERIAL)
        out.append(_Wanted("yubikey" if f.get(tuf_format.X_DEVICE) == "yubikey" else "pkcs11",
                           f.get(tuf_format.X_TOKEN_LABEL), None if serial is None else str(serial)))
    return out


def _presence(wanted: _Wanted, pkcs11_tokens: Callable[[], list[Any]],
              cache: dict[str, list[Any]]) -> Presence:
    if wanted.device == "yubikey":
        if "yubikey" not in cache:
            from hsm.yubikey import list_yubikeys
            cache["yubikey"] = list_yubikeys()
        keys = cache["yubikey"]
        for k in keys:
            if str(k.serial) == str(wanted.serial):
                return Presence(True, f"YubiKey present: serial {k.serial} ({k.form_factor}, "
                                      f"firmware {k.firmware_str})")
        others = ", ".join(str(k.serial) for k in keys) or "none"
        return Presence(False, f"YubiKey {wanted.serial} is not present (YubiKeys present: "
                               f"{others}): insert it, then press r")
    if "pkcs11" not in cache:
        cache["pkcs11"] = list(pkcs11_tokens())
    for t in cache["pkcs11"]:
        if (wanted.label is None or t.label == wanted.label) and \
           (wanted.serial is None or str(t.serial) == str(wanted.serial)):
            return Presence(True, f"Token present: {t.label} (serial {t.serial}), "
                                  f"PIN {t.pin_state}")
    return Presence(False, f"{wanted.describe()} is not present: insert it, then press r")


def token_presence(c: Any, name: str, pkcs11_tokens: Callable[[], list[Any]],
                   signing: bool = False, cache: dict[str, list[Any]] | None = None) -> Presence:
    """Whether ``name``'s token is present: YubiKeys are looked for by serial over PC/SC
    (``hsm.yubikey``), other tokens in the PKCS#11 token list (``pkcs11_tokens()``, read
    only when needed). ``signing``: the token holding ``name``'s key(s) for the draft
    (a rotation's previous keyholders included), else the plan's token for keygen.

    Raises:
        HsmError: the token list cannot be read (no module, PC/SC not available).
    """
    cache = {} if cache is None else cache  # one listing of each kind for several keyholders
    wanted = _wanted_for_signing(c, name) if signing else [_wanted_for_keygen(c, name)]
    found = [_presence(w, pkcs11_tokens, cache) for w in wanted]
    if not found:
        return Presence(False, f"{name} holds no key that signs this draft")
    missing = [p for p in found if not p.present]
    return missing[0] if missing else Presence(True, "; ".join(p.text for p in found))


def signing_tokens_present(c: Any, names: list[str],
                           pkcs11_tokens: Callable[[], list[Any]]) -> dict[str, Presence]:
    """:func:`token_presence` for each of ``names`` signing the draft, listing tokens once."""
    cache: dict[str, list[Any]] = {}
    return {n: token_presence(c, n, pkcs11_tokens, signing=True, cache=cache) for n in names}


def token_absent(c: Any, name: str, signing: bool = False) -> Presence:
    """The "not present" line, when the token list could not be read at all."""
    wanted = _wanted_for_signing(c, name) if signing else [_wanted_for_keygen(c, name)]
    what = ", ".join(w.describe() for w in wanted) or f"{name}'s token"
    return Presence(False, f"{what} is not present: insert it, then press r")


# ---- witnesses (FIDO2 sign-offs before publish and seal) ---------------------------------------

PUBLISH_CONFIRMED = "publish-confirmed"
ENROL, PUBLISH, SEAL = "enroll", "publish", "seal"


@dataclass(frozen=True)
class WitnessView:
    """What the witness screen shows for one stage (enrolment, or the gate before a step)."""

    stage: str
    sentence: str  # "publish needs 2 witness sign-offs: signed off: wendy; waiting for ..."
    lines: list[str]  # one per witness, and the head to compare
    choices: list[tuple[str, str]]  # (witness, what selecting them does)
    met: bool


def publish_confirmed(c: Any) -> bool:
    """Whether the typed "publish" for the current draft is in the journal."""
    from ceremony import record
    return c.state.draft_digest is not None and \
        record.confirmed(c, PUBLISH_CONFIRMED, c.state.draft_digest)


def gate_sentence(c: Any, step: str) -> str:
    """Where the witnesses stand before ``step`` (publish, seal), in one sentence."""
    from ceremony import witness
    st = witness.status(c)
    n = st.required
    head = f"{step} needs {n} witness sign-off{'' if n == 1 else 's'}: signed off: " + \
        (", ".join(st.signed) or "nobody yet")
    if st.met:
        return head + f"; that is enough to {step}"
    return head + f"; waiting for {st.missing()}"


def witness_view(c: Any, stage: str) -> WitnessView:
    """The enrolment list, or the sign-off gate before publish/seal, as lines and choices."""
    from ceremony import witness
    from ceremony.fingerprint import fingerprint_words
    st = witness.status(c)
    p = c.plan
    if stage == ENROL:
        sentence = (f"{len(st.enrolled)} of {len(st.witnesses)} witnesses enrolled"
                    + (f" ({', '.join(st.enrolled)})" if st.enrolled else "")
                    + (f"; {st.required} must sign off before publish and before seal"
                       if st.required else "; sign-offs are optional in this plan"))
        lines = [f"  {w}: {'enrolled' if w in st.enrolled else 'not enrolled'}"
                 for w in p.witnesses]
        choices = [(w, f"{w:<10} enrol a security key") for w in p.witnesses
                   if w not in st.enrolled]
        return WitnessView(stage, sentence, lines, choices, len(st.enrolled) >= st.required)
    sentence = gate_sentence(c, stage)
    lines = [f"journal line {st.seq}, head words: {fingerprint_words(st.head, 4)}",
             *st.lines()[1:]]
    choices = []
    for w in st.waiting:
        if w in st.enrolled:
            choices.append((w, f"{w:<10} sign off journal line {st.seq}"))
        else:
            choices.append((w, f"{w:<10} enrol first (later sign-offs are then needed again)"))
    return WitnessView(stage, sentence, lines, choices, st.met)


def witness_act(c: Any, name: str, on_touch: TouchCallback | None = None,
                env: dict[str, str] | None = None) -> list[str]:
    """``ceremony witness enroll`` when ``name`` has not enrolled, else ``ceremony witness
    sign``: refuses before the security key is asked for; returns lines for the room.

    Raises:
        PlanError: not a witness in the plan.
        StateError: already signed off this head, or sealed.
        UsageError: the test seam named for a live plan.
        HsmError: no security key, the wrong one, not touched.
    """
    from ceremony import witness
    if name not in c.state.witnesses:
        witness.ready_to_enroll(c, name)
        device, source = witness.open_device(c.plan, env)
        cred = witness.enroll(c, name, device, source, on_touch=on_touch)
        return [f"{name} enrolled a security key ({source}, AAGUID {cred.aaguid})"]
    target, _cred = witness.ready_to_sign(c, name)
    device, _source = witness.open_device(c.plan, env)
    witness.sign(c, name, device, on_touch=on_touch)
    return [f"{name} signed off journal line {target.seq}"]


def confirm_publish(c: Any, by: str) -> bool:
    """The typed "publish": journal it (once per draft), then publish unless the plan's
    witnesses must first sign off the journal as it now stands. True when published.

    Raises:
        ThresholdError: a threshold is not met.
        StateError: sealed, or already published.
    """
    from ceremony import record, witness
    if not publish_confirmed(c):
        v = c.state.draft["version"]
        record.confirm(c, PUBLISH_CONFIRMED, f"publish root v{v} confirmed by typing 'publish'",
                       c.state.draft_digest, by)
    if c.plan.witnesses_required and not witness.status(c).met:
        return False
    c.publish()
    return True


# ---- a new ceremony from the TUI ---------------------------------------------------------------


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
    from ceremony.plan import load_online_keys, parse_plan, shared_online_keys
    workspace, plan_path = Path(workspace), Path(plan_path).expanduser()
    if workspace.exists():
        raise WorkspaceError(f"{workspace} already exists",
                             hint="open it with `ceremony tui WORKSPACE` (without --plan), or "
                                  "name a new folder")
    if not plan_path.is_file():
        from ceremony.errors import PlanError
        raise PlanError(f"the plan {plan_path} does not exist")
    plan = parse_plan(plan_path.read_text(encoding="utf-8"))
    warnings: list[str] = []
    if plan.format == "tuf":
        online = load_online_keys(plan, plan_path.resolve().parent)
        warnings = list(shared_online_keys(online))
    if previous is not None and not Path(previous).expanduser().is_dir():
        raise WorkspaceError(f"the previous metadata folder {previous} does not exist")
    return PlanPreview(plan, plan_path, None if previous is None else Path(previous).expanduser(),
                       warnings)


def start_ceremony(workspace: Path, preview: PlanPreview) -> Any:
    """``ceremony init WORKSPACE --plan PLAN [--previous DIR]`` after the room reviewed the plan.

    Raises:
        PlanError / VerificationError / WorkspaceError: as ``Ceremony.init`` (nothing written).
    """
    from ceremony.engine import Ceremony
    return Ceremony.init(Path(workspace), preview.plan_path, preview.previous)


# ---- a keyholder elsewhere: sign a travelling draft (``ceremony sign-draft``) ------------------


@dataclass(frozen=True)
class RemoteDraft:
    """A travelling draft as the keyholder reviews it before signing (nothing signed yet)."""

    path: Path
    keyholder: str
    version: int
    digest: str
    repository: str
    ceremony_id: str
    format: str
    changes: list[str]  # in words, per role
    expiries: list[str]  # absolute, UTC
    keys: list[str]  # the keyholder's keys that sign (id and token)
    out: Path  # where the signature file goes


def _utc(when: Any) -> str:
    return f"{when:%Y-%m-%d %H:%M:%S} UTC"


def remote_draft(path: Path, keyholder: str, out: Path | None = None) -> RemoteDraft:
    """Read a travelling draft for ``keyholder`` (``load_draft``), in words.

    Raises:
        VerificationError: the draft is bad, or ``keyholder`` holds no key that counts.
        WorkspaceError: the signature file exists already.
    """
    from ceremony.detached import keys_of, load_draft
    from ceremony.errors import VerificationError
    from ceremony.formats import tuf as tuf_format
    path = Path(path).expanduser()
    d = load_draft(path)
    prev = d.previous.signed if d.previous else None
    new = d.draft.signed
    try:
        changes = list(tuf_format.diff_roots(prev, new))
    except Exception:  # noqa: BLE001 - a format without TUF's roles: list the version only
        changes = [f"root v{new.version} follows v{prev.version}" if prev else
                   f"new repository: root v{new.version}"]
    expiries = [f"root v{new.version} expires {_utc(new.expires)}"]
    if prev is not None:
        expiries.append(f"the previous root v{prev.version} expires {_utc(prev.expires)}")
    keys = keys_of(d, keyholder)
    if not keys:
        raise VerificationError(f"{keyholder} holds no key in root v{new.version} or the root "
                                "before it: their signature would count toward no threshold",
                                hint="check the name (as in the plan) and the draft file")
    described = []
    for k in keys:
        f = getattr(k, "unrecognized_fields", {}) or {}
        token = f.get(tuf_format.X_TOKEN_LABEL) or (f"YubiKey {f.get(tuf_format.X_TOKEN_SERIAL)}"
                                                    if f.get(tuf_format.X_DEVICE) == "yubikey"
                                                    else None)
        described.append(f"key {k.keyid[:16]}" + (f" on {token}" if token else ""))
    target = Path(out).expanduser() if out else path.with_name(
        f"{new.version}.root.sig-{keyholder}.json")
    if target.is_dir():
        target = target / f"{new.version}.root.sig-{keyholder}.json"
    if target.exists():
        raise WorkspaceError(f"{target} exists already; a signature file is never overwritten",
                             hint="name another file with --out")
    return RemoteDraft(path, keyholder, new.version, d.digest, d.repository, d.ceremony_id,
                       d.format, changes, expiries, described, target)


def sign_remote(rd: RemoteDraft, module: Any, pin: Any, on_touch: Any = None) -> Path:
    """``ceremony sign-draft FILE --keyholder NAME --out SIG`` on the keyholder's token.

    Raises:
        VerificationError: the draft changed since it was read, or is bad.
        hsm.errors.HsmError: token missing or wrong, PIN refused.
    """
    from ceremony.detached import load_draft, sign_draft
    from ceremony.errors import VerificationError
    if load_draft(rd.path).digest != rd.digest:
        raise VerificationError(f"{rd.path} changed since it was reviewed; nothing was signed",
                                hint="review it again")
    return sign_draft(rd.path, rd.keyholder, module, pin, rd.out, on_touch=on_touch)


def signature_bundle(rd: RemoteDraft) -> Any:
    """The signature file as a ``signature`` bundle (``ceremony pack --kind signature``)."""
    from ceremony.transfer import check_arrival
    from ceremony.transport import Bundle
    bundle = Bundle.from_files("signature", rd.repository, rd.ceremony_id,
                               {rd.out.name: rd.out.read_bytes()})
    check_arrival(bundle, None)  # send only what the receiver will accept
    return bundle


def send_signature(rd: RemoteDraft, how: str, folder: Path, size: str = "medium") -> Sent:
    """Carry a written signature file back: a USB bundle folder, or QR PNG frames + sheet.

    Raises:
        WorkspaceError: the folder already holds a bundle / is not empty (nothing written).
        UsageError: an unknown transport.
    """
    from ceremony.fingerprint import fingerprint_words
    from ceremony.transport import export_qr, export_usb, find_bundles
    bundle = signature_bundle(rd)
    folder = Path(folder).expanduser()
    if how == IMPORT_USB:
        existing = find_bundles(folder) if folder.is_dir() else []
        if existing:
            raise WorkspaceError(f"{folder} already holds a bundle ({existing[0].name}); "
                                 "a stick carries one bundle at a time",
                                 hint="use a fresh stick or folder; nothing was written")
        path = export_usb(bundle, folder)
        return Sent("usb", path, [f"signature bundle written to {path} and read back",
                                  f"bundle digest {bundle.digest}",
                                  f"read aloud: {fingerprint_words(bundle.digest)}"])
    if how == IMPORT_QR:
        out = export_qr(bundle, folder, size=size)
        return Sent("qr", out.directory, [
            f"signature bundle as {len(out.frames)} QR frame(s) ({out.size.name}) in "
            f"{out.directory}", f"printable sheet: {out.sheet}",
            f"message words (read aloud): {out.message_words}"])
    raise UsageError(f"unknown transport {how!r}")


# ---- the auditor: record verify, record report, the published chain (read-only) -----------------


@dataclass(frozen=True)
class Audit:
    """What an auditor sees: the record check, the report written, the chain walked."""

    ok: bool
    record: list[str]  # "ok   ..." / "FAIL ..." lines, as ``ceremony record verify``
    problems: list[str]
    report: Path | None
    report_error: str | None
    chain: list[str]  # as ``ceremony verify`` / ``ceremony notary verify``
    chain_ok: bool | None  # None: nothing published to walk


def audit(root: Path, require_seal: bool = True) -> Audit:
    """``ceremony record verify``, ``ceremony record report`` and a walk of ``metadata/``.

    Never raises for a failed check: every problem is in the result. Only the report
    (record/transcript.* and record/report.html) is written, and only from an intact journal.
    """
    from ceremony import record, record_check
    from ceremony.errors import CeremonyError
    from ceremony.workspace import Workspace
    root = Path(root)
    v = record_check.check_record(root, require_seal=require_seal)
    report, report_error = None, None
    if v.journal_broken:
        report_error = "not written: the journal is broken"
    else:
        try:
            report = record.write_record(Workspace(root))[-1]
        except CeremonyError as e:
            report_error = e.message
    chain_lines, chain_ok = audit_chain(Workspace(root).metadata)
    return Audit(v.ok and chain_ok is not False, v.lines(), list(v.problems), report,
                 report_error, chain_lines, chain_ok)


def audit_chain(metadata: Path) -> tuple[list[str], bool | None]:
    """Walk ``metadata/`` from its 1.root.json as a client would (TUF, or notary); with
    the root keys' attestations for TUF. (lines, ok); ok is None when nothing is published."""
    from ceremony import attestation, chain
    from ceremony.errors import CeremonyError
    from ceremony.formats import notary_root
    first = Path(metadata) / "1.root.json"
    if not first.is_file():
        return ["nothing published yet: no chain to walk"], None
    try:
        trusted = chain.read_root_file(first)
        attested: list[Any] = []
        trust = None
        if notary_root.is_notary_root(trusted):
            report, gun = notary_root.verify_directory(Path(metadata), trusted=first)
            lines = [f"notary collection {gun}: trusted root v{report.trusted_version}"]
        else:
            report = chain.walk(trusted, Path(metadata), trusted_name=str(first))
            trust, attested = attestation.check_root(report.newest.signed)
            lines = [f"trusted root v{report.trusted_version} (1.root.json)"]
        for st in report.statuses:
            lines.append(f"v{st.version}: ok - " + "; ".join(st.lines()))
        lines.append(f"chain verified: newest root is v{report.newest_version}, expires "
                     f"{_utc(report.newest.signed.expires)}")
        if attested:
            against = f", against {trust.description}" if trust is not None else ""
            lines.append(f"root key attestations (v{report.newest_version}{against}):")
            lines += ["  " + a.line() for a in attested]
        failed = [a for a in attested if not a.ok]
        if failed:
            lines.append(f"FAIL {len(failed)} root key attestation(s) do not verify")
        return lines, not failed
    except CeremonyError as e:
        return [f"FAIL {e.message}"], False


# ---- YubiKey provisioning at keygen (``ceremony keygen --provision``) --------------------------


@dataclass(frozen=True)
class YubiKeySlot:
    """Whether a YubiKey keyholder's slot 9c already holds a key (read without a PIN try)."""

    serial: str
    provisioned: bool
    text: str


def yubikey_slot(c: Any, name: str) -> YubiKeySlot | None:
    """For a ``device = "yubikey"`` keyholder, whether slot 9c holds a key; None otherwise.

    Raises:
        HsmError: the YubiKey is not present or cannot be read.
    """
    from hsm.yubikey.preflight import preflight
    h = c.plan.keyholder(name)
    if not h.is_yubikey:
        return None
    r = preflight(int(h.serial))
    slot = r.signature_slot
    factory = bool(r.factory_pin or r.factory_puk or r.factory_management_key)
    if slot is None or factory:
        why = "slot 9c is empty" if slot is None else "factory PIN/PUK still set"
        return YubiKeySlot(str(h.serial), False, f"YubiKey {h.serial} is not provisioned "
                           f"({why}): press p to provision it (resets PIV)")
    return YubiKeySlot(str(h.serial), True, f"YubiKey {h.serial}: slot 9c holds a "
                       f"{slot.algorithm} key (touch {slot.touch_policy}); keygen adopts it")


def provision_prompts(serial_typed: str, new_pin: str, new_puk: str,
                      on_event: Callable[[str], None] | None = None) -> Any:
    """``ProvisionPrompts`` answering with what the operator typed on screen (each secret
    entered twice and compared by the screen); checked with the provisioning rules first.

    Raises:
        NewPinRejectedError: the new PIN/PUK breaks a rule (nothing changed).
    """
    from hsm.yubikey.provision import ProvisionPrompts, check_new_secrets
    check_new_secrets(new_pin, new_puk)
    secrets = {"PIN": new_pin, "PUK": new_puk}
    return ProvisionPrompts(lambda _device: serial_typed, secrets.__getitem__, on_event)


def keygen_provision(c: Any, name: str, module: Any, prompts: Any, new_pin: str,
                     on_touch: TouchCallback | None = None) -> Any:
    """``ceremony keygen WS --keyholder NAME --provision``: reset PIV, make the key on the
    device with the plan's algorithm and touch policy, verify its attestation, record it.

    Raises:
        ProvisionAbortedError: the typed serial is not the YubiKey's (nothing changed).
        AttestationError / HsmError: as ``Ceremony.keygen``.
    """
    from ceremony.preflight import require_preflight
    require_preflight(c)
    return c.keygen(name, module, lambda _info: new_pin, on_touch=on_touch, provision=prompts)
