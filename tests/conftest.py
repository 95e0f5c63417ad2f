"""Shared fixtures: real SoftHSM tokens in a private folder per test.

A missing SoftHSM fails the suite (softhsm.require_util raises); it never skips.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hsm import softhsm
from hsm.pkcs11 import Module, get_module, resolve_module_path

# One notary-signer + notary-server for the whole run, shared by the xdist workers: every test
# module sees ``notary_stack`` from here (tests/support/notary_fixtures.py says how).
from tests.support.notary_fixtures import notary_stack  # noqa: F401 - registers the fixture

PIN = "4711-ceremony-test"


@dataclass
class SoftHsm:
    """Throwaway tokens for one test."""

    dir: softhsm.SoftHsmDir
    module: Module
    pin_file: Path

    def make(self, *labels: str, pin: str = PIN) -> None:
        for label in labels:
            softhsm.init_token(self.dir, label, pin)
        self.module.refresh()

    def pin(self, _info: object = None) -> str:
        return PIN


@pytest.fixture
def hsm(tmp_path: Path) -> Iterator[SoftHsm]:
    softhsm.require_util()
    d = softhsm.create(tmp_path / "softhsm")
    softhsm.activate(d)
    module = get_module(resolve_module_path(env={}))
    module.refresh()
    pin_file = tmp_path / "pin"
    pin_file.write_text(PIN + "\n")
    os.chmod(pin_file, 0o600)
    yield SoftHsm(d, module, pin_file)
    module.close()
