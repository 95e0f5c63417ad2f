"""``@frozen`` (hsm/frozen.py) against ``@dataclass(frozen=True)``: the same fields, defaults,
constructor, equality, hash, repr, freeze, ``replace``, ``asdict`` and ``match``, on twin
classes defined once with each decorator. ``@frozen`` records the fields itself (no code
generated, no annotation scanned by regular expression), so this is what keeps it honest."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import field
from typing import Any, ClassVar

import pytest

from hsm.frozen import frozen


def _define(decorate: Callable[[type], type]) -> tuple[type, type]:
    @decorate
    class Base:
        """A base."""

        TYPE: ClassVar[str] = "base"
        a: int
        b: str = "x"
        c: list[int] = field(default_factory=list)
        d: int = field(default=3, repr=False, compare=False, metadata={"m": 1})
        e: int = field(default=0, kw_only=True)

        def twice(self) -> int:
            return 2 * self.a

    @decorate
    class Child(Base):  # type: ignore[valid-type, misc]
        """A child: a field of the base re-declared keeps its place; one more, one not in init."""

        TYPE: ClassVar[str] = "child"
        f: str = "y"
        b: str = "z"
        g: int = field(init=False, default=7)
        h: dict[str, Any] | None = None

        def __post_init__(self) -> None:
            if self.a < 0:
                raise ValueError("a must not be negative")

    return Base, Child


MINE = _define(frozen)
THEIRS = _define(dataclasses.dataclass(frozen=True))


def _describe(cls: type) -> list[tuple[Any, ...]]:
    return [(f.name, f.type, f.default, f.default_factory, f.init, f.repr, f.compare, f.hash,
             f.kw_only, dict(f.metadata)) for f in dataclasses.fields(cls)]


@pytest.mark.parametrize("i", [0, 1])
def test_the_fields_are_the_ones_dataclasses_records(i: int) -> None:
    mine, theirs = MINE[i], THEIRS[i]
    assert _describe(mine) == _describe(theirs)
    assert mine.__match_args__ == theirs.__match_args__  # type: ignore[attr-defined]
    assert dataclasses.is_dataclass(mine)
    for name in ("a", "b", "c", "d", "e", "f", "g", "h", "TYPE"):
        assert getattr(mine, name, "absent") == getattr(theirs, name, "absent"), name
    assert mine.__annotations__ == theirs.__annotations__  # the texts, untouched


def _pair(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
    return MINE[1](*args, **kwargs), THEIRS[1](*args, **kwargs)


def test_instances_behave_alike() -> None:
    mine, theirs = _pair(1, "b", [2], 4, "f", e=5)
    assert dataclasses.asdict(mine) == dataclasses.asdict(theirs)
    assert repr(mine) == repr(theirs)
    assert mine.twice() == theirs.twice() == 2
    assert mine == MINE[1](1, "b", [2], 9, "f", e=5)  # d takes no part in equality
    assert mine != MINE[1](1, "b", [3], 4, "f", e=5)
    assert mine != theirs  # another class
    assert hash(MINE[1](1, h=None, c=())) == hash(MINE[1](1, h=None, c=()))
    assert dataclasses.replace(mine, a=3).a == dataclasses.replace(theirs, a=3).a == 3
    assert dataclasses.replace(mine, a=3).g == 7
    with pytest.raises(dataclasses.FrozenInstanceError):
        mine.a = 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        del mine.a
    child = MINE[1]
    match mine:
        case child(1, "b", [2], 4, "f"):
            pass
        case _:
            pytest.fail("positional match failed")


@pytest.mark.parametrize(("args", "kwargs", "error"), [
    ((), {}, "missing 1 required .*argument: 'a'"),
    ((1, "b", [], 4, "f", "b2", None, 9), {}, "positional arguments"),
    ((1,), {"a": 2}, "multiple values for argument 'a'"),
    ((1,), {"zz": 2}, "unexpected keyword argument 'zz'"),
    ((1,), {"g": 2}, "unexpected keyword argument 'g'"),
])
def test_bad_constructions_fail_alike(args: tuple[Any, ...], kwargs: dict[str, Any], error: str) -> None:
    for cls in (MINE[1], THEIRS[1]):
        with pytest.raises(TypeError, match=error):
            cls(*args, **kwargs)


def test_post_init_runs() -> None:
    for cls in (MINE[1], THEIRS[1]):
        with pytest.raises(ValueError, match="must not be negative"):
            cls(-1)


def test_what_dataclasses_refuses_is_refused() -> None:
    with pytest.raises(ValueError, match="mutable default .* for field a is not allowed"):
        @frozen
        class Bad:
            a: list[int] = []  # noqa: RUF012 - the mistake under test

    with pytest.raises(TypeError, match="'b' is a field but has no type annotation"):
        @frozen
        class Unannotated:
            a: int
            b = field(default=1)

    with pytest.raises(TypeError, match="supports no InitVar or KW_ONLY"):
        @frozen
        class Marker:
            a: int
            _: dataclasses.KW_ONLY
            b: int


def test_every_frozen_type_of_the_tool_constructs_and_compares() -> None:
    """Each @frozen class the tool defines (in the modules a step loads) lists, as fields,
    exactly its annotated non-ClassVar names, bases first."""
    import ceremony.events as events
    import ceremony.plan as plan

    for module in (events, plan):
        for cls in vars(module).values():
            if isinstance(cls, type) and "_frozen_init" in cls.__dict__ and cls.__module__ == module.__name__:
                expected: list[str] = []
                for k in reversed(cls.__mro__):
                    for name, text in vars(k).get("__annotations__", {}).items():
                        if "__dataclass_fields__" in vars(k) and not str(text).startswith("ClassVar") \
                                and name not in expected:
                            expected.append(name)
                assert [f.name for f in dataclasses.fields(cls)] == expected, cls
