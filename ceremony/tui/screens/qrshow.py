"""QR codes animated on this screen: plain frames, then fountain frames, until escape.

The code is drawn with ``ceremony.transport``'s half-block renderer, black on
white whatever the theme, at the largest version that fits the terminal (or a
named size). A code that would wrap is never drawn: the screen says what size
it needs and what to do instead. The display is journaled (``exported``, as
``ceremony export --animate`` does) before the first frame appears.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center
from textual.events import Resize
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Static

from ceremony import flows
from ceremony.errors import CeremonyError
from ceremony.session import Session
from ceremony.tui.messages import INTERNAL_HINT

SIZES = ("auto", "small", "medium", "large")
RESERVE = 2  # the status line and the keys line under the code
QR_STYLE = "#000000 on #ffffff"


class QrDisplayScreen(Screen[None]):
    """Cycles the frames of one message; escape (or q) ends the display."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Stop"), Binding("q", "close", "Stop", show=False),
        Binding("s", "next_size", "Size"), Binding("space", "pause", "Pause")]
    DEFAULT_CSS = """
    QrDisplayScreen { padding: 0; background: $background; }
    #qr-box { height: auto; }
    #qr { width: auto; height: auto; padding: 0; }
    #qr-status { width: 100%; height: 1; }
    #qr-keys { width: 100%; height: 1; color: $text-muted; }
    #qr-refused { width: 100%; height: auto; padding: 1 2; border: heavy $error; }
    """

    def __init__(self, message: bytes, record: Callable[[], None] | None = None,
                 size: str = "auto", fps: float = 5.0, what: str = "the bundle") -> None:
        super().__init__()
        self.message = message
        self.record = record  # journals the display; called once, before the first frame
        self.size_name = size
        self.fps = fps
        self.what = what
        self.qr: flows.TerminalQr | None = None
        self.lines: list[str] = []  # the frame on screen, as drawn (for tests and checks)
        self.label = ""
        self.shown = 0
        self.refusal: str | None = None
        self.paused = False
        self._timer: Timer | None = None
        self._restarted = False

    def compose(self) -> ComposeResult:
        with Center(id="qr-box"):
            yield Static(id="qr")
        yield Static(id="qr-refused")
        yield Static(id="qr-status")
        yield Static(id="qr-keys")

    def on_mount(self) -> None:
        self.start()

    # ---- drawing ------------------------------------------------------------------------------

    def start(self) -> None:
        """(Re)build the frames for the terminal as it is now, or refuse."""
        self._stop()
        columns, lines = self.app.size
        try:
            qr = flows.TerminalQr.for_terminal(self.message, columns, lines, self.size_name,
                                               RESERVE)
        except CeremonyError as e:
            self.refuse(e.message, e.hint)
            return
        if self.record is not None:
            try:
                self.record()
            except CeremonyError as e:
                self.refuse(e.message, e.hint)
                return
            except Exception as e:  # noqa: BLE001 - a sentence, never a traceback
                self.refuse(f"internal error: {type(e).__name__}: {e}", INTERNAL_HINT)
                return
            self.record = None
        self.qr = qr
        self.refusal = None
        self.query_one("#qr-refused", Static).display = False
        self.query_one("#qr", Static).display = True
        self.show_next()
        self._timer = self.set_interval(1.0 / self.fps, self._tick)

    def refuse(self, message: str, hint: str | None) -> None:
        """Draw nothing; say why, and what to do instead."""
        self._stop()
        self.qr = None
        self.lines = []
        self.refusal = message
        t = Text("The QR code is not drawn.\n\n", style="bold")
        t.append("error: ", style="bold")
        t.append(message)
        if hint:
            t.append("\nhint: ", style="bold")
            t.append(hint)
        self.query_one("#qr", Static).display = False
        refused = self.query_one("#qr-refused", Static)
        refused.update(t)
        refused.display = True
        self.query_one("#qr-status", Static).update(Text(f"size: {self.size_name}"))
        self._keys()

    def _tick(self) -> None:
        if not self.paused:
            self.show_next()

    def show_next(self) -> None:
        """Draw the next frame."""
        if self.qr is None:
            return
        self.label, self.lines = self.qr.next_frame()
        self.shown += 1
        code = Text(no_wrap=True, overflow="crop")
        for i, line in enumerate(self.lines):
            if i:
                code.append("\n")
            code.append(line, style=QR_STYLE)
        self.query_one("#qr", Static).update(code)
        status = (f"{self.what}: {self.label} - words {self.qr.words} - "
                  f"QR v{self.qr.size.version}"
                  + (" - size changed: scan again from the start" if self._restarted else ""))
        self.query_one("#qr-status", Static).update(
            Text(status[: self.app.size.width], style="bold"))
        self._keys()

    def _keys(self) -> None:
        self.query_one("#qr-keys", Static).update(
            f"escape: stop   space: {'resume' if self.paused else 'pause'}   "
            f"s: size ({self.size_name})")

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    # ---- keys and resizing --------------------------------------------------------------------

    def on_resize(self, event: Resize) -> None:
        columns, lines = self.app.size
        if self.qr is not None and not self.qr.fits(columns, lines, RESERVE):
            self.refuse(f"the terminal is now {columns}x{lines}; the code no longer fits and "
                        "would wrap", "enlarge the window again, or press s for another size")
        elif self.qr is None and self.refusal is not None and self.size_name == "auto":
            self.start()

    def action_next_size(self) -> None:
        self.size_name = SIZES[(SIZES.index(self.size_name) + 1) % len(SIZES)]
        self._restarted = self.shown > 0
        self.start()

    def action_pause(self) -> None:
        self.paused = not self.paused
        self._keys()

    def action_close(self) -> None:
        self._stop()
        self.dismiss(None)


def show_bundle(screen: Any, c: Session, what: str, done: Callable[[Any], None] | None = None,
                size: str = "auto") -> None:
    """Open the display for ``c``'s bundle from ``screen`` (a StepScreen); journal it on first draw.

    Failures to build the bundle (nothing drafted, ...) land in the screen's banner.
    """
    try:
        bundle, message = flows.bundle_for_display(c)
    except CeremonyError as e:
        screen.banner.error(e.message, e.hint)
        return
    screen.app.push_screen(QrDisplayScreen(message, lambda: flows.record_display(c, bundle),
                                           size=size, what=what), done)
