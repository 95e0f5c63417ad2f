"""Bad input from outside: each case ends in its operator sentence and exit code, never a
traceback or a hang, and nothing is written (ceremony/inputs.py is the read boundary).

Every reader that could block (a FIFO where a file is expected) runs under a time bound: a
hang fails the test instead of stalling the suite.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ceremony.errors import PinFileError, PlanError
from ceremony.plan import parse_plan
from tests.conftest import SoftHsm
from tests.support.helpers import Run, cli
from tests.support.plans import software_plan

REPO = Path(__file__).resolve().parents[3]
BOUND = 30.0  # seconds: far beyond any of these reads; only a hang reaches it


def bounded(fn: Callable[[], Any], seconds: float = BOUND) -> Any:
    """Run ``fn`` in a thread; fail the test if it has not returned after ``seconds``."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"hung for {seconds}s (a read that blocks)"
    if "error" in box:
        raise box["error"]
    return box["value"]


def bcli(*args: str | Path) -> Run:
    """``ceremony ARGS`` in process, under the time bound."""
    return bounded(lambda: cli(*args))


def no_traceback(r: Run) -> None:
    assert "Traceback" not in r.out + r.err and "internal error" not in r.err


def plan_dir(tmp: Path, rehearsal: bool = True) -> Path:
    """A valid plan (online keys in software) to spoil; returns the plan file."""
    return software_plan(tmp / "plan", rehearsal)


def init_with(tmp: Path, text: str | bytes) -> tuple[Run, Path]:
    plan = plan_dir(tmp)
    if isinstance(text, bytes):
        plan.write_bytes(text)
    else:
        plan.write_text(text)
    ws = tmp / "ws"
    r = bcli("init", ws, "--plan", plan)
    no_traceback(r)
    assert not ws.exists(), "a refused init wrote a workspace"
    return r, plan


# ---- plans -------------------------------------------------------------------------------


def test_plan_that_is_not_utf8(tmp_path: Path) -> None:
    text = plan_dir(tmp_path).read_bytes().replace(b'"preflight-test"', b'"pre\xfflight"')
    r, plan = init_with(tmp_path, text)
    assert (r.code, r.err.strip()) == (
        2, f"error: the plan {plan} is not UTF-8 text (byte 23, line 2: b'\\xff')")


def test_plan_nested_10000_deep(tmp_path: Path) -> None:
    good = plan_dir(tmp_path).read_text()
    r, _ = init_with(tmp_path, good + "\n[extra]\nx = " + "[" * 10000 + "]" * 10000 + "\n")
    assert (r.code, r.err.strip()) == (
        2, "error: the plan is not valid TOML: it nests arrays or tables deeper than 16 levels")
    r, _ = init_with(tmp_path, good + "\n" + ".".join(["deep"] * 5000) + " = 1\n")
    assert (r.code, r.err.strip()) == (
        2, "error: the plan is not valid TOML: it nests arrays or tables deeper than 16 levels")


@pytest.mark.parametrize(("old", "new", "message"), [
    ("threshold = 1\nexpires = \"365d\"", "threshold = 1" + "0" * 5000 + "\nexpires = \"365d\"",
     "the plan is not valid TOML: a number is far too large"),
    ("threshold = 1\nexpires = \"365d\"", "threshold = 1" + "0" * 30 + "\nexpires = \"365d\"",
     "roles.root.threshold is 1" + "0" * 29 + ", far beyond any ceremony (at most 1000)"),
    ("threshold = 1\nexpires = \"365d\"", "threshold = inf\nexpires = \"365d\"",
     "roles.root.threshold must be an integer"),
    ('expires = "365d"', 'expires = "1000000y"',
     "roles.root.expires is '1000000y', longer than any expiry this tool makes "
     "(at most 100y, i.e. 36500 days)"),
    ('expires = "365d"', 'expires = "99999999999999999999d"',
     "roles.root.expires must be a positive duration"),
    ('expires = "1d"', 'expires = "5000000h"',
     "roles.timestamp.expires is '5000000h', longer than any expiry this tool makes"),
    ('expires = "365d"', 'expires = "365d\\n"', "roles.root.expires must be a positive duration"),
])
def test_plan_numbers_out_of_range_are_refused_at_init(tmp_path: Path, old: str, new: str,
                                                       message: str) -> None:
    text = plan_dir(tmp_path).read_text()
    assert old in text
    r, _ = init_with(tmp_path, text.replace(old, new, 1))
    assert r.code == 2 and r.err.startswith(f"error: {message}"), r.err


