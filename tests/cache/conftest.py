"""Fixtures of the cache tests.

The behavioural suite runs on every (store, flavour) pair: the memory store,
the Redis store on fakeredis and on the real Redis on 127.0.0.1:6379, each
with the sync and the async cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import pytest

from panicquota.breaker import AsyncVIXCircuitBreaker, VIXCircuitBreaker, connect_async
from panicquota.cache import (
    AsyncMemoryStore,
    AsyncPanicCache,
    AsyncRedisStore,
    MemoryStore,
    PanicCache,
    RedisStore,
)
from panicquota.clock import ManualClock

from .support import T0, View, delete_prefix, unique_prefix

Make = Callable[..., View]


@pytest.fixture
def clock() -> ManualClock:
    """The clock of the breaker (and so of the cache)."""
    return ManualClock(T0)


@pytest.fixture(params=["memory", "fakeredis", "redis"])
def store_kind(request: pytest.FixtureRequest) -> str:
    """Which store the test runs on."""
    return str(request.param)


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    """The sync or the async cache."""
    return str(request.param)


@pytest.fixture
def make(
    request: pytest.FixtureRequest, store_kind: str, flavour: str, clock: ManualClock
) -> Iterator[Make]:
    """A factory of caches (behind a View) over the test's store, breaker and clock."""
    prefix = unique_prefix()
    runner = asyncio.Runner() if flavour == "async" else None
    sync_client: Any
    if store_kind == "redis":
        sync_client = request.getfixturevalue("real_redis")
        url = request.getfixturevalue("real_redis_url")

        def new_async() -> Any:
            return connect_async(url)
    else:
        server = fakeredis.FakeServer()
        sync_client = fakeredis.FakeRedis(server=server)

        def new_async() -> Any:
            return fakeredis.FakeAsyncRedis(server=server)

    async_clients: list[Any] = []

    def build(**options: Any) -> View:
        options.setdefault("normal_ttl", 60)
        if runner is None:
            breaker: Any = VIXCircuitBreaker(sync_client, key_prefix=f"{prefix}:vix", clock=clock)
            store: Any = (
                MemoryStore()
                if store_kind == "memory"
                else RedisStore(sync_client, prefix=f"{prefix}:c")
            )
            cache: Any = PanicCache(breaker, store, **options)
            return View(cache, breaker, None, sync_client, f"{prefix}:c")
        client = new_async()
        async_clients.append(client)
        breaker = AsyncVIXCircuitBreaker(client, key_prefix=f"{prefix}:vix", clock=clock)
        store = (
            AsyncMemoryStore()
            if store_kind == "memory"
            else AsyncRedisStore(client, prefix=f"{prefix}:c")
        )
        cache = AsyncPanicCache(breaker, store, **options)
        return View(cache, breaker, runner, sync_client, f"{prefix}:c")

    yield build
    if runner is not None:
        for client in async_clients:
            runner.run(client.aclose())
        runner.close()
    delete_prefix(sync_client, prefix)
    if store_kind != "redis":
        sync_client.close()
