"""Starting a ceremony from the TUI: ``ceremony tui WORKSPACE --plan PLAN.toml`` when the
workspace does not exist yet. The plan is reviewed on screen (a bad plan is its operator
sentence, nothing created); the workspace is created only on confirmation, then the
ceremony goes on to the preflight.
"""

from __future__ import annotations

from pathlib import Path

from ceremony.cli import build_parser
from ceremony.tui.screens.confirm import ConfirmScreen
from ceremony.tui.screens.fatal import FatalScreen
from ceremony.tui.screens.new import NewCeremonyScreen
from ceremony.tui.screens.preflight import PreflightScreen
from tests.conftest import SoftHsm
from tests.faces.tui.test_tui import SIZE, Driver, app_for, run_async
from tests.support.helpers import bootstrap_setup


def test_tui_takes_plan_and_previous() -> None:
    args = build_parser().parse_args(
        ["tui", "ws", "--plan", "p.toml", "--previous", "old/metadata"])
    assert (args.plan, args.previous) == (Path("p.toml"), Path("old/metadata"))


@run_async
async def test_a_new_ceremony_is_reviewed_then_created_from_the_tui(tmp_path: Path,
                                                                    hsm: SoftHsm) -> None:
    setup = bootstrap_setup(hsm, tmp_path, n=3, threshold=2)
    hsm.module.close()
    ws = tmp_path / "ws"
    app = app_for(ws, tmp_path, plan=setup.plan)
    async with app.run_test(size=SIZE) as pilot:
        d = Driver(app, pilot)
        await d.at(NewCeremonyScreen)
        shown = d.text()
        assert "Ceremony test-ceremony" in shown and "alice" in shown and "key to generate" in shown
        assert f"New ceremony: {ws} will be created" in str(app.screen.query_one("#plan").render())
        assert not ws.exists()
        await d.press("enter")
        await d.at(ConfirmScreen)
        await d.press("n")  # not yet: still nothing created
        await d.at(NewCeremonyScreen)
        assert not ws.exists()
        await d.press("enter")
        await d.at(ConfirmScreen)
        await d.press("y")
        screen = await d.at(PreflightScreen)
        await d.until(lambda: screen.facts is not None, "preflight facts")
    assert (ws / "journal.jsonl").is_file() and (ws / "plan.toml").is_file()
    assert app.ceremony.plan.name == "test-ceremony"


@run_async
async def test_a_bad_plan_is_its_operator_sentence_and_nothing_is_created(tmp_path: Path,
                                                                          hsm: SoftHsm) -> None:
    setup = bootstrap_setup(hsm, tmp_path, n=2, threshold=2)
    hsm.module.close()
    text = setup.plan.read_text().replace("[ceremony]", "[ceremony]\nwitnesses_required = 1", 1)
    setup.plan.write_text(text)
    ws = tmp_path / "ws"
    app = app_for(ws, tmp_path, plan=setup.plan)
    async with app.run_test(size=SIZE) as pilot:
        d = Driver(app, pilot)
        await d.at(FatalScreen)
        shown = str(app.screen.query_one("#fatal").render())
        assert ("error: ceremony.witnesses_required is 1 but the plan lists only 0 witnesses: "
                "it could never be met") in shown
        assert "Nothing was changed" in shown
        await d.press("q")
    assert app.exit_code == 2
    assert not ws.exists()