@pytest.mark.parametrize(("old", "new", "message"), [
    ('repository = "rehearsal/repository"', f'repository = "{"r" * 300}"',
     f"ceremony.repository {'r' * 40!r} is 300 characters long; at most 200"),
    ('repository = "rehearsal/repository"', 'repository = "rehearsal/repository\\n"',
     "ceremony.repository 'rehearsal/repository\\n' has leading or trailing whitespace"),
    ('repository = "rehearsal/repository"', 'repository = "a\\u0007b"',
     "ceremony.repository 'a\\x07b' holds the unprintable character U+0007"),
    ('name = "alice"', 'name = "alice\\n"',
     "keyholders[0].name 'alice\\n' must be letters, digits, '.', '_' or '-'"),
    ('name = "preflight-test"', 'name = "preflight-test\\n"',
     "ceremony.name must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"),
    ('token = "rehearsal-alice"', 'token = "rehearsal-alice "',
     "keyholders[0].token 'rehearsal-alice ' has leading or trailing whitespace"),
    ('token = "rehearsal-alice"', f'token = "{"t" * 33}"',
     "keyholders[0].token " + repr("t" * 33) + " is 33 bytes long in UTF-8; at most 32"),
    ('keys = ["online/targets.pub.pem"]', 'keys = ["online/targets.pub.pem\\u0000"]',
     "roles.targets.keys lists 'online/targets.pub.pem\\x00', which holds the unprintable "
     "character U+0000"),
])
def test_names_are_printable_and_trimmed(tmp_path: Path, old: str, new: str, message: str) -> None:
    text = plan_dir(tmp_path).read_text()
    assert old in text
    r, _ = init_with(tmp_path, text.replace(old, new, 1))
    assert (r.code, r.err.splitlines()[0]) == (2, f"error: {message}")


def test_a_misspelt_field_is_named_with_the_closest_known_one(tmp_path: Path) -> None:
    text = plan_dir(tmp_path).read_text().replace("threshold = 1\nexpires = \"365d\"",
                                                 "threshhold = 1\nexpires = \"365d\"")
    r, _ = init_with(tmp_path, text)
    assert (r.code, r.err.splitlines()) == (2, [
        "error: unknown field roles.root.threshhold in the plan (did you mean `threshold`?)",
        "hint: check the spelling; unknown fields are never ignored"])
    # an unknown field next to a present one: named at the end, with the closest field
    text = plan_dir(tmp_path).read_text().replace('rehearsal = true', 'rehearsal = true\nrehersal = 1')
    r, _ = init_with(tmp_path, text)
    assert r.code == 2 and r.err.splitlines()[0] == (
        "error: unknown field ceremony.rehersal in the plan (did you mean `rehearsal`?)")


def test_a_keyholder_without_a_name(tmp_path: Path) -> None:
    r, _ = init_with(tmp_path, plan_dir(tmp_path).read_text().replace('name = "bob"\n', "", 1))
    assert (r.code, r.err.strip()) == (2, "error: keyholders[1].name is required")


def test_a_fifo_as_the_plan_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "plan.toml"
    os.mkfifo(fifo)
    r = bcli("init", tmp_path / "ws", "--plan", fifo)
    assert (r.code, r.err.strip()) == (
        2, f"error: the plan {fifo} is a FIFO (named pipe), not a regular file; it was not read")


def test_an_online_key_that_is_a_fifo(tmp_path: Path) -> None:
    plan = plan_dir(tmp_path)
    key = plan.parent / "online" / "targets.pub.pem"
    key.unlink()
    os.mkfifo(key)
    r = bcli("init", tmp_path / "ws", "--plan", plan)
    no_traceback(r)
    assert (r.code, r.err.strip()) == (
        2, f"error: roles.targets.keys[0]: key file {key} is a FIFO (named pipe), not a regular "
           "file; it was not read")
    assert not (tmp_path / "ws").exists()


