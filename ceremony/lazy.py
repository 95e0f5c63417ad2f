"""A package whose names load their submodule on first use (PEP 562), shared by the packages
that re-export many submodules (``ceremony.transport``, ``ceremony.flows``).

Why: ``import ceremony.transport.usb`` runs ``ceremony/transport/__init__.py`` first, and an
eager package would load every submodule (qrcode, PIL, zxing for a USB export that needs
none of them). A lazy package keeps the short names (``transport.Bundle``) and the start-up.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping


def package_attributes(package: str, namespace: MutableMapping[str, object],
                       home: Mapping[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The package's ``__getattr__`` and ``__dir__``: ``home`` maps each re-exported name to
    the submodule defining it; a name is loaded on first use and then kept in ``namespace``.

    The returned ``__getattr__`` raises AttributeError for a name not in ``home``.
    """

    def getattr_(name: str) -> object:
        where = home.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        # lazy: the submodule defining ``name``, on first use (what this module is for)
        value = getattr(importlib.import_module(f"{package}.{where}"), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted({*namespace, *home})

    return getattr_, dir_
