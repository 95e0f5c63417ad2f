"""``ca.json``'s own facts re-derived from the signed artifacts beside it (issue 16).

A published CA folder's ``ca.json`` lists the sha256 of every file beside it, and those files
are checked (:mod:`ceremony.formats.x509.carry`): but the digests only prove the files are the
ones ``ca.json`` names, not that what ``ca.json`` *says* about them is true. Whoever can edit
``ca.json`` can edit its facts and digests together. So every fact it carries that a signed
artifact also says is re-derived here from the artifacts (each already verified under the CA
key, the CA certificate under its chain) and any disagreement refuses the folder, naming the
field and the file (exit 3, before ``init`` writes anything):

* ``ca_subject``: ``ca.pem``'s subject; ``ca.pem`` must be a CA certificate (basicConstraints cA).
* ``serials``: exactly the serials of the certificates the CA signed here (``issued-SERIAL.pem``,
  each holding the serial its name says; a root's own self-signed ``ca.pem`` too), none twice.
* ``crl_number``: the newest CRL's cRLNumber (0 with no CRL); every ``crl-N.pem`` carries cRLNumber
  N, names the CA as issuer, none from 1 to the newest is missing, and the CRLs' thisUpdate
  never goes back as N grows.
* ``revoked``: exactly the newest CRL's entries (serial, revocation date, reason); each CRL
  revokes at least what the one before it did (revocations only grow), and only serials the
  CA issued.
* ``sequence`` (the ceremony counter): no signed artifact carries it. A root CA's folder shows
  every ceremony that made it (its certificate, then one certificate or CRL per ceremony), so it
  must be exactly 1 + issued + CRLs. An intermediate CA's counter continues its issuer's, which
  its folder does not show: there it is only bounded below (2 + issued + CRLs) and the rest is
  trusted from ``ca.json``.
* ``approvers``, ``threshold`` and the keys' token facts: no signed artifact carries them; they
  are trusted from ``ca.json`` (checked for sense only: distinct approvers, 1 <= threshold <=
  approvers). :data:`TRUSTED` says so, and ``init`` journals it.

What a folder alone cannot show: the newest artifacts removed and every fact rolled back with
them (the last CRL and ``crl_number``, ``revoked`` and ``sequence`` together) is a consistent
older folder; only an anchor from outside the folder (the CA's record, a pinned ``ca.json``
digest) can tell.

Pure: bytes in, a refusal or nothing out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

from ceremony.errors import VerificationError
from ceremony.formats.x509.crl import REASONS
from hsm.pem import is_ca

#: ``carry.STATE`` and ``carry.CA_FILE`` (``carry`` imports this module: no cycle).
_STATE, _CA = "ca.json", "ca.pem"

#: What ``init --previous`` takes from ``ca.json`` without a signed artifact to check it against
#: (journaled with the previous CA's digest).
TRUSTED = ("approvers, threshold and the approvers' keys with every key's token facts (no signed "
           "artifact carries them); for an intermediate CA, its issuer's ceremony count before it "
           "(sequence is only bounded below by its folder)")

_REASON_NAMES = {flag: name for name, flag in REASONS.items()}


def _refuse(what: str) -> VerificationError:
    return VerificationError(f"{what}; refusing to continue this CA",
                             hint="use the metadata/ folder the CA's last ceremony published, "
                                  "unchanged")


Revocation = tuple[str, datetime, str]


def check_facts(where: str, *, ca: x509.Certificate, self_signed: bool,
                issued: Mapping[str, bytes], crls: Mapping[str, bytes], state: Mapping[str, Any]) -> None:
    """Refuse ``ca.json`` (``state``, parsed) unless its facts are the artifacts' own.

    Args:
        where: the folder, for messages.
        ca: ``ca.pem``, already matched with the CA key and verified under its chain.
        self_signed: a root CA (no ``chain.pem``).
        issued: ``issued-*.pem`` name -> PEM, each already verified as issued by ``ca``.
        crls: ``crl-*.pem`` name -> PEM, each already verified as signed by ``ca``.
        state: ``ca.json`` as parsed JSON.

    Raises:
        VerificationError: a fact disagrees with its artifact; the message names the field
            and the file.
    """
    sj = f"{where}/{_STATE}"
    _check_ca(where, sj, ca, state)
    serials = _check_serials(where, sj, ca, self_signed, issued, state)
    newest = _check_crls(where, sj, ca, crls, state)
    _check_revoked(where, sj, newest, serials, state)
    _check_sequence(where, sj, self_signed, len(issued) + len(crls), state)


def _check_ca(where: str, sj: str, ca: x509.Certificate, state: Mapping[str, Any]) -> None:
    actual = ca.subject.rfc4514_string()
    if str(state["ca_subject"]) != actual:
        raise _refuse(f"{sj} says ca_subject {str(state['ca_subject'])[:120]!r}, but {where}/{_CA} "
                      f"certifies {actual!r}")
    if not is_ca(ca):
        raise _refuse(f"{where}/{_CA} is not a CA certificate (basicConstraints cA), so {sj}'s ca_key "
                      "cannot be a CA key")
    approvers = [str(a) for a in state["approvers"]]
    if len(set(approvers)) != len(approvers):
        raise _refuse(f"{sj} lists an approver twice in approvers")
    threshold = state["threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, int) or not 1 <= threshold <= len(approvers):
        raise _refuse(f"{sj} says threshold {str(threshold)[:20]} with {len(approvers)} approvers "
                      "(1 to the number of approvers)")


def _check_serials(where: str, sj: str, ca: x509.Certificate, self_signed: bool,
                   issued: Mapping[str, bytes], state: Mapping[str, Any]) -> set[str]:
    """The serials the folder shows the CA signed (file by serial), against ``serials``."""
    shown: dict[str, str] = {}
    if self_signed:
        shown[f"{ca.serial_number:x}"] = _CA
    for name in sorted(issued):
        serial = f"{x509.load_pem_x509_certificate(issued[name]).serial_number:x}"
        if name != f"issued-{serial}.pem":
            raise _refuse(f"{where}/{name} holds the certificate with serial {serial}, not the serial "
                          f"its name says ({sj} serials)")
        if serial in shown:
            raise _refuse(f"{where}/{name} has the serial {serial} of {where}/{shown[serial]}: a serial "
                          "issued twice")
        shown[serial] = name
    listed = [str(s) for s in state["serials"]]
    for s, n in Counter(listed).items():
        if n > 1:
            raise _refuse(f"{sj} lists the serial {s[:40]} twice in serials")
    for s in listed:
        if s not in shown:
            raise _refuse(f"{sj} lists the serial {s[:40]} in serials, but no certificate with that "
                          f"serial signed by the CA is beside it (issued-{s[:40]}.pem)")
    have = set(listed)
    for s, name in shown.items():
        if s not in have:
            raise _refuse(f"{sj} serials omits {s}, the serial of {where}/{name}")
    return set(shown)


def _entries(crl: x509.CertificateRevocationList, where: str) -> set[Revocation]:
    """The CRL's entries as (serial hex, revocation date, reason name).

    Raises:
        VerificationError: an entry's extensions do not parse.
    """
    out: set[Revocation] = set()
    for entry in crl:
        try:
            flag = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
            reason = _REASON_NAMES.get(flag, flag.value)
        except x509.ExtensionNotFound:
            reason = "unspecified"
        except ValueError:
            raise _refuse(f"{where} revokes the serial {entry.serial_number:x} with extensions that do "
                          "not parse") from None
        out.add((f"{entry.serial_number:x}", entry.revocation_date_utc, reason))
    return out


def _check_crls(where: str, sj: str, ca: x509.Certificate, crls: Mapping[str, bytes],
                state: Mapping[str, Any]) -> tuple[str, set[Revocation]] | None:
    """Each CRL's number against its name, in order, growing; the newest against ``crl_number``.

    Returns:
        The newest CRL's file name and entries, or ``None`` with no CRL.
    """
    by_number: dict[int, tuple[str, x509.CertificateRevocationList]] = {}
    for name in sorted(crls):
        crl = x509.load_pem_x509_crl(crls[name])
        try:
            number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        except (x509.ExtensionNotFound, ValueError):
            raise _refuse(f"{where}/{name} carries no cRLNumber") from None
        if name != f"crl-{number}.pem":
            raise _refuse(f"{where}/{name} has cRLNumber {number}, not the number its name says")
        if crl.issuer != ca.subject:
            raise _refuse(f"{where}/{name} names the issuer {crl.issuer.rfc4514_string()!r}, not "
                          f"{where}/{_CA}'s subject")
        by_number[number] = (name, crl)
    for number in range(1, max(by_number, default=0)):
        if number not in by_number:  # each CRL ceremony numbers the next and carries every CRL
            raise _refuse(f"{where}/crl-{number}.pem is missing ({sj} files) before "
                          f"{where}/crl-{max(by_number)}.pem: a CRL of this CA was removed")
    before: tuple[str, x509.CertificateRevocationList] | None = None
    for number in sorted(by_number):
        name, crl = by_number[number]
        if before is not None:
            old_name, old = before
            if crl.last_update_utc < old.last_update_utc:
                raise _refuse(f"{where}/{name} was issued (thisUpdate {crl.last_update_utc.isoformat()}) "
                              f"before {where}/{old_name}: CRL numbers only grow with time")
            dropped = ({s for s, _, _ in _entries(old, f"{where}/{old_name}")}
                       - {s for s, _, _ in _entries(crl, f"{where}/{name}")})
            if dropped:
                raise _refuse(f"{where}/{name} no longer revokes the serial {min(dropped)} that "
                              f"{where}/{old_name} revoked: revocations only grow")
        before = (name, crl)
    newest = max(by_number, default=0)
    listed = state["crl_number"]
    if isinstance(listed, bool) or not isinstance(listed, int) or listed != newest:
        got = str(listed)[:20]
        if not by_number:
            raise _refuse(f"{sj} says crl_number {got}, but the folder holds no CRL signed by the CA "
                          "(crl_number 0)")
        raise _refuse(f"{sj} says crl_number {got}, but {where}/crl-{newest}.pem, the newest CRL signed "
                      f"by the CA, has cRLNumber {newest}")
    if not by_number:
        return None
    name, crl = by_number[newest]
    return name, _entries(crl, f"{where}/{name}")


def _listed_revocations(sj: str, revoked: Sequence[Any]) -> set[Revocation]:
    items: list[Revocation] = []
    try:
        for r in revoked:
            when = datetime.fromisoformat(str(r["revoked_at"]))
            if when.tzinfo is None:
                raise ValueError
            items.append((str(r["serial"]), when.astimezone(UTC).replace(microsecond=0), str(r["reason"])))
    except (KeyError, TypeError, ValueError):
        raise _refuse(f"{sj} field revoked is not a list of revocations (serial, revoked_at, "
                      "reason)") from None
    for item, n in Counter(items).items():
        if n > 1:
            raise _refuse(f"{sj} lists the revocation of serial {item[0][:40]} twice in revoked")
    return set(items)


def _check_revoked(where: str, sj: str, newest: tuple[str, set[Revocation]] | None, serials: set[str],
                   state: Mapping[str, Any]) -> None:
    listed = _listed_revocations(sj, list(state["revoked"]))
    if newest is None:
        if listed:
            raise _refuse(f"{sj} lists {len(listed)} revocation(s) in revoked, but the folder holds no "
                          "CRL signed by the CA")
        return
    name, entries = newest
    for serial, _, _ in sorted(entries):
        if serial not in serials:
            raise _refuse(f"{where}/{name} revokes the serial {serial}, which is not a certificate this "
                          f"CA issued ({sj} serials)")
    for serial, when, why in sorted(listed - entries):
        raise _refuse(f"{sj} lists in revoked the serial {serial[:40]} ({why}, {when.isoformat()}), "
                      f"which {where}/{name}, the newest CRL signed by the CA, does not revoke so")
    for serial, when, why in sorted(entries - listed):
        raise _refuse(f"{sj} revoked omits the serial {serial} ({why}, {when.isoformat()}), which "
                      f"{where}/{name}, the newest CRL signed by the CA, revokes")


def _check_sequence(where: str, sj: str, self_signed: bool, artifacts: int,
                    state: Mapping[str, Any]) -> None:
    sequence = state["sequence"]
    if isinstance(sequence, bool) or not isinstance(sequence, int):
        raise _refuse(f"{sj} says sequence {str(sequence)[:20]}, not a ceremony count")
    if self_signed and sequence != 1 + artifacts:
        raise _refuse(f"{sj} says sequence {sequence}, but {where} shows {1 + artifacts} ceremonies of "
                      f"this root CA ({_CA}, then {artifacts} certificate(s) and CRL(s) it signed)")
    if not self_signed and sequence < 2 + artifacts:
        raise _refuse(f"{sj} says sequence {sequence}, but {where} shows at least {2 + artifacts} "
                      f"ceremonies (the root's, this CA's {_CA}, then {artifacts} certificate(s) and "
                      "CRL(s) it signed)")
