"""The TUI, like the CLI, refuses a token step that is known to fail before it loads the PKCS#11
module or asks for a PIN (see tests/faces/cli/test_refuse_before_token.py)."""

from __future__ import annotations

from pathlib import Path

from ceremony.tui.screens.sign import SignScreen
from tests.conftest import SoftHsm
from tests.faces.tui.test_tui import SIZE, Driver, app_for, new_ceremony, run_async, stage


@run_async
async def test_signing_twice_is_refused_before_the_module_loads(tmp_path: Path,
                                                                hsm: SoftHsm) -> None:
    c = new_ceremony(hsm, tmp_path)
    stage(hsm, c, "sign")  # carol has signed
    hsm.module.close()
    app = app_for(c.ws.root, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        d = Driver(app, pilot)
        await d.preflight()
        sign = await d.at(SignScreen)
        # From here on, loading the module fails loudly ("... does not exist", exit 4).
        app.module_path = str(tmp_path / "no-such-module.so")
        app._module = None
        sign.start_signing("carol")
        await d.until(lambda: "carol has already signed root v1" in d.banner(), "the refusal")
        assert "does not exist" not in d.banner() and app._module is None
        assert not any(type(s).__name__ == "PinScreen" for s in app.screen_stack)
