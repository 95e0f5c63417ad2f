"""Root keys born on YubiKeys: the trust, the checks and the record of their attestation.

A keyholder with ``device = "yubikey"`` in the plan gets their root key in PIV
slot 9c of the YubiKey whose serial the plan names. The keygen step
(:func:`ceremony.steps.keygen.keygen_yubikey`) either
provisions the YubiKey on the spot (PIV reset, only after the operator typed
the serial) or adopts the key ``ceremony yubikey provision`` already made; in
both cases the slot's attestation is fetched and verified before anything is
recorded, and a key whose attestation fails is refused (exit 3, the verdict's
reason). No PIN is spent on the attestation: the PIN budget, factory defaults and
the slot policy are read from metadata (a Notary key's root certificate is then
signed on the card: one PIN and one touch).

What is kept, all public:

* the root key's ``x-ceremony-attestation`` field (in TUF root metadata, so any
  later verifier can re-check it): the slot certificate and the device's f9
  certificate as PEM, ``x-ceremony-device = "yubikey"``; for Notary, whose
  root.json cannot carry it, the same field in the ``key-generated`` event;
* the ``key-generated`` event: the verdict (serial, firmware, policies, chain
  subjects, root fingerprint) and the trust it was checked against;
* ``keys/attestation-NAME.pem``: the same two certificates.

Trust is Yubico's PIV attestation roots bundled with the tool
(``hsm/yubikey_roots``). Rehearsals and tests (``rehearsal = true`` only) may
name other roots with ``--attestation-roots PEM`` or ``CEREMONY_ATTESTATION_ROOTS``;
those roots are then written into the journal, so ``record verify`` re-checks
against exactly what was used, and the record says they are not Yubico's.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from securesystemslib.signer import Key

from ceremony.errors import UsageError, VerificationError
from ceremony.events import KEY_GENERATED
from ceremony.formats import tuf as tuf_format
from ceremony.frozen import frozen
from ceremony.journal import Event as JournalLine
from ceremony.plan import Plan
from ceremony.workspace import Workspace
from hsm.errors import HsmError

if TYPE_CHECKING:  # no cycle: hsm.yubikey costs ~16 ms, spent only when an attestation is checked
    from cryptography import x509

    from hsm.yubikey.attestation import AttestationVerdict, TrustStore

ENV_ROOTS = "CEREMONY_ATTESTATION_ROOTS"
ATTESTATION_TYPE = "yubikey-piv"
YUBIKEY = "yubikey"
_CURVES = {"secp256r1": "ecdsa-p256", "secp384r1": "ecdsa-p384"}


# ---- trust ---------------------------------------------------------------------------


@frozen
class Trust:
    """The roots attestations are checked against, and how to say so."""

    store: TrustStore
    bundled: bool

    @property
    def description(self) -> str:
        if self.bundled:
            return "the bundled Yubico roots"
        return f"rehearsal roots {self.store.name} (not Yubico)"

    def to_record(self) -> dict[str, Any]:
        """What the journal keeps: the bundled roots by name, other roots in full (public)."""
        if self.bundled:
            return {"bundled": True, "name": "yubico"}
        pem = [c.public_bytes(Encoding.PEM).decode() for c in self.store.roots]
        inter = [c.public_bytes(Encoding.PEM).decode() for c in self.store.intermediates]
        return {"bundled": False, "name": self.store.name, "roots": pem, "intermediates": inter}

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> Trust:
        """Raises: VerificationError: the recorded trust is malformed."""
        if d.get("bundled"):
            return bundled()
        from cryptography import x509  # lazy: cryptography.x509 (~20 ms), not needed before a check

        from hsm.yubikey.attestation import TrustStore  # lazy: hsm.yubikey (~16 ms), checks only
        try:
            roots = tuple(x509.load_pem_x509_certificate(p.encode()) for p in d["roots"])
            inters = tuple(x509.load_pem_x509_certificate(p.encode()) for p in d.get("intermediates", []))
        except (KeyError, TypeError, ValueError) as e:
            raise VerificationError(f"the recorded attestation roots are malformed: {e}") from None
        return cls(TrustStore(roots, inters, str(d.get("name", "recorded"))), False)


def bundled() -> Trust:
    """Yubico's roots as bundled (pinned by SHA-256).

    Raises:
        AttestationError: a bundled file is missing or changed.
    """
    from hsm.yubikey.attestation import TrustStore  # lazy: hsm.yubikey (~16 ms), checks only
    return Trust(TrustStore.yubico(), True)


def load_roots(path: Path) -> Trust:
    """Roots (self-signed) and intermediates from one PEM bundle.

    Raises:
        AttestationError: unreadable, not PEM certificates, or no root among them
            (``ceremony.trust_roots``, the one loader).
    """
    from ceremony.trust_roots import load_trust_store  # lazy: hsm.yubikey (~16 ms), checks only
    return Trust(load_trust_store(path), False)


def trust_for(plan: Plan, path: Path | str | None = None, env: Mapping[str, str] | None = None) -> Trust:
    """The trust for keygen: ``path`` (``--attestation-roots``), else ``CEREMONY_ATTESTATION_ROOTS``,
    else the bundled Yubico roots. Other roots than Yubico's are for rehearsals only.

    Raises:
        UsageError: other roots named for a live ceremony.
        AttestationError: the roots cannot be read.
    """
    env = os.environ if env is None else env
    chosen = path or env.get(ENV_ROOTS)
    if not chosen:
        return bundled()
    if not plan.rehearsal:
        raise UsageError(f"--attestation-roots (or {ENV_ROOTS}) is for rehearsals only: a live "
                         "ceremony trusts only the bundled Yubico roots",
                         hint=f"unset {ENV_ROOTS}, or mark the plan `rehearsal = true` for a rehearsal")
    return load_roots(Path(chosen))


# ---- the x- field ----------------------------------------------------------------------


def attestation_field(verdict: AttestationVerdict) -> dict[str, Any]:
    """``x-ceremony-attestation``: the slot certificate, then the device's f9 certificate (PEM)."""
    return {"type": ATTESTATION_TYPE, "slot": verdict.slot,
            "certificates": [verdict.attestation_pem, verdict.device_certificate_pem]}


