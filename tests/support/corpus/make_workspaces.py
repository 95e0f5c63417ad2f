"""Make tests/support/corpus/workspaces/: workspaces journaled by a released tool, for test_previous_release.

Run it with the OLD release's code on the path (the corpus was made with main at becff8d), and
as it was committed (0105bd3): this copy's imports were moved to ``tests.support``, which the old
release does not have (its ``tests.helpers`` holds ``cli``, ``plan_toml``, ...):

    mkdir -p /tmp/cer-old && git archive becff8d | tar -x -C /tmp/cer-old
    git show 0105bd3:tests/corpus/make_workspaces.py > /tmp/cer-old/make_workspaces.py
    PYTHONPATH=/tmp/cer-old .venv/bin/python /tmp/cer-old/make_workspaces.py tests/support/corpus/workspaces

It works under a scratch folder (``GEN`` below) that it deletes at the end, so the journaled
``plan_dir`` (absolute, in each ``initialized`` event) names a folder that no checkout has:
``ceremony.integrity`` then reads the online keys from the copies ``init`` made in ``keys/``,
which is what the test relies on. Kept: each workspace and the SoftHSM token store (throwaway
tokens, PIN ``tests.conftest.PIN``) that signing the missing signatures needs.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from cryptography.hazmat.primitives.serialization import load_pem_public_key

from ceremony.engine import Ceremony
from ceremony.formats.notary_files import key_file_bytes
from ceremony.formats.notary_keys import public_key_entry
from ceremony.record import confirm
from hsm import softhsm
from hsm.pkcs11 import get_module, resolve_module_path
from tests.conftest import PIN, SoftHsm
from tests.support.helpers import cli, make_online_keys, online_key_paths
from tests.support.plans import plan_toml

GEN = Path("/tmp/ceremony-corpus-becff8d-scratch")


def main(out: Path) -> None:
    """Make every corpus workspace under ``GEN``, then copy them and the tokens to ``out``."""
    shutil.rmtree(GEN, ignore_errors=True)
    GEN.mkdir(parents=True)
    d = softhsm.create(GEN / "softhsm")
    softhsm.activate(d)
    module = get_module(resolve_module_path(env={}))
    module.refresh()
    pin_file = GEN / "pin"
    pin_file.write_text(PIN + "\n")
    os.chmod(pin_file, 0o600)
    hsm = SoftHsm(d, module, pin_file)
    hsm.make("tok-alice", "tok-bob", "tok-carol", "nt-alice", "nt-bob")
    ws = GEN / "ws"
    ws.mkdir()

    def ok(*args: str | Path) -> str:
        r = cli(*args, "--pin-file", pin_file) if args[0] in PIN_STEPS else cli(*args)
        assert r.code == 0, (args, r.err)
        return r.out

    # 1. TUF, 2 of 2, stopped mid-signing; a preflight, a confirmation and a torn line recovered.
    online = GEN / "plans" / "online"
    make_online_keys(hsm, online, label="online")
    plan = GEN / "plans" / "tuf.toml"
    plan.write_text(plan_toml("corpus-tuf", {"alice": "tok-alice", "bob": "tok-bob"}, ["alice", "bob"],
                              2, online_key_paths(online)))
    mid = ws / "tuf-midsign"
    ok("init", mid, "--plan", plan)
    ok("preflight", mid, "--clock-confirmed")
    ok("keygen", mid, "--keyholder", "alice")
    with (mid / "journal.jsonl").open("ab") as f:
        f.write(b'{"seq": 99, "torn')  # an append cut short: the next step sets it aside
    ok("keygen", mid, "--keyholder", "bob")
    ok("draft", mid)
    c = Ceremony.open(mid)
    confirm(c, "draft", "the room read the draft's digest words aloud", c.state.draft_digest)
    ok("sign", mid, "--keyholder", "alice")

    # 2. TUF with two FIDO2 witnesses: signed, witnessed, published, exported, sealed.
    os.environ["CEREMONY_FIDO_DEVICE"] = "tests.test_witness:security_key"
    wplan = GEN / "plans" / "witnessed.toml"
    wplan.write_text(plan_toml("corpus-sealed", {"alice": "tok-alice", "bob": "tok-bob"}, ["alice", "bob"],
                               2, online_key_paths(online), extra="witnesses_required = 2")
                     + '\n[[witnesses]]\nname = "victor"\n\n[[witnesses]]\nname = "wendy"\n')
    sealed = ws / "tuf-sealed"
    ok("init", sealed, "--plan", wplan)
    for k in ("alice", "bob"):
        ok("keygen", sealed, "--keyholder", k)
    ok("draft", sealed)
    for k in ("alice", "bob"):
        ok("sign", sealed, "--keyholder", k)

    def witnesses(verb: str) -> None:
        for w in ("victor", "wendy"):
            os.environ["WITNESS_TEST_KEY"] = str(GEN / f"fido-{w}.json")
            ok("witness", verb, sealed, "--name", w)

    witnesses("enroll")
    witnesses("sign")
    ok("publish", sealed)
    (GEN / "stick").mkdir()
    ok("export", sealed, "--usb", GEN / "stick")
    witnesses("sign")
    for k in ("alice", "bob"):
        ok("seal", sealed, "--keyholder", k)

    # 3. Notary v1, 2 of 2, stopped mid-signing (online keys made here, as a rehearsal does).
    gun = "corpus/notary"
    nonline = GEN / "plans" / "notary-online"
    make_online_keys(hsm, nonline, label="online-notary")
    for role in ("targets", "snapshot", "timestamp"):
        pem = nonline / f"{role}.pub.pem"
        entry = public_key_entry(load_pem_public_key(pem.read_bytes()))  # type: ignore[arg-type]
        (nonline / f"{role}.pub.json").write_bytes(key_file_bytes(entry, gun=gun, role=role))
    nplan = GEN / "plans" / "notary.toml"
    nplan.write_text(plan_toml("corpus-notary", {"alice": "nt-alice", "bob": "nt-bob"}, ["alice", "bob"], 2,
                               {r: [str(nonline / f"{r}.pub.json")] for r in ("targets", "snapshot", "timestamp")})
                     .replace('repository = "test/repo"', f'format = "notary"\nrepository = "{gun}"'))
    notary = ws / "notary-midsign"
    ok("init", notary, "--plan", nplan)
    for k in ("alice", "bob"):
        ok("keygen", notary, "--keyholder", k)
    ok("draft", notary)
    ok("sign", notary, "--keyholder", "alice")

    # 4. A root rotation of (2): carol joins; alice signs elsewhere (a detached signature).
    rplan = GEN / "plans" / "rotation.toml"
    trio = {"alice": "tok-alice", "bob": "tok-bob", "carol": "tok-carol"}
    rplan.write_text(plan_toml("corpus-rotation", trio, list(trio), 2, online_key_paths(online)))
    rot = ws / "tuf-rotation-midsign"
    ok("init", rot, "--plan", rplan, "--previous", sealed / "metadata")
    ok("keygen", rot, "--keyholder", "carol")
    ok("draft", rot)
    draft_file = GEN / "2.root.draft.json"
    ok("export-draft", rot, "--out", draft_file)
    sig = GEN / "alice.sig.json"
    digest = Ceremony.open(rot, write=False).state.draft_digest
    assert digest is not None
    ok("sign-draft", draft_file, "--keyholder", "alice", "--out", sig, "--trusted", sealed / "metadata",
       "--expect-digest", digest)
    ok("import-signature", rot, sig)

    module.close()
    out.mkdir(parents=True, exist_ok=True)
    for name in ("tuf-midsign", "tuf-sealed", "notary-midsign", "tuf-rotation-midsign"):
        shutil.copytree(ws / name, out / name, symlinks=True)
        (out / name / ".ceremony.lock.holder").unlink(missing_ok=True)  # the confirm's open
    shutil.copytree(d.tokens, out / "softhsm-tokens")
    (out / "MADE-BY.json").write_text(json.dumps(
        {"commit": "becff8d", "scratch": str(GEN), "pin": "tests.conftest.PIN"}, indent=1) + "\n")
    shutil.rmtree(GEN)


PIN_STEPS = {"keygen", "sign", "seal", "sign-draft"}

if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
