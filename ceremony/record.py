"""The ceremony's record: transcript, seal, offline verification, printable report.

Everything here is derived from the journal, which is already hash-chained and
fsynced; the record adds three things an auditor needs later:

* a **transcript** (``record/transcript.json`` and ``.txt``): every step, who
  acted, with which token (serial), the digests of inputs and outputs, and the
  operator's confirmations;
* a **seal**: the journal head signed, on their tokens, by the root keys that
  signed the published root. Sealing happens keyholder by keyholder (one token
  in the reader at a time), each signature journaled as it is made, and ends in
  one ``sealed`` event. After it nothing more is journaled;
* :func:`verify_record`, which re-checks all of this with the tool alone and no
  token, naming the broken journal line or the failing file.

The seal signs ``SEAL_DOMAIN + canonical JSON`` of the ceremony id and the
head, never the bare hash: a seal signature can never be mistaken for (or be
replayed as) a signature over TUF metadata.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ceremony.errors import StateError, VerificationError, WorkspaceError
from ceremony.journal import Event
from ceremony.workspace import Workspace, atomic_write

SEAL_SIGNATURE = "seal-signature"
SEALED = "sealed"  # == ceremony.state.SEALED
CONFIRMED = "confirmed"  # operator confirmations (not folded by State; kept in the journal)
SEAL_EVENTS = (SEAL_SIGNATURE, SEALED)
SEAL_DOMAIN = b"ceremony-journal-seal-v1\n"
ADMIN = "administrator"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def seal_payload(ceremony_id: str, seq: int, head: str) -> bytes:
    """The bytes every seal signature covers."""
    from securesystemslib.formats import encode_canonical
    body = {"ceremony_id": ceremony_id, "journal_head": head, "journal_seq": seq}
    text = encode_canonical(body)
    assert text is not None  # only None when writing to a file object
    return SEAL_DOMAIN + text.encode()


# ---- confirmations ----------------------------------------------------------------


def confirm(c: Any, what: str, text: str, digest: str | None = None, by: str = ADMIN) -> None:
    """Journal an operator confirmation (draft approved, publish confirmed, ...).

    Raises:
        StateError: the ceremony is sealed.
    """
    _refuse_if_sealed(c)
    data: dict[str, Any] = {"what": what, "text": text, "by": by}
    if digest is not None:
        data["digest"] = digest
    c.record(CONFIRMED, data)


def confirmed(c: Any, what: str, digest: str | None = None) -> bool:
    """Whether ``what`` (for this ``digest``, when given) has been confirmed."""
    return any(e.type == CONFIRMED and e.data.get("what") == what
               and (digest is None or e.data.get("digest") == digest) for e in c.journal.events)


def _refuse_if_sealed(c: Any) -> None:
    if c.state.sealed:
        raise StateError("the ceremony is sealed; nothing more is recorded",
                         hint="start a new workspace for a new ceremony")


# ---- transcript ---------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One step of the transcript."""

    seq: int
    time: str
    step: str
    actor: str
    token: str | None
    summary: str
    digests: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        tok = f" [token {self.token}]" if self.token else ""
        return f"{self.seq:>4} {self.time} {self.step:<15} {self.actor}{tok}: {self.summary}"


def _words(hexdigest: str, n: int = 8) -> str:
    from ceremony.fingerprint import fingerprint_words
    return fingerprint_words(hexdigest, n)


