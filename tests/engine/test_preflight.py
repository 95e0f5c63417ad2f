"""Preflight against fake /sys and /proc trees (files, not mocks) and real workspaces.

The probes take their roots as parameters, so "an interface is up on a live
ceremony" is a folder with ``class/net/eth0/operstate`` saying ``up``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ceremony import airgap, preflight
from ceremony.engine import Ceremony
from ceremony.journal import read
from tests.conftest import SoftHsm
from tests.support.helpers import cli
from tests.support.machines import CLOCK, fake_machine
from tests.support.plans import software_plan


def workspace(tmp: Path, rehearsal: bool) -> Ceremony:
    return Ceremony.init(tmp / "ws", software_plan(tmp / "plan", rehearsal))


def run_cli(*args: str | Path) -> tuple[int, str, str]:
    """:func:`tests.support.helpers.cli`, unpacked: (exit code, stdout, stderr)."""
    r = cli(*args)
    return r.code, r.out, r.err


# ---- probes ------------------------------------------------------------------------------


def test_probes_read_interfaces_routes_and_radios(tmp_path: Path) -> None:
    p = fake_machine(tmp_path, up=("eth0", "wlan0"), down=("eth1",), wireless=("wlan0",),
                     routes4=("eth0",), routes6=("wlan0",), radios={"phy0": False, "hci0": True})
    ifaces = {i.name: i for i in airgap.read_interfaces(p.sys_root)}
    assert set(ifaces) == {"eth0", "eth1", "wlan0"}  # loopback is never listed
    assert ifaces["eth0"].up and not ifaces["eth1"].up and ifaces["wlan0"].wireless
    routes = airgap.read_routes(p.proc_root)
    assert [(r.family, r.interface) for r in routes] == [("ipv4", "eth0"), ("ipv6", "wlan0")]
    assert routes[0].gateway == "192.0.2.1"
    radios = {r.name: r.blocked for r in preflight.read_radios(p.sys_root)}
    assert radios == {"phy0": False, "hci0": True}


def test_loopback_is_recognised_by_flag_not_by_name(tmp_path: Path) -> None:
    p = fake_machine(tmp_path, down=())
    d = p.sys_root / "class" / "net" / "lo0"
    d.mkdir()
    (d / "operstate").write_text("up\n")
    (d / "flags").write_text("0x9\n")
    (d / "type").write_text("1\n")
    renamed = p.sys_root / "class" / "net" / "lo"
    (renamed / "flags").write_text("0x1003\n")  # an interface called "lo" that is not loopback
    (renamed / "type").write_text("1\n")
    assert [i.name for i in airgap.read_interfaces(p.sys_root) if i.up] == ["lo"]


def test_missing_trees_mean_nothing_found(tmp_path: Path) -> None:
    assert airgap.read_interfaces(tmp_path / "nope") == []
    assert airgap.read_routes(tmp_path / "nope") == []
    assert preflight.read_radios(tmp_path / "nope") == []


def test_tool_digest_changes_with_any_file(tmp_path: Path) -> None:
    pkg = tmp_path / "ceremony"
    pkg.mkdir()
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"ignored")
    d1 = preflight.tool_digest([pkg], "1")
    assert [n for n, _ in d1.files] == ["ceremony/a.py"]
    (pkg / "a.py").write_text("x = 2\n")
    d2 = preflight.tool_digest([pkg], "1")
    (pkg / "b.py").write_text("")
    d3 = preflight.tool_digest([pkg], "1")
    assert len({d1.sha256, d2.sha256, d3.sha256}) == 3
    real = preflight.tool_digest()
    assert any(n == "ceremony/preflight.py" for n, _ in real.files)
    assert any(n.startswith("hsm/") for n, _ in real.files)


# ---- judgement ---------------------------------------------------------------------------


def test_clean_machine_passes_a_live_ceremony(tmp_path: Path) -> None:
    c = workspace(tmp_path, rehearsal=False)
    probes = fake_machine(tmp_path / "m")
    report = preflight.run_preflight(c, probes, clock_confirmed=True)
    assert report.passed, report.lines()
    preflight.record_preflight(c, report)
    airgap.require_preflight(c)
    data = c.state.preflight
    assert data["passed"] and data["clock"] == "2031-05-04T12:00:00Z"
    assert data["clock_confirmed"] and data["host"]["hostname"] == "ceremony-laptop"
    assert data["tool"]["sha256"] == preflight.tool_digest(probes.roots).sha256


@pytest.mark.parametrize("kind", ["interface", "route", "radio", "wireless-without-rfkill"])
def test_connected_machine_refuses_a_live_ceremony(tmp_path: Path, kind: str) -> None:
    c = workspace(tmp_path, rehearsal=False)
    probes = fake_machine(tmp_path / "m", **{
        "interface": {"up": ("eth0",)},
        "route": {"routes6": ("eth0",)},
        "radio": {"radios": {"phy0": False}},
        "wireless-without-rfkill": {"up": (), "down": ("wlan0",), "wireless": ("wlan0",)},
    }[kind])
    report = preflight.run_preflight(c, probes, clock_confirmed=True)
    assert not report.passed
    with pytest.raises(preflight.PreflightError, match="preflight refused the ceremony") as e:
        preflight.record_preflight(c, report)
    assert e.value.exit_code == 8 and "rehearsal = true" in (e.value.hint or "")
    # The refusal is journaled too, and the token steps refuse to start.
    assert c.state.preflight is not None and c.state.preflight["passed"] is False
    with pytest.raises(preflight.PreflightError, match="last preflight refused"):
        airgap.require_preflight(c)


def test_connected_machine_only_warns_on_a_rehearsal(tmp_path: Path) -> None:
    c = workspace(tmp_path, rehearsal=True)
    probes = fake_machine(tmp_path / "m", up=("eth0",), routes4=("eth0",))
    report = preflight.run_preflight(c, probes)
    assert report.passed
    assert {f.check for f in report.warnings} == {"network", "route", "clock", "tokens"}
    assert "allowed: rehearsal" in "\n".join(report.lines())
    preflight.record_preflight(c, report)


def test_live_ceremony_needs_the_clock_confirmed(tmp_path: Path) -> None:
    c = workspace(tmp_path, rehearsal=False)
    report = preflight.run_preflight(c, fake_machine(tmp_path / "m"), clock_confirmed=False)
    assert [f.check for f in report.problems] == ["clock"]
    with pytest.raises(preflight.PreflightError, match="not yet confirmed"):
        preflight.record_preflight(c, report)


def test_live_ceremony_needs_a_preflight_at_all(tmp_path: Path) -> None:
    c = workspace(tmp_path, rehearsal=False)
    with pytest.raises(preflight.PreflightError, match="no preflight"):
        airgap.require_preflight(c)
    airgap.require_preflight(workspace(tmp_path / "r", rehearsal=True))  # rehearsals may skip


@pytest.mark.parametrize("rehearsal", [False, True])
def test_clock_behind_the_journal_is_refused_even_on_a_rehearsal(tmp_path: Path,
                                                                 rehearsal: bool) -> None:
    c = workspace(tmp_path, rehearsal=rehearsal)
    init_time = datetime.fromisoformat(c.journal.events[0].time)
    behind = init_time - timedelta(days=2)
    report = preflight.run_preflight(c, fake_machine(tmp_path / "m", clock=behind),
                                     clock_confirmed=True)
    assert [f.check for f in report.problems] == ["clock"]
    assert "earlier than journal line 1 (initialized)" in report.problems[0].message
    with pytest.raises(preflight.PreflightError, match="the clock says"):
        preflight.record_preflight(c, report)
    # A minute of disagreement between two laptops is tolerated.
    near = init_time - timedelta(seconds=30)
    report = preflight.run_preflight(c, fake_machine(tmp_path / "n", clock=near),
                                     clock_confirmed=True)
    assert report.passed and not [f for f in report.findings if f.check == "clock" and f.status != "ok"]


def test_clock_behind_trusted_metadata_signing_time_is_refused(tmp_path: Path) -> None:
    """A trusted root that says when it was signed sets the floor, wherever the journal is."""
    c = workspace(tmp_path, rehearsal=True)
    signed = CLOCK + timedelta(days=30)
    (c.ws.previous).mkdir(exist_ok=True)
    (c.ws.previous / "1.root.json").write_text(
        json.dumps({"signed": {"_type": "root",
                               "x-ceremony-created": signed.strftime("%Y-%m-%dT%H:%M:%SZ")},
                    "signatures": []}))
    floor = preflight.clock_floor(c)
    assert floor.time == signed and "previous/1.root.json" in floor.source
    report = preflight.run_preflight(c, fake_machine(tmp_path / "m"), clock_confirmed=True)
    assert [f.check for f in report.problems] == ["clock"]


def test_clock_from_a_dead_rtc_is_refused(tmp_path: Path) -> None:
    facts = fake_machine(tmp_path, clock=datetime(2000, 1, 1, tzinfo=UTC)).gather()
    floor = preflight.ClockFloor(preflight.MIN_PLAUSIBLE, "the earliest plausible ceremony date")
    report = preflight.evaluate(facts, True, floor, True)
    assert not report.passed and "2000-01-01 00:00:00 UTC" in report.problems[0].message


def test_tokens_are_listed_with_serial_pin_state_and_owner(tmp_path: Path, hsm: SoftHsm) -> None:
    hsm.make("rehearsal-alice", "stranger")
    c = workspace(tmp_path, rehearsal=True)
    report = preflight.run_preflight(c, fake_machine(tmp_path / "m"), module=hsm.module)
    tokens = [f.message for f in report.findings if f.check == "token"]
    serial = {t.label: t.serial for t in hsm.module.tokens()}
    assert tokens == [f"rehearsal-alice (serial {serial['rehearsal-alice']}), PIN ok [alice]",
                      f"stranger (serial {serial['stranger']}), PIN ok"]
    journaled = report.to_dict()["tokens"]
    assert {t["label"] for t in journaled} == {"rehearsal-alice", "stranger"}
    assert all(set(t) == {"label", "serial", "manufacturer", "model", "pin_state"} for t in journaled)


def test_nothing_is_journaled_after_the_seal(tmp_path: Path) -> None:
    c = workspace(tmp_path, rehearsal=True)
    c.record("sealed", {"seq": 1, "head": c.journal.events[0].hash, "signatures": [],
                        "ceremony_id": c.state.init["ceremony_id"]})
    with pytest.raises(Exception, match="sealed"):
        preflight.record_preflight(c, preflight.run_preflight(c, fake_machine(tmp_path / "m")))


# ---- CLI ---------------------------------------------------------------------------------


def test_cli_preflight_refuses_an_interface_up_on_a_live_ceremony(tmp_path: Path) -> None:
    c = workspace(tmp_path, rehearsal=False)
    m = fake_machine(tmp_path / "m", up=("eth0",))
    code, out, err = run_cli("preflight", c.ws.root, "--clock-confirmed",
                             "--sys-root", m.sys_root, "--proc-root", m.proc_root)
    assert code == 8
    assert "FAIL network: interface up: eth0 (up)" in out and "preflight REFUSED" in out
    assert err.startswith("error: preflight refused the ceremony: network: interface up: eth0")
    assert "Traceback" not in out + err
    events = read(c.ws.journal)
    assert events[-1].type == "preflight" and events[-1].data["passed"] is False


def test_cli_preflight_passes_a_clean_machine(tmp_path: Path) -> None:
    c = workspace(tmp_path, rehearsal=False)
    m = fake_machine(tmp_path / "m")
    code, out, err = run_cli("preflight", c.ws.root, "--clock-confirmed", "--json",
                             "--sys-root", m.sys_root, "--proc-root", m.proc_root)
    assert code == 0, err
    assert '"passed": true' in out


def test_an_expired_current_root_is_a_warning_not_a_refusal(tmp_path: Path) -> None:
    facts = fake_machine(tmp_path).gather()
    floor = preflight.ClockFloor(preflight.MIN_PLAUSIBLE, "the earliest plausible ceremony date")
    expired = ("root v3", CLOCK - timedelta(days=1))
    report = preflight.evaluate(facts, False, floor, True, (), expired)
    assert report.passed
    want = ("the current root v3 expired at 2031-05-03 12:00:00 UTC: clients refuse it until "
            "the new root is published")
    assert [f.message for f in report.warnings if f.check == "expiry"] == [want]
    assert not [f for f in preflight.evaluate(facts, False, floor, True, (),
                                              ("root v3", CLOCK + timedelta(days=1))).findings
                if f.check == "expiry"]
