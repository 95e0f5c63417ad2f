"""What an interrupted key generation left on a token, and how it is adopted or removed.

Why this exists: ``C_GenerateKeyPair`` is one call, but a token does not always store its
result in one step. SoftHSM's file store creates the public key object, then the private
one, and rewrites each object's file once per attribute (about thirty times): a process
killed in between leaves a public key without its private half, or an object whose
``CKA_ID``, label and key material are still empty. Generating again next to such debris
would leave an orphan (and, when the debris is a private key object, two private key objects
on one token).

So before a resumed keygen generates, it looks at the token (:func:`find`):

* a complete pair with the intent's random ``CKA_ID`` (private and public object, key
  material present) whose private half signs a fresh challenge that the public half
  verifies is the key the interrupted run made: it is **adopted**, never made twice;
* any other object with the intent's ``CKA_ID`` (a lone public key, a lone private key
  whose public key cannot be read, a half-made object, a pair that does not match) is
  **removed**: it was made by this ceremony's interrupted attempt and its public key was
  never recorded anywhere;
* a key object with an empty ``CKA_ID``, an empty label *and* no key material is removed
  too: it holds no key, so it is nobody's key; it is what a generation killed before the
  id was written leaves;
* an object whose ``CKA_CLASS`` cannot be read (every PKCS#11 object has one; SoftHSM's
  first writes of a new object have not stored it yet) is removed: it holds nothing and no
  class-based search can see it. python-pkcs11 cannot even wrap such a handle, so these are
  found and destroyed through the module's own ``C_*`` entry points (:func:`_classless`),
  on the session python-pkcs11 holds. Only on SoftHSM, whose file store writes an object
  attribute by attribute: a hardware token stores an object whole, and whatever odd object a
  vendor keeps is not ours to judge.

Nothing else on the token is touched. The caller journals what is removed before
:func:`remove` destroys it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from dataclasses import dataclass
from typing import Any

import pkcs11
from pkcs11 import Attribute, KeyType, ObjectClass, exceptions as p11e

from hsm.algorithms import get_algorithm
from hsm.errors import HsmError
from hsm.pkcs11 import Module, PinProvider, TokenKey, _token_info
from hsm.uri import KeyRef

# The attribute that holds a key object's key material, by class and key type; empty
# (or absent) until a generating token has finished the object.
_MATERIAL = {
    (ObjectClass.PUBLIC_KEY, KeyType.EC): Attribute.EC_POINT,
    (ObjectClass.PUBLIC_KEY, KeyType.EC_EDWARDS): Attribute.EC_POINT,
    (ObjectClass.PUBLIC_KEY, KeyType.RSA): Attribute.MODULUS,
    (ObjectClass.PRIVATE_KEY, KeyType.EC): Attribute.EC_PARAMS,
    (ObjectClass.PRIVATE_KEY, KeyType.EC_EDWARDS): Attribute.EC_PARAMS,
    (ObjectClass.PRIVATE_KEY, KeyType.RSA): Attribute.MODULUS,
}


@dataclass(frozen=True)
class Leftover:
    """One key object found on the token that the resumed keygen removes."""

    kind: str  # "private key" or "public key"
    key_id_hex: str
    label: str
    why: str
    obj: Any

    def describe(self) -> dict[str, str]:
        """Plain data for the journal (no key material: there is none to show)."""
        return {"object": self.kind, "key_id_hex": self.key_id_hex, "label": self.label,
                "why": self.why}


@dataclass(frozen=True)
class Found:
    """The outcome of :func:`find`: a pair to adopt (or ``None``) and objects to remove."""

    pair: TokenKey | None
    remove: list[Leftover]
    session: Any = None


def _get(obj: Any, attr: Attribute) -> Any:
    """An attribute, or ``None`` when the object does not have it (yet) or hides it."""
    try:
        return obj[attr]
    except (p11e.AttributeTypeInvalid, p11e.AttributeSensitive, p11e.FunctionFailed,
            p11e.GeneralError):
        return None


def _has_material(obj: Any, cls: ObjectClass) -> bool | None:
    """Whether the object holds key material; ``None`` for a key type we do not know."""
    attr = _MATERIAL.get((cls, _get(obj, Attribute.KEY_TYPE)))
    if attr is None:
        return None
    return bool(_get(obj, attr))


def find(module: Module, token: pkcs11.Token, pin: PinProvider, algorithm: str,
         key_id: bytes) -> Found:
    """Look on ``token`` for what a keygen with ``key_id`` may have left (see the module doc).

    Raises:
        HsmError: the token holds more than one complete key of a class with ``key_id``
            (never a guess), or the token failed.
    """
    alg = get_algorithm(algorithm)
    info = _token_info(token)
    session = module.login(token, pin)
    complete: dict[ObjectClass, list[Any]] = {ObjectClass.PRIVATE_KEY: [], ObjectClass.PUBLIC_KEY: []}
    remove: list[Leftover] = []
    with module._mapped(info, "looking for an interrupted key generation"):
        for cls, kind in ((ObjectClass.PUBLIC_KEY, "public key"), (ObjectClass.PRIVATE_KEY, "private key")):
            for obj in session.get_objects({Attribute.CLASS: cls}):
                oid = bytes(_get(obj, Attribute.ID) or b"")
                label = str(_get(obj, Attribute.LABEL) or "")
                material = _has_material(obj, cls)
                if oid == key_id:
                    if material:
                        complete[cls].append(obj)
                    else:
                        remove.append(Leftover(kind, oid.hex(), label,
                                               "half-made by the interrupted keygen: no key material", obj))
                elif not oid and not label and material is False:
                    remove.append(Leftover(kind, "", "", "half-made (no id, no label, no key "
                                           "material): holds no key", obj))
        privs, pubs = complete[ObjectClass.PRIVATE_KEY], complete[ObjectClass.PUBLIC_KEY]
        if len(privs) > 1 or len(pubs) > 1:
            raise HsmError(f"{info.describe()} holds several keys with id {key_id.hex()}",
                           hint="the tool will not guess which one is the ceremony's")
        pair = None
        if privs and pubs:
            label = str(_get(privs[0], Attribute.LABEL) or "")
            tk = TokenKey(module, info, alg, KeyRef(key_id, info.label, info.serial, label),
                          session, pubs[0], privs[0])
            if _signs(tk):
                pair = tk
            else:
                remove += [Leftover("private key", key_id.hex(), label,
                                    "its public key object does not verify its signature", privs[0]),
                           Leftover("public key", key_id.hex(), label,
                                    "it does not verify its private key's signature", pubs[0])]
        elif privs:
            remove.append(Leftover("private key", key_id.hex(), str(_get(privs[0], Attribute.LABEL) or ""),
                                   "its public key object was never stored; the key was never "
                                   "recorded", privs[0]))
        elif pubs:
            remove.append(Leftover("public key", key_id.hex(), str(_get(pubs[0], Attribute.LABEL) or ""),
                                   "its private key was never stored", pubs[0]))
    if info.manufacturer.startswith("SoftHSM"):  # its file store writes an object in steps
        for handle in _classless(module.path, session):
            remove.append(Leftover("object", "", "", "half-made: no class yet, holds nothing", handle))
    return Found(pair, remove, session)


def _signs(tk: TokenKey) -> bool:
    """Whether the pair belongs together: a fresh challenge signed by the private object
    verifies with the public object's key."""
    try:
        tk.sign_raw(b"ceremony keygen resume check " + os.urandom(16), verify=True)
    except HsmError:
        return False
    return True


