"""End to end: the real ``ceremony tui`` process in tmux, driven by keys, read off the screen.

One whole rehearsal (2 of 3) with the PINs typed into the masked field, as
keyholders would. The test reads only what a person sees (``capture-pane``),
and afterwards checks the record offline and that no capture ever showed a PIN.
Uses a private tmux server (``-L``), killed at the end.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from ceremony import record_check
from ceremony.engine import Ceremony
from tests.conftest import PIN, SoftHsm
from tests.support.helpers import bootstrap_setup, cli

pytestmark = pytest.mark.slow


def tui_command(ws: Path) -> list[str]:
    """The installed ``ceremony tui`` console script, as an operator runs it."""
    return [str(Path(sys.executable).parent / "ceremony"), "tui", str(ws)]


class Tmux:
    """One private tmux server with one 80x24 window."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.socket = f"ceremony-test-{uuid.uuid4().hex[:12]}"
        self.screens: list[str] = []
        line = " ".join(shlex.quote(x) for x in ["env", *[f"{k}={v}" for k, v in env.items()],
                                                  *command])
        self.tmux("new-session", "-d", "-s", "c", "-x", "80", "-y", "24",
                  f"{line}; echo EXIT=$?; sleep 30")

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True,
                              capture_output=True, text=True).stdout

    def screen(self) -> str:
        text = self.tmux("capture-pane", "-p", "-t", "c")
        self.screens.append(text)
        return text

    def wait(self, needle: str, timeout: float = 20) -> str:
        start = time.monotonic()
        while True:
            text = self.screen()
            if needle in text:
                return text
            if time.monotonic() - start > timeout:
                raise AssertionError(f"{needle!r} never appeared; the screen shows:\n{text}")
            time.sleep(0.05)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "c", *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "c", "-l", text)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                       check=False)
        tmpdir = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}"
        (tmpdir / self.socket).unlink(missing_ok=True)


@pytest.fixture
def tmux_bin() -> str:
    path = shutil.which("tmux")
    if path is None:
        raise RuntimeError("tmux is not installed: the end-to-end TUI test needs it")
    return path


def test_whole_rehearsal_in_the_real_tui_under_tmux(tmp_path: Path, hsm: SoftHsm,
                                                    tmux_bin: str) -> None:
    setup = bootstrap_setup(hsm, tmp_path, n=3, threshold=2)
    hsm.module.close()
    ws = tmp_path / "ws"
    Ceremony.init(ws, setup.plan)
    stick = tmp_path / "stick"
    stick.mkdir()
    env = {"SOFTHSM2_CONF": os.environ["SOFTHSM2_CONF"], "TERM": "xterm-256color",
           "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    t = Tmux(tui_command(ws), env)
    try:
        def pin_for(label: str) -> None:
            t.wait(f"PIN for token '{label}'")
            t.type(PIN)
            screen = t.wait("•" * len(PIN))
            assert PIN not in screen
            t.keys("Enter")

        t.wait("Press enter to continue.")
        t.keys("Enter")
        t.wait("Preflight passes")
        t.keys("y")
        t.wait("(confirmed)")
        t.keys("Enter")
        for name in ("alice", "bob", "carol"):
            t.wait(f"Token present: rehearsal-{name}")
            t.keys("Enter")
            pin_for(f"rehearsal-{name}")
            t.wait(f"{name}'s key is on token rehearsal-{name}")
            t.keys("Enter")
        t.wait("Every root key is ready")
        t.keys("Enter")
        t.wait("digest words:")
        t.keys("Enter")
        t.wait("Approve root v1 for signing?")
        t.keys("y")
        t.wait("Who signs next?")
        for name in ("alice", "bob"):
            t.keys("Enter")
            pin_for(f"rehearsal-{name}")
            t.wait(f"{name} signed with token 'rehearsal-{name}'")
        t.wait("Every threshold is met.")
        t.keys("p")
        t.wait("Type publish and press enter")
        t.type("publish")
        t.keys("Enter")
        t.wait("Root v1 is published.")
        t.keys("Enter")  # USB stick or folder
        screen = t.wait("Where is the USB stick?")
        if "the stick's folder" not in screen:  # prefilled with a stick mounted here: clear it
            t.keys("C-u")
            t.wait("the stick's folder")  # the placeholder: the field is empty
        t.type(str(stick))
        t.keys("Enter")
        t.wait("bundle written to")
        t.keys("c")
        t.wait("Seal the record")
        for name in ("alice", "bob"):
            t.wait(f"waiting for {name}")
            t.keys("Enter")
            pin_for(f"rehearsal-{name}")
        t.wait("The ceremony is complete and sealed.")
        t.keys("q")
        t.wait("EXIT=0")
    finally:
        t.close()

    assert not any(PIN in s for s in t.screens)
    assert not any("Traceback" in s for s in t.screens)
    v = record_check.verify_record(ws)
    assert v.sealed and v.sealers == ["alice", "bob"]
    c = Ceremony.open(ws)
    assert c.state.published == [1] and c.state.signers() == ["alice", "bob"]
    for path in ws.rglob("*"):
        if path.is_file():
            assert PIN.encode() not in path.read_bytes()
    # What left on the stick verifies on the other side.
    r = cli("import", "--usb", stick, "--out", tmp_path / "received")
    assert r.code == 0, r.err
    assert (tmp_path / "received" / "1.root.json").read_bytes() == \
        (ws / "metadata" / "1.root.json").read_bytes()