def entry_for(e: Event) -> Entry:
    """Describe one journal event for people (pure)."""
    d = e.data
    kw: dict[str, Any] = {"seq": e.seq, "time": e.time, "step": e.type}
    if e.type == "initialized":
        rehearsal = "; REHEARSAL" if d.get("rehearsal") else ""
        dig = {"plan.toml": d.get("plan_sha256", "")}
        prev = d.get("previous")
        if prev:
            dig[f"previous {prev['version']}.root.json"] = prev["sha256"]
        for role, keys in (d.get("online_keys") or {}).items():
            for k in keys:
                dig[f"{role} key"] = k["keyid"]
        return Entry(**kw, actor=ADMIN, token=None, digests=dig,
                     summary=f"ceremony {d.get('name')!r} initialised ({d.get('format')}, "
                             f"repository {d.get('repository')}){rehearsal}, tool "
                             f"{d.get('tool_version')}")
    if e.type == "preflight":
        verdict = "passed" if d.get("passed") else "REFUSED"
        warn = [f["check"] for f in d.get("findings", []) if f.get("status") == "warn"]
        extra = f"; warnings: {', '.join(warn)}" if warn else ""
        host = d.get("host", {}).get("hostname", "?")
        conf = "confirmed" if d.get("clock_confirmed") else "not confirmed"
        return Entry(**kw, actor=ADMIN, token=None,
                     digests={"tool": d.get("tool", {}).get("sha256", "")},
                     summary=f"preflight {verdict} on {host}; clock {d.get('clock')} "
                             f"({conf}){extra}")
    if e.type == "keygen-intent" and d.get("device") == "yubikey":
        what = ("reset PIV on and generate" if d.get("mode") == "provision" else "adopt")
        return Entry(**kw, actor=d["keyholder"], token=d.get("token_serial"),
                     summary=f"about to {what} an {d.get('algorithm')} key in slot 9c of YubiKey "
                             f"{d.get('yubikey_serial')} (PIN always, touch {d.get('touch')}); "
                             f"attestation trusted to {d.get('trust')}")
    if e.type == "key-generated" and d.get("device") == "yubikey":
        v = (d.get("attestation") or {}).get("verdict") or {}
        return Entry(**kw, actor=d["keyholder"], token=d.get("token_serial"),
                     digests={"keyid": d["keyid"]},
                     summary=f"{d.get('algorithm')} key {d['keyid'][:12]} in slot 9c of YubiKey "
                             f"{d.get('token_serial')}, attested (firmware {v.get('firmware')}, "
                             f"PIN {v.get('pin_policy')}, touch {v.get('touch_policy')}); "
                             f"words: {_words(d['keyid'])}")
    if e.type == "witness-enrolled":
        cred = d.get("credential") or {}
        return Entry(**kw, actor=d.get("witness", "?"), token=None,
                     summary=f"witness enrolled a FIDO2 credential "
                             f"{str(cred.get('credential_id'))[:16]}... ({d.get('device')}, AAGUID "
                             f"{cred.get('aaguid')})")
    if e.type == "witness-signed":
        return Entry(**kw, actor=d.get("witness", "?"), token=None,
                     digests={"journal head": str(d.get("head"))},
                     summary=f"witness signed off journal line {d.get('seq')} (head "
                             f"{str(d.get('head'))[:12]}, counter {d.get('counter')})")
    if e.type == "keygen-intent":
        token = d.get("token_serial") or d.get("token_label")
        return Entry(**kw, actor=d["keyholder"], token=token,
                     summary=f"about to generate an {d.get('algorithm')} key with id "
                             f"{d.get('key_id_hex', '')[:8]}... on token {d.get('token_label')!r}")
    if e.type == "key-generated":
        return Entry(**kw, actor=d["keyholder"], token=d.get("token_serial"),
                     digests={"keyid": d["keyid"]},
                     summary=f"generated {d.get('algorithm')} key {d['keyid'][:12]} on token "
                             f"{d.get('token_label')!r}; words: {_words(d['keyid'])}")
    if e.type == "draft-created":
        return Entry(**kw, actor=ADMIN, token=None, digests={"draft": d["digest"]},
                     summary=f"drafted root v{d['version']} (digest words: {_words(d['digest'])})")
    if e.type == CONFIRMED:
        dig = {"confirmed": d["digest"]} if d.get("digest") else {}
        return Entry(**kw, actor=d.get("by", ADMIN), token=None, digests=dig,
                     summary=f"confirmed {d.get('what')}: {d.get('text')}")
    if e.type == "signature-added":
        return Entry(**kw, actor=d["keyholder"], token=d.get("token_serial"),
                     digests={"draft": d.get("draft", ""), "keyid": d["keyid"]},
                     summary=f"signed root draft {str(d.get('draft'))[:12]} with key "
                             f"{d['keyid'][:12]}")
    if e.type == "published":
        return Entry(**kw, actor=ADMIN, token=None,
                     digests={f: d["sha256"] for f in d.get("files", [])},
                     summary=f"published root v{d['version']}: {', '.join(d.get('files', []))}")
    if e.type == SEAL_SIGNATURE:
        return Entry(**kw, actor=d["keyholder"], token=d.get("token_serial"),
                     digests={"journal head": d["head"], "keyid": d["keyid"]},
                     summary=f"sealed the journal at line {d['seq']} (head {d['head'][:12]})")
    if e.type == SEALED:
        who = ", ".join(sorted({s["keyholder"] for s in d.get("signatures", [])}))
        return Entry(**kw, actor=ADMIN, token=None, digests={"journal head": d["head"]},
                     summary=f"record sealed at line {d['seq']} by {who}; head words: "
                             f"{_words(d['head'])}")
    digests = {k: v for k, v in d.items() if isinstance(v, str) and k.endswith("sha256")}
    actor = d.get("keyholder") or d.get("by") or ADMIN
    return Entry(**kw, actor=actor, token=d.get("token_serial"), digests=digests,
                 summary=", ".join(f"{k}={v}" for k, v in d.items()
                                   if isinstance(v, (str, int)) and not k.endswith("sha256"))[:200])


def transcript(events: Iterable[Event]) -> list[Entry]:
    """The transcript of a journal (pure)."""
    return [entry_for(e) for e in events]


def transcript_document(events: list[Event]) -> dict[str, Any]:
    """``record/transcript.json``'s content, tied to the journal position it covers."""
    init = events[0].data if events else {}
    return {"ceremony_id": init.get("ceremony_id"), "journal_seq": len(events),
            "journal_head": events[-1].hash if events else "0" * 64,
            "entries": [asdict(x) for x in transcript(events)]}


