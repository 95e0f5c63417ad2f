"""The TUI driven headless with Textual's Pilot, against real SoftHSM tokens.

Keys are pressed as an operator would; what is checked is what the journal,
the tokens and the record say afterwards, plus what the screen shows.
"""

from __future__ import annotations

import asyncio
import functools
import html
import re
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from pkcs11 import ObjectClass
from textual.pilot import Pilot
from textual.widgets import Input

from ceremony import record, record_check
from ceremony.engine import Ceremony
from ceremony.steps import seal as steps_seal
from ceremony.tui.app import CeremonyApp, make_app
from ceremony.tui.flow import DRAFT_APPROVED
from ceremony.tui.screens.confirm import ConfirmScreen
from ceremony.tui.screens.done import DoneScreen
from ceremony.tui.screens.draft import DraftScreen
from ceremony.tui.screens.export import ExportScreen
from ceremony.tui.screens.fatal import FatalScreen
from ceremony.tui.screens.keygen import KeygenScreen
from ceremony.tui.screens.pin import PinScreen
from ceremony.tui.screens.plan import PlanScreen
from ceremony.tui.screens.preflight import PreflightScreen
from ceremony.tui.screens.seal import SealScreen
from ceremony.tui.screens.sign import SignScreen
from ceremony.tui.screens.transfer import TransferScreen
from tests.conftest import PIN, SoftHsm
from tests.support.helpers import bootstrap_setup, cli, run_steps
from tests.support.machines import fake_machine
from tests.support.plans import plan_toml

SIZE = (80, 24)


