"""The virtual YubiKey and its plumbing: real pcscd, real ykcs11, real yubikit see a YubiKey.

If these fail, every other YubiKey test is meaningless, so they come first and
say exactly which layer broke.
"""

from __future__ import annotations

from pathlib import Path

from hsm.pkcs11 import Module
from hsm.yubikey import list_yubikeys
from tests.support.vpiv import tlv
from tests.support.vpiv.card import VirtualYubiKey
from tests.support.vpiv.fixtures import next_serial, pcsc, two_yubikeys, ykcs11, yubikey  # noqa: F401
from tests.support.vpiv.harness import BASE_PORT, PcscHarness


def _listening_ports(netns_pid: str = "self") -> set[int]:
    ports = set()
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{netns_pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_vpcd_listens_only_inside_the_private_namespace(pcsc: PcscHarness) -> None:
    # vpcd binds 0.0.0.0: it must not be reachable from this (the host's) namespace.
    assert BASE_PORT not in _listening_ports()
    assert BASE_PORT + 1 not in _listening_ports()


def test_ykcs11_lists_the_virtual_yubikey(yubikey: VirtualYubiKey, ykcs11: Module) -> None:
    [token] = ykcs11.tokens()
    assert token.label == f"YubiKey PIV #{yubikey.serial}"
    assert token.serial == str(yubikey.serial)
    assert token.manufacturer.startswith("Yubico")
    assert token.model == "YubiKey YK5"
    assert token.pin_state == "ok"


def test_ykcs11_pin_flags_are_a_snapshot_so_the_tool_reads_the_card(
        yubikey: VirtualYubiKey, ykcs11: Module) -> None:
    # ykcs11 2.2 reads the retry counter when it connects and reports that
    # value afterwards: its CKF_USER_PIN_* flags go stale. This is why
    # hsm.yubikey reads the counter itself (GET METADATA) before every login.
    from hsm.yubikey.device import pin_attempts, piv_session
    yubikey.pin_left = 1
    [token] = ykcs11.tokens()
    assert token.pin_state == "final try"
    yubikey.pin_left = 0
    assert ykcs11.tokens()[0].pin_state == "final try"  # stale
    [info] = list_yubikeys()
    with piv_session(info) as session:
        assert pin_attempts(session) == (0, 3)
    assert yubikey.pin_verifications() == 0


def test_yubikit_reads_serial_firmware_and_form_factor(yubikey: VirtualYubiKey) -> None:
    [info] = list_yubikeys()
    assert (info.serial, info.firmware, info.form_factor) == (yubikey.serial, (5, 7, 1), "usb-a-keychain")
    assert "Yubico YubiKey" in info.reader


def test_two_readers_two_keys(two_yubikeys: tuple[VirtualYubiKey, VirtualYubiKey], ykcs11: Module) -> None:
    serials = {k.serial for k in two_yubikeys}
    assert {k.serial for k in list_yubikeys()} == serials
    assert {int(t.serial) for t in ykcs11.tokens()} == serials


def test_pull_and_insert_another_key(pcsc: PcscHarness, ykcs11: Module) -> None:
    first = VirtualYubiKey(serial=next_serial())
    pcsc.insert(first)
    assert [k.serial for k in list_yubikeys()] == [first.serial]
    pcsc.remove()
    assert list_yubikeys() == []
    second = VirtualYubiKey(serial=next_serial(), version=(5, 4, 3))
    pcsc.insert(second)
    try:
        assert [(k.serial, k.firmware) for k in list_yubikeys()] == [(second.serial, (5, 4, 3))]
        assert [t.serial for t in ykcs11.tokens()] == [str(second.serial)]
    finally:
        pcsc.remove_all()


def _apdu(cla: int, ins: int, p1: int, p2: int, data: bytes = b"") -> bytes:
    return bytes([cla, ins, p1, p2]) + (bytes([len(data)]) + data if data else b"")


def _ok(resp: bytes) -> bytes:
    assert resp[-2:] == b"\x90\x00", resp[-2:].hex()
    return resp[:-2]


def test_card_command_and_response_chaining() -> None:
    # Exercised directly (no pcscd): a 700-byte object is sent in 255-byte
    # chained chunks and read back through 61xx / GET RESPONSE.
    card = VirtualYubiKey(serial=next_serial())
    _ok(card.transmit(_apdu(0, 0xA4, 4, 0, bytes.fromhex("a000000308"))))
    card.mgmt_authenticated = True  # authentication itself is covered end to end
    value = bytes(range(256)) * 2 + bytes(188)
    body = tlv.tlv(0x5C, bytes.fromhex("5fc10a")) + tlv.tlv(0x53, value)
    chunks = [body[i:i + 255] for i in range(0, len(body), 255)]
    for chunk in chunks[:-1]:
        _ok(card.transmit(_apdu(0x10, 0xDB, 0x3F, 0xFF, chunk)))
    _ok(card.transmit(_apdu(0, 0xDB, 0x3F, 0xFF, chunks[-1])))
    resp = card.transmit(_apdu(0, 0xCB, 0x3F, 0xFF, tlv.tlv(0x5C, bytes.fromhex("5fc10a"))))
    out = b""
    while resp[-2] == 0x61:
        out += resp[:-2]
        resp = card.transmit(bytes([0, 0xC0, 0, 0, 0]))
    out += _ok(resp)
    assert tlv.parse_dict(out)[0x53] == value


def test_card_extended_apdus_and_status_words() -> None:
    card = VirtualYubiKey(serial=next_serial())
    assert card.transmit(_apdu(0, 0xA4, 4, 0, bytes.fromhex("a000000527200101")))[-2:] == b"\x6a\x82"
    _ok(card.transmit(bytes.fromhex("00a4040000000 5a000000308".replace(" ", ""))))
    assert _ok(card.transmit(bytes.fromhex("00fd0000"))) == bytes([5, 7, 1])
    assert card.transmit(bytes.fromhex("0020008000"))[-2:] == b"\x63\xc3"  # 3 tries, none spent
    assert card.transmit(bytes.fromhex("00cb3fff055c035fc109"))[-2:] == b"\x69\x82"  # needs the PIN


def test_card_enforces_pin_always_like_a_yubikey(yubikey: VirtualYubiKey, ykcs11: Module) -> None:
    # Fidelity check of the emulator itself, through plain hsm.pkcs11 (no YubiKey
    # logic): with PIN policy ALWAYS one VERIFY buys one signature. This is why
    # hsm.yubikey.signing logs in per signature.
    import pkcs11
    from pkcs11 import Mechanism, ObjectClass

    from tests.support.vpiv.fixtures import PIN, provision_card
    provision_card(yubikey)
    token = ykcs11.find_token(serial=str(yubikey.serial))
    session = ykcs11.login(token, lambda _i: PIN)
    key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=b"\x02")
    key.sign(bytes(32), mechanism=Mechanism.ECDSA)
    try:
        key.sign(bytes(32), mechanism=Mechanism.ECDSA)
        raise AssertionError("a second signature without a new VERIFY must be refused")
    except pkcs11.exceptions.UserNotLoggedIn:
        pass
    key.sign(bytes(32), mechanism=Mechanism.ECDSA, pin=PIN)  # context-specific login: accepted
    ykcs11.forget(str(yubikey.serial))