def write_transcript(ws: Workspace, events: list[Event]) -> list[Path]:
    """Write ``record/transcript.json`` and ``record/transcript.txt`` atomically."""
    doc = transcript_document(events)
    j = ws.record / "transcript.json"
    t = ws.record / "transcript.txt"
    atomic_write(j, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode())
    text = [(f"transcript of ceremony {doc['ceremony_id']}, journal line {doc['journal_seq']}, "
             f"head {doc['journal_head']}")]
    text += [entry_for(e).line() for e in events]
    atomic_write(t, ("\n".join(text) + "\n").encode())
    return [j, t]


# ---- seal ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Sealer:
    """A root key that signed the published root, and the token that holds it."""

    keyholder: str
    keyid: str
    key: Any  # securesystemslib Key with x-ceremony-* fields, or a notary NotaryKey

    @property
    def fields(self) -> dict[str, Any]:
        return dict(self.key.unrecognized_fields)

    @property
    def public(self) -> Any:
        """The public key the seal signature is made and checked with."""
        public_key = getattr(self.key, "public_key", None)  # a notary key: its certificate's
        return public_key() if callable(public_key) else self.key._crypto_key()


@dataclass(frozen=True)
class SealStatus:
    """Where the seal stands: which head, who has sealed it, who is still to."""

    seq: int
    head: str
    sealed: tuple[str, ...]
    waiting: tuple[str, ...]
    done: bool

    def describe(self) -> str:
        if self.done:
            return f"sealed at journal line {self.seq} by {', '.join(self.sealed)}"
        have = ", ".join(self.sealed) or "nobody yet"
        return (f"seal of journal line {self.seq}: {have}; waiting for "
                f"{', '.join(self.waiting)}")


def published_event(events: list[Event]) -> Event | None:
    """The last ``published`` event."""
    return next((e for e in reversed(events) if e.type == "published"), None)


def load_published(ws: Workspace, events: list[Event]) -> Any:
    """The published root, read back and checked against the journal's digest.

    Raises:
        StateError: nothing published yet.
        VerificationError: the file is missing or differs from what was published.
    """
    from ceremony import chain
    from ceremony.formats import tuf as tuf_format
    ev = published_event(events)
    if ev is None:
        raise StateError("no root has been published yet", hint="publish before sealing")
    path = ws.metadata / f"{ev.data['version']}.root.json"
    data = chain.read_root_file(path)
    if sha256(data) != ev.data["sha256"]:
        raise VerificationError(f"{path.name} differs from the root published at journal line "
                                f"{ev.seq}", hint="the published metadata was changed; restore it")
    return tuf_format.from_bytes(data, path.name)


def _previous_root(ws: Workspace, events: list[Event]) -> Any | None:
    from ceremony import chain
    from ceremony.formats import tuf as tuf_format
    info = events[0].data.get("previous") if events else None
    if not info:
        return None
    path = ws.previous / f"{info['version']}.root.json"
    data = chain.read_root_file(path)
    if sha256(data) != info["sha256"]:
        raise VerificationError(f"{path} was changed after the ceremony started")
    return tuf_format.from_bytes(data, path.name)


def sealers(ws: Workspace, events: list[Event]) -> list[Sealer]:
    """The keys that signed the published root and can be found on a token again.

    Keys come from the published root itself or, for a rotation, the previous
    root (an old key that signed to meet the old threshold signed the root too).
    """
    from ceremony.formats import tuf as tuf_format
    if _format(events) == "notary":  # keyholders from the journal / ceremony-keys.json
        from ceremony.formats import notary_record
        return sorted((Sealer(*s) for s in notary_record.sealers(ws, events)),
                      key=lambda s: (s.keyholder, s.keyid))
    _require_tuf(events)
    md = load_published(ws, events)
    prev = _previous_root(ws, events)
    pools = [md.signed.keys] + ([prev.signed.keys] if prev is not None else [])
    out = []
    for keyid in sorted(md.signatures):
        key = next((p[keyid] for p in pools if keyid in p), None)
        if key is None or tuf_format.X_KEY_URI not in key.unrecognized_fields:
            continue
        out.append(Sealer(tuf_format.keyholder_of(key) or keyid[:12], keyid, key))
    out.sort(key=lambda s: (s.keyholder, s.keyid))
    return out


def _format(events: list[Event]) -> str:
    return str(events[0].data.get("format", "tuf")) if events else "tuf"


def _require_tuf(events: list[Event]) -> None:
    fmt = _format(events)
    if fmt != "tuf":
        raise StateError(f"sealing a {fmt} ceremony is not supported yet",
                         hint="the journal chain still verifies (`ceremony record verify "
                              "--allow-unsealed`); verify the published root with its client")


def seal_target(events: list[Event]) -> Event:
    """The event the seal covers: the last one that is not part of sealing.

    If anything is journaled while sealing (a new session's preflight), the
    target moves on and signatures over the older head no longer count.
    """
    for e in reversed(events):
        if e.type not in SEAL_EVENTS:
            return e
    raise StateError("the journal is empty")


