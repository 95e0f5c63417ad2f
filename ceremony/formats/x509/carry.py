"""A CA carried from one ceremony to the next: the published folder's ``ca.json`` and its files.

Each X.509 ceremony publishes the CA's whole folder (``metadata/``): the CA certificate
``ca.pem``, every certificate and CRL issued so far, and ``ca.json``, the CA's state (the CA key
and the approvers' keys with their tokens, the approval threshold, the serials issued, the last
CRL number, the revocations, and the sha256 of every file beside it). ``init --previous CA_DIR``
reads it here: bounded reads, no symlink, every digest checked, the CA certificate's own
signature verified and its key matched with the CA key the state names, every issued
certificate verified against the CA, before anything is copied in, as a previous TUF root is.
The state's own facts (subject, serials, CRL number, revocations, ceremony counter) are then
re-derived from those signed artifacts (:mod:`ceremony.formats.x509.facts`): a digest only
proves a file is the one ``ca.json`` names, not that what ``ca.json`` says of it is true.
The copy in ``previous/`` is read again (:func:`read_previous`) against the digest of
``ca.json`` that ``init`` journaled.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from ceremony.errors import PlanError, VerificationError
from ceremony.formats.x509 import facts
from ceremony.formats.x509.keys import X509Key, spki
from ceremony.inputs import read_input_file
from hsm.pem import is_ca

STATE = "ca.json"
#: A cross-signing copies the new root CA's certificate and state in under these names.
NEW_CA_FILE, NEW_STATE = "new-ca.pem", "new-ca.json"
STATE_TYPE = "x509-ca"
CA_FILE = "ca.pem"
#: An intermediate CA's folder: the CAs above ``ca.pem``, nearest first, ending at the root.
CHAIN_FILE = "chain.pem"
#: An intermediate ceremony also publishes the issuing CA's folder, continued, under this name.
ISSUER_DIR = "issuer"
MAX_CHAIN = 8
CSR = "request.csr"
#: A CA file, a state, a CSR: each far smaller.
MAX_FILE = 256 * 1024
MAX_FILES = 10_000
_NAME = re.compile(r"(ca\.pem|chain\.pem|issued-[0-9a-f]{1,40}\.pem|crl-[0-9]{1,9}\.pem)")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class _Role:
    keyids: list[str]
    threshold: int


@dataclass(frozen=True)
class _Signed:
    """The previous CA as a root view (``Session.previous_keys_of`` reads ``keys`` and
    ``roles["root"]`` to keep a keyholder's key when the plan names the same token)."""

    version: int
    expires: datetime
    keys: dict[str, X509Key]
    roles: dict[str, _Role]


@dataclass(frozen=True)
class _View:
    signed: _Signed
    signed_bytes: bytes


@dataclass(frozen=True)
class CaState:
    """The CA as its last ceremony left it (``ca.json``), with the files it lists."""

    sequence: int
    ca_keyid: str
    ca_sha256: str
    ca_subject: str
    keys: dict[str, X509Key]
    approvers: list[str]
    threshold: int
    serials: list[str]
    crl_number: int
    revoked: list[dict[str, Any]]
    files: dict[str, bytes]

    def ca_certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.files[CA_FILE])

    def ca_name(self) -> x509.Name:
        return self.ca_certificate().subject

    def chain(self) -> list[x509.Certificate]:
        """The CAs above this one (an intermediate's ``chain.pem``), nearest first; a root: none."""
        data = self.files.get(CHAIN_FILE)
        return [] if data is None else list(x509.load_pem_x509_certificates(data))

    def root_certificate(self) -> x509.Certificate:
        """The self-signed root this CA chains to (itself for a root): what a folder is pinned by."""
        return ([self.ca_certificate(), *self.chain()])[-1]

    def chain_pem(self) -> bytes:
        """What an intermediate issued by this CA carries as its ``chain.pem``: this CA's
        certificate, then its own chain."""
        return self.files[CA_FILE] + self.files.get(CHAIN_FILE, b"")

    def view(self, other: CaState | None = None) -> _View:
        """The CA as a root view; with ``other`` (a cross-signing's new CA), its approvers too,
        so that they keep their keys from that CA's record."""
        cert = self.ca_certificate()
        keys, ids = dict(self.keys), [*self.approvers, self.ca_keyid]
        if other is not None:
            keys.update({k: other.keys[k] for k in other.approvers})
            ids += [k for k in other.approvers if k not in ids]
        return _View(_Signed(self.sequence, cert.not_valid_after_utc, keys,
                             {"root": _Role(ids, self.threshold)}), self.files[STATE])


