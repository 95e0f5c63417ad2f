"""Format name → its class, by module name: the one place a concrete format is named.

The session builds a ceremony's format from its plan here (``format_for``); ``init``
asks the class first (``format_class``); nothing else imports a concrete format. A
format's module is imported only when a ceremony of that format is opened, so a TUF
ceremony never loads notary's code (and the other way round).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, cast

from ceremony.errors import PlanError

if TYPE_CHECKING:  # annotations only: the protocol's ~10 Protocol classes cost start-up to define
    from ceremony.formats.protocol import CeremonyView, Format, FormatClass

DEFAULT = "tuf"  # files and journals written before notary support name no format: TUF's

FORMATS: dict[str, str] = {
    "tuf": "ceremony.formats.tuf_format:TufFormat",
    "notary": "ceremony.formats.notary:NotaryFormat",
    "x509": "ceremony.formats.x509.format:X509Format",
}


def names() -> tuple[str, ...]:
    """The formats this tool can run a ceremony for, in the registry's order."""
    return tuple(FORMATS)


def format_class(name: str) -> FormatClass:
    """The class of format ``name``.

    Raises:
        PlanError: no format of that name.
    """
    where = FORMATS.get(name)
    if where is None:
        raise PlanError(f"no ceremony engine for format {name!r}",
                        hint=f"ceremony.format is one of {', '.join(FORMATS)}")
    module, _, attr = where.partition(":")
    return cast("FormatClass", getattr(importlib.import_module(module), attr))


def format_for(view: CeremonyView) -> Format:
    """The format of ``view``'s plan, bound to it.

    Raises:
        PlanError: the plan names no known format.
    """
    return format_class(view.plan.format)(view)


def detect(data: bytes) -> FormatClass:
    """The format whose root file ``data`` is (read from outside: a chain, a bundle, a
    keyholder's trusted root); TUF when no format claims it, so that TUF's reader names
    what is wrong with it."""
    for name in FORMATS:
        klass = format_class(name)
        if name != DEFAULT and klass.claims(data):
            return klass
    return format_class(DEFAULT)


def online_key_note(path: Path, name: str, data: bytes) -> str:
    """An online public key file arriving in a bundle, checked by the format whose key file it
    is (the default format takes any file no other claims): ``"NAME: ... public key ID"``.

    Raises:
        PlanError: the file is no usable public key.
    """
    for fmt in FORMATS:
        if fmt != DEFAULT:
            note = format_class(fmt).online_key_note(path, name, data)
            if note is not None:
                return note
    note = format_class(DEFAULT).online_key_note(path, name, data)
    if note is None:  # pragma: no cover - the default format claims every file
        raise PlanError(f"{name} is not a public key file")
    return note
