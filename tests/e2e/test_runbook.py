"""docs/ceremony-runbook.md, executed: every ``sh`` block runs, in order, against SoftHSM.

How the page is read:

* ``<!-- runbook-test: NAME -->`` on a line of its own puts the ``sh`` blocks that follow (until
  the next such line) into the story NAME; ``<!-- runbook-test: skip (REASON) -->`` leaves out
  the next block only, and must say why. A block before any marker, an unknown story, or a skip
  without a reason fails the test. Every block not skipped runs under ``bash -euo pipefail``: a
  command that does not exist or exits non-zero fails the test, naming the block's line.
* Each ``ceremony`` command is its own process, with its own arguments, folder and environment;
  to keep this test fast they are forked from a server that has already imported the tool
  (``ZYGOTE`` below) rather than started from scratch.
* Every ``ceremony …`` command on the page (in blocks, skipped or not, in ``# or: ceremony …``
  comment lines, and in inline code) must be a real command: its subcommands exist and
  ``ceremony SUBCOMMAND… --help`` works; in blocks its options and arguments parse.

The stories run in this order, each in a world prepared here:

``prepare`` → ``ceremony`` (twice: first the rehearsal of the same plan in ``rehearsal/``, then
live) → ``after`` → ``emergency`` → ``rotation`` → ``lost-key`` → ``lifecycle`` → ``notary``.

The documented substitutions, and nothing else:

* the working folder is a fresh temp folder; ``ceremony`` is this checkout's;
  ``softhsm-setup/`` is this checkout's;
* ``/media/NAME`` is ``./media/NAME`` (each one an empty folder, a fresh "stick"), except the
  plans the test writes there: ``plan/`` (the live plan, ``rehearsal = false``, with its online
  keys in ``plan/online/``), ``plan-2027/`` (the same with a new targets key), ``plan-erin/``
  (erin on a new token ``erin-key-2``), ``plan-2028/`` (the 2027 plan with a new timestamp
  key), ``plan-2029/`` (erin back on a new token ``erin-key-3``, with the online keys the
  lifecycle's emergency brought in), ``plan-dct/plan.toml`` (a notary plan naming the files
  the block copies in);
* the keyholders' SoftHSM tokens exist with the labels the plans name; PIN prompts are answered
  by ``CEREMONY_PIN`` (the rehearsal tokens get the same PIN from it);
* ``ceremony preflight`` of a live ceremony reads a fake clean machine (files, see
  tests/engine/test_preflight.py) through its hidden ``--sys-root/--proc-root`` options: this test runs
  online, where a live preflight rightly refuses. The rehearsal pass reads this machine;
* the rehearsal pass runs the ``ceremony`` blocks inside ``rehearsal/`` with the tokens the
  ``prepare`` block made there and ``/media/plan/plan.toml`` → ``rehearsal/plan/plan.toml``;
* ``photos/`` is ``out/qr/`` (the frames themselves stand in for photos of them);
* the online side's files a person would make: ``online/*.pub.pem`` (the plan's online keys),
  ``new-online/targets.pub.pem`` (the emergency's new tagging key),
  ``new-online-2/*.pub.pem`` (the lifecycle emergency's new online keys), ``app-1.0.tar.gz``;
* notary: ``https://notary.example.com:4443`` and ``notary-ca.pem`` are the test's
  notary-server (tests/support/notary_harness.py) and its CA; the notary client's passphrase prompts are
  answered by ``NOTARY_*_PASSPHRASE``; ``~`` is a temp home.
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import time
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hsm import softhsm
from tests.conftest import PIN
from tests.support.machines import fake_machine
from tests.support.notary_harness import DEFAULT_PASSPHRASES, NotaryStack
from tests.support.plans import RUNBOOK_EXPIRES, Keyholder, Online, Plan, online_roles

REPO = Path(__file__).resolve().parents[2]
RUNBOOK = REPO / "docs" / "ceremony-runbook.md"
ORDER = ("prepare", "ceremony", "after", "emergency", "rotation", "lost-key", "lifecycle",
         "notary")
HOLDERS = ("alice", "bob", "carol", "dave", "erin")
MARK = re.compile(r"^<!--\s*runbook-test:\s*(.*?)\s*-->$")
FENCE = re.compile(r"^(`{3,})\s*([\w-]*)")
INLINE = re.compile(r"`(ceremony [^`]+)`")


# ---- reading the page ---------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """One ``sh`` block of the runbook."""

    line: int  # line of the opening fence
    scenario: str | None
    skip: str | None  # the reason, when skipped
    code: str


def read_blocks(text: str) -> tuple[list[Block], list[str]]:
    """The page's ``sh`` blocks with their story, and problems with the markers."""
    blocks: list[Block] = []
    problems: list[str] = []
    scenario: str | None = None
    skip: tuple[int, str] | None = None
    fence: tuple[str, str, int] | None = None
    body: list[str] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if fence is not None:
            if line == fence[0]:
                if fence[1] == "sh":
                    reason = skip[1] if skip else None
                    if scenario is None and reason is None:
                        problems.append(f"line {fence[2]}: sh block before any runbook-test "
                                        "marker")
                    blocks.append(Block(fence[2], scenario, reason,
                                        textwrap.dedent("\n".join(body))))
                    skip = None
                fence = None
            else:
                body.append(raw)
            continue
        m = FENCE.match(line)
        if m:
            fence, body = (m.group(1), m.group(2), n), []
            continue
        m = MARK.match(line)
        if not m:
            continue
        value = m.group(1)
        if value.startswith("skip"):
            reason = value[len("skip"):].strip().strip("()").strip()
            if not reason:
                problems.append(f"line {n}: a skipped block must say why: skip (needs ...)")
            skip = (n, reason or "?")
        elif value in ORDER:
            scenario = value
        else:
            problems.append(f"line {n}: unknown runbook-test story {value!r} "
                            f"(known: {', '.join(ORDER)})")
    if skip is not None:
        problems.append(f"line {skip[0]}: skip marker with no sh block after it")
    return blocks, problems


