"""Which token a step needs and whether it is present; the touch prompt around a token call."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ceremony.formats import tuf as tuf_format
from ceremony.session import Session

TouchCallback = Callable[[str], None]


def call_with_touch(fn: Callable[..., Any], *args: Any, on_touch: TouchCallback | None,
                    **kwargs: Any) -> Any:
    """Call a token step, handing it ``on_touch`` when it takes one.

    Token layers that know when a touch is awaited (``hsm.yubikey.signing``)
    call it just before the card blocks; steps that do not take it yet are
    called as they are (a PKCS#11 module cannot say when a touch is awaited).
    """
    if on_touch is not None and _accepts(fn, "on_touch"):
        kwargs["on_touch"] = on_touch
    return fn(*args, **kwargs)


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD
                                 for p in params.values())


@dataclass(frozen=True)
class Presence:
    """Whether a keyholder's token (a PKCS#11 token, or a YubiKey by serial) is present."""

    present: bool
    text: str


@dataclass(frozen=True)
class _Wanted:
    device: str  # "pkcs11" or "yubikey"
    label: str | None
    serial: str | None

    def describe(self) -> str:
        if self.device == "yubikey":
            return f"YubiKey {self.serial}"
        return f"token {self.label}" if self.label else f"serial {self.serial}"


def _wanted_for_keygen(c: Session, name: str) -> _Wanted:
    h = c.plan.keyholder(name)
    return _Wanted("yubikey" if h.is_yubikey else "pkcs11", h.token, h.serial)


def _wanted_for_signing(c: Session, name: str) -> list[_Wanted]:
    out = []
    for key in c.signing_keys(name):
        f = key.unrecognized_fields
        serial = f.get(tuf_format.X_TOKEN_SERIAL)
        out.append(_Wanted("yubikey" if f.get(tuf_format.X_DEVICE) == "yubikey" else "pkcs11",
                           f.get(tuf_format.X_TOKEN_LABEL), None if serial is None else str(serial)))
    return out


def _presence(wanted: _Wanted, pkcs11_tokens: Callable[[], list[Any]],
              cache: dict[str, list[Any]]) -> Presence:
    if wanted.device == "yubikey":
        if "yubikey" not in cache:
            from hsm.yubikey import list_yubikeys  # lazy: hsm.yubikey (~2 ms), for a YubiKey keyholder only
            cache["yubikey"] = list_yubikeys()
        keys = cache["yubikey"]
        for k in keys:
            if str(k.serial) == str(wanted.serial):
                return Presence(True, f"YubiKey present: serial {k.serial} ({k.form_factor}, "
                                      f"firmware {k.firmware_str})")
        others = ", ".join(str(k.serial) for k in keys) or "none"
        return Presence(False, f"YubiKey {wanted.serial} is not present (YubiKeys present: "
                               f"{others}): insert it, then press r")
    if "pkcs11" not in cache:
        cache["pkcs11"] = list(pkcs11_tokens())
    for t in cache["pkcs11"]:
        if (wanted.label is None or t.label == wanted.label) and \
           (wanted.serial is None or str(t.serial) == str(wanted.serial)):
            return Presence(True, f"Token present: {t.label} (serial {t.serial}), "
                                  f"PIN {t.pin_state}")
    return Presence(False, f"{wanted.describe()} is not present: insert it, then press r")


def token_presence(c: Session, name: str, pkcs11_tokens: Callable[[], list[Any]],
                   signing: bool = False, cache: dict[str, list[Any]] | None = None) -> Presence:
    """Whether ``name``'s token is present: YubiKeys are looked for by serial over PC/SC
    (``hsm.yubikey``), other tokens in the PKCS#11 token list (``pkcs11_tokens()``, read
    only when needed). ``signing``: the token holding ``name``'s key(s) for the draft
    (a rotation's previous keyholders included), else the plan's token for keygen.

    Raises:
        HsmError: the token list cannot be read (no module, PC/SC not available).
    """
    cache = {} if cache is None else cache  # one listing of each kind for several keyholders
    wanted = _wanted_for_signing(c, name) if signing else [_wanted_for_keygen(c, name)]
    found = [_presence(w, pkcs11_tokens, cache) for w in wanted]
    if not found:
        return Presence(False, f"{name} holds no key that signs this draft")
    missing = [p for p in found if not p.present]
    return missing[0] if missing else Presence(True, "; ".join(p.text for p in found))


def signing_tokens_present(c: Session, names: list[str],
                           pkcs11_tokens: Callable[[], list[Any]]) -> dict[str, Presence]:
    """:func:`token_presence` for each of ``names`` signing the draft, listing tokens once."""
    cache: dict[str, list[Any]] = {}
    return {n: token_presence(c, n, pkcs11_tokens, signing=True, cache=cache) for n in names}


def token_absent(c: Session, name: str, signing: bool = False) -> Presence:
    """The "not present" line, when the token list could not be read at all."""
    wanted = _wanted_for_signing(c, name) if signing else [_wanted_for_keygen(c, name)]
    what = ", ".join(w.describe() for w in wanted) or f"{name}'s token"
    return Presence(False, f"{what} is not present: insert it, then press r")
