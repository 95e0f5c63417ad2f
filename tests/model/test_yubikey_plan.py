"""Plan fields for YubiKey keyholders: device, serial, touch, algorithm; every error names the field."""

from __future__ import annotations

import pytest

from ceremony.errors import PlanError
from ceremony.plan import parse_plan
from tests.support.plans import ONLINE_ROLES, Keyholder, Plan, online_roles


def yk_plan(ceremony: str, alice: str) -> str:
    """Two keyholders: alice described by the raw TOML lines ``alice`` (the fields under test),
    bob on a token; ``ceremony`` is raw lines in ``[ceremony]``."""
    one_key = {role: ["t.pem"] for role in ONLINE_ROLES}
    return Plan("yk", [Keyholder("alice", extra=alice), Keyholder("bob", token="bob-token")], 1,
                online_roles(one_key, expires="1d"), repository="r", rehearsal=None, extra=ceremony).text()


def test_yubikey_keyholder_defaults_to_touch_always() -> None:
    plan = parse_plan(yk_plan("", 'device = "yubikey"\nserial = "12345678"'))
    alice, bob = plan.keyholders
    assert (alice.device, alice.serial, alice.touch, alice.algorithm, alice.token) == (
        "yubikey", "12345678", "always", "ecdsa-p256", None)
    assert alice.is_yubikey and not bob.is_yubikey
    assert (bob.device, bob.touch) == ("pkcs11", None)
    cached = parse_plan(yk_plan("", 'device = "yubikey"\nserial = "7"\ntouch = "cached"\n'
                                                      'algorithm = "ecdsa-p384"'))
    assert (cached.keyholders[0].touch, cached.keyholders[0].algorithm) == ("cached", "ecdsa-p384")


def test_a_notary_plan_takes_yubikey_keyholders() -> None:
    plan = parse_plan(yk_plan('format = "notary"', 'device = "yubikey"\nserial = "1"'))
    assert (plan.keyholders[0].device, plan.keyholders[0].algorithm) == ("yubikey", "ecdsa-p256")


@pytest.mark.parametrize(("ceremony", "alice", "message"), [
    ("", 'device = "yubikye"\nserial = "1"', 'keyholders[0].device must be "pkcs11" or "yubikey", not \'yubikye\''),
    ("", 'device = "yubikey"',
     'keyholders[0] (alice) has device = "yubikey" and needs the YubiKey\'s serial '
     '(serial = "12345678", as printed on its case)'),
    ("", 'device = "yubikey"\nserial = "YK-1234"',
     "keyholders[0].serial must be the YubiKey's serial number (digits only), not 'YK-1234'"),
    ("", 'device = "yubikey"\nserial = 12345678', "keyholders[0].serial must be a string"),
    ("", 'device = "yubikey"\nserial = "1"\ntoken = "YubiKey PIV #1"',
     "keyholders[0].token does not apply to a YubiKey: it is chosen by serial"),
    ("", 'device = "yubikey"\nserial = "1"\nalgorithm = "ed25519"',
     "keyholders[0].algorithm must be ecdsa-p256 or ecdsa-p384 for a YubiKey, not 'ed25519'"),
    ("", 'device = "yubikey"\nserial = "1"\ntouch = "never"',
     'keyholders[0].touch must be "always" or "cached", not \'never\''),
    ("", 'token = "a"\ntouch = "always"', 'keyholders[0].touch only applies to device = "yubikey"'),
    ("", 'device = "yubikey"\nserial = "1"\npin_policy = "once"', "unknown field keyholders[0].pin_policy in the plan"),
    ('format = "notary"', 'device = "yubikey"\nserial = "1"\nalgorithm = "ecdsa-p384"',
     'keyholders[0] (alice): a YubiKey holds a notary root key as ecdsa-p256 only, not ecdsa-p384'),
])
def test_bad_yubikey_fields(ceremony: str, alice: str, message: str) -> None:
    with pytest.raises(PlanError) as e:
        parse_plan(yk_plan(ceremony, alice))
    assert e.value.message == message and e.value.exit_code == 2


def test_two_keyholders_on_one_yubikey() -> None:
    text = yk_plan("", 'device = "yubikey"\nserial = "42"').replace(
        'token = "bob-token"', 'device = "yubikey"\nserial = "42"')
    with pytest.raises(PlanError) as e:
        parse_plan(text)
    assert e.value.message == ("keyholders 'alice' and 'bob' name the same serial '42': each root key "
                               "needs its own token")
