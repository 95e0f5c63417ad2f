"""Every file a root-metadata bundle carries is verified on arrival, or refused as unexpected
(``transfer.check_arrival``): a notary sidecar is read as ``init --previous`` reads it, a TUF
bundle carries none, a notary bundle nothing but its roots and sidecar, and root versions
older than the receiver's trusted one must lead to it. Each refusal: its message, exit 3,
nothing written (``pack`` refuses alike; the bundles here are made without its check, as
someone else's tool would make them).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ceremony.errors import EXIT_VERIFY
from ceremony.transport import Bundle
from ceremony.transport.usb import export_usb
from tests.conftest import SoftHsm
from tests.engine.test_notary_ceremony_offline import GUN, online_keys, run, write_plan
from tests.support.chain_factory import World, standard_chain
from tests.support.helpers import Run, cli


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} \
        if folder.exists() else {}


def carry(tmp: Path, files: dict[str, bytes], name: str = "stick") -> Path:
    """``files`` on a USB stick as a signed-metadata bundle, packed without any check."""
    stick = tmp / name
    stick.mkdir()
    export_usb(Bundle.from_files("signed-metadata", "test/repo", "c1", files), stick)
    return stick


def refused(r: Run, out: Path, before: dict[str, bytes], message: str) -> None:
    assert r.code == EXIT_VERIFY, (r.out, r.err)
    assert r.err.startswith(f"error: {message}"), r.err
    assert "Traceback" not in r.err
    assert tree(out) == before


def packed(tmp: Path, files: dict[str, bytes], message: str) -> None:
    """``ceremony pack`` refuses the same files with the same message, and packs nothing."""
    src = tmp / "pack-src"
    src.mkdir()
    for name, data in files.items():
        (src / name).write_bytes(data)
    (tmp / "pack-out").mkdir()
    r = cli("pack", *sorted(src.iterdir()), "--kind", "signed-metadata", "--repository",
            "test/repo", "--usb", tmp / "pack-out")
    refused(r, tmp / "pack-out", {}, message)


# ---- TUF -----------------------------------------------------------------------------------


def test_a_tuf_bundle_carrying_a_key_sidecar_is_refused(tmp_path: Path) -> None:
    d = tmp_path / "chain"
    standard_chain(d, World(), 2)
    sidecar = json.dumps({"kind": "ceremony-notary-keys", "gun": "test/repo",
                          "keys": {}}).encode()  # unsigned: it would have passed unread
    files = {n: (d / n).read_bytes() for n in ("1.root.json", "2.root.json", "root.json")}
    files["ceremony-keys.json"] = sidecar
    message = ("ceremony-keys.json in the bundle is a notary collection's key sidecar: a TUF "
               "repository publishes none (its root names its keyholders); nothing was written")
    packed(tmp_path, files, message)
    r = cli("import", "--usb", carry(tmp_path, files), "--out", tmp_path / "in")
    refused(r, tmp_path / "in", {}, message)


def receiver(tmp: Path, chain: Path, *versions: int) -> Path:
    """A folder that already trusts a chain: ``versions`` of it and root.json (the newest)."""
    out = tmp / "in"
    out.mkdir()
    for v in versions:
        shutil.copy(chain / f"{v}.root.json", out)
    shutil.copy(chain / f"{max(versions)}.root.json", out / "root.json")
    return out


def test_older_roots_the_receiver_lacks_must_lead_to_its_trusted_root(tmp_path: Path) -> None:
    world = World()
    d = tmp_path / "chain"
    standard_chain(d, world, 4)
    out = receiver(tmp_path, d, 3)  # trusts v3 only: v1 and v2 are history it never read
    before = tree(out)
    attacker = World()
    forged = attacker.sign(attacker.root(1, ["mallory"], 1), "mallory")  # a v1 of someone else
    files = {n: (d / n).read_bytes() for n in ("2.root.json", "3.root.json", "4.root.json")}
    files["1.root.json"] = forged
    r = cli("import", "--usb", carry(tmp_path, files), "--out", out)
    refused(r, out, before, f"the bundle's 1.root.json is older than the trusted root v3 in {out}, "
                            "which does not hold it, and does not lead to that root: 2.root.json is "
                            "not signed at threshold: previous root v1: 0/1")
    # the honest history is taken: it leads to v3 by signatures
    files["1.root.json"] = (d / "1.root.json").read_bytes()
    r = cli("import", "--usb", carry(tmp_path, files, "stick2"), "--out", out)
    assert r.code == 0, r.err
    assert sorted(p.name for p in out.iterdir()) == ["1.root.json", "2.root.json", "3.root.json",
                                                    "4.root.json", "root.json"]
    assert (out / "root.json").read_bytes() == (d / "4.root.json").read_bytes()


def test_a_root_the_receiver_holds_in_another_form_is_a_verification_failure(tmp_path: Path) -> None:
    d = tmp_path / "chain"
    standard_chain(d, World(), 3)
    out = receiver(tmp_path, d, 1, 2)
    before = tree(out)
    files = {n: (d / n).read_bytes() for n in ("1.root.json", "2.root.json", "3.root.json")}
    files["1.root.json"] += b" "  # the same root re-serialized: not the bytes the receiver trusts
    r = cli("import", "--usb", carry(tmp_path, files), "--out", out)
    refused(r, out, before, f"the bundle's 1.root.json differs from the one in {out}: one of them "
                            "was changed; nothing was written")


# ---- notary --------------------------------------------------------------------------------


def test_a_notary_bundles_sidecar_is_verified_and_nothing_else_rides_along(hsm: SoftHsm,
                                                                         tmp_path: Path) -> None:
    hsm.make("tok-alice")
    keys, targets = online_keys(tmp_path / "keys")
    ws = tmp_path / "ws"
    run(hsm, ws, write_plan(tmp_path, "v1", keys, targets))
    meta = ws / "metadata"
    honest = {n: (meta / n).read_bytes() for n in ("1.root.json", "root.json", "ceremony-keys.json")}
    # the workspace's own export, and the bundle made of its files, are taken
    (tmp_path / "export").mkdir()
    assert cli("export", ws, "--usb", tmp_path / "export").code == 0
    r = cli("import", "--usb", tmp_path / "export", "--out", tmp_path / "ok")
    assert r.code == 0, r.err
    assert f"ceremony-keys.json: names the holders of 1 key(s) of {GUN}'s roots" in r.out, r.out
    assert (tmp_path / "ok" / "ceremony-keys.json").read_bytes() == honest["ceremony-keys.json"]

    sidecar = json.loads(honest["ceremony-keys.json"])
    cases = {
        "gun": (dict(honest, **{"ceremony-keys.json": json.dumps(
            {**sidecar, "gun": "example.com/other"}).encode()}),
            "ceremony-keys.json in the bundle describes the keys of 'example.com/other', not of "
            f"'{GUN}'"),
        "key": (dict(honest, **{"ceremony-keys.json": json.dumps(
            {**sidecar, "keys": {"ab" * 32: {"keyholder": "mallory"}}}).encode()}),
            "ceremony-keys.json in the bundle names key abababababab, which no root of this chain "
            "holds"),
        "extra": (dict(honest, **{"notes.json": b"{}"}),
                  "notes.json in the bundle is not metadata this tool publishes for a notary "
                  "collection (its root versions, root.json and ceremony-keys.json); nothing was "
                  "written"),
    }
    for name, (files, message) in cases.items():
        out = tmp_path / f"in-{name}"
        r = cli("import", "--usb", carry(tmp_path, files, f"stick-{name}"), "--out", out)
        refused(r, out, {}, message)


def test_a_format_that_checks_nothing_beside_its_roots_takes_nothing_else(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A format without ``check_bundle_extra`` publishes only its roots: any other file in its
    bundle is refused, never written unread (TUF's hook removed here to stand for one)."""
    from ceremony.formats.tuf_format import TufFormat

    monkeypatch.delattr(TufFormat, "check_bundle_extra")
    d = tmp_path / "chain"
    standard_chain(d, World(), 2)
    files = {n: (d / n).read_bytes() for n in ("1.root.json", "2.root.json", "root.json")}
    r = cli("import", "--usb", carry(tmp_path, files, "honest"), "--out", tmp_path / "ok")
    assert r.code == 0, r.err
    files["1.targets.json"] = b"{}"
    r = cli("import", "--usb", carry(tmp_path, files), "--out", tmp_path / "in")
    refused(r, tmp_path / "in", {}, "1.targets.json in the bundle is not metadata this tool "
                                    "publishes beside a root chain; nothing was written")


def test_a_file_named_like_a_root_version_no_client_fetches_is_refused(tmp_path: Path) -> None:
    """``01.root.json`` is no root file the chain walk reads: it was carried along unread."""
    d = tmp_path / "chain"
    standard_chain(d, World(), 2)
    files = {n: (d / n).read_bytes() for n in ("1.root.json", "2.root.json", "root.json")}
    files["01.root.json"] = b"anything at all"
    r = cli("import", "--usb", carry(tmp_path, files), "--out", tmp_path / "in")
    refused(r, tmp_path / "in", {}, "01.root.json in the bundle is named like a root version but "
                                    "no client fetches it (versions have no leading zero and start "
                                    "at 1); nothing was written")
