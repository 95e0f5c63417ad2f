"""``ceremony rehearse --scenario x509``: the plans of a rehearsed CA's life, one per ceremony.

The rehearsal (``ceremony.rehearse``) runs the steps in order, each a whole ceremony on the
throwaway tokens continuing from the folder the one before published: ``root`` (the root CA, its
key born on the token ``rehearsal-ca``, with Notation's trust store and policy),
``intermediate`` (``operation = "intermediate"``: the intermediate CA's key born on the token
``rehearsal-ica``, certified by the root CA key under the root's approvals), ``leaf`` (a
code-signing certificate issued by the intermediate from a CSR made here by a software key, as a
requester outside the tool would: the private key is dropped at once), ``crl`` (the
intermediate's CRL revoking the leaf). This module
writes each plan (and CSR) from the previous result; it touches no token and journals nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from ceremony.errors import VerificationError
from ceremony.formats.tuf import X_KEYHOLDER  # the x-ceremony-* key fields every format shares
from ceremony.formats.x509 import carry

STEPS = ("root", "intermediate", "leaf", "crl")
CA_HOLDER = "ca"
INTERMEDIATE_HOLDER = "ica"  # the intermediate CA key's holder (its own token)
ROOT_SUBJECT = "CN=Rehearsal Root CA,O=Rehearsal,ST=Nowhere,C=ZZ"
SUBJECTS = {"intermediate": "CN=Rehearsal Signing CA,O=Rehearsal,ST=Nowhere,C=ZZ",
            "leaf": "CN=Rehearsal Code Signing,O=Rehearsal,ST=Nowhere,C=ZZ"}
YEARS = {"root": 10, "intermediate": 5, "leaf": 1}


def _utc(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _head(name: str, names: list[str], threshold: int, algorithm: str, ca: str,
          extra: tuple[str, ...] = ()) -> list[str]:
    lines = ["[ceremony]", f'name = "{name}"', 'format = "x509"', 'repository = "rehearsal-ca"',
             "rehearsal = true", ""]
    for k in [*names, ca, *extra]:
        lines += ["[[keyholders]]", f'name = "{k}"', f'token = "rehearsal-{k}"',
                  f'algorithm = "{algorithm}"', ""]
    members = ", ".join(f'"{k}"' for k in [*names, ca, *extra])
    return [*lines, "[roles.root]", f"keyholders = [{members}]", f"threshold = {threshold}",
            'expires = "30d"', ""]


def _profile(kind: str, subject: str, algorithm: str) -> list[str]:
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    lines = ["[x509.profile]", f'kind = "{kind}"', f"subject = {json.dumps(subject)}",
             f'not_before = "{_utc(start)}"',
             f'not_after = "{_utc(start + timedelta(days=365 * YEARS[kind]))}"']
    if kind == "root":
        lines += ["path_length = 1", f'key_algorithm = "{algorithm}"']
    elif kind == "intermediate":
        lines.append("path_length = 0")
    return [*lines, ""]


def _csr(path: Path, subject: str) -> None:
    """A CSR made outside the tool by a software key (dropped at once: nothing here signs with it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name.from_rfc4514_string(subject)).sign(key, hashes.SHA256()))
    path.write_bytes(csr.public_bytes(Encoding.PEM))


def _ca_holder(previous: Path) -> str:
    """Who holds the CA key of the folder a step continues (its ``ca.json`` names the keyholder;
    the intermediate's after the intermediate step, the root's for a leaf issued by the root)."""
    state = json.loads((previous / carry.STATE).read_bytes())
    return str(state["keys"][state["ca_key"]].get(X_KEYHOLDER, CA_HOLDER))


def plan_for(step: str, base: Path, names: list[str], threshold: int, algorithm: str,
             previous: Path | None) -> Path:
    """Write the plan of rehearsal ``step`` under ``base`` (from the ``previous`` folder for the
    steps after the root); its path.

    Raises:
        VerificationError: the previous folder names no certificate to revoke.
    """
    folder = base / f"x509-{step}"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"rehearsal-ca-{step}"
    if step == "intermediate":  # the root CA certifies a key born on the intermediate's token
        lines = _head(name, names, threshold, algorithm, CA_HOLDER, (INTERMEDIATE_HOLDER,))
        lines += ["[x509]", 'operation = "intermediate"', f'ca = "{CA_HOLDER}"',
                  f'intermediate = "{INTERMEDIATE_HOLDER}"', "",
                  *_profile("intermediate", SUBJECTS["intermediate"], algorithm)]
        path = folder / "plan.toml"
        path.write_text("\n".join(lines))
        return path
    ca = CA_HOLDER if previous is None else _ca_holder(previous)  # the leaf and CRL: the previous CA's
    lines = _head(name, names, threshold, algorithm, ca)
    table = ["[x509]", f'operation = "{"issue" if step in SUBJECTS else step}"', f'ca = "{ca}"']
    if step == "root":
        lines += [*table, "", *_profile("root", ROOT_SUBJECT, algorithm),
                  "[x509.trust]", 'store = "rehearsal"', "", "[[x509.trust.policies]]",
                  'name = "rehearsal-images"', 'registry_scopes = ["*"]', 'level = "strict"',
                  f"identities = [{json.dumps(SUBJECTS['leaf'])}]", ""]
    elif step in SUBJECTS:
        _csr(folder / f"{step}.csr", SUBJECTS[step])
        lines += [*table, f'csr = "{step}.csr"', "", *_profile(step, SUBJECTS[step], algorithm)]
    else:
        assert previous is not None
        state = json.loads((previous / carry.STATE).read_bytes())
        serials = [str(s) for s in state.get("serials", [])]
        if not serials:
            raise VerificationError(f"{previous}/{carry.STATE} lists no certificate to revoke")
        lines += [*table, "", "[[x509.revoke]]", f'serial = "{serials[-1]}"', 'reason = "keyCompromise"',
                  f'revoked_at = "{_utc(datetime.now(UTC).replace(microsecond=0))}"', ""]
    path = folder / "plan.toml"
    path.write_text("\n".join(lines))
    return path
