"""The ceremony's state: a pure fold over the journal's events.

Nothing here does I/O; :func:`replay` turns events into a :class:`State`, and
the engine asks it what is done and what is next. Because state is only ever
derived from the journal, a crash at any point resumes exactly where the last
fsynced event left it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ceremony.journal import Event

# Event types, in the order a ceremony usually produces them.
INITIALIZED = "initialized"
PREFLIGHT = "preflight"
KEYGEN_INTENT = "keygen-intent"
KEY_GENERATED = "key-generated"
# A resumed keygen removed what its interrupted attempt left on the token (hsm.leftovers).
KEYGEN_RECOVERED = "keygen-recovered"
DRAFT_CREATED = "draft-created"
SIGNATURE_ADDED = "signature-added"
PUBLISHED = "published"
EXPORTED = "exported"
IMPORTED = "imported"
CONFIRMED = "confirmed"  # operator confirmations (not folded by State; kept in the journal)
SEAL_SIGNATURE = "seal-signature"
SEALED = "sealed"
# FIDO2 witnesses (ceremony.witness): a credential enrolled, a sign-off over a journal head.
WITNESS_ENROLLED = "witness-enrolled"
WITNESS_SIGNED = "witness-signed"
# A PIN asked for by a token step, and what became of it (ceremony.pin_audit); never the PIN.
PIN_ATTEMPT = "pin-attempt"
# An incomplete last journal line set aside (ceremony.journal.Journal.recover). Not folded.
JOURNAL_RECOVERED = "journal-recovered"


@dataclass
class KeyRecord:
    """A root key generated in this ceremony, and where it lives."""

    keyholder: str
    key: dict[str, Any]  # TUF key dict with x- fields (or the format's own form)
    keyid: str
    algorithm: str
    token_label: str | None
    token_serial: str | None
    key_id_hex: str
    uri: str
    device: str = "pkcs11"  # or "yubikey"
    attestation: dict[str, Any] | None = None  # YubiKeys: the verdict and the trust it used


@dataclass
class State:
    """What the journal says has happened."""

    init: dict[str, Any] = field(default_factory=dict)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, KeyRecord] = field(default_factory=dict)
    draft: dict[str, Any] | None = None
    signatures: dict[str, dict[str, Any]] = field(default_factory=dict)  # keyid -> event data
    published: list[int] = field(default_factory=list)
    preflight: dict[str, Any] | None = None
    exports: list[dict[str, Any]] = field(default_factory=list)
    sealed: dict[str, Any] | None = None
    witnesses: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> enrolment
    witness_signoffs: list[dict[str, Any]] = field(default_factory=list)
    head: str = "0" * 64
    count: int = 0

    @property
    def draft_digest(self) -> str | None:
        """sha256 of the current draft's signed bytes."""
        return self.draft["digest"] if self.draft else None

    @property
    def draft_published(self) -> bool:
        """Whether the current draft has been published."""
        if not self.draft:
            return False
        return self.draft["version"] in self.published

    def signers(self) -> list[str]:
        """Keyholders who have signed the current draft, in signing order."""
        seen: list[str] = []
        for s in self.signatures.values():
            if s["keyholder"] not in seen:
                seen.append(s["keyholder"])
        return seen


def replay(events: list[Event]) -> State:
    """Fold the journal into a :class:`State` (pure)."""
    s = State()
    for e in events:
        d = e.data
        if e.type == INITIALIZED:
            s.init = d
        elif e.type == PREFLIGHT:
            s.preflight = d
        elif e.type == KEYGEN_INTENT:
            s.intents[d["keyholder"]] = d
        elif e.type == KEY_GENERATED:
            s.keys[d["keyholder"]] = KeyRecord(
                d["keyholder"], d["key"], d["keyid"], d["algorithm"], d.get("token_label"),
                d.get("token_serial"), d["key_id_hex"], d["uri"], d.get("device", "pkcs11"),
                d.get("attestation"))
        elif e.type == DRAFT_CREATED:
            s.draft = d
            s.signatures = {}
        elif e.type == SIGNATURE_ADDED:
            s.signatures[d["keyid"]] = d
        elif e.type == PUBLISHED:
            s.published.append(d["version"])
        elif e.type == EXPORTED:
            s.exports.append(d)
        elif e.type == SEALED:
            s.sealed = d
        elif e.type == WITNESS_ENROLLED:
            s.witnesses[d["witness"]] = d
        elif e.type == WITNESS_SIGNED:
            s.witness_signoffs.append(d)
        s.head = e.hash
        s.count = e.seq
    return s
