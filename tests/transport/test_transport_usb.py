"""USB bundles: atomic export, strict import, and every bad stick the issue lists."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from ceremony.errors import VerificationError, WorkspaceError
from ceremony.transport import KINDS, export_usb, find_bundles, import_usb, usb
from ceremony.transport.bundle import MAX_MANIFEST_BYTES
from ceremony.transport.usb import parse_mounts
from tests.support.transport_samples import kind_files, sample_bundle


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_round_trip_over_usb_is_byte_for_byte(tmp_path: Path, kind: str) -> None:
    bundle = sample_bundle(kind)
    folder = export_usb(bundle, tmp_path)
    assert folder == tmp_path / bundle.folder_name
    assert sorted(os.listdir(folder)) == sorted([*kind_files(kind), "manifest.json"])
    for name, data in kind_files(kind).items():
        assert (folder / name).read_bytes() == data
    assert (folder / "manifest.json").read_bytes() == bundle.manifest.to_bytes()
    again = import_usb(folder)
    assert dict(again.files) == kind_files(kind)
    assert again.digest == bundle.digest
    # Pointing at the stick's top folder finds the single bundle on it.
    assert import_usb(tmp_path).digest == bundle.digest
    assert os.listdir(tmp_path) == [bundle.folder_name]  # no temp folder left


def test_manifest_is_written_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[str] = []
    real = usb._write_new_file
    monkeypatch.setattr(usb, "_write_new_file", lambda p, d: (written.append(p.name), real(p, d)))
    export_usb(sample_bundle(), tmp_path)
    assert written == ["1.root.json", "2.root.json", "root.json", "manifest.json"]


# --- export refusals and failures ------------------------------------------------------------


def test_export_never_overwrites_an_existing_bundle(tmp_path: Path) -> None:
    bundle = sample_bundle()
    folder = export_usb(bundle, tmp_path)
    before = (folder / "manifest.json").read_bytes()
    with pytest.raises(WorkspaceError) as err:
        export_usb(bundle, tmp_path)
    assert err.value.message == f"{folder} already exists; a bundle is never overwritten."
    assert err.value.exit_code == 7
    assert (folder / "manifest.json").read_bytes() == before


def test_export_into_a_folder_that_is_itself_a_bundle_is_refused(tmp_path: Path) -> None:
    folder = export_usb(sample_bundle(), tmp_path)
    with pytest.raises(WorkspaceError) as err:
        export_usb(sample_bundle("draft"), folder)
    assert err.value.message == (
        f"{folder} already holds a bundle (manifest.json); choose another folder."
    )


def test_export_target_must_exist(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError) as err:
        export_usb(sample_bundle(), tmp_path / "nope")
    assert err.value.message == f"The export target {tmp_path / 'nope'} is not an existing folder."


@pytest.mark.parametrize("fail_at", [1, 3, 4])
def test_full_disk_leaves_nothing_that_looks_like_a_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    """ENOSPC on the first file, the last file, or the manifest: nothing is left behind."""
    calls = {"n": 0}
    real = usb._write_all

    def write_all(fd: int, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] == fail_at:
            os.write(fd, data[: len(data) // 2])  # a partial write, as a full disk leaves
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd, data)

    monkeypatch.setattr(usb, "_write_all", write_all)
    names = ["1.root.json", "2.root.json", "root.json", "manifest.json"]
    with pytest.raises(WorkspaceError) as err:
        export_usb(sample_bundle(), tmp_path)
    assert err.value.message == (
        f"Writing {names[fail_at - 1]} to {tmp_path} failed (No space left on device); "
        "nothing was exported."
    )
    assert os.listdir(tmp_path) == []
    assert find_bundles(tmp_path) == []


@pytest.fixture
def tiny_stick(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A real 64 KiB tmpfs. The suite runs as root (its setup installs Debian packages), so a
    failure to mount fails the test loudly instead of silently dropping the full-disk check."""
    mnt = tmp_path / "stick"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(mnt)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs for the full-disk test: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_full_disk_on_a_real_small_file_system(tiny_stick: Path) -> None:
    from ceremony.transport import Bundle

    files = {f"{i}.root.json": os.urandom(20_000) for i in range(1, 5)}  # 80 KB > 64 KiB
    bundle = Bundle.from_files("signed-metadata", "r", "c", files)
    with pytest.raises(WorkspaceError) as err:
        export_usb(bundle, tiny_stick)
    assert "failed (No space left on device); nothing was exported." in err.value.message
    assert os.listdir(tiny_stick) == []
    small = sample_bundle("online-keys")
    assert import_usb(export_usb(small, tiny_stick)).digest == small.digest


