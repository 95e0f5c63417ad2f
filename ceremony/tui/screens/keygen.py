"""Key generation, one keyholder at a time: "insert alice's token", PIN, generate, read aloud."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import Static

from ceremony import flows
from ceremony.fingerprint import fingerprint_words
from ceremony.preflight import require_preflight
from ceremony.tui.flow import Step, keygen_next
from ceremony.tui.screens.base import StepScreen


def token_line(presence: flows.Presence | None) -> Text:
    """Whether the keyholder's token (or YubiKey, by serial) is present, with its PIN state."""
    if presence is None:
        return Text("Looking for the token...", style="dim")
    return Text(presence.text, style="green" if presence.present else "bold yellow")


class KeygenScreen(StepScreen):
    """Shows every root keyholder's progress and generates the next key on its token."""

    STEP = Step.KEYGEN
    BINDINGS: ClassVar[list[BindingType]] = [
        *StepScreen.BINDINGS, Binding("enter", "go", "Generate / next"),
                Binding("r", "rescan", "Rescan tokens")]

    def __init__(self) -> None:
        super().__init__()
        self.tokens: flows.Presence | None = None  # the last scan for the current keyholder
        self.result: Any = None  # the key just made, shown until acknowledged

    def body(self) -> Iterable[Widget]:
        yield Static(id="keys")
        yield Static(id="token")
        yield Static(id="action", classes="hint")

    def on_mount(self) -> None:
        self.show()
        self.action_rescan()

    def show(self) -> None:
        c = self.c
        current = keygen_next(c)
        t = Text()
        done = sum(1 for k in c.plan.root.keyholders if not c.needs_key(k))
        t.append(f"Root key generation: {done} of {len(c.plan.root.keyholders)} ready\n\n",
                 style="bold")
        for name in c.plan.root.keyholders:
            rec = c.state.keys.get(name)
            if rec is not None:
                t.append(f" + {name:<10} key {rec.keyid[:16]} on {rec.token_label}\n",
                         style="green")
            elif not c.needs_key(name):
                t.append(f" + {name:<10} keeps the key from the previous root\n", style="green")
            elif name == current and self.result is None:
                holder = c.plan.keyholder(name)
                t.append(f" > {name:<10} insert {name}'s token: {holder.token or holder.serial}\n",
                         style="bold")
            else:
                t.append(f" - {name:<10} waiting\n", style="dim")
        self.query_one("#keys", Static).update(t)
        action = self.query_one("#action", Static)
        token = self.query_one("#token", Static)
        if self.result is not None:
            rec = self.result
            token.update(Text.assemble(
                ((f"\n{rec.keyholder}'s key is on token {rec.token_label} (serial "
                  f"{rec.token_serial}).\n"), "bold green"),
                f"key id {rec.keyid}\nread aloud: ", (fingerprint_words(rec.keyid), "bold")))
            action.update("The keyholder reads the words aloud; the room compares them with "
                          "the screen. Remove the token, then press enter.")
        elif current is not None:
            token.update(token_line(self.tokens))
            action.update(f"enter: generate {current}'s key on this token   r: rescan tokens")
        else:
            token.update("")
            action.update("Every root key is ready. Press enter to draft the root.")

    def action_rescan(self) -> None:
        c, app, name = self.c, self.app, keygen_next(self.c)
        if name is None:
            return
        self.token_job("scan", lambda: flows.token_presence(c, name, app.rescan),  # type: ignore[attr-defined]
                       "Looking for tokens", touch=False)

    def action_go(self) -> None:
        if self.app.busy:  # type: ignore[attr-defined]
            return
        if self.result is not None:
            self.result = None
            self.show()
            if keygen_next(self.c) is None:
                self.app.advance()  # type: ignore[attr-defined]
            else:
                self.action_rescan()
            return
        name = keygen_next(self.c)
        if name is None:
            self.app.advance()  # type: ignore[attr-defined]
            return
        app: Any = self.app

        def keygen() -> Any:
            require_preflight(self.c)
            return flows.call_with_touch(self.c.keygen, name, app.module(), app.pin,
                                         on_touch=app.touch_callback(self, name))

        self.token_job("keygen", keygen, f"Generating {name}'s key on the token")

    def job_done(self, job: str, result: Any) -> None:
        if job == "scan":
            self.tokens = result
        elif job == "keygen":
            self.result = result
        self.show()

    def job_failed(self, job: str) -> None:
        if job == "scan" and keygen_next(self.c) is not None:
            self.tokens = flows.token_absent(self.c, keygen_next(self.c))  # type: ignore[arg-type]
        self.show()
