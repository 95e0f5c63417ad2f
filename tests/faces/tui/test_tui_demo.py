"""``make demo``: a rehearsal workspace on throwaway SoftHSM tokens, opened in the TUI.

The demo's PIN is chosen by the person at a hidden prompt and typed into the
TUI; it is never printed. Without a terminal (and without ``CEREMONY_PIN``)
the demo refuses instead of hanging.
"""

from __future__ import annotations

import io
import os
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from ceremony.errors import UsageError
from ceremony.tui import demo
from ceremony.tui.screens.keygen import KeygenScreen
from ceremony.tui.screens.plan import PlanScreen
from tests.conftest import SoftHsm
from tests.faces.tui.test_tui import SIZE, Driver, run_async

DEMO_PIN = "demo-pin-8841"


def test_the_demo_pin_is_chosen_twice_and_checked() -> None:
    answers = iter([DEMO_PIN, DEMO_PIN])
    assert demo.choose_pin(lambda _prompt: next(answers)) == DEMO_PIN
    answers = iter([DEMO_PIN, "another-pin"])
    told: list[str] = []
    # A typo is asked again rather than ending `make demo`.
    answers = iter(["123", DEMO_PIN, "another-pin", DEMO_PIN, DEMO_PIN])
    assert demo.choose_pin(lambda _prompt: next(answers), told.append) == DEMO_PIN
    assert told == ["That PIN is too short: at least 4 characters. Try again.",
                    "The two PINs differ. Try again."]
    with pytest.raises(UsageError, match="no usable PIN after 3 tries"):
        demo.choose_pin(lambda _prompt: "123", told.append)


def test_the_demo_refuses_without_a_terminal(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CEREMONY_PIN", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    err = io.StringIO()
    with redirect_stderr(err):
        assert demo.main([str(tmp_path / "demo")]) == 64
    assert "the demo is interactive" in err.getvalue()
    assert not (tmp_path / "demo").exists()


@run_async
async def test_the_demo_opens_the_tui_and_the_pin_is_typed_there(
        tmp_path: Path, hsm: SoftHsm, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOFTHSM2_CONF", os.environ["SOFTHSM2_CONF"])  # restored afterwards
    monkeypatch.setenv("CEREMONY_PIN", DEMO_PIN)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        assert demo.main([str(tmp_path / "demo"), "--no-open"]) == 0
    printed = out.getvalue() + err.getvalue()
    assert f"tui {(tmp_path / 'demo' / 'workspace').resolve()}" in printed
    assert DEMO_PIN not in printed
    # The printed record check works as printed, from any folder.
    check = next(line.strip() for line in printed.splitlines() if "record verify" in line)
    import subprocess
    run = subprocess.run(check, shell=True, cwd="/", capture_output=True, text=True, timeout=120)
    assert run.returncode == 3 and "error: the ceremony is not sealed" in run.stderr, run.stderr
    assert "ok   journal chain intact" in run.stdout
    # A second `make demo` keeps the first: it is reopened, not made again.
    journal = (tmp_path / "demo" / "workspace" / "journal.jsonl").read_bytes()
    tokens = sorted(p.name for p in (tmp_path / "demo" / "softhsm").rglob("*"))
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        assert demo.main([str(tmp_path / "demo"), "--no-open"]) == 0
    assert "A demo is already prepared in" in err.getvalue()
    assert (tmp_path / "demo" / "workspace" / "journal.jsonl").read_bytes() == journal
    assert sorted(p.name for p in (tmp_path / "demo" / "softhsm").rglob("*")) == tokens
    monkeypatch.delenv("CEREMONY_PIN")

    base = tmp_path / "demo"
    app = demo.demo_app(demo.Prepared(base, base / "plan.toml", base / "workspace", None))
    async with app.run_test(size=SIZE) as pilot:
        d = Driver(app, pilot)
        await d.at(PlanScreen)
        assert "REHEARSAL: throwaway tokens" in d.text()
        await d.press("s")  # the printable script, as `ceremony script` writes it
        assert "printable script written to" in d.banner()
        assert (base / "workspace" / "record" / "script.html").is_file()
        await d.preflight()  # this machine, as it is: a rehearsal only warns
        screen = await d.at(KeygenScreen)
        await d.until(lambda: screen.tokens is not None, "token scan")
        assert "Token present: rehearsal-alice" in d.text()
        await d.press("enter")
        await d.pin(DEMO_PIN, typed=True)
        await d.until(lambda: not app.busy and screen.result is not None, "the key")
        assert "alice's key is on token rehearsal-alice" in d.text()
    assert not any(DEMO_PIN in s for s in d.shots)
    for path in base.rglob("*"):
        if path.is_file():
            assert DEMO_PIN.encode() not in path.read_bytes(), path