def _bad(what: str) -> VerificationError:
    return VerificationError(f"{what}; refusing to continue this CA",
                             hint="use the metadata/ folder the CA's last ceremony published, "
                                  "unchanged")


def parse_state(data: bytes, files: Mapping[str, bytes], where: str, *, ca_only: bool = False) -> CaState:
    """``ca.json`` checked against the files beside it.

    Raises:
        VerificationError: malformed, a digest differs, the CA certificate does not verify or
            is not the CA key's, an issued certificate was not issued by the CA.
    """
    try:
        d = json.loads(data)
        if d.get("_type") != STATE_TYPE:
            raise ValueError
        keys = {str(k): X509Key.from_dict(str(k), v) for k, v in dict(d["keys"]).items()}
        state = CaState(int(d["sequence"]), str(d["ca_key"]), str(d["files"][CA_FILE]),
                        str(d["ca_subject"]), keys, [str(k) for k in d["approvers"]],
                        int(d["threshold"]), [str(s) for s in d["serials"]],
                        int(d["crl_number"]), [dict(r) for r in d["revoked"]],
                        {**dict(files), STATE: data})
        listed = {str(k): str(v) for k, v in dict(d["files"]).items()}
    except VerificationError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError):
        raise _bad(f"{where}/{STATE} is not an X.509 CA state this tool wrote") from None
    if state.ca_keyid not in keys or any(a not in keys for a in state.approvers):
        raise _bad(f"{where}/{STATE} names a key it does not list")
    for name, digest in listed.items():
        if ca_only and name != CA_FILE:
            continue  # another CA's state, read for its certificate and its approvers only
        if name not in files or _sha256(files[name]) != digest:
            raise _bad(f"{where}/{name} is not the file {STATE} lists (sha256 {digest[:16]}...)")
    try:
        cert = x509.load_pem_x509_certificate(files[CA_FILE])
    except ValueError:
        raise _bad(f"{where}/{CA_FILE} is not a PEM certificate") from None
    if spki(cert.public_key()) != spki(keys[state.ca_keyid].public_key()):
        raise _bad(f"{where}/{CA_FILE} does not certify the CA key {STATE} names")
    _check_chain(cert, files, where)
    for name, data in files.items():
        if name.startswith("issued-"):
            try:
                x509.load_pem_x509_certificate(data).verify_directly_issued_by(cert)
            except (ValueError, TypeError, InvalidSignature):
                raise _bad(f"{where}/{name} was not issued by the CA in {CA_FILE}") from None
        elif name.startswith("crl-"):
            try:
                public: Any = cert.public_key()  # EC or RSA: the CA key spki() matched above
                ok = x509.load_pem_x509_crl(data).is_signature_valid(public)
            except (ValueError, TypeError):
                ok = False
            if not ok:
                raise _bad(f"{where}/{name} is not a CRL signed by the CA in {CA_FILE}")
    if not ca_only:  # its own facts too, not only its digests (issue 16)
        facts.check_facts(where, ca=cert, self_signed=CHAIN_FILE not in files,
                          issued={n: b for n, b in files.items() if n.startswith("issued-")},
                          crls={n: b for n, b in files.items() if n.startswith("crl-")}, state=d)
    return state


