"""The import graph of ``ceremony/`` and ``hsm/``, computed from the source with ``ast``.

Issue 14 asks for a house whose file tops show the real dependencies: no import cycle, no
format importing the engine, a protocol library never importing its faces, and an import
inside a function only where it buys start-up time, saying so. This test computes the graph
and fails on each of those, naming the file and line of every offending import.

How the graph is built (and why):

* **Nodes** are the modules under ``ceremony/`` and ``hsm/`` (``pkg/__init__.py`` is ``pkg``).
* **Edges** come from every ``import`` / ``from ... import`` anywhere in a file (module level,
  class bodies, inside functions) and from ``importlib.import_module("literal")``. Relative
  imports are resolved. ``from pkg import name`` is an edge to ``pkg.name`` when that is a
  module, else to ``pkg``.
* **Parent packages count**: importing ``ceremony.transport.bundle`` runs
  ``ceremony/transport/__init__.py`` first, so the importer also gets an edge to
  ``ceremony.transport`` (reported as "runs its package"); the importer's own parent packages
  are left out (they are already loading when it runs).
* **``if TYPE_CHECKING:`` imports** never run, so they close no cycle and need no ``# lazy:``
  comment: they are left out of the cycle check. They are a dependency all the same (the
  importer's types name the imported module), so they count for the direction rules: a format
  that needs a session type for its annotations gets a protocol in ``formats/``, not an import
  of the engine.
* **In-function** means inside a ``def`` (at any depth). Such an import must carry a comment
  starting ``# lazy:`` with a reason, on one of its lines or on a comment-only line right
  above it, e.g. ``import tuf.api.metadata  # lazy: tuf and securesystemslib, not needed by
  status``. Every in-function import counts, the standard library's too: one that buys
  nothing belongs at the top.

The rules: (1) no cycle (strongly connected component of more than one module, or a module
importing itself); (2) nothing under ``ceremony/formats/`` imports ``ceremony.engine``,
``ceremony.session`` or ``ceremony.steps``; (3) ``hsm`` imports nothing from ``ceremony``;
(4) a module below the faces imports no face (``ceremony.cli*``, ``ceremony.tui``) and a
module below the operations layer does not import ``ceremony.flows``; (5) the ``# lazy:``
rule above.

**Known debt.** Other branches are breaking today's cycles while this test lands, so what the
code breaks today is listed below as data (``KNOWN_CYCLES``, ``KNOWN_DIRECTION``,
``KNOWN_UNMARKED``). The test fails when something *new* appears and also when a listed debt
is gone or has shrunk, with the message saying which entry to remove or lower, so the list
can only shrink. Print the lists for the code as it stands with
``python tests/architecture/test_import_graph.py``.
"""

from __future__ import annotations

import ast
import io
import os
import subprocess
import sys
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
PACKAGES = ("ceremony", "hsm")

FORMATS = "ceremony.formats"
ENGINE_SIDE = ("ceremony.engine", "ceremony.session", "ceremony.steps")
FACES = ("ceremony.cli", "ceremony.tui")  # ceremony.cli matches cli.py, cli_*.py and a ceremony/cli/ package
OPERATIONS = ("ceremony.flows",)

# ---------------------------------------------------------------------------------------------
# KNOWN DEBT: what the code breaks today. Entries only ever leave these lists.

# Strongly connected components of the runtime import graph (each a set of modules).
KNOWN_CYCLES: list[set[str]] = []

# (importer, imported) pairs breaking a direction rule (2), (3) or (4).
KNOWN_DIRECTION: set[tuple[str, str]] = set()