def command_lines(block: Block) -> list[tuple[str, bool]]:
    """(command line, is it run) for each ``ceremony`` line, and ``# or: ceremony`` comments."""
    out = []
    for line in block.code.replace("\\\n", " ").splitlines():
        stripped = line.strip()
        alt = re.match(r"#\s*or:\s*(ceremony\s.*)$", stripped)
        if alt:
            out.append((alt.group(1), False))
        elif stripped.startswith("ceremony "):
            out.append((stripped, True))
    return out


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


@functools.lru_cache(maxsize=1)
def _parser() -> argparse.ArgumentParser:
    from ceremony.cli import build_parser
    return build_parser()


def check_command(line: str, full: bool) -> str | None:
    """None when ``line`` is a real ``ceremony`` command, else what is wrong.

    The subcommand path must lead to a command whose ``--help`` works; with ``full``, the
    whole line must parse (options, choices, required arguments).
    """
    try:
        argv = shlex.split(line, comments=True)[1:]
    except ValueError as e:
        return f"cannot split {line!r}: {e}"
    parser, path = _parser(), []
    while (sub := _subparsers(parser)) is not None and argv[len(path):len(path) + 1] and \
            argv[len(path)] in sub.choices:
        parser = sub.choices[argv[len(path)]]
        path.append(argv[len(path)])
    if not path or _subparsers(parser) is not None:
        return f"`{line}`: no such command (ceremony {' '.join(argv[:len(path) + 1])})"
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        try:
            _parser().parse_args([*path, "--help"])
            code: object = "no exit"
        except SystemExit as e:
            code = e.code
    if code not in (0, None) or "usage:" not in out.getvalue():
        return f"`ceremony {' '.join(path)} --help` failed ({code})"
    known = {s for a in parser._actions for s in a.option_strings}
    for tok in argv[len(path):]:
        if tok.startswith("--") and tok.split("=")[0] not in known:
            return f"`{line}`: ceremony {' '.join(path)} has no option {tok.split('=')[0]}"
    if full:
        err = io.StringIO()
        with redirect_stdout(io.StringIO()), redirect_stderr(err):
            try:
                _parser().parse_args(argv)
            except SystemExit as e:
                return f"`{line}` does not parse ({e.code}): {err.getvalue().strip()}"
    return None


def check_commands(text: str) -> list[str]:
    """Every ``ceremony`` command on the page, checked (see :func:`check_command`)."""
    blocks, problems = read_blocks(text)
    for block in blocks:
        for line, _ in command_lines(block):
            problem = check_command(line, full=True)
            if problem:
                problems.append(f"block at line {block.line}: {problem}")
    for n, raw in enumerate(text.splitlines(), start=1):
        if raw.strip().startswith("<!--"):
            continue
        for m in INLINE.finditer(raw):
            problem = check_command(m.group(1), full=False)
            if problem:
                problems.append(f"line {n}: {problem}")
    return problems


# ---- running it ---------------------------------------------------------------------------


class BlockFailed(AssertionError):
    """A runbook block exited non-zero."""


@dataclass
class Pass:
    """Where and how a story's blocks run."""

    name: str
    root: Path  # the working folder
    env: dict[str, str]
    subst: list[tuple[str, str]]
    fake_preflight: Path | None  # the fake machine for a live preflight


