"""Keygen: a keyholder's root key made on their token, journaled exactly once.

A PKCS#11 keygen journals its intent (with the key's random CKA_ID) before the
token is asked to generate anything; a run killed after that finds what the
token was left with (:mod:`hsm.leftovers`): a complete pair is adopted, never made
twice, and half-made objects are journaled (``keygen-recovered``) and removed.

A YubiKey keyholder (``device = "yubikey"``) gets the key in PIV slot 9c, made
now (``provision``) or adopted, and recorded only once its attestation verified
(the trust and the checks are :mod:`ceremony.attestation`'s). Its intent names the
key the slot held before the card is written, so a run killed after the card made
the key has it recorded by the next run, never made again; its files follow its event.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pkcs11 import Token

from ceremony import attestation, pin_audit
from ceremony.attestation import YUBIKEY, Trust
from ceremony.errors import StateError, UsageError, VerificationError
from ceremony.events import KeyGenerated, KeygenIntent, KeygenRecovered, build
from ceremony.formats.tuf import X_ATTESTATION
from ceremony.lock import note
from ceremony.plan import Keyholder
from ceremony.session import Session
from ceremony.state import KeyRecord
from ceremony.workspace import atomic_write
from hsm import leftovers
from hsm.errors import AttestationError
from hsm.pkcs11 import Module, PinProvider, TokenKey

if TYPE_CHECKING:  # no cycle: hsm.yubikey.provision costs ~57 ms (yubikit) at every step's start
    from hsm.yubikey.provision import ProvisionPrompts


@pin_audit.audited("keygen")
def keygen(s: Session, keyholder: str, module: Module, pin: PinProvider, *,
           on_touch: Callable[[str], None] | None = None,
           attestation_roots: Path | str | None = None,
           provision: ProvisionPrompts | None = None, now: datetime | None = None) -> KeyRecord:
    """Generate ``keyholder``'s root key on their token.

    The intent (with the key's CKA_ID) is journaled first; if the process dies
    after the token made the key, the next run finds it by that id. What is
    recorded of the key is the format's (``Format.describe_key``; ``now`` is for it).

    A YubiKey keyholder (``device = "yubikey"``) gets the key in slot 9c: made now
    when ``provision`` (``hsm.yubikey.provision.ProvisionPrompts``) is given, else
    the key already provisioned there; either way its attestation must verify
    (against the bundled Yubico roots, or ``attestation_roots`` in a rehearsal)
    before it is recorded (see :func:`keygen_yubikey`). ``module`` is not
    used for them: YubiKeys are reached through ykcs11.

    Raises:
        StateError: the keyholder already has a key, or is not a root keyholder.
        UsageError: ``provision`` for a keyholder whose token is not a YubiKey.
        VerificationError: what the format made of the key would be refused.
        hsm.errors.HsmError: token missing, PIN refused, label already used;
            attestation failed (exit 3).
    """
    check_keygen(s, keyholder)
    holder = s.plan.keyholder(keyholder)
    if holder.device == YUBIKEY:
        trust = attestation.trust_for(s.plan, attestation_roots)
        return keygen_yubikey(s, holder, pin, trust=trust, provision=provision, on_touch=on_touch)
    if provision is not None:
        raise UsageError(f"{keyholder}'s token is a PKCS#11 token, not a YubiKey: there is "
                         "nothing to provision", hint="run keygen without --provision")
    token = module.find_token(label=holder.token, serial=holder.serial)
    intent = s.state.intents.get(keyholder)
    tk = None
    if intent is None:
        intent = {"keyholder": keyholder, "key_id_hex": os.urandom(16).hex(),
                  "object_label": f"{s.plan.name}/{keyholder}", "algorithm": holder.algorithm,
                  "token_label": holder.token, "token_serial": holder.serial}
        s.append(KeygenIntent(**intent))
    else:
        tk = _resume(s, keyholder, intent, module, token, pin)
    if tk is None:
        tk = module.generate(token, pin, intent["algorithm"], intent["object_label"],
                             bytes.fromhex(intent["key_id_hex"]))
    data, key_file = s.format.describe_key(keyholder, tk, intent, now)
    event = build(KeyGenerated, data, "the generated key")  # the format's description, checked
    s._write_derived(lambda: atomic_write(s.ws.keys / f"root-{keyholder}.json", key_file))
    s.append(event)
    return s.state.keys[keyholder]


def _resume(s: Session, keyholder: str, intent: dict[str, Any], module: Module, token: Token,
            pin: PinProvider) -> TokenKey | None:
    """After an interrupted keygen: the pair it made, or ``None`` once its debris is gone.

    The intent was journaled by an earlier run that did not record a key, so the token
    may hold what that run left (:mod:`hsm.leftovers`): a complete pair with the intent's
    random CKA_ID that signs and verifies is adopted, never made twice; half-made objects
    are journaled (``keygen-recovered``), then removed, so nothing is left orphaned.

    Raises:
        hsm.errors.HsmError: the token failed, or holds several keys with the intent's id.
    """
    found = leftovers.find(module, token, pin, intent["algorithm"],
                           bytes.fromhex(intent["key_id_hex"]))
    if found.remove:
        s.append(KeygenRecovered(
            keyholder=keyholder, key_id_hex=intent["key_id_hex"],
            token_label=intent.get("token_label"), token_serial=intent.get("token_serial"),
            removed=[item.describe() for item in found.remove], adopted=found.pair is not None))
        leftovers.remove(module, token, found)
    return found.pair


def keygen_yubikey(s: Session, holder: Keyholder, pin: PinProvider, *, trust: Trust,
                   provision: ProvisionPrompts | None = None,
                   on_touch: Callable[[str], None] | None = None) -> KeyRecord:
    """``keyholder``'s root key in slot 9c of their YubiKey: provisioned now, or adopted.

    :func:`keygen` has already checked the step may run (preflight, not yet generated).
    The order makes a kill at any instant resumable: the intent is journaled first,
    naming the key the slot held then (the key to adopt, or the key a reset will destroy);
    then the card is written (provision); then the key is attested and journaled; the key
    file and ``keys/attestation-NAME.pem`` are written last, derived from that event (a
    workspace that lost them gets them back when it is next opened). Every run reads the
    slot first: after an interrupted provisioning, a key there that is not the one its
    intent named was made by that run (:func:`_made_by_interrupted_run`) and is recorded,
    never made again; otherwise a run that does something else than the journaled intent
    says (the other mode, or adopting another key) journals its own intent first.

    Args:
        provision: ``hsm.yubikey.provision.ProvisionPrompts`` to reset PIV and generate
            the key now (the operator types the serial); None to adopt the key in slot 9c.

    Raises:
        AttestationError: the attestation does not verify (exit 3, the verdict's reasons),
            also for a key found after an interrupted provisioning (then never reset here).
        VerificationError: the slot's key is not the plan's algorithm.
        FactoryDefaultsError, PinFinalTryError, PinLockedError: the YubiKey is not fit.
        ProvisionAbortedError: the typed serial did not match (nothing changed).
        hsm.errors.HsmError: missing, ambiguous or removed YubiKey; empty slot.
    """
    from hsm.yubikey.attestation import (  # lazy: yubikit, only for a YubiKey keyholder
        attest,
        public_key_sha256,
        slot_public_key,
    )
    from hsm.yubikey.preflight import preflight  # lazy: yubikit, only for a YubiKey keyholder
    from hsm.yubikey.provision import provision as provision_device  # lazy: yubikit, YubiKey only
    from hsm.yubikey.signing import open_signing_key  # lazy: yubikit, only for a YubiKey keyholder

    name, serial = holder.name, int(str(holder.serial))  # the plan checked: digits
    touch = holder.touch or "always"  # the plan sets it for every YubiKey keyholder
    requested = "provision" if provision is not None else "adopt"
    current = slot_public_key(serial)  # no PIN: slot metadata
    now = None if current is None else public_key_sha256(current)
    intent = s.state.intents.get(name)
    made = intent is not None and _made_by_interrupted_run(intent, now)
    if not made and (intent is None or intent.get("mode") != requested
                     or (requested == "adopt" and intent.get("slot_key_sha256") != now)):
        s.append(KeygenIntent(  # what this run does, naming the key the slot holds now
            keyholder=name, device=YUBIKEY, mode=requested, yubikey_serial=serial, slot="9c",
            algorithm=holder.algorithm, touch=touch, key_id_hex="02", object_label=None,
            token_label=None, token_serial=holder.serial, trust=trust.description,
            slot_key_sha256=now))
    mode = str(s.state.intents[name].get("mode"))
    if provision is not None and not made:
        provision_device(serial, provision, algorithm=holder.algorithm, touch=touch)
    else:
        preflight(serial).require_ready()  # factory defaults, PIN budget: no PIN spent

    verdict = attest(serial, trust.store, allowed_pin_policies=("always",),
                     allowed_touch_policies=(touch,))
    if made and verdict.problems:
        raise AttestationError(
            f"slot 9c of YubiKey {serial} holds a key made after the interrupted keygen of {name} "
            f"journaled its intent, but its attestation does not verify: {'; '.join(verdict.problems)}; "
            "nothing was recorded",
            hint=f"provision the YubiKey again (`ceremony yubikey provision --serial {serial}`, resets "
                 f"PIV), then run keygen --keyholder {name} without --provision")
    verdict.require()
    if made:
        note(f"slot 9c of YubiKey {serial} holds a key made after the interrupted keygen of {name} "
             "journaled its intent: it is recorded, not generated again")
    actual = attestation.algorithm_of(verdict.public_key)
    if actual != holder.algorithm:
        raise VerificationError(
            f"slot 9c of YubiKey {serial} holds an {actual or 'unsupported'} key, but the plan "
            f"says {holder.algorithm} for {name}",
            hint="provision the YubiKey again with the plan's algorithm (keygen --provision)")
    yk = open_signing_key(serial, pin, on_touch, expected_public=verdict.public_key)

    xfield = attestation.attestation_field(verdict)
    # The format describes the key (TUF: x- fields with the attestation; notary: a root
    # certificate signed on the card, which asks for the PIN and a touch once).
    data, key_file = s.format.describe_key(name, yk, {"algorithm": holder.algorithm, "key_id_hex": "02"},
                                     None, attestation=xfield)
    data.update({"device": YUBIKEY,
                 "attestation": {"mode": mode, "verdict": attestation.verdict_record(verdict),
                                 "trust": trust.to_record()}})
    if X_ATTESTATION not in data["key"]:  # notary: root.json cannot carry it; the journal does
        data["attestation"]["field"] = xfield
    event = build(KeyGenerated, data, "the generated key")  # the format's description, checked
    s.append(event)  # the step is done: the files below are views of this event
    s._write_derived(lambda: atomic_write(s.ws.keys / f"root-{name}.json", key_file))
    pem = attestation.field_pem(xfield).encode()
    s._write_derived(lambda: atomic_write(s.ws.keys / f"attestation-{name}.pem", pem))
    return s.state.keys[name]


def _made_by_interrupted_run(intent: dict[str, Any], now: str | None) -> bool:
    """Whether slot 9c's key (``now``: its sha256, None for an empty slot) was made by the
    interrupted keygen whose ``intent`` is journaled.

    A provisioning intent named the key the slot held before the reset (None: empty); a key
    there now that is not that one was generated after the intent, by that run (or by
    hand since, which its attestation still checks): it is recorded, not made again. An
    adopting intent made nothing; a provisioning run that never reached the generation
    left the slot empty or as it was, and provisioning again destroys nothing of the
    ceremony's.
    """
    return intent.get("mode") == "provision" and now is not None and now != intent.get("slot_key_sha256")


def check_keygen(s: Session, keyholder: str) -> None:
    """Refuse ``keyholder``'s keygen for whatever is known without their token.

    The faces call it before they load the PKCS#11 module or ask for a PIN: a sealed
    ceremony, a missing preflight, a keyholder who is not a root signer or already has a
    key is refused first, with its own message, and no token is touched. :func:`keygen`
    runs the same checks.

    Raises:
        StateError: sealed, no passing preflight (live), not a root keyholder, or the
            keyholder already has a key.
        PlanError: no such keyholder in the plan.
    """
    s.require_token_step()
    s.plan.keyholder(keyholder)  # an unknown name is refused by the plan
    if keyholder not in s.plan.signers:
        raise StateError(f"{keyholder} is not a root keyholder in the plan")
    if keyholder in s.state.keys:
        raise StateError(f"{keyholder} already has a root key in this ceremony "
                         f"({s.state.keys[keyholder].keyid[:12]})",
                         hint="a keyholder gets one key; nothing was generated")
    if s._reusable_previous_key(keyholder) is not None:
        raise StateError(f"{keyholder} already holds a key in the current root; it is kept",
                         hint="to replace it, give the keyholder a new token in the plan")