def run_async(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async Pilot test with asyncio (no pytest plugin needed)."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))
    return wrapper


class Driver:
    """Waits for screens and workers the way a person waits for the screen to change."""

    def __init__(self, app: CeremonyApp, pilot: Pilot[Any]) -> None:
        self.app = app
        self.pilot = pilot
        self.shots: list[str] = []

    async def until(self, cond: Callable[[], bool], what: str, timeout: float = 20) -> None:
        start = time.monotonic()
        while not cond():
            if time.monotonic() - start > timeout:
                raise AssertionError(f"timed out waiting for {what}; on {self.screen_name}: "
                                     f"{self.text()[:2000]}")
            await self.pilot.pause(0.02)

    @property
    def screen_name(self) -> str:
        return type(self.app.screen).__name__

    async def at(self, cls: type, idle: bool = True) -> Any:
        def there() -> bool:
            return isinstance(self.app.screen, cls) and not (idle and self.app.busy)
        await self.until(there, cls.__name__)
        await self.pilot.pause()
        # A screen may start a token scan when it mounts: wait for it, as a person would.
        await self.until(there, cls.__name__)
        return self.app.screen

    def text(self) -> str:
        """Everything on screen as plain text, line by line (kept, to look for PINs later)."""
        shot = screen_text(self.app.export_screenshot())
        self.shots.append(shot)
        return shot

    def banner(self) -> str:
        return str(self.app.screen.query_one("#banner").render())

    async def press(self, *keys: str) -> None:
        await self.pilot.press(*keys)

    async def pin(self, pin: str = PIN, typed: bool = False) -> None:
        screen = await self.at(PinScreen, idle=False)
        field = screen.query_one("#pin", Input)
        if typed:
            await self.press(*pin)
            shot = self.text()
            assert "•" * len(pin) in shot and pin not in shot
        else:
            field.value = pin
        await self.press("enter")
        assert field.value == ""  # cleared as soon as it was handed to the token call

    async def preflight(self) -> None:
        await self.at(PlanScreen)
        await self.press("enter")
        screen = await self.at(PreflightScreen)
        await self.until(lambda: screen.facts is not None, "preflight facts")
        await self.press("y", "enter")

    async def token_step(self, cls: type, key: str = "enter", typed: bool = False) -> None:
        await self.at(cls)
        await self.press(key)
        await self.pin(typed=typed)
        await self.until(lambda: not self.app.busy and isinstance(self.app.screen, cls),
                         f"{cls.__name__} after the token step")


def screen_text(svg: str) -> str:
    """The text of a Textual SVG screenshot, one screen row per line."""
    rows: dict[float, list[tuple[float, str]]] = {}
    for x, y, body in re.findall(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>',
                                 svg):
        rows.setdefault(float(y), []).append((float(x), html.unescape(body).replace("\xa0", " ")))
    return "\n".join("".join(t for _, t in sorted(r)) for _, r in sorted(rows.items()))


def app_for(ws: Path, tmp: Path, **kw: Any) -> CeremonyApp:
    kw.setdefault("probes", fake_machine(tmp / "machine"))
    return make_app(ws, **kw)


def new_ceremony(hsm: SoftHsm, tmp: Path, n: int = 3, threshold: int = 2) -> Ceremony:
    setup = bootstrap_setup(hsm, tmp, n=n, threshold=threshold)
    hsm.module.close()
    return Ceremony.init(tmp / "ws", setup.plan)


def private_keys(hsm: SoftHsm, label: str) -> list[bytes]:
    token = hsm.module.find_token(label=label)
    with token.open(user_pin=PIN) as s:
        return sorted(k.id for k in s.get_objects({__import__("pkcs11").Attribute.CLASS:
                                                   ObjectClass.PRIVATE_KEY}))


# ---- the whole bootstrap ceremony ------------------------------------------------------------


@run_async
async def test_full_bootstrap_ceremony_through_the_tui(tmp_path: Path, hsm: SoftHsm) -> None:
    c = new_ceremony(hsm, tmp_path)
    app = app_for(c.ws.root, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        d = Driver(app, pilot)
        await d.preflight()
        for i, name in enumerate(["alice", "bob", "carol"]):
            screen = await d.at(KeygenScreen)
            await d.until(lambda s=screen: s.tokens is not None, "token scan")
            assert f"> {name}" in d.text() and f"Token present: rehearsal-{name}" in d.text()
            await d.token_step(KeygenScreen, typed=(i == 0))
            assert "read aloud:" in d.text()
            await d.press("enter")
        draft = await d.at(DraftScreen)
        assert "Every root key is ready" in d.text()
        await d.press("enter")
        await d.until(lambda: app.ceremony.state.draft is not None, "the draft")
        shown = str(draft.query_one("#draft").render())
        assert "digest words:" in shown and "Expiries (absolute, UTC)" in shown
        assert "root: 2 of 3 (alice, bob, carol)" in shown and " UTC" in shown
        await d.press("enter")
        await d.at(ConfirmScreen)
        await d.press("y")
        sign = await d.at(SignScreen)
        assert "0/2" in d.text()
        for name in ("alice", "bob"):
            await d.token_step(SignScreen)
            assert f"{name} signed with token 'rehearsal-{name}'" in d.banner()
        assert "Every threshold is met" in str(sign.query_one("#prompt").render())
        await d.press("p")
        await d.at(ConfirmScreen)
        await d.press(*"publish", "enter")
        # Export by USB: the stick's folder is typed into the path field.
        await d.at(ExportScreen)
        stick = tmp_path / "stick"
        stick.mkdir()
        await d.press("enter")  # USB stick or folder
        modal = await d.at(TransferScreen)
        modal.query_one("#where", Input).value = str(stick)  # typed key by key under tmux
        await d.press("enter")
        await d.at(ExportScreen)
        assert "signed-metadata bundle written to" in d.banner() and "read aloud:" in d.banner()
        assert "Exported so far:" in d.text()
        await d.press("c")
        for _ in ("alice", "bob"):
            await d.at(SealScreen)
            await d.press("enter")
            await d.pin()
            await d.until(lambda: not app.busy, "seal")
        await d.at(DoneScreen)
        assert "complete and sealed" in d.text()
        shots = d.shots

    c = Ceremony.open(c.ws.root)
    types = [e.type for e in c.journal.events]
    assert types == ["initialized", "preflight",
                     *["keygen-intent", "key-generated", "pin-attempt"] * 3,
                     "draft-created", "confirmed", *["signature-added", "pin-attempt"] * 2,
                     "confirmed", "published", "exported", "seal-signature", "seal-signature",
                     "sealed"]
    assert {e.data["outcome"] for e in c.journal.events if e.type == "pin-attempt"} == {"accepted"}
    # The other side verifies what the stick carried, with the CLI.
    r = cli("import", "--usb", stick, "--out", tmp_path / "received")
    assert r.code == 0, r.err
    assert "root chain verified from the bundle's own 1.root.json" in r.out
    assert (tmp_path / "received" / "1.root.json").read_bytes() == \
        (c.ws.metadata / "1.root.json").read_bytes()
    v = record_check.verify_record(c.ws.root)
    assert v.sealers == ["alice", "bob"]
    # The PIN never reached the screen, the journal, the record or any other file.
    assert not any(PIN in s for s in shots)
    for path in c.ws.root.rglob("*"):
        if path.is_file():
            assert PIN.encode() not in path.read_bytes(), path
    for name in ("alice", "bob", "carol"):
        assert len(private_keys(hsm, f"rehearsal-{name}")) == 1


# ---- resuming ---------------------------------------------------------------------------------


def stage(hsm: SoftHsm, c: Ceremony, upto: str) -> None:
    """Advance a ceremony through the engine, as an earlier session would have."""
    m, pin = hsm.module, hsm.pin
    c.keygen("alice", m, pin)
    if upto == "keygen":
        return
    c.keygen("bob", m, pin)
    c.keygen("carol", m, pin)
    c.draft()
    if upto == "review":
        return
    record.confirm(c, DRAFT_APPROVED, "approved", c.state.draft_digest)
    c.sign("carol", m, pin)
    if upto == "sign":
        return
    c.sign("alice", m, pin)
    c.publish()
    if upto == "export":
        return
    steps_seal.seal_sign(c, "alice", m, pin)
    if upto == "seal":
        return
    steps_seal.seal(c, m, pin)


@pytest.mark.parametrize("upto,screen,shows", [
    ("keygen", KeygenScreen, "> bob"),
    ("review", DraftScreen, "Draft root v1"),
    ("sign", SignScreen, "1/2"),
    ("export", ExportScreen, "Root v1 is published"),
    ("seal", SealScreen, "alice; waiting for carol"),
    ("done", DoneScreen, "complete and sealed"),
])
@run_async
async def test_resuming_a_workspace_resumes_at_the_right_step(tmp_path: Path, hsm: SoftHsm,
                                                              upto: str, screen: type,
                                                              shows: str) -> None:
    c = new_ceremony(hsm, tmp_path)
    stage(hsm, c, upto)
    hsm.module.close()
    app = app_for(c.ws.root, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        d = Driver(app, pilot)
        await d.at(PlanScreen)
        assert ("Resuming:" in d.text()) or upto == "done"
        if upto == "done":
            await d.press("enter")
        else:
            await d.preflight()
        await d.at(screen)
        if upto == "seal":
            # This session's preflight moved the journal on: alice's seal must be redone.
            assert "nobody yet; waiting for alice, carol" in d.text()
        else:
            assert shows in d.text()


# ---- failures, shown as sentences -------------------------------------------------------------


@run_async
async def test_broken_journal_is_shown_as_the_operator_sentence(tmp_path: Path,
                                                                hsm: SoftHsm) -> None:
    c = new_ceremony(hsm, tmp_path)
    stage(hsm, c, "keygen")
    text = c.ws.journal.read_text().replace('"alice"', '"mallory"', 1)
    c.ws.journal.write_text(text)
    app = app_for(c.ws.root, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        d = Driver(app, pilot)
        await d.at(FatalScreen)
        shown = d.text()
        assert "journal line 2 was edited after it was written" in shown
        assert "hint:" in shown and "Traceback" not in shown
        await d.press("q")
    assert app.exit_code == 7


@run_async
async def test_wrong_pin_stops_without_retry_then_the_right_one_resumes(tmp_path: Path,
                                                                        hsm: SoftHsm) -> None:
    c = new_ceremony(hsm, tmp_path)
    app = app_for(c.ws.root, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        d = Driver(app, pilot)
        await d.preflight()
        await d.at(KeygenScreen)
        await d.press("enter")
        await d.pin("0000-wrong-pin")
        await d.at(KeygenScreen)
        banner = d.banner()
        assert "error: the PIN for token 'rehearsal-alice'" in banner and "was refused" in banner
        assert "does not retry" in banner
        assert isinstance(app.screen, KeygenScreen)  # no second PIN prompt
        last = app.ceremony.journal.events[-2:]
        assert [e.type for e in last] == ["keygen-intent", "pin-attempt"]
        assert last[1].data["outcome"] == "wrong"  # journaled as such, never the PIN
        await d.token_step(KeygenScreen)
        assert "alice's key is on token rehearsal-alice" in d.text()
    events = Ceremony.open(c.ws.root).journal.events
    intents = [e for e in events if e.type == "keygen-intent"]
    assert len(intents) == 1  # the retry used the journaled intent (same key id)
    assert private_keys(hsm, "rehearsal-alice") == [bytes.fromhex(intents[0].data["key_id_hex"])]


@run_async
async def test_token_missing_is_explained_then_found_after_reinsertion(tmp_path: Path,
                                                                       hsm: SoftHsm) -> None:
    c = new_ceremony(hsm, tmp_path)
    stage(hsm, c, "keygen")
    hsm.module.close()
    bob = next(t for t in hsm.module.tokens() if t.label == "rehearsal-bob")
    token_dirs = [p for p in hsm.dir.tokens.iterdir() if p.is_dir()]
    pulled = tmp_path / "pulled"
    pulled.mkdir()
    app = app_for(c.ws.root, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        d = Driver(app, pilot)
        await d.preflight()
        screen = await d.at(KeygenScreen)
        # Pull bob's token: SoftHSM keeps each token in its own folder.
        for p in token_dirs:
            if bob.serial[-8:] in p.name or _token_label(p) == "rehearsal-bob":
                shutil.move(p, pulled / p.name)
        await d.press("r")
        await d.at(KeygenScreen)
        await d.until(lambda: screen.tokens is not None, "scan")
        assert "rehearsal-bob is not present: insert it, then press r" in d.text()
        await d.press("enter")
        await d.at(KeygenScreen)
        assert "error: token 'rehearsal-bob' is not present" in d.banner()
        assert "hint: insert the token" in d.banner()
        for p in pulled.iterdir():
            shutil.move(p, hsm.dir.tokens / p.name)
        await d.press("r")
        await d.at(KeygenScreen)
        assert "Token present: rehearsal-bob" in d.text()
        await d.token_step(KeygenScreen)
        assert "bob's key is on token rehearsal-bob" in d.text()


def _token_label(path: Path) -> str | None:
    data = (path / "token.object").read_bytes() if (path / "token.object").exists() else b""
    return "rehearsal-bob" if b"rehearsal-bob" in data else None


@run_async
async def test_interface_up_refuses_a_live_ceremony_in_the_tui(tmp_path: Path,
                                                               hsm: SoftHsm) -> None:
    setup = bootstrap_setup(hsm, tmp_path, n=2, threshold=1, rehearsal=False)
    c = Ceremony.init(tmp_path / "ws", setup.plan)
    app = app_for(c.ws.root, tmp_path, probes=fake_machine(tmp_path / "m", up=("eth0",)))
    async with app.run_test(size=SIZE) as pilot:
        d = Driver(app, pilot)
        await d.preflight()
        await d.at(PreflightScreen)
        assert "FAIL network" in d.text() and "REFUSES this ceremony" in d.text()
        assert "preflight refused the ceremony: network: interface up: eth0" in d.banner()
        assert isinstance(app.screen, PreflightScreen)
    assert Ceremony.open(c.ws.root).state.preflight["passed"] is False


@run_async
async def test_typed_confirmation_guards_publishing(tmp_path: Path, hsm: SoftHsm) -> None:
    c = new_ceremony(hsm, tmp_path)
    stage(hsm, c, "sign")
    c.sign("alice", hsm.module, hsm.pin)
    hsm.module.close()
    app = app_for(c.ws.root, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        d = Driver(app, pilot)
        await d.preflight()
        await d.at(SignScreen)
        await d.press("p")
        await d.at(ConfirmScreen)
        await d.press(*"yes", "enter")
        assert "That is not 'publish'. Nothing was done." in d.text()
        await d.press("escape")
        await d.at(SignScreen)
        assert app.ceremony.state.published == []
        await d.press("p")
        await d.at(ConfirmScreen)
        await d.press(*"publish", "enter")
        await d.at(ExportScreen)
    assert Ceremony.open(c.ws.root).state.published == [1]


# ---- a rotation's signing screen ---------------------------------------------------------------


@run_async
async def test_rotation_signing_shows_old_and_new_thresholds_by_name(tmp_path: Path,
                                                                     hsm: SoftHsm) -> None:
    setup = bootstrap_setup(hsm, tmp_path, n=3, threshold=2)
    run_steps(hsm, tmp_path / "v1", setup.plan, None, ["alice", "bob"])
    hsm.make("rehearsal-dave")
    online = {r: [f"online/{r}.pub.pem"] for r in ("targets", "snapshot", "timestamp")}
    plan2 = setup.plan.parent / "rotation.toml"
    plan2.write_text(plan_toml("test-ceremony", {k: f"rehearsal-{k}" for k in
                                                 ("alice", "bob", "dave")},
                               ["alice", "bob", "dave"], 2, online,
                               ))
    c = Ceremony.init(tmp_path / "v2", plan2, tmp_path / "v1" / "metadata")
    c.keygen("dave", hsm.module, hsm.pin)
    c.draft()
    record.confirm(c, DRAFT_APPROVED, "approved", c.state.draft_digest)
    hsm.module.close()
    app = app_for(c.ws.root, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        d = Driver(app, pilot)
        await d.preflight()
        sign = await d.at(SignScreen)
        shown = str(sign.query_one("#thresholds").render())
        assert "previous root v1" in shown and "root v2" in shown
        assert "- alice - bob - carol" in shown and "- alice - bob - dave" in shown
        options = [sign.query_one("#who").get_option_at_index(i).id for i in range(4)]
        assert options == ["alice", "bob", "dave", "carol"]

        async def sign_as(name: str) -> None:
            await d.at(SignScreen)
            who = app.screen.query_one("#who")
            who.highlighted = [o.id for o in who.options].index(name)
            await d.press("enter")
            await d.pin()
            await d.until(lambda: not app.busy, f"{name} signing")

        await sign_as("carol")  # old key only: counts toward v1's threshold
        await sign_as("dave")  # new key only: counts toward v2's
        shown = str(app.screen.query_one("#thresholds").render())
        assert "1/2" in shown and "+ carol - alice - bob" in shown and "+ dave - alice - bob" in shown
        await d.press("p")
        assert "not every threshold is met yet" in d.banner()
        await sign_as("alice")
        await d.at(SignScreen)
        assert "Every threshold is met" in d.text()
        await d.press("p")
        await d.at(ConfirmScreen)
        await d.press(*"publish", "enter")
        await d.at(ExportScreen)
        await d.press("c")  # no export in this test: straight on to the seal
        for _ in range(3):  # everyone who signed v2 seals: alice, carol (old key), dave
            await d.at(SealScreen)
            await d.press("enter")
            await d.pin()
            await d.until(lambda: not app.busy, "seal")
        await d.at(DoneScreen)
    assert record_check.verify_record(c.ws.root).sealers == ["alice", "carol", "dave"]


@run_async
async def test_pin_field_never_copies_to_the_clipboard(tmp_path: Path) -> None:
    from ceremony.tui.screens.pin import PinInput
    from hsm.pkcs11 import TokenInfo
    from tests.support.plans import software_plan
    c = Ceremony.init(tmp_path / "ws", software_plan(tmp_path / "plan", rehearsal=True))
    app = make_app(c.ws.root, module_path="/nonexistent.so", probes=fake_machine(tmp_path / "m"))
    info = TokenInfo("t", "01", "m", "m", True, False, False, False, False)
    async with app.run_test(size=SIZE) as pilot:
        d = Driver(app, pilot)
        await d.at(PlanScreen)
        results: list[str | None] = []
        app.push_screen(PinScreen(info), results.append)
        await d.at(PinScreen)
        field = app.screen.query_one(PinInput)
        await d.press(*"secret-pin")
        field.select_all()
        await d.press("ctrl+c")  # Ctrl-C asks to quit; it never copies
        await d.at(ConfirmScreen)
        await d.press("n")
        await d.at(PinScreen)
        field.select_all()
        await d.press("ctrl+x")
        assert "secret-pin" not in (app.clipboard or "")
        assert field.value == "secret-pin"
        await d.press("enter")
        await d.at(PlanScreen)
        assert results == ["secret-pin"] and field.value == ""