def seal_status(ws: Workspace, events: list[Event]) -> SealStatus:
    """Who has sealed the current target, and who is still to (pure over the journal)."""
    target = seal_target(events)
    done_ev = next((e for e in events if e.type == SEALED), None)
    wanted = sealers(ws, events)
    signed = {e.data["keyid"] for e in events
              if e.type == SEAL_SIGNATURE and e.data.get("head") == target.hash}
    if done_ev is not None:
        names = tuple(sorted({s["keyholder"] for s in done_ev.data["signatures"]}))
        return SealStatus(done_ev.data["seq"], done_ev.data["head"], names, (), True)
    sealed = tuple(dict.fromkeys(s.keyholder for s in wanted if s.keyid in signed))
    waiting = tuple(dict.fromkeys(s.keyholder for s in wanted if s.keyid not in signed))
    return SealStatus(target.seq, target.hash, sealed, waiting, False)


def seal_sign(c: Any, keyholder: str, module: Any, pin: Any, *, on_touch: Any = None) -> SealStatus:
    """Sign the journal head with ``keyholder``'s key(s), each signature journaled.

    A YubiKey key signs through ykcs11 (a PIN per signature) and calls ``on_touch``
    before the card waits for a touch. The plan's FIDO2 witnesses must have signed off
    the head first (``ceremony.witness``).

    Raises:
        ThresholdError: too few witness sign-offs (names who is missing).
        StateError: sealed already, nothing published, or the keyholder has nothing to seal.
        hsm.errors.HsmError: token missing or wrong, PIN refused.
    """
    from ceremony.formats import tuf as tuf_format
    from hsm.algorithms import get_algorithm
    from hsm.uri import parse_uri
    from hsm.verify import verify_raw

    _refuse_if_sealed(c)
    _require_witnesses(c)
    events = c.journal.events
    target = seal_target(events)
    status = seal_status(c.ws, events)
    mine = [s for s in sealers(c.ws, events) if s.keyholder == keyholder]
    if not mine:
        raise StateError(f"{keyholder} did not sign the published root, so does not seal it",
                         hint="the seal is made by the keys that signed the root: "
                              + ", ".join(status.sealed + status.waiting))
    if keyholder not in status.waiting:
        raise StateError(f"{keyholder} has already sealed journal line {target.seq}")
    payload = seal_payload(c.state.init["ceremony_id"], target.seq, target.hash)
    done = {e.data["keyid"] for e in events
            if e.type == SEAL_SIGNATURE and e.data.get("head") == target.hash}
    for s in mine:
        if s.keyid in done:
            continue
        f = s.fields
        public = s.public
        if f.get(tuf_format.X_DEVICE) == "yubikey":  # ykcs11: PIN per signature, touch
            from ceremony.engine import open_root_key
            tk = open_root_key(s.key, module, pin, on_touch)
        else:
            token = module.find_token(label=f.get(tuf_format.X_TOKEN_LABEL),
                                      serial=f.get(tuf_format.X_TOKEN_SERIAL))
            ref = parse_uri(f[tuf_format.X_KEY_URI])
            tk = module.open_key(token, pin, f[tuf_format.X_ALGORITHM], ref.key_id,
                                 expected_public=public)
        sig = tk.sign_raw(payload)  # verified by the token layer too
        verify_raw(public, get_algorithm(f[tuf_format.X_ALGORITHM]), payload, sig, keyholder)
        c.record(SEAL_SIGNATURE, {"keyholder": keyholder, "keyid": s.keyid, "seq": target.seq,
                                  "head": target.hash, "sig": sig.hex(),
                                  "algorithm": f[tuf_format.X_ALGORITHM],
                                  "token_serial": tk.token.serial})
    return seal_status(c.ws, c.journal.events)


def _require_witnesses(c: Any) -> None:
    """The plan's FIDO2 witnesses must have signed off the head before the seal (ceremony.witness).

    Raises:
        ThresholdError: naming who is missing.
    """
    from ceremony.witness import require_witnesses
    require_witnesses(c, "seal")


def seal_finish(c: Any) -> SealStatus:
    """Journal the ``sealed`` event once every root signer has sealed; write ``record/``.

    Raises:
        StateError: already sealed, or keyholders still to seal.
    """
    _refuse_if_sealed(c)
    _require_witnesses(c)
    events = c.journal.events
    status = seal_status(c.ws, events)
    if status.waiting:
        raise StateError(f"the seal is not complete: waiting for {', '.join(status.waiting)}",
                         hint="each keyholder who signed the root seals with the same token")
    sigs = [{k: e.data[k] for k in ("keyholder", "keyid", "sig", "algorithm", "token_serial")}
            for e in events if e.type == SEAL_SIGNATURE and e.data.get("head") == status.head]
    c.record(SEALED, {"seq": status.seq, "head": status.head,
                      "ceremony_id": c.state.init["ceremony_id"], "signatures": sigs})
    write_record(c.ws)
    return seal_status(c.ws, c.journal.events)