# Per file: how many imports inside functions carry no `# lazy:` comment.
KNOWN_UNMARKED: dict[str, int] = {}
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    """One import statement's reach into the project (or outside it).

    ``named`` is the absolute name the statement imports; ``modules`` the project modules it
    runs (``targets``, the project modules it names, and their parent packages, minus the
    importer's own parents).
    """

    importer: str
    path: str
    line: int
    text: str
    named: str
    targets: tuple[str, ...]
    modules: tuple[str, ...]
    in_function: bool
    type_only: bool
    lazy: bool

    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class Graph:
    """Every import of the project's modules, and the modules themselves."""

    modules: dict[str, Path] = field(default_factory=dict)
    imports: list[Import] = field(default_factory=list)

    def edges(self, runtime_only: bool = True) -> dict[str, dict[str, list[Import]]]:
        """``importer -> imported -> [imports]`` over project modules (self-edges kept)."""
        out: dict[str, dict[str, list[Import]]] = {m: {} for m in self.modules}
        for imp in self.imports:
            if runtime_only and imp.type_only:
                continue
            for target in imp.modules:
                out[imp.importer].setdefault(target, []).append(imp)
        return out


def module_name(root: Path, path: Path) -> str:
    """``ceremony/tui/app.py`` -> ``ceremony.tui.app``; ``pkg/__init__.py`` -> ``pkg``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _lazy_lines(source: str) -> tuple[set[int], set[int]]:
    """Lines carrying a ``# lazy: reason`` comment, and which of them hold nothing else."""
    lazy: set[int] = set()
    code_lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            _, sep, reason = tok.string.partition("# lazy:")
            if sep and reason.strip():
                lazy.add(tok.start[0])
        elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                              tokenize.ENDMARKER):
            code_lines.update(range(tok.start[0], tok.end[0] + 1))
    return lazy, lazy - code_lines


def _is_type_checking(test: ast.expr) -> bool:
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _import_module_literal(node: ast.Call) -> str | None:
    if (node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
            and ast.unparse(node.func) in ("importlib.import_module", "import_module", "__import__")):
        return node.args[0].value
    return None


class _Collector(ast.NodeVisitor):
    """Walks one module, knowing at each import whether it sits in a function or TYPE_CHECKING."""

    def __init__(self, graph: Graph, importer: str, is_package: bool, path: str, source: str) -> None:
        self.graph = graph
        self.importer = importer
        self.package = importer if is_package else importer.rpartition(".")[0]
        self.path = path
        self.lines = source.splitlines()
        self.lazy, self.lazy_alone = _lazy_lines(source)
        self.depth = 0
        self.type_only = 0

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for d in node.decorator_list:
            self.visit(d)
        self.depth += 1
        for stmt in node.body:
            self.visit(stmt)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815 - the visitor's naming

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.depth += 1
        self.visit(node.body)
        self.depth -= 1

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self.type_only += 1
            for stmt in node.body:
                self.visit(stmt)
            self.type_only -= 1
            for stmt in node.orelse:
                self.visit(stmt)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(node, alias.name, [alias.name])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base_parts = self.package.split(".")
            base_parts = base_parts[: len(base_parts) - (node.level - 1)]
            base = ".".join(base_parts + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        candidates = [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"]
        self._add(node, base, candidates or [base])

    def visit_Call(self, node: ast.Call) -> None:
        name = _import_module_literal(node)
        if name is not None:
            self._add(node, name, [name])
        self.generic_visit(node)

    def _add(self, node: ast.stmt | ast.expr, named: str, candidates: list[str]) -> None:
        known = self.graph.modules
        targets: list[str] = []
        for cand in candidates:
            # the longest prefix that is a project module: `from pkg import mod` names pkg.mod,
            # `from pkg.mod import func` names pkg.mod
            parts = cand.split(".")
            hit = next((".".join(parts[:i]) for i in range(len(parts), 0, -1) if ".".join(parts[:i]) in known),
                       None)
            if hit is not None and hit not in targets:
                targets.append(hit)
        mine = {*_ancestors(self.importer), self.importer}  # already loading when this runs
        runs: list[str] = []
        for t in targets:
            for m in [*_ancestors(t), t]:
                if m in known and (m not in mine or m == t) and m not in runs:
                    runs.append(m)
        line = node.lineno
        end = node.end_lineno or line
        lazy = any(n in self.lazy for n in range(line, end + 1)) or (line - 1) in self.lazy_alone
        text = " ".join(ln.strip() for ln in self.lines[line - 1:end])
        self.graph.imports.append(Import(
            importer=self.importer, path=self.path, line=line, text=text, named=named,
            targets=tuple(targets), modules=tuple(runs), in_function=self.depth > 0,
            type_only=self.type_only > 0, lazy=lazy))


def build(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> Graph:
    """The import graph of ``packages`` (folders under ``root``)."""
    graph = Graph()
    files = sorted(p for pkg in packages for p in (root / pkg).rglob("*.py"))
    for path in files:
        graph.modules[module_name(root, path)] = path
    for path in files:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, filename=str(path))
        collector = _Collector(graph, module_name(root, path), path.name == "__init__.py",
                               path.relative_to(root).as_posix(), source)
        collector.visit(tree)
    return graph


def strongly_connected(nodes: Iterable[str], edges: dict[str, dict[str, list[Import]]]) -> list[set[str]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit to meet)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[set[str]] = []
    counter = 0
    for start in sorted(nodes):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(edges.get(start, {}))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, {})))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp.add(member)
                    if member == node:
                        break
                out.append(comp)
    return out