def run_block(block: Block, p: Pass) -> subprocess.CompletedProcess[str]:
    """Run one block with the pass's substitutions; raise :class:`BlockFailed` on failure."""
    code = block.code
    for old, new in p.subst:
        code = code.replace(old, new)
    prelude = "set -euo pipefail\n"
    if p.fake_preflight is not None:
        fake = shlex.quote(str(p.fake_preflight))
        # A live plan refuses CEREMONY_PIN: its token steps get the PIN from a file (the
        # prompt has no terminal here, and the fork server passes no inherited pipe).
        prelude += ('pinfile="$(mktemp)"; printf %s "$CEREMONY_PIN" > "$pinfile"\n'
                    "ceremony() { case \"${1:-}\" in "
                    f"preflight) command ceremony \"$@\" --sys-root {fake}/sys --proc-root {fake}/proc;; "
                    "keygen|sign|seal) command ceremony \"$@\" --pin-file \"$pinfile\";; "
                    "*) command ceremony \"$@\";; esac; }\n")
    script = prelude + "set -x\n" + code + "\n"
    r = subprocess.run(["bash", "-c", script], cwd=p.root, env=p.env, capture_output=True,
                       text=True, stdin=subprocess.DEVNULL, timeout=300, check=False)
    if r.returncode != 0:
        raise BlockFailed(
            f"runbook block at line {block.line} ({block.scenario}, {p.name} pass) exited "
            f"{r.returncode}\n--- block as run (in {p.root}):\n{code}\n--- stdout (tail):\n"
            f"{r.stdout[-3000:]}\n--- stderr (tail):\n{r.stderr[-3000:]}")
    return r


def _public_pem(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pub = ec.generate_private_key(ec.SECP256R1()).public_key()
    path.write_bytes(pub.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))


def _plan(name: str, tokens: dict[str, str], keys: str = "online") -> str:
    holders = [Keyholder(k, token=tokens[k]) for k in HOLDERS]
    return Plan(name, holders, 3, online_roles(keys, expires=RUNBOOK_EXPIRES), repository="acme/updates",
                format="tuf", rehearsal=False).text()


DCT_PLAN = Plan(
    "acme-app-dct-2026", [Keyholder(k, token=f"{k}-key") for k in ("alice", "bob", "carol")], 2,
    {"targets": Online(["tagging-2026.pub.json"], "1095d"),
     "snapshot": Online(["notary-keys/snapshot.pub.json"], "1095d"),
     "timestamp": Online(["notary-keys/timestamp.pub.json"], "14d")},
    repository="example.com/acme/app", format="notary", rehearsal=False, root_expires="3650d").text()


def prepare_world(t: Path) -> None:
    """Tokens, plans, the online side's files and the fake clean machine."""
    live = softhsm.create(t / "hsm")
    for label in [f"{k}-key" for k in HOLDERS] + ["erin-key-2", "erin-key-3"]:
        softhsm.init_token(live, label, PIN)
    tokens = {k: f"{k}-key" for k in HOLDERS}
    media = t / "media"
    for role in ("targets", "snapshot", "timestamp"):
        _public_pem(t / "online" / f"{role}.pub.pem")
    for folder, name, holders in (("plan", "acme-root-2026", tokens),
                                  ("plan-2027", "acme-root-2027", tokens),
                                  ("plan-erin", "acme-root-erin", tokens | {"erin": "erin-key-2"})):
        shutil.copytree(t / "online", media / folder / "online")
        (media / folder / "plan.toml").write_text(_plan(name, holders))
    _public_pem(media / "plan-2027" / "online" / "targets.pub.pem")  # the routine rotation
    _public_pem(t / "new-online" / "targets.pub.pem")  # the emergency
    # the lifecycle: a second rotation (new timestamp key), an emergency that replaces every
    # online key (new-online-2/), then erin back on a new token with those online keys
    shutil.copytree(media / "plan-2027" / "online", media / "plan-2028" / "online")
    (media / "plan-2028" / "plan.toml").write_text(_plan("acme-root-2028", tokens))
    _public_pem(media / "plan-2028" / "online" / "timestamp.pub.pem")
    for role in ("targets", "snapshot", "timestamp"):
        _public_pem(t / "new-online-2" / f"{role}.pub.pem")
    shutil.copytree(t / "new-online-2", media / "plan-2029" / "online")
    (media / "plan-2029" / "plan.toml").write_text(
        _plan("acme-root-2029", tokens | {"erin": "erin-key-3"}))
    (media / "plan-dct").mkdir(parents=True)
    (media / "plan-dct" / "plan.toml").write_text(DCT_PLAN)
    (t / "app-1.0.tar.gz").write_bytes(b"acme app 1.0\n")
    fake_machine(t / "fake")
    (t / "tmp").mkdir()
    (t / "home").mkdir()
    (t / "bin").mkdir()