def seal(c: Any, module: Any, pin: Any, *, on_touch: Any = None) -> SealStatus:
    """Seal with every signer's token (all present, as in a scripted rehearsal).

    Idempotent: on a sealed ceremony it only rewrites ``record/`` (a crash
    right after the ``sealed`` event leaves the record unwritten).

    Raises:
        see :func:`seal_sign` and :func:`seal_finish`.
    """
    if c.state.sealed:
        write_record(c.ws)
        return seal_status(c.ws, c.journal.events)
    for keyholder in seal_status(c.ws, c.journal.events).waiting:
        seal_sign(c, keyholder, module, pin, on_touch=on_touch)
    return seal_finish(c)


# ---- verification ---------------------------------------------------------------------


@dataclass
class RecordVerdict:
    """What :func:`check_record` found: every check passed, and every problem."""

    workspace: Path
    events: int = 0
    head: str = "0" * 64
    sealed: bool = False
    sealers: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    journal_broken: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        out = [f"ok   {c}" for c in self.checks] + [f"FAIL {p}" for p in self.problems]
        out.append(("record verified" if self.ok else "record verification FAILED")
                   + f": {self.events} journal lines, head {self.head}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"workspace": str(self.workspace), "ok": self.ok, "events": self.events,
                "head": self.head, "sealed": self.sealed, "sealers": self.sealers,
                "checks": self.checks, "problems": self.problems}


def check_record(root: Path, require_seal: bool = True) -> RecordVerdict:
    """Re-check a workspace offline: journal chain, plan, outputs, transcript, seal.

    Never raises for a failed check: every problem is in the verdict, the
    journal's broken line named as :mod:`ceremony.journal` names it.
    """
    from ceremony import journal as journal_mod
    from ceremony.state import replay
    ws = Workspace(Path(root))
    v = RecordVerdict(ws.root)
    try:
        ws.check()
        events = journal_mod.read(ws.journal)
    except WorkspaceError as e:
        v.problems.append(e.message)
        v.journal_broken = True
        return v
    v.events, v.head = len(events), (events[-1].hash if events else v.head)
    v.checks.append(f"journal chain intact ({len(events)} lines)")
    state = replay(events)
    if not state.init:
        v.problems.append("journal line 1 is not the initialisation event")
        return v
    _check_plan(ws, state.init, v)
    _check_keys(ws, events, v)
    _check_published(ws, events, v)
    _check_transcript(ws, events, v)
    _check_seal(ws, events, v, require_seal)
    _check_attestations_and_witnesses(ws, events, v)
    return v


def _check_attestations_and_witnesses(ws: Workspace, events: list[Event], v: RecordVerdict) -> None:
    """YubiKey attestations (ceremony.attestation) and FIDO2 sign-offs (ceremony.witness)."""
    from ceremony import attestation, witness
    for module in (attestation, witness):
        checks, problems = module.record_checks(ws, events)
        v.checks += checks
        v.problems += problems


def verify_record(root: Path, require_seal: bool = True) -> RecordVerdict:
    """:func:`check_record`, raising at the first failure (for the CLI boundary).

    Raises:
        WorkspaceError: the journal is broken (the message names the line).
        VerificationError: a check failed (the message says which).
    """
    v = check_record(root, require_seal)
    if v.journal_broken:
        raise WorkspaceError(v.problems[0], hint="the journal is tamper-evident; restore it "
                             "from a copy and compare")
    if v.problems:
        raise VerificationError(v.problems[0] + (f" (and {len(v.problems) - 1} more)"
                                                 if len(v.problems) > 1 else ""))
    return v


def _check_plan(ws: Workspace, init: dict[str, Any], v: RecordVerdict) -> None:
    try:
        data = ws.plan.read_bytes()
    except OSError:
        v.problems.append(f"{ws.plan.name} is missing")
        return
    if sha256(data) != init.get("plan_sha256"):
        v.problems.append(f"{ws.plan.name} differs from the plan journaled at line 1")
    else:
        v.checks.append(f"{ws.plan.name} matches the journal")


def _check_keys(ws: Workspace, events: list[Event], v: RecordVerdict) -> None:
    for e in events:
        if e.type != "key-generated":
            continue
        d = e.data
        path = ws.keys / f"root-{d['keyholder']}.json"
        if _format(events) == "notary":  # the key file also names the keyholder
            from ceremony.formats.notary_record import key_file_bytes
            want = key_file_bytes(d)
        else:
            want = json.dumps({"keyid": d["keyid"], **d["key"]}, indent=1, sort_keys=True).encode()
        try:
            ok = path.read_bytes() == want
        except OSError:
            ok = False
        if ok:
            v.checks.append(f"keys/{path.name} matches journal line {e.seq}")
        else:
            v.problems.append(f"keys/{path.name} is missing or differs from journal line {e.seq}")


