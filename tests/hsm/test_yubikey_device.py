"""Physical YubiKey tests: run only when CEREMONY_TEST_YUBIKEY_SERIAL names a present key.

    CEREMONY_TEST_YUBIKEY_SERIAL=12345678 .venv/bin/python -m pytest -m yubikey_device -s

DESTRUCTIVE: ``test_provision_sign_attest`` resets the PIV application of that
key (like yubikey-manager's own device tests: only on a dedicated developer
key). It leaves the key provisioned with the test PIN 1357924 / PUK 86420864
and touch policy CACHED; touch the key when it blinks.

Each test runs the tool in a fresh subprocess with the system's pcscd: the
virtual-card harness redirects this process's PC/SC client, and libpcsclite
reads its socket only once per process. A serial that is set but absent is a
failure, not a skip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SERIAL = os.environ.get("CEREMONY_TEST_YUBIKEY_SERIAL")
ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.yubikey_device,
    pytest.mark.skipif(not SERIAL, reason="set CEREMONY_TEST_YUBIKEY_SERIAL to a dedicated YubiKey's serial"),
]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PCSCLITE_CSOCK_NAME"}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ceremony.cli", *argv], capture_output=True,
                          text=True, env=_env(), cwd=ROOT, timeout=120, check=False)


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=_env(), cwd=ROOT, timeout=180, check=False)


def test_the_named_key_is_present() -> None:
    r = _cli("yubikey", "list", "--json")
    assert r.returncode == 0, r.stderr
    serials = [k["serial"] for k in json.loads(r.stdout)]
    assert int(SERIAL or 0) in serials, f"YubiKey {SERIAL} is not present (present: {serials})"


def test_preflight_spends_no_pin_try() -> None:
    r = _cli("yubikey", "preflight", "--serial", str(SERIAL), "--json")
    report = json.loads(r.stdout)
    assert r.returncode in (0, 4, 5), r.stderr
    again = json.loads(_cli("yubikey", "preflight", "--serial", str(SERIAL), "--json").stdout)
    assert again["pin_tries_left"] == report["pin_tries_left"]


def test_provision_sign_attest() -> None:
    r = _python(f"""
        import json
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
        from hsm.yubikey.provision import ProvisionPrompts, provision
        from hsm.yubikey.signing import open_signing_key
        from hsm.yubikey.attestation import TrustStore, attest
        s = {SERIAL}
        res = provision(s, ProvisionPrompts(lambda d: str(s), {{"PIN": "1357924", "PUK": "86420864"}}.__getitem__,
                                            print), touch="cached")
        key = open_signing_key(s, lambda _i: "1357924", on_touch=print)
        raw = key.sign_raw(b"device test")
        res.public_key.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
                              b"device test", ec.ECDSA(hashes.SHA256()))
        print(json.dumps(attest(s, TrustStore.yubico()).to_dict()))
    """)
    assert r.returncode == 0, r.stderr
    verdict = json.loads(r.stdout.strip().splitlines()[-1])
    assert verdict["ok"], verdict["problems"]
    assert verdict["serial"] == int(SERIAL or 0) and verdict["pin_policy"] == "always"
