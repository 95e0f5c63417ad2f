"""Issue 14's claim, "adding a third format is writing one package", proven.

A toy format (``tests/support/toy_format``: a JSON root signed by the token keys) is registered
here, by adding its line to ``ceremony.formats.registry.FORMATS`` as a format's author would,
and the unchanged tool runs a whole ceremony of it through the CLI: init, keygen, draft, sign,
status, publish, ``record verify``, seal. Then an ``ast`` walk over ``ceremony/`` shows that no module outside
``ceremony/formats/`` compares anything with a format's name, so the next format needs no edit
there either.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ceremony.errors import PlanError
from ceremony.formats import registry
from ceremony.plan import parse_plan
from tests.conftest import SoftHsm
from tests.support.helpers import cli, keyholder_names, make_online_keys
from tests.support.plans import rehearsal_plan

CEREMONY = Path(__file__).resolve().parents[2] / "ceremony"


@pytest.fixture
def toy_registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The one line a format's author adds to the registry, for this test only."""
    monkeypatch.setitem(registry.FORMATS, "toy", "tests.support.toy_format:ToyFormat")
    yield


def _toy_plan(hsm: SoftHsm, tmp: Path) -> Path:
    names = keyholder_names(3)
    hsm.make(*[f"rehearsal-{k}" for k in names])
    make_online_keys(hsm, tmp / "plan" / "online")
    plan = rehearsal_plan(tmp / "plan" / "plan.toml", "toy-ceremony", names, 2, "ecdsa-p256",
                          tmp / "plan" / "online")
    text = plan.read_text()
    assert text.count('format = "tuf"\n') == 1
    plan.write_text(text.replace('format = "tuf"\n', 'format = "toy"\n'))
    return plan


def test_a_third_format_runs_a_whole_ceremony_through_the_cli(
        hsm: SoftHsm, tmp_path: Path, toy_registered: None) -> None:
    plan = _toy_plan(hsm, tmp_path)
    ws = tmp_path / "ws"
    r = cli("init", ws, "--plan", plan)
    assert r.code == 0, r.err
    assert json.loads((ws / "journal.jsonl").read_text().splitlines()[0])["data"]["format"] == "toy"
    for k in ("alice", "bob", "carol"):
        r = cli("keygen", ws, "--keyholder", k, "--pin-file", hsm.pin_file)
        assert r.code == 0, r.err
        assert json.loads((ws / "keys" / f"root-{k}.json").read_text())["x-ceremony-keyholder"] == k
    r = cli("draft", ws)
    assert r.code == 0, r.err
    assert "toy root v1: 2 of alice, bob, carol" in r.out
    draft = json.loads((ws / "metadata" / "drafts" / "1.root.json").read_text())
    assert draft["signed"]["_type"] == "toy-root" and draft["signatures"] == {}

    r = cli("publish", ws)  # below threshold: refused by the engine, on the toy's verdict
    assert r.code == 6, r.err
    assert "root v1: 0/2 - nobody has signed; waiting for 2 of alice, bob, carol" in r.err

    for k in ("alice", "carol"):
        r = cli("sign", ws, "--keyholder", k, "--pin-file", hsm.pin_file)
        assert r.code == 0, r.err
    r = cli("sign", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file)
    assert (r.code, "alice has already signed root v1" in r.err) == (8, True)

    st = cli("status", ws, "--json")
    assert st.code == 0, st.err
    verdict = json.loads(st.out)["thresholds"]
    assert (verdict["verified"], verdict["new"]["signed"]) == (True, ["alice", "carol"])

    r = cli("publish", ws)
    assert r.code == 0, r.err
    published = (ws / "metadata" / "1.root.json").read_bytes()
    assert published == (ws / "metadata" / "root.json").read_bytes()
    root = json.loads(published)
    assert sorted(root["signatures"]) == sorted(
        k for k, v in root["signed"]["keys"].items()
        if v["x-ceremony-keyholder"] in ("alice", "carol"))
    # the signatures are the tokens' own, over the canonical signed part: checked afresh here
    from tests.support.toy_format import ToyMetadata, _verdict
    assert _verdict(ToyMetadata.from_bytes(published, "1.root.json")).met

    r = cli("record", "verify", ws, "--allow-unsealed")
    assert r.code == 0, r.out + r.err
    assert "metadata/1.root.json is signed at threshold (root v1: 2/2 - alice, carol signed" in r.out

    # the seal: the keys that signed the toy root sign the journal head (record_sealers)
    r = cli("seal", ws, "--keyholder", "bob", "--pin-file", hsm.pin_file)
    assert (r.code, "bob did not sign the published root, so does not seal it" in r.err) == (8, True)
    for k in ("alice", "carol"):
        r = cli("seal", ws, "--keyholder", k, "--pin-file", hsm.pin_file)
        assert r.code == 0, r.err
    r = cli("record", "verify", ws)
    assert r.code == 0, r.out + r.err
    assert "seal verified: journal line" in r.out and "signed by alice, carol" in r.out


