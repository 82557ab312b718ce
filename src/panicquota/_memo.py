"""A bounded memo whose hit is one C-level dict look-up."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedMemo(dict[K, V], Generic[K, V]):
    """Memoise ``compute(key)`` for at most *maxsize* keys.

    Why not ``functools.lru_cache``: on the policy's hot path its hit costs
    about twice a dict look-up, and the policy's budget is a few hundred
    nanoseconds. Request contexts are few in practice (a league or an event
    name), so instead of tracking recency the memo simply empties itself when
    full: memory stays bounded however many distinct keys arrive, and a hit is
    ``memo[key]`` with ``__missing__`` running only on a miss. Safe to share
    between threads: at worst two threads compute the same value.
    """

    __slots__ = ("_compute", "_maxsize")

    def __init__(self, compute: Callable[[K], V], maxsize: int) -> None:
        super().__init__()
        self._compute = compute
        self._maxsize = maxsize

    def __missing__(self, key: K) -> V:
        value = self._compute(key)
        if self._maxsize:
            if len(self) >= self._maxsize:
                self.clear()
            self[key] = value
        return value

    def __reduce__(self) -> tuple[object, ...]:
        # A memo is a cache, not a value: it pickles empty.
        return (type(self), (self._compute, self._maxsize))
