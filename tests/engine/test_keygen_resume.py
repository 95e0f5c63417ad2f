"""Keygen exactly once: what an interrupted keygen left on a real SoftHSM token is adopted
or removed (hsm.leftovers), and an export killed before its journal line is adopted.

Each test leaves the token as one window of a killed ``C_GenerateKeyPair`` leaves it (the
crash sweep, tests/engine/test_crash_sweep.py, reaches the same windows with real SIGKILLs), then
runs keygen again in a fresh "process" (sessions closed, workspace reopened) and checks
the journal and every object on the token."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pkcs11 import Attribute, KeyType, ObjectClass

from ceremony.engine import Ceremony
from ceremony.state import KEYGEN_RECOVERED
from tests.conftest import SoftHsm
from tests.support.helpers import bootstrap_setup, cli


class Killed(BaseException):
    """The process died here (nothing after this point ran)."""


class DyingModule:
    """The real module, but ``generate`` makes the key, lets ``after`` change the token the way
    a kill in the middle would have left it, and dies before anything is journaled."""

    def __init__(self, hsm: SoftHsm, after: Callable[[Any, Any], None]) -> None:
        self._hsm = hsm
        self._after = after

    def __getattr__(self, name: str) -> Any:
        return getattr(self._hsm.module, name)

    def generate(self, token: Any, pin: Any, algorithm: str, label: str, key_id: bytes) -> Any:
        tk = self._hsm.module.generate(token, pin, algorithm, label, key_id)
        self._after(tk._session, tk)
        raise Killed


def interrupted(tmp_path: Path, hsm: SoftHsm, after: Callable[[Any, Any], None]) -> tuple[Ceremony, str]:
    """A workspace whose keygen for ``alice`` was killed inside generation; reopened."""
    setup = bootstrap_setup(hsm, tmp_path, n=3, threshold=2)
    ws = tmp_path / "ws"
    c = Ceremony.init(ws, setup.plan)
    with pytest.raises(Killed):
        c.keygen("alice", DyingModule(hsm, after), hsm.pin)  # type: ignore[arg-type]
    hsm.module.close()  # a dead process holds no session
    intent = Ceremony.open(ws).state.intents["alice"]["key_id_hex"]
    return Ceremony.open(ws), intent


def objects(hsm: SoftHsm, label: str = "rehearsal-alice") -> list[tuple[str, str, str]]:
    """Every key object on the token: (class, CKA_ID hex, label)."""
    session = hsm.module.login(hsm.module.find_token(label=label), hsm.pin)
    out = []
    for cls in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY):
        for o in session.get_objects({Attribute.CLASS: cls}):
            out.append((cls.name, bytes(o[Attribute.ID]).hex(), o[Attribute.LABEL]))
    return sorted(out)


def one_pair(key_id: str) -> list[tuple[str, str, str]]:
    return [("PRIVATE_KEY", key_id, "test-ceremony/alice"), ("PUBLIC_KEY", key_id, "test-ceremony/alice")]


def recovered(c: Ceremony) -> list[dict[str, Any]]:
    return [e.data for e in c.journal.events if e.type == KEYGEN_RECOVERED]


def test_a_complete_pair_left_unjournaled_is_adopted_not_made_twice(tmp_path: Path, hsm: SoftHsm) -> None:
    made: dict[str, bytes] = {}

    def keep(_session: Any, tk: Any) -> None:
        made["spki"] = tk.public_key().public_bytes(*_spki())

    c, intent = interrupted(tmp_path, hsm, keep)
    rec = c.keygen("alice", hsm.module, hsm.pin)
    assert rec.key_id_hex == intent
    assert recovered(c) == []
    assert objects(hsm) == one_pair(intent)
    token_key = hsm.module.open_key(hsm.module.find_token(label="rehearsal-alice"), hsm.pin,
                                    "ecdsa-p256", bytes.fromhex(intent))
    assert token_key.public_key().public_bytes(*_spki()) == made["spki"]  # the same key, adopted
    assert json.loads((c.ws.keys / "root-alice.json").read_text())["keyid"] == rec.keyid


def test_a_lone_public_key_is_removed_journaled_and_the_key_made_once(tmp_path: Path, hsm: SoftHsm) -> None:
    c, intent = interrupted(tmp_path, hsm, lambda _s, tk: tk._private.destroy())
    rec = c.keygen("alice", hsm.module, hsm.pin)
    assert rec.key_id_hex == intent
    [event] = recovered(c)
    assert event["removed"] == [{"object": "public key", "key_id_hex": intent,
                                 "label": "test-ceremony/alice", "why": "its private key was never stored"}]
    assert event["adopted"] is False
    assert objects(hsm) == one_pair(intent)
    types = [e.type for e in c.journal.events if e.type != "pin-attempt"]
    assert types[-3:] == ["keygen-intent", "keygen-recovered", "key-generated"]
    from ceremony.record import transcript
    line = next(x.line() for x in transcript(c.journal.events) if x.step == "keygen-recovered")
    assert f"removed what it left: public key {intent[:8]}: its private key was never stored" in line
    from ceremony.compare import steps
    assert [s.kind for s in steps(c.journal.events)] == ["initialized", "key-generated"]


def test_a_private_key_without_its_public_object_is_removed_and_said_so(tmp_path: Path, hsm: SoftHsm) -> None:
    c, intent = interrupted(tmp_path, hsm, lambda _s, tk: tk._public.destroy())
    c.keygen("alice", hsm.module, hsm.pin)
    [event] = recovered(c)
    assert [(r["object"], r["key_id_hex"]) for r in event["removed"]] == [("private key", intent)]
    assert "public key object was never stored" in event["removed"][0]["why"]
    assert objects(hsm) == one_pair(intent)  # one private key on the token, not two


def test_a_half_made_object_with_no_id_and_no_key_is_removed(tmp_path: Path, hsm: SoftHsm) -> None:
    def half_made(session: Any, tk: Any) -> None:
        tk._public.destroy()
        tk._private.destroy()
        session.create_object({Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.KEY_TYPE: KeyType.EC,
                               Attribute.TOKEN: True, Attribute.EC_PARAMS: b"", Attribute.EC_POINT: b""})

    c, intent = interrupted(tmp_path, hsm, half_made)
    c.keygen("alice", hsm.module, hsm.pin)
    [event] = recovered(c)
    assert event["removed"] == [{"object": "public key", "key_id_hex": "", "label": "",
                                 "why": "half-made (no id, no label, no key material): holds no key"}]
    assert objects(hsm) == one_pair(intent)


def test_a_pair_whose_halves_do_not_match_is_removed_and_the_key_made_again(tmp_path: Path, hsm: SoftHsm) -> None:
    def swap(session: Any, tk: Any) -> None:
        other = hsm.module.generate(hsm.module.find_token(label="rehearsal-alice"), hsm.pin,
                                    "ecdsa-p256", "other", b"other")
        point = other._public[Attribute.EC_POINT]
        other._public.destroy()
        other._private.destroy()
        tk._public.destroy()
        session.create_object({Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.KEY_TYPE: KeyType.EC,
                               Attribute.TOKEN: True, Attribute.ID: tk.ref.key_id,
                               Attribute.LABEL: "test-ceremony/alice", Attribute.VERIFY: True,
                               Attribute.EC_PARAMS: tk._private[Attribute.EC_PARAMS],
                               Attribute.EC_POINT: point})

    c, intent = interrupted(tmp_path, hsm, swap)
    rec = c.keygen("alice", hsm.module, hsm.pin)
    [event] = recovered(c)
    assert sorted(r["object"] for r in event["removed"]) == ["private key", "public key"]
    assert objects(hsm) == one_pair(intent)
    key = hsm.module.open_key(hsm.module.find_token(label="rehearsal-alice"), hsm.pin, "ecdsa-p256",
                              bytes.fromhex(intent))
    key.sign_raw(b"the new pair belongs together")  # verified against its public key
    assert rec.key_id_hex == intent


def test_other_keys_on_the_token_are_never_touched(tmp_path: Path, hsm: SoftHsm) -> None:
    def unrelated(session: Any, tk: Any) -> None:
        tk._private.destroy()
        hsm.module.generate(hsm.module.find_token(label="rehearsal-alice"), hsm.pin, "ecdsa-p256",
                            "someone else's key", b"\x01\x02")

    c, intent = interrupted(tmp_path, hsm, unrelated)
    c.keygen("alice", hsm.module, hsm.pin)
    assert objects(hsm) == sorted(one_pair(intent) + [("PRIVATE_KEY", "0102", "someone else's key"),
                                                      ("PUBLIC_KEY", "0102", "someone else's key")])


def test_an_export_killed_before_its_journal_line_is_adopted_on_the_rerun(tmp_path: Path, hsm: SoftHsm) -> None:
    from ceremony.transfer import workspace_bundle
    from ceremony.transport import export_usb
    setup = bootstrap_setup(hsm, tmp_path, n=3, threshold=2)
    ws, stick = tmp_path / "ws", tmp_path / "stick"
    stick.mkdir()
    c = Ceremony.init(ws, setup.plan)
    for name in setup.names:
        c.keygen(name, hsm.module, hsm.pin)
    c.draft()
    for name in setup.names[:2]:
        c.sign(name, hsm.module, hsm.pin)
    c.publish()
    written = export_usb(workspace_bundle(c), stick)  # ... and the process died here
    hsm.module.close()
    r = cli("export", ws, "--usb", stick)
    assert r.code == 0, r.err
    assert "from an interrupted export: read back, verified, journaled now" in r.out
    assert [p.name for p in stick.iterdir()] == [written.name]
    from ceremony.transport import import_usb
    exported = [e.data for e in Ceremony.open(ws).journal.events if e.type == "exported"]
    assert [e["bundle_sha256"] for e in exported] == [import_usb(written).digest]
    again = cli("export", ws, "--usb", stick)
    assert again.code == 7
    assert f"{stick} already holds a bundle ({written.name}): this very export, already journaled" \
        in again.err


def test_qr_frames_of_an_export_killed_before_its_journal_line_are_adopted(tmp_path: Path,
                                                                         hsm: SoftHsm) -> None:
    from ceremony.transfer import workspace_bundle
    from ceremony.transport import export_qr, import_qr
    setup = bootstrap_setup(hsm, tmp_path, n=3, threshold=2)
    ws, qr = tmp_path / "ws", tmp_path / "qr"
    c = Ceremony.init(ws, setup.plan)
    for name in setup.names:
        c.keygen(name, hsm.module, hsm.pin)
    c.draft()
    export_qr(workspace_bundle(c), qr)  # the draft's frames... and the process died here
    hsm.module.close()
    frames = sorted(qr.glob("frame-*.png"))
    r = cli("export", ws, "--qr", qr)
    assert r.code == 0, r.err
    assert "from an interrupted export: read back, verified, journaled now" in r.out
    assert sorted(qr.glob("frame-*.png")) == frames
    exported = [e.data for e in Ceremony.open(ws).journal.events if e.type == "exported"]
    assert [(e["transport"], e["bundle_sha256"]) for e in exported] == [("qr", import_qr(frames).digest)]
    again = cli("export", ws, "--qr", qr)
    assert again.code == 7 and f"{qr} already exists and is not an empty folder: it holds this very " \
        "export's QR frames, already journaled" in again.err


def test_init_run_again_after_it_finished_says_so(tmp_path: Path, hsm: SoftHsm) -> None:
    setup = bootstrap_setup(hsm, tmp_path, n=3, threshold=2)
    ws = tmp_path / "ws"
    assert cli("init", ws, "--plan", setup.plan).code == 0
    before = (ws / "journal.jsonl").read_bytes()
    r = cli("init", ws, "--plan", setup.plan)
    assert r.code == 7
    assert f"{ws} already holds a ceremony initialised from this plan: init had finished" in r.err
    assert f"ceremony status {ws}" in r.err
    assert (ws / "journal.jsonl").read_bytes() == before
    other = setup.plan.parent / "other.toml"
    other.write_text(setup.plan.read_text().replace("test-ceremony", "another-ceremony"))
    r = cli("init", ws, "--plan", other)  # another plan: the usual refusal
    assert r.code == 7 and "already holds a ceremony (journal.jsonl exists)" in r.err


def _spki() -> tuple[Any, Any]:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    return Encoding.DER, PublicFormat.SubjectPublicKeyInfo