def remove(module: Module, token: pkcs11.Token, found: Found) -> None:
    """Destroy the objects :func:`find` listed in ``found.remove`` (journaled by the caller).

    Raises:
        HsmError: the token refused.
    """
    info = _token_info(token)
    with module._mapped(info, "removing what an interrupted key generation left"):
        for item in found.remove:
            if isinstance(item.obj, int):
                rv = _c(module.path).C_DestroyObject(ctypes.c_ulong(found.session.handle),
                                                     ctypes.c_ulong(item.obj))
                if rv not in (0, _CKR_OBJECT_HANDLE_INVALID):
                    raise HsmError(f"{info.describe()} refused to remove a half-made object "
                                   f"(CK_RV 0x{rv:x})")
                continue
            with contextlib.suppress(p11e.ObjectHandleInvalid):  # already gone
                item.obj.destroy()


_CKA_CLASS = 0x0
_CKR_OBJECT_HANDLE_INVALID = 0x82


class _Attr(ctypes.Structure):
    _fields_ = [("type", ctypes.c_ulong), ("pValue", ctypes.c_void_p),
                ("ulValueLen", ctypes.c_ulong)]


def _c(path: str) -> Any:
    """The module's C entry points (the library python-pkcs11 already loaded: same state)."""
    return ctypes.CDLL(path)


def _classless(path: str, session: Any) -> list[int]:
    """Handles of the session's visible objects whose ``CKA_CLASS`` cannot be read."""
    lib = _c(path)
    h = ctypes.c_ulong(session.handle)
    found: list[int] = []
    if lib.C_FindObjectsInit(h, None, ctypes.c_ulong(0)) != 0:
        return []
    try:
        batch = (ctypes.c_ulong * 32)()
        count = ctypes.c_ulong(0)
        while lib.C_FindObjects(h, batch, ctypes.c_ulong(32), ctypes.byref(count)) == 0 \
                and count.value:
            found += list(batch[:count.value])
    finally:
        lib.C_FindObjectsFinal(h)
    out = []
    for obj in found:
        value = ctypes.c_ulong(0)
        attr = _Attr(_CKA_CLASS, ctypes.cast(ctypes.byref(value), ctypes.c_void_p),
                     ctypes.sizeof(value))
        if lib.C_GetAttributeValue(h, ctypes.c_ulong(obj), ctypes.byref(attr), ctypes.c_ulong(1)) != 0:
            out.append(obj)
    return out