def test_read_back_failure_removes_the_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = usb._write_new_file

    def flaky(path: Path, data: bytes) -> None:  # the stick silently stores a flipped bit
        real(path, data if path.name == "manifest.json" else bytes([data[0] ^ 1]) + data[1:])

    monkeypatch.setattr(usb, "_write_new_file", flaky)
    with pytest.raises(WorkspaceError) as err:
        export_usb(sample_bundle("draft"), tmp_path)
    assert err.value.message.startswith(f"Reading the bundle back from {tmp_path}/ceremony-")
    assert err.value.message.endswith("; it was removed.")
    assert os.listdir(tmp_path) == []


# --- import refusals ---------------------------------------------------------------------------


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    stick = tmp_path / "stick"
    stick.mkdir()
    return export_usb(sample_bundle(), stick)


def test_manifest_listing_a_missing_file(exported: Path) -> None:
    (exported / "2.root.json").unlink()
    with pytest.raises(VerificationError) as err:
        import_usb(exported)
    assert err.value.message == f"{exported / '2.root.json'} is listed in the manifest but missing."
    assert err.value.exit_code == 3


def test_extra_file_not_listed(exported: Path) -> None:
    (exported / "notes.txt").write_text("hello")
    with pytest.raises(VerificationError) as err:
        import_usb(exported)
    assert err.value.message == (
        f"{exported / 'notes.txt'} is not listed in the manifest; refusing the bundle."
    )


def test_extra_hidden_file_or_folder_is_refused_too(exported: Path) -> None:
    (exported / "._1.root.json").write_bytes(b"\0")  # macOS AppleDouble litter
    with pytest.raises(VerificationError, match=r"\._1\.root\.json is not listed in the manifest"):
        import_usb(exported)
    (exported / "._1.root.json").unlink()
    (exported / "sub").mkdir()
    with pytest.raises(VerificationError, match=r"sub is not listed in the manifest"):
        import_usb(exported)


def test_digest_mismatch_with_the_same_size(exported: Path) -> None:
    path = exported / "root.json"
    data = bytearray(path.read_bytes())
    data[100] ^= 0x20
    path.write_bytes(bytes(data))
    with pytest.raises(VerificationError) as err:
        import_usb(exported)
    assert err.value.message.startswith(f"{path} does not match the manifest: SHA-256 is ")


def test_size_mismatch(exported: Path) -> None:
    path = exported / "root.json"
    size = path.stat().st_size
    path.write_bytes(path.read_bytes() + b"\n")
    with pytest.raises(VerificationError) as err:
        import_usb(exported)
    assert err.value.message == (
        f"{path} is {size + 1} bytes but the manifest says {size}; it was not read."
    )


@pytest.mark.parametrize("name", ["root.json", "manifest.json"])
def test_listed_file_or_manifest_replaced_by_a_symlink(
    exported: Path, tmp_path: Path, name: str
) -> None:
    target = tmp_path / "same-bytes"
    target.write_bytes((exported / name).read_bytes())
    (exported / name).unlink()
    (exported / name).symlink_to(target)
    with pytest.raises(VerificationError) as err:
        import_usb(exported)
    assert err.value.message == (
        f"{exported / name} is a symbolic link; bundles hold only plain files."
    )


