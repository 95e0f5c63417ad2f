"""The one place a screen shows errors, progress and the "touch your key" state.

Errors are always the operator sentence from ``CeremonyError``/``HsmError`` and
its hint, never a traceback.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class Banner(Static):
    """A status line under the screen body: error, busy (with touch hint), or info."""

    DEFAULT_CSS = """
    Banner { height: auto; padding: 0 1; display: none; }
    Banner.-error { display: block; background: $error; color: $text; }
    Banner.-busy { display: block; background: $warning; color: $background; }
    Banner.-info { display: block; background: $success; color: $background; }
    Banner.-touch { display: block; background: $accent; color: $text; text-style: bold; }
    """

    def _set(self, kind: str, text: Text) -> None:
        for k in ("-error", "-busy", "-info", "-touch"):
            self.set_class(k == kind, k)
        self.update(text)

    def error(self, message: str, hint: str | None = None) -> None:
        """Show a failure: what happened, and what to do next."""
        t = Text("error: ", style="bold") + Text(message)
        if hint:
            t += Text("\nhint: ", style="bold") + Text(hint)
        self._set("-error", t)

    def busy(self, what: str, touch: bool = True) -> None:
        """Show that a token is working; tokens with a touch policy blink now."""
        t = Text(what + "... ", style="bold")
        if touch:
            t += Text("If your key blinks, touch it now. Do not remove the token.")
        self._set("-busy", t)

    def touch(self, message: str) -> None:
        """The token is blocked until the keyholder touches it: say so, loudly."""
        t = Text(">>> TOUCH YOUR KEY NOW <<<  ", style="bold reverse")
        t += Text(message + "\nNothing else to do until it is touched; do not remove it.")
        self._set("-touch", t)

    def info(self, message: str) -> None:
        self._set("-info", Text(message))

    def clear(self) -> None:
        self._set("", Text(""))
