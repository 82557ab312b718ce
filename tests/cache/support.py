"""Helpers of the cache tests: one view over the sync and the async cache."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from panicquota.cache import CacheResult

#: 2027-01-15 08:00 UTC: timestamps that look real on a shared server.
T0 = 1_800_000_000.0


def unique_prefix() -> str:
    """Return a key prefix no other test uses."""
    return f"pqcache:{uuid.uuid4().hex}"


def delete_prefix(client: Any, prefix: str) -> None:
    """Delete the keys under *prefix*, and only those."""
    keys = list(client.scan_iter(match=f"{prefix}*", count=500))
    if keys:
        client.delete(*keys)


class View:
    """Drive a PanicCache or an AsyncPanicCache (and its breaker) with sync calls."""

    def __init__(
        self, cache: Any, breaker: Any, runner: asyncio.Runner | None, redis: Any, prefix: str
    ) -> None:
        self.cache = cache
        self.breaker = breaker
        self.runner = runner
        #: A sync client of the Redis under the store (and the breaker).
        self.redis = redis
        #: The store's key prefix.
        self.prefix = prefix

    @property
    def is_async(self) -> bool:
        """Whether the cache under test is the async one."""
        return self.runner is not None

    def _run(self, value: Any) -> Any:
        return value if self.runner is None else self.runner.run(value)

    def lookup(self, key: str, fetch: Callable[[], Any], context: Any = None) -> CacheResult:
        """Look *key* up; *fetch* is a plain function, wrapped in a coroutine for async."""
        if self.runner is None:
            result: CacheResult = self.cache.lookup(key, fetch, context)
            return result

        async def fetch_async() -> Any:
            return fetch()

        return self._run(self.cache.lookup(key, fetch_async, context))  # type: ignore[no-any-return]

    def get_or_fetch(self, key: str, fetch: Callable[[], Any], context: Any = None) -> Any:
        """Return the value of :meth:`lookup`."""
        return self.lookup(key, fetch, context).value

    def cache_control(self, context: Any = None, **options: Any) -> str:
        """Return the cache's Cache-Control value."""
        return self._run(self.cache.cache_control(context, **options))  # type: ignore[no-any-return]

    def trip(self) -> None:
        """Start a panic."""
        self._run(self.breaker.trip())

    def reset(self) -> None:
        """End the panic."""
        self._run(self.breaker.reset())
