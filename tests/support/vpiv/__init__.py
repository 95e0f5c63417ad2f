"""A test-only virtual YubiKey: a PIV card emulator behind the real pcscd.

Why it exists: SoftHSM does not exercise any YubiKey code. With this package
the real ``pcscd``, the real ``libykcs11`` and the real ``yubikit`` run
unchanged against a card that speaks the PIV APDUs they send, so provisioning,
attestation, PIN safety, touch and removal are tested through the same code
paths a physical YubiKey would take.

* :mod:`tests.support.vpiv.card` - the card (PIV + the management application).
* :mod:`tests.support.vpiv.attestation_ca` - a throwaway attestation PKI shaped like Yubico's.
* :mod:`tests.support.vpiv.vpcd` - the vpcd socket protocol (the card's side of the "reader").
* :mod:`tests.support.vpiv.harness` - a private network namespace running pcscd + vpcd.
* :mod:`tests.support.vpiv.fixtures` - pytest fixtures; import them into test modules.

Nothing here is used by the tool itself.
"""
