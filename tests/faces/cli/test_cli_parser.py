"""The CLI builds the subparser of the command it runs, not the whole tree (issue 14, start-up).

What is checked: the table of which command group registers which command is what the groups
register; a command parsed with its group alone gives the namespace the full tree gives; every
usage error and help text is the full tree's, word for word (the one-group parse hands any
complaint to the full tree); and running a command loads its own group, not the others.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ceremony import cli

ROOT = Path(__file__).resolve().parents[3]


def _commands(ap: argparse.ArgumentParser) -> list[str]:
    sub = next(a for a in ap._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


def test_the_command_table_is_what_the_groups_register() -> None:
    per_group = {group: _commands(cli.build_parser((group,))) for group in cli.GROUPS}
    assert {c: g for g, cs in per_group.items() for c in cs} == cli.COMMANDS
    # the full tree lists the groups' commands in the order of GROUPS (ceremony --help)
    assert _commands(cli.build_parser()) == [c for g in cli.GROUPS for c in per_group[g]]


GOOD = [
    ["status", "ws"], ["status", "ws", "--json"], ["keygen", "ws", "--keyholder", "bob", "--pin-file", "p"],
    ["sign-draft", "d.json", "--keyholder", "carol", "--expect-digest", "ab"],
    ["export", "ws", "--usb", "stick"], ["import", "ws", "--usb", "stick"], ["--version", "status", "ws"],
    ["notary", "fetch-keys", "--help-not"], ["notary", "verify", "x"],
    ["backup", "ws", "dest"], ["rehearse", "--keyholders", "3"],
]


def _facts(ns: argparse.Namespace) -> dict[str, object]:
    """The namespace, its handler named (the notary group's is a lambda made per parser)."""
    facts = vars(ns)
    handler = facts.get("handler")
    return {**facts, "handler": (handler.__module__, handler.__qualname__) if handler else None}


@pytest.mark.parametrize("argv", GOOD, ids=" ".join)
def test_one_group_parses_as_the_full_tree(argv: list[str]) -> None:
    try:
        full = _facts(cli.build_parser().parse_args(argv))
    except SystemExit:  # usage of a nested group: then both must end alike (checked below too)
        with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
            cli.parse_args(argv)
        return
    assert _facts(cli.parse_args(argv)) == full


BAD = [
    ["--help"], ["status"], ["status", "--help"], ["status", "a", "b"], ["statuss", "ws"], ["--bogus"],
    ["status", "ws", "--bogus"], ["notary", "--help"], ["notary", "bogus"], ["record", "-h"],
    ["keygen", "ws"], ["keygen", "ws", "--keyholder"], ["rehearse", "--keyholders", "x"], ["witness", "-h"],
    ["import", "ws", "--usb"], ["export", "--hel"], ["--version", "status", "ws", "--nope"], ["-v"],
]


def _run(parse: object, argv: list[str]) -> tuple[object, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as e:
        parse(argv)  # type: ignore[operator]
    return e.value.code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("argv", BAD, ids=" ".join)
def test_help_and_usage_errors_are_the_full_trees(argv: list[str]) -> None:
    code, out, err = _run(cli.parse_args, argv)
    assert (code, out, err) == _run(lambda a: cli.build_parser().parse_args(a), argv)
    assert code in (0, 64) and ("usage: ceremony" in out + err)


def test_a_usage_error_of_one_command_still_names_it_and_exits_64() -> None:
    code, out, err = _run(cli.parse_args, ["keygen", "ws"])
    assert code == 64 and out == ""
    assert err.startswith("usage: ceremony keygen ")
    assert "error: the following arguments are required: --keyholder" in err


def test_running_a_command_loads_its_group_only() -> None:
    code = ("import sys\nfrom ceremony.cli import parse_args\nparse_args(['status', 'ws'])\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('ceremony.cli.'))))")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
    loaded = set(run.stdout.split())
    assert "ceremony.cli.keys" in loaded
    # keys uses yubikey's keygen options; the nine other groups stay unloaded
    assert not loaded & {f"ceremony.cli.{g}" for g in cli.GROUPS if g not in ("keys", "yubikey")}, loaded
