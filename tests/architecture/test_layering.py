"""The layering between ``hsm`` (the token library) and ``ceremony`` (the tool over it).

``hsm`` exposes what the formats need as public API (``TokenKey.sign_raw``,
``TokenKey.sign_digest``, ...) and keeps its error mapping behind it; ``ceremony`` never
reaches into ``hsm``'s private members, and ``hsm`` never imports ``ceremony``. Checked on
the source with ``ast``, so a new reach-in fails here rather than in a review.

The rule for a reach-in, in a module under ``ceremony/``:

* ``from hsm.x import _name`` (a private name imported from hsm), or
* ``<expr>._name`` where ``<expr>`` is rooted at a name bound by an ``hsm`` import
  (``hsm.pkcs11._REMOVED``, ``pkcs11mod._mapped``), or
* ``<expr>._name`` on any other object (a variable, a parameter, a call's result) where
  ``_name`` is a private member defined in ``hsm/`` (a method, a class or module-level name,
  or an ``self._name`` attribute) and defined nowhere in ``ceremony/``; ``self``/``cls`` are
  exempt. The last condition keeps ceremony's own private members with another meaning
  (none collide today; ``test_the_names_checked_are_hsms_own`` shows which are checked).

Tests under ``tests/`` are not checked: they reach into ``TokenKey._private``/``_public``
only to do what the public API must never allow (read CKA_VALUE, destroy one half of a pair
to simulate an interrupted keygen).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HSM = ROOT / "hsm"
CEREMONY = ROOT / "ceremony"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _sources(package: Path) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(package.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def private_names_defined(trees: list[ast.Module]) -> set[str]:
    """Private names a package defines: functions, classes, assigned names, ``self._x`` attributes."""
    names: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for sub in ast.walk(target):
                        if isinstance(sub, ast.Name):
                            names.add(sub.id)
                        elif (isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name)
                              and sub.value.id in ("self", "cls")):
                            names.add(sub.attr)
    return {n for n in names if _private(n)}


def _hsm_module(name: str | None) -> bool:
    return name is not None and (name == "hsm" or name.startswith("hsm."))


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def reach_ins(source: str, hsm_private: set[str], filename: str = "<source>") -> list[str]:
    """Each reach into hsm's private members in ``source``, as ``file:line: what``."""
    tree = ast.parse(source, filename=filename)
    from_hsm: set[str] = set()  # names bound by an hsm import, anywhere in the file
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _hsm_module(alias.name):
                    from_hsm.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and _hsm_module(node.module):
            for alias in node.names:
                from_hsm.add(alias.asname or alias.name)
                if _private(alias.name):
                    found.append((node.lineno, f"imports {alias.name} from {node.module}"))
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and _private(node.attr)):
            continue
        root = _root_name(node.value)
        if root in from_hsm:
            found.append((node.lineno, f"{ast.unparse(node)} (on {root}, from hsm)"))
        elif node.attr in hsm_private and not (isinstance(node.value, ast.Name)
                                               and node.value.id in ("self", "cls")):
            found.append((node.lineno, f"{ast.unparse(node)} (hsm's private {node.attr})"))
    return [f"{filename}:{line}: {what}" for line, what in sorted(found)]


def _checked_names() -> set[str]:
    hsm_private = private_names_defined([tree for _, tree in _sources(HSM)])
    ceremony_private = private_names_defined([tree for _, tree in _sources(CEREMONY)])
    return hsm_private - ceremony_private


def test_ceremony_never_touches_hsm_private_members() -> None:
    checked = _checked_names()
    found = [hit for path, _ in _sources(CEREMONY)
             for hit in reach_ins(path.read_text(encoding="utf-8"), checked,
                                  str(path.relative_to(ROOT)))]
    assert found == [], "ceremony/ reaches into hsm/ (add public API to hsm instead):\n" + "\n".join(found)


def test_the_names_checked_are_hsms_own() -> None:
    checked = _checked_names()
    # the members the Notary signer once reached for, and the module's own error mapping
    assert {"_private", "_public", "_session", "_mapped", "_token_info", "_REMOVED"} <= checked
    assert "_describe_key" not in checked  # ceremony's own (the engine's), not hsm's


def test_the_rule_catches_the_old_notary_reach_in() -> None:
    old = (
        "from hsm.pkcs11 import TokenKey, _token_info\n"
        "import hsm.pkcs11 as p\n"
        "def sign_sha256(tk: TokenKey, message: bytes) -> bytes:\n"
        "    with tk.module._mapped(tk.token, 'signing'):\n"
        "        return bytes(tk._private.sign(message, mechanism=0))\n"
        "def gone() -> object:\n"
        "    return p._REMOVED\n"
        "class Mine:\n"
        "    def f(self) -> object:\n"
        "        return self._private, self._describe_key\n"
    )
    found = reach_ins(old, _checked_names(), "old.py")
    assert found == [
        "old.py:1: imports _token_info from hsm.pkcs11",
        "old.py:4: tk.module._mapped (hsm's private _mapped)",
        "old.py:5: tk._private (hsm's private _private)",
        "old.py:7: p._REMOVED (on p, from hsm)",
    ]


def test_hsm_never_imports_ceremony() -> None:
    found = []
    for path, tree in _sources(HSM):
        for node in ast.walk(tree):
            modules: list[str] = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                  and isinstance(node.args[0].value, str)
                  and ast.unparse(node.func) in ("importlib.import_module", "import_module", "__import__")):
                modules = [node.args[0].value]
            found += [f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}: {m}" for m in modules
                      if m == "ceremony" or m.startswith("ceremony.")]
    assert found == [], "hsm/ must not import ceremony/ (the dependency runs one way):\n" + "\n".join(found)
