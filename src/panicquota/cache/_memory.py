"""MemoryStore: the embedded store, a bounded LRU of entries in this process."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Final

from panicquota.cache._types import Entry
from panicquota.errors import InvalidArgumentError, InvalidTypeError

__all__ = ["AsyncMemoryStore", "MemoryStore"]

_NO_ERRORS: Final[tuple[type[BaseException], ...]] = ()


class MemoryStore:
    """Keep entries in this process: bounded, least recently used evicted first, thread-safe.

    Values are kept as they are (not serialized): a caller that mutates a
    value it got from the cache mutates the cached one, as with
    ``functools.lru_cache`` or ``cachetools``.

    Args:
        max_entries: the most entries kept; the least recently used goes first.
    """

    #: Entries are private to the process: no serializing, no leases.
    shared: Final = False
    #: A memory store never fails.
    errors: Final = _NO_ERRORS

    def __init__(self, max_entries: int = 10_000) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int):
            raise InvalidTypeError(
                f"max_entries must be an int >= 1, got {type(max_entries).__name__} {max_entries!r}"
            )
        if max_entries < 1:
            raise InvalidArgumentError(f"max_entries must be an int >= 1, got {max_entries!r}")
        self.max_entries = max_entries
        self._data: OrderedDict[str, tuple[Entry, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Entry | None:
        """Return the entry stored at *key*, or ``None`` (absent or past its storage expiry)."""
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            if item[1] <= time.monotonic():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return item[0]

    def set(self, key: str, entry: Entry, expire: float) -> None:
        """Store *entry* at *key* for *expire* seconds, evicting the least recently used."""
        deadline = time.monotonic() + expire
        with self._lock:
            data = self._data
            data[key] = (entry, deadline)
            data.move_to_end(key)
            while len(data) > self.max_entries:
                data.popitem(last=False)

    def delete(self, key: str) -> None:
        """Remove the entry at *key*, if any."""
        with self._lock:
            self._data.pop(key, None)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"MemoryStore(max_entries={self.max_entries!r})"


class AsyncMemoryStore:
    """The :class:`MemoryStore` for :class:`AsyncPanicCache`: the same store, awaitable.

    Args:
        max_entries: the most entries kept; the least recently used goes first.
    """

    shared: Final = False
    errors: Final = _NO_ERRORS

    def __init__(self, max_entries: int = 10_000) -> None:
        self.sync = MemoryStore(max_entries)

    async def get(self, key: str) -> Entry | None:
        """Return the entry stored at *key*, or ``None``."""
        return self.sync.get(key)

    async def set(self, key: str, entry: Entry, expire: float) -> None:
        """Store *entry* at *key* for *expire* seconds."""
        self.sync.set(key, entry, expire)

    async def delete(self, key: str) -> None:
        """Remove the entry at *key*, if any."""
        self.sync.delete(key)

    def __len__(self) -> int:
        return len(self.sync)

    def __repr__(self) -> str:
        return f"AsyncMemoryStore(max_entries={self.sync.max_entries!r})"
