"""The ceremony TUI application and its factory.

The app owns the opened :class:`~ceremony.engine.Ceremony`, the PKCS#11 module
(loaded lazily, in a worker), how PINs are obtained, and which step comes
next. Screens call :meth:`CeremonyApp.run_job` for anything that touches a
token; the job runs in a thread worker, logs out of every token when it ends
(one keyholder's token in the reader at a time), and answers with a
:class:`~ceremony.tui.messages.JobDone` or :class:`~ceremony.tui.messages.JobFailed`
message. Expected failures become the operator sentence and hint; nothing is
ever shown as a traceback, and no PIN is ever logged, rendered or stored.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.worker import get_current_worker

from ceremony import flows
from ceremony.engine import Ceremony
from ceremony.errors import EXIT_INTERNAL, CeremonyError
from ceremony.lock import Sitting, set_command
from ceremony.preflight import Facts, Probes
from ceremony.session import Session as CeremonySession
from ceremony.tui.flow import Session, Step, next_step
from ceremony.tui.messages import INTERNAL_HINT, JobDone, JobFailed, TouchDone, TouchNeeded
from ceremony.tui.screens.fatal import FatalScreen, OpeningScreen
from hsm.errors import HsmError, PinMissingError
from hsm.pkcs11 import get_module, resolve_module_path

Exporter = Callable[[Any], str]
"""An export hook replacing the export step's choices: given the Ceremony, write the export,
journal it (``exported``), describe it.

