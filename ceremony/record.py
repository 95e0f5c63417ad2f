"""The ceremony's record: operator confirmations, the transcript, the printable report.

Everything here is derived from the journal, which is already hash-chained and
fsynced; the record adds what an auditor needs later:

* a **transcript** (``record/transcript.json`` and ``.txt``): every step, who
  acted, with which token (serial), the digests of inputs and outputs, and the
  operator's confirmations;
* the **report** (``record/report.html``), printable, with PGP words to read aloud;
* the **seal** (:mod:`ceremony.seal`) and the offline check of all of it
  (:mod:`ceremony.record_check`).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ceremony import journal as journal_mod
from ceremony.errors import StateError, VerificationError, WorkspaceError
from ceremony.events import (
    Exported,
    KeyGenerated,
    Preflight,
    Published,
    Sealed,
    WitnessEnrolled,
    WitnessSigned,
    parse,
)
from ceremony.fingerprint import fingerprint_words
from ceremony.formats import registry
from ceremony.plan import format_duration, parse_plan
from ceremony.seal import format_of
from ceremony.session import sha256
from ceremony.steps.confirm import (  # the step and its question, where callers have found them
    confirm as confirm,
    confirmed as confirmed,
)
from ceremony.words import pgp_words_text
from ceremony.workspace import Workspace, atomic_write

if TYPE_CHECKING:
    from ceremony.formats.protocol import FormatClass
    from ceremony.journal import Event

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
    return fingerprint_words(hexdigest, n)


def entry_for(e: Event) -> Entry:
    """Describe one journal event for people (pure): what :mod:`ceremony.events` says of it.

    Raises:
        WorkspaceError: the line is not a well-formed event.
    """
    ev = parse(e)
    return Entry(e.seq, e.time, e.type, ev.actor(), ev.token(), ev.sentence(_words), ev.digests())


def transcript(events: Iterable[Event]) -> list[Entry]:
    """The transcript of a journal (pure)."""
    return [entry_for(e) for e in events]


def transcript_document(events: list[Event]) -> dict[str, Any]:
    """``record/transcript.json``'s content, tied to the journal position it covers."""
    init = events[0].data if events else {}
    return {"ceremony_id": init.get("ceremony_id"), "journal_seq": len(events),
            "journal_head": events[-1].hash if events else "0" * 64,
            "entries": [asdict(x) for x in transcript(events)]}


