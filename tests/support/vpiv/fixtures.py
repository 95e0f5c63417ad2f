"""pytest fixtures for the virtual YubiKey. Import the ones a test module uses:

    from tests.support.vpiv.fixtures import pcsc, yubikey, ykcs11  # noqa: F401

``pcsc`` (session) runs pcscd + vpcd in a private namespace; ``yubikey`` puts a
fresh virtual card with a new serial into the first reader and pulls it at the
end; ``ykcs11`` is the process-wide ``hsm.pkcs11.Module`` for libykcs11.
Nothing skips: a missing prerequisite fails with an install hint.

The card runs in a thread of the test process, so a PKCS#11 call that holds
the GIL while it waits for the card would deadlock (until pcscd gives up after
~20 s). python-pkcs11 releases the GIL everywhere except ``C_Finalize``, so
tests never call ``Module.refresh()`` while a card is connected; ykcs11 rescans
readers on every ``C_GetSlotList`` anyway.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from hsm.pkcs11 import Module, get_module
from tests.support.vpiv.card import VirtualYubiKey
from tests.support.vpiv.harness import YKCS11, HarnessError, PcscHarness

_serials = itertools.count(20_000_001 + (os.getpid() % 1000) * 1000)


def next_serial() -> int:
    """A serial no other card in this test run had (ykcs11 caches per reader)."""
    return next(_serials)


_harness: PcscHarness | None = None


@pytest.fixture(scope="session")
def pcsc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PcscHarness]:
    # Each test module imports this fixture, so pytest holds one definition per
    # module; libpcsclite talks to one pcscd per process, so they share one harness.
    global _harness
    if _harness is None:
        harness = PcscHarness(tmp_path_factory.mktemp("vpiv"), debug=bool(os.environ.get("VPIV_PCSCD_DEBUG")))
        try:
            harness.start()
        except HarnessError:
            harness.stop()
            raise
        _harness = harness
    yield _harness
    _harness.stop()  # idempotent; runs once per importing module, all at session end


@pytest.fixture
def yubikey(pcsc: PcscHarness) -> Iterator[VirtualYubiKey]:
    card = VirtualYubiKey(serial=next_serial())
    pcsc.insert(card)
    yield card
    pcsc.remove_all()


@pytest.fixture
def ykcs11(pcsc: PcscHarness) -> Iterator[Module]:
    if not os.path.exists(YKCS11):
        raise HarnessError(f"libykcs11 is missing at {YKCS11}; install with: apt-get install ykcs11")
    module = get_module(YKCS11)  # no refresh(): C_Finalize holds the GIL (see above)
    yield module
    module.close()


PIN = "1357924"
PUK = "86420864"


def provision_card(card: VirtualYubiKey, algorithm: str = "ecdsa-p256", touch: str = "always") -> object:
    """Provision ``card`` with the tool's own code (PIN/PUK above); returns the ProvisionResult."""
    from hsm.yubikey.provision import ProvisionPrompts, provision
    secrets = {"PIN": PIN, "PUK": PUK}
    return provision(card.serial, ProvisionPrompts(lambda d: str(d.serial), secrets.__getitem__),
                     algorithm=algorithm, touch=touch)


@pytest.fixture
def two_yubikeys(pcsc: PcscHarness) -> Iterator[tuple[VirtualYubiKey, VirtualYubiKey]]:
    first, second = VirtualYubiKey(serial=next_serial()), VirtualYubiKey(serial=next_serial())
    pcsc.insert(first, 0)
    pcsc.insert(second, 1)
    yield first, second
    pcsc.remove_all()
