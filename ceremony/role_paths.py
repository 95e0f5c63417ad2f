"""Which targets a delegated role may sign for, as TUF clients decide it (pure).

A delegation names its targets by ``paths`` (shell-style patterns) or by
``path_hash_prefixes`` (prefixes of the sha256 of the target's path). Clients match a
pattern the way python-tuf's ``DelegatedRole`` does: the target path and the pattern are
split on ``/``, must have as many parts, and each part must match with ``fnmatch`` (so ``*``
never crosses a ``/``). The plan checks two things with these rules before anything is
made: a target file the plan lists under a role is one its patterns cover (else no client
would look for it there), and no delegation can answer for a target a terminating sibling
also answers for (which one a client trusts would depend on the order it searches them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from fnmatch import fnmatchcase

_WILD = "*?"


def _hash(path: str) -> str:
    return hashlib.sha256(path.encode()).hexdigest()


def covers(paths: Sequence[str] | None, prefixes: Sequence[str] | None, target: str) -> bool:
    """Whether a role with ``paths`` or ``prefixes`` may sign for ``target``."""
    if prefixes is not None:
        digest = _hash(target)
        return any(digest.startswith(p) for p in prefixes)
    parts = target.split("/")
    for pattern in paths or ():
        pieces = pattern.split("/")
        if len(pieces) == len(parts) and all(fnmatchcase(t, p) for t, p in zip(parts, pieces,
                                                                                strict=True)):
            return True
    return False


def _segments_meet(a: str, b: str) -> bool:
    """Whether one string (without ``/``) matches both ``*``/``?`` patterns ``a`` and ``b``.

    The two patterns are walked together as automata: a position pair is reachable when
    some common prefix leads both there; ``*`` may match nothing (skip it) or one more
    character (stay on it), ``?`` one character, a literal only itself.
    """
    def close(i: int, j: int) -> set[tuple[int, int]]:
        out, todo = set(), [(i, j)]
        while todo:
            x, y = todo.pop()
            if (x, y) in out:
                continue
            out.add((x, y))
            if x < len(a) and a[x] == "*":
                todo.append((x + 1, y))
            if y < len(b) and b[y] == "*":
                todo.append((x, y + 1))
        return out

    seen: set[tuple[int, int]] = set()
    todo = list(close(0, 0))
    while todo:
        i, j = todo.pop()
        if (i, j) in seen:
            continue
        seen.add((i, j))
        if i == len(a) and j == len(b):
            return True
        if i == len(a) or j == len(b):
            continue
        ca, cb = a[i], b[j]
        if ca not in _WILD and cb not in _WILD and ca != cb:
            continue  # two different literals: no common character
        ni = i if ca == "*" else i + 1
        nj = j if cb == "*" else j + 1
        todo.extend(close(ni, nj) - seen)
    return False


def patterns_meet(a: str, b: str) -> bool:
    """Whether some target path matches both patterns (as a TUF client matches them)."""
    pa, pb = a.split("/"), b.split("/")
    return len(pa) == len(pb) and all(_segments_meet(x, y) for x, y in zip(pa, pb, strict=True))


def overlap(paths_a: Sequence[str] | None, prefixes_a: Sequence[str] | None,
            paths_b: Sequence[str] | None,
            prefixes_b: Sequence[str] | None) -> tuple[str, str] | None:
    """A pair of patterns (or prefixes) of two roles that can match one target, or None."""
    for x in paths_a or ():
        for y in paths_b or ():
            if patterns_meet(x, y):
                return x, y
    for x in prefixes_a or ():
        for y in prefixes_b or ():
            if x.startswith(y) or y.startswith(x):
                return x, y
    # a pattern against hash prefixes: a literal path has one hash; a wildcard, any
    for pats, pres, flip in ((paths_a, prefixes_b, False), (paths_b, prefixes_a, True)):
        for p in pats or ():
            for h in pres or ():
                if any(c in p for c in _WILD) or _hash(p).startswith(h):
                    return (h, p) if flip else (p, h)
    return None