def transcript_files(events: list[Event]) -> dict[str, bytes]:
    """The bytes of ``transcript.json`` and ``transcript.txt`` for a journal (pure): what
    :func:`write_transcript` writes and ``record verify`` regenerates to compare."""
    doc = transcript_document(events)
    text = [(f"transcript of ceremony {doc['ceremony_id']}, journal line {doc['journal_seq']}, "
             f"head {doc['journal_head']}")]
    text += [entry_for(e).line() for e in events]
    return {"transcript.json": (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode(),
            "transcript.txt": ("\n".join(text) + "\n").encode()}


def write_transcript(ws: Workspace, events: list[Event]) -> list[Path]:
    """Write ``record/transcript.json`` and ``record/transcript.txt`` atomically."""
    paths = []
    for name, data in transcript_files(events).items():
        atomic_write(ws.record / name, data)
        paths.append(ws.record / name)
    return paths


# ---- writing the record -----------------------------------------------------------------


def journaled_key_file(events: list[Event], d: dict[str, Any]) -> bytes:
    """The bytes of ``keys/root-NAME.json`` as the ``key-generated`` event ``d`` gives them."""
    return _format(events).record_key_file(d)


def _format(events: list[Event]) -> FormatClass:
    """The journal's format (the default format's views for one this tool does not know)."""
    return format_of(events) or registry.format_class(registry.DEFAULT)


def _outputs(ws: Workspace, events: list[Event]) -> list[tuple[str, str]]:
    """The ceremony's outputs and their digests, as the journal records them.

    Taken from the journal (key files rebuilt from their events, published roots and exports
    by their journaled digests, the transcript as regenerated), not from whatever the folders
    hold now: the report is then a function of the journal, which ``record verify`` regenerates
    and compares, and the files themselves are checked against the same digests there. A file
    written after the seal (an emergency plan in ``out/``) changes neither.
    """
    out: list[tuple[str, str]] = []
    init = events[0].data if events else {}
    for role, entries in sorted((init.get("online_keys") or {}).items()):
        for entry in entries:
            data = json.dumps(entry, indent=1, sort_keys=True).encode()
            out.append((f"keys/online-{role}-{str(entry.get('keyid'))[:16]}.json", sha256(data)))
    for e in events:
        match parse(e):
            case KeyGenerated(keyholder=holder):
                out.append((f"keys/root-{holder}.json", sha256(journaled_key_file(events, e.data))))
            case Published(files=files, sha256=digest, outputs=outputs):
                for name in files:
                    if name.endswith("root.json"):
                        out.append((f"metadata/{name}", digest))
                    elif outputs and name in outputs:  # journaled at publish (this release on)
                        out.append((f"metadata/{name}", outputs[name]))
                    else:  # a sidecar an older release published: its digest as the file has it
                        p = ws.metadata / name
                        out.append((f"metadata/{name}",
                                    sha256(p.read_bytes()) if p.is_file() else "(missing)"))
            case Exported() as x:
                out.append((f"{x.kind} bundle, {x.transport} to {x.target} (journal line {e.seq})",
                            x.bundle_sha256))
            case _:
                pass
    for name, data in transcript_files(events).items():
        out.append((f"record/{name}", sha256(data)))
    return out


#: The report's own note of the journal position it was made from (``record verify`` reads it).
REPORT_META = "ceremony-journal"


class Verdict(Protocol):
    """What the report shows of the offline check (a ``record_check.RecordVerdict``)."""

    @property
    def ok(self) -> bool: ...

    problems: list[str]


def report(root: Path, verdict: Verdict) -> str:
    """The printable HTML report of a ceremony, from its checked journal.

    Plan, participants, key fingerprints as hex and as PGP words (to read
    aloud), preflight sessions, thresholds reached, outputs with digests, the
    seal, the transcript, and boxes for witnesses to sign on paper.

    ``verdict`` is the offline check the report shows (:func:`ceremony.record_check.check_record`
    with ``check_report=False``: ``record verify`` regenerates the report to compare it with the
    file, so the report cannot judge itself). It is passed in, not computed here, because the
    check regenerates this report: :mod:`ceremony.record_write` puts the two together.

    Raises:
        WorkspaceError: the journal is broken (a report of a broken journal would lie).
    """

    ws = Workspace(Path(root))
    ws.check()
    events = journal_mod.read(ws.journal)
    if not events:
        raise WorkspaceError(f"{ws.journal} is empty")
    typed = [(ev, parse(ev)) for ev in events]
    init = events[0].data
    plan = parse_plan(ws.plan.read_text(encoding="utf-8"))
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
           format_duration(r.expires)] for r in plan.online],
        # the roles signed offline beside root (targets, delegations), by keyholder
        *[[e(r.name if not r.delegated else f"{r.name} (delegated: "
             + ", ".join(r.paths or r.path_hash_prefixes or ()) + ")"),
           f"{r.threshold} of {len(r.keyholders or r.key_paths)}",
           e(", ".join(r.keyholders or r.key_paths)), format_duration(r.expires)]
          for r in plan.offline]]))
    if plan.out_of_band or plan.compromised_keys:  # an emergency rotation: say what it answered
        parts.append('<p class="banner">EMERGENCY ROTATION'
                     + ("; OUT-OF-BAND ROOT: clients are given the new root directly" if plan.out_of_band else "")
                     + "</p>")
    if plan.compromised_keys:
        parts.append("<p>Keys declared compromised (never used to sign, never kept):</p>")
        parts.append(table(["key id", "words"], [[f"<code>{k}</code>", words(k)] for k in plan.compromised_keys]))

    parts.append("<h2>Participants</h2>")
    keys = {t.keyholder: t for _, t in typed if isinstance(t, KeyGenerated)}
    made = {name: (t.token_label, t.token_serial) for name, t in keys.items()}
    parts.append(table(["name", "role", "token label", "token serial", "algorithm"], [
        [e(k.name), "root keyholder" if k.name in plan.root.keyholders else
         ", ".join(r.name for r in plan.offline if k.name in r.keyholders) + " keyholder"
         if k.name in plan.signers else "keyholder",
         e(str(made.get(k.name, (None, None))[0] or k.token or "")),
         e(str(made.get(k.name, (None, None))[1] or k.serial or "")), e(k.algorithm)]
        for k in plan.keyholders]))

    parts.append("<h2>Key fingerprints</h2><p>Read aloud and compare; the words are the "
                 "PGP word list over the whole key id.</p>")
    rows = [[e(n), f"<code>{e(d.keyid)}</code>", words(d.keyid)] for n, d in keys.items()]
    for role, ks in (init.get("online_keys") or {}).items():
        rows += [[f"{e(role)} (online)", f"<code>{e(k['keyid'])}</code>", words(k["keyid"])]
                 for k in ks]
    parts.append(table(["key", "key id", "words"], rows))

    parts.append("<h2>Where the root keys were born</h2>")
    att_rows = []
    for n, d in keys.items():
        if d.device == "yubikey":
            rec = d.attestation or {}
            vd, trust = rec.get("verdict") or {}, rec.get("trust") or {}
            src = "bundled Yubico roots" if trust.get("bundled") else \
                f"rehearsal roots {trust.get('name')} (not Yubico)"
            att_rows.append([e(n), f"YubiKey {e(str(d.token_serial))}, slot 9c",
                             e(f"attested ({rec.get('mode')}): firmware {vd.get('firmware')}, PIN "
                               f"{vd.get('pin_policy')}, touch {vd.get('touch_policy')}; against "
                               f"{src}")])
        else:
            att_rows.append([e(n), f"token {e(str(d.token_label))}", "no attestation "
                             "(PKCS#11 token)"])
    parts.append(table(["keyholder", "device", "attestation"], att_rows) if att_rows
                 else "<p>No root key was generated in this ceremony.</p>")

    w_rows = [[str(ev.seq), e(t.witness),
               ("enrolled a security key" if isinstance(t, WitnessEnrolled) else
                f"signed off journal line {t.seq} (head <code>{e(t.head)}</code>)")]
              for ev, t in typed if isinstance(t, (WitnessEnrolled, WitnessSigned))]
    if plan.witnesses or w_rows:
        parts.append("<h2>Witnesses (FIDO2)</h2>")
        parts.append(f"<p>{plan.witnesses_required} sign-off(s) required before publish and "
                     f"seal; witnesses: {e(', '.join(plan.witnesses) or 'none listed')}.</p>")
        parts.append(table(["line", "witness", "what"], w_rows) if w_rows
                     else "<p>No witness has enrolled.</p>")

    parts.append("<h2>Preflight</h2>")
    pf_rows = []
    for ev, t in typed:
        if isinstance(t, Preflight):
            findings = "<br>".join(f"{e(f['status'])}: {e(f['check'])}: {e(f['message'])}"
                                   for f in t.findings)
            pf_rows.append([str(ev.seq), e(t.clock), e(t.host.get("hostname", "")),
                            "passed" if t.passed else "<b>refused</b>", findings])
    parts.append(table(["line", "clock (UTC)", "host", "verdict", "findings"], pf_rows)
                 if pf_rows else "<p>No preflight recorded.</p>")

    parts.append("<h2>Roots and thresholds</h2>")
    for ev, pub in typed:
        if not isinstance(pub, Published):
            continue
        try:
            lines = _format(events).record_describe_published(ws, events[:ev.seq])
        except (StateError, VerificationError) as err:
            lines = [f"cannot read: {err.message}"]
        parts.append(f"<h3>root v{pub.version}</h3><p>sha256 "
                     f"<code>{e(pub.sha256)}</code><br>{words(pub.sha256)}</p>"
                     "<pre>" + e("\n".join(lines)) + "</pre>")

    parts.append("<h2>Outputs</h2>")
    parts.append(table(["file", "sha256"], [[e(n), f"<code>{d}</code>"] for n, d in
                                             _outputs(ws, events)]))

    parts.append("<h2>Seal</h2>")
    sealed = next((t for _, t in typed if isinstance(t, Sealed)), None)
    if sealed is None:
        parts.append("<p><b>Not sealed.</b></p>")
    else:
        parts.append(f"<p>Journal line {sealed.seq} (head <code>{e(sealed.head)}</code>) signed by "
                     f"{e(', '.join(sorted({s['keyholder'] for s in sealed.signatures})))}.<br>"
                     f"Head words: {words(sealed.head)}</p>")

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
    meta = f'<meta name="{REPORT_META}" content="{len(events)} {events[-1].hash}">'
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">{meta}<title>{title}</title>"
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
