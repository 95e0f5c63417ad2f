"""Issue 16 in the TUI: an X.509 root CA ceremony walked through the unchanged screens (keygen of
the approvers and the CA key, the TBS in words on the draft screen, approvals then the CA
signature, publish), through the Format protocol alone."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from ceremony.tui.screens.confirm import ConfirmScreen
from ceremony.tui.screens.draft import DraftScreen
from ceremony.tui.screens.export import ExportScreen
from ceremony.tui.screens.keygen import KeygenScreen
from ceremony.tui.screens.sign import SignScreen
from tests.conftest import SoftHsm
from tests.faces.tui.test_tui import SIZE, Driver, app_for, run_async
from tests.support.helpers import cli
from tests.support.x509_ceremony import APPROVERS, CA, NOTATION_TABLE, ROOT_SUBJECT, ROOT_TABLE, x509_plan


@run_async
async def test_an_x509_root_ca_ceremony_through_the_tui(tmp_path: Path, hsm: SoftHsm) -> None:
    hsm.make(*[f"x509-{k}" for k in (*APPROVERS, CA)])
    plan = x509_plan(tmp_path / "plan" / "plan.toml", "acme-root", ROOT_TABLE + NOTATION_TABLE)
    ws = tmp_path / "ws"
    assert cli("init", ws, "--plan", plan).code == 0
    hsm.module.close()
    app = app_for(ws, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        d = Driver(app, pilot)
        await d.preflight()
        for i, _name in enumerate((*APPROVERS, CA)):
            screen = await d.at(KeygenScreen)
            await d.until(lambda s=screen: s.tokens is not None, "token scan")
            await d.token_step(KeygenScreen, typed=(i == 0))
            await d.press("enter")
        draft = await d.at(DraftScreen)
        await d.press("enter")
        await d.until(lambda: app.ceremony.state.draft is not None, "the draft")
        shown = str(draft.query_one("#draft").render())
        assert f"subject: {ROOT_SUBJECT}" in shown and "extension: critical keyUsage" in shown
        await d.press("enter")
        await d.at(ConfirmScreen)
        await d.press("y")
        await d.at(SignScreen)
        # the sign screen offers the keyholders in plan order: the three approvers (the third
        # approval is one more than needed), then the CA key, once the approvals verify
        for _ in range(4):
            await d.token_step(SignScreen)
            if app.ceremony.status().verified:
                break
        st = app.ceremony.status()
        assert st.verified and st.new.signed == (CA,) and st.old is not None
        assert st.old.signed == APPROVERS
        await d.press("p")
        await d.at(ConfirmScreen)
        await d.press(*"publish", "enter")
        await d.at(ExportScreen)
    assert x509.load_pem_x509_certificate((ws / "metadata" / "ca.pem").read_bytes()).subject.rfc4514_string() \
        == ROOT_SUBJECT
