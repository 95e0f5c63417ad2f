"""The notary harness fails loudly, never skips, when the notary binaries are missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.notary_harness import NotaryHarnessError, require_binaries, start_notary


def test_missing_binaries_raise(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(NotaryHarnessError, match="missing notary, notary-server, notary-signer"):
        require_binaries()
    with pytest.raises(NotaryHarnessError, match="the notary tests do not skip"):
        start_notary(tmp_path / "stack")
