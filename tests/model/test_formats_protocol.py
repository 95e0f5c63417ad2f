"""The two formats through the one ``Format`` protocol: the same questions asked of a TUF and a
notary ceremony on SoftHSM, answered by each format's own rules; the registry that picks
them; and the rule that no format module imports the engine or the session."""

from __future__ import annotations

import ast
import json
import weakref
from pathlib import Path

import pytest

from ceremony.engine import Ceremony
from ceremony.errors import EXIT_VERIFY, PlanError, VerificationError
from ceremony.formats import registry
from ceremony.formats.notary import NotaryFormat
from ceremony.formats.protocol import Format
from ceremony.formats.tuf_format import TufFormat
from ceremony.session import sha256
from ceremony.state import KEY_GENERATED
from tests.conftest import SoftHsm
from tests.support.helpers import TRIO, make_online_keys, online_key_paths
from tests.support.notary_fixtures import offline_key_files
from tests.support.plans import notary_plan, plan_toml

FORMATS_DIR = Path(__file__).resolve().parents[2] / "ceremony" / "formats"


def _ceremony(fmt: str, hsm: SoftHsm, tmp: Path) -> Ceremony:
    """A ceremony of ``fmt`` with alice's and bob's keys made and a 2-of-2 root drafted."""
    holders = {k: TRIO[k] for k in ("alice", "bob")}
    hsm.make(*holders.values())
    plan = tmp / "plan.toml"
    if fmt == "tuf":
        make_online_keys(hsm, tmp / "online")
        plan.write_text(plan_toml("p", holders, list(holders), 2, online_key_paths(tmp / "online")))
    else:
        keys, targets = offline_key_files(tmp / "online", "example.com/proto/app")
        plan.write_text(notary_plan("p", "example.com/proto/app", holders, list(holders), 2,
                                    targets, keys))
    c = Ceremony.init(tmp / "ws", plan)
    for name in holders:
        c.keygen(name, hsm.module, hsm.pin)
    c.draft()
    return c


def test_registry_names_each_format_by_its_class() -> None:
    assert registry.names() == ("tuf", "notary", "x509")
    assert registry.format_class("tuf") is TufFormat
    assert registry.format_class("notary") is NotaryFormat
    assert registry.format_class("x509").__name__ == "X509Format"
    with pytest.raises(PlanError) as refused:
        registry.format_class("spki")
    assert refused.value.message == "no ceremony engine for format 'spki'"
    assert refused.value.exit_code == 2


@pytest.mark.parametrize("fmt", ["tuf", "notary"])
def test_session_holds_the_plans_format(hsm: SoftHsm, tmp_path: Path, fmt: str) -> None:
    c = _ceremony(fmt, hsm, tmp_path)
    f: Format = c.format
    assert f.name == fmt and type(f) is registry.format_class(fmt)
    # the format reads the ceremony, and only through its view: a weak proxy, so that no
    # reference cycle keeps a dropped ceremony (and its hold on the workspace lock) alive
    assert isinstance(f.view, weakref.ProxyType) and f.view.ws is c.ws and f.view.state is c.state
    reopened = Ceremony.open(tmp_path / "ws", write=False)
    assert type(reopened.format) is type(f)
    gone = weakref.ref(c)
    del c, f
    assert gone() is None  # freed at once, without the garbage collector


@pytest.mark.parametrize("fmt", ["tuf", "notary"])
def test_key_file_and_draft_file_read_back_as_journaled(hsm: SoftHsm, tmp_path: Path,
                                                        fmt: str) -> None:
    c = _ceremony(fmt, hsm, tmp_path)
    f = c.format
    for e in c.journal.events:
        if e.type == KEY_GENERATED:
            on_disk = (c.ws.keys / f"root-{e.data['keyholder']}.json").read_bytes()
            assert f.key_file_from_event(e.data) == on_disk
    draft = c.ws.draft_path(1)
    assert draft.read_bytes() == f.draft_bytes()
    assert f.draft_file_digest(draft.read_bytes(), draft.name) == c.state.draft_digest
    edited = json.loads(draft.read_bytes())
    edited["signed"]["version"] = 7
    assert f.draft_file_digest(json.dumps(edited).encode(), draft.name) != c.state.draft_digest


@pytest.mark.parametrize("fmt", ["tuf", "notary"])
def test_keys_payload_and_words_are_the_formats(hsm: SoftHsm, tmp_path: Path, fmt: str) -> None:
    c = _ceremony(fmt, hsm, tmp_path)
    f = c.format
    md = f.draft_metadata()
    alice = f.keys_of("alice")
    assert [f.keyholder_of(k) for k in alice] == ["alice"]
    assert f.key_name(alice[0]) == "alice"
    assert f.token_hint(alice[0]) == f"token {TRIO['alice']!r} (serial {c.state.keys['alice'].token_serial})"
    assert f.token_of(alice[0]) == (TRIO["alice"], c.state.keys["alice"].token_serial)
    assert f.keys_of("mallory") == []
    assert f.signing_payload(md) == md.signed_bytes
    words = f.describe(md)
    assert words[0].startswith("notary root version 1 for example.com/proto/app"
                               if fmt == "notary" else "root version 1")
    assert any("alice" in line and "bob" in line for line in words)
    st = f.threshold_status(md, None)
    assert not st.verified and st.new.unsigned == ("alice", "bob")