def field_pem(field: dict[str, Any]) -> str:
    """The field's certificates as one PEM text (``keys/attestation-NAME.pem``, the notary sidecar)."""
    return "".join(field.get("certificates", []))


def journaled_pem(event: Mapping[str, Any]) -> str | None:
    """``keys/attestation-NAME.pem`` as keygen writes it, from a ``key-generated`` event's data
    (the key's ``x-ceremony-attestation``, or for notary the journal's copy); None for a key
    that is not a YubiKey's. How a workspace that lost the file gets it back."""
    if event.get("device") != YUBIKEY:
        return None
    stored = (event.get("attestation") or {}).get("field") or \
        (event.get("key") or {}).get(tuf_format.X_ATTESTATION)
    return field_pem(stored) if isinstance(stored, dict) else None


def field_from_pem(pem: str) -> dict[str, Any]:
    """The ``x-ceremony-attestation`` field back from :func:`field_pem`'s text."""
    marker = "-----BEGIN CERTIFICATE-----"
    return {"type": ATTESTATION_TYPE, "slot": "9c",
            "certificates": [marker + part for part in pem.split(marker)[1:]]}


def verdict_record(verdict: AttestationVerdict) -> dict[str, Any]:
    """The verdict for the journal (the certificates themselves are in the key's x- field)."""
    d = verdict.to_dict()
    for k in ("public_key", "attestation", "device_certificate"):
        d.pop(k, None)
    return d


def algorithm_of(public_key: Any) -> str | None:
    curve = getattr(getattr(public_key, "curve", None), "name", None)
    return _CURVES.get(curve or "")


def public_of(key: Any) -> Any:
    """A root key's public key as a ``cryptography`` object: a TUF key's, or a notary key's
    certificate's (what an attestation and a token key are compared with)."""
    public_key = getattr(key, "public_key", None)
    return public_key() if callable(public_key) else key._crypto_key()


def _same_key(a: Any, b: Any) -> bool:
    spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return bool(a.public_bytes(*spki) == b.public_bytes(*spki))


