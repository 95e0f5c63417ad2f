"""The printable ceremony script, from the TUI."""

from __future__ import annotations

from pathlib import Path

from ceremony.session import Session


def write_script(c: Session, out: Path | None = None) -> Path:
    """``ceremony script WORKSPACE``: the printable script, by default ``record/script.html``."""
    from ceremony.script import render_html
    from ceremony.workspace import atomic_write
    path = out or c.ws.record / "script.html"
    atomic_write(path, render_html(c).encode())
    return path