def test_parse_plan_refuses_what_no_later_step_could_use() -> None:
    from tests.support.plans import plan_text
    with pytest.raises(PlanError) as e:
        parse_plan(plan_text().replace('expires = "365d"', 'expires = "1000000y"'))
    assert e.value.message.startswith("roles.root.expires is '1000000y', longer than any expiry")


# ---- previous chains -----------------------------------------------------------------------


def _previous(tmp: Path, first: bytes) -> Path:
    d = tmp / "previous"
    d.mkdir()
    (d / "1.root.json").write_bytes(first)
    return d


@pytest.mark.parametrize(("data", "message"), [
    (b'{"signed": {"_type": "root", "version": NaN}, "signatures": []}',
     "1.root.json is not valid JSON: NaN is not a JSON number"),
    (b'{"signed": {"_type": "root", "version": 1e999}, "signatures": []}',
     "1.root.json is not valid JSON: the number 1e999 is out of range"),
    (b"[" * 100000 + b"]" * 100000,
     "1.root.json is not valid JSON: it nests deeper than 32 levels"),
    (b'{"signed": {"_type": "root\\ud800"}, "signatures": []}',
     "1.root.json is not valid JSON: a string holds a lone surrogate (root\\ud800)"),
    (b'{"signed": {}, "signed": {}, "signatures": []}',
     "1.root.json is not valid JSON: the key 'signed' appears twice in one object"),
    (b'{"signed": {"version": 1' + b"0" * 5000 + b'}}',
     "1.root.json is not valid JSON: an integer of 5001 digits, longer than any field holds"),
])
def test_a_previous_chain_that_is_not_strict_json(tmp_path: Path, data: bytes, message: str) -> None:
    prev = _previous(tmp_path, data)
    r = bcli("init", tmp_path / "ws", "--plan", plan_dir(tmp_path), "--previous", prev)
    no_traceback(r)
    assert (r.code, r.err.strip()) == (3, f"error: {message}")
    assert not (tmp_path / "ws").exists()
    r = bcli("verify", "--trusted", prev / "1.root.json", prev)
    assert (r.code, r.err.strip()) == (3, f"error: {message}")


def test_a_fifo_as_1_root_json(tmp_path: Path) -> None:
    prev = tmp_path / "previous"
    prev.mkdir()
    os.mkfifo(prev / "1.root.json")
    r = bcli("init", tmp_path / "ws", "--plan", plan_dir(tmp_path), "--previous", prev)
    want = f"error: {prev / '1.root.json'} is a FIFO (named pipe), not a regular file; it was not read"
    assert (r.code, r.err.strip()) == (3, want)
    r = bcli("verify", "--trusted", prev / "1.root.json", prev)
    assert (r.code, r.err.strip()) == (3, want)


# ---- air-gap transport ----------------------------------------------------------------------


def test_a_qr_frame_that_is_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "frame-01-of-01.png"
    os.mkfifo(fifo)
    r = bcli("import", "--qr", fifo, "--out", tmp_path / "out")
    assert (r.code, r.err.strip()) == (
        3, f"error: {fifo} is a FIFO (named pipe), not a regular file; it was not opened")
    assert not (tmp_path / "out").exists()


def test_a_manifest_with_a_lone_surrogate(tmp_path: Path) -> None:
    from ceremony.transport.bundle import Manifest
    m = Manifest("signature", "repo\ud800", "x", "2026-01-01T00:00:00Z", ())
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / "manifest.json").write_bytes(m.to_bytes())
    assert b"\\ud800" in m.to_bytes()
    r = bcli("import", "--usb", stick, "--out", tmp_path / "out")
    no_traceback(r)
    assert (r.code, r.err.strip()) == (
        3, f"error: {stick / 'manifest.json'} has a malformed 'repository' "
           "(text of 1 to 200 printable characters).")


def _signature_doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "kind": "ceremony-signature", "format": "tuf", "repository": "rehearsal/repository",
        "ceremony_id": "c", "version": 1, "digest": "0" * 64, "keyholder": "alice",
        "signatures": [{"keyid": "0" * 64, "sig": "00", "token_serial": "1"}]}
    doc.update(changes)
    return doc