@frozen  # made once per key, never reassigned (and cheaper to define than @dataclass)
class KeyAttestation:
    """One root key's attestation status, for ``ceremony verify`` and the record."""

    name: str
    status: str  # "attested", "none", "failed"
    kind: str  # "YubiKey", "PKCS#11 token", "no token information"
    serial: int | None = None
    firmware: str | None = None
    pin_policy: str | None = None
    touch_policy: str | None = None
    problems: list[str] = field(default_factory=list)
    advisories: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def line(self) -> str:
        if self.status == "attested":
            extra = "".join(f"; advisory: {a}" for a in self.advisories)
            return (f"{self.name}: attested on YubiKey {self.serial} (firmware {self.firmware}, "
                    f"PIN {self.pin_policy}, touch {self.touch_policy}){extra}")
        if self.status == "none":
            return f"{self.name}: no attestation ({self.kind})"
        return f"{self.name}: attestation FAILED: {'; '.join(self.problems)}"

    def to_dict(self) -> dict[str, Any]:
        return {"keyholder": self.name, "status": self.status, "kind": self.kind,
                "serial": self.serial, "firmware": self.firmware, "pin_policy": self.pin_policy,
                "touch_policy": self.touch_policy, "problems": self.problems,
                "advisories": self.advisories}



def stored_certificates(stored: Any) -> tuple[x509.Certificate, x509.Certificate]:
    """The slot and device certificates of a key's ``x-ceremony-attestation`` field, as read
    from metadata (so from outside): the one reader of that field, for ``verify`` and
    ``audit`` alike.

    Raises:
        ValueError: not a YubiKey PIV attestation of two PEM certificates (the reason).
    """
    from cryptography import x509  # lazy: cryptography.x509 (~20 ms), not needed before a check

    try:
        if not isinstance(stored, dict) or stored.get("type") != ATTESTATION_TYPE:
            raise ValueError(f"not a {ATTESTATION_TYPE} attestation")
        certs = stored["certificates"]
        if not isinstance(certs, list) or len(certs) != 2:
            raise ValueError("expected the slot certificate and the device certificate")
        return (x509.load_pem_x509_certificate(str(certs[0]).encode()),
                x509.load_pem_x509_certificate(str(certs[1]).encode()))
    except (KeyError, TypeError) as e:
        raise ValueError(str(e)) from None

def check_key(key: Any, trust: Trust, now: dt.datetime | None = None) -> KeyAttestation:
    """Re-check a root key's stored attestation offline (never raises for a bad one).

    The attestation must chain to ``trust``, be for slot 9c, name the serial in the
    key's ``x-ceremony-token-serial``, state PIN policy always and touch always or
    cached, and attest exactly this key.
    """

    from hsm.yubikey.attestation import verify_attestation  # lazy: hsm.yubikey (~16 ms), checks only
    f = key.unrecognized_fields
    name = tuf_format.key_name(key)
    yubikey = f.get(tuf_format.X_DEVICE) == YUBIKEY
    kind = "YubiKey" if yubikey else ("PKCS#11 token" if tuf_format.X_KEY_URI in f
                                      else "no token information")
    stored = f.get(tuf_format.X_ATTESTATION)
    if stored is None:
        return KeyAttestation(name, "none", kind)
    try:
        slot_cert, device_cert = stored_certificates(stored)
    except ValueError as e:
        return KeyAttestation(name, "failed", kind, problems=[f"the stored attestation is malformed: {e}"])
    serial_text = f.get(tuf_format.X_TOKEN_SERIAL)
    expected = int(serial_text) if isinstance(serial_text, str) and serial_text.isdigit() else None
    verdict = verify_attestation(slot_cert, device_cert, trust.store, expected_serial=expected,
                                 allowed_pin_policies=("always",),
                                 allowed_touch_policies=("always", "cached"), now=now)
    problems = list(verdict.problems)
    if expected is None:
        problems.append("the key names no YubiKey serial to check the attestation against")
    try:
        if not _same_key(verdict.public_key, public_of(key)):
            problems.append("the attestation is for another key than this root key")
    except (ValueError, TypeError) as e:
        problems.append(f"the root key cannot be compared with the attestation: {e}")
    fw = ".".join(map(str, verdict.firmware)) if verdict.firmware else None
    return KeyAttestation(name, "failed" if problems else "attested", kind, verdict.serial, fw,
                          verdict.pin_policy, verdict.touch_policy, problems, list(verdict.advisories))


def stored(key: Any) -> bool:
    """Whether a root key (TUF, or notary with its sidecar identity) carries an attestation."""
    return tuf_format.X_ATTESTATION in key.unrecognized_fields


