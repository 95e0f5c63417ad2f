"""The printable ceremony script: what the room reads aloud, generated from the plan.

Numbered steps with the exact command, who acts, which token to bring, the
expected fingerprints as words (once keys exist), and boxes for initials and
times. The plan's digest is printed on every page, so a page from another
plan's script cannot slip in. The steps follow the engine's order, so the
script and the tool cannot disagree about what comes next.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ceremony.fingerprint import fingerprint_words
from ceremony.next_step import NextStep, Stage, next_step, token_text

if TYPE_CHECKING:  # types only: the engine is loaded by whoever opened the ceremony
    from ceremony.plan import OfflineRole
    from ceremony.session import Session


@dataclass(frozen=True)
class Step:
    """One line of the script."""

    title: str
    who: str
    command: str
    detail: str = ""
    stage: str = ""  # the ceremony.next_step.Stage this line is ("" for none: init, checks)
    keyholder: str = ""  # whose keygen or signature this line is


def steps(c: Session) -> list[Step]:
    """The ceremony's steps for workspace ``c`` (a :class:`ceremony.engine.Ceremony`)."""
    plan, st = c.plan, c.state
    ws = "WORKSPACE"
    prev = st.init.get("previous")
    init = f"ceremony init {ws} --plan PLAN.toml" + (" --previous METADATA_DIR" if prev else "")
    out = [Step("Create the workspace from the plan", "administrator", init,
                f"plan sha256 {st.init['plan_sha256']}; ceremony id {st.init['ceremony_id']}"),
           Step("Check the plan", "administrator, witnesses", f"ceremony status {ws}",
                f"plan sha256 {st.init['plan_sha256']} matches the copy on paper")]
    if not plan.rehearsal:
        out.append(Step("Preflight: air gap, clock, tool digest, tokens", "administrator, witnesses",
                        f"ceremony preflight {ws}",
                        "must pass before any key is generated or any signature made; "
                        "every token step re-checks the network at the moment it runs",
                        Stage.PREFLIGHT.value))
    if plan.witnesses:
        out.append(Step("Witnesses enrol their security keys", ", ".join(plan.witnesses),
                        f"ceremony witness enroll {ws} --name NAME",
                        f"{plan.witnesses_required} sign-off(s) will be needed before publish and seal",
                        Stage.ENROL.value))
    if prev:
        out.append(Step("Check the current root", "administrator", f"ceremony status {ws}",
                        f"continuing root v{prev['version']} (sha256 {prev['sha256'][:16]}...)"))
    for name in plan.signers:
        holder = plan.keyholder(name)
        token = token_text(holder)
        rec = st.keys.get(name)
        if c.needs_key(name) or rec is not None:
            detail = f"token {token}; {holder.algorithm}"
            if rec is not None:
                detail += f"; expected fingerprint: {fingerprint_words(rec.keyid)}"
            else:
                detail += "; fingerprint read aloud: ______________________________"
            kind = "root key" if name in plan.root.keyholders else "key"
            out.append(Step(f"Generate {name}'s {kind}", name,
                            f"ceremony keygen {ws} --keyholder {name}", detail,
                            Stage.KEYGEN.value, name))
        else:
            out.append(Step(f"{name} keeps their current key", name, "(no command)",
                            f"token {token}"))
    version = (prev["version"] + 1) if prev else 1
    out.append(Step(f"Draft root v{version}", "administrator, everyone reviews",
                    f"ceremony draft {ws}",
                    f"root {plan.root.threshold} of {len(plan.root.keyholders)}; "
                    + "".join(f"{_role_words(r)}; " for r in plan.offline)
                    + "every change read aloud; expiry as an absolute UTC date", Stage.DRAFT.value))
    needed = (f"{plan.root.threshold} of {len(plan.root.keyholders)}"
              + (" and the previous root's threshold" if prev else ""))
    for r in (r for r in plan.offline if r.signed_here):
        needed += f", {r.name} {r.threshold} of {len(r.keyholders)}"
    for name in plan.root.keyholders if not plan.offline else plan.signers:
        roles = [r.name for r in plan.offline if name in r.keyholders]
        signs = f"signs {', '.join((['root'] if name in plan.root.keyholders else []) + roles)}; " \
            if roles else ""
        out.append(Step(f"{name} signs", name, f"ceremony sign {ws} --keyholder {name}",
                        f"{signs}only until status shows every threshold met ({needed})",
                        Stage.SIGN.value, name))
    gate = ([Step("Witnesses sign off before publish", ", ".join(plan.witnesses),
                  f"ceremony witness sign {ws} --name NAME",
                  f"{plan.witnesses_required} sign-off(s) over the current journal head",
                  Stage.PUBLISH_GATE.value)]
            if plan.witnesses_required else [])
    out += gate
    out.append(Step("Publish", "administrator", f"ceremony publish {ws}",
                    c.format.script_publish(version),
                    Stage.PUBLISH.value))
    out.append(Step("Verify", "auditor", *c.format.script_verify(str(ws), bool(prev))))  # x509: openssl's
    out.append(Step("Carry the result out", "administrator, witnesses",
                    f"ceremony export {ws} --usb DIR (or --qr DIR)",
                    "bundle digest read aloud as words", Stage.EXPORT.value))
    if plan.witnesses_required:
        out.append(Step("Witnesses sign off before the seal", ", ".join(plan.witnesses),
                        f"ceremony witness sign {ws} --name NAME",
                        f"{plan.witnesses_required} sign-off(s) over the current journal head",
                        Stage.SEAL_GATE.value))
    out.append(Step("Seal the record", "each keyholder who signed",
                    f"ceremony seal {ws} --keyholder NAME",
                    "the journal head signed with the root keys; then ceremony record report",
                    Stage.SEAL.value))
    return out


