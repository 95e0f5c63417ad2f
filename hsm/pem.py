"""Strict PEM certificate bundles: the one parser of trust roots (attestation CAs).

A trust root decides what the tool believes, so its file is read strictly: ASCII text made of
``-----BEGIN CERTIFICATE-----`` / ``-----END CERTIFICATE-----`` blocks of strict base64, each a
DER X.509 certificate, and nothing else but blank lines. What ``cryptography`` forgives (text
between blocks, a private key or a public key in the bundle, a block never closed) is refused
with a sentence saying where, so a wrong file is caught when it is named and not later, when
an attestation "does not chain" for a reason nobody can see. Nothing of a refused block is
ever quoted (it might be a private key).

The file is read by the caller (``ceremony.trust_roots`` with its bounded reader; the bundled
Yubico roots in ``hsm.yubikey.attestation``); this module only parses bytes.
"""

from __future__ import annotations

import base64
import binascii
import re

from cryptography import x509

_BEGIN = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")
_END = re.compile(r"-----END ([A-Z0-9 ]+)-----")
_BASE64_LINE = re.compile(r"[A-Za-z0-9+/]+={0,2}")
CERTIFICATE = "CERTIFICATE"


class PemError(ValueError):
    """A bundle is not strict PEM certificates; the message completes "<the file> ...".

    Callers prefix the file they read ("the attestation roots /x/roots.pem") and raise
    their own error class with it.
    """


def certificates(data: bytes) -> tuple[x509.Certificate, ...]:
    """The certificates of a strict PEM bundle, in file order (at least one).

    Raises:
        PemError: empty, not ASCII, text outside the blocks, a block that is not a
            certificate, one never closed, bad base64, or a block that is not X.509 DER.
    """
    if not data.strip():
        raise PemError("is empty: it holds no certificate")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise PemError("is not PEM: it is not ASCII text") from None
    certs: list[x509.Certificate] = []
    label: str | None = None  # the open block's label
    body: list[str] = []
    start = 0
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if label is None:
            if not line:
                continue
            begin = _BEGIN.fullmatch(line)
            if begin is None:
                if not certs:
                    raise PemError(f"is not PEM: line {n} is not a -----BEGIN {CERTIFICATE}----- line")
                raise PemError(f"is not strict PEM: line {n} is text outside any certificate block")
            if begin.group(1) != CERTIFICATE:
                raise PemError(f"holds a {begin.group(1)} block (line {n}), not a certificate; "
                               "only CERTIFICATE blocks belong in a trust root file")
            label, body, start = begin.group(1), [], n
            continue
        end = _END.fullmatch(line)
        if end is None:
            if not _BASE64_LINE.fullmatch(line):
                raise PemError(f"is not PEM: line {n}, inside the certificate block of line "
                               f"{start}, is not base64")
            body.append(line)
            continue
        if end.group(1) != label:
            raise PemError(f"is not PEM: the block of line {start} ends with -----END "
                           f"{end.group(1)}----- (line {n})")
        certs.append(_certificate("".join(body), start))
        label = None
    if label is not None:
        raise PemError(f"is not PEM: the certificate block of line {start} has no -----END "
                       f"{CERTIFICATE}----- line")
    return tuple(certs)


def _certificate(b64: str, line: int) -> x509.Certificate:
    try:
        der = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise PemError(f"is not PEM: the certificate block of line {line} is not valid base64") from None
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        raise PemError(f"holds a block (line {line}) that is not a valid X.509 certificate") from None


def roots_and_intermediates(certs: tuple[x509.Certificate, ...]
                            ) -> tuple[tuple[x509.Certificate, ...], tuple[x509.Certificate, ...]]:
    """Split a bundle into self-signed roots and the intermediates they vouch for.

    Raises:
        PemError: no self-signed root among them.
    """
    roots = tuple(c for c in certs if c.issuer == c.subject)
    if not roots:
        raise PemError("holds no self-signed root certificate")
    return roots, tuple(c for c in certs if c.issuer != c.subject)


def is_ca(certificate: x509.Certificate) -> bool:
    """Whether ``certificate`` says it is a CA's (basicConstraints cA true). One that has no
    basicConstraints, or one cryptography cannot parse, is not."""
    try:
        return bool(certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, ValueError):
        return False