@pytest.mark.parametrize(("doc", "message"), [
    (_signature_doc(signatures=[{"keyid": "0" * 64, "sig": "00", "token_serial": ["1", "2"]}]),
     "the field 'signatures[0].token_serial' must be a string or null, not list ([\"1\", \"2\"])"),
    (_signature_doc(keyholder=["alice"]),
     "the field 'keyholder' must be a string, not list ([\"alice\"])"),
    (_signature_doc(version="1"), "the field 'version' must be an integer, not str (\"1\")"),
    (_signature_doc(version=True), "the field 'version' must be an integer, not bool (true)"),
    (_signature_doc(signatures=[{"keyid": 7, "sig": "00"}]),
     "the field 'signatures[0].keyid' must be a string, not int (7)"),
    (_signature_doc(signatures=["x"]), "signatures[0] is not an object"),
    ({k: v for k, v in _signature_doc().items() if k != "keyholder"}, "lacks the field 'keyholder'"),
])
def test_a_signature_file_with_a_wrong_unsigned_field(tmp_path: Path, doc: dict[str, Any],
                                                      message: str) -> None:
    ws = tmp_path / "ws"
    assert bcli("init", ws, "--plan", plan_dir(tmp_path)).code == 0
    sig = tmp_path / "1.root.sig-alice.json"
    sig.write_text(json.dumps(doc))
    before = (ws / "journal.jsonl").read_bytes()
    r = bcli("import-signature", ws, sig)
    no_traceback(r)
    assert (r.code, r.err.strip()) == (3, f"error: {sig}: {message}"
                                       if not message.startswith("lacks") else
                                       f"error: {sig} {message}")
    assert (ws / "journal.jsonl").read_bytes() == before
    # the same file carried in a signature bundle is refused on arrival, naming it
    stick = tmp_path / "stick"
    stick.mkdir()
    r = bcli("pack", sig, "--kind", "signature", "--repository", "rehearsal/repository",
             "--usb", stick)
    assert r.code == 3 and r.err.strip().startswith(f"error: {sig.name} in the bundle"), r.err
    assert message.split(" (")[0] in r.err


def test_a_signature_file_with_nan(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert bcli("init", ws, "--plan", plan_dir(tmp_path)).code == 0
    sig = tmp_path / "s.json"
    sig.write_text(json.dumps(_signature_doc()).replace('"version": 1', '"version": NaN'))
    r = bcli("import-signature", ws, sig)
    assert (r.code, r.err.strip()) == (
        3, f"error: {sig} (a ceremony-signature file) is not valid JSON: NaN is not a JSON number")
    os.unlink(sig)
    os.mkfifo(sig)
    r = bcli("import-signature", ws, sig)
    assert (r.code, r.err.strip()) == (
        3, f"error: {sig} is a FIFO (named pipe), not a regular file; it was not read")


# ---- the command line ----------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    env.pop("CEREMONY_DEBUG", None)
    return env


def test_status_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert bcli("init", ws, "--plan", plan_dir(tmp_path)).code == 0
    cmd = [sys.executable, "-m", "ceremony.cli", "status", str(ws)]
    # The reader is gone before the command writes a byte: a real pipe, closed.
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    assert p.stdout is not None and p.stderr is not None
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=BOUND) == 141
    assert err == ""
    # and as the operator types it: the first line arrives, no traceback, no error
    r = subprocess.run(["bash", "-c", 'set -o pipefail; "$@" | head -1', "sh", *cmd],
                       capture_output=True, text=True, env=_env(), timeout=BOUND, check=False)
    assert r.returncode in (0, 141), r.stderr
    assert (r.stdout, r.stderr) == ("ceremony preflight-test (REHEARSAL)\n", "")


def test_version() -> None:
    from ceremony import __version__
    r = cli("--version")
    assert (r.code, r.out, r.err) == (0, f"ceremony {__version__}\n", "")


def test_tokens_names_the_module(hsm: SoftHsm) -> None:
    hsm.make("bad-input-token")
    r = cli("tokens")
    assert r.code == 0 and r.out.splitlines()[0] == f"PKCS#11 module: {hsm.module.path}"
    assert "bad-input-token" in r.out
    r = cli("tokens", "--json")
    data = json.loads(r.out)
    assert data["module"] == hsm.module.path
    assert [t["label"] for t in data["tokens"]] == ["bad-input-token"]


