"""``@frozen``: a frozen dataclass that costs little to define, for the types every command loads.

Why it exists: on Python 3.11, ``@dataclass(frozen=True)`` compiles its ``__init__``,
``__eq__``, ``__hash__`` and ``__repr__`` from generated source each time a class is
defined, at import. That is about 4 million instructions a class (a plain dataclass costs
about 2), and the ~40 frozen types on the path of every keyholder step (the plan, the
workspace, the journal's lines, the events, threshold verdicts) cost more start-up than
the code that uses them (issue 14 measures each step's start-up against importing
python-tuf).

``@frozen`` records the fields itself, as :mod:`dataclasses` would (annotations in order,
bases first, defaults and ``field()``, ``default_factory``, ``init``/``repr``/``compare``/
``kw_only``/``metadata``, ``ClassVar`` left out, ``__match_args__``), and gives every class
the same methods, written once here: the behaviour of the generated ones (positional then
keyword arguments, defaults and default factories, ``__post_init__``, equality and hash over
the fields, the dataclass ``repr``, ``FrozenInstanceError`` on assignment). Why not let
:mod:`dataclasses` read the class and only skip its code generation (as this did first):
under ``from __future__ import annotations`` it matches every annotation's text against
regular expressions three times and walks the class for abstract methods, ~0.3 million
instructions a class, ~15 million for the types a keyholder step loads; recording the
fields costs a third of that. The one thing :mod:`dataclasses` offers no public name for is
the mark its ``fields()`` keeps a field by: it is read off a class :mod:`dataclasses` made
(:func:`_field_marker`), and ``tests/hsm/test_frozen.py`` holds ``@frozen`` to
``@dataclass(frozen=True)`` on twin classes, field by field and behaviour by behaviour.

The class *is* a dataclass: ``dataclasses.fields``, ``replace``, ``asdict`` and
``is_dataclass`` work on it, and mypy checks its constructor and its read-only members as a
frozen dataclass's (``dataclass_transform``). Differences: it has no
``__dataclass_params__``, no ``InitVar`` or ``KW_ONLY`` (refused), and no generated
``__doc__``; so a ``@frozen`` class may not inherit from a ``@dataclass`` one, nor the other
way round (none does).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar, cast, dataclass_transform

T = TypeVar("T")

_MISSING: Any = dataclasses.MISSING



def _field_marker() -> object:
    """The mark :func:`dataclasses.fields` keeps a field by (``Field._field_type``; the module
    has no public name for it), read once off a class :mod:`dataclasses` made itself."""

    @dataclasses.dataclass(init=False, repr=False, eq=False)
    class Probe:
        """A docstring, so that dataclasses does not compute one with inspect."""

        x: int

    return dataclasses.fields(Probe)[0]._field_type  # type: ignore[attr-defined]


_FIELD = _field_marker()


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def frozen(cls: type[T]) -> type[T]:
    """``cls`` as ``@dataclass(frozen=True)`` makes it, with the shared methods below (no
    method is generated from source, so defining the class costs next to nothing).

    Raises:
        TypeError: a field is an ``InitVar`` or a ``KW_ONLY`` marker (not supported), or a
            ``field()`` has no annotation.
        ValueError: a field's default is mutable (as :mod:`dataclasses` refuses it).

    Returns:
        the class, now a frozen dataclass.
    """
    made: Any = cls  # typed Any: the attributes set below are dataclasses' and ours
    fields: dict[str, dataclasses.Field[Any]] = {}
    for base in reversed(cls.__mro__[1:]):  # as dataclasses does: the base fields, in order
        fields.update(getattr(base, "__dataclass_fields__", {}))
    own = cls.__dict__.get("__annotations__", {})
    for name, text in own.items():
        if isinstance(text, str) and ("ClassVar" in text or "InitVar" in text or "KW_ONLY" in text):
            if text.startswith(("ClassVar", "typing.ClassVar")):
                continue  # a class attribute, not a field
            raise TypeError(f"{cls.__name__}.{name}: @frozen supports no InitVar or KW_ONLY")
        fields[name] = _field(made, name, text)
    for name, value in cls.__dict__.items():
        if isinstance(value, dataclasses.Field) and name not in own:
            raise TypeError(f"{name!r} is a field but has no type annotation")
    made.__dataclass_fields__ = fields
    listed = tuple(fields.values())
    if "__match_args__" not in made.__dict__:
        made.__match_args__ = tuple(f.name for f in listed if f.init and not f.kw_only)  # type: ignore[misc]
    made._frozen_init = (tuple(f for f in listed if f.init and not f.kw_only),
                         tuple(f for f in listed if f.init),
                         tuple(f for f in listed if not f.init))
    made._frozen_compare = tuple(f.name for f in listed if f.compare)
    made._frozen_repr = tuple(f.name for f in listed if f.repr)
    for name, shared in (("__init__", _init), ("__eq__", _eq), ("__hash__", _hash),
                         ("__repr__", _repr), ("__setattr__", _frozen),
                         ("__delattr__", _frozen)):
        setattr(made, name, shared)
    return cast("type[T]", made)


def _field(cls: Any, name: str, text: Any) -> dataclasses.Field[Any]:
    """The field ``name`` of ``cls``, as ``dataclasses`` records it: its ``field()`` or plain
    default (a default a base class set counts), its annotation, and the class attribute set
    to the default (or removed when there is none)."""
    default = getattr(cls, name, _MISSING)
    f: Any = default if isinstance(default, dataclasses.Field) else dataclasses.field(default=default)
    f.name = name
    f.type = text
    f._field_type = _FIELD  # what dataclasses.fields() lists
    if f.kw_only is _MISSING:
        f.kw_only = False
    if f.default is not _MISSING and f.default.__class__.__hash__ is None:
        raise ValueError(f"mutable default {type(f.default)} for field {name} is not allowed: "
                         "use default_factory")
    if isinstance(cls.__dict__.get(name), dataclasses.Field):
        if f.default is _MISSING:
            delattr(cls, name)
        else:
            setattr(cls, name, f.default)
    return f


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
