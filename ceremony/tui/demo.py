"""A rehearsal workspace for the TUI: throwaway SoftHSM tokens, online keys, plan, init.

``ceremony rehearse`` runs a whole ceremony with no prompts; this prepares the
same kind of workspace and opens it in the TUI, so people can walk through it
(and so the TUI tests start from exactly what a demo would). ``make demo`` runs
``python -m ceremony.tui.demo demo --keyholders 5 --threshold 3``.

The throwaway tokens' PIN: the person running the demo chooses it at a hidden
prompt (typed twice), then types it into the TUI's masked field at every token
step, as keyholders do with their own tokens. So it is never printed, logged,
journaled or written, and the demo needs no exception to that rule (softhsm2-util
does see it on its command line while the tokens are made, see
``hsm.softhsm.init_token``: choose a throwaway PIN, not one used anywhere else). With
``CEREMONY_PIN`` set (scripts only) it is used for the tokens and handed to the
TUI in-process, as ``ceremony tui`` does. ``--no-open`` only prepares, and
prints how to open the workspace later.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ceremony.errors import EXIT_USAGE, CeremonyError, UsageError
from ceremony.online.rehearsal_keys import ONLINE_TOKEN, make_online_keys
from ceremony.rehearse import keyholder_names, write_plan
from hsm import softhsm
from hsm.errors import HsmError


@dataclass(frozen=True)
class Prepared:
    """What :func:`prepare` made."""

    base: Path
    plan: Path
    workspace: Path
    softhsm: softhsm.SoftHsmDir


def prepare(base: Path, names: list[str], threshold: int, pin: str,
            softhsm_dir: softhsm.SoftHsmDir | None = None, algorithm: str = "ecdsa-p256",
            name: str = "rehearsal", init: bool = True,
            tokens: list[str] | None = None) -> Prepared:
    """Make tokens for ``names`` (or only ``tokens``), online keys, a plan, and the workspace.

    Raises:
        HsmError: SoftHSM is missing or a token cannot be made.
        CeremonyError: the plan or workspace cannot be created.
    """
    # lazy: the engine and python-pkcs11 (~55 ms), which `--help` and a refused start do without
    from ceremony.engine import Ceremony
    from hsm.pkcs11 import get_module, resolve_module_path  # lazy: as above

    base = Path(base)
    base.mkdir(parents=True, exist_ok=True)
    d = softhsm_dir or softhsm.create(base / "softhsm")
    softhsm.activate(d)
    for label in [f"rehearsal-{k}" for k in names] if tokens is None else tokens:
        softhsm.init_token(d, label, pin)
    softhsm.init_token(d, ONLINE_TOKEN, pin)
    module = get_module(resolve_module_path(env={}))
    module.refresh()
    token = module.find_token(label=ONLINE_TOKEN)
    online = base / "online"
    make_online_keys(module, token, lambda _i: pin, online)
    module.refresh()  # log out of the online token: the ceremony starts with no session
    plan = base / "plan.toml"
    write_plan(plan, name, names, threshold, algorithm, online)
    ws = base / "workspace"
    if init:
        Ceremony.init(ws, plan)
    return Prepared(base, plan, ws, d)


MIN_PIN = 4  # SoftHSM refuses shorter user PINs
PIN_TRIES = 3  # a typo is asked again, not a failed `make demo`


def choose_pin(ask: Callable[[str], str] = getpass.getpass,
               tell: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> str:
    """Ask the person at the terminal for the throwaway tokens' PIN, twice, without echo.

    A PIN that is too short, or a second entry that differs, is asked again (up to
    ``PIN_TRIES`` times): nothing has been made yet, so there is nothing to lose.

    Raises:
        UsageError: still no usable PIN after ``PIN_TRIES`` tries.
    """
    for _ in range(PIN_TRIES):
        first = ask(f"Choose a throwaway PIN for the rehearsal tokens (at least {MIN_PIN} "
                    "characters, used nowhere else; you will type it in the TUI at every token "
                    "step): ")
        if len(first) < MIN_PIN:
            tell(f"That PIN is too short: at least {MIN_PIN} characters. Try again.")
            continue
        if ask("The same PIN again: ") != first:
            tell("The two PINs differ. Try again.")
            continue
        return first
    raise UsageError(f"no usable PIN after {PIN_TRIES} tries (at least {MIN_PIN} characters, "
                     "typed twice the same); nothing was made")


def existing(base: Path) -> Prepared | None:
    """A demo already prepared in ``base`` (its workspace and SoftHSM folder), if any."""
    base = Path(base)
    ws, tokens = base / "workspace", base / "softhsm"
    if (ws / "journal.jsonl").is_file() and (tokens / "softhsm2.conf").is_file():
        return Prepared(base, base / "plan.toml", ws, softhsm.SoftHsmDir(tokens))
    return None


def commands(p: Prepared) -> str:
    """How to open the workspace again, and check its record, as commands that work as printed
    from any folder (absolute paths; the ``ceremony`` installed beside this Python)."""
    exe = Path(sys.executable).parent / "ceremony"
    tool = str(exe) if exe.is_file() else f"{sys.executable} -m ceremony.cli"
    ws = p.workspace.resolve()
    return (f"To open it again:\n  SOFTHSM2_CONF={p.softhsm.conf.resolve()} {tool} tui {ws}\n"
            f"To check its record once the ceremony is sealed (offline):\n  {tool} record verify {ws}")


def demo_app(p: Prepared, pin: str | None = None) -> Any:
    """The TUI on the prepared workspace: the PIN is asked in its masked field at every token
    step, unless ``pin`` is given (scripted runs), which stays in this process."""
    from ceremony.tui.app import make_app  # lazy: textual and the TUI (several hundred ms), not with --no-open
    return make_app(p.workspace, pin_provider=(lambda _info: pin) if pin else None)


def main(argv: list[str] | None = None) -> int:
    """Shell entry point: prepare DIR, then open it in the TUI (or say how, with --no-open)."""
    ap = argparse.ArgumentParser(prog="python -m ceremony.tui.demo",
                                 description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--keyholders", type=int, default=3)
    ap.add_argument("--threshold", type=int, default=2)
    ap.add_argument("--no-open", action="store_true",
                    help="prepare only; print how to open the workspace in the TUI")
    args = ap.parse_args(argv)
    scripted = os.environ.get("CEREMONY_PIN") or None
    try:
        if scripted is None and not (sys.stdin.isatty() and sys.stdout.isatty()):
            print("error: the demo is interactive: run it in a terminal (CEREMONY_PIN is for "
                  "scripted runs only)", file=sys.stderr)
            return EXIT_USAGE
        p = existing(args.dir)
        if p is not None:  # never thrown away: a previous demo is reopened where it stopped
            softhsm.activate(p.softhsm)
            print(f"A demo is already prepared in {args.dir}: opening it where it stopped "
                  f"(remove {args.dir} to start afresh).", file=sys.stderr)
        else:
            if Path(args.dir).exists() and any(Path(args.dir).iterdir()):
                print(f"error: {args.dir} exists and holds no demo; nothing was made",
                      file=sys.stderr)
                return EXIT_USAGE
            pin = scripted or choose_pin()
            p = prepare(args.dir, keyholder_names(args.keyholders), args.threshold, pin)
            del pin
    except (CeremonyError, HsmError) as e:
        print(f"error: {e.message}", file=sys.stderr)
        return e.exit_code
    except (KeyboardInterrupt, EOFError):
        print("\nerror: interrupted; nothing was opened", file=sys.stderr)
        return 130
    if args.no_open:
        print(commands(p))
        return 0
    app = demo_app(p, scripted)
    code = app.run()
    print(f"The rehearsal workspace is {p.workspace.resolve()}. {commands(p)}")
    return int(code or app.exit_code or 0)


if __name__ == "__main__":
    raise SystemExit(main())
