"""Export: carry the published root out of the air gap, by USB stick or QR codes.

The room may export more than once (a stick and a printed sheet); every export
is written, read back or checked, and journaled by :mod:`ceremony.flows` before
it is reported. An ``exporter`` hook given to the app replaces the choices.
"""

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
from ceremony.events import PUBLISHED
from ceremony.tui.flow import Step
from ceremony.tui.screens.base import StepScreen
from ceremony.tui.screens.transfer import Choice, TransferScreen

USB, QR_FILES, QR_SHOW, SEAL = "usb", "qr", "show", "seal"


def usb_choice(app: Any, label: str) -> tuple[Choice, list[str]]:
    """The USB choice, prefilled with the first removable drive, and a note listing them all."""
    mounts = flows.removable_mounts(app.probes)
    notes = ["Removable drives: " + "; ".join(f"{m.mountpoint} ({m.device})" for m in mounts)
             if mounts else "USB: no removable drive is mounted; name any existing folder."]
    default = str(mounts[0].mountpoint) if mounts else ""
    return Choice(USB, label, default, "the stick's folder"), notes


class ExportScreen(StepScreen):
    """USB, QR files or QR on screen, as often as needed; then on to the seal."""

    STEP = Step.EXPORT
    BINDINGS: ClassVar[list[BindingType]] = [
        *StepScreen.BINDINGS, Binding("c", "seal", "Continue to the seal"),
        Binding("e", "emergency", "Emergency"), Binding("enter", "hook", show=False)]

    def body(self) -> Iterable[Widget]:
        yield Static(id="export")
        yield OptionList(id="how")
        yield Static(id="hint", classes="hint")

    def on_mount(self) -> None:
        self.show()

    def show(self) -> None:
        c = self.c
        v = c.state.published[-1]
        ev = next(e for e in reversed(c.journal.events) if e.type == PUBLISHED)
        t = Text(f"Root v{v} is published.\n", style="bold")
        t.append(f"metadata/{v}.root.json, sha256:\n{ev.data['sha256']}\n")
        how = self.query_one("#how", OptionList)
        hint = self.query_one("#hint", Static)
        if self.app.exporter is not None:  # type: ignore[attr-defined]
            how.display = False
            t.append("\nenter: export the published metadata", style="bold")
            self.query_one("#export", Static).update(t)
            return
        done = flows.published_exports(c)
        if done:
            t.append("Exported so far:\n", style="bold")
            for e in done:
                t.append(f"  {e['transport']}: {e['target']}\n")
        else:
            t.append("Carry it out of the air gap:\n", style="bold")
        self.query_one("#export", Static).update(t)
        how.clear_options()
        how.add_options([
            Option("USB stick or folder (bundle folder, read back after writing)", id=USB),
            Option("QR codes as PNG files and a printable sheet", id=QR_FILES),
            Option("QR codes animated on this screen (phone or camera)", id=QR_SHOW),
            Option("Continue to the seal" + ("" if done else " without exporting"), id=SEAL)])
        how.highlighted = 3 if done else 0
        how.focus()
        hint.update("up/down, enter: choose   c: continue to the seal   e: emergency plan")

    def action_hook(self) -> None:
        exporter = self.app.exporter  # type: ignore[attr-defined]
        if exporter is None or self.app.busy:  # type: ignore[attr-defined]
            return
        self.token_job("hook", lambda: exporter(self.c), "Exporting", touch=False, logout=False)

    @on(OptionList.OptionSelected, "#how")
    def chosen(self, event: OptionList.OptionSelected) -> None:
        if self.app.busy:  # type: ignore[attr-defined]
            return
        c, what = self.c, event.option.id
        if what == SEAL:
            self.action_seal()
        elif what == QR_SHOW:
            # lazy: the QR screen (~1 ms), when the QR codes are shown only
            from ceremony.tui.screens.qrshow import show_bundle
            show_bundle(self, c, f"root v{c.state.published[-1]}", lambda _r: self.show())
        elif what == USB:
            choice, notes = usb_choice(self.app, "USB stick or folder")
            self.app.push_screen(TransferScreen("Where is the USB stick?", [choice], notes),
                                 self.go)
        elif what == QR_FILES:
            self.app.push_screen(TransferScreen(
                "Which new folder gets the QR frames and the sheet?",
                [Choice(QR_FILES, "QR PNG files", str(flows.default_export_dir(c, "qr")),
                        "a new or empty folder")]), self.go)

    def go(self, answer: tuple[str, str] | None) -> None:
        if answer is None:
            return
        how, where = answer
        c = self.c
        if how == USB:
            self.token_job("export", lambda: flows.export_usb_to(c, Path(where)),
                           "Writing the bundle and reading it back", touch=False, logout=False)
        else:
            self.token_job("export", lambda: flows.export_qr_to(c, Path(where)),
                           "Writing the QR frames", touch=False, logout=False)

    def job_done(self, job: str, result: Any) -> None:
        if job == "hook":
            self.banner.info(str(result))
            self.action_seal()
            return
        self.show()
        self.banner.info("\n".join(result.lines))

    def action_seal(self) -> None:
        if self.app.busy:  # type: ignore[attr-defined]
            return
        self.app.session.export_done = True  # type: ignore[attr-defined]
        self.app.advance()  # type: ignore[attr-defined]

    def action_emergency(self) -> None:
        # lazy: the compromise screen and its textual widgets (~4 ms), on a declared compromise only
        from ceremony.tui.screens.compromise import CompromiseScreen
        self.app.push_screen(CompromiseScreen())
