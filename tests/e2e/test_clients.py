"""The second TUF client itself: installed as pinned, and never silently absent.

A missing node or tuf-js must fail every test that needs them (never skip, never pass by
default); these tests prove the harness says so, and that what runs is the pinned version.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support import clients
from tests.support.clients import ClientMissing, tufjs_refresh

PINNED = "3.1.0"


def test_tufjs_is_installed_as_pinned_by_the_lock_file() -> None:
    package = json.loads((clients.TUFJS_DIR / "package.json").read_text())
    lock = json.loads((clients.TUFJS_DIR / "package-lock.json").read_text())
    installed = json.loads((clients.TUFJS_DIR / "node_modules" / "tuf-js" / "package.json").read_text())
    assert package["dependencies"]["tuf-js"] == PINNED  # an exact pin, not a range
    assert lock["packages"]["node_modules/tuf-js"]["version"] == PINNED
    assert installed["version"] == PINNED


def test_missing_node_fails_the_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no node here
    with pytest.raises(ClientMissing, match="node is not installed: tuf-js, the second TUF client"):
        tufjs_refresh("http://127.0.0.1:9", tmp_path / "client", b"{}")


def test_missing_tufjs_fails_the_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lonely = tmp_path / "elsewhere" / "client.mjs"  # the script, without node_modules beside it
    lonely.parent.mkdir()
    shutil.copy(clients.TUFJS_CLIENT, lonely)
    monkeypatch.setattr(clients, "TUFJS_CLIENT", lonely)
    with pytest.raises(ClientMissing, match=r"(?s)tuf-js client could not run \(exit 2\): tuf-js not "
                                            r"installed: Cannot find module 'tuf-js'.*run: make venv"):
        tufjs_refresh("http://127.0.0.1:9", tmp_path / "client", b"{}")


def test_a_broken_trusted_root_is_a_verdict_not_a_crash(tmp_path: Path) -> None:
    """Bad input to the client is the client's refusal (exit 1), with its own error class."""
    v = tufjs_refresh("http://127.0.0.1:9", tmp_path / "client", b"{}")
    assert (v.ok, v.error, v.message) == (False, "TypeError", "signed is not defined")