def test_the_registry_is_the_only_list_of_formats(toy_registered: None, tmp_path: Path) -> None:
    """The plan, ``rehearse --format`` and the error for an unknown format read the registry."""
    text = ('[ceremony]\nname = "x"\nformat = "nope"\nrepository = "r"\nmodule = "m"\n')
    with pytest.raises(PlanError) as e:
        parse_plan(text)
    assert (e.value.message, e.value.exit_code) == (
        "ceremony.format must be one of tuf, notary, x509, toy, not 'nope'", 2)
    with pytest.raises(SystemExit) as exit_:  # argparse refuses it before the command runs
        cli("rehearse", "--format", "nope")
    assert exit_.value.code == 64


# ---- no module outside ceremony/formats/ names a format ------------------------------------


def _format_names() -> set[str]:
    return set(registry.names())


def _compares_with_a_format_name(tree: ast.AST, names: set[str]) -> Iterator[int]:
    """Lines where a format's name is compared (``==``, ``!=``, ``in``, ``match`` ... ``case``)."""
    def is_name(node: ast.AST) -> bool:
        if isinstance(node, ast.Constant) and node.value in names:
            return True
        return (isinstance(node, (ast.Tuple, ast.List, ast.Set))
                and any(isinstance(x, ast.Constant) and x.value in names for x in node.elts))

    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            if any(is_name(x) for x in [node.left, *node.comparators]):
                yield node.lineno
        elif (isinstance(node, ast.match_case) and isinstance(node.pattern, ast.MatchValue)
              and is_name(node.pattern.value)):
            yield node.pattern.lineno


def _offenders(root: Path, names: set[str]) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).as_posix()
        if rel.startswith("ceremony/formats/"):
            continue
        out += [f"{rel}:{line}"
                for line in _compares_with_a_format_name(ast.parse(path.read_text()), names)]
    return out


def test_no_module_outside_formats_compares_with_a_format_name() -> None:
    assert _offenders(CEREMONY, _format_names()) == []
    assert len(list(CEREMONY.rglob("*.py"))) > 100  # the tree was read


def test_the_format_name_check_finds_a_comparison(tmp_path: Path) -> None:
    """The check above can fail: a branch on a format's name is found, in each spelling."""
    pkg = tmp_path / "ceremony"
    (pkg / "formats").mkdir(parents=True)
    (pkg / "formats" / "ok.py").write_text('if fmt == "notary":\n    pass\n')
    (pkg / "bad.py").write_text('if plan.format != "tuf":\n    pass\n'
                                'x = fmt in ("tuf", "other")\n'
                                'match fmt:\n    case "notary":\n        pass\n')
    assert _offenders(pkg, {"tuf", "notary"}) == ["ceremony/bad.py:1", "ceremony/bad.py:3",
                                                  "ceremony/bad.py:5"]
