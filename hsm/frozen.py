"""``@frozen``: a frozen dataclass that costs little to define, for the types every command loads.

Why it exists: on Python 3.11, ``@dataclass(frozen=True)`` compiles its ``__init__``,
``__eq__``, ``__hash__`` and ``__repr__`` from generated source each time a class is
defined, at import. That is about 4 million instructions a class (a plain dataclass costs
about 2), and the ~40 frozen types on the path of every keyholder step (the plan, the
workspace, the journal's lines, the events, threshold verdicts) cost more start-up than
the code that uses them (issue 14 measures each step's start-up against importing
python-tuf).

``@frozen`` lets :mod:`dataclasses` do everything it does without generating code (fields,
defaults, ``field()``, ``kw_only``, ``ClassVar``, inheritance, ``__match_args__``), and
gives every class the same methods instead, written once here: the same behaviour as the
generated ones (positional then keyword arguments, defaults and default factories,
``__post_init__``, equality and hash over the fields, the dataclass ``repr``, and
``FrozenInstanceError`` on assignment). The class *is* a dataclass: ``dataclasses.fields``,
``replace``, ``asdict`` and ``is_dataclass`` work on it, and mypy checks its constructor
and its read-only members as a frozen dataclass's (``dataclass_transform``). One
difference: ``dataclasses`` records it as not frozen (``__dataclass_params__``), since
the freeze is ours; so a ``@frozen`` class may not inherit from a ``@dataclass(frozen=True)``
one, nor the other way round (none does).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar, cast, dataclass_transform

T = TypeVar("T")

_MISSING: Any = dataclasses.MISSING


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def frozen(cls: type[T]) -> type[T]:
    """``cls`` as ``@dataclass(frozen=True)`` makes it, with the shared methods below (no
    method is generated from source, so defining the class costs next to nothing).

    Returns:
        the class, now a frozen dataclass.
    """
    made: Any = dataclasses.dataclass(init=False, eq=False, repr=False)(cls)
    fields = dataclasses.fields(made)
    made._frozen_init = (tuple(f for f in fields if f.init and not f.kw_only),
                         tuple(f for f in fields if f.init),
                         tuple(f for f in fields if not f.init))
    made._frozen_compare = tuple(f.name for f in fields if f.compare)
    made._frozen_repr = tuple(f.name for f in fields if f.repr)
    for name, shared in (("__init__", _init), ("__eq__", _eq), ("__hash__", _hash),
                         ("__repr__", _repr), ("__setattr__", _frozen),
                         ("__delattr__", _frozen)):
        setattr(made, name, shared)
    return cast("type[T]", made)


def _default(f: dataclasses.Field[Any]) -> Any:
    factory: Any = f.default_factory
    return factory() if factory is not _MISSING else f.default


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    """The constructor every ``@frozen`` class shares (what the generated one does)."""
    positional, accepted, uninit = type(self)._frozen_init
    name = type(self).__name__
    if len(args) > len(positional):
        raise TypeError(f"{name}.__init__() takes {len(positional) + 1} positional arguments "
                        f"but {len(args) + 1} were given")
    values = {f.name: a for f, a in zip(positional, args, strict=False)}
    for key, value in kwargs.items():
        if key in values:
            raise TypeError(f"{name}.__init__() got multiple values for argument {key!r}")
        values[key] = value
    setter = object.__setattr__
    for f in accepted:
        if f.name in values:
            setter(self, f.name, values.pop(f.name))
        elif f.default is _MISSING and f.default_factory is _MISSING:
            raise TypeError(f"{name}.__init__() missing 1 required argument: {f.name!r}")
        else:
            setter(self, f.name, _default(f))
    if values:
        raise TypeError(f"{name}.__init__() got an unexpected keyword argument "
                        f"{next(iter(values))!r}")
    for f in uninit:
        if f.default is not _MISSING or f.default_factory is not _MISSING:
            setter(self, f.name, _default(f))
    post = getattr(self, "__post_init__", None)
    if post is not None:
        post()


def _frozen(self: Any, name: str, *_: Any) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _key(self: Any) -> tuple[Any, ...]:
    return tuple(getattr(self, n) for n in type(self)._frozen_compare)


def _eq(self: Any, other: object) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _key(self) == _key(other)


def _hash(self: Any) -> int:
    return hash(_key(self))


def _repr(self: Any) -> str:
    inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in type(self)._frozen_repr)
    return f"{type(self).__qualname__}({inner})"