def cycles(graph: Graph) -> list[set[str]]:
    """Components of the runtime graph that are cycles (size > 1, or a module importing itself)."""
    edges = graph.edges(runtime_only=True)
    return [c for c in strongly_connected(graph.modules, edges)
            if len(c) > 1 or next(iter(c)) in edges[next(iter(c))]]


def cycle_imports(graph: Graph, comp: set[str]) -> list[str]:
    """The imports inside one component, as ``path:line: a -> b (how)``: the ones to break."""
    edges = graph.edges(runtime_only=True)
    rows: list[tuple[str, int, str]] = []
    for a in comp:
        for b, imps in edges[a].items():
            if b not in comp:
                continue
            for imp in imps:
                how = "in a function" if imp.in_function else "at the top"
                if b not in imp.targets:
                    how += f", runs its package {b}"
                rows.append((imp.path, imp.line, f"{a} -> {b} ({how})"))
    return [f"{p}:{n}: {what}" for p, n, what in sorted(set(rows))]


def _under(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") or (p == "ceremony.cli" and name.startswith("ceremony.cli_"))
               for p in prefixes)


def direction_violations(graph: Graph) -> dict[tuple[str, str], list[str]]:
    """Imports breaking rules (2)-(4), grouped by (importer, imported) module pair."""
    found: dict[tuple[str, str], list[str]] = {}
    for imp in graph.imports:
        a = imp.importer
        for b in imp.modules:
            why = None
            if _under(a, (FORMATS,)) and _under(b, ENGINE_SIDE):
                why = "a format imports the engine side"
            elif _under(a, ("hsm",)) and _under(b, ("ceremony",)):
                why = "hsm imports ceremony"
            elif not _under(a, FACES) and _under(b, FACES):
                why = "a module below the faces imports a face"
            elif not _under(a, FACES + OPERATIONS) and _under(b, OPERATIONS):
                why = "a module below the operations layer imports ceremony.flows"
            if why:
                kind = "TYPE_CHECKING" if imp.type_only else "in a function" if imp.in_function else "at the top"
                found.setdefault((a, b), []).append(f"{imp.where()}: {a} -> {b} ({why}; {kind}): {imp.text}")
    return found


def unmarked(graph: Graph) -> dict[str, list[Import]]:
    """Per file, the imports inside functions without a ``# lazy:`` comment."""
    out: dict[str, list[Import]] = {}
    for imp in graph.imports:
        if imp.in_function and not imp.type_only and not imp.lazy:
            out.setdefault(imp.path, []).append(imp)
    return out


# --- the rules, against the code ---------------------------------------------------------------


def _fmt(comp: Iterable[str]) -> str:
    return "{" + ", ".join(repr(m) for m in sorted(comp)) + "}"


