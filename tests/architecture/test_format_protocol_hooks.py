"""A format's hooks are called through the protocol, never looked up by name.

Every member of ``ceremony.formats.protocol.Format`` and ``FormatClass`` is declared there with
its type, and an optional one has its default in ``ceremony.formats.defaults.FormatDefaults``
(which every format class inherits), so a caller outside ``ceremony/formats/`` calls it and
mypy checks the call. ``getattr(fmt, "hook", fallback)`` or ``hasattr(klass, "hook")`` would
hide a hook from mypy and from the protocol a new format is written against: checked here on
the source with ``ast``, over every module under ``ceremony/`` outside ``formats/``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ceremony.errors import VerificationError
from ceremony.formats import registry
from ceremony.formats.defaults import DetachedDefaults, FormatDefaults
from ceremony.formats.x509.format import X509Format
from tests.support.toy_format import ToyFormat

ROOT = Path(__file__).resolve().parents[2]
CEREMONY = ROOT / "ceremony"
PROTOCOL = CEREMONY / "formats" / "protocol.py"
#: Names a format shares with unrelated objects read with getattr (a curve's ``name``).
GENERIC = {"name"}


def protocol_members(path: Path = PROTOCOL,
                     classes: tuple[str, ...] = ("Format", "FormatClass", "DetachedAdapter")) -> set[str]:
    """The methods and attributes the format protocols declare."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name in classes:
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    out.add(item.name)
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    out.add(item.target.id)
    return out - {"__call__"}


def lookups_by_name(source: str, members: set[str]) -> list[tuple[int, str, str]]:
    """``(line, getattr/hasattr, member)`` for each lookup of a protocol member by its name."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "hasattr") and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant) and node.args[1].value in members):
            out.append((node.lineno, node.func.id, str(node.args[1].value)))
    return out


def test_no_module_outside_formats_looks_a_format_hook_up_by_name() -> None:
    members = protocol_members() - GENERIC
    found = []
    for path in sorted(CEREMONY.rglob("*.py")):
        if (CEREMONY / "formats") in path.parents:
            continue
        for line, how, member in lookups_by_name(path.read_text(encoding="utf-8"), members):
            found.append(f"{path.relative_to(ROOT)}:{line}: {how}(..., {member!r})")
    assert found == [], "call the hook through the protocol (default in FormatDefaults):\n" + "\n".join(found)


def test_the_check_finds_a_lookup_by_name() -> None:
    """The check is not vacuous: the hooks it covers include the ones moved into the protocol,
    and the lookups this branch removed are what it reports."""
    members = protocol_members() - GENERIC
    assert {"online_roles", "plan_table", "offline_roles", "rehearsal_sequence", "rehearsal_plan",
            "export_files", "check_bundle", "check_bundle_extra", "script_publish", "script_verify",
            "init_lines", "signers_in_order", "load_roles", "draft_words"} <= members
    source = ('own = getattr(c.format, "export_files", None)\n'
              'ok = hasattr(k, "check_bundle")\n'
              'curve = getattr(key, "name", None)\n'
              'left = getattr(info, "pin_attempts_left", None)\n'
              'load = getattr(adapter, "load_roles", None)\n')
    assert lookups_by_name(source, members) == [(1, "getattr", "export_files"), (2, "hasattr", "check_bundle"),
                                                (5, "getattr", "load_roles")]


def test_every_optional_hook_has_its_default_and_every_format_inherits_it() -> None:
    """Each hook the protocol declares is defined by every registered format and the toy one;
    the optional ones come from FormatDefaults unless the format says otherwise."""
    members = protocol_members(classes=("Format", "FormatClass"))
    classes = [*(registry.format_class(n) for n in registry.names()), ToyFormat]
    for klass in classes:
        assert issubclass(klass, FormatDefaults), klass  # type: ignore[arg-type]
        missing = sorted(m for m in members if not hasattr(klass, m) and m != "view")
        assert missing == [], f"{klass.__name__} lacks {missing}"
    assert registry.format_class("tuf").online_roles == ("targets", "snapshot", "timestamp")
    assert registry.format_class("tuf").plan_table is None
    assert registry.format_class("notary").rehearsal_sequence == {}
    assert registry.format_class("notary").check_bundle({}, None) is None
    assert FormatDefaults.check_bundle_extra({"1.root.json": b"", "root.json": b""}, b"") == []
    with pytest.raises(VerificationError, match="ceremony-keys.json in the bundle is not metadata "
                       "this tool publishes beside a root chain; nothing was written"):
        FormatDefaults.check_bundle_extra({"1.root.json": b"", "ceremony-keys.json": b"{}"}, b"")
    assert X509Format.online_roles == () and X509Format.plan_table == "x509"
    for name in registry.names():  # every format's detached-signing adapter
        adapter = registry.format_class(name).detached()
        assert isinstance(adapter, DetachedDefaults), name
        assert adapter.load_roles({}, Path("draft.json")) == {}
    assert X509Format.signers_in_order and not registry.format_class("tuf").signers_in_order  # type: ignore[attr-defined]
