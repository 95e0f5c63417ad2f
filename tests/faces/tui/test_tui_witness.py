"""FIDO2 witnesses in the TUI: enrol at the start, sign off before publish and before the seal.

The security keys are tests/engine/test_witness.py's software authenticators (one JSON file per key)
behind python-fido2's real client and server, reached through ``CEREMONY_FIDO_DEVICE``; the
root keys are SoftHSM tokens. The room is walked through by keys alone, and ``record verify``
must pass at the end.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from ceremony import record
from ceremony.engine import Ceremony
from ceremony.tui.flow import DRAFT_APPROVED
from ceremony.tui.screens.confirm import ConfirmScreen
from ceremony.tui.screens.done import DoneScreen
from ceremony.tui.screens.export import ExportScreen
from ceremony.tui.screens.seal import SealScreen
from ceremony.tui.screens.sign import SignScreen
from ceremony.tui.screens.transfer import TransferScreen
from ceremony.tui.screens.witness import WitnessScreen
from ceremony.tui.widgets.banner import Banner
from tests.conftest import PIN, SoftHsm
from tests.engine.test_witness import keys, setup_ceremony  # noqa: F401  (keys: the FIDO2 fixture)
from tests.faces.tui.test_tui import SIZE, Driver, app_for, run_async
from tests.support.helpers import cli


async def pick(d: Driver, name: str) -> None:
    """Highlight ``name`` in the witness list and press enter; wait for the security key."""
    screen = await d.at(WitnessScreen)
    who = screen.query_one("#who")
    who.highlighted = [o.id for o in who.options].index(name)
    await d.press("enter")
    await d.until(lambda: not d.app.busy and ("error" in d.banner() or name in d.banner()),
                  f"{name}'s security key")


def status(d: Driver) -> str:
    """The witness screen's status text, unwrapped."""
    return str(d.app.screen.query_one("#status").render())


@run_async
async def test_witnesses_enrol_and_sign_off_publish_and_seal_in_the_tui(
        hsm: SoftHsm, tmp_path: Path, keys, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    ws = setup_ceremony(hsm, tmp_path, required=2)
    c = Ceremony.open(ws)
    record.confirm(c, DRAFT_APPROVED, "approved", c.state.draft_digest)
    hsm.module.close()

    shown: list[str] = []
    touch = Banner.touch

    def spy(self: Banner, message: str) -> None:
        shown.append(str(message))
        touch(self, message)

    monkeypatch.setattr(Banner, "touch", spy)
    app = app_for(ws, tmp_path, pin_provider=lambda _info: PIN)
    async with app.run_test(size=SIZE) as pilot:
        d = Driver(app, pilot)
        await d.preflight()
        # Enrolment first: wendy and victor plug in their keys; xavier is not here.
        await d.at(WitnessScreen)
        assert "Witnesses enrol their security keys" in d.text()
        assert "0 of 3 witnesses enrolled; 2 must sign off before publish and before seal" in status(d)
        for w in ("wendy", "victor"):
            keys(w)
            await pick(d, w)
            assert f"{w} enrolled a security key" in d.banner(), d.banner()
        assert shown == ["wendy: touch your security key to enrol",
                         "victor: touch your security key to enrol"]
        await d.press("c")

        # Every threshold is met: "publish" is typed, then the witnesses sign off.
        await d.at(SignScreen)
        await d.press("p")
        await d.at(ConfirmScreen)
        await d.press(*"publish", "enter")
        await d.at(WitnessScreen)
        assert "Witnesses sign off before publish" in d.text()
        await d.press("p")  # too early: the screen says who is missing
        assert ("publish needs 2 witness sign-offs: signed off: nobody yet; waiting for 2 more of "
                "victor, wendy, xavier") in d.banner()
        keys("wendy")
        await pick(d, "wendy")
        assert ("publish needs 2 witness sign-offs: signed off: wendy; waiting for one more of "
                "victor, xavier") in status(d)
        assert shown[-1] == "wendy: touch your security key to sign off"
        keys("victor")
        await pick(d, "victor")
        assert "signed off: victor, wendy; that is enough to publish" in status(d)
        await d.press("p")

        # Export by USB, then the seal's own sign-offs.
        await d.at(ExportScreen)
        stick = tmp_path / "stick"
        stick.mkdir()
        await d.press("enter")
        modal = await d.at(TransferScreen)
        modal.query_one("#where", Input).value = str(stick)
        await d.press("enter")
        await d.at(ExportScreen)
        await d.press("c")
        await d.at(WitnessScreen)
        assert "Witnesses sign off before the seal" in d.text()
        assert "seal needs 2 witness sign-offs: signed off: nobody yet" in status(d)
        await d.press("c")
        assert "seal needs 2 witness sign-offs" in d.banner()
        for w in ("victor", "wendy"):
            keys(w)
            await pick(d, w)
        assert "that is enough to seal" in status(d)
        await d.press("c")
        for _ in ("alice", "bob"):
            await d.at(SealScreen)
            await d.press("enter")
            await d.until(lambda: not app.busy, "seal")
        await d.at(DoneScreen)
    assert Ceremony.open(ws).state.sealed
    r = cli("record", "verify", ws)
    assert r.code == 0, r.out + r.err
    assert any("was published at journal line" in x and "after sign-offs by victor, wendy" in x
               for x in r.out.splitlines())
    assert any("the record was sealed at journal line" in x and "after sign-offs by victor, wendy"
               in x for x in r.out.splitlines())