def _check_chain(cert: x509.Certificate, files: Mapping[str, bytes], where: str) -> None:
    """``ca.pem`` self-signed, or (an intermediate CA) issued by the first CA of ``chain.pem``,
    each CA there by the next, the last self-signed; every one a CA (basicConstraints cA).

    Raises:
        VerificationError: a link does not verify, or the chain is malformed.
    """
    chain: list[x509.Certificate] = []
    if CHAIN_FILE in files:
        try:
            chain = list(x509.load_pem_x509_certificates(files[CHAIN_FILE]))
        except ValueError:
            raise _bad(f"{where}/{CHAIN_FILE} is not PEM certificates") from None
        if not 1 <= len(chain) <= MAX_CHAIN:
            raise _bad(f"{where}/{CHAIN_FILE} holds {len(chain)} certificates (1 to {MAX_CHAIN})")
    below, below_name = cert, CA_FILE
    for i, up in enumerate(chain):
        if not is_ca(up):
            raise _bad(f"{where}/{CHAIN_FILE}: certificate {i + 1} ({up.subject.rfc4514_string()}) "
                       "is not a CA")
        try:
            below.verify_directly_issued_by(up)
        except (ValueError, TypeError, InvalidSignature):
            raise _bad(f"{where}/{below_name} was not issued by certificate {i + 1} of "
                       f"{CHAIN_FILE} ({up.subject.rfc4514_string()})") from None
        below, below_name = up, f"{CHAIN_FILE} (certificate {i + 1})"
    try:
        below.verify_directly_issued_by(below)
    except (ValueError, TypeError, InvalidSignature):
        raise _bad(f"{where}/{below_name} is not a self-signed certificate that verifies") from None


@dataclass(frozen=True)
class CaReport:
    """A CA folder checked (``rehearse``'s last word): its ceremony number and what it holds."""

    newest_version: int
    lines: list[str]


def verify_folder(directory: Path) -> CaReport:
    """Check a published CA folder as ``init --previous`` would.

    Raises:
        PlanError: not a folder, or no ``ca.json``.
        VerificationError: a file does not verify (see :func:`read_ca_folder`).
    """
    state, files = read_ca_folder(directory)
    issued = sum(1 for n in files if n.startswith("issued-"))
    crls = sum(1 for n in files if n.startswith("crl-"))
    chain = state.chain()
    how = ("self-signed" if not chain else
           f"chained through {CHAIN_FILE} to the root {chain[-1].subject.rfc4514_string()}")
    return CaReport(state.sequence, [
        f"verified: the CA folder {directory} after ceremony #{state.sequence}: {CA_FILE} "
        f"({state.ca_subject}) {how}, {issued} issued certificate(s) and {crls} CRL(s) "
        f"signed by it, every file the digest {STATE} lists"])


def read_ca_folder(directory: Path) -> tuple[CaState, dict[str, bytes]]:
    """The CA folder a previous ceremony published, every file its state lists checked (see
    the module). A file the state does not list is never read: nothing of it reaches the
    ceremony (the folder also holds what other tools use: Notation's files, ``issuer/``).

    Raises:
        PlanError: the folder or its state is missing.
        VerificationError: a listed file is missing or was changed, or the CA does not verify.
    """
    if not directory.is_dir():
        raise PlanError(f"--previous {directory} is not a folder (the metadata/ folder the CA's "
                        "last ceremony published)")
    data = read_input_file(directory / STATE, MAX_FILE, STATE, error=VerificationError,
                           follow_symlinks=False)
    try:
        listed = dict(json.loads(data)["files"])
    except (ValueError, KeyError, TypeError):
        raise _bad(f"{directory}/{STATE} is not an X.509 CA state this tool wrote") from None
    if len(listed) > MAX_FILES:
        raise _bad(f"{directory}/{STATE} lists {len(listed)} files")
    files: dict[str, bytes] = {}
    for name in listed:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise _bad(f"{directory}/{STATE} lists {str(name)[:40]!r}, not a CA file name")
        files[name] = read_input_file(directory / name, MAX_FILE, name, error=VerificationError,
                                      follow_symlinks=False)
    state = parse_state(data, files, str(directory))
    return state, {**files, STATE: data}


def read_previous(directory: Path, journaled: str) -> CaState:
    """The copy of the previous CA folder in ``previous/``, against the digest init journaled.

    Raises:
        VerificationError: ``ca.json`` or a file it lists was changed after init.
    """
    data = read_input_file(directory / STATE, MAX_FILE, STATE, error=VerificationError,
                           follow_symlinks=False)
    if _sha256(data) != journaled:
        raise VerificationError(f"previous/{STATE} was changed after init; refusing",
                                hint="restore the workspace from a copy")
    listed = dict(json.loads(data)["files"])
    files = {str(n): read_input_file(directory / str(n), MAX_FILE, str(n), error=VerificationError,
                                     follow_symlinks=False) for n in listed}
    return parse_state(data, files, "previous")


def read_csr_file(path: Path) -> bytes:
    """The CSR the plan names: a regular file, bounded.

    Raises:
        PlanError: missing, not a regular file, or far too large.
    """
    return read_input_file(path, MAX_FILE, "x509.csr", error=PlanError,
                           too_large="far larger than any certificate request")


