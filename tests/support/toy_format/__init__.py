"""A third metadata format, written as one package and nothing else: the proof that the engine,
the steps and the CLI name no format (``tests/model/test_third_format.py``).

``toy`` publishes a JSON root listing the root keys (their public keys as PEM, the keyholder and
token facts in the ``x-ceremony-*`` fields every format shares), the root threshold, the online
roles' key ids and an expiry; each root key signs the canonical JSON of ``signed`` with the
token's raw signature for its algorithm. A new repository only (no previous chain), no detached
signing, no rehearsal; whatever else a ceremony may ask of a format is refused with a
:class:`ceremony.errors.VerificationError` or ``PlanError`` naming the toy.

It is registered by the test alone (``ceremony.formats.registry.FORMATS["toy"]``), so the tool
itself never sees it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)

from ceremony import chain
from ceremony.errors import PlanError, StateError, VerificationError
from ceremony.formats import tuf as shared  # the x-ceremony-* key fields every format shares
from ceremony.formats.base import RoleVerdict, ThresholdStatus
from ceremony.formats.defaults import FormatDefaults
from ceremony.formats.protocol import CeremonyView, DetachedAdapter, Draft, InitInputs
from ceremony.formats.token_keys import key_event, open_root_key
from ceremony.journal import Event
from ceremony.plan import Plan, load_online_keys
from ceremony.state import KeyRecord
from ceremony.workspace import Workspace, atomic_write
from hsm.algorithms import get_algorithm
from hsm.pkcs11 import Module, PinProvider
from hsm.verify import verify_raw

TYPE = "toy-root"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class ToyKey:
    """A root key: its id (sha256 of the DER public key), PEM, and the shared ``x-`` facts."""

    keyid: str
    public_pem: str
    fields: dict[str, Any]

    @property
    def unrecognized_fields(self) -> dict[str, Any]:
        return dict(self.fields)

    def public_key(self) -> Any:
        return load_pem_public_key(self.public_pem.encode())

    def to_dict(self) -> dict[str, Any]:
        return {"public_pem": self.public_pem, **self.fields}


@dataclass(frozen=True)
class ToyRole:
    keyids: list[str]
    threshold: int


@dataclass
class ToyRoot:
    """The signed part: ``version``, ``keys`` and ``roles`` as every root view has them."""

    version: int
    expiry: str  # ISO 8601, UTC
    keys: dict[str, ToyKey]
    roles: dict[str, ToyRole]
    online: dict[str, dict[str, Any]]  # the online roles' keys by id, as their key files give them

    @property
    def expires(self) -> datetime:
        return datetime.fromisoformat(self.expiry)

    def to_dict(self) -> dict[str, Any]:
        return {"_type": TYPE, "version": self.version, "expires": self.expiry,
                "keys": {k: v.to_dict() for k, v in self.keys.items()}, "online": self.online,
                "roles": {r: {"keyids": v.keyids, "threshold": v.threshold}
                          for r, v in self.roles.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ToyRoot:
        if d.get("_type") != TYPE:
            raise VerificationError("not a toy root")
        keys = {k: ToyKey(k, v["public_pem"], {f: x for f, x in v.items() if f != "public_pem"})
                for k, v in d["keys"].items()}
        return cls(int(d["version"]), str(d["expires"]), keys,
                   {r: ToyRole(list(v["keyids"]), int(v["threshold"]))
                    for r, v in d["roles"].items()}, dict(d["online"]))


@dataclass
class ToyMetadata:
    signed: ToyRoot
    signatures: dict[str, str] = field(default_factory=dict)  # keyid -> hex raw signature

    @property
    def signed_bytes(self) -> bytes:
        return _canonical(self.signed.to_dict())

    def to_bytes(self) -> bytes:
        return json.dumps({"signed": self.signed.to_dict(), "signatures": self.signatures},
                          indent=1, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes, what: str) -> ToyMetadata:
        try:
            obj = json.loads(data)
            return cls(ToyRoot.from_dict(obj["signed"]), dict(obj["signatures"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise VerificationError(f"{what} is not a toy root") from None


def _verdict(md: ToyMetadata) -> RoleVerdict:
    role = md.signed.roles["root"]
    good = []
    for keyid in role.keyids:
        key, sig = md.signed.keys[keyid], md.signatures.get(keyid)
        if sig is None:
            continue
        try:
            verify_raw(key.public_key(), get_algorithm(key.fields[shared.X_ALGORITHM]),
                       md.signed_bytes, bytes.fromhex(sig), keyid)
        except Exception:  # noqa: BLE001 - a bad signature simply does not count
            continue
        good.append(keyid)
    name = {k: shared.key_name(md.signed.keys[k]) for k in role.keyids}
    return RoleVerdict(f"root v{md.signed.version}", role.threshold,
                       tuple(name[k] for k in good),
                       tuple(name[k] for k in role.keyids if k not in good))


class ToyFormat(FormatDefaults, shared.XFieldKeys):
    """The toy format bound to one ceremony (:class:`ceremony.formats.protocol.Format`)."""

    name: ClassVar[str] = "toy"
    targets_refusal: ClassVar[str | None] = "--targets reads TUF targets metadata, not a toy root"
    rehearsal_scenarios: ClassVar[tuple[str, ...]] = ()
    rehearsal_hint: ClassVar[str | None] = "the toy format is not rehearsed"

    def __init__(self, view: CeremonyView) -> None:
        self.view = view

    # ---- the class: init, files read from outside, the record ------------------------------

    @classmethod
    def check_plan(cls, plan: Plan, text: str) -> None:
        if plan.witnesses_required:
            raise PlanError("ceremony.witnesses_required is not supported for format \"toy\"")

    @classmethod
    def prepare(cls, plan: Plan, text: str, plan_dir: Path, previous: Path | None,
                trusted: Path | None, expect_root: str | None) -> InitInputs:
        if previous is not None:
            raise PlanError("a toy ceremony starts a new repository only (no --previous)")
        online = {role: [k.key.to_dict() | {"keyid": k.key.keyid} for k in keys]
                  for role, keys in load_online_keys(plan, plan_dir).items()}
        return InitInputs(None, {}, online, [])

    @classmethod
    def detached(cls) -> DetachedAdapter:
        raise VerificationError("a toy draft does not travel")

    @classmethod
    def claims(cls, data: bytes) -> bool:
        return b'"toy-root"' in data

    @classmethod
    def walk_chain(cls, first: bytes, directory: Path, *, check_expiry: bool,
                   trusted_name: str, repository: str | None = None) -> Any:
        raise VerificationError("a toy chain is not walked")

    @classmethod
    def verify_folder(cls, directory: Path) -> Any:
        raise VerificationError("a toy folder is not verified")

    @classmethod
    def self_signed_root(cls, data: bytes, where: str, repository: str) -> Any:
        md = ToyMetadata.from_bytes(data, where)
        if not _verdict(md).met:
            raise VerificationError(f"{where} is not signed at its own threshold")
        return md

    @classmethod
    def read_published(cls, directory: Path, trusted_path: Path, trusted: bytes,
                       trusted_name: str, at: datetime,
                       files: dict[int, Path] | None) -> tuple[Any, bool]:
        raise VerificationError("a toy folder is not read back")

    @classmethod
    def check_keyids(cls, root: Any, what: str) -> None:
        for keyid, key in root.keys.items():
            der = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
            if keyid != _sha256(der):
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
        return None  # the default format reads online key files

    @classmethod
    def record_key_file(cls, event: Mapping[str, Any]) -> bytes:
        return json.dumps({"keyid": event["keyid"], **event["key"]}, indent=1,
                          sort_keys=True).encode()

    @classmethod
    def _published(cls, ws: Workspace, events: list[Event]) -> ToyMetadata:
        pub = next((e for e in reversed(events) if e.type == "published"), None)
        if pub is None:
            raise StateError("no root has been published yet")
        path = ws.metadata / f"{pub.data['version']}.root.json"
        data = chain.read_root_file(path)
        if _sha256(data) != pub.data["sha256"]:
            raise VerificationError(f"{path.name} differs from the root published")
        return ToyMetadata.from_bytes(data, path.name)

    @classmethod
    def record_sealers(cls, ws: Workspace, events: list[Event]) -> list[tuple[str, str, Any]]:
        md = cls._published(ws, events)
        return [(shared.key_name(md.signed.keys[k]), k, md.signed.keys[k])
                for k in sorted(md.signatures)]

    @classmethod
    def record_check_published(cls, ws: Workspace, events: list[Event], version: int,
                               data: bytes, name: str) -> tuple[str | None, str | None]:
        verdict = _verdict(ToyMetadata.from_bytes(data, name))
        if not verdict.met:
            return f"metadata/{name} is not signed at threshold: {verdict.describe()}", None
        return None, f"metadata/{name} is signed at threshold ({verdict.describe()})"

    @classmethod
    def record_describe_published(cls, ws: Workspace, events: list[Event]) -> list[str]:
        md = cls._published(ws, events)
        return [*cls._words(md), _verdict(md).describe()]

    @staticmethod
    def _words(md: ToyMetadata) -> list[str]:
        role = md.signed.roles["root"]
        names = ", ".join(shared.key_name(md.signed.keys[k]) for k in role.keyids)
        return [f"toy root v{md.signed.version}: {role.threshold} of {names}; expires "
                f"{md.signed.expiry}"]

    # ---- keys ------------------------------------------------------------------------------

    def online_keys(self) -> dict[str, list[Any]]:
        return {role: [dict(k) for k in keys]
                for role, keys in self.view.state.init["online_keys"].items()}

    def describe_key(self, keyholder: str, tk: Any, intent: dict[str, Any], now: datetime | None,
                     attestation: dict[str, Any] | None = None) -> tuple[dict[str, Any], bytes]:
        public = tk.public_key()
        der = public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        pem = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
        key = ToyKey(_sha256(der), pem, {
            shared.X_KEYHOLDER: keyholder, shared.X_TOKEN_LABEL: tk.token.label,
            shared.X_TOKEN_SERIAL: tk.token.serial, shared.X_KEY_URI: tk.ref.uri(),
            shared.X_ALGORITHM: intent["algorithm"]})
        data = key_event(keyholder, key.to_dict(), key.keyid, tk, intent)
        return data, self.key_file_from_event(data)

    def key_file_from_event(self, event: dict[str, Any]) -> bytes:
        return self.record_key_file(event)

    def key_from_record(self, rec: KeyRecord) -> ToyKey:
        d = dict(rec.key)
        return ToyKey(rec.keyid, d.pop("public_pem"), d)

    # ---- previous chain: none ----------------------------------------------------------------

    def previous_root(self) -> None:
        return None

    def previous_version(self, version: int) -> Any:
        raise VerificationError("a toy ceremony has no previous chain")

    # ---- draft -------------------------------------------------------------------------------

    def _build(self, root_keys: Sequence[Any], version: int, now: datetime,
               online: Mapping[str, list[Mapping[str, Any]]]) -> ToyMetadata:
        plan = self.view.plan
        roles = {"root": ToyRole([k.keyid for k in root_keys], plan.root.threshold)}
        roles.update({r.name: ToyRole(sorted(str(k["keyid"]) for k in online[r.name]),
                                      r.threshold) for r in plan.online})
        expires = (now + plan.root.expires).replace(microsecond=0).isoformat()
        keys = {str(k["keyid"]): {f: v for f, v in k.items() if f != "keyid"}
                for entries in online.values() for k in entries}
        return ToyMetadata(ToyRoot(version, expires, {k.keyid: k for k in root_keys}, roles, keys))

    def build_draft(self, root_keys: Sequence[Any], now: datetime | None) -> Draft:
        now = now or datetime.now(UTC)
        md = self._build(root_keys, 1, now, self.online_keys())
        return Draft(md, {"version": 1, "digest": _sha256(md.signed_bytes),
                          "signed": md.signed.to_dict(), "created": now.isoformat()})

    def rebuilt_digest(self, root_keys: Sequence[Any], version: int, created: datetime,
                       online: dict[str, list[dict[str, Any]]]) -> str | None:
        return _sha256(self._build(root_keys, version, created, online).signed_bytes)

    def draft_metadata(self) -> ToyMetadata:
        d = self.view.state.draft
        if d is None:
            raise StateError("there is no draft yet", hint="run `ceremony draft WORKSPACE` first")
        return ToyMetadata(ToyRoot.from_dict(d["signed"]),
                           {k: s["sig"] for k, s in self.view.state.signatures.items()})

    def draft_bytes(self) -> bytes:
        return self.draft_metadata().to_bytes()

    def write_draft(self) -> None:
        md = self.draft_metadata()
        atomic_write(self.view.ws.draft_path(md.signed.version), md.to_bytes())

    def draft_roles(self, signed: Mapping[str, Any]) -> dict[str, tuple[list[dict[str, Any]], Any]]:
        root = ToyRoot.from_dict(signed)
        return {name: ([{"keyid": k, **root.online.get(k, {})} for k in role.keyids],
                       role.threshold) for name, role in root.roles.items()}

    def draft_file_digest(self, data: bytes, name: str) -> str | None:
        return _sha256(ToyMetadata.from_bytes(data, name).signed_bytes)

    def describe(self, md: Any) -> list[str]:
        return self._words(md)

    def changes(self, md: Any) -> list[str]:
        return ["a new toy repository"]

    # ---- sign --------------------------------------------------------------------------------

    def keys_of(self, keyholder: str) -> list[Any]:
        root = self.draft_metadata().signed
        return [root.keys[k] for k in root.roles["root"].keyids
                if shared.keyholder_of(root.keys[k]) == keyholder]

    def signing_payload(self, md: Any) -> bytes:
        return bytes(md.signed_bytes)

    def sign_one(self, keyholder: str, key: Any, module: Module, pin: PinProvider,
                 on_touch: Any, payload: bytes) -> tuple[dict[str, Any], str]:
        tk = open_root_key(key, module, pin, on_touch)
        sig = tk.sign_raw(payload)
        verify_raw(key.public_key(), get_algorithm(key.fields[shared.X_ALGORITHM]), payload, sig,
                   keyholder)
        return {"sig": sig.hex()}, str(tk.token.serial)

    def threshold_status(self, md: Any, previous: Any | None) -> ThresholdStatus:
        return ThresholdStatus(md.signed.version, _verdict(md), None)

    # ---- publish -----------------------------------------------------------------------------

    def write_published(self, md: Any) -> tuple[bytes, list[Path]]:
        data = md.to_bytes()
        written = []
        for name in (f"{md.signed.version}.root.json", "root.json"):
            atomic_write(self.view.ws.metadata / name, data)
            written.append(self.view.ws.metadata / name)
        return data, written

    def published_files(self) -> dict[str, bytes]:
        md = self.draft_metadata()
        data = md.to_bytes()
        return {f"{md.signed.version}.root.json": data, "root.json": data}

    def published_extra(self, name: str, version: int) -> bytes | None:
        return None

    # ---- checks ------------------------------------------------------------------------------

    def plan_online_keys(self, base: Path) -> dict[str, list[dict[str, Any]]]:
        return {role: [k.key.to_dict() | {"keyid": k.key.keyid} for k in keys]
                for role, keys in load_online_keys(self.view.plan, base).items()}
