"""One "next step" (``ceremony.next_step``): ``status`` (text and ``--json``), the TUI and the
printable script say the same thing at every point of a whole ceremony.

Each walk follows ``ceremony status``'s own advice from ``init`` to the seal (the command it
prints is the command run), and at every step checks that the TUI's decision and the
script's "next" marker agree with it. Where the TUI differs by design (it has the room type
an approval of the draft and the word "publish", both journaled), the test shows that this is
the only difference, journals the confirmation as the TUI would, and checks again.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ceremony import record
from ceremony.engine import Ceremony
from ceremony.next_step import (
    DRAFT_APPROVED,
    PUBLISH_CONFIRMED,
    Facts,
    Sitting,
    Stage,
    decide,
    facts_of,
    next_step as decide_for,
)
from ceremony.tui import flow
from tests.conftest import SoftHsm
from tests.engine.test_witness import WITNESSES, keys  # noqa: F401  (keys: the FIDO2 fixture)
from tests.support.helpers import TRIO, bootstrap_setup, cli, make_online_keys, online_key_paths, published_v1
from tests.support.notary_fixtures import offline_key_files
from tests.support.plans import notary_plan, plan_toml

S = Stage
ROW = re.compile(r"<tr class=next><td class=n>(\d+)<br>next</td><td><b>([^<]*)</b>")


def tui_sitting(c: Ceremony) -> flow.Session:
    """A TUI sitting that ran its preflight and, once enough witnesses enrolled, moved on."""
    enough = len(c.state.witnesses) >= c.plan.witnesses_required
    return flow.Session(preflight_passed=True, witnesses_enrolled=enough)


def faces(ws: Path, tmp: Path) -> dict[str, Any]:
    """The next step as ``status --json``, ``status``, the TUI and the script give it; asserts
    they agree and returns status's ``next_step``."""
    r = cli("status", ws, "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    nxt: dict[str, Any] = report["next_step"]
    stage = Stage(nxt["stage"])
    line = report["next"]
    assert line == nxt["command"] + (f" ({nxt['note']})" if nxt["note"] else "")
    assert f"next: {line}" in cli("status", ws).out.splitlines()

    c = Ceremony.open(ws)
    session = tui_sitting(c)
    tui = decide_for(c, session.sitting()).stage
    if tui is not stage:  # the typed confirmations only the TUI asks for, and nothing else
        digest = c.state.draft_digest
        if tui is S.DRAFT and stage in (S.SIGN, S.PUBLISH, S.PUBLISH_GATE):
            record.confirm(c, DRAFT_APPROVED, "approved", digest)
        elif tui is S.PUBLISH and stage is S.PUBLISH_GATE:
            record.confirm(c, PUBLISH_CONFIRMED, "typed 'publish'", digest)
        elif tui is S.PUBLISH_GATE and stage is S.PUBLISH:
            # "publish" typed and the sign-offs are in: the TUI's witness screen publishes ("p")
            assert facts_of(c).witnesses_met and facts_of(c).publish_confirmed
            return _script_agrees(ws, tmp, report)
        else:
            raise AssertionError(f"status says {stage}, the TUI {tui}")
        return faces(ws, tmp)
    assert flow.next_step(c, session) is flow.SCREEN_OF[stage]
    if stage in (S.ENROL, S.PUBLISH_GATE, S.SEAL_GATE):
        assert flow.witness_stage(c, session) == flow.WITNESS_STAGE[stage]
    else:
        assert flow.witness_stage(c, session) is None

    return _script_agrees(ws, tmp, report)


def _script_agrees(ws: Path, tmp: Path, report: dict[str, Any]) -> dict[str, Any]:
    """The printable script marks the step ``status`` names and says it in the same words."""
    nxt: dict[str, Any] = report["next_step"]
    stage, line = Stage(nxt["stage"]), report["next"]
    out = tmp / "script.html"
    assert cli("script", ws, "--out", out).code == 0
    page = html.unescape(out.read_text())
    marked = ROW.findall(page)
    if stage is S.DONE:
        assert marked == [] and "When printed: the ceremony was complete and sealed." in page
    else:
        assert len(marked) == 1, marked
        n, title = marked[0]
        assert f"When printed, the next step was step {n} ({title}): {line}" in page
        want = _title(stage, nxt["keyholder"])
        assert title == want or (stage is S.DRAFT and title.startswith(want)), (title, stage)
    return nxt


def _title(stage: Stage, keyholder: str | None) -> str:
    fixed = {S.PREFLIGHT: "Preflight: air gap, clock, tool digest, tokens",
             S.ENROL: "Witnesses enrol their security keys",
             S.PUBLISH_GATE: "Witnesses sign off before publish", S.PUBLISH: "Publish",
             S.EXPORT: "Carry the result out", S.SEAL_GATE: "Witnesses sign off before the seal",
             S.SEAL: "Seal the record"}
    if stage is S.KEYGEN:
        return f"Generate {keyholder}'s root key"
    if stage is S.SIGN:
        return f"{keyholder} signs"
    if stage is S.DRAFT:
        return "Draft root v"  # the version follows
    return fixed[stage]


def walk(hsm: SoftHsm, ws: Path, tmp: Path, plug: Callable[[str], None] | None = None,
         limit: int = 30) -> list[tuple[Stage, str | None]]:
    """Follow ``status``'s next command until the record is sealed; the stages seen, in order."""
    pin = ("--pin-file", hsm.pin_file)
    seen: list[tuple[Stage, str | None]] = []
    signed: list[str] = []
    sealed: set[str] = set()
    for _ in range(limit):
        nxt = faces(ws, tmp)
        stage, who = Stage(nxt["stage"]), nxt["keyholder"]
        seen.append((stage, who if isinstance(who, str) else None))
        if stage is S.DONE:
            return seen
        argv = str(nxt["command"]).split()
        assert argv[0] == "ceremony" and "WORKSPACE" in argv, argv
        args: list[str | Path] = [ws if a == "WORKSPACE" else a for a in argv[1:]]
        if stage is S.EXPORT:
            stick = tmp / f"stick-{len(seen)}"
            stick.mkdir()
            args = ["export", ws, "--usb", stick]
        elif stage is S.SEAL:  # the keyholders who signed, in turn, as status names them
            assert nxt["who"] == ", ".join(sorted(set(signed) - sealed)), (nxt, signed, sealed)
            assert nxt["waiting"] == "a seal from " + nxt["who"]
            args = [*args[:-1], str(nxt["who"]).split(", ")[0], *pin]
            sealed.add(str(args[-3]))
        elif stage in (S.KEYGEN, S.SIGN):
            args += pin
            if stage is S.SIGN:
                signed.append(str(who))
        elif stage in (S.ENROL, S.PUBLISH_GATE, S.SEAL_GATE):
            assert plug is not None
            plug(str(args[-1]))
        r = cli(*args)
        assert r.code == 0, (args, r.out, r.err)
    raise AssertionError(f"no seal after {limit} steps: {seen}")


def test_a_fresh_bootstrap_from_init_to_the_seal(hsm: SoftHsm, tmp_path: Path) -> None:
    s = bootstrap_setup(hsm, tmp_path, 3, 2)
    ws = tmp_path / "ws"
    assert cli("init", ws, "--plan", s.plan).code == 0
    assert walk(hsm, ws, tmp_path) == [
        (S.KEYGEN, "alice"), (S.KEYGEN, "bob"), (S.KEYGEN, "carol"), (S.DRAFT, None),
        (S.SIGN, "alice"), (S.SIGN, "bob"), (S.PUBLISH, None), (S.EXPORT, None),
        (S.SEAL, None), (S.SEAL, None), (S.DONE, None)]
    # Sealed: every face says so, and the TUI shows its last screen.
    c = Ceremony.open(ws)
    assert flow.next_step(c, flow.Session()) is flow.Step.DONE
    assert "next: nothing: the record is sealed (ceremony record verify WORKSPACE to check it)" \
        in cli("status", ws).out


def test_a_rotation_keeps_keys_and_waits_for_the_old_threshold(hsm: SoftHsm, tmp_path: Path) -> None:
    repo = published_v1(hsm, tmp_path)
    plan = tmp_path / "p2.toml"
    plan.write_text(plan_toml("v2", TRIO, list(TRIO), 2, online_key_paths(tmp_path / "a")))
    ws = tmp_path / "ws2"
    assert cli("init", ws, "--plan", plan, "--previous", repo).code == 0
    assert walk(hsm, ws, tmp_path) == [
        (S.DRAFT, None), (S.SIGN, "alice"), (S.SIGN, "bob"), (S.PUBLISH, None), (S.EXPORT, None),
        (S.SEAL, None), (S.SEAL, None), (S.DONE, None)]


def test_an_emergency_replaces_a_compromised_key(hsm: SoftHsm, tmp_path: Path) -> None:
    repo = published_v1(hsm, tmp_path)
    old_alice = json.loads((tmp_path / "ws1" / "keys" / "root-alice.json").read_text())["keyid"]
    plan = tmp_path / "p2.toml"
    plan.write_text(plan_toml("v2", TRIO, list(TRIO), 2, online_key_paths(tmp_path / "a"),
                              extra=f'compromised_keys = ["{old_alice}"]'))
    ws = tmp_path / "ws2"
    assert cli("init", ws, "--plan", plan, "--previous", repo).code == 0
    # alice's compromised key is never kept: she makes a new one before the draft; it cannot
    # sign for the old root, so the old threshold waits for bob and carol.
    assert walk(hsm, ws, tmp_path) == [
        (S.KEYGEN, "alice"), (S.DRAFT, None), (S.SIGN, "bob"), (S.SIGN, "carol"), (S.PUBLISH, None),
        (S.EXPORT, None), (S.SEAL, None), (S.SEAL, None), (S.DONE, None)]


def test_a_notary_root_from_init_to_the_seal(hsm: SoftHsm, tmp_path: Path) -> None:
    hsm.make("tok-alice", "tok-bob")
    server, targets = offline_key_files(tmp_path / "keys", "example.com/next/app")
    plan = tmp_path / "notary.toml"
    plan.write_text(notary_plan("n", "example.com/next/app", {"alice": "tok-alice", "bob": "tok-bob"},
                                ["alice", "bob"], 2, targets, server))
    ws = tmp_path / "ws"
    assert cli("init", ws, "--plan", plan).code == 0
    assert walk(hsm, ws, tmp_path) == [
        (S.KEYGEN, "alice"), (S.KEYGEN, "bob"), (S.DRAFT, None), (S.SIGN, "alice"),
        (S.SIGN, "bob"), (S.PUBLISH, None), (S.EXPORT, None), (S.SEAL, None), (S.SEAL, None),
        (S.DONE, None)]


def test_witnesses_enrol_and_gate_publish_and_seal(hsm: SoftHsm, tmp_path: Path,
                                                  keys) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    hsm.make("tok-alice", "tok-bob")
    make_online_keys(hsm, tmp_path / "plan" / "online")
    online = {r: [f"online/{r}.pub.pem"] for r in ("targets", "snapshot", "timestamp")}
    plan = tmp_path / "plan" / "plan.toml"
    plan.write_text(plan_toml("witnessed", {"alice": "tok-alice", "bob": "tok-bob"}, ["alice", "bob"],
                              2, online, witnesses_required=2, witnesses=WITNESSES))
    ws = tmp_path / "ws"
    assert cli("init", ws, "--plan", plan).code == 0
    assert walk(hsm, ws, tmp_path, keys) == [
        (S.ENROL, None), (S.ENROL, None), (S.KEYGEN, "alice"), (S.KEYGEN, "bob"), (S.DRAFT, None),
        (S.SIGN, "alice"), (S.SIGN, "bob"), (S.PUBLISH_GATE, None), (S.PUBLISH_GATE, None),
        (S.PUBLISH, None), (S.EXPORT, None), (S.SEAL_GATE, None), (S.SEAL_GATE, None),
        (S.SEAL, None), (S.SEAL, None), (S.DONE, None)]


def test_a_live_plan_starts_with_the_preflight_everywhere(hsm: SoftHsm, tmp_path: Path) -> None:
    make_online_keys(hsm, tmp_path / "a", label="online-a")
    plan = tmp_path / "p.toml"
    plan.write_text(plan_toml("live", {"alice": "tok-alice"}, ["alice"], 1,
                              online_key_paths(tmp_path / "a"), rehearsal=False))
    ws = tmp_path / "ws"
    assert cli("init", ws, "--plan", plan).code == 0
    nxt = faces(ws, tmp_path)
    assert (nxt["stage"], nxt["command"], nxt["note"]) == (
        "preflight", "ceremony preflight WORKSPACE", "a live ceremony's token steps need it")
    # A TUI sitting always begins with its own preflight, a rehearsal's too.
    c = Ceremony.open(ws)
    assert flow.next_step(c, flow.Session()) is flow.Step.PREFLIGHT


# ---- the pure decision -------------------------------------------------------------------------


BASE = Facts(rehearsal=True, sealed=False, preflight_passed=False, keys_needed=(),
             draft_version=1, draft_published=False, draft_approved=True, publish_confirmed=False,
             thresholds_met=False, unsigned=("bob", "carol"), exported=False, seal_started=False,
             tokens=(("bob", "label tok-bob"),))


@pytest.mark.parametrize(("change", "sitting", "expected"), [
    ({}, None, ("sign", "ceremony sign WORKSPACE --keyholder bob", "bob", "label tok-bob")),
    ({"rehearsal": False}, None, ("preflight", "ceremony preflight WORKSPACE", "", "")),
    ({"thresholds_met": True, "unsigned": ()}, None, ("publish", "ceremony publish WORKSPACE", "", "")),
    ({"unsigned": ()}, None, ("sign", "sign", "", "")),
    ({"draft_approved": False}, Sitting(preflight_passed=True),
     ("draft", "ceremony status WORKSPACE", "", "")),
    ({"draft_approved": False}, None, ("sign", "ceremony sign WORKSPACE --keyholder bob", "bob", "label tok-bob")),
    ({"draft_published": True}, None, ("export", "ceremony export WORKSPACE --usb DIR (or --qr DIR)", "", "")),
    ({"draft_published": True}, Sitting(preflight_passed=True, export_done=True),
     ("seal", "ceremony seal WORKSPACE --keyholder NAME", "", "")),
    ({"draft_published": True, "seal_started": True}, None,
     ("seal", "ceremony seal WORKSPACE --keyholder NAME", "", "")),
    ({"sealed": True}, Sitting(), ("done", "nothing: the record is sealed", "", "")),
    ({}, Sitting(), ("preflight", "ceremony preflight WORKSPACE", "", "")),
    ({"keys_needed": ("carol",), "draft_version": None}, None,
     ("keygen", "ceremony keygen WORKSPACE --keyholder carol", "carol", "")),
])
def test_the_decision_is_a_function_of_the_facts(change: dict[str, object], sitting: Sitting | None,
                                                 expected: tuple[str, str, str, str]) -> None:
    step = decide(Facts(**{**BASE.__dict__, **change}), sitting)  # type: ignore[arg-type]
    assert (step.stage.value, step.command, step.keyholder or "", step.token) == expected


WITNESSED = Facts(**{**BASE.__dict__, "witnesses": ("victor", "wendy"), "witnesses_required": 1,
                     "enrolled": ("wendy",), "witnesses_met": False,
                     "witnesses_waiting": ("victor", "wendy")})  # type: ignore[arg-type]


def test_witness_gates_from_the_cli_and_from_a_tui_sitting() -> None:
    tui = Sitting(preflight_passed=True)
    # Enrolment: the TUI asks until everyone enrolled or the room moves on; the CLI while too
    # few enrolled for the sign-offs the plan needs.
    assert decide(WITNESSED, tui).command == "ceremony witness enroll WORKSPACE --name victor"
    assert decide(WITNESSED, Sitting(True, False, True)).stage is S.SIGN
    assert decide(WITNESSED).stage is S.SIGN
    met = Facts(**{**WITNESSED.__dict__, "thresholds_met": True, "unsigned": ()})  # type: ignore[arg-type]
    gate = decide(met)
    assert (gate.stage, gate.line(), gate.waiting) == (
        S.PUBLISH_GATE, "ceremony witness enroll WORKSPACE --name victor (publish needs 1 witness "
        "sign-off)", "a sign-off from victor, wendy")
    # The TUI first has "publish" typed (journaled), then the witnesses sign off after it.
    assert decide(met, Sitting(True, False, True)).stage is S.PUBLISH
    confirmed = Facts(**{**met.__dict__, "publish_confirmed": True})  # type: ignore[arg-type]
    assert decide(confirmed, Sitting(True, False, True)).stage is S.PUBLISH_GATE
    done = Facts(**{**met.__dict__, "witnesses_met": True, "witnesses_waiting": ("victor",)})  # type: ignore[arg-type]
    assert decide(done).stage is S.PUBLISH
    published = Facts(**{**done.__dict__, "draft_published": True, "exported": True,
                         "witnesses_met": False})  # type: ignore[arg-type]
    assert decide(published).line() == ("ceremony witness enroll WORKSPACE --name victor "
                                         "(seal needs 1 witness sign-off)")


def test_facts_are_read_without_writing(hsm: SoftHsm, tmp_path: Path) -> None:
    s = bootstrap_setup(hsm, tmp_path, 2, 1)
    ws = tmp_path / "ws"
    assert cli("init", ws, "--plan", s.plan).code == 0
    before = (ws / "journal.jsonl").read_bytes()
    f = facts_of(Ceremony.open(ws))
    assert (f.keys_needed, f.draft_version, f.sealed) == (("alice", "bob"), None, False)
    assert (ws / "journal.jsonl").read_bytes() == before
