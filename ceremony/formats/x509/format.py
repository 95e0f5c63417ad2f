"""The X.509 CA ceremony as a third format (``format = "x509"``): one workspace, one CA signing
operation, through the same session, steps, journal, record and seal as TUF and Notary.

What was decided (issue 16):

* **One workspace = one CA signing operation**, like one root version for TUF. The plan's
  ``[x509]`` table (:mod:`ceremony.formats.x509.plan`) says which: ``root`` (a self-signed root CA
  certificate, its key made on the CA holder's token by ``keygen``, plus Notation's trust store
  and trust policy), ``intermediate`` (an intermediate CA whose key ``keygen`` makes on the token
  of the keyholder ``x509.intermediate`` names, certified by the previous ceremony's CA key: its
  ``metadata/`` is then the new CA's folder, ``ca.pem`` + ``chain.pem`` (the CAs above it,
  verified link by link on every arrival, pinned by the root at its end) + ``ca.json``, with the
  issuing CA's folder continued under ``issuer/``), ``issue`` (a certificate from a CSR, under the
  CA of the previous ceremony), ``crl`` (the CA's next CRL) or ``cross-sign``. ``init --previous
  CA_DIR`` continues a CA from the folder the previous ceremony published (``metadata/``): its
  ``ca.json`` (the CA's state: the CA and approver keys with their tokens, serials issued, CRL
  number, revocations, the digest of every file), the CA certificate and what it issued, every
  digest checked and the CA certificate verified before anything is copied in (``previous/``, with
  the CSR as ``previous/request.csr``); ``ca.json``'s own facts (subject, serials, CRL number,
  revocations, ceremony counter) are re-derived from the signed artifacts
  (:mod:`ceremony.formats.x509.facts`), and what none of them says (the approvers, the
  threshold, an intermediate's count before it) is journaled as trusted (``previous.trusted``).
  The version of a draft is the ceremony's sequence number in the CA's life (1 for the root).
* **Keyholders** are the approvers and the CA key's holder (``x509.ca``), all listed in
  ``roles.root.keyholders``; each gets a key on their own token through the unchanged keygen
  (PKCS#11, or a YubiKey's PIV slot through ykcs11 with its attestation kept), or keeps the key
  the previous ceremony's ``ca.json`` records when the plan names the same token.
* **draft** builds the TBS certificate (or TBS CRL) with the pure layer and lints it before it
  is journaled: a violation is refused (exit 3, the rule named) and nothing is journaled.
  ``describe`` reads it in words (subject, issuer, validity in UTC, key, extensions, digest).
* **sign**: an approver signs the approval statement over the TBS digest
  (``ceremony.formats.x509.approval``; the signature is journaled as ``signature-added`` with
  ``x509 = "approval"``); the CA holder's sign makes the CA signature over the TBS and is
  refused (exit 6, naming who is missing) until the approvals verify at the threshold, counted
  by distinct approvers' public keys. A second approval by the same approver is the engine's
  "already signed" (exit 8). The verdicts: ``threshold_status`` gives the approvals in the
  ``old`` slot (said first, and what the next step waits for first) and the CA signature as
  ``new``; both are required, so nothing is publishable before both are met.
* **publish** assembles the certificate or CRL from the journaled CA signature, verifies it
  against the CA key, lints it again and writes ``metadata/`` without replacing any file: the
  artifact (``ca.pem`` / ``issued-SERIAL.pem`` / ``crl-N.pem``), the CA's new ``ca.json``, the
  files carried from the previous folder, and for the root Notation's
  ``notation/truststore/x509/ca/STORE/NAME.pem`` and ``notation/trustpolicy.json``. The
  ``published`` event names the artifact; the other files are rebuilt from the journal for
  the record and export checks (``published_extra``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
)

from ceremony.errors import PlanError, StateError, ThresholdError, VerificationError
from ceremony.events import DRAFT_CREATED, PUBLISHED, SIGNATURE_ADDED
from ceremony.formats import tuf as shared  # the x-ceremony-* key fields every format shares
from ceremony.formats.base import ThresholdStatus
from ceremony.formats.defaults import FormatDefaults
from ceremony.formats.protocol import CeremonyView, DetachedAdapter, Draft, Format, FormatClass, InitInputs
from ceremony.formats.token_keys import key_event, open_root_key
from ceremony.formats.x509 import carry, ops, plan as xplan, rehearsal
from ceremony.formats.x509.draft import (
    APPROVAL,
    APPROVERS_ROLE,
    CA_ROLE,
    CA_SIGNATURE,
    DRAFT_TYPE,
    X509Draft,
    X509Signed,
    approvals,
    artifact,
    ca_signature,
    describe_draft,
    pem,
    sha256,
    what,
)
from ceremony.formats.x509.keys import X509Key
from ceremony.inputs import read_input_file
from ceremony.journal import Event
from ceremony.plan import Plan
from ceremony.state import KeyRecord
from ceremony.trusted_start import check_expected, fingerprint_text
from ceremony.workspace import Workspace, atomic_write, refuse_other_outputs, write_missing_outputs
from hsm.algorithms import get_algorithm
from hsm.pkcs11 import Module, PinProvider
from hsm.verify import verify_raw

# ---- the format ---------------------------------------------------------------------------------

TRUST_POLICY = "trustpolicy.json"  # Notation's trust policy, at the top of its config folder
#: Notation's trust store files travel flat in a bundle (plain names only): the path under
#: Notation's config folder with '/' spelled '+' (``truststore+x509+ca+STORE+NAME.pem``), a
#: character no store or file name may hold (Notation allows ``[a-zA-Z0-9_.-]``).
TRUST_STORE_PREFIX = "truststore+"


class X509Format(FormatDefaults, shared.XFieldKeys):
    """The X.509 CA ceremony bound to one workspace (:class:`ceremony.formats.protocol.Format`)."""

    name: ClassVar[str] = "x509"
    #: ``ceremony.plan`` reads these: no online roles, and the format's own ``[x509]`` table.
    online_roles: ClassVar[tuple[str, ...]] = ()
    plan_table: ClassVar[str | None] = xplan.TABLE
    targets_refusal: ClassVar[str | None] = ("--targets reads TUF targets metadata; an X.509 CA "
                                             "revokes by CRL (operation = \"crl\")")
    #: ``ceremony.tui.flow.signing_candidates``: the CA key signs only after the approvals, so
    #: the sign screen offers whom the next step waits for first (the approvers, then the CA).
    signers_in_order: ClassVar[bool] = True
    rehearsal_scenarios: ClassVar[tuple[str, ...]] = ("x509",)
    rehearsal_hint: ClassVar[str | None] = ("an X.509 CA is rehearsed whole: `ceremony rehearse "
                                            "--scenario x509 WORKSPACE`")
    #: ``ceremony.rehearse`` runs these scenarios as a sequence of ceremonies, each step's plan
    #: written by :meth:`rehearsal_plan` from the folder the step before published.
    rehearsal_sequence: ClassVar[Mapping[str, tuple[str, ...]]] = {"x509": rehearsal.STEPS}

    #: ``ceremony.script``'s publish and verify lines for an X.509 ceremony.
    _SCRIPT_PUBLISH: ClassVar[str] = ("assembles the certificate (or CRL) from the CA's signature, "
                                      "verifies it, writes it and the CA's ca.json into metadata/")
    _SCRIPT_VERIFY: ClassVar[tuple[str, str]] = (
        "openssl verify -CAfile WORKSPACE/metadata/ca.pem WORKSPACE/metadata/issued-SERIAL.pem",
        "the certificate chains to the CA (a CRL: openssl crl -verify -CAfile ca.pem -in crl-N.pem)")

    def __init__(self, view: CeremonyView) -> None:
        self.view = view
        self._xplan: xplan.X509Plan | None = None

    def script_publish(self, version: int) -> str:
        """The printable script's publish line (``ceremony.script``): the artifact and ca.json."""
        return self._SCRIPT_PUBLISH

    def script_verify(self, workspace: str, continues: bool) -> tuple[str, str]:
        """The printable script's verify line (``ceremony.script``), openssl's: under an intermediate CA
        (its folder has ``chain.pem``), or for the intermediate itself, openssl is given the
        root as the trust anchor and the intermediate as untrusted."""
        if self.xplan.operation == "intermediate":
            return ("openssl verify -CAfile WORKSPACE/metadata/chain.pem WORKSPACE/metadata/ca.pem",
                    "the intermediate CA's certificate chains to the root (chain.pem)")
        prev = self._ca_state() if self.xplan.operation in ("issue", "crl") else None
        if prev is not None and prev.chain():
            return ("openssl verify -CAfile WORKSPACE/metadata/chain.pem -untrusted "
                    "WORKSPACE/metadata/ca.pem WORKSPACE/metadata/issued-SERIAL.pem",
                    "the certificate chains through the intermediate CA (ca.pem) to the root "
                    "(chain.pem); a CRL: openssl crl -verify -CAfile ca.pem -in crl-N.pem")
        return self._SCRIPT_VERIFY

    @property
    def xplan(self) -> xplan.X509Plan:
        if self._xplan is None:
            self._xplan = xplan.parse(self.view.plan, self.view.ws.plan.read_text())
        return self._xplan

    # ---- the class: init, files from outside, the record -------------------------------------

    @classmethod
    def check_plan(cls, plan: Plan, text: str) -> None:
        xp = xplan.parse(plan, text)
        if xp.profile is not None:
            profile = ops.parse_profile(xp.profile, "x509.profile")
            want = {"root": ("root",), "intermediate": ("intermediate",),
                    "issue": ("intermediate", "leaf")}[xp.operation]
            if ops.profile_kind(profile) not in want:
                article = "an" if want[0][0] in "aeiou" else "a"
                raise PlanError(f"x509.profile.kind is {ops.profile_kind(profile)!r}, but "
                                f"operation = \"{xp.operation}\" makes {article} "
                                f"{' or '.join(want)} certificate")
            algorithm = plan.keyholder(xp.ca).algorithm
            ops.hash_for(algorithm)
            if xp.operation == "root" and profile.key_algorithm != algorithm:
                raise PlanError(f"x509.profile.key_algorithm is {profile.key_algorithm!r} but the CA "
                                f"key's holder {xp.ca} generates {algorithm!r} (keyholders[].algorithm)")
        if xp.trust is not None:
            ops.check_notation(xp.trust)

    @classmethod
    def prepare(cls, plan: Plan, text: str, plan_dir: Path, previous: Path | None,
                trusted: Path | None, expect_root: str | None) -> InitInputs:
        xp = xplan.parse(plan, text)
        if xp.operation == "root":
            if previous is not None:
                raise PlanError("operation = \"root\" starts a new CA: init takes no --previous",
                                hint="--previous CA_DIR continues a CA (issue, crl)")
            return InitInputs(None, {}, {}, [])
        if previous is None:
            raise PlanError(f"operation = \"{xp.operation}\" continues a CA: init needs "
                            "--previous CA_DIR (the metadata/ folder its last ceremony published)")
        state, files = carry.read_ca_folder(Path(previous))
        info = {"version": state.sequence, "sha256": sha256(files[carry.STATE]),
                "versions": [], "ca_sha256": state.ca_sha256,
                "trusted": carry.facts.TRUSTED}  # what no signed artifact in the folder says
        warnings = [cls._anchor(state, Path(previous), trusted, expect_root)]
        if xp.new_ca is not None:  # cross-sign: the new root CA, and both approval sets
            new, new_files = carry.read_new_ca(plan_dir / xp.new_ca)
            if new.ca_keyid == state.ca_keyid:
                raise VerificationError(f"x509.new_ca names the CA {previous} already is: a root "
                                        "does not cross-sign itself")
            if plan.root.threshold != state.threshold + new.threshold:
                raise PlanError(f"roles.root.threshold is {plan.root.threshold}; a cross-signing needs "
                                f"the old CA's {state.threshold} approvals and the new CA's "
                                f"{new.threshold}: set it to {state.threshold + new.threshold}")
            files = {**files, **new_files}
            info["new_ca_sha256"] = sha256(new_files[carry.NEW_STATE])
        if xp.csr is not None:
            data = carry.read_csr_file(plan_dir / xp.csr)
            ops.read_csr(data)  # its own signature, key and hash: refused before init writes
            files = {**files, carry.CSR: data}
            info["csr_sha256"] = sha256(data)
        return InitInputs(info, files, {}, [w for w in warnings if w])

    @staticmethod
    def _anchor(state: carry.CaState, previous: Path, trusted: Path | None,
                expect_root: str | None) -> str | None:
        """Pin the previous folder's CA certificate: ``--expect-root`` (the sha256 of ca.pem's
        DER, as words or hex) and/or ``--trusted`` (a ca.pem the room already trusts); with
        neither, the warning init journals (trust on first use, with the words to compare).

        Raises:
            VerificationError: the CA certificate is not the one expected or trusted.
            PlanError: the trusted file is unreadable.
        """
        der = state.root_certificate().public_bytes(Encoding.DER)  # an intermediate: its root
        fingerprint = sha256(der)
        where = (f"the CA certificate {previous}/{carry.CA_FILE}" if not state.chain() else
                 f"the root certificate at the end of {previous}/{carry.CHAIN_FILE}")
        check_expected(fingerprint, expect_root, where)
        if trusted is not None:
            data = read_input_file(trusted, carry.MAX_FILE, "--trusted", error=PlanError)
            if ops.certificate_der(data) != der:
                mine = carry.CA_FILE if not state.chain() else f"{carry.CHAIN_FILE}'s root"
                raise VerificationError(f"{previous}/{mine} is not the CA certificate in "
                                        f"{trusted}: refusing to continue this CA",
                                        hint="nothing was written; get the CA's folder again")
        if trusted is None and expect_root is None:
            return (f"the {'CA' if not state.chain() else 'root'} certificate in {previous} was "
                    "trusted on first use: compare its "
                    f"fingerprint with the one recorded when the CA was made: "
                    f"{fingerprint_text(fingerprint)}")
        return None

    @classmethod
    def detached(cls) -> DetachedAdapter:
        from ceremony.formats.x509.detached import X509Detached  # lazy: detached signing only

        return X509Detached()

    @classmethod
    def claims(cls, data: bytes) -> bool:
        return f'"{DRAFT_TYPE}"'.encode() in data or f'"{carry.STATE_TYPE}"'.encode() in data

    @classmethod
    def walk_chain(cls, first: bytes, directory: Path, *, check_expiry: bool,
                   trusted_name: str, repository: str | None = None) -> Any:
        raise VerificationError("an X.509 CA has no root chain to walk: verify its certificates "
                                "with `openssl verify` against ca.pem")

    @classmethod
    def verify_folder(cls, directory: Path) -> Any:
        return carry.verify_folder(directory)

    @classmethod
    def draft_words(cls, signed: Any) -> list[str] | None:
        """The TBS of a travelling draft in words (``ceremony.draft_trust``): what a remote
        approver reads before signing."""
        return signed.words() if isinstance(signed, X509Signed) else None

    @classmethod
    def rehearsal_plan(cls, step: str, base: Path, names: list[str], threshold: int, algorithm: str,
                       previous: Path | None) -> Path:
        """The plan of one step of the rehearsed CA (``rehearsal_sequence``), written under
        ``base`` from the ``previous`` step's published folder."""
        return rehearsal.plan_for(step, base, names, threshold, algorithm, previous)

    @classmethod
    def self_signed_root(cls, data: bytes, where: str, repository: str) -> Any:
        raise VerificationError(f"{where} is not a root this tool reads for an X.509 CA")

    @classmethod
    def read_published(cls, directory: Path, trusted_path: Path, trusted: bytes,
                       trusted_name: str, at: datetime,
                       files: dict[int, Path] | None) -> tuple[Any, bool]:
        raise VerificationError("an X.509 CA folder is not read back as a root chain")

    @classmethod
    def check_keyids(cls, root: Any, what: str) -> None:
        for keyid, key in root.keys.items():
            if keyid != sha256(ops.spki(key.public_key())):
                raise VerificationError(f"{what}: key {keyid[:12]} is not the hash of its key")

    @classmethod
    def with_names(cls, root: Any, *named: Any) -> Any:
        return root

    @classmethod
    def rehearsal_key_files(cls, directory: Path, repository: str) -> str:
        return ".pub.pem"

    @classmethod
    def preview_warnings(cls, plan: Plan, plan_dir: Path) -> list[str]:
        return []

    @classmethod
    def online_key_note(cls, path: Path, name: str, data: bytes) -> str | None:
        return None  # an X.509 ceremony has no online keys

    @classmethod
    def record_key_file(cls, event: Mapping[str, Any]) -> bytes:
        return json.dumps({"keyid": event["keyid"], **event["key"]}, indent=1,
                          sort_keys=True).encode()

    @classmethod
    def _journaled(cls, events: list[Event]) -> tuple[X509Draft, Event]:
        """The published draft with its journaled signatures, and its ``published`` event.

        Raises:
            StateError: nothing published.
            VerificationError: the journaled draft is not an X.509 draft.
        """
        pub = next((e for e in reversed(events) if e.type == PUBLISHED), None)
        if pub is None:
            raise StateError("nothing has been published yet")
        draft = next(e for e in reversed(events) if e.type == DRAFT_CREATED and e.seq < pub.seq)
        sigs = {str(e.data["keyid"]): str(e.data["sig"]) for e in events
                if e.type == SIGNATURE_ADDED and e.seq < pub.seq
                and e.data.get("draft") == draft.data["digest"]}
        return X509Draft(X509Signed.checked(draft.data["signed"], "the journaled draft"), sigs), pub

    @classmethod
    def record_sealers(cls, ws: Workspace, events: list[Event]) -> list[tuple[str, str, Any]]:
        md, pub = cls._journaled(events)
        path = ws.metadata / pub.data["files"][0]
        if not path.is_file() or sha256(path.read_bytes()) != pub.data["sha256"]:
            raise VerificationError(f"metadata/{path.name} differs from what was published")
        keys = md.signed.keys
        signed = set(approvals(md).signed) | set(ca_signature(md).signed)
        return [(shared.key_name(keys[k]), k, keys[k]) for k in sorted(md.signatures)
                if k in keys and shared.key_name(keys[k]) in signed]

    @classmethod
    def record_check_published(cls, ws: Workspace, events: list[Event], version: int,
                               data: bytes, name: str) -> tuple[str | None, str | None]:
        try:
            md, _ = cls._journaled(events)
        except (StateError, VerificationError, StopIteration) as e:
            return f"metadata/{name}: {getattr(e, 'message', 'no journaled draft')}", None
        st = ThresholdStatus(md.signed.version, ca_signature(md), approvals(md))
        if not st.verified:
            return f"metadata/{name} is not signed at threshold: " + "; ".join(st.lines()), None
        sig = md.signatures[md.signed.ca_keyid]
        want = pem("X509 CRL" if md.signed.kind == "crl" else "CERTIFICATE",
                    artifact(md.signed, bytes.fromhex(sig)))
        if data != want:
            return f"metadata/{name} is not the artifact the journaled TBS and CA signature make", None
        return None, (f"metadata/{name} is the journaled TBS signed by the CA key after its "
                      f"approvals ({'; '.join(st.lines())})")

    @classmethod
    def record_describe_published(cls, ws: Workspace, events: list[Event]) -> list[str]:
        md, _ = cls._journaled(events)
        st = ThresholdStatus(md.signed.version, ca_signature(md), approvals(md))
        return [*describe_draft(md.signed), *st.lines()]

    def init_lines(self) -> list[str]:
        """What ``init`` says of who signs (``ceremony.cli``'s summary): the approvers at their
        threshold and the CA key's holder (not a "root" of N keyholders), an intermediate's key
        holder, and which CA the ceremony continues."""
        xp = self.xplan
        lines = [f"operation: {xp.operation}",
                 f"approvers: {xp.threshold} of {len(xp.approvers)} ({', '.join(xp.approvers)}), "
                 "before the CA key signs",
                 f"CA key holder: {xp.ca}"]
        if xp.intermediate is not None:
            lines.append(f"intermediate CA key holder: {xp.intermediate} (a new key, made on their token)")
        prev = self._ca_state()
        if prev is not None:
            lines.append(f"continues the CA {prev.ca_subject} after its ceremony #{prev.sequence} "
                         f"({carry.STATE} and every file it lists verified)")
        return lines

    # ---- keys ----------------------------------------------------------------------------------

    def online_keys(self) -> dict[str, list[Any]]:
        return {}

    def describe_key(self, keyholder: str, tk: Any, intent: dict[str, Any], now: datetime | None,
                     attestation: dict[str, Any] | None = None) -> tuple[dict[str, Any], bytes]:
        public = tk.public_key()
        der = public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        pem = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
        fields: dict[str, Any] = {
            shared.X_KEYHOLDER: keyholder, shared.X_TOKEN_LABEL: tk.token.label,
            shared.X_TOKEN_SERIAL: tk.token.serial, shared.X_KEY_URI: tk.ref.uri(),
            shared.X_ALGORITHM: intent["algorithm"]}
        if attestation is not None:  # a YubiKey: its PIV attestation kept with the key
            fields[shared.X_DEVICE] = "yubikey"
            fields[shared.X_ATTESTATION] = attestation
        key = X509Key(sha256(der), pem, fields)
        data = key_event(keyholder, key.to_dict(), key.keyid, tk, intent)
        return data, self.key_file_from_event(data)

    def key_file_from_event(self, event: dict[str, Any]) -> bytes:
        return self.record_key_file(event)

    def key_from_record(self, rec: KeyRecord) -> X509Key:
        return X509Key.from_dict(rec.keyid, rec.key)

    # ---- previous CA ---------------------------------------------------------------------------

    def _ca_state(self) -> carry.CaState | None:
        info = self.view.state.init.get("previous")
        if not info:
            return None
        return carry.read_previous(self.view.ws.previous, str(info["sha256"]))

    def _new_ca_state(self) -> carry.CaState | None:
        """A cross-signing's new root CA, as copied in at init (digest-checked)."""
        want = (self.view.state.init.get("previous") or {}).get("new_ca_sha256")
        return None if not want else carry.read_previous_new_ca(self.view.ws.previous, str(want))

    def previous_root(self) -> Any:
        st = self._ca_state()
        return None if st is None else st.view(self._new_ca_state())

    def previous_version(self, version: int) -> Any:
        raise VerificationError("an X.509 CA keeps no root chain")

    # ---- draft ---------------------------------------------------------------------------------

    def build_draft(self, root_keys: Sequence[Any], now: datetime | None) -> Draft:
        now = (now or datetime.now(UTC)).replace(microsecond=0)
        xp = self.xplan
        keys = {k.keyid: k for k in root_keys}
        by_name = {shared.key_name(k): k for k in root_keys}
        ca_key = by_name[xp.ca]
        approvers = [by_name[a].keyid for a in xp.approvers]
        algorithm = str(ca_key.unrecognized_fields[shared.X_ALGORITHM])
        ca_public = ca_key.public_key()
        prev = self._ca_state()
        if prev is not None and prev.ca_keyid != ca_key.keyid:
            raise VerificationError(f"{xp.ca}'s key {ca_key.keyid[:12]} is not the CA key of the "
                                    f"previous ceremony ({prev.ca_keyid[:12]}): it cannot sign for "
                                    "this CA", hint="name the CA's token for x509.ca in the plan")
        sets: dict[str, tuple[list[str], int]] = {}
        data: dict[str, Any] = {"_type": DRAFT_TYPE, "version": 1 if prev is None else prev.sequence + 1,
                                "operation": xp.operation}
        if xp.operation == "crl":
            assert prev is not None
            known = {int(s, 16) for s in prev.serials}
            already = {int(str(e["serial"]), 16) for e in prev.revoked}  # the newest CRL's (carry.facts)
            for r in xp.revoke:
                if r.serial not in known:
                    raise VerificationError(f"x509.revoke names serial {r.serial:x}, which this CA "
                                            "never issued (its ca.json lists every serial)")
                if r.serial in already:
                    raise VerificationError(f"x509.revoke names serial {r.serial:x}, which the CA's last "
                                            f"CRL (crl-{prev.crl_number}.pem) already revokes: every "
                                            "later CRL keeps it", hint="remove it from x509.revoke")
            entries = sorted({(int(e["serial"], 16), datetime.fromisoformat(e["revoked_at"]),
                               str(e["reason"])) for e in prev.revoked}
                             | {(r.serial, r.revoked_at, r.reason) for r in xp.revoke})
            number = prev.crl_number + 1
            next_update = now + self.view.plan.root.expires
            tbs = ops.crl_tbs(prev.ca_name(), ca_public, entries, now, next_update, number, algorithm,
                              prev.ca_certificate())
            data.update({"kind": "crl", "crl_number": number, "subject": prev.ca_subject,
                         "expires": next_update.isoformat(),
                         "revoked": [{"serial": f"{s:x}", "revoked_at": t.isoformat(), "reason": why}
                                     for s, t, why in entries]})
        elif xp.operation == "cross-sign":
            assert prev is not None
            new = self._new_ca_state()
            assert new is not None  # init copied it in
            serial = ops.random_serial()
            tbs = ops.cross_tbs(new.ca_certificate(), prev.ca_certificate(), serial, algorithm)
            validity = ops.tbs_validity(tbs.der)
            data.update({"kind": tbs.kind, "serial": f"{serial:x}", "subject": new.ca_subject,
                         "expires": validity.isoformat(), "new_ca": new.ca_sha256})
            keys.update({k: new.keys[k] for k in new.approvers})
            keys.update({k: prev.keys[k] for k in prev.approvers})
            sets = {"old-set": (prev.approvers, prev.threshold), "new-set": (new.approvers, new.threshold)}
        else:
            assert xp.profile is not None
            profile = ops.parse_profile(xp.profile, "x509.profile")
            serial = ops.random_serial()
            requested: tuple[Any, ...] = ()
            if xp.operation == "root":
                subject_key, issuer_name = ca_public, profile.subject_name()
            elif xp.operation == "intermediate":
                assert prev is not None and xp.intermediate is not None
                held = by_name[xp.intermediate]
                if held.keyid in prev.keys:
                    raise VerificationError(f"{xp.intermediate}'s key {held.keyid[:12]} is already a key "
                                            "of the CA continued here: an intermediate CA's key is "
                                            "made new, on its holder's own token",
                                            hint=f"name a new token for {xp.intermediate} in the plan")
                subject_key, issuer_name = held.public_key(), prev.ca_name()
                data["intermediate_key"] = held.keyid
            else:
                assert prev is not None
                info = ops.read_csr(self._csr())
                subject_key, requested, issuer_name = info.public_key, info.extensions, prev.ca_name()
            tbs = ops.certificate_tbs(profile, subject_key, issuer_name, ca_public, serial, algorithm,
                                      requested, prev.ca_certificate() if prev is not None else None)
            data.update({"kind": tbs.kind, "serial": f"{serial:x}", "subject": profile.subject,
                         "expires": profile.not_after.astimezone(UTC).isoformat()})
            if xp.operation == "issue":
                data["csr_sha256"] = sha256(self._csr())
        data.update({
            "tbs": tbs.der.hex(), "tbs_sha256": tbs.digest,
            "ceremony": f"{self.view.plan.name}:{self.view.state.init['plan_sha256']}",
            "keys": {k: v.to_dict() for k, v in keys.items()},
            "roles": {APPROVERS_ROLE: {"keyids": approvers, "threshold": xp.threshold},
                      CA_ROLE: {"keyids": [ca_key.keyid], "threshold": 1},
                      **{r: {"keyids": list(ids), "threshold": t} for r, (ids, t) in sets.items()}}})
        md = X509Draft(X509Signed(data))
        return Draft(md, {"version": md.signed.version, "digest": sha256(md.signed_bytes),
                          "signed": data, "created": now.isoformat()})

    def _csr(self) -> bytes:
        """The CSR copied in at init, checked against the digest init journaled.

        Raises:
            VerificationError: it was changed or removed.
        """
        want = (self.view.state.init.get("previous") or {}).get("csr_sha256")
        path = self.view.ws.previous / carry.CSR
        try:
            data = path.read_bytes()
        except OSError:
            raise VerificationError(f"previous/{carry.CSR} is missing; it was copied in at init") from None
        if sha256(data) != want:
            raise VerificationError(f"previous/{carry.CSR} was changed after init; refusing")
        return data

    def rebuilt_digest(self, root_keys: Sequence[Any], version: int, created: datetime,
                       online: dict[str, list[dict[str, Any]]]) -> str | None:
        return None  # a TBS holds a random serial: it is checked by its digest, not rebuilt

    def draft_metadata(self) -> X509Draft:
        d = self.view.state.draft
        if d is None:
            raise StateError("there is no draft yet", hint="run `ceremony draft WORKSPACE` first")
        return X509Draft(X509Signed.checked(d["signed"], "the journaled draft"),
                         {k: str(s["sig"]) for k, s in self.view.state.signatures.items()})

    def draft_bytes(self) -> bytes:
        return self.draft_metadata().to_bytes()

    def write_draft(self) -> None:
        md = self.draft_metadata()
        atomic_write(self.view.ws.draft_path(md.signed.version), md.to_bytes())

    def draft_roles(self, signed: Mapping[str, Any]) -> dict[str, tuple[list[dict[str, Any]], Any]]:
        s = X509Signed.checked(signed, "the journaled draft")
        return {name: ([{"keyid": k} for k in role.keyids], role.threshold)
                for name, role in s.roles.items()}

    def draft_file_digest(self, data: bytes, name: str) -> str | None:
        return sha256(X509Draft.from_bytes(data, name).signed_bytes)

    def describe(self, md: Any) -> list[str]:
        return describe_draft(md.signed)

    def changes(self, md: Any) -> list[str]:
        s = md.signed
        if s.data["operation"] == "root":
            return [f"a new root CA: {s.data['subject']}"]
        if s.data["operation"] == "intermediate":
            key = s.keys[s.data["intermediate_key"]]
            return [f"a new intermediate CA: {s.data['subject']}, its key {key.keyid[:12]} made on "
                    f"{shared.keyholder_of(key)}'s token, certified by the CA"]
        return [f"the CA issues the {what(s)}"]

    # ---- sign ----------------------------------------------------------------------------------

    def keys_of(self, keyholder: str) -> list[Any]:
        s = self.draft_metadata().signed
        keys = s.keys
        ids = [*s.roles[APPROVERS_ROLE].keyids, s.ca_keyid]
        return [keys[k] for k in ids if shared.keyholder_of(keys[k]) == keyholder]

    def signing_payload(self, md: Any) -> bytes:
        return bytes(md.signed.statement)  # an approver's; the CA key signs the TBS (sign_one)

    def sign_one(self, keyholder: str, key: Any, module: Module, pin: PinProvider,
                 on_touch: Any, payload: bytes) -> tuple[dict[str, Any], str]:
        md = self.draft_metadata()
        s = md.signed
        algorithm = get_algorithm(str(key.fields[shared.X_ALGORITHM]))
        if key.keyid == s.ca_keyid:
            verdict = approvals(md)
            if not verdict.met:
                raise ThresholdError(f"the CA key does not sign the {what(s)} before its "
                                     f"approvals verify: {verdict.describe()}",
                                     hint="each approver signs first: `ceremony sign WORKSPACE "
                                          "--keyholder NAME`; nothing was signed", verdict=verdict)
            tk = open_root_key(key, module, pin, on_touch)
            sig_der = ops.signature_der(algorithm.name, tk.sign_raw(s.tbs))
            artifact(s, sig_der)  # verified against the CA key before it is journaled
            return {"sig": sig_der.hex(), "x509": CA_SIGNATURE}, str(tk.token.serial)
        statement = s.statement
        tk = open_root_key(key, module, pin, on_touch)
        sig = tk.sign_raw(statement)
        verify_raw(key.public_key(), algorithm, statement, sig, keyholder)
        return ({"sig": sig.hex(), "x509": APPROVAL, "tbs_sha256": sha256(s.tbs)},
                str(tk.token.serial))

    def threshold_status(self, md: Any, previous: Any | None) -> ThresholdStatus:
        return ThresholdStatus(md.signed.version, ca_signature(md), approvals(md))

    # ---- publish -------------------------------------------------------------------------------

    def _outputs(self, md: X509Draft) -> tuple[str, bytes, dict[str, bytes]]:
        """The artifact's file name and PEM, and every other file published beside it.

        Raises:
            VerificationError: the CA signature does not verify, or lint refuses the result.
        """
        s = md.signed
        sig = md.signatures.get(s.ca_keyid)
        if sig is None:
            raise VerificationError("the CA key has not signed the draft")
        der = artifact(s, bytes.fromhex(sig))
        prev = self._ca_state()
        extra: dict[str, bytes] = dict(prev.files) if prev is not None else {}
        extra.pop(carry.STATE, None)
        extra.pop(carry.CSR, None)
        if s.kind == "crl":
            name, data = f"crl-{s.data['crl_number']}.pem", pem("X509 CRL", der)
        elif s.data["operation"] == "intermediate":
            assert prev is not None
            return self._intermediate_outputs(s, der, prev, extra)
        else:
            ops.lint_certificate(der, s.kind, prev.ca_certificate() if prev is not None else None)
            if prev is not None:  # the chain too: issuer name and AKI = the CA's SKI
                ops.verify_certificate(der, prev.ca_certificate())
            data = pem("CERTIFICATE", der)
            name = carry.CA_FILE if s.kind == "root" else f"issued-{s.data['serial']}.pem"
        if s.kind == "root":
            notation = self.xplan.trust
            if notation is not None:
                for rel, body in ops.notation_files(notation, data, self.view.plan.repository).items():
                    extra[f"notation/{rel}"] = body
        state = carry.next_state(prev, s, name, data)
        all_files = {**extra, name: data}
        extra[carry.STATE] = carry.state_bytes(state, all_files)
        return name, data, extra

    @staticmethod
    def _intermediate_outputs(s: X509Signed, der: bytes, prev: carry.CaState,
                              issuer_files: dict[str, bytes]) -> tuple[str, bytes, dict[str, bytes]]:
        """An intermediate ceremony's folder: the NEW CA's (its certificate as ``ca.pem``, the
        CAs above it as ``chain.pem``, its ``ca.json``: what a later ``issue``/``crl`` continues
        with ``init --previous``), and under ``issuer/`` the issuing CA's own folder continued
        (the intermediate as one more certificate it issued, its serial in its ``ca.json``).

        Raises:
            VerificationError: the certificate does not lint or verify under its issuer.
        """
        ops.lint_certificate(der, "intermediate", prev.ca_certificate())
        ops.verify_certificate(der, prev.ca_certificate())
        data = pem("CERTIFICATE", der)
        issued = f"issued-{s.data['serial']}.pem"
        up = {**issuer_files, issued: data}
        extra = {f"{carry.ISSUER_DIR}/{n}": b for n, b in up.items()}
        extra[f"{carry.ISSUER_DIR}/{carry.STATE}"] = carry.state_bytes(
            carry.next_state(prev, s, issued, data), up)
        mine = {carry.CA_FILE: data, carry.CHAIN_FILE: prev.chain_pem()}
        extra[carry.CHAIN_FILE] = mine[carry.CHAIN_FILE]
        extra[carry.STATE] = carry.state_bytes(
            carry.intermediate_state(s, str(s.data["intermediate_key"])), mine)
        return carry.CA_FILE, data, extra

    def write_published(self, md: Any) -> tuple[bytes, list[Path]]:
        """The artifact and every file beside it, each written once and never replaced.

        A file already there with exactly the bytes this publish writes is kept: a publish
        killed part-way (a crash, a power cut) wrote it, and running publish again finishes
        the folder. Any other file in an output's place (other bytes, a link, a folder) is
        refused before anything is written.

        Raises:
            VerificationError: an output's place holds something else; nothing was published.
            WorkspaceError: a write failed.
        """
        name, data, extra = self._outputs(md)
        ws = self.view.ws
        outputs = {(ws.metadata / rel).relative_to(ws.root).as_posix(): body
                   for rel, body in {name: data, **extra}.items()}
        refuse_other_outputs(ws.root, outputs)
        write_missing_outputs(ws.root, outputs)
        return data, [ws.metadata / name]

    def export_files(self) -> dict[str, bytes]:
        """What ``export`` carries out once published (``ceremony.transfer``): the CA's folder as
        it stands (flat: the artifact, ``ca.pem``, an intermediate's ``chain.pem``, what the CA
        issued, its CRLs, ``ca.json``) and Notation's ``trustpolicy.json`` with the trust store
        certificate it names (``truststore+x509+ca+STORE+NAME.pem``: the verifying side installs
        both), each file read back and compared with what the journal rebuilds (the artifact
        with the digest its ``published`` event recorded).

        Raises:
            VerificationError: a file is missing or differs; nothing is exported.
        """
        name, data, extra = self._outputs(self.draft_metadata())
        want = {n: (n, b) for n, b in {name: data, **extra}.items() if "/" not in n}
        for rel, body in extra.items():  # Notation's files: the policy and the trust store
            if rel == f"notation/{TRUST_POLICY}":
                want[TRUST_POLICY] = (rel, body)
            elif rel.startswith(f"notation/{TRUST_STORE_PREFIX[:-1]}/"):
                want[rel.removeprefix("notation/").replace("/", "+")] = (rel, body)
        out: dict[str, bytes] = {}
        for n, (rel, body) in want.items():
            path = self.view.ws.metadata / rel
            got = read_input_file(path, carry.MAX_FILE, f"metadata/{rel}", error=VerificationError,
                                  follow_symlinks=False)
            if got != body:
                raise VerificationError(f"metadata/{rel} differs from what the journal records; "
                                        "nothing was exported", hint="restore it from a copy")
            out[n] = got
        return out

    @classmethod
    def check_bundle(cls, files: Mapping[str, bytes], expect_root: str | None) -> tuple[list[str], None]:
        """A CA folder arriving in a bundle, checked as ``init --previous`` checks it (and pinned
        by ``expect_root``, the CA certificate's fingerprint) before anything is written.

        Raises:
            VerificationError: a file does not verify.
        """
        import tempfile  # lazy: a bundle's arrival only

        with tempfile.TemporaryDirectory() as tmp:
            for n, body in files.items():
                if n != TRUST_POLICY and not n.startswith(TRUST_STORE_PREFIX):
                    (Path(tmp) / n).write_bytes(body)
            try:
                state, _ = carry.read_ca_folder(Path(tmp))
                report = carry.verify_folder(Path(tmp))
            except (PlanError, VerificationError) as e:
                raise VerificationError(e.message.replace(tmp + "/", "").replace(tmp, "the bundle"),
                                        e.hint) from None
        fingerprint = sha256(state.root_certificate().public_bytes(Encoding.DER))
        check_expected(fingerprint, expect_root, "the bundle's CA certificate ca.pem" if not state.chain()
                       else f"the bundle's root certificate (the end of {carry.CHAIN_FILE})")
        notes = [line.replace(tmp, "the bundle") for line in report.lines]
        if TRUST_POLICY in files:
            ops.check_trust_policy(files[TRUST_POLICY])
            notes.append(f"{TRUST_POLICY}: Notation's trust policy, valid")
        root = state.root_certificate().public_bytes(Encoding.DER)
        for n in sorted(n for n in files if n.startswith(TRUST_STORE_PREFIX)):
            notes.append(ops.check_trust_store_file(n, files[n], root))
        if expect_root is None:
            notes.append(f"ca.pem fingerprint (compare with the CA's record): {fingerprint_text(fingerprint)}")
        return notes, None

    def published_files(self) -> dict[str, bytes]:
        """The artifact and every file written beside it (``ca.json``, the carried files,
        Notation's, an intermediate's ``issuer/`` folder), as :meth:`write_published` wrote them."""
        name, data, extra = self._outputs(self.draft_metadata())
        return {name: data, **extra}

    def published_extra(self, name: str, version: int) -> bytes | None:
        return self._outputs(self.draft_metadata())[2].get(name)

    # ---- checks --------------------------------------------------------------------------------

    def plan_online_keys(self, base: Path) -> dict[str, list[dict[str, Any]]]:
        return {}


if TYPE_CHECKING:  # mypy proves the class and its objects are what the protocol says
    _CLASS: FormatClass = X509Format
    _FORMAT: Callable[[CeremonyView], Format] = X509Format
