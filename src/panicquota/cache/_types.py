"""The cache's public value types: where a served value came from, and the result."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple

from panicquota.decision import Decision

__all__ = ["CacheResult", "CacheSource", "Entry"]


class CacheSource(StrEnum):
    """Where the value a lookup returned came from."""

    #: A stored entry whose age is within the TTL decided for this very read.
    HIT = "HIT"
    #: Fetched upstream by this call (no fresh entry, or the store is down).
    MISS = "MISS"
    #: Fetched upstream by another caller, in this process or another one, while
    #: this one waited for it: its fetch began at most one fetch duration
    #: before this call started.
    COALESCED = "COALESCED"
    #: The fetch raised and an entry younger than ``stale_if_error`` was served.
    STALE = "STALE"


class CacheResult(NamedTuple):
    """What :meth:`PanicCache.lookup` returns (unpacks as ``value, source, age, decision``).

    Attributes:
        value: the value (the same one :meth:`PanicCache.get_or_fetch` returns).
        source: a :class:`CacheSource`.
        age: seconds from the start of the value's fetch to the end of this
            call, on the breaker's clock (for ``MISS``, the fetch's duration).
        decision: the breaker's ``(ttl, mode, meta)`` the read was judged by.
    """

    value: Any
    source: CacheSource
    age: float
    decision: Decision


class Entry(NamedTuple):
    """A stored value and when its fetch began, in epoch seconds on the breaker's clock.

    *value* is the value itself in a :class:`MemoryStore` and its serialized
    bytes in a store that shares entries between processes.
    """

    value: Any
    fetched_at: float
