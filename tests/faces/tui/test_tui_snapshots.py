"""A few snapshot tests of key screens at 80x24 (pytest-textual-snapshot, SVG baselines).

Everything shown is made deterministic by the app's own inputs: a plan with no
key material on screen, a fake /sys and /proc with a fixed clock and host, a
module path that does not exist (so no token serials), and modals built from
fixed data. Update the baselines with ``pytest --snapshot-update`` after
looking at the difference.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from ceremony.engine import Ceremony
from ceremony.tui.app import CeremonyApp, make_app
from ceremony.tui.screens.confirm import ConfirmScreen
from ceremony.tui.screens.pin import PinScreen
from ceremony.tui.screens.plan import PlanScreen
from ceremony.tui.screens.preflight import PreflightScreen
from hsm.pkcs11 import TokenInfo
from tests.support.machines import fake_machine
from tests.support.plans import software_plan

SIZE = (80, 24)
NO_MODULE = "/nonexistent/libpkcs11.so"


def app(tmp: Path, **machine: Any) -> CeremonyApp:
    plan = software_plan(tmp / "plan", rehearsal=True, names=("alice", "bob", "carol"),
                         threshold=2)
    c = Ceremony.init(tmp / "ws", plan)
    return make_app(c.ws.root, module_path=NO_MODULE, probes=fake_machine(tmp / "m", **machine))


async def wait_for(pilot: Pilot[Any], cls: type, cond: Any = None) -> None:
    start = time.monotonic()
    while not (isinstance(pilot.app.screen, cls) and (cond is None or cond(pilot.app.screen))):
        assert time.monotonic() - start < 20, f"no {cls.__name__}"
        await pilot.pause(0.02)
    await pilot.pause()


def test_plan_review(tmp_path: Path, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, PlanScreen)

    assert snap_compare(app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_preflight_on_a_connected_rehearsal_machine(tmp_path: Path, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, PlanScreen)
        await pilot.press("enter")
        await wait_for(pilot, PreflightScreen, lambda s: s.facts is not None)
        await pilot.press("y")
        await pilot.pause()

    assert snap_compare(app(tmp_path, up=("eth0",), routes4=("eth0",)), terminal_size=SIZE,
                        run_before=run_before)


def test_masked_pin_entry_with_low_retry_count(tmp_path: Path, snap_compare: Any) -> None:
    info = TokenInfo("rehearsal-alice", "0123456789abcdef", "SoftHSM project", "SoftHSM v2",
                     True, True, False, False, False)

    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, PlanScreen)
        pilot.app.push_screen(PinScreen(info))
        await wait_for(pilot, PinScreen)
        await pilot.press(*"123456")

    assert snap_compare(app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_typed_confirmation_for_publishing(tmp_path: Path, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, PlanScreen)
        pilot.app.push_screen(ConfirmScreen(
            "Publish root v1? This writes metadata/1.root.json and metadata/root.json; "
            "a published version is never changed.", typed="publish"))
        await wait_for(pilot, ConfirmScreen)
        await pilot.press(*"pub", "enter")

    assert snap_compare(app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_import_of_a_detached_signature_chooses_transport_and_path(tmp_path: Path,
                                                                   snap_compare: Any) -> None:
    from ceremony.tui.screens.transfer import Choice, TransferScreen

    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, PlanScreen)
        pilot.app.push_screen(TransferScreen("Import a detached signature over root v1", [
            Choice("file", "Signature file (written by ceremony sign-draft)", "",
                   "the .json file(s)"),
            Choice("usb", "USB stick: a signature bundle (ceremony pack --kind signature)",
                   "/media/usb", "the stick's folder"),
            Choice("qr", "QR codes: photos, screenshots or a folder of them", "",
                   "image files or a folder"),
        ], ["Removable drives: /media/usb (/dev/sdb1)"]))
        await wait_for(pilot, TransferScreen)
        await pilot.press("down")

    assert snap_compare(app(tmp_path), terminal_size=SIZE, run_before=run_before)