def check_cycles(found: list[set[str]], known: list[set[str]], graph: Graph) -> list[str]:
    """What is wrong between the cycles found and the known ones, one message each."""
    problems: list[str] = []
    current = [frozenset(c) for c in found]
    listed = [frozenset(c) for c in known]
    for comp in current:
        if comp in listed:
            continue
        if any(comp < k for k in listed):
            continue  # a known cycle that shrank: reported below, from the known side
        problems.append(f"new import cycle {_fmt(comp)} (not in KNOWN_CYCLES); the imports inside it, "
                        "break one so the chain opens:\n    " + "\n    ".join(cycle_imports(graph, comp)))
    for k in listed:
        if k in current:
            continue
        inside = [c for c in current if c < k]
        around = [c for c in current if c > k]
        if around:
            problems.append(f"KNOWN_CYCLES lists {_fmt(k)}; it grew into {_fmt(around[0])}, reported above as new")
        elif inside:
            problems.append(f"KNOWN_CYCLES lists {_fmt(k)}, but only " + " and ".join(_fmt(c) for c in inside)
                            + " still form a cycle: replace the entry by " + ", ".join(_fmt(c) for c in inside))
        else:
            problems.append(f"KNOWN_CYCLES lists {_fmt(k)}, but those modules form no cycle any more: "
                            "remove the entry")
    return problems


def check_direction(found: dict[tuple[str, str], list[str]], known: set[tuple[str, str]]) -> list[str]:
    problems = [f"new dependency against the layering, {a} -> {b} (not in KNOWN_DIRECTION):\n    "
                + "\n    ".join(lines) for (a, b), lines in sorted(found.items()) if (a, b) not in known]
    problems += [f"KNOWN_DIRECTION lists ({a!r}, {b!r}), but {a} no longer imports {b}: remove the entry"
                 for a, b in sorted(known - set(found))]
    return problems


def check_unmarked(found: dict[str, list[Import]], known: dict[str, int]) -> list[str]:
    problems: list[str] = []
    for path in sorted(set(found) | set(known)):
        imps = found.get(path, [])
        allowed = known.get(path, 0)
        if len(imps) > allowed:
            problems.append(
                f"{path}: {len(imps)} imports inside functions without a `# lazy:` comment "
                f"(KNOWN_UNMARKED allows {allowed}): move each to the top of the file, or say on its line "
                "what start-up time it buys (`# lazy: tuf, not needed by status`):\n    "
                + "\n    ".join(f"{i.where()}: {i.text}" for i in imps))
        elif len(imps) < allowed:
            fix = f"lower the entry to {len(imps)}" if imps else "remove the entry"
            problems.append(f"KNOWN_UNMARKED[{path!r}] is {allowed}, the file now has {len(imps)}: {fix}")
    return problems


_GRAPH: Graph | None = None


def _graph() -> Graph:
    global _GRAPH
    if _GRAPH is None:
        _GRAPH = build()
    return _GRAPH


def test_no_import_cycle() -> None:
    graph = _graph()
    problems = check_cycles(cycles(graph), KNOWN_CYCLES, graph)
    assert not problems, "\n\n".join(problems)


def test_dependencies_point_down() -> None:
    problems = check_direction(direction_violations(_graph()), KNOWN_DIRECTION)
    assert not problems, "\n\n".join(problems)


def test_imports_inside_functions_say_what_they_buy() -> None:
    problems = check_unmarked(unmarked(_graph()), KNOWN_UNMARKED)
    assert not problems, "\n\n".join(problems)


def test_the_graph_sees_the_whole_project() -> None:
    graph = _graph()
    # a walker that lost its way would find nothing and pass every rule above
    assert len(graph.modules) > 100
    assert {"ceremony.cli", "ceremony.journal", "hsm.pkcs11", "ceremony.transport"} <= set(graph.modules)
    assert len(graph.imports) > 1000
    edges = graph.edges()
    assert "ceremony.errors" in edges["ceremony.journal"]
    assert "ceremony.events" in edges["ceremony.state"]


