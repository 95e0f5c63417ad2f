"""Recompute every figure of docs/architecture.md from the code as it stands.

Run from the checkout:  ``PYTHONPATH=$PWD .venv/bin/python docs/architecture_figures.py``

The import graph is the one ``tests/architecture/test_import_graph.py`` builds (its ``build``,
``cycles`` and ``direction_violations`` are used as they are), so the page and the test can
never count differently. That test is the source of truth for cycles and directions; this
script only adds what a reader of the page needs: which layer each module sits in, how the
layers import each other, and the few edges that run against the layer order.

The layer of each module is data here (``LAYERS``, bottom up). A module that appears nowhere
falls into ``?`` and is printed: add it to the right layer, and to the page.
"""

from __future__ import annotations

import ast
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.architecture import test_import_graph as ig  # noqa: E402 - the checkout is put on the path first

# Bottom up. A module belongs to the first layer one of whose prefixes it equals or sits under.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("hsm", ("hsm",)),
    ("base", ("ceremony.errors", "ceremony.events", "ceremony.lazy", "ceremony.words", "ceremony.fingerprint",
              "ceremony.workspace", "ceremony.inputs", "ceremony.interaction", "ceremony.frozen",
              "ceremony.role_paths")),
    ("journal", ("ceremony.journal", "ceremony.state", "ceremony.lock")),
    ("model", ("ceremony.plan", "ceremony.keys", "ceremony.keyids", "ceremony.formats.base",
               "ceremony.formats.protocol", "ceremony.formats.registry", "ceremony.formats.tuf",
               "ceremony.formats.tuf_shape", "ceremony.formats.notary_json", "ceremony.formats.notary_keys",
               "ceremony.formats.notary_x509", "ceremony.formats.notary_root", "ceremony.formats.notary_files",
               "ceremony.formats.tuf_compat", "ceremony.formats.tuf_layout", "ceremony.formats")),
    ("checks", ("ceremony.chain", "ceremony.online_check", "ceremony.trusted_start",
                "ceremony.trust_roots", "ceremony.draft_trust", "ceremony.attestation", "ceremony.compromise",
                "ceremony.audit")),
    # the Format implementations: they walk chains and check attestations through the checks above
    ("formats", ("ceremony.formats.tuf_format", "ceremony.formats.tuf_detached", "ceremony.formats.token_keys",
                 "ceremony.formats.notary", "ceremony.formats.notary_chain", "ceremony.formats.notary_record",
                 "ceremony.formats.notary_detached", "ceremony.formats.notary_sign",
                 "ceremony.formats.tuf_record", "ceremony.formats.tuf_roles",
                 "ceremony.formats.x509.format", "ceremony.formats.x509.detached",
                 "ceremony.formats.x509.rehearsal")),
    ("transport", ("ceremony.transport", "ceremony.online")),
    ("session", ("ceremony.session", "ceremony.integrity", "ceremony.airgap")),
    ("steps", ("ceremony.steps", "ceremony.preflight", "ceremony.pin_audit", "ceremony.witness",
               "ceremony.transfer", "ceremony.detached", "ceremony.resume")),
    ("engine", ("ceremony.engine", "ceremony.backup", "ceremony.rehearse")),
    ("views", ("ceremony.seal", "ceremony.record", "ceremony.record_check", "ceremony.record_write",
               "ceremony.compare", "ceremony.next_step", "ceremony.status", "ceremony.script")),
    ("operations", ("ceremony.flows",)),
    ("faces", ("ceremony.cli", "ceremony.tui")),
]
ORDER = [name for name, _ in LAYERS]
TOP_PACKAGE = "ceremony"  # ceremony/__init__.py: only __version__; counted with base


def layer_of(module: str) -> str:
    if module == TOP_PACKAGE:
        return "base"
    best = ("?", -1)
    for name, prefixes in LAYERS:
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best[1]:
                best = (name, len(p))
    return best[0]


def kind(imp: ig.Import) -> str:
    return "type" if imp.type_only else "fn" if imp.in_function else "top"


