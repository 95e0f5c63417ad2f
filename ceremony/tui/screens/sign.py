"""Signing rounds: old and new threshold progress by name, then a typed "publish"."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ceremony import flows
from ceremony.fingerprint import fingerprint_words
from ceremony.steps.sign import check_sign
from ceremony.tui.flow import Step, signing_candidates
from ceremony.tui.screens.base import StepScreen
from ceremony.tui.screens.confirm import ConfirmScreen
from ceremony.tui.screens.export import usb_choice
from ceremony.tui.screens.transfer import Choice, TransferScreen
from ceremony.tui.widgets.threshold import ThresholdView

PUBLISHED = flows.PUBLISH_CONFIRMED


class SignScreen(StepScreen):
    """Pick who signs next; each signature is verified and journaled by the engine."""

    STEP = Step.SIGN
    BINDINGS: ClassVar[list[BindingType]] = [
        *StepScreen.BINDINGS, Binding("p", "publish", "Publish"),
        Binding("i", "import", "Import signature"),
        Binding("x", "export_draft", "Send draft"), Binding("r", "rescan", "Rescan tokens")]

    def __init__(self) -> None:
        super().__init__()
        self.tokens: dict[str, flows.Presence] | None = None  # the last scan, by keyholder
        self.pending: str | None = None  # chosen while the scan ran: signs when it ends

    def body(self) -> Iterable[Widget]:
        yield Static(id="head")
        yield ThresholdView(id="thresholds")
        yield Static(id="prompt")
        yield OptionList(id="who")
        yield Static(id="token")
        yield Static(id="hint", classes="hint")

    def on_mount(self) -> None:
        self.show()
        self.action_rescan()

    def action_rescan(self) -> None:
        c, app = self.c, self.app
        names = signing_candidates(c)
        if not names or c.state.draft_published:
            return
        self.tokens = None
        self.show_token()
        self.token_job("scan", lambda: flows.signing_tokens_present(c, names, app.rescan),  # type: ignore[attr-defined]
                       "Looking for tokens", touch=False)

    @on(OptionList.OptionHighlighted, "#who")
    def show_token(self) -> None:
        """The "token present" line for the highlighted keyholder (YubiKeys by serial)."""
        who = self.query_one("#who", OptionList)
        line = self.query_one("#token", Static)
        if not who.display or who.highlighted is None:
            line.update("")
            return
        name = who.get_option_at_index(who.highlighted).id
        if self.tokens is None:
            line.update(Text("Looking for the token...", style="dim"))
            return
        p = self.tokens.get(name or "")
        line.update("" if p is None else
                    Text(p.text, style="green" if p.present else "bold yellow"))

    def show(self) -> None:
        c = self.c
        st = c.status()
        self.query_one("#head", Static).update(Text.assemble(
            (f"Signing root v{st.version}", "bold"), "   digest words: ",
            (fingerprint_words(c.state.draft_digest, 4), "bold")))
        self.query_one(ThresholdView).show(st)
        who = self.query_one("#who", OptionList)
        who.clear_options()
        names = signing_candidates(c)
        for name in names:
            who.add_option(Option(f"{name:<10} insert {c.token_for(name)}", id=name))
        prompt = self.query_one("#prompt", Static)
        hint = self.query_one("#hint", Static)
        if st.verified:
            prompt.update(Text("Every threshold is met.", style="bold green"))
            hint.update("p: publish (you will type 'publish')" +
                        ("   or choose someone to add a signature" if names else ""))
        else:
            prompt.update(Text("Who signs next? (up/down, enter)", style="bold"))
            hint.update("Publishing is possible once every threshold is met.\n"
                        "x: send the draft to a keyholder elsewhere   "
                        "i: import their signature")
        who.display = bool(names)
        if names:
            who.highlighted = 0
            who.focus()
        self.show_token()

    @on(OptionList.OptionSelected, "#who")
    def sign(self, event: OptionList.OptionSelected) -> None:
        name = event.option.id
        if name is None:
            return
        if self.app.busy:  # type: ignore[attr-defined]
            if self.tokens is None:  # the token scan: sign as soon as it ends
                self.pending = name
            return
        self.start_signing(name)

    def start_signing(self, name: str) -> None:
        app: Any = self.app

        def sign() -> Any:
            check_sign(self.c, name)  # refused without the token: before the module loads
            return flows.call_with_touch(self.c.sign, name, app.module(), app.pin,
                                         on_touch=app.touch_callback(self, name))

        self.token_job("sign", sign, f"{name} is signing root v{self.c.state.draft['version']}")

    def job_done(self, job: str, result: Any) -> None:
        if job == "scan":
            self.tokens = result
            self.show_token()
            self.after_scan()
            return
        self.show()
        if job == "import":
            self.banner.info("\n".join([*result, *self.c.status().lines()]))
            return
        if job == "export-draft":
            self.banner.info("\n".join(result.lines))
            return
        self.banner.info(f"{result.keyholder} signed with {result.token}. Remove the token.")

    # ---- keyholders elsewhere: the draft goes out, detached signatures come back ----------

    def action_import(self) -> None:
        if self.app.busy or self.c.state.draft_published:  # type: ignore[attr-defined]
            return
        usb, notes = usb_choice(self.app, "USB stick: a signature bundle "
                                "(ceremony pack --kind signature)")
        self.app.push_screen(TransferScreen(
            f"Import a detached signature over root v{self.c.state.draft['version']}", [
                Choice(flows.IMPORT_FILE, "Signature file (written by ceremony sign-draft)", "",
                       "the .json file(s)"),
                usb,
                Choice(flows.IMPORT_QR, "QR codes: photos, screenshots or a folder of them", "",
                       "image files or a folder"),
            ], notes), self.imported)

    def imported(self, answer: tuple[str, str] | None) -> None:
        if answer is None:
            return
        how, where = answer
        c = self.c
        self.token_job("import", lambda: flows.import_signatures(c, how, where),
                       "Verifying the signature", touch=False, logout=False)

    def action_export_draft(self) -> None:
        if self.app.busy or self.c.state.draft_published:  # type: ignore[attr-defined]
            return
        c = self.c
        v = c.state.draft["version"]
        usb, notes = usb_choice(self.app, "USB stick: a draft bundle")
        self.app.push_screen(TransferScreen(
            f"Send the draft of root v{v} to a keyholder who signs elsewhere", [
                Choice("file", "Draft file (for ceremony sign-draft)",
                       str(c.ws.out / f"{v}.root.draft.json"), "a new file"),
                usb,
                Choice("qr", "QR codes as PNG files and a printable sheet",
                       str(flows.default_export_dir(c, "draft-qr")), "a new or empty folder"),
                Choice("show", "QR codes animated on this screen", None),
            ], notes), self.send_draft)

    def send_draft(self, answer: tuple[str, str] | None) -> None:
        if answer is None:
            return
        how, where = answer
        c = self.c
        if how == "show":
            # lazy: the QR screen (~1 ms), when the QR codes are shown only
            from ceremony.tui.screens.qrshow import show_bundle
            show_bundle(self, c, f"draft of root v{c.state.draft['version']}")
            return
        fn = {"file": flows.export_draft_to, "usb": flows.export_usb_to,
              "qr": flows.export_qr_to}[how]
        self.token_job("export-draft", lambda: fn(c, Path(where)), "Writing the draft",
                       touch=False, logout=False)

    def job_failed(self, job: str) -> None:
        if job == "scan":
            self.tokens = {n: flows.token_absent(self.c, n, signing=True)
                           for n in signing_candidates(self.c)}
            self.show_token()
            self.after_scan()
            return
        self.show()

    def after_scan(self) -> None:
        name, self.pending = self.pending, None
        if name is not None:
            self.start_signing(name)

    def action_publish(self) -> None:
        c = self.c
        if self.app.busy:  # type: ignore[attr-defined]
            return
        if not c.status().verified:
            self.banner.error("not every threshold is met yet: " + "; ".join(c.status().lines()))
            return
        v = c.state.draft["version"]
        self.app.push_screen(ConfirmScreen(
            f"Publish root v{v}? This writes metadata/{v}.root.json and metadata/root.json; "
            "a published version is never changed.", typed="publish"), self.publish)

    def publish(self, yes: bool | None) -> None:
        if not yes:
            return
        c = self.c
        op = self.app.operator  # type: ignore[attr-defined]
        # With witnesses in the plan, the typed confirmation is journaled and the witness
        # screen follows: they sign off the journal as it stands, then it is published.
        if self.attempt(lambda: flows.confirm_publish(c, op)):
            self.app.advance()  # type: ignore[attr-defined]