def _check_published(ws: Workspace, events: list[Event], v: RecordVerdict) -> None:
    from ceremony import chain
    from ceremony.formats import tuf as tuf_format
    for e in events:
        if e.type != "published":
            continue
        version = e.data["version"]
        path = ws.metadata / f"{version}.root.json"
        try:
            data = chain.read_root_file(path)
        except VerificationError as err:
            v.problems.append(err.message)
            continue
        if sha256(data) != e.data["sha256"]:
            v.problems.append(f"metadata/{path.name} differs from the root published at "
                              f"journal line {e.seq}")
            continue
        if _format(events) == "notary":
            from ceremony.formats.notary_record import check_published
            problem, check = check_published(ws, events[:e.seq], version, data, path.name)
            if problem:
                v.problems.append(problem)
            else:
                v.checks.append(str(check))
            continue
        if _format(events) != "tuf":
            v.checks.append(f"metadata/{path.name} matches journal line {e.seq} (digest only "
                            f"for {_format(events)})")
            continue
        md = tuf_format.from_bytes(data, path.name)
        draft = next((d for d in events if d.type == "draft-created"
                      and d.data["version"] == version), None)
        if draft is None or tuf_format.signed_digest(md) != draft.data["digest"]:
            v.problems.append(f"metadata/{path.name} is not the draft journaled for v{version}")
            continue
        journaled = {d.data["keyid"]: d.data["sig"] for d in events
                     if d.type == "signature-added" and d.data.get("draft") == draft.data["digest"]}
        stray = [k for k, s in md.signatures.items() if journaled.get(k) != s.signature]
        if stray:
            v.problems.append(f"metadata/{path.name} carries a signature never journaled "
                              f"(key {stray[0][:12]})")
            continue
        try:
            prev = _previous_root(ws, events)
            st = tuf_format.status(md, prev.signed if prev else None)
        except VerificationError as err:
            v.problems.append(err.message)
            continue
        if not st.verified:
            v.problems.append(f"metadata/{path.name} is not signed at threshold: "
                              + "; ".join(st.lines()))
            continue
        v.checks.append(f"metadata/{path.name} is the journaled draft, signed at threshold "
                        f"({'; '.join(st.lines())})")


def _check_transcript(ws: Workspace, events: list[Event], v: RecordVerdict) -> None:
    path = ws.record / "transcript.json"
    if not path.exists():
        return
    try:
        doc = json.loads(path.read_bytes())
        seq = int(doc["journal_seq"])
    except (OSError, ValueError, KeyError, TypeError):
        v.problems.append("record/transcript.json is not a transcript")
        return
    if not 0 < seq <= len(events) or doc != json.loads(json.dumps(
            transcript_document(events[:seq]))):
        v.problems.append("record/transcript.json does not match the journal")
    else:
        v.checks.append(f"record/transcript.json matches journal lines 1-{seq}")


def _check_seal(ws: Workspace, events: list[Event], v: RecordVerdict, require: bool) -> None:
    from ceremony.formats import tuf as tuf_format
    from hsm.algorithms import get_algorithm
    from hsm.errors import HsmError
    from hsm.verify import verify_raw
    idx = next((i for i, e in enumerate(events) if e.type == SEALED), None)
    if idx is None:
        if require:
            v.problems.append("the ceremony is not sealed")
        else:
            v.checks.append("not sealed yet (allowed)")
        return
    ev = events[idx]
    if idx != len(events) - 1:
        v.problems.append(f"journal line {events[idx + 1].seq} was appended after the seal "
                          f"(line {ev.seq})")
        return
    d = ev.data
    target = seal_target(events[:idx])
    if d.get("seq") != target.seq or d.get("head") != target.hash:
        v.problems.append(f"the seal at journal line {ev.seq} does not cover line {target.seq}")
        return
    try:
        wanted = {s.keyid: s for s in sealers(ws, events)}
    except (StateError, VerificationError) as err:
        v.problems.append(f"cannot check the seal: {err.message}")
        return
    payload = seal_payload(events[0].data["ceremony_id"], target.seq, target.hash)
    good = set()
    for s in d.get("signatures", []):
        sealer = wanted.get(s.get("keyid"))
        if sealer is None:
            v.problems.append(f"the seal carries a signature by key {str(s.get('keyid'))[:12]}, "
                              "which did not sign the published root")
            continue
        alg = sealer.fields[tuf_format.X_ALGORITHM]
        try:
            verify_raw(sealer.public, get_algorithm(alg), payload,
                       bytes.fromhex(s["sig"]), sealer.keyholder)
        except (HsmError, ValueError):
            v.problems.append(f"the seal signature of {sealer.keyholder} does not verify")
            continue
        good.add(sealer.keyid)
    missing = sorted({wanted[k].keyholder for k in wanted if k not in good})
    if missing:
        v.problems.append("the seal lacks a valid signature from " + ", ".join(missing))
        return
    v.sealed = True
    v.sealers = sorted({wanted[k].keyholder for k in good})
    v.checks.append(f"seal verified: journal line {target.seq} (head {target.hash[:16]}) signed "
                    f"by {', '.join(v.sealers)}")


# ---- writing the record -----------------------------------------------------------------


def write_record(ws: Workspace, out: Path | None = None) -> list[Path]:
    """Write the transcript and the HTML report from the (checked) journal.

    Raises:
        WorkspaceError: the journal is broken.
    """
    from ceremony import journal as journal_mod
    events = journal_mod.read(ws.journal)
    paths = write_transcript(ws, events)
    target = out or ws.record / "report.html"
    atomic_write(target, report(ws.root).encode())
    return [*paths, target]