def check_root(root: Any, roots: Path | str | None = None,
               now: dt.datetime | None = None) -> tuple[Trust | None, list[KeyAttestation]]:
    """Every root key of ``root`` (a python-tuf ``Root``), in the root role's order.

    Checked against the roots in the PEM file ``roots`` if given, else the bundled Yubico
    roots (read only when some key carries an attestation).

    Raises:
        AttestationError: the roots cannot be read.
    """
    keys = [root.keys[k] for k in root.roles["root"].keyids]
    trust: Trust | None = load_roots(Path(roots)) if roots else None
    if trust is None and any(stored(k) for k in keys):
        trust = bundled()
    if trust is None:
        return None, [check_key(k, _no_trust(), now) for k in keys]
    return trust, [check_key(k, trust, now) for k in keys]


def _no_trust() -> Trust:
    """A trust that holds nothing: for keys without an attestation, never consulted."""
    from hsm.yubikey.attestation import TrustStore  # lazy: hsm.yubikey (~16 ms), checks only
    return Trust(TrustStore((), (), "none"), False)


# ---- the record ------------------------------------------------------------------------------


def _event_time(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except (TypeError, ValueError):
        return None


@frozen
class _JournaledKey:
    """A notary root key as its ``key-generated`` event holds it, in the shape :func:`check_key`
    reads (the ``x-`` facts root.json cannot carry, and the certificate's public key)."""

    unrecognized_fields: dict[str, Any]
    entry: dict[str, Any]

    @classmethod
    def of(cls, d: dict[str, Any]) -> _JournaledKey:
        return cls({tuf_format.X_KEYHOLDER: d["keyholder"], tuf_format.X_DEVICE: YUBIKEY,
                    tuf_format.X_TOKEN_SERIAL: d.get("token_serial"),
                    tuf_format.X_ATTESTATION: d["attestation"]["field"]}, dict(d["key"]))

    def public_key(self) -> Any:
        from ceremony.formats.notary_keys import public_key_from_entry  # lazy: ~17 ms, notary keys only
        return public_key_from_entry(self.entry)


def record_checks(ws: Workspace, events: list[JournalLine]) -> tuple[list[str], list[str]]:
    """Re-check every recorded YubiKey attestation (``record verify``): (checks, problems).

    Each is verified against the trust journaled with it (the bundled Yubico roots,
    or a rehearsal's own roots), as of the time it was journaled; the key file and
    ``keys/attestation-NAME.pem`` must match.
    """
    checks: list[str] = []
    problems: list[str] = []
    for e in events:
        d = e.data
        if e.type != KEY_GENERATED or d.get("device") != YUBIKEY:
            continue
        who = d.get("keyholder", "?")
        rec = d.get("attestation") or {}
        try:
            trust = Trust.from_record(rec.get("trust") or {"bundled": True})
            key = (Key.from_dict(d["keyid"], dict(d["key"])) if "field" not in rec
                   else _JournaledKey.of(d))
        except (VerificationError, HsmError) as err:
            problems.append(f"{who}'s attestation (journal line {e.seq}) cannot be checked: {err.message}")
            continue
        except (KeyError, TypeError, ValueError) as err:
            problems.append(f"{who}'s key at journal line {e.seq} is malformed: {err}")
            continue
        result = check_key(key, trust, _event_time(e.time))
        if result.status != "attested":
            why = "; ".join(result.problems) or "no attestation is stored with the key"
            problems.append(f"{who}'s attestation (journal line {e.seq}) does not verify against "
                            f"{trust.description}: {why}")
            continue
        pem_path = ws.keys / f"attestation-{who}.pem"
        stored_pem = field_pem(key.unrecognized_fields.get("x-ceremony-attestation", {}))
        try:
            pem_ok = pem_path.read_bytes() == stored_pem.encode()
        except OSError:
            pem_ok = False
        if not pem_ok:
            problems.append(f"keys/{pem_path.name} is missing or differs from journal line {e.seq}")
            continue
        checks.append(f"{who}'s key was generated on YubiKey {result.serial} (firmware "
                      f"{result.firmware}, PIN {result.pin_policy}, touch {result.touch_policy}): "
                      f"attestation at journal line {e.seq} verified against {trust.description}")
    return checks, problems