def next_state(prev: CaState | None, signed: Any, name: str, pem: bytes) -> dict[str, Any]:
    """The CA's state after this ceremony's artifact (``name``, ``pem``), as plain data."""
    d = signed.data
    keys = signed.keys
    state: dict[str, Any] = {
        "_type": STATE_TYPE, "sequence": signed.version, "ca_key": signed.ca_keyid,
        "ca_subject": prev.ca_subject if prev is not None else str(d["subject"]),
        "keys": {k: v.to_dict() for k, v in keys.items()},
        "approvers": list(signed.roles["root"].keyids), "threshold": signed.roles["root"].threshold,
        "serials": list(prev.serials) if prev is not None else [],
        "crl_number": prev.crl_number if prev is not None else 0,
        "revoked": list(prev.revoked) if prev is not None else [],
    }
    if prev is not None and d.get("operation") == "cross-sign":  # the other CA's approvers only approved
        state.update({"keys": {k: v.to_dict() for k, v in prev.keys.items()},
                      "approvers": list(prev.approvers), "threshold": prev.threshold})
    if d.get("serial"):
        state["serials"].append(str(d["serial"]))
    if signed.kind == "crl":
        state["crl_number"] = int(d["crl_number"])
        state["revoked"] = list(d["revoked"])
    return state


def intermediate_state(signed: Any, ca_keyid: str) -> dict[str, Any]:
    """The new intermediate CA's state (its folder's ``ca.json``) after its certificate was
    signed: its key (made on its holder's token in this ceremony) and this
    ceremony's approvers at their threshold; nothing issued yet."""
    keys = signed.keys
    approvers = list(signed.roles["root"].keyids)
    return {"_type": STATE_TYPE, "sequence": signed.version, "ca_key": ca_keyid,
            "ca_subject": str(signed.data["subject"]),
            "keys": {k: keys[k].to_dict() for k in [*approvers, ca_keyid]},
            "approvers": approvers, "threshold": signed.roles["root"].threshold,
            "serials": [], "crl_number": 0, "revoked": []}


def state_bytes(state: dict[str, Any], files: Mapping[str, bytes]) -> bytes:
    """``ca.json``: the state with the sha256 of every CA file beside it (not Notation's)."""
    listed = {n: _sha256(b) for n, b in sorted(files.items()) if _NAME.fullmatch(n)}
    return json.dumps({**state, "files": listed}, indent=1, sort_keys=True).encode() + b"\n"


def read_new_ca(directory: Path) -> tuple[CaState, dict[str, bytes]]:
    """The new root CA a cross-signing certifies: its folder's ``ca.json`` and ``ca.pem``
    checked (the certificate self-signed, its key the state's CA key), as the files
    ``previous/`` keeps (``new-ca.json``, ``new-ca.pem``).

    Raises:
        PlanError: not a folder, or no state.
        VerificationError: the state or certificate does not verify.
    """
    if not directory.is_dir():
        raise PlanError(f"x509.new_ca: {directory} is not a folder (the new root CA's published metadata/)")
    data = read_input_file(directory / STATE, MAX_FILE, STATE, error=VerificationError, follow_symlinks=False)
    pem = read_input_file(directory / CA_FILE, MAX_FILE, CA_FILE, error=VerificationError, follow_symlinks=False)
    return parse_state(data, {CA_FILE: pem}, str(directory), ca_only=True), {NEW_STATE: data, NEW_CA_FILE: pem}


def read_previous_new_ca(directory: Path, journaled: str) -> CaState:
    """The new CA's copy in ``previous/``, against the digest init journaled.

    Raises:
        VerificationError: changed after init.
    """
    data = read_input_file(directory / NEW_STATE, MAX_FILE, NEW_STATE, error=VerificationError,
                           follow_symlinks=False)
    if _sha256(data) != journaled:
        raise VerificationError(f"previous/{NEW_STATE} was changed after init; refusing",
                                hint="restore the workspace from a copy")
    pem = read_input_file(directory / NEW_CA_FILE, MAX_FILE, NEW_CA_FILE, error=VerificationError,
                          follow_symlinks=False)
    return parse_state(data, {CA_FILE: pem}, "previous (the new CA)", ca_only=True)
