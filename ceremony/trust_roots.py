"""The one loader of PEM trust roots named by the operator (``--attestation-roots``).

``keygen`` (``ceremony.attestation.trust_for``), ``verify`` and ``yubikey attest`` all take
attestation roots from a file the operator names; the file decides which devices the tool
believes, so it is read the same way everywhere: bounded (no FIFO, device or folder, at most
:data:`MAX_ROOTS_BYTES`), strict PEM certificates only (``hsm.pem``), at least one
self-signed root. Every refusal names the file and what is wrong with it and exits with the
verification code (3), as an attestation that does not verify does.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from ceremony.inputs import read_input_file
from hsm.errors import AttestationError
from hsm.pem import PemError, certificates
from hsm.yubikey.attestation import TrustStore

#: The most a trust root file may hold: Yubico's whole PKI is under 10 KiB.
MAX_ROOTS_BYTES = 1 << 20
ROOTS = "the attestation roots"


def load_certificates(path: Path | str, what: str = ROOTS) -> tuple[x509.Certificate, ...]:
    """Every certificate of a PEM bundle the operator named, read bounded and strictly.

    Raises:
        AttestationError: missing, not a regular file, too large, empty, not strict PEM, or a
            block that is not a certificate (the message names ``what`` and the file).
    """
    p = Path(path)
    data = read_input_file(p, MAX_ROOTS_BYTES, what, error=AttestationError,
                           too_large=f"more than the {MAX_ROOTS_BYTES} bytes a PEM bundle of "
                                     "trust roots may hold; it is not a certificate bundle")
    try:
        return certificates(data)
    except PemError as e:
        raise AttestationError(f"{what} {p} {e}",
                               hint="give a file of PEM certificates (-----BEGIN CERTIFICATE-----) "
                                    "and nothing else") from None


def load_trust_store(path: Path | str, what: str = ROOTS) -> TrustStore:
    """The trust store of a PEM bundle the operator named: its self-signed roots, the rest as
    intermediates; named after the file (as reports say "against rehearsal roots NAME").

    Raises:
        AttestationError: as :func:`load_certificates`, or no self-signed root in the file.
    """
    p = Path(path)
    try:
        return TrustStore.from_certificates(load_certificates(p, what), p.name)
    except PemError as e:
        raise AttestationError(f"{what} {p} {e}",
                               hint="the bundle must hold the root certificate itself, not only "
                                    "intermediates") from None