ZYGOTE = r"""
import importlib, json, os, signal, socket, sys
import ceremony.cli
for name in ("ceremony.online.notary_ops", "ceremony.flows", "ceremony.cli.yubikey",
             "ceremony.engine", "ceremony.status", "ceremony.transfer", "ceremony.transport",
             "ceremony.detached", "ceremony.preflight", "ceremony.record", "ceremony.compare",
             "ceremony.compromise", "ceremony.rehearse", "ceremony.script", "ceremony.chain",
             "ceremony.formats.notary", "ceremony.online.notary", "hsm.pkcs11", "hsm.signer",
             "tuf.api.metadata"):
    try:  # only a head start: a module that fails here fails again in the command, visibly
        importlib.import_module(name)
    except Exception:
        pass
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(sys.argv[1])
server.listen(8)
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children reap themselves
while True:
    conn, _ = server.accept()
    msg, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
    if os.fork():
        conn.close()
        for fd in fds:
            os.close(fd)
        continue
    server.close()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    req = json.loads(msg)
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req["env"])
    import tempfile
    tempfile.tempdir = None
    try:
        code = ceremony.cli.main(req["argv"])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 64)
    sys.stdout.flush()
    sys.stderr.flush()
    conn.sendall(str(code).encode())
    os._exit(0)
"""

CLIENT = r"""import json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(SOCKET)
req = {"argv": sys.argv[1:], "cwd": os.getcwd(), "env": dict(os.environ)}
socket.send_fds(s, [json.dumps(req).encode()], [0, 1, 2])
got = b""
while chunk := s.recv(64):
    got += chunk
sys.exit(int(got or b"70"))
"""


def start_zygote(t: Path) -> subprocess.Popen[bytes]:
    """The fork server, and ``bin/ceremony`` that hands it each command."""
    sock = t / "zygote.sock"
    proc = subprocess.Popen([sys.executable, "-c", ZYGOTE, str(sock)],
                            env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO,
                            stdin=subprocess.DEVNULL)
    shim = t / "bin" / "ceremony"
    shim.write_text(f"#!{sys.executable} -S\n" + CLIENT.replace("SOCKET", repr(str(sock))))
    shim.chmod(0o755)
    for _ in range(600):
        if sock.exists() or proc.poll() is not None:
            break
        time.sleep(0.01)
    assert sock.exists(), "the fork server did not start"
    return proc


def make_sticks(root: Path, blocks: list[Block]) -> None:
    """Every ``/media/NAME`` the page mentions, as an (empty) folder under ``root/media``."""
    for block in blocks:
        for name in re.findall(r"/media/([\w.-]+)", block.code):
            (root / "media" / name).mkdir(parents=True, exist_ok=True)


