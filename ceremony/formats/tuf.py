"""TUF root metadata, built and checked only through python-tuf's Metadata API.

Root keys carry who holds them in custom ``x-ceremony-*`` fields (python-tuf
keeps unrecognised fields), so a later ceremony can tell a keyholder which
physical token to bring. A new key's id is the hash of the whole key object as
published, ``x-`` fields included (the TUF specification's rule; strict clients
such as tough recompute it so). Ids read from a file are recomputed and must follow
that rule or python-tuf's three-field one (``ceremony.keyids``); thresholds count
distinct public keys, never ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from securesystemslib.signer import Key, Signature
from tuf.api.metadata import Metadata, Root
from tuf.api.serialization import DeserializationError
from tuf.api.serialization.json import JSONSerializer

from ceremony import keyids
from ceremony.errors import VerificationError
from ceremony.formats.base import KeyView, RoleVerdict, ThresholdStatus

X_KEYHOLDER = "x-ceremony-keyholder"
X_TOKEN_LABEL = "x-ceremony-token-label"
X_TOKEN_SERIAL = "x-ceremony-token-serial"
X_KEY_URI = "x-ceremony-key-uri"
X_ALGORITHM = "x-ceremony-algorithm"
X_CREATED = "x-ceremony-created"
# YubiKeys: ``x-ceremony-device = "yubikey"`` (the token serial is the YubiKey's), and
# ``x-ceremony-attestation``, the PIV attestation of the key as PEM certificates
# (slot certificate, then the device's f9 certificate), re-checkable by any verifier
# against Yubico's roots (see ceremony.attestation).
X_DEVICE = "x-ceremony-device"
X_ATTESTATION = "x-ceremony-attestation"
X_ONLINE_URIS = ("x-ceremony-online-uri", "x-tuf-on-ci-online-uri")  # tuf_compat: where it signs
X_TOC_KEYOWNER = "x-tuf-on-ci-keyowner"  # a tuf-on-ci root's keyholder, "@name" (tuf_compat)
X_FIELDS = (X_KEYHOLDER, X_TOKEN_LABEL, X_TOKEN_SERIAL, X_KEY_URI, X_ALGORITHM, X_DEVICE,
            X_ATTESTATION)

ONLINE_ROLES = ("targets", "snapshot", "timestamp")


def root_key(key: Key, keyholder: str, algorithm: str, token_label: str | None,
             token_serial: str | None, uri: str, device: str | None = None,
             attestation: dict[str, Any] | None = None,
             extra: Mapping[str, Any] | None = None) -> Key:
    """A root key annotated with its keyholder and token (public facts only).

    ``device`` and ``attestation`` are set for YubiKey keys only (``X_DEVICE``,
    ``X_ATTESTATION``); a PKCS#11 token key carries neither. The id is computed last, over
    the whole key object with every ``x-`` field (the TUF specification's key id).
    """
    fields: dict[str, Any] = {X_KEYHOLDER: keyholder, X_ALGORITHM: algorithm, X_KEY_URI: uri}
    if token_label is not None:
        fields[X_TOKEN_LABEL] = token_label
    if token_serial is not None:
        fields[X_TOKEN_SERIAL] = token_serial
    if device is not None:
        fields[X_DEVICE] = device
    if attestation is not None:
        fields[X_ATTESTATION] = attestation
    fields.update(extra or {})  # a compat mode's fields (ceremony.formats.tuf_compat)
    data = {"keytype": key.keytype, "scheme": key.scheme, "keyval": dict(key.keyval), **fields}
    return Key.from_dict(keyids.new_tuf_keyid(data), data)


def keyholder_of(key: KeyView) -> str | None:
    """The keyholder named in a key's ``x-`` fields (or its tuf-on-ci ``@owner``), if any."""
    name = key.unrecognized_fields.get(X_KEYHOLDER)
    owner = key.unrecognized_fields.get(X_TOC_KEYOWNER)
    return name if isinstance(name, str) else (owner[1:] or None) \
        if isinstance(owner, str) and owner.startswith("@") else None


def online_key_name(key: KeyView) -> str:
    """An online key in the room: its short id, and the signer URI it was named by, if any."""
    uri = next((u for f in X_ONLINE_URIS if isinstance(u := key.unrecognized_fields.get(f), str)), None)
    return f"{key.keyid[:12]} at {uri}" if uri else key.keyid[:12]


def key_name(key: KeyView) -> str:
    """How a key is called in the room: its keyholder, or a short key id."""
    return keyholder_of(key) or f"key {key.keyid[:12]}"


def token_of(key: KeyView) -> tuple[str | None, str | None]:
    """The token label and serial in a key's ``x-`` fields (every format keeps them there)."""
    f = key.unrecognized_fields
    return f.get(X_TOKEN_LABEL), f.get(X_TOKEN_SERIAL)


def token_hint(key: Key) -> str:
    """Which token to insert for ``key``, from its ``x-`` fields."""
    label = key.unrecognized_fields.get(X_TOKEN_LABEL)
    serial = key.unrecognized_fields.get(X_TOKEN_SERIAL)
    if key.unrecognized_fields.get(X_DEVICE) == "yubikey" and serial:
        return f"YubiKey {serial}"
    if label and serial:
        return f"token {label!r} (serial {serial})"
    if label:
        return f"token {label!r}"
    if serial:
        return f"token with serial {serial}"
    return "the token holding key " + key.keyid[:12]


class XFieldKeys:
    """A format's key naming from the shared ``x-ceremony-*`` fields (``Format.key_name``,
    ``keyholder_of``, ``token_hint``, ``token_of``): every format keeps them there (notary in
    its keys' identities), so they are written once and each format inherits them."""

    def key_name(self, key: Any) -> str:
        """The keyholder in the key's ``x-`` fields, else a short key id."""
        return key_name(key)

    def keyholder_of(self, key: Any) -> str | None:
        """The keyholder in the key's ``x-`` fields."""
        return keyholder_of(key)

    def token_hint(self, key: Any) -> str:
        """Which token to insert, from the key's ``x-`` fields."""
        return token_hint(key)

    def token_of(self, key: Any) -> tuple[str | None, str | None]:
        """The token label and serial in the key's ``x-`` fields."""
        return token_of(key)


def expiry(now: datetime, period: timedelta) -> datetime:
    """``now + period``, to the second, in UTC."""
    return (now + period).replace(microsecond=0)


def build_root(version: int, expires: datetime, consistent_snapshot: bool,
               root_keys: list[Key], root_threshold: int,
               online: Mapping[str, tuple[list[Key], int]],
               created: datetime | None = None) -> Metadata[Root]:
    """A new unsigned root.

    ``created`` goes into ``x-ceremony-created``: TUF roots carry no signing time, and the
    next ceremony's preflight refuses a clock earlier than it.

    Raises:
        VerificationError: a key id does not match its key.
        PlanError: a role would list one public key twice (under two ids).
    """
    keyids.refuse_aliases(Root.type, root_keys, key_name)
    for role, (keys, _threshold) in online.items():
        keyids.refuse_aliases(role, keys, lambda k: f"key {k.keyid[:12]}")
    extra = {X_CREATED: created.strftime("%Y-%m-%dT%H:%M:%SZ")} if created else None
    root = Root(version=version, expires=expires, consistent_snapshot=consistent_snapshot,
                unrecognized_fields=extra)
    for key in root_keys:
        check_keyid(key)
        root.add_key(key, Root.type)
    root.roles[Root.type].threshold = root_threshold
    for role, (keys, threshold) in online.items():
        for key in keys:
            check_keyid(key)
            root.add_key(key, role)
        root.roles[role].threshold = threshold
    return Metadata(root)


def check_keyid(key: Key) -> str:
    """Refuse a key whose id is not a hash of it (root-signing#1431): over the whole key
    object, or over its three standard fields. Returns the rule it follows.

    Raises:
        VerificationError: the id matches neither.
    """
    return keyids.check_tuf_keyid(key.keyid, key, f"{key_name(key)} ({key.keyid[:12]})")


def keyid_rules(root: Root, where: str) -> dict[str, str]:
    """Recompute every key id ``root`` lists (``where`` names the file); keyid -> rule.

    Raises:
        VerificationError: a key id matches neither rule; the key is named.
    """
    return keyids.check_root_keyids(root, where, key_name)


def signed_digest(md: Metadata[Root]) -> str:
    """sha256 of the canonical signed bytes: the identity of a draft."""
    return hashlib.sha256(md.signed_bytes).hexdigest()


def to_bytes(md: Metadata[Root]) -> bytes:
    """The file form of root metadata (pretty JSON, as python-tuf writes it)."""
    return md.to_bytes(JSONSerializer(compact=False))


def from_bytes(data: bytes, what: str) -> Metadata[Root]:
    """Parse root metadata read from ``what``: its structure checked first, so a broken
    field is named with its value (``signed.roles.root.threshold: "two" is not an
    integer``), then python-tuf's Metadata API on the same parsed document.

    Every key id is recomputed (:func:`keyid_rules`); a signature listed more than once is
    named (python-tuf refuses it too, with less to go on).

    Raises:
        VerificationError: not root metadata, a key id that matches neither rule, or one
            signature entry repeated.
    """
    from ceremony.formats.tuf_shape import parse_checked  # lazy: tuf_shape (~0.4 ms), not on the status path
    doc, problem = parse_checked(data)
    if problem is not None:
        raise VerificationError(f"{what} is not valid TUF root metadata: {problem}")
    try:
        md = Metadata.from_dict(doc)
    except (DeserializationError, ValueError, KeyError, TypeError, AttributeError,
            RecursionError) as e:
        repeated = keyids.repeated_signatures(data)
        if repeated:
            raise VerificationError(f"{what} {repeated}") from None
        raise VerificationError(f"{what} is not valid TUF metadata: {e}") from None
    if not isinstance(md.signed, Root):
        raise VerificationError(f"{what} is {md.signed.type} metadata, not root")
    keyid_rules(md.signed, what)
    return md


def _verdict(label: str, root: Root, payload: bytes, sigs: dict[str, Signature]) -> RoleVerdict:
    return role_verdict(label, root, Root.type, payload, sigs)


def role_verdict(label: str, root: Root, role_name: str, payload: bytes,
                 sigs: Mapping[str, Signature]) -> RoleVerdict:
    """Signatures over ``payload`` counted by distinct public key against ``root``'s
    ``role_name`` (root, targets, snapshot, timestamp). python-tuf's ``verify_delegate`` and
    ``get_verification_result`` count ids, so one key under two ids would count twice there.
    Online keys are named by short id; root keys by keyholder."""
    role = root.roles[role_name]
    name = key_name if role_name == Root.type else (lambda k: f"{role_name} key {k.keyid[:12]}")

    return keyids.role_verdict(label, role.threshold, role.keyids, root.keys,
                               signed_by(sigs, payload, root.keys), name, keyids.tuf_keyid_rule)


def signed_by(sigs: Mapping[str, Signature], payload: bytes,
              keys: Mapping[str, Key]) -> Callable[[str], bool]:
    """Whether the signature listed under a key id verifies over ``payload`` with the key
    ``keys`` lists under that id (no signature, no such key, or any failure: it does not):
    the one signature test of every TUF verdict (root, targets, delegations, the audit)."""

    def check(keyid: str) -> bool:
        sig = sigs.get(keyid)
        if sig is None or keyid not in keys:
            return False
        try:
            keys[keyid].verify_signature(sig, payload)
        except Exception:  # noqa: BLE001 - any failure to verify is the same verdict
            return False
        return True

    return check


def refuse_unknown_role_signatures(delegator: Any, role: str, md: Metadata[Any], what: str) -> None:
    """Every signature on ``md`` (role ``role``) is by a key its delegator lists for that role:
    ``delegator`` is the ``Root`` (targets, snapshot, timestamp) or the ``Targets`` that
    delegates ``role``; ``what`` names the file. The one check of every TUF role file read
    beside a root (:func:`ceremony.keyids.refuse_unknown_signatures`).

    Raises:
        VerificationError: a signature by a key the role does not list.
    """
    lister = "root" if delegator.type == Root.type else delegator.type
    keyids.refuse_unknown_signatures(md.signatures, delegator.get_delegated_role(role).keyids,
                                     what, f"the {role} role as {lister} v{delegator.version} "
                                           "lists it")


def status(md: Metadata[Root], previous: Root | None, what: str | None = None) -> ThresholdStatus:
    """Who has signed ``md``, against its own root role and the previous root's.

    Every signature must be by a key of ``md``'s root role or of ``previous``'s (a root v2
    signed by v1's keys that v2 dropped is the ordinary rotation: those are the previous
    root's keys). Without ``previous``, a root v1 must be signed by its own root keys only;
    a later root given alone (a trusted root ``vN``) may carry signatures by ``vN-1``'s
    keys, which are not here to compare with, so its signatures are not judged by key id.
    A root below a threshold is returned as it is (that verdict is the one to give); the
    signers are judged once it meets them.

    Raises:
        VerificationError: ``md`` does not directly follow ``previous``, or carries a
            signature by a key of neither root role (``what`` names the file).
    """
    new = md.signed
    if previous is not None and new.version != previous.version + 1:
        raise VerificationError(f"root v{new.version} does not follow v{previous.version}")
    payload = md.signed_bytes
    new_verdict = _verdict(f"root v{new.version}", new, payload, md.signatures)
    old = None
    if previous is not None:
        old = _verdict(f"previous root v{previous.version}", previous, payload, md.signatures)
    st = ThresholdStatus(new.version, new_verdict, old)
    if st.verified and (previous is not None or new.version == 1):  # below threshold: that verdict first
        allowed = set(new.roles[Root.type].keyids)
        whose = f"the root role of root v{new.version}"
        if previous is not None:
            allowed |= set(previous.roles[Root.type].keyids)
            whose += f" or of previous root v{previous.version}"
        keyids.refuse_unknown_signatures(md.signatures, allowed, what or f"root v{new.version}",
                                         whose)
    return st


def describe_root(root: Root) -> list[str]:
    """The content of a root in words: roles, keys by name, thresholds, expiry in UTC."""
    lines = [f"root version {root.version}, expires {root.expires:%Y-%m-%d %H:%M:%S} UTC"]
    for role in (Root.type, *ONLINE_ROLES):
        r = root.roles[role]
        names = ", ".join(key_name(root.keys[k]) if role == Root.type or keyholder_of(root.keys[k])
                          else online_key_name(root.keys[k]) for k in r.keyids)
        lines.append(f"  {role}: {r.threshold} of {len(r.keyids)} ({names})")
    return lines


def diff_roots(old: Root | None, new: Root) -> list[str]:
    """What changes from ``old`` to ``new``, in words, per role."""
    if old is None:
        return ["new repository: " + line.strip() for line in describe_root(new)]
    out = []
    for role in (Root.type, *ONLINE_ROLES):
        o, n = old.roles[role], new.roles[role]

        def name(root: Root, keyid: str, role: str = role) -> str:
            return key_name(root.keys[keyid]) if role == Root.type else f"key {keyid[:12]}"

        for k in n.keyids:
            if k not in o.keyids:
                out.append(f"{role}: + add {name(new, k)}")
        for k in o.keyids:
            if k not in n.keyids:
                out.append(f"{role}: - remove {name(old, k)}")
        if o.threshold != n.threshold:
            out.append(f"{role}: threshold {o.threshold} -> {n.threshold}")
    if old.expires != new.expires:
        out.append(f"expiry: {old.expires:%Y-%m-%d %H:%M:%S} UTC -> {new.expires:%Y-%m-%d %H:%M:%S} UTC")
    if not out:
        out.append("no change to keys or thresholds (version bump only)")
    return out


def utcnow() -> datetime:
    """Now, in UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0)