Without a hook (the default) the export step offers the real transports
(``ceremony.transport`` through :mod:`ceremony.flows`): a USB stick or folder,
QR PNG frames with a printable sheet, or QR codes animated on this screen.
"""


class CeremonyApp(App[int]):
    """Walks the room through one workspace's ceremony."""

    TITLE = "ceremony"
    CSS = """
    Screen { layout: vertical; }
    #body { height: 1fr; padding: 0 1; }
    .hint { color: $text-muted; }
    OptionList { height: auto; max-height: 8; margin: 0 0 1 0; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit_safely", "Quit", show=False, priority=True),
        Binding("ctrl+c", "ask_quit", "Quit", show=False, priority=True)]

    def __init__(self, workspace: Path, module_path: str | None = None,
                 pin_provider: Callable[[Any], str] | None = None, probes: Probes | None = None,
                 exporter: Exporter | None = None, operator: str = "administrator",
                 plan: Path | None = None, previous: Path | None = None,
                 draft: Path | None = None, keyholder: str | None = None,
                 signature_out: Path | None = None, audit: bool = False,
                 trusted: Path | None = None) -> None:
        super().__init__()
        self.draft = None if draft is None else Path(draft)
        self.keyholder = keyholder
        self.signature_out = None if signature_out is None else Path(signature_out)
        self.trusted = None if trusted is None else Path(trusted)
        self.audit = audit
        self.workspace = Path(workspace)
        self.plan_path = None if plan is None else Path(plan)
        self.previous = None if previous is None else Path(previous)
        self.preview: Any = None
        self.module_path = module_path
        self.scripted_pin = pin_provider
        self.probes = probes or Probes()
        self.exporter = exporter
        self.operator = operator
        self.session = Session()
        self.ceremony: Any = None
        self.busy = False
        self.exit_code = 0
        self._module: Any = None
        self._lock = threading.Lock()

    # ---- lifecycle ----------------------------------------------------------------

    def on_unmount(self) -> None:
        # The TUI holds its workspace (ceremony.lock) for as long as it shows it: let go on exit.
        if self.ceremony is not None:
            self.ceremony.close()

    def on_mount(self) -> None:
        set_command("ceremony tui")  # how a refused command names this holder
        if self.draft is not None:  # a keyholder elsewhere: no workspace here
            # lazy: the remote signing screen (~7 ms), which opening a workspace does without
            from ceremony.tui.screens.remote import RemoteSignScreen
            self.push_screen(RemoteSignScreen(self.draft, self.keyholder or "",
                                              self.signature_out, self.trusted))
            return
        if self.audit:  # read-only: checked by path, even when the journal is broken
            # lazy: the audit screen (~5 ms), which opening a workspace does without
            from ceremony.tui.screens.audit import AuditScreen
            self.push_screen(AuditScreen(self.workspace))
            return
        # Opening a workspace replays its journal: do it in a worker so the first screen is up,
        # and answering keys, while that happens.
        self.push_screen(OpeningScreen(str(self.workspace)))
        if self.plan_path is not None and not self.workspace.exists():
            self.run_worker(self._preview, name="preview", thread=True, exit_on_error=False)
            return
        self.run_worker(self._open, name="open", thread=True, exit_on_error=False)

    # ---- a new ceremony (--plan, the workspace does not exist yet) ------------------------

    def _preview(self) -> None:
        self._guarded(lambda: flows.preview_plan(self.workspace, self.plan_path,  # type: ignore[arg-type]
                                                 self.previous), self._previewed)

    def _previewed(self, preview: Any, message: str, hint: str | None, code: int) -> None:
        # lazy: the new-ceremony screen (~7 ms), which opening an existing workspace does without
        from ceremony.tui.screens.new import NewCeremonyScreen
        if preview is None:
            self.exit_code = code
            self.switch_screen(FatalScreen(message, hint))
            return
        self.preview = preview
        self.switch_screen(NewCeremonyScreen(preview))

    def start_new(self) -> None:
        """Create the workspace from the reviewed plan (``Ceremony.init``), then go on."""
        if self.busy:
            return
        self.busy = True
        self.run_worker(lambda: self._guarded(
            lambda: flows.start_ceremony(self.workspace, self.preview), self._started),
            name="init", thread=True, exit_on_error=False)

    def _started(self, c: CeremonySession | None, message: str, hint: str | None, code: int) -> None:
        self.busy = False
        if c is None:
            self.screen.failed(message, hint)  # type: ignore[attr-defined]
            return
        self.ceremony = c
        self.advance()  # the room has reviewed the plan: on to the preflight

    def _guarded(self, fn: Callable[[], Any], then: Callable[[Any, str, str | None, int], None]) -> None:
        """Run ``fn`` (in a worker); hand its result, or the operator sentence, to ``then``."""
        try:
            result = fn()
        except (CeremonyError, HsmError) as e:
            self.call_from_thread(then, None, e.message, e.hint, e.exit_code)
        except Exception as e:  # noqa: BLE001 - a sentence, never a traceback
            self.call_from_thread(then, None, f"internal error: {type(e).__name__}: {e}",
                                  INTERNAL_HINT, EXIT_INTERNAL)
        else:
            self.call_from_thread(then, result, "", None, 0)

    def _open(self) -> None:
        sitting = Sitting(release=False)  # the TUI keeps the workspace until it quits
        try:
            with sitting:
                c = Ceremony.open(self.workspace)
        except (CeremonyError, HsmError) as e:
            self.call_from_thread(self._opened, None, e.message, e.hint, e.exit_code)
        except Exception as e:  # noqa: BLE001 - a sentence, never a traceback
            self.call_from_thread(self._opened, None, f"internal error: {type(e).__name__}: {e}",
                                  INTERNAL_HINT, EXIT_INTERNAL)
        else:
            for note in sitting.notes:  # a stale lock taken over, a journal tail set aside
                self.call_from_thread(self.notify, note, severity="warning", timeout=30)
            self.call_from_thread(self._opened, c, "", None, 0)

    def _opened(self, c: CeremonySession | None, message: str, hint: str | None, code: int) -> None:
        # lazy: the plan screen (~5 ms), once the workspace is open, after the first screen is up
        from ceremony.tui.screens.plan import PlanScreen
        if c is None:
            self.exit_code = code
            self.switch_screen(FatalScreen(message, hint))
            return
        self.ceremony = c
        self.switch_screen(PlanScreen())

    @property
    def title_text(self) -> str:
        c = self.ceremony
        if c is None:
            return ""
        return f"{c.plan.name}" + (" (REHEARSAL)" if c.plan.rehearsal else "")

    def advance(self) -> None:
        """Show the step the journal says comes next."""
        step = next_step(self.ceremony, self.session)
        self.switch_screen(screen_for(step))

    def action_ask_quit(self) -> None:
        """Ctrl-C: ask before quitting (a second Ctrl-C on the question quits)."""
        from ceremony.tui.screens.confirm import ConfirmScreen  # lazy: the question screen (~1 ms), on Ctrl-C only
        if isinstance(self.screen, ConfirmScreen) and self.screen.quitting:
            self.action_quit_safely()
            return
        question = ConfirmScreen("Quit the ceremony tool? Everything done so far is journaled; "
                                 "running it again resumes where it stopped.")
        question.quitting = True
        self.push_screen(question, lambda yes: self.action_quit_safely() if yes else None)

    def action_quit_safely(self) -> None:
        """Quit, unless a token operation is running (it would be cut off mid-way)."""
        if self.busy:
            self.notify("A token operation is running; wait for it to finish.", severity="warning")
            return
        self.exit(self.exit_code)

    # ---- tokens and PINs (called in worker threads) -------------------------------------

    def module(self) -> Any:
        """The PKCS#11 module, loaded on first use (worker threads only).

        Raises:
            ModuleLoadError: no module found or it cannot be loaded.
        """
        with self._lock:
            if self._module is None:
                plan_module = None if self.ceremony is None else self.ceremony.plan.pkcs11_module
                self._module = get_module(resolve_module_path(self.module_path, plan_module))
            return self._module

    def rescan(self) -> list[Any]:
        """Re-read the token list (a reinserted or new token) and return it."""
        m = self.module()
        m.refresh()
        return sorted(m.tokens(), key=lambda t: (t.label, t.serial))

    def gather_facts(self) -> Facts:
        """Preflight probes, including the token list when a module loads."""
        try:
            module, error = self.module(), None
        except HsmError as e:
            module, error = None, e.message
        return self.probes.gather(module, error)

    def pin(self, info: Any) -> str:
        """The PinProvider handed to the engine: scripted, or asked in a modal.

        Runs in the worker thread; the modal runs on the event loop and the
        answer comes back through a queue. The PIN is held only for the call.

        Raises:
            PinMissingError: the keyholder cancelled the PIN entry.
        """
        if self.scripted_pin is not None:
            return self.scripted_pin(info)
        from ceremony.tui.screens.pin import PinScreen  # lazy: the PIN screen (~2 ms), at a token step only
        answer: queue.Queue[str | None] = queue.Queue()
        self.call_from_thread(self.push_screen, PinScreen(info), answer.put)
        worker = get_current_worker()
        while True:
            try:
                pin = answer.get(timeout=0.1)
                break
            except queue.Empty:
                if worker.is_cancelled:
                    pin = None
                    break
        if not pin:
            raise PinMissingError(f"PIN entry for {info.describe()} was cancelled; nothing was "
                                  "done on the token")
        return pin

    def touch(self, token: str, needed: bool, message: str | None = None) -> None:
        """Touch hook for token layers that know when a touch is awaited (hsm.yubikey).

        Safe to call from the worker thread; the current screen shows the state.
        """
        self.screen.post_message(TouchNeeded(token, message) if needed else TouchDone(token))

    def touch_callback(self, screen: Screen[Any], token: str) -> Callable[[str], None]:
        """An ``on_touch`` callback for a token step started by ``screen``.

        ``hsm.yubikey.signing`` calls it (in the worker) just before the card
        blocks for a touch; ``screen`` then shows the "touch your key" state
        until the step ends.
        """
        def touched(message: str) -> None:
            screen.post_message(TouchNeeded(token, message))
        return touched

    # ---- jobs ---------------------------------------------------------------------

    def run_job(self, screen: Screen[Any], job: str, fn: Callable[[], Any],
                logout: bool = True) -> bool:
        """Run ``fn`` in a thread worker; answer ``screen`` with JobDone/JobFailed.

        Returns False (and does nothing) while another job runs: one token
        operation at a time.
        """
        if self.busy:
            return False
        self.busy = True

        def work() -> None:
            message: JobDone | JobFailed
            sitting = Sitting(release=False)  # warnings from inside the step (ceremony.lock.note)
            try:
                with sitting:
                    message = JobDone(job, fn())
            except (CeremonyError, HsmError) as e:
                message = JobFailed(job, e.message, e.hint)
            except Exception as e:  # noqa: BLE001 - a sentence, never a traceback
                message = JobFailed(job, f"internal error: {type(e).__name__}: {e}", INTERNAL_HINT)
            if logout and self._module is not None:
                with contextlib.suppress(Exception):  # best effort: the token may be gone
                    self._module.close()  # the next keyholder brings another token
            self.busy = False  # before the answer: its handler may start the next job
            for note in sitting.notes:
                self.call_from_thread(self.notify, note, severity="warning", timeout=30)
            screen.post_message(message)

        self.run_worker(work, name=job, group="token", thread=True, exit_on_error=False)
        return True


def screen_for(step: Step) -> Screen[Any]:
    """A fresh screen for ``step``."""
    # lazy: the nine step screens (~16 ms), once the workspace is open, after the first screen is up
    from ceremony.tui.screens import (
        done,
        draft,
        export,
        keygen,
        plan,
        preflight,
        seal,
        sign,
        witness,
    )
    return {
        Step.PLAN: plan.PlanScreen,
        Step.PREFLIGHT: preflight.PreflightScreen,
        Step.KEYGEN: keygen.KeygenScreen,
        Step.DRAFT: draft.DraftScreen,
        Step.SIGN: sign.SignScreen,
        Step.EXPORT: export.ExportScreen,
        Step.SEAL: seal.SealScreen,
        Step.DONE: done.DoneScreen,
        Step.WITNESS: witness.WitnessScreen,
    }[step]()


def make_app(workspace: Path | str, module_path: str | None = None,
             pin_provider: Callable[[Any], str] | None = None, probes: Probes | None = None,
             exporter: Exporter | None = None, operator: str = "administrator",
             plan: Path | str | None = None, previous: Path | str | None = None,
             draft: Path | str | None = None, keyholder: str | None = None,
             signature_out: Path | str | None = None, audit: bool = False,
             trusted: Path | str | None = None) -> CeremonyApp:
    """Build the TUI for ``workspace``.

    Args:
        workspace: an initialised ceremony workspace.
        module_path: PKCS#11 module (else the plan's, ``CEREMONY_PKCS11_MODULE``, known paths).
        pin_provider: a scripted PIN source (``--pin-file``/``CEREMONY_PIN``); without it
            each keyholder types their PIN into a masked field when the token asks.
        probes: where the preflight looks (tests pass fake ``/sys`` and ``/proc`` trees).
        exporter: an export hook replacing the transports (see :data:`Exporter`); None
            offers USB, QR files and QR on screen.
        operator: who is at the keyboard, for confirmations in the transcript.
        plan: with ``workspace`` not existing yet, start a ceremony from this plan: it is
            reviewed on screen first, and the workspace is created on confirmation.
        previous: for such a start, the previous root's metadata folder (a rotation).
        draft: a keyholder elsewhere signs this travelling draft (``workspace`` unused):
            reviewed in words, confirmed by typing ``keyholder``, signed on their token,
            the signature written to ``signature_out`` (default beside the draft).
        trusted: with ``draft``, the keyholder's own trusted root file or chain folder (the
            screen asks for it too); the changes are shown against it.
        audit: the auditor's view of ``workspace`` (record verify, report, chain), read-only.
    """
    return CeremonyApp(Path(workspace), module_path, pin_provider, probes, exporter, operator,
                       None if plan is None else Path(plan),
                       None if previous is None else Path(previous),
                       None if draft is None else Path(draft), keyholder,
                       None if signature_out is None else Path(signature_out), audit,
                       None if trusted is None else Path(trusted))


__all__ = ["EXIT_INTERNAL", "CeremonyApp", "Exporter", "make_app"]