@pytest.mark.parametrize("fmt", ["tuf", "notary"])
def test_sign_publish_and_walk_through_the_format(hsm: SoftHsm, tmp_path: Path, fmt: str) -> None:
    c = _ceremony(fmt, hsm, tmp_path)
    f = c.format
    key = f.keys_of("alice")[0]
    fields, serial = f.sign_one("alice", key, hsm.module, hsm.pin, None,
                                f.signing_payload(f.draft_metadata()))
    assert serial == c.state.keys["alice"].token_serial and fields["sig"]
    # the ceremony's own steps go through the same methods
    c.sign("alice", hsm.module, hsm.pin)
    c.sign("bob", hsm.module, hsm.pin)
    assert f.threshold_status(f.draft_metadata(), None).verified
    written = c.publish()
    names = sorted(p.name for p in written)
    assert names == (["1.root.json", "ceremony-keys.json", "root.json"] if fmt == "notary"
                     else ["1.root.json", "root.json"])
    published = (c.ws.metadata / "1.root.json").read_bytes()
    report = f.walk_chain(published, c.ws.metadata, check_expiry=True, trusted_name="1.root.json")
    assert report.newest_version == 1 and report.newest_bytes == published
    # what the integrity checks rebuild from the journal
    assert f.published_files() == {n: (c.ws.metadata / n).read_bytes() for n in names}
    published_event = next(e for e in reversed(c.journal.events) if e.type == "published")
    assert published_event.data["outputs"] == {n: sha256(f.published_files()[n]) for n in names}
    sidecar = f.published_extra("ceremony-keys.json", 1)
    if fmt == "notary":
        assert sidecar == (c.ws.metadata / "ceremony-keys.json").read_bytes()
    else:
        assert sidecar is None


@pytest.mark.parametrize("fmt", ["tuf", "notary"])
def test_a_draft_is_rebuilt_only_by_the_format_that_can(hsm: SoftHsm, tmp_path: Path,
                                                        fmt: str) -> None:
    from datetime import datetime

    c = _ceremony(fmt, hsm, tmp_path)
    d = c.state.draft
    assert d is not None
    online = c.format.plan_online_keys(Path(c.state.init["plan_dir"]))
    digest = c.format.rebuilt_digest(c.root_keys(), 1, datetime.fromisoformat(d["created"]), online)
    assert digest == (d["digest"] if fmt == "tuf" else None)
    if fmt == "tuf":  # another creation time is another root
        later = datetime.fromisoformat("2031-01-01T00:00:00+00:00")
        assert c.format.rebuilt_digest(c.root_keys(), 1, later, online) != d["digest"]


@pytest.mark.parametrize("fmt", ["tuf", "notary"])
def test_detached_adapter_round_trip(hsm: SoftHsm, tmp_path: Path, fmt: str) -> None:
    c = _ceremony(fmt, hsm, tmp_path)
    adapter = registry.format_class(fmt).detached()
    doc = json.loads(json.dumps(adapter.document(c.format)))
    draft, previous, digest = adapter.load(doc, tmp_path / "d.json", c.plan.repository)
    assert digest == c.state.draft_digest and previous is None
    keys = adapter.keys_of(draft, previous, "bob")
    assert [k.keyid for k in keys] == [k.keyid for k in c.format.keys_of("bob")]
    [entry] = adapter.sign(draft, keys, hsm.module, hsm.pin)
    assert adapter.verify(keys[0], entry, draft.signed_bytes) is not None
    assert adapter.verify(keys[0], entry, draft.signed_bytes + b" ") is None


def test_a_plan_for_another_format_is_refused_by_the_format() -> None:
    from ceremony.plan import parse_plan

    text = plan_toml("p", {"alice": "a"}, ["alice"], 1,
                     {r: ["k.pem"] for r in ("targets", "snapshot", "timestamp")})
    with pytest.raises(PlanError) as refused:
        NotaryFormat.check_plan(parse_plan(text), text)
    assert refused.value.message == "the plan's format is 'tuf', not 'notary'"


def test_a_changed_previous_root_is_refused_by_either_format(hsm: SoftHsm, tmp_path: Path) -> None:
    from tests.support.helpers import published_v1

    repo = published_v1(hsm, tmp_path)
    plan = tmp_path / "p2.toml"
    plan.write_text(plan_toml("v2", TRIO, list(TRIO), 2, online_key_paths(tmp_path / "a")))
    c = Ceremony.init(tmp_path / "ws2", plan, repo)
    assert c.format.previous_root() is not None
    assert c.format.previous_version(1).version == 1
    (c.ws.previous / "1.root.json").write_bytes(b"{}")
    with pytest.raises(VerificationError) as refused:
        c.format.previous_root()
    assert refused.value.message == (f"{c.ws.previous / '1.root.json'} was changed after the "
                                     "ceremony started")
    assert refused.value.exit_code == VerificationError.exit_code == EXIT_VERIFY


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_no_format_module_imports_the_engine_or_the_session() -> None:
    offenders = {p.name: sorted(n for n in _imports(p)
                                if n.split(".")[:2] in (["ceremony", "engine"], ["ceremony", "session"])
                                or n in ("ceremony.engine", "ceremony.session", "ceremony.steps")
                                or n.startswith("ceremony.steps"))
                 for p in sorted(FORMATS_DIR.glob("*.py"))}
    assert {k: v for k, v in offenders.items() if v} == {}
    assert len(offenders) >= 15  # the folder was read


def test_the_engine_and_session_name_no_concrete_format() -> None:
    root = FORMATS_DIR.parent
    for module in ("engine.py", "session.py", "steps/draft.py", "steps/sign.py",
                   "steps/keygen.py", "steps/publish.py"):
        names = _imports(root / module)
        concrete = sorted(n for n in names if n.startswith(("ceremony.formats.notary",
                                                            "ceremony.formats.tuf_format",
                                                            "ceremony.formats.tuf_detached")))
        assert concrete == [], module
