"""The YubiKey keygen killed at every write (tests/support/yubikey_sweep.py): on the disk (journal
appends, the key and attestation files: create, write, fsync, rename) and on the virtual card
(PIN/PUK blocking, reset, new secrets, management key, key generation, slot certificate);
resumed by running the same command again. Every point must end with exactly one key, journaled
once, generated once, the files the journal's and ``record verify`` passing. The figures are
printed (``-s``)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.test_yubikey_ceremony import files  # noqa: F401  (PIN/PUK files, test CA roots)
from tests.support import yubikey_sweep as ys
from tests.support.vpiv.card import VirtualYubiKey
from tests.support.vpiv.fixtures import pcsc, yubikey  # noqa: F401

pytestmark = pytest.mark.slow


@pytest.fixture
def work(tmp_path: Path) -> Iterator[Path]:
    """A scratch folder in memory when there is one (the sweep fsyncs hundreds of times)."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        d = Path(tempfile.mkdtemp(prefix="yk-sweep-", dir=shm))
        yield d
        shutil.rmtree(d, ignore_errors=True)
    else:
        yield tmp_path


def run_sweep(work: Path, card: VirtualYubiKey, files: dict[str, Path], provision: bool) -> ys.Sweep:
    assert shutil.which("strace"), "strace is required (softhsm-setup/debian-packages.txt)"
    hook = ys.CardHook(card)
    sc = ys.make_scenario(work / "scenario", card.serial, files, provision=provision, card=card)
    z = ys.Zygote()
    try:
        s = ys.sweep(work, sc, hook, z)
    finally:
        z.close()
    figures = {"disk points": len(s.reference.disk), "card points": len(s.reference.card),
               "killed": sum(o.killed for o in s.outcomes),
               "resumed": sum(o.resumed == "ok" for o in s.outcomes),
               "already done": sum(o.resumed == "already done" for o in s.outcomes),
               "left by the kill": sorted({o.left for o in s.outcomes}),
               "points with temporary-file debris": sum(bool(o.debris) for o in s.outcomes),
               "left out": s.reference.skipped,
               "points": [o.point for o in s.outcomes]}
    print(f"\nyubikey keygen sweep ({'provision' if provision else 'adopt'}):", json.dumps(figures, indent=1))
    failures = [f"{o.point} [{o.left}]: {o.problems}" for o in s.outcomes if o.problems]
    assert not failures, "\n".join(failures[:20])
    assert all(o.killed for o in s.outcomes)
    return s


def by_left(s: ys.Sweep) -> dict[str, list[ys.Outcome]]:
    out: dict[str, list[ys.Outcome]] = {}
    for o in s.outcomes:
        out.setdefault(o.left, []).append(o)
    return out


FILES = f"root-{ys.NAME}.json present, attestation-{ys.NAME}.pem present"


def test_provisioning_keygen_killed_at_every_write_resumes_with_one_key(
        work: Path, yubikey: VirtualYubiKey, files: dict[str, Path]) -> None:  # noqa: F811
    s = run_sweep(work, yubikey, files, provision=True)
    # The card's writes, in order: PIN blocked (3 wrong VERIFYs), PUK blocked (3 wrong RESET
    # RETRYs), PIV reset, new PIN and PUK, management key, its two PIN-protected objects, the
    # key, the slot certificate. Each is a point: the card is left as after the one before.
    assert [p.describe() for p in s.reference.card] == [
        "card command 20 #1", "card command 20 #2", "card command 20 #3",
        "card command 2C #1", "card command 2C #2", "card command 2C #3",
        "card command FB #1", "card command 24 #1", "card command 24 #2", "card command FF #1",
        "card command DB #1", "card command DB #2", "card command 47 #1", "card command DB #3"]
    # The disk's: the lock's holder file, the intent, the key-generated line, then the key file
    # and the attestation (temporary file, write, fsync, rename, folder fsync), in that order.
    disk = [(c.syscall, c.path.split("/")[-1].split(".")[1] if "/." in c.path else c.path)
            for c in s.reference.disk]
    assert len(s.reference.disk) == 12, disk
    journal = [i for i, c in enumerate(s.reference.disk) if c.path == "ws/journal.jsonl"]
    keyfile = [i for i, c in enumerate(s.reference.disk) if "root-alice.json" in c.path]
    pem = [i for i, c in enumerate(s.reference.disk) if "attestation-alice.pem" in c.path]
    assert len(journal) == 2 and keyfile and pem
    assert journal[-1] < min(keyfile) and max(keyfile) < min(pem)  # journal, then key file, then PEM
    groups = by_left(s)
    assert sorted(groups) == sorted([
        "no intent, no key journaled, slot empty",  # killed before the intent was fsynced
        "intent, no key journaled, slot empty",  # killed anywhere in the provisioning before the key
        "intent, no key journaled, slot full",  # the key made, not journaled: recorded on resume
        "intent, key journaled, slot full",  # journaled, no file yet: both rebuilt from the journal
        f"intent, key journaled, root-{ys.NAME}.json present, slot full",
        f"intent, key journaled, {FILES}, slot full"])
    made = groups["intent, no key journaled, slot full"]
    assert len(made) == 1 and made[0].point == "card command DB #3"  # the slot certificate not yet stored
    for o in made:
        assert o.resumed == "ok" and o.generated == 1
        assert (f"warning: slot 9c of YubiKey {yubikey.serial} holds a key made after the interrupted "
                "keygen of alice journaled its intent: it is recorded, not generated again") in o.resume_output
    for left, outcomes in groups.items():
        journaled = "key journaled" in left and "no key journaled" not in left
        assert {o.resumed for o in outcomes} == {"already done" if journaled else "ok"}, left
    assert len(s.outcomes) == 26


def test_adopting_keygen_killed_at_every_write_resumes_with_one_key(
        work: Path, yubikey: VirtualYubiKey, files: dict[str, Path]) -> None:  # noqa: F811
    from tests.support.vpiv.fixtures import provision_card
    provision_card(yubikey)
    s = run_sweep(work, yubikey, files, provision=False)
    assert s.reference.card == []  # adopting writes nothing on the card
    assert sorted(by_left(s)) == sorted([
        "no intent, no key journaled, slot full", "intent, no key journaled, slot full",
        "intent, key journaled, slot full", f"intent, key journaled, root-{ys.NAME}.json present, slot full",
        f"intent, key journaled, {FILES}, slot full"])
    assert len(s.outcomes) == len(s.reference.disk) == 12
