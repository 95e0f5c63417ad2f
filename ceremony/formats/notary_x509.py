"""The Notary root key's X.509 certificate: built around a token signature, and checked.

Notary publishes a root key as a self-signed leaf certificate whose CN is the GUN
(``cryptoservice.GenerateCertificate`` / ``utils.NewCertificate``, reference doc §3.3). The
private key lives on a hardware token and never enters Python, so the certificate is assembled
here with asn1crypto and only the TBSCertificate bytes go to the token through ``sign_raw``.

The checks in ``root_certificate_problems`` mirror the client's (``trustpinning.ValidateRoot``,
``validRootLeafCerts``, ``utils.ValidateCertificate`` at v0.7.0), so a certificate that notary
would drop is refused here with the reason, instead of surfacing later as notary's opaque
``unable to retrieve valid leaf certificates``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from asn1crypto import core, keys as asn1_keys, x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ceremony.errors import PlanError, VerificationError
from ceremony.formats.notary_keys import PublicKey, ecdsa_raw_to_der, spki_der
from hsm.pem import is_ca

__all__ = [
    "CERTIFICATE_VALIDITY",
    "NOTARY_NO_VALID_LEAF",
    "SignRaw",
    "build_root_certificate",
    "gun_problem",
    "match_cn_to_gun",
    "root_certificate_problems",
    "validate_gun",
]

#: notary's hard-coded policy: ``startTime.Add(notary.Year*10)`` with a 365-day year.
CERTIFICATE_VALIDITY = timedelta(days=3650)

#: What notary-server answers (HTTP 400) and the client prints for a root without a usable leaf.
NOTARY_NO_VALID_LEAF = (
    "could not validate the path to a trusted root: unable to retrieve valid leaf certificates"
)

#: The token signs ``message``; ECDSA: raw r||s over SHA-256(message); RSA: PKCS#1 v1.5 SHA-256.
SignRaw = Callable[[bytes], bytes]

_GUN_MAX_BYTES = 255
_PRINTABLE_STRING = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?"
)
_SHA1_ALGORITHMS = {
    x509.SignatureAlgorithmOID.RSA_WITH_SHA1,
    x509.SignatureAlgorithmOID.ECDSA_WITH_SHA1,
    x509.SignatureAlgorithmOID.DSA_WITH_SHA1,
}


# --------------------------------------------------------------------------- GUN


def gun_problem(gun: str) -> str | None:
    """Say why notary would not serve ``gun`` unchanged, or None when it would.

    notary 0.7.0 has no explicit GUN grammar; what it accepts is decided at these places, each
    of which a GUN must pass unchanged (notaryproject/notary at v0.7.0):

    * ``server/server.go`` routes ``/v2/{gun:[^*]+}/_trust/tuf/…``: any character but ``*``,
      at least one; ``*`` is also the CN wildcard of ``trustpinning/certs.go`` MatchCNToGun;
    * ``client/helpers.go`` getRemoteStore concatenates the GUN into the URL, and
      ``storage/httpstore.go`` buildMetaURL/buildURL runs it through ``path.Join`` and
      ``url.Parse``: ``?``, ``#`` and ``%`` change the URL, control characters are refused
      ("net/url: invalid control character in URL"), and ``.``/``..``/empty segments or a
      leading/trailing ``/`` are cleaned away or redirected (gorilla/mux answers 301), so the
      client would talk about another GUN or fail;
    * the client's trust dir keeps ``tuf/<gun>/metadata``, and the server's SQL ``gun`` column
      is ``varchar(255)`` (``migrations/server/*/0001_initial.up.sql``): at most 255 bytes.

    Observed with the real CLI and server (tests/model/test_notary_gun.py): spaces, non-ASCII,
    ``\\``, ``"``, ``<``, ``;``, ``&`` and ``..`` inside a name are all accepted, so they are
    accepted here too.
    """
    if not gun:
        return "the GUN is empty"
    try:
        size = len(gun.encode("utf-8"))
    except UnicodeEncodeError:
        return "the GUN is not valid Unicode"
    if size > _GUN_MAX_BYTES:
        return f"the GUN is {size} bytes long; notary allows at most {_GUN_MAX_BYTES}"
    for char in gun:
        if char == "*":
            return (
                "the GUN contains '*', which notary-server's routes refuse "
                "('*' only marks a wildcard certificate CN)"
            )
        if char in "?#%":
            return f"the GUN contains {char!r}, which would change the URL notary builds from it"
        if ord(char) < 0x20 or ord(char) == 0x7F:
            return f"the GUN contains the control character U+{ord(char):04X}"
    if any(segment in ("", ".", "..") for segment in gun.split("/")):
        return (
            "the GUN must be clean '/'-separated names: no leading or trailing '/', no '//', "
            "no '.' or '..' segment (notary cleans the URL path and would use another GUN)"
        )
    return None


def validate_gun(gun: str) -> str:
    """Return ``gun`` if notary accepts it unchanged.

    Raises:
        PlanError: with ``gun_problem``'s reason; the GUN is the plan's ``repository``.
    """
    problem = gun_problem(gun)
    if problem:
        raise PlanError(
            f"repository {gun!r} is not a valid notary GUN: {problem}",
            hint="a GUN looks like docker.io/library/app or registry.example.com/team/app",
        )
    return gun


def match_cn_to_gun(common_name: str, gun: str) -> bool:
    """Mirror notary's MatchCNToGun: equal, or a ``prefix*`` wildcard (all trailing ``*`` cut)."""
    if common_name.endswith("*"):
        return gun.startswith(common_name.rstrip("*"))
    return common_name == gun


# --------------------------------------------------------------------------- building


def _directory_string(text: str) -> asn1_x509.DirectoryString:
    # Go's encoding/asn1 picks PrintableString when every character allows it, else UTF8String.
    kind = "printable_string" if set(text) <= _PRINTABLE_STRING else "utf8_string"
    return asn1_x509.DirectoryString(name=kind, value=text)


def _common_name(gun: str) -> asn1_x509.Name:
    attribute = asn1_x509.NameTypeAndValue({"type": "common_name", "value": _directory_string(gun)})
    rdns = asn1_x509.RDNSequence([asn1_x509.RelativeDistinguishedName([attribute])])
    return asn1_x509.Name(name="", value=rdns)


def _time(when: datetime) -> asn1_x509.Time:
    # Go (crypto/x509) writes UTCTime for 1950..2049 and GeneralizedTime otherwise.
    kind = "utc_time" if 1950 <= when.year < 2050 else "general_time"
    return asn1_x509.Time(name=kind, value=when)


def build_root_certificate(
    gun: str,
    public_key: PublicKey,
    sign_raw: SignRaw,
    *,
    now: datetime | None = None,
    serial: int | None = None,
    validity: timedelta = CERTIFICATE_VALIDITY,
) -> x509.Certificate:
    """Build the root key's self-signed certificate exactly as notary does, signed on a token.

    Fields: v3, random serial below 2^128, subject = issuer = CN=<GUN>, notBefore = now
    truncated to seconds, notAfter = notBefore + 3650 days, keyUsage (critical)
    digitalSignature+keyEncipherment, extKeyUsage codeSigning, basicConstraints (critical)
    CA:FALSE, no SKI/AKI; ecdsa-with-SHA256 or sha256WithRSAEncryption.

    Note: for P-384 keys Go would pick ecdsa-with-SHA384; we keep SHA-256 for every curve
    because the token callback hashes with SHA-256, and notary accepts any non-SHA-1 algorithm.

    Args:
        gun: the collection's GUN (validated).
        public_key: the token key's public half (EC P-256/P-384 or RSA >= 2048).
        sign_raw: the token's signature over the given bytes (see ``SignRaw``).
        now: the issuance time (tests pin it); defaults to the current time.
        serial: the serial number (tests pin it); defaults to a random one below 2^128.
        validity: notAfter - notBefore.

    Returns:
        The certificate, already verified against ``public_key``.

    Raises:
        PlanError: the GUN is not valid for notary.
        VerificationError: unsupported key, or the token's signature does not verify (the
            wrong key or mechanism was used); nothing is returned in that case.
    """
    validate_gun(gun)
    issued = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    if serial is None:
        serial = secrets.randbelow(2**128 - 1) + 1
    if not 0 < serial < 2**128:
        raise VerificationError("the certificate serial must be positive and below 2^128")

    if isinstance(public_key, ec.EllipticCurvePublicKey):
        algorithm = asn1_x509.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})
    elif isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < 2048:
            raise VerificationError(
                f"RSA key of {public_key.key_size} bits; notary needs at least 2048"
            )
        algorithm = asn1_x509.SignedDigestAlgorithm(
            {"algorithm": "sha256_rsa", "parameters": core.Null()}
        )
    else:
        raise VerificationError("a notary root key must be ECDSA or RSA")

    name = _common_name(gun)
    tbs = asn1_x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial,
            "signature": algorithm,
            "issuer": name,
            "validity": {"not_before": _time(issued), "not_after": _time(issued + validity)},
            "subject": name,
            "subject_public_key_info": asn1_keys.PublicKeyInfo.load(spki_der(public_key)),
            "extensions": [
                {
                    "extn_id": "key_usage",
                    "critical": True,
                    "extn_value": {"digital_signature", "key_encipherment"},
                },
                {
                    "extn_id": "extended_key_usage",
                    "critical": False,
                    "extn_value": ["code_signing"],
                },
                {"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": False}},
            ],
        }
    )
    tbs_der = tbs.dump()
    raw = sign_raw(tbs_der)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        size = 2 * ((public_key.curve.key_size + 7) // 8)
        if len(raw) != size:
            raise VerificationError(
                f"the token returned a {len(raw)}-byte signature; raw r||s for this curve "
                f"is {size} bytes"
            )
        signature = ecdsa_raw_to_der(raw)
    else:
        signature = raw
    der = asn1_x509.Certificate(
        {"tbs_certificate": tbs, "signature_algorithm": algorithm, "signature_value": signature}
    ).dump()
    certificate = x509.load_der_x509_certificate(der)
    _verify_self_signature(certificate, public_key)
    return certificate


def _verify_self_signature(certificate: x509.Certificate, public_key: PublicKey) -> None:
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(
                certificate.signature,
                certificate.tbs_certificate_bytes,
                ec.ECDSA(hashes.SHA256()),
            )
        else:
            assert isinstance(public_key, rsa.RSAPublicKey)
            public_key.verify(
                certificate.signature,
                certificate.tbs_certificate_bytes,
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
    except InvalidSignature:
        raise VerificationError(
            "the token's signature over the root certificate does not verify with the key's "
            "public half: a different key, or a mechanism that does not hash with SHA-256, "
            "was used"
        ) from None


# --------------------------------------------------------------------------- checking


def _common_name_of(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    value = names[0].value if names else ""
    return value if isinstance(value, str) else value.decode("utf-8", errors="replace")


def root_certificate_problems(
    certificates: Sequence[x509.Certificate],
    gun: str,
    *,
    now: datetime | None = None,
    check_expiry: bool = True,
) -> list[str]:
    """List why notary's client would drop this root key's certificate bundle (empty: accepted).

    Mirrors ``trustpinning.parseAllCerts`` / ``validRootLeafCerts`` and
    ``utils.ValidateCertificate`` (v0.7.0): exactly one leaf (non-CA) and it comes first; CN =
    GUN or ``prefix*``; validity window ordered; no SHA-1; RSA >= 2048 bits; and, with
    ``check_expiry`` (the new root, not the previous one), notBefore <= now + 1 day and notAfter
    > now. TOFU does not check the certificate's own signature, so neither does this.

    Args:
        certificates: the PEM bundle of one root key entry, in order.
        gun: the collection.
        now: the time of the check; defaults to the current time.
        check_expiry: False for certificates of the previously trusted root (notary does not
            expiry-check those, which is what lets a rotation leave an expired root).
    """
    if not certificates:
        return ["the root key carries no certificate"]
    problems = []
    leaves = [cert for cert in certificates if not is_ca(cert)]
    if is_ca(certificates[0]):
        problems.append(
            "the first certificate is a CA (basicConstraints CA:TRUE); notary needs the leaf "
            "certificate first and drops the key"
        )
    if len(leaves) != 1:
        problems.append(
            f"the bundle holds {len(leaves)} leaf (non-CA) certificates; notary needs exactly one"
        )
    if problems:
        return problems
    leaf = certificates[0]
    common_name = _common_name_of(leaf)
    if not match_cn_to_gun(common_name, gun):
        problems.append(
            f"the certificate's CN is {common_name!r} but the GUN is {gun!r}; notary needs the "
            "CN to equal the GUN (or be a prefix ending in '*')"
        )
    not_before, not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if not_before > not_after:
        problems.append("the certificate's notBefore is after its notAfter")
    if leaf.signature_algorithm_oid in _SHA1_ALGORITHMS:
        problems.append("the certificate is signed with SHA-1, which notary refuses")
    key = leaf.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        problems.append(f"the certificate's RSA key has {key.key_size} bits; notary needs 2048")
    if check_expiry:
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        if not_before > moment + timedelta(days=1):
            problems.append(
                f"the certificate is not valid before {not_before:%Y-%m-%d %H:%M:%S} UTC, more "
                "than one day from now; notary treats it as expired"
            )
        if moment > not_after:
            problems.append(
                f"the certificate expired at {not_after:%Y-%m-%d %H:%M:%S} UTC; notary drops it"
            )
    return problems
