"""The engine split (issue 14): engine → steps → session, never back.

``ceremony.session`` is what the steps work on; ``ceremony.steps.*`` are the only code
that journals keygen, draft, sign and publish; ``ceremony.engine.Ceremony`` is the facade
over them. Checked on the source with ``ast`` (every import, at the top or inside a
function; ``if TYPE_CHECKING:`` blocks are for the type checker only and do not count), so
a step that reaches for the engine, or a session that reaches for a step, fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CEREMONY = ROOT / "ceremony"
CORE_STEPS = ("keygen", "draft", "sign", "publish")


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports at run time (type-checking-only imports left out)."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for n in ast.walk(node)}
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def test_the_steps_import_the_session_never_the_engine() -> None:
    for name in CORE_STEPS:
        imports = _imports(CEREMONY / "steps" / f"{name}.py")
        assert "ceremony.session" in imports, name
        assert not any(m == "ceremony.engine" or m.startswith("ceremony.engine.")
                       for m in imports), f"ceremony/steps/{name}.py imports the engine"


def test_the_session_imports_neither_the_engine_nor_a_step() -> None:
    imports = _imports(CEREMONY / "session.py")
    bad = sorted(m for m in imports
                 if m in ("ceremony.engine", "ceremony.steps") or m.startswith("ceremony.steps.")
                 or m.startswith("ceremony.engine."))
    assert bad == []


def test_the_core_events_are_journaled_by_the_steps_alone() -> None:
    """Every journal event is built in ``ceremony/steps`` only, but two that are no step's:
    ``initialized`` (the workspace's first line, written by ``session.create_workspace``
    before there is a session) and ``journal-recovered`` (``Journal.recover`` setting a torn
    tail aside before the journal can be replayed)."""
    from ceremony import events
    core = {cls.__name__ for cls in events.BY_TYPE.values()}
    assert {"KeygenIntent", "SignatureAdded", "Sealed", "Confirmed", "PinAttempt"} <= core
    allowed = set((CEREMONY / "steps").glob("*.py")) | {CEREMONY / "events.py"}
    outside = {CEREMONY / "session.py": {"Initialized"}, CEREMONY / "journal.py": {"JournalRecovered"}}
    found: dict[str, set[str]] = {}
    for path in CEREMONY.rglob("*.py"):
        if path in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func.id if isinstance(node.func, ast.Name) else \
                node.func.attr if isinstance(node.func, ast.Attribute) else None
            if func is not None:  # ``X(...)``, ``events.X(...)``, ``build(X, ...)``
                arg = node.args[0] if node.args else None
                built = {func} | ({arg.id} if func == "build" and isinstance(arg, ast.Name)
                                  else {arg.attr} if func == "build" and isinstance(arg, ast.Attribute)
                                  else set())
                for name in built & core - outside.get(path, set()):
                    found.setdefault(str(path.relative_to(ROOT)), set()).add(name)
    assert found == {}


def test_the_facade_is_the_session_with_the_steps() -> None:
    from ceremony.engine import Ceremony
    from ceremony.session import Session

    assert issubclass(Ceremony, Session)
    for name in CORE_STEPS:
        assert name in vars(Ceremony), name
        assert not hasattr(Session, name), name