def _outputs(ws: Workspace) -> list[tuple[str, str]]:
    out = []
    for d in (ws.metadata, ws.keys, ws.out):
        if d.is_dir():
            for p in sorted(d.rglob("*")):
                if p.is_file() and not p.name.startswith("."):
                    out.append((p.relative_to(ws.root).as_posix(), sha256(p.read_bytes())))
    for name in ("transcript.json", "transcript.txt"):
        p = ws.record / name
        if p.is_file():
            out.append((f"record/{name}", sha256(p.read_bytes())))
    return out


def report(root: Path) -> str:
    """The printable HTML report of a ceremony, from its checked journal.

    Plan, participants, key fingerprints as hex and as PGP words (to read
    aloud), preflight sessions, thresholds reached, outputs with digests, the
    seal, the transcript, and boxes for witnesses to sign on paper.

    Raises:
        WorkspaceError: the journal is broken (a report of a broken journal would lie).
    """
    from ceremony import journal as journal_mod
    from ceremony.formats import tuf as tuf_format
    from ceremony.plan import format_duration, parse_plan
    from ceremony.words import pgp_words_text

    ws = Workspace(Path(root))
    ws.check()
    events = journal_mod.read(ws.journal)
    if not events:
        raise WorkspaceError(f"{ws.journal} is empty")
    init = events[0].data
    plan = parse_plan(ws.plan.read_text(encoding="utf-8"))
    verdict = check_record(ws.root, require_seal=False)
    e = html.escape

    def words(hexd: str) -> str:
        return e(pgp_words_text(bytes.fromhex(hexd)))

    def table(head: list[str], rows: Iterable[list[str]]) -> str:
        th = "".join(f"<th>{h}</th>" for h in head)
        body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
        return f"<table><tr>{th}</tr>{body}</table>"

    parts = [f"<h1>Key ceremony record: {e(plan.name)}</h1>"]
    if plan.rehearsal:
        parts.append('<p class="banner">REHEARSAL: throwaway tokens; not a live ceremony</p>')
    parts.append(table(["", ""], [
        ["ceremony id", f"<code>{e(str(init.get('ceremony_id')))}</code>"],
        ["format / repository", f"{e(plan.format)} / {e(plan.repository)}"],
        ["journal", f"{len(events)} lines, {e(events[0].time)} to {e(events[-1].time)} (UTC)"],
        ["journal head", f"<code>{e(events[-1].hash)}</code><br>{words(events[-1].hash)}"],
        ["tool", e(str(init.get("tool_version")))],
        ["verification", ("verified" if verdict.ok else "<b>FAILED</b>: "
                          + e("; ".join(verdict.problems)))],
    ]))

    parts.append("<h2>Plan</h2>")
    parts.append(f"<p>plan.toml sha256 <code>{e(init.get('plan_sha256', ''))}</code></p>")
    parts.append(table(["role", "threshold", "members", "expiry"], [
        ["root", f"{plan.root.threshold} of {len(plan.root.keyholders)}",
         e(", ".join(plan.root.keyholders)), format_duration(plan.root.expires)],
        *[[r.name, f"{r.threshold} of {len(r.key_paths)}", e(", ".join(r.key_paths)),
           format_duration(r.expires)] for r in plan.online]]))

    parts.append("<h2>Participants</h2>")
    keys = {ev.data["keyholder"]: ev.data for ev in events if ev.type == "key-generated"}
    parts.append(table(["name", "role", "token label", "token serial", "algorithm"], [
        [e(k.name), "root keyholder" if k.name in plan.root.keyholders else "keyholder",
         e(str(keys.get(k.name, {}).get("token_label") or k.token or "")),
         e(str(keys.get(k.name, {}).get("token_serial") or k.serial or "")), e(k.algorithm)]
        for k in plan.keyholders]))

    parts.append("<h2>Key fingerprints</h2><p>Read aloud and compare; the words are the "
                 "PGP word list over the whole key id.</p>")
    rows = [[e(n), f"<code>{e(d['keyid'])}</code>", words(d["keyid"])] for n, d in keys.items()]
    for role, ks in (init.get("online_keys") or {}).items():
        rows += [[f"{e(role)} (online)", f"<code>{e(k['keyid'])}</code>", words(k["keyid"])]
                 for k in ks]
    parts.append(table(["key", "key id", "words"], rows))

    parts.append("<h2>Where the root keys were born</h2>")
    att_rows = []
    for n, d in keys.items():
        if d.get("device") == "yubikey":
            rec = d.get("attestation") or {}
            vd, trust = rec.get("verdict") or {}, rec.get("trust") or {}
            src = "bundled Yubico roots" if trust.get("bundled") else \
                f"rehearsal roots {trust.get('name')} (not Yubico)"
            att_rows.append([e(n), f"YubiKey {e(str(d.get('token_serial')))}, slot 9c",
                             e(f"attested ({rec.get('mode')}): firmware {vd.get('firmware')}, PIN "
                               f"{vd.get('pin_policy')}, touch {vd.get('touch_policy')}; against "
                               f"{src}")])
        else:
            att_rows.append([e(n), f"token {e(str(d.get('token_label')))}", "no attestation "
                             "(PKCS#11 token)"])
    parts.append(table(["keyholder", "device", "attestation"], att_rows) if att_rows
                 else "<p>No root key was generated in this ceremony.</p>")

    w_rows = [[str(ev.seq), e(ev.data.get("witness", "")),
               ("enrolled a security key" if ev.type == "witness-enrolled" else
                f"signed off journal line {ev.data.get('seq')} "
                f"(head <code>{e(str(ev.data.get('head')))}</code>)")]
              for ev in events if ev.type in ("witness-enrolled", "witness-signed")]
    if plan.witnesses or w_rows:
        parts.append("<h2>Witnesses (FIDO2)</h2>")
        parts.append(f"<p>{plan.witnesses_required} sign-off(s) required before publish and "
                     f"seal; witnesses: {e(', '.join(plan.witnesses) or 'none listed')}.</p>")
        parts.append(table(["line", "witness", "what"], w_rows) if w_rows
                     else "<p>No witness has enrolled.</p>")

    parts.append("<h2>Preflight</h2>")
    pf_rows = []
    for ev in events:
        if ev.type == "preflight":
            d = ev.data
            findings = "<br>".join(f"{e(f['status'])}: {e(f['check'])}: {e(f['message'])}"
                                   for f in d.get("findings", []))
            pf_rows.append([str(ev.seq), e(d.get("clock", "")),
                            e(d.get("host", {}).get("hostname", "")),
                            "passed" if d.get("passed") else "<b>refused</b>", findings])
    parts.append(table(["line", "clock (UTC)", "host", "verdict", "findings"], pf_rows)
                 if pf_rows else "<p>No preflight recorded.</p>")

    parts.append("<h2>Roots and thresholds</h2>")
    for ev in events:
        if ev.type != "published":
            continue
        try:
            if _format(events) == "notary":
                from ceremony.formats.notary_record import describe_published
                lines = describe_published(ws, events[:ev.seq])
            else:
                md = load_published(ws, events[:ev.seq])
                prev = _previous_root(ws, events)
                st = tuf_format.status(md, prev.signed if prev else None)
                lines = [*tuf_format.describe_root(md.signed), *st.lines()]
        except (StateError, VerificationError) as err:
            lines = [f"cannot read: {err.message}"]
        parts.append(f"<h3>root v{ev.data['version']}</h3><p>sha256 "
                     f"<code>{e(ev.data['sha256'])}</code><br>{words(ev.data['sha256'])}</p>"
                     "<pre>" + e("\n".join(lines)) + "</pre>")

    parts.append("<h2>Outputs</h2>")
    parts.append(table(["file", "sha256"], [[e(n), f"<code>{d}</code>"] for n, d in
                                             _outputs(ws)]))

    parts.append("<h2>Seal</h2>")
    sealed = next((ev for ev in events if ev.type == SEALED), None)
    if sealed is None:
        parts.append("<p><b>Not sealed.</b></p>")
    else:
        d = sealed.data
        parts.append(f"<p>Journal line {d['seq']} (head <code>{e(d['head'])}</code>) signed by "
                     f"{e(', '.join(sorted({s['keyholder'] for s in d['signatures']})))}.<br>"
                     f"Head words: {words(d['head'])}</p>")

    parts.append("<h2>Transcript</h2>")
    parts.append(table(["line", "time (UTC)", "step", "who", "token", "what"], [
        [str(x.seq), e(x.time), e(x.step), e(x.actor), e(x.token or ""), e(x.summary)]
        for x in transcript(events)]))

    parts.append('<h2 class="newpage">Signatures</h2><p>By signing, each person states '
                 "that they watched the steps above and compared the fingerprints read aloud."
                 "</p>")
    boxes = [(k, "keyholder") for k in plan.root.keyholders] + \
            [("", "witness")] * 3 + [("", "auditor")]
    parts.append("".join(
        f'<div class="box"><div>Name: {e(n)}</div><div>Role: {r}</div>'
        '<div>Signature:</div><div>Date (UTC):</div></div>' for n, r in boxes))
    title = f"Key ceremony record: {e(plan.name)}"
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>"
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")


_CSS = """
body { font-family: sans-serif; font-size: 11pt; margin: 2em; }
code, pre { font-family: monospace; font-size: 9pt; word-break: break-all; }
table { border-collapse: collapse; width: 100%; margin-bottom: 1em; }
td, th { border: 1px solid #888; padding: 3px 6px; vertical-align: top; text-align: left; }
.banner { border: 3px solid #000; padding: .5em; font-weight: bold; text-align: center; }
.box { border: 1px solid #000; padding: .5em; margin: .5em 0; page-break-inside: avoid; }
.box div { height: 2em; border-bottom: 1px dotted #888; }
@media print { .newpage { page-break-before: always; } body { margin: 0; } }
"""
