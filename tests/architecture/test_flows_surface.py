"""``ceremony.flows`` loads its modules on first use (PEP 562) and still offers its whole surface.

What is checked: every name of ``__all__`` resolves to the object its module defines (and only
those names are offered); importing one flows module (as ``sign-draft`` imports
``ceremony.flows.remote``) does not load the other nine; ``status`` loads no flows module and
not the engine's steps.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_every_name_resolves_to_its_module() -> None:
    import ceremony.flows as flows
    assert set(flows._HOME) == set(flows.__all__)
    for name in flows.__all__:
        home = importlib.import_module(f"ceremony.flows.{flows._HOME[name]}")
        assert getattr(flows, name) is getattr(home, name), name
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        _ = flows.nothing_here  # type: ignore[attr-defined]


def test_a_name_shared_with_its_module_stays_the_function() -> None:
    """``flows.audit`` is the function (the TUI calls it) even when its module, of the same name,
    was imported first (as ``ceremony verify`` imports ``ceremony.flows.audit``)."""
    code = ("import sys\nimport ceremony.flows.audit\nfrom ceremony import flows\n"
            "print(flows.audit is sys.modules['ceremony.flows.audit'].audit, callable(flows.audit))")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["True", "True"]


def _loaded(statement: str, prefix: str) -> set[str]:
    code = f"{statement}\nimport sys\nprint(' '.join(m for m in sys.modules if m.startswith({prefix!r})))"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
    return set(run.stdout.split())


def test_one_flows_module_loads_alone() -> None:
    loaded = _loaded("import ceremony.flows.imports", "ceremony.flows")
    assert loaded == {"ceremony.flows", "ceremony.flows.imports"}  # not export (nor next_step)


def test_status_loads_neither_flows_nor_the_steps(tmp_path: Path) -> None:
    """The modules ``ceremony status`` imports at the top of what it runs: its command group,
    the session it opens to read, the status report (no workspace is needed to load them)."""
    statement = "import ceremony.cli.keys, ceremony.session, ceremony.status"
    loaded = _loaded(statement, "ceremony.")
    assert not {m for m in loaded if m.startswith(("ceremony.flows", "ceremony.engine"))}, loaded
    assert not {m for m in loaded if m.startswith("ceremony.steps")}, loaded
    assert not {"ceremony.record", "ceremony.seal", "ceremony.preflight"} & loaded, loaded


def test_the_type_checking_imports_match_the_name_map() -> None:
    """The ``if TYPE_CHECKING:`` imports (what mypy sees) and ``_HOME`` (what runs) list the same
    names from the same modules: the package states each twice, this keeps the two in step."""
    import ast

    import ceremony.flows as flows
    tree = ast.parse((ROOT / "ceremony" / "flows" / "__init__.py").read_text())
    typed: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.module, ast.dump(imp)
                assert imp.module.startswith("ceremony.flows."), imp.module
                for alias in imp.names:
                    assert alias.asname is None, alias.name
                    typed[alias.name] = imp.module.removeprefix("ceremony.flows.")
    assert typed == flows._HOME
