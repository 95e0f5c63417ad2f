"""A keyholder elsewhere signs a travelling draft (``ceremony tui --draft FILE --keyholder NAME
[--trusted ROOT|DIR]``).

The draft is read and checked against the keyholder's own trusted root (a field on the screen;
none for a first root v1, where the digest words are the only anchor), and shown in words
(changes against that root, expiries in absolute UTC, the keys that sign). The keyholder types
the digest words the ceremony read aloud to them over another channel; they are compared with
the draft's, in full, before anything else. Then they confirm by typing their own name; their
token signs it (PIN modal, touch banner) through ``ceremony.detached.sign_draft``, which checks
all of it again; the signature file is written, and can be carried back as a USB bundle or QR
frames. Every step is a call into :mod:`ceremony.flows`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Footer, Input, Static

from ceremony import flows
from ceremony.errors import CeremonyError
from ceremony.fingerprint import digest_words
from ceremony.tui.screens.base import StepScreen
from ceremony.tui.screens.confirm import ConfirmScreen
from ceremony.tui.screens.transfer import Choice, TransferScreen
from ceremony.tui.widgets.banner import Banner


class RemoteSignScreen(StepScreen):
    """Bring your trusted root, type the digest words, review the draft, type your name, sign
    with your token, carry the signature back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *StepScreen.BINDINGS, Binding("enter", "go", "Sign / send"),
        Binding("s", "send", "Send signature")]

    def __init__(self, path: Path, keyholder: str, out: Path | None = None,
                 trusted: Path | None = None) -> None:
        super().__init__()
        self.path, self.keyholder, self.out = Path(path), keyholder, out
        self.trusted = trusted
        self.draft: flows.RemoteDraft | None = None
        self.confirmed: str | None = None  # the digest words typed, once they matched
        self.written: Path | None = None
        self.sent: list[flows.Sent] = []

    def compose(self) -> ComposeResult:
        yield Static(Text(f" Sign a draft as {self.keyholder}", style="bold reverse"))
        with VerticalScroll(id="body"):
            yield from self.body()
        yield Banner(id="banner")
        yield Footer()

    def body(self) -> Iterable[Widget]:
        yield Static(id="draft")
        yield Static("Your trusted root: your own copy of the current N.root.json, or the "
                     "chain folder you trust (empty for a first root v1); enter reads the "
                     "draft again", classes="hint")
        yield Input(str(self.trusted or ""), placeholder="/path/to/N.root.json or chain folder",
                    id="trusted")
        yield Static("Digest words the ceremony read aloud to you over another channel "
                     "(or the hex digest); enter compares them", classes="hint")
        yield Input(placeholder="word word word word / word ...", id="words")
        yield Static(id="hint", classes="hint")

    def on_mount(self) -> None:
        self.show()
        self.load()

    def load(self) -> None:
        path, name, out, trusted = self.path, self.keyholder, self.out, self.trusted
        self.draft, self.confirmed = None, None
        self.token_job("load", lambda: flows.remote_draft(path, name, out, trusted),
                       f"Reading {path.name}", touch=False, logout=False)

    @on(Input.Submitted, "#trusted")
    def trusted_given(self, event: Input.Submitted) -> None:
        event.stop()
        if self.app.busy or self.written is not None:  # type: ignore[attr-defined]
            return
        value = event.value.strip()
        self.trusted = Path(value).expanduser() if value else None
        self.load()

    @on(Input.Submitted, "#words")
    def words_given(self, event: Input.Submitted) -> None:
        event.stop()
        if self.app.busy or self.draft is None or self.written is not None:  # type: ignore[attr-defined]
            return
        try:
            flows.confirm_words(self.draft, event.value)
        except CeremonyError as e:
            self.banner.error(e.message, e.hint)
            return
        self.confirmed = event.value
        self.banner.info("The digest words match this draft.")
        self.show()
        self.action_go()

    def show(self) -> None:
        rd = self.draft
        t = Text()
        hint = self.query_one("#hint", Static)
        if rd is None:
            t.append(f"Reading the draft {self.path}...", style="dim")
            hint.update("q: quit")
            self.query_one("#draft", Static).update(t)
            return
        t.append(f"Root v{rd.version} of {rd.repository}", style="bold")
        t.append(f"   ({rd.format}, ceremony {rd.ceremony_id})\n")
        t.append(f"trusted root: {rd.anchor}\n")
        if self.confirmed is None:
            t.append("digest words: not confirmed yet - type the words read aloud to you below\n",
                     style="bold yellow")
        else:
            t.append("digest words (match what was read aloud): ")
            t.append(digest_words(rd.digest) + "\n", style="bold")
            t.append(f"digest {rd.digest}\n", style="dim")
        t.append("\nChanges (against your trusted root)\n", style="bold underline")
        t.append("\n".join("  " + c for c in rd.changes) + "\n\n")
        t.append("Expiries (absolute, UTC)\n", style="bold underline")
        t.append("\n".join("  " + e for e in rd.expiries) + "\n\n")
        t.append(f"{rd.keyholder} signs with\n", style="bold underline")
        t.append("\n".join("  " + k for k in rd.keys) + "\n\n")
        if self.written is None:
            t.append(f"The signature file will be {rd.out}\n")
            hint.update("Type the digest words the administrator read to you (by phone or "
                        "paper) and press enter.\n"
                        f"Then: sign (you will type '{rd.keyholder}')   q: quit"
                        if self.confirmed is None else
                        f"enter: sign (you will type '{rd.keyholder}')   q: quit")
        else:
            t.append(f"Signature written to {self.written}\n", style="bold green")
            for s in self.sent:
                t.append("\n".join(s.lines) + "\n")
            hint.update("s / enter: carry it back as a USB bundle or QR frames   q: quit\n"
                        "(or hand over the file itself: ceremony import-signature)")
        self.query_one("#draft", Static).update(t)

    def action_go(self) -> None:
        if self.app.busy or self.draft is None:  # type: ignore[attr-defined]
            return
        if self.written is not None:
            self.action_send()
            return
        rd = self.draft
        if self.confirmed is None:
            self.query_one("#words", Input).focus()
            self.banner.info("Type the digest words read aloud to you first; nothing is signed "
                             "before they match.")
            return
        self.app.push_screen(ConfirmScreen(
            f"{rd.keyholder}: sign root v{rd.version} of {rd.repository} (digest words "
            f"{digest_words(rd.digest)}) with your token?", typed=rd.keyholder),
            self.sign)

    def sign(self, yes: bool | None) -> None:
        if not yes or self.draft is None or self.confirmed is None:
            return
        rd, app, words = self.draft, self.app, self.confirmed

        def sign() -> Any:
            return flows.call_with_touch(flows.sign_remote, rd, app.module(),  # type: ignore[attr-defined]
                                         app.pin, words,  # type: ignore[attr-defined]
                                         on_touch=app.touch_callback(self, rd.keyholder))  # type: ignore[attr-defined]

        self.token_job("sign", sign, f"{rd.keyholder} is signing root v{rd.version}")

    def action_send(self) -> None:
        if self.app.busy or self.written is None or self.draft is None:  # type: ignore[attr-defined]
            return
        # lazy: the export step's screen (~1 ms), which a keyholder elsewhere needs only to send back
        from ceremony.tui.screens.export import usb_choice
        usb, notes = usb_choice(self.app, "USB stick: a signature bundle")
        qr = self.written.with_name(self.written.stem + "-qr")
        self.app.push_screen(TransferScreen(
            f"Carry {self.written.name} back to the ceremony", [
                usb, Choice(flows.IMPORT_QR, "QR codes as PNG files and a printable sheet",
                            str(qr), "a new or empty folder")], notes), self.send)

    def send(self, answer: tuple[str, str] | None) -> None:
        if answer is None or self.draft is None:
            return
        how, where = answer
        rd = self.draft
        self.token_job("send", lambda: flows.send_signature(rd, how, Path(where)),
                       "Writing the signature bundle", touch=False, logout=False)

    def job_failed(self, job: str) -> None:
        if job == "load":  # most often: no trusted root, or the wrong one
            self.query_one("#trusted", Input).focus()

    def job_done(self, job: str, result: Any) -> None:
        if job == "load":
            self.draft = result
            self.query_one("#words", Input).focus()
        elif job == "sign":
            self.written = result
            for field in self.query(Input):  # done with typing: s / enter carry it back
                field.disabled = True
            self.set_focus(None)
            self.banner.info(f"{self.keyholder} signed root v{self.draft.version}: {result}. "  # type: ignore[union-attr]
                             "Remove the token.")
        elif job == "send":
            self.sent.append(result)
            self.banner.info("\n".join(result.lines))
        self.show()