# What start-up must not load: each line imports what a command needs and names the packages
# that would cost it time (measured in bench/bench_startup.py); a fresh interpreter each, since
# this test process has loaded everything already.
STAYS_LAZY: list[tuple[str, tuple[str, ...]]] = [
    ("import ceremony.cli", ("tuf", "securesystemslib", "filelock", "qrcode", "PIL", "textual", "fido2",
                             "yubikit")),  # `ceremony --help`
    ("import ceremony.lock", ("filelock",)),  # loaded by hold() only: readers such as status never lock
    ("import ceremony.plan", ("securesystemslib.signer", "tuf")),  # its KMS signers: ~130 ms, for a key only
    ("from ceremony.transport import Bundle, write_files, export_usb, import_usb, find_bundles",
     ("qrcode", "PIL", "zxingcpp", "av")),  # a USB bundle draws and reads no QR code
    ("import ceremony.transport.scan", ("av",)),  # PyAV for a video only
    ("import hsm.fido", ("fido2",)),  # the optional [yubikey] extra, at a witness step only
    ("import hsm.yubikey.signing, hsm.yubikey.provision, hsm.yubikey.attestation, hsm.yubikey.preflight",
     ("yubikit", "ykman", "smartcard")),
]


def test_start_up_stays_lazy() -> None:
    problems = []
    for statement, absent in STAYS_LAZY:
        code = (f"{statement}\nimport sys\n"
                f"print(' '.join(m for m in {absent!r} if m in sys.modules))")
        run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert run.returncode == 0, f"{statement!r} failed:\n{run.stderr}"
        if run.stdout.split():
            problems.append(f"`{statement}` loads {', '.join(run.stdout.split())}: import it where it is used, "
                            "with a `# lazy:` comment")
    assert not problems, "\n".join(problems)


def test_the_lazy_transport_surface_is_whole() -> None:
    import ceremony.transport as transport
    from ceremony.transport import qr, usb
    # every name of __all__ resolves, to the object its submodule defines
    assert {name: getattr(transport, name) is not None for name in transport.__all__} == dict.fromkeys(
        transport.__all__, True)
    assert transport.export_qr is qr.export_qr and transport.import_usb is usb.import_usb
    with pytest.raises(AttributeError, match="has no attribute 'export_pdf'"):
        transport.export_pdf  # noqa: B018 - the attribute access is the test


# --- the analyser itself, on small made-up packages --------------------------------------------


def _write(root: Path, files: dict[str, str]) -> Graph:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return build(root, ["pkg"])


def test_a_cycle_through_a_function_import_is_found_with_its_lines(tmp_path: Path) -> None:
    graph = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg import b\n",
        "pkg/b.py": "import os\n\n\ndef f() -> None:\n    from pkg.a import x  # lazy: a is big\n",
        "pkg/c.py": "from . import a\n",
    })
    found = cycles(graph)
    assert found == [{"pkg.a", "pkg.b"}]
    assert cycle_imports(graph, found[0]) == [
        "pkg/a.py:1: pkg.a -> pkg.b (at the top)",
        "pkg/b.py:5: pkg.b -> pkg.a (in a function)",
    ]
    problems = check_cycles(found, [], graph)
    assert len(problems) == 1 and problems[0].startswith("new import cycle {'pkg.a', 'pkg.b'} (not in KNOWN_CYCLES)")
    assert "pkg/b.py:5: pkg.b -> pkg.a (in a function)" in problems[0]
    assert check_cycles(found, [{"pkg.a", "pkg.b"}], graph) == []


def test_a_known_cycle_that_is_gone_or_shrank_must_leave_the_list(tmp_path: Path) -> None:
    graph = _write(tmp_path, {"pkg/__init__.py": "", "pkg/a.py": "import pkg.b\n", "pkg/b.py": "import pkg.a\n",
                              "pkg/c.py": ""})
    found = cycles(graph)
    assert check_cycles(found, [{"pkg.a", "pkg.b", "pkg.c"}], graph) == [
        "KNOWN_CYCLES lists {'pkg.a', 'pkg.b', 'pkg.c'}, but only {'pkg.a', 'pkg.b'} still form a cycle: "
        "replace the entry by {'pkg.a', 'pkg.b'}"]
    assert check_cycles([], [{"pkg.a", "pkg.b"}], graph) == [
        "KNOWN_CYCLES lists {'pkg.a', 'pkg.b'}, but those modules form no cycle any more: remove the entry"]
    grown = check_cycles([{"pkg.a", "pkg.b", "pkg.c"}], [{"pkg.a", "pkg.b"}], graph)
    assert grown[0].startswith("new import cycle {'pkg.a', 'pkg.b', 'pkg.c'} (not in KNOWN_CYCLES)")
    assert grown[1] == ("KNOWN_CYCLES lists {'pkg.a', 'pkg.b'}; it grew into {'pkg.a', 'pkg.b', 'pkg.c'}, "
                        "reported above as new")


