"""What every step screen shares: layout, the banner, and safe calls into the ceremony.

Screens only render state and collect input. Quick, token-free calls (drafting,
publishing, journaling a confirmation) go through :meth:`StepScreen.attempt`;
anything that touches a token goes through :meth:`StepScreen.token_job`. Both
turn failures into the operator sentence in the banner.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer

from ceremony.errors import CeremonyError
from ceremony.tui.flow import Step
from ceremony.tui.messages import INTERNAL_HINT, JobDone, JobFailed, TouchDone, TouchNeeded
from ceremony.tui.widgets.banner import Banner
from ceremony.tui.widgets.steps import StepBar
from hsm.errors import HsmError


class StepScreen(Screen[None]):
    """Base of the step screens."""

    STEP: ClassVar[Step]
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "app.quit_safely", "Quit")]

    @property
    def c(self) -> Any:
        """The ceremony (an opened :class:`ceremony.engine.Ceremony`)."""
        return self.app.ceremony  # type: ignore[attr-defined]

    @property
    def banner(self) -> Banner:
        return self.query_one("#banner", Banner)

    def compose(self) -> ComposeResult:
        yield StepBar(self.bar_step(), self.app.title_text)  # type: ignore[attr-defined]
        with VerticalScroll(id="body"):
            yield from self.body()
        yield Banner(id="banner")
        yield Footer()

    def bar_step(self) -> Step:
        """The step highlighted in the step bar (a screen shown under several steps overrides)."""
        return self.STEP

    def body(self) -> Iterable[Widget]:
        """The screen's own widgets."""
        return []

    def attempt(self, fn: Callable[[], Any]) -> bool:
        """Run a quick ceremony call on the event loop; show any failure. True on success."""
        try:
            fn()
        except (CeremonyError, HsmError) as e:
            self.banner.error(e.message, e.hint)
            return False
        except Exception as e:  # noqa: BLE001 - a sentence, never a traceback
            self.banner.error(f"internal error: {type(e).__name__}: {e}", INTERNAL_HINT)
            return False
        return True

    def token_job(self, job: str, fn: Callable[[], Any], busy: str, touch: bool = True,
                  logout: bool = True) -> None:
        """Run ``fn`` in a thread worker, showing ``busy`` (and the touch hint) meanwhile."""
        if not self.app.run_job(self, job, fn, logout=logout):  # type: ignore[attr-defined]
            self.banner.info("Another token operation is still running; wait for it.")
            return
        self.banner.busy(busy, touch)

    def on_job_failed(self, m: JobFailed) -> None:
        self.banner.error(m.message, m.hint)
        self.job_failed(m.job)

    def on_job_done(self, m: JobDone) -> None:
        self.banner.clear()
        self.job_done(m.job, m.result)

    def on_touch_needed(self, m: TouchNeeded) -> None:
        self.banner.touch(m.message or f"{m.token} is waiting for a touch")

    def on_touch_done(self, m: TouchDone) -> None:
        self.banner.busy(f"Working with {m.token}")

    def job_done(self, job: str, result: Any) -> None:
        """Handle a finished job (override)."""

    def job_failed(self, job: str) -> None:
        """React to a failed job after the banner shows it (override)."""