def test_bundle_folder_as_a_symlink(exported: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(exported)
    with pytest.raises(VerificationError) as err:
        import_usb(link)
    assert err.value.message == f"{link} is a symbolic link; give the bundle folder itself."


def test_a_fifo_in_place_of_a_file_does_not_hang(exported: Path) -> None:
    (exported / "root.json").unlink()
    os.mkfifo(exported / "root.json")
    with pytest.raises(VerificationError) as err:
        import_usb(exported)
    assert err.value.message == f"{exported / 'root.json'} is not a regular file."


def _spy_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sizes: list[int] = []
    real = os.read

    def spy(fd: int, n: int) -> bytes:
        data = real(fd, n)
        sizes.append(len(data))
        return data

    monkeypatch.setattr(usb.os, "read", spy)
    return sizes


def test_oversize_file_is_refused_before_reading(
    exported: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = exported / "root.json"
    listed = path.stat().st_size
    with open(path, "r+b") as f:  # a sparse 4 GiB file: reading it would take a while
        f.truncate(4 << 30)
    reads = _spy_reads(monkeypatch)
    with pytest.raises(VerificationError) as err:
        import_usb(exported)
    assert err.value.message == (
        f"{path} is {4 << 30} bytes but the manifest says {listed}; it was not read."
    )
    manifest_and_earlier_files = sum(
        (exported / n).stat().st_size for n in ("manifest.json", "1.root.json", "2.root.json")
    )
    assert sum(reads) == manifest_and_earlier_files


def test_oversize_manifest_is_refused_before_reading(
    exported: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open(exported / "manifest.json", "r+b") as f:
        f.truncate(1 << 30)
    reads = _spy_reads(monkeypatch)
    with pytest.raises(VerificationError) as err:
        import_usb(exported)
    assert err.value.message == (
        f"{exported / 'manifest.json'} is {1 << 30} bytes, larger than any manifest "
        f"({MAX_MANIFEST_BYTES}); it was not read."
    )
    assert reads == []


def test_manifest_with_a_path_in_a_name_is_refused(exported: Path) -> None:
    import json

    raw = json.loads((exported / "manifest.json").read_bytes())
    raw["files"]["../1.root.json"] = raw["files"].pop("1.root.json")
    (exported / "manifest.json").write_text(json.dumps(raw, sort_keys=True, indent=2) + "\n")
    with pytest.raises(VerificationError) as err:
        import_usb(exported)
    assert err.value.message == (
        f"{exported / 'manifest.json'} lists the file name '../1.root.json', which contains a "
        "path separator."
    )


def test_folder_with_two_bundles_asks_which(tmp_path: Path) -> None:
    a = export_usb(sample_bundle("draft"), tmp_path)
    b = export_usb(sample_bundle("signature"), tmp_path)
    (tmp_path / ".ceremony-tmp-123").mkdir()  # an interrupted export is never a candidate
    names = ", ".join(sorted([a.name, b.name]))
    with pytest.raises(VerificationError) as err:
        import_usb(tmp_path)
    assert err.value.message == f"{tmp_path} holds 2 bundles ({names}); name the one to import."
    with pytest.raises(VerificationError) as err:
        import_usb(tmp_path / ".ceremony-tmp-123")
    assert (
        err.value.message
        == f"{tmp_path / '.ceremony-tmp-123'} holds no bundle (no manifest.json found)."
    )


# --- removable mounts ---------------------------------------------------------------------------


def test_list_removable_mounts_runs_here() -> None:
    assert isinstance(usb.list_removable_mounts(), list)


def test_removable_mounts_from_proc_and_sys(tmp_path: Path) -> None:
    sys_root = tmp_path / "sys"
    usb_disk = sys_root / "devices/pci0000:00/0000:00:14.0/usb2/2-1/host6/block/sdb"
    (usb_disk / "sdb1").mkdir(parents=True)
    (usb_disk / "sdb1" / "partition").write_text("1\n")
    (usb_disk / "removable").write_text("0\n")  # a USB SSD that says it is not removable
    sd_card = sys_root / "devices/platform/mmc/block/mmcblk0"
    sd_card.mkdir(parents=True)
    (sd_card / "removable").write_text("1\n")
    internal = sys_root / "devices/pci0000:00/nvme/block/nvme0n1"
    (internal / "nvme0n1p2").mkdir(parents=True)
    (internal / "nvme0n1p2" / "partition").write_text("2\n")
    (internal / "removable").write_text("0\n")
    block = sys_root / "class/block"
    block.mkdir(parents=True)
    (block / "sdb1").symlink_to(usb_disk / "sdb1")
    (block / "mmcblk0").symlink_to(sd_card)
    (block / "nvme0n1p2").symlink_to(internal / "nvme0n1p2")
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "/dev/nvme0n1p2 / ext4 rw,relatime 0 0\n"
        "proc /proc proc rw 0 0\n"
        "/dev/sdb1 /media/officer/CEREMONY\\040STICK vfat rw,nosuid 0 0\n"
        "/dev/mmcblk0 /media/card exfat ro,nosuid 0 0\n"
    )
    found = usb.list_removable_mounts(mounts, sys_root)
    assert [(m.device, str(m.mountpoint), m.fstype, m.read_only) for m in found] == [
        ("/dev/sdb1", "/media/officer/CEREMONY STICK", "vfat", False),
        ("/dev/mmcblk0", "/media/card", "exfat", True),
    ]
    assert usb.list_removable_mounts(tmp_path / "absent", sys_root) == []
    assert parse_mounts("garbage\n\n/dev/x\n", lambda d: True) == []


# --- import --out DIR -----------------------------------------------------------------------------


def test_write_files_puts_each_file_under_its_own_name(tmp_path: Path) -> None:
    from ceremony.transport import write_files

    bundle = import_usb(export_usb(sample_bundle(), tmp_path))
    out = tmp_path / "metadata"
    paths = write_files(bundle, out)
    assert [p.name for p in paths] == ["1.root.json", "2.root.json", "root.json"]
    for p in paths:
        assert p.read_bytes() == kind_files("signed-metadata")[p.name]
    assert sorted(os.listdir(out)) == ["1.root.json", "2.root.json", "root.json"]
    assert write_files(bundle, out) == paths  # the same bundle again: nothing to do


def test_write_files_never_overwrites_different_content(tmp_path: Path) -> None:
    from ceremony.transport import write_files

    out = tmp_path / "metadata"
    out.mkdir()
    (out / "root.json").write_bytes(b"older root")
    with pytest.raises(WorkspaceError) as err:
        write_files(sample_bundle(), out)
    assert err.value.message == (
        f"{out / 'root.json'} already exists with other content; nothing was written."
    )
    assert os.listdir(out) == ["root.json"]
    assert (out / "root.json").read_bytes() == b"older root"