def test_type_checking_imports_close_no_cycle_but_count_for_direction(tmp_path: Path) -> None:
    graph = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from typing import TYPE_CHECKING\nimport pkg.b\nif TYPE_CHECKING:\n    import pkg.a\n",
        "pkg/b.py": "import typing\nif typing.TYPE_CHECKING:\n    from pkg.a import A\nelse:\n    import json\n",
    })
    assert cycles(graph) == []
    b_imports = [i for i in graph.imports if i.importer == "pkg.b"]
    assert [(i.named, i.type_only) for i in b_imports] == [("typing", False), ("pkg.a", True), ("json", False)]


def test_parent_packages_run_and_relative_imports_resolve(tmp_path: Path) -> None:
    graph = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/sub/__init__.py": "from pkg.sub.heavy import H\n",
        "pkg/sub/heavy.py": "from ..low import L\n",
        "pkg/sub/light.py": "from .heavy import H\n",
        "pkg/low.py": "def f() -> None:\n    from pkg.sub import light\n",
    })
    edges = graph.edges()
    assert set(edges["pkg.low"]) == {"pkg.sub", "pkg.sub.light"}  # the package's __init__ runs first
    assert set(edges["pkg.sub.heavy"]) == {"pkg.low"}
    assert set(edges["pkg.sub.light"]) == {"pkg.sub.heavy"}  # its own package is already loading
    comp = {"pkg.sub", "pkg.sub.heavy", "pkg.sub.light", "pkg.low"}
    assert cycles(graph) == [comp]
    assert cycle_imports(graph, comp) == [
        "pkg/low.py:2: pkg.low -> pkg.sub (in a function, runs its package pkg.sub)",
        "pkg/low.py:2: pkg.low -> pkg.sub.light (in a function)",
        "pkg/sub/__init__.py:1: pkg.sub -> pkg.sub.heavy (at the top)",
        "pkg/sub/heavy.py:1: pkg.sub.heavy -> pkg.low (at the top)",
        "pkg/sub/light.py:1: pkg.sub.light -> pkg.sub.heavy (at the top)",
    ]


def test_the_lazy_comment_rule(tmp_path: Path) -> None:
    graph = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/m.py": (
            "import json\n"                                      # 1 top: fine
            "def f() -> None:\n"
            "    import os  # lazy: nothing, just to test\n"     # 3 marked
            "    # lazy: tuf (~190 ms), not needed by status\n"
            "    import tuf\n"                                   # 5 marked on the line above
            "    import csv\n"                                   # 6 unmarked (line above is code)
            "    from pkg import (\n"                            # 7 multi-line, marked on a later line
            "        m,  # lazy: itself\n"
            "    )\n"
            "    import re  # lazy:\n"                           # 10 a comment without a reason
            "    s = '# lazy: in a string'; import abc\n"        # 11 not a comment
            "class C:\n"
            "    import glob\n"                                  # 13 class body: top
            "    def g(self) -> None:\n"
            "        import importlib; importlib.import_module('pkg.m')\n"  # 15 two, both unmarked
        ),
    })
    found = unmarked(graph)
    assert [(i.line, i.named) for i in found["pkg/m.py"]] == [
        (6, "csv"), (10, "re"), (11, "abc"), (15, "importlib"), (15, "pkg.m")]
    problems = check_unmarked(found, {"pkg/m.py": 4})
    assert problems[0].startswith("pkg/m.py: 5 imports inside functions without a `# lazy:` comment "
                                  "(KNOWN_UNMARKED allows 4)")
    assert "pkg/m.py:6: import csv" in problems[0]
    assert check_unmarked(found, {"pkg/m.py": 5}) == []
    assert check_unmarked(found, {"pkg/m.py": 7, "pkg/gone.py": 2}) == [
        "KNOWN_UNMARKED['pkg/gone.py'] is 2, the file now has 0: remove the entry",
        "KNOWN_UNMARKED['pkg/m.py'] is 7, the file now has 5: lower the entry to 5",
    ]


