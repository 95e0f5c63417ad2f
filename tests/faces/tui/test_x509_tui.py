"""Issue 16 in the TUI: an X.509 root CA ceremony walked through the unchanged screens (keygen of
the approvers and the CA key, the TBS in words on the draft screen, approvals then the CA
signature, publish), through the Format protocol alone."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from ceremony.engine import Ceremony
from ceremony.tui.flow import signing_candidates
from ceremony.tui.screens.confirm import ConfirmScreen
from ceremony.tui.screens.draft import DraftScreen
from ceremony.tui.screens.export import ExportScreen
from ceremony.tui.screens.keygen import KeygenScreen
from ceremony.tui.screens.sign import SignScreen
from tests.conftest import SoftHsm
from tests.faces.tui.test_tui import SIZE, Driver, app_for, run_async
from tests.support.helpers import cli
from tests.support.plans import Keyholder, Plan
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
        # the sign screen offers whom the next step waits for: the approvers until two approved,
        # then the CA key (before the third approver, whose approval would be one more than needed)
        for _ in range(4):
            await d.token_step(SignScreen)
            if app.ceremony.status().verified:
                break
        st = app.ceremony.status()
        assert st.verified and st.new.signed == (CA,) and st.old is not None
        assert st.old.signed == APPROVERS[:2]
        await d.press("p")
        await d.at(ConfirmScreen)
        await d.press(*"publish", "enter")
        await d.at(ExportScreen)
    assert x509.load_pem_x509_certificate((ws / "metadata" / "ca.pem").read_bytes()).subject.rfc4514_string() \
        == ROOT_SUBJECT


def test_the_sign_screen_offers_the_approvers_before_the_ca_key_whatever_the_plan_order(
        tmp_path: Path, hsm: SoftHsm) -> None:
    hsm.make(*[f"x509-{k}" for k in (*APPROVERS, CA)])
    holders = [Keyholder(CA, token=f"x509-{CA}"), *(Keyholder(k, token=f"x509-{k}") for k in APPROVERS)]
    plan = Plan("acme-root", holders, 2, {}, repository="acme-signing", format="x509", root_expires="30d",
                tail=ROOT_TABLE).write(tmp_path / "plan" / "plan.toml")
    ws = tmp_path / "ws"
    assert cli("init", ws, "--plan", plan).code == 0
    for k in (CA, *APPROVERS):
        assert cli("keygen", ws, "--keyholder", k, "--pin-file", hsm.pin_file).code == 0
    assert cli("draft", ws).code == 0
    assert signing_candidates(Ceremony.open(ws)) == [*APPROVERS, CA]  # the plan lists the CA first
    assert cli("sign", ws, "--keyholder", "bob", "--pin-file", hsm.pin_file).code == 0
    assert signing_candidates(Ceremony.open(ws)) == ["alice", "carol", CA]
