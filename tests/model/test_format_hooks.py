"""What the faces ask a format outside a ceremony, through the registry: the TUI's plan preview
warnings (``flows.new.preview_plan``, from ``FormatClass.preview_warnings``)."""

from __future__ import annotations

from pathlib import Path

from ceremony.flows.new import preview_plan
from tests.conftest import SoftHsm
from tests.support.helpers import bootstrap_setup


def test_the_plan_preview_warns_of_an_online_key_shared_by_two_tuf_roles(
        hsm: SoftHsm, tmp_path: Path) -> None:
    s = bootstrap_setup(hsm, tmp_path, 2, 1)
    text = s.plan.read_text()
    assert "snapshot.pub.pem" in text
    s.plan.write_text(text.replace("snapshot.pub.pem", "targets.pub.pem"))
    preview = preview_plan(tmp_path / "ws", s.plan)
    assert len(preview.warnings) == 1
    assert preview.warnings[0].endswith(") is used by targets and snapshot: a compromise of one "
                                        "role is a compromise of both")
    assert not (tmp_path / "ws").exists()  # nothing written


def test_the_plan_preview_of_a_plain_tuf_plan_has_no_warning(hsm: SoftHsm, tmp_path: Path) -> None:
    s = bootstrap_setup(hsm, tmp_path, 2, 1)
    assert preview_plan(tmp_path / "ws", s.plan).warnings == []