def test_the_direction_rules(tmp_path: Path) -> None:
    files = {
        "ceremony/__init__.py": "",
        "ceremony/engine.py": "",
        "ceremony/steps/__init__.py": "",
        "ceremony/steps/sign.py": "",
        "ceremony/cli_trust.py": "import ceremony.flows.export\n",  # a face may use operations
        "ceremony/cli/__init__.py": "",
        "ceremony/cli/main.py": "",
        "ceremony/tui/__init__.py": "",
        "ceremony/tui/app.py": "from ceremony.cli import main\n",
        "ceremony/flows/__init__.py": "",
        "ceremony/flows/export.py": "import ceremony.engine\n",
        "ceremony/formats/__init__.py": "",
        "ceremony/formats/x.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                  "    from ceremony.engine import Ceremony\n"),
        "ceremony/formats/y.py": "from ceremony.steps.sign import s\n",
        "ceremony/status.py": "def f() -> None:\n    from ceremony.flows import export  # lazy: x\n",
        "ceremony/transfer.py": "import ceremony.cli_trust\n",
        "hsm/__init__.py": "",
        "hsm/pkcs11.py": "from ceremony import errors\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    found = direction_violations(build(tmp_path, ["ceremony", "hsm"]))
    assert sorted(found) == [
        ("ceremony.formats.x", "ceremony.engine"),
        ("ceremony.formats.y", "ceremony.steps"),
        ("ceremony.formats.y", "ceremony.steps.sign"),
        ("ceremony.status", "ceremony.flows"),
        ("ceremony.status", "ceremony.flows.export"),
        ("ceremony.transfer", "ceremony.cli_trust"),
        ("hsm.pkcs11", "ceremony"),
    ]
    assert found[("ceremony.formats.x", "ceremony.engine")] == [
        "ceremony/formats/x.py:3: ceremony.formats.x -> ceremony.engine (a format imports the engine side; "
        "TYPE_CHECKING): from ceremony.engine import Ceremony"]
    problems = check_direction(found, {("ceremony.transfer", "ceremony.cli_trust"), ("ceremony.a", "ceremony.cli")})
    assert problems[-1] == ("KNOWN_DIRECTION lists ('ceremony.a', 'ceremony.cli'), but ceremony.a no longer "
                            "imports ceremony.cli: remove the entry")
    assert problems[0].startswith("new dependency against the layering, ceremony.formats.x -> ceremony.engine")
    assert len(problems) == 7


def _debt_literal(graph: Graph) -> str:
    """Today's debt, as the Python to paste over the KNOWN_* lists above."""
    def q(text: str) -> str:
        return '"' + text + '"'

    out = ["KNOWN_CYCLES: list[set[str]] = ["]
    for comp in sorted(cycles(graph), key=sorted):
        one = "    {" + ", ".join(q(m) for m in sorted(comp)) + "},"
        out += [one] if len(one) <= 110 else ["    {", *(f"        {q(m)}," for m in sorted(comp)), "    },"]
    out += ["]", "", "# (importer, imported) pairs breaking a direction rule (2), (3) or (4).",
            "KNOWN_DIRECTION: set[tuple[str, str]] = {"]
    out += [f"    ({q(a)}, {q(b)})," for a, b in sorted(direction_violations(graph))]
    out += ["}", "", "# Per file: how many imports inside functions carry no `# lazy:` comment.",
            "KNOWN_UNMARKED: dict[str, int] = {"]
    out += [f"    {q(p)}: {len(v)}," for p, v in sorted(unmarked(graph).items())]
    out += ["}"]
    return "\n".join(out)


if __name__ == "__main__":
    print(_debt_literal(build(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT)))