def _role_words(role: OfflineRole) -> str:
    """An offline role in the draft step's words: its threshold and what it may sign for."""
    scope = "" if not role.delegated else (
        f" for {', '.join(role.paths)}" if role.paths is not None
        else f" for hash prefixes {', '.join(role.path_hash_prefixes or ())}")
    term = ", terminating" if role.terminating else ""
    held = ", keys held elsewhere" if role.key_paths else ""
    return (f"{'delegated ' if role.delegated else ''}{role.name} {role.threshold} of "
            f"{len(role.keyholders or role.key_paths)}{scope}{term}{held}, "
            f"{len(role.targets)} target file(s)")


def next_index(lines: list[Step], step: NextStep) -> int | None:
    """Which line of the script (0-based) is the ceremony's next step, if the script has one.

    A signature from a previous root's keyholder who left the plan has no line of its own,
    nor has a sealed ceremony's "nothing".
    """
    for i, line in enumerate(lines):
        if line.stage == step.stage.value and (step.keyholder or "") == line.keyholder:
            return i
    return None


def next_sentence(lines: list[Step], step: NextStep) -> str:
    """Where the ceremony stood when the script was printed, as the room reads it."""
    if step.stage is Stage.DONE:
        return "When printed: the ceremony was complete and sealed."
    i = next_index(lines, step)
    at = f"step {i + 1} ({lines[i].title}): " if i is not None else ""
    return f"When printed, the next step was {at}{step.line()}"


def render_html(c: Session) -> str:
    """The whole script as one printable HTML page, the next step marked."""
    plan, st = c.plan, c.state
    digest = st.init["plan_sha256"]
    esc = html.escape
    lines = steps(c)
    upcoming = next_step(c)
    mark = next_index(lines, upcoming)
    rows = []
    for i, s in enumerate(lines, start=1):
        nxt = i - 1 == mark
        rows.append(
            f"<tr{' class=next' if nxt else ''}><td class=n>{i}{'<br>next' if nxt else ''}</td>"
            f"<td><b>{esc(s.title)}</b><br><i>{esc(s.who)}</i>"
            f"<pre>{esc(s.command)}</pre>{esc(s.detail)}</td>"
            "<td class=box>time (UTC)</td><td class=box>initials</td><td class=box>witness</td></tr>")
    title = f"Ceremony script: {plan.name}"
    rehearsal = "<p class=warn>REHEARSAL</p>" if plan.rehearsal else ""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
body {{ font-family: sans-serif; font-size: 11pt; margin: 2cm 1.5cm; }}
header {{ position: fixed; top: 0; left: 0; right: 0; font-size: 8pt; text-align: center; }}
table {{ border-collapse: collapse; width: 100%; }}
td {{ border: 1px solid #000; padding: 4pt; vertical-align: top; }}
td.n {{ width: 2em; text-align: center; font-weight: bold; }}
td.box {{ width: 5em; height: 3em; font-size: 7pt; color: #666; }}
tr {{ page-break-inside: avoid; }}
pre {{ margin: 2pt 0; white-space: pre-wrap; }}
.warn {{ font-weight: bold; font-size: 14pt; }}
tr.next td {{ border-width: 3px; }}
</style></head><body>
<header>{esc(plan.name)} &middot; plan sha256 {digest} &middot; {esc(fingerprint_words(digest))}</header>
<h1>{esc(title)}</h1>{rehearsal}
<p>Format {esc(plan.format)}, repository <b>{esc(plan.repository)}</b>.
Root: {plan.root.threshold} of {len(plan.root.keyholders)} ({esc(', '.join(plan.root.keyholders))}).
Ceremony id {esc(st.init['ceremony_id'])}.</p>
<p>Plan digest (read aloud): <b>{esc(fingerprint_words(digest))}</b></p>
<p class=next>{esc(next_sentence(lines, upcoming))}</p>
<table>{''.join(rows)}</table>
<p>Signatures of the ceremony administrator and witnesses:</p>
<table><tr><td class=box>administrator</td><td class=box>witness 1</td><td class=box>witness 2</td></tr></table>
</body></html>
"""