def main() -> None:
    g = ig.build()
    mods = sorted(g.modules)
    unknown = [m for m in mods if layer_of(m) == "?"]
    print("== modules")
    per_pkg = Counter(m.split(".")[0] for m in mods)
    print(f"{len(mods)} modules ({per_pkg['ceremony']} ceremony, {per_pkg['hsm']} hsm); "
          f"{sum(1 for p in g.modules.values() for _ in p.open(encoding='utf-8'))} lines")
    if unknown:
        print("NOT IN ANY LAYER (add them to LAYERS):", ", ".join(unknown))
    tests = sorted((ROOT / "tests").rglob("test_*.py"))
    print(f"{len(tests)} test files in {len({t.parent for t in tests})} folders under tests/")

    print("\n== import statements (every import in ceremony/ and hsm/, stdlib and third party too)")
    c = Counter(kind(i) for i in g.imports)
    project = [i for i in g.imports if i.modules]
    cp = Counter(kind(i) for i in project)
    fn_all = [i for i in g.imports if i.in_function and not i.type_only]
    print(f"all: {len(g.imports)} (top {c['top']}, in functions {c['fn']}, under TYPE_CHECKING {c['type']})")
    print(f"naming a project module: {len(project)} (top {cp['top']}, in functions {cp['fn']}, "
          f"under TYPE_CHECKING {cp['type']})")
    print(f"in functions: {len(fn_all)}, of which with a `# lazy:` comment {sum(i.lazy for i in fn_all)}, "
          f"without {sum(not i.lazy for i in fn_all)}")

    runtime = g.edges(runtime_only=True)
    every = g.edges(runtime_only=False)
    pairs_rt = {(a, b) for a, bs in runtime.items() for b in bs if a != b}
    pairs_all = {(a, b) for a, bs in every.items() for b in bs if a != b}
    top_pairs = {(i.importer, t) for i in g.imports if kind(i) == "top" for t in i.modules}
    print(f"distinct module pairs: {len(pairs_rt)} at run time (+{len(pairs_all - pairs_rt)} under "
          f"TYPE_CHECKING only); {len(pairs_rt - top_pairs)} of them only through imports in functions")

    print("\n== the test's verdicts (tests/architecture/test_import_graph.py)")
    cyc = ig.cycles(g)
    print(f"cycles at run time: {len(cyc)} {[sorted(x) for x in cyc]}")
    typed = [s for s in ig.strongly_connected(g.modules, every) if len(s) > 1]
    print(f"cycles if TYPE_CHECKING imports counted: {len(typed)} {[sorted(x) for x in typed]}")
    dv = ig.direction_violations(g)
    print(f"direction violations: {len(dv)} {sorted(dv)}")
    um = ig.unmarked(g)
    print(f"unmarked in-function imports: {sum(len(v) for v in um.values())} in {len(um)} files")
    print(f"KNOWN_CYCLES {len(ig.KNOWN_CYCLES)}, KNOWN_DIRECTION {len(ig.KNOWN_DIRECTION)}, "
          f"KNOWN_UNMARKED {len(ig.KNOWN_UNMARKED)} files / {sum(ig.KNOWN_UNMARKED.values())} imports")

    print("\n== layers (bottom up): modules, and per imported layer 'top/fn/type' distinct module pairs")
    members: dict[str, list[str]] = defaultdict(list)
    for m in mods:
        members[layer_of(m)].append(m)
    matrix: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    seen: set[tuple[str, str, str]] = set()
    for i in g.imports:
        for t in i.modules:
            if t == i.importer:
                continue
            key = (i.importer, t, kind(i))
            if key in seen:
                continue
            seen.add(key)
            matrix[(layer_of(i.importer), layer_of(t))][kind(i)] += 1
    for layer in reversed(ORDER + (["?"] if unknown else [])):
        row = []
        for below in reversed(ORDER + (["?"] if unknown else [])):
            n = matrix.get((layer, below))
            if n and below != layer:
                row.append(f"{below} {n['top']}/{n['fn']}/{n['type']}")
        print(f"{layer:10} ({len(members[layer]):2}): " + ", ".join(row))

    print("\n== edges against the layer order (importer's layer below the imported one's)")
    up: dict[tuple[str, str], set[str]] = defaultdict(set)
    for i in g.imports:
        for t in i.modules:
            a, b = layer_of(i.importer), layer_of(t)
            if a in ORDER and b in ORDER and ORDER.index(a) < ORDER.index(b):
                up[(i.importer, t)].add(kind(i))
    for (a, b), kinds in sorted(up.items()):
        print(f"  {a} ({layer_of(a)}) -> {b} ({layer_of(b)}): {', '.join(sorted(kinds))}")

    print("\n== the journal: who builds a typed event, who appends")
    import ceremony.events as ev
    names = {cls.__name__ for cls in ev.BY_TYPE.values()}
    builders: dict[str, set[str]] = defaultdict(set)
    appenders: dict[str, int] = Counter()
    for m, path in g.modules.items():
        if m == "ceremony.events":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            if isinstance(f, ast.Name) and f.id in names:
                builders[m].add(f.id)
            elif (isinstance(f, ast.Name) and f.id == "build" and node.args
                  and isinstance(node.args[0], ast.Name) and node.args[0].id in names):
                builders[m].add(node.args[0].id)
            if (isinstance(f, ast.Attribute) and f.attr == "append" and node.args
                    and isinstance(node.args[0], ast.Call)
                    and (getattr(node.args[0].func, "id", None) in names | {"build"})):
                appenders[m] += 1
            if (isinstance(f, ast.Attribute) and f.attr == "append" and len(node.args) == 2
                    and isinstance(node.args[0], ast.Attribute) and node.args[0].attr == "TYPE"):
                appenders[m] += 1  # Journal.append(type, data): journal.recover, session.create_workspace
    print(f"{len(ev.BY_TYPE)} event types")
    for m in sorted(builders):
        print(f"  builds {m}: {', '.join(sorted(builders[m]))}")
    print("  modules calling .append(<typed event>) or Journal.append(E.TYPE, ...): "
          + ", ".join(f"{m} {n}" for m, n in sorted(appenders.items())))

    print("\n== a format named outside ceremony/formats/ (a format's name compared, or offered as a choice)")
    pat = re.compile(r"""(format|fmt|journal_format\([^)]*\))\s*[!=]=\s*["']"""
                     r"""|["'](tuf|notary)["']\s*[!=]=|is_notary|choices=\[["']tuf""")
    hits = []
    for m, path in sorted(g.modules.items()):
        if m.startswith("ceremony.formats"):
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pat.search(line) and not line.lstrip().startswith("#"):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:90]}")
    print(f"{len(hits)} lines")
    for h in hits:
        print("  " + h)
    neutral = ("base", "protocol", "registry")
    users: dict[str, set[str]] = defaultdict(set)
    for i in g.imports:
        if i.importer.startswith("ceremony.formats"):
            continue
        for t in i.targets:
            if t.startswith("ceremony.formats.") and t.rsplit(".", 1)[1] not in neutral:
                users[t].add(i.importer.removeprefix("ceremony.") + {"type": " (T)", "fn": " (fn)"}.get(kind(i), ""))
    print("concrete format modules imported from outside formats/:")
    for t, who in sorted(users.items()):
        distinct = {w.split(" ")[0] for w in who}
        print(f"  {t.removeprefix('ceremony.')} <- {len(distinct)} modules: {', '.join(sorted(who))}")

    print("\n== what the faces import below the operations layer (besides errors, cli.common, hsm.errors)")
    skip = {"ceremony.errors", "hsm.errors", "hsm", "ceremony", "ceremony.formats"}
    for m in mods:
        if layer_of(m) != "faces":
            continue
        below = sorted({t.removeprefix("ceremony.") for i in g.imports if i.importer == m and not i.type_only
                        for t in i.targets
                        if layer_of(t) not in ("faces", "operations") and t not in skip})
        if below:
            print(f"  {m.removeprefix('ceremony.')}: {', '.join(below)}")

    print("\n== typing")
    any_c = ignores = 0
    for path in g.modules.values():
        text = path.read_text(encoding="utf-8")
        any_c += len(re.findall(r"\bc: Any\b", text))
        ignores += len(re.findall(r"#\s*type:\s*ignore", text))
    print(f"`c: Any` parameters: {any_c}; `# type: ignore` comments in ceremony/ and hsm/: {ignores}")


if __name__ == "__main__":
    main()
