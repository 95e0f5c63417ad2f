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
from ceremony.steps.keygen import check_keygen
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
                Binding("r", "rescan", "Rescan tokens"),
        Binding("p", "provision", "Provision YubiKey")]

    def __init__(self) -> None:
        super().__init__()
        self.tokens: flows.Presence | None = None  # the last scan for the current keyholder
        self.result: Any = None  # the key just made, shown until acknowledged
        self.slot: flows.YubiKeySlot | None = None  # a YubiKey keyholder's slot 9c, last scan

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
        done = len(c.plan.signers) - len(c.keyholders_waiting())
        t.append(f"Root key generation: {done} of {len(c.plan.signers)} ready\n\n",
                 style="bold")
        for name in c.plan.signers:
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
            line = token_line(self.tokens)
            if self.slot is not None:
                line.append("\n" + self.slot.text,
                            style="green" if self.slot.provisioned else "bold yellow")
            token.update(line)
            if self.slot is not None and not self.slot.provisioned:
                action.update(f"p: provision {current}'s YubiKey and generate the key on it   "
                              "r: rescan tokens")
            else:
                action.update(f"enter: generate {current}'s key on this token   r: rescan tokens")
        else:
            token.update("")
            action.update("Every root key is ready. Press enter to draft the root.")

    def action_rescan(self) -> None:
        c, app, name = self.c, self.app, keygen_next(self.c)
        if name is None:
            return
        def scan() -> Any:
            presence = flows.token_presence(c, name, app.rescan)  # type: ignore[attr-defined]
            slot = flows.yubikey_slot(c, name) if presence.present else None
            return presence, slot

        self.slot = None
        self.token_job("scan", scan, "Looking for tokens", touch=False)

    def action_provision(self) -> None:
        """``keygen --provision`` for a YubiKey keyholder whose slot 9c holds no key yet."""
        name = keygen_next(self.c)
        if self.app.busy or name is None or self.result is not None:  # type: ignore[attr-defined]
            return
        holder = self.c.plan.keyholder(name)
        if not holder.is_yubikey:
            self.banner.error(f"{name}'s token is a PKCS#11 token, not a YubiKey: there is "
                              "nothing to provision")
            return
        if not self.attempt(lambda: check_keygen(self.c, name)):
            return  # refused before the new PIN and PUK are asked for
        # lazy: the YubiKey provisioning screen (~4 ms), when a YubiKey is provisioned only
        from ceremony.tui.screens.provision import ProvisionScreen
        self.app.push_screen(ProvisionScreen(name, str(holder.serial), holder.algorithm,
                                             holder.touch), self.provision)

    def provision(self, answer: tuple[str, str, str] | None) -> None:
        name = keygen_next(self.c)
        if answer is None or name is None:
            return
        serial, new_pin, new_puk = answer
        prompts: list[Any] = []
        if not self.attempt(lambda: prompts.append(
                flows.provision_prompts(serial, new_pin, new_puk))):
            return  # a PIN/PUK rule: nothing was changed on the YubiKey
        c, app = self.c, self.app

        def keygen() -> Any:
            check_keygen(c, name)  # refused without the token: before the module loads
            return flows.keygen_provision(c, name, app.module(), prompts[0], new_pin,  # type: ignore[attr-defined]
                                          on_touch=app.touch_callback(self, name))  # type: ignore[attr-defined]

        self.token_job("keygen", keygen, f"Provisioning {name}'s YubiKey and generating the key")

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
            check_keygen(self.c, name)  # refused without the token: before the module loads
            return flows.call_with_touch(self.c.keygen, name, app.module(), app.pin,
                                         on_touch=app.touch_callback(self, name))

        self.token_job("keygen", keygen, f"Generating {name}'s key on the token")

    def job_done(self, job: str, result: Any) -> None:
        if job == "scan":
            self.tokens, self.slot = result
        elif job == "keygen":
            self.result = result
        self.show()

    def job_failed(self, job: str) -> None:
        if job == "scan" and keygen_next(self.c) is not None:
            self.tokens = flows.token_absent(self.c, keygen_next(self.c))  # type: ignore[arg-type]
        self.show()