def test_a_missing_pin_file_is_not_a_wrong_pin(hsm: SoftHsm, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert bcli("init", ws, "--plan", plan_dir(tmp_path)).code == 0
    hsm.make("rehearsal-alice")
    before = (ws / "journal.jsonl").read_bytes()
    missing = tmp_path / "no-such-pin"
    r = bcli("keygen", ws, "--keyholder", "alice", "--pin-file", missing)
    assert (r.code, r.err.splitlines()) == (66, [
        f"error: the PIN file {missing} does not exist",
        "hint: no token was touched; give an existing file with --pin-file"])
    assert PinFileError.exit_code == 66
    r = bcli("keygen", ws, "--keyholder", "alice", "--pin-file", tmp_path)
    assert (r.code, r.err.strip()) == (66, f"error: the PIN file {tmp_path} is a folder, not a file")
    empty = tmp_path / "empty-pin"
    empty.write_text("\n")
    r = bcli("keygen", ws, "--keyholder", "alice", "--pin-file", empty)
    assert (r.code, r.err.splitlines()[0]) == (66, f"error: the PIN file {empty} is empty")
    assert (ws / "journal.jsonl").read_bytes() == before
    # a PIN given through a pipe (--pin-file <(...)) is read
    p = subprocess.run(
        ["bash", "-c", '"$@" --pin-file <(printf %s "$PIN")', "sh", sys.executable, "-m",
         "ceremony.cli", "keygen", str(ws), "--keyholder", "alice"],
        capture_output=True, text=True, env=_env() | {"PIN": "4711-ceremony-test"},
        timeout=120, check=False)
    assert p.returncode == 0, p.stderr


def test_a_live_plan_refuses_the_pin_from_the_environment(hsm: SoftHsm, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    ws = tmp_path / "ws"
    assert bcli("init", ws, "--plan", plan_dir(tmp_path, rehearsal=False)).code == 0
    monkeypatch.setenv("CEREMONY_PIN", "4711-ceremony-test")
    before = (ws / "journal.jsonl").read_bytes()
    r = bcli("keygen", ws, "--keyholder", "alice")
    assert (r.code, r.err.splitlines()) == (64, [
        "error: CEREMONY_PIN is for rehearsals and CI only; this is a live ceremony "
        "(rehearsal = false in the plan): nothing was done",
        "hint: unset CEREMONY_PIN; type the PIN when asked, or give --pin-file PATH"])
    assert (ws / "journal.jsonl").read_bytes() == before
    # with --pin-file the environment is not used: the step goes on to its next gate
    r = bcli("keygen", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file)
    assert (r.code, r.err.splitlines()[0]) == (
        8, "error: no preflight has been recorded for this ceremony")
    # a rehearsal takes it (scripts and CI)
    ws2 = tmp_path / "ws2"
    assert bcli("init", ws2, "--plan", plan_dir(tmp_path / "r", rehearsal=True)).code == 0
    hsm.make("rehearsal-alice")
    r = bcli("keygen", ws2, "--keyholder", "alice")
    assert r.code == 0, r.err


# ---- the air gap, checked when it matters ---------------------------------------------------


def _ceremony(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "ceremony.cli", *[str(a) for a in args]]


def test_a_preflight_from_another_namespace_does_not_open_the_gate(hsm: SoftHsm,
                                                                   tmp_path: Path) -> None:
    """The issue's case: preflight passes in an offline namespace, keygen runs where a network
    is up. The namespaces are made here (user namespaces: no root needed), so the test means
    the same on any machine."""
    for tool in ("unshare", "ip", "mount"):
        assert shutil.which(tool), f"{tool} is needed (util-linux, iproute2)"
    ws = tmp_path / "ws"
    assert bcli("init", ws, "--plan", plan_dir(tmp_path, rehearsal=False)).code == 0
    hsm.make("rehearsal-alice")
    # 1. the preflight, in a fresh network namespace with its own /sys: a clean machine
    offline_sys = ["unshare", "-r", "-n", "-m", "sh", "-c",
                   'mount -t sysfs sysfs /sys && exec "$@"', "sh"]
    r = subprocess.run([*offline_sys, *_ceremony("preflight", ws, "--clock-confirmed")],
                       capture_output=True, text=True, env=_env(), timeout=120, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "preflight passed" in r.stdout
    # 2. keygen where an interface is up (a namespace with a veth link up): refused
    keygen = _ceremony("keygen", ws, "--keyholder", "alice", "--pin-file", hsm.pin_file)
    networked = ["unshare", "-r", "-n", "sh", "-c",
                 'ip link add v0 type veth peer name v1 && ip link set v0 up && exec "$@"', "sh"]
    before = (ws / "journal.jsonl").read_bytes()
    r = subprocess.run([*networked, *keygen], capture_output=True, text=True, env=_env(),
                       timeout=120, check=False)
    assert (r.returncode, r.stderr.splitlines()) == (8, [
        "error: the air gap is open now: interface up: v0. A live ceremony's token steps "
        "re-check the network when they run; nothing was done",
        "hint: disconnect the network (ip link set DEV down, rfkill block all) in this session, "
        "then run the step again"])
    assert (ws / "journal.jsonl").read_bytes() == before
    # 3. the same keygen in an offline namespace: the gate opens
    r = subprocess.run(["unshare", "-r", "-n", *keygen], capture_output=True, text=True,
                       env=_env(), timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert "alice: ecdsa-p256 key generated" in r.stdout


def test_a_rehearsal_only_warns(tmp_path: Path) -> None:
    from ceremony import airgap
    from ceremony.engine import Ceremony
    c = Ceremony.init(tmp_path / "ws", plan_dir(tmp_path, rehearsal=True))
    airgap.require_preflight(c)  # no preflight, a network maybe: a rehearsal goes on


def test_the_air_gap_probe_sees_this_namespace() -> None:
    from ceremony.airgap import network_up_now
    r = subprocess.run(["unshare", "-r", "-n", sys.executable, "-c",
                        "from ceremony.airgap import network_up_now; print(network_up_now())"],
                       capture_output=True, text=True, env=_env(), timeout=60, check=True)
    assert r.stdout.strip() == "[]"
    r = subprocess.run(["unshare", "-r", "-n", "sh", "-c",
                        'ip link add v0 type veth peer name v1 && ip link set v0 up && exec "$@"',
                        "sh", sys.executable, "-c",
                        "from ceremony.airgap import network_up_now; print(network_up_now())"],
                       capture_output=True, text=True, env=_env(), timeout=60, check=True)
    assert r.stdout.strip() == "['interface up: v0']"
    assert isinstance(network_up_now(), list)



def test_the_tui_of_a_live_plan_refuses_the_pin_from_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = tmp_path / "ws"
    assert bcli("init", ws, "--plan", plan_dir(tmp_path, rehearsal=False)).code == 0
    monkeypatch.setenv("CEREMONY_PIN", "4711-ceremony-test")
    r = bcli("tui", ws)
    assert (r.code, r.err.splitlines()[0]) == (
        64, "error: CEREMONY_PIN is for rehearsals and CI only; this is a live ceremony "
            "(rehearsal = false in the plan): nothing was done")


def test_other_files_named_on_the_command_line_that_are_fifos(tmp_path: Path) -> None:
    fifo = tmp_path / "x.sig.json"
    os.mkfifo(fifo)
    stick = tmp_path / "stick"
    stick.mkdir()
    r = bcli("pack", fifo, "--kind", "signature", "--repository", "r", "--usb", stick)
    assert (r.code, r.err.strip()) == (
        64, f"error: {fifo} is a FIFO (named pipe), not a regular file; it was not read")
    assert list(stick.iterdir()) == []
    from tests.base.test_input_fuzz import ROOT
    trusted = tmp_path / "1.root.json"
    trusted.write_text(json.dumps(ROOT))
    r = bcli("verify", "--trusted", trusted, tmp_path, "--attestation-roots", fifo)
    assert (r.code, r.err.strip()) == (
        3, f"error: the attestation roots {fifo} is a FIFO (named pipe), not a regular file; "
           "it was not read")


def test_a_key_type_the_format_cannot_hold_is_refused_at_init(tmp_path: Path) -> None:
    text = plan_dir(tmp_path).read_text().replace('format = "tuf"', 'format = "notary"')
    r, _ = init_with(tmp_path, text.replace('algorithm = "ecdsa-p256"', 'algorithm = "ed25519"', 1))
    assert (r.code, r.err.splitlines()[0]) == (
        2, "error: keyholder alice: algorithm 'ed25519' cannot hold a notary root key here; use "
           "ecdsa-p256 or ecdsa-p384")