def base_env(t: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CEREMONY_", "NOTARY_")) and k not in ("SOFTHSM2_CONF",)}
    env.update(PATH=f"{t / 'bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
               PYTHONPATH=str(REPO), CEREMONY_PIN=PIN, TMPDIR=str(t / "tmp"),
               HOME=str(t / "home"), LANG="C.UTF-8",
               SOFTHSM2_CONF=str(t / "hsm" / "softhsm2.conf"))
    return env


# ---- the tests ----------------------------------------------------------------------------


def test_every_block_belongs_to_a_story_or_says_why_not() -> None:
    blocks, problems = read_blocks(RUNBOOK.read_text(encoding="utf-8"))
    assert problems == []
    stories = {b.scenario for b in blocks if b.skip is None}
    assert stories == set(ORDER), f"stories without a block: {set(ORDER) - stories}"
    skipped = [(b.line, b.skip) for b in blocks if b.skip]
    assert all(reason.startswith("needs ") for _, reason in skipped), skipped


def test_every_command_on_the_page_is_real() -> None:
    assert check_commands(RUNBOOK.read_text(encoding="utf-8")) == []


def test_the_check_catches_drift(tmp_path: Path) -> None:
    page = textwrap.dedent("""\
        ```sh
        ceremony status ws
        ```

        <!-- runbook-test: skip -->

        ```sh
        ceremony frobnicate ws
        # or: ceremony export ws --usb /media/x --qr-size huge
        ```

        <!-- runbook-test: ceremony -->

        Inline `ceremony seal ws --wax` and `ceremony record`.

        ```sh
        ceremony publish ws --force
        ceremony keygen ws
        ```
        """)
    problems = check_commands(page)
    expected = [
        ("line 1: sh block before any runbook-test marker",),
        ("line 5: a skipped block must say why: skip (needs ...)",),
        ("block at line 7: `ceremony frobnicate ws`: no such command (ceremony frobnicate)",),
        ("block at line 7: `ceremony export ws --usb /media/x --qr-size huge` does not parse "
         "(64): usage: ceremony export", "argument --qr-size: invalid choice: 'huge'"),
        ("block at line 16: `ceremony publish ws --force`: ceremony publish has no option "
         "--force",),
        ("block at line 16: `ceremony keygen ws` does not parse (64): usage: ceremony keygen",
         "the following arguments are required: --keyholder"),
        ("line 14: `ceremony seal ws --wax`: ceremony seal has no option --wax",),
        ("line 14: `ceremony record`: no such command (ceremony record)",),
    ]
    assert len(problems) == len(expected), problems
    for problem, parts in zip(problems, expected, strict=True):
        assert problem.startswith(parts[0]) and all(x in problem for x in parts[1:]), problem
    # A block that runs and fails (here: a command that does not exist) fails the test.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    with pytest.raises(BlockFailed, match="exited 127"):
        run_block(Block(3, "ceremony", None, "ceremony-that-does-not-exist --help"),
                  Pass("live", tmp_path, env, [], None))


def test_the_runbook_runs(tmp_path: Path, notary_stack: NotaryStack,
                          request: pytest.FixtureRequest) -> None:
    t = tmp_path
    blocks, problems = read_blocks(RUNBOOK.read_text(encoding="utf-8"))
    assert problems == []
    prepare_world(t)
    zygote = start_zygote(t)
    request.addfinalizer(lambda: (zygote.terminate(), zygote.wait(10)))
    env = base_env(t)
    common = [("softhsm-setup/", f"{REPO}/softhsm-setup/"), ("photos/", "out/qr/")]
    live = Pass("live", t, env, [*common, ("/media/", f"{t}/media/")], t / "fake")
    reh_root = t / "rehearsal"
    rehearsal = Pass("rehearsal", reh_root,
                     env | {"SOFTHSM2_CONF": str(reh_root / "tokens" / "softhsm2.conf")},
                     [*common, ("/media/plan/plan.toml", f"{reh_root}/plan/plan.toml"),
                      ("/media/", f"{reh_root}/media/")], None)
    notary = Pass("live", t, env | DEFAULT_PASSPHRASES,
                  [("https://notary.example.com:4443", notary_stack.url),
                   ("notary-ca.pem", str(notary_stack.ca_file)), *live.subst], t / "fake")
    make_sticks(t, blocks)
    outputs: dict[str, list[str]] = {}

    def story(name: str, p: Pass) -> None:
        for block in blocks:
            if block.scenario == name and block.skip is None:
                outputs.setdefault(name, []).append(run_block(block, p).stdout)

    story("prepare", live)
    assert f"export SOFTHSM2_CONF={reh_root / 'tokens' / 'softhsm2.conf'}" in \
        "\n".join(outputs["prepare"])
    make_sticks(reh_root, blocks)
    story("ceremony", rehearsal)
    story("ceremony", live)
    story("after", live)
    after = "\n".join(outputs["after"])
    assert "seal verified" in after and "record verified" in after
    assert "parity: the live ceremony followed the rehearsal step by step" in after
    assert "rehearsal flag: LIVE is live, REHEARSAL is a rehearsal" in after
    story("emergency", live)
    story("rotation", live)
    story("lost-key", live)
    story("lifecycle", live)
    story("notary", notary)

    # What the stories left behind is what the page says they do.
    assert (t / "repository" / "metadata" / "1.root.json").read_bytes() == \
        (t / "ceremony-2026" / "metadata" / "1.root.json").read_bytes()
    assert (t / "rehearsal" / "ceremony-2026" / "record" / "report.html").is_file()
    for ws, version in (("emergency-1", 2), ("rotation-2027", 2), ("replace-erin", 2)):
        assert (t / ws / "metadata" / f"{version}.root.json").is_file(), ws
    assert (t / "repository" / "metadata" / "root.json").read_bytes() == \
        (t / "repository" / "metadata" / "5.root.json").read_bytes()  # the lifecycle's last hop
    assert (t / "dct-repository" / "metadata" / "targets.json").is_file()
    assert not (t / "tagging-2026.pem").exists()  # handed over, then destroyed
    notary_out = "\n".join(outputs["notary"])
    assert "serves this chain, and a targets.json signed by root v1's targets key" in notary_out
