"""A store that fails never fails a request: Redis killed mid-run, restarted; broken stores."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest

from panicquota.breaker import VIXCircuitBreaker, connect, connect_async
from panicquota.cache import (
    AsyncPanicCache,
    AsyncRedisStore,
    CacheSource,
    Entry,
    PanicCache,
    RedisStore,
)
from panicquota.clock import ManualClock
from pytest_panicquota import Upstream

from ..breaker.support import RedisServer, free_port
from .support import T0


@pytest.fixture
def server() -> Iterator[RedisServer]:
    """A private redis-server on a free port, killed after the test."""
    own = RedisServer(free_port())
    own.start()
    yield own
    own.kill()


def cache_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Return the cache's log messages, cut after the store's name."""
    return [r.getMessage() for r in caplog.records if r.name == "panicquota.cache"]


def test_redis_killed_mid_run_never_fails_a_request(
    server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Killed: values are fetched and returned, logged once; restarted: the store is used again."""
    client = connect(server.url, socket_timeout=0.2)
    clock = ManualClock(T0)
    breaker = VIXCircuitBreaker(client, key_prefix="vix", clock=clock)
    cache = PanicCache(breaker, RedisStore(client, prefix="odds"), normal_ttl=60)
    upstream = Upstream()
    assert cache.lookup("k", upstream).source is CacheSource.MISS
    assert cache.lookup("k", upstream).source is CacheSource.HIT
    server.kill()
    caplog.set_level(logging.DEBUG, logger="panicquota.cache")
    started = time.monotonic()
    during = [cache.lookup("k", upstream) for _ in range(20)]
    elapsed = time.monotonic() - started
    assert [r.source for r in during] == [CacheSource.MISS] * 20
    assert [r.value for r in during] == [f"upstream #{n}" for n in range(2, 22)]
    assert elapsed < 5.0
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert (
        warnings[0]
        .getMessage()
        .startswith("cache store RedisStore(prefix='odds') failed (ConnectionError: ")
    )
    assert (
        warnings[0]
        .getMessage()
        .endswith("; fetching upstream without it and retrying every 2 s at most")
    )
    server.start()  # same port, empty
    time.sleep(2.1)
    caplog.clear()
    assert cache.lookup("k", upstream).source is CacheSource.MISS
    assert cache.lookup("k", upstream).source is CacheSource.HIT
    assert [m.split(", after")[0] for m in cache_messages(caplog)] == [
        "cache store RedisStore(prefix='odds') answers again"
    ]
    client.close()


def test_async_redis_killed_mid_run_never_fails_a_request(server: RedisServer) -> None:
    """The async cache answers through an outage and uses the store again afterwards."""

    async def scenario() -> list[CacheSource]:
        client = connect_async(server.url, socket_timeout=0.2)
        breaker_client = fakeredis.FakeAsyncRedis()
        from panicquota.breaker import AsyncVIXCircuitBreaker

        breaker = AsyncVIXCircuitBreaker(breaker_client, clock=ManualClock(T0))
        cache = AsyncPanicCache(breaker, AsyncRedisStore(client, prefix="odds"), normal_ttl=60)
        upstream = Upstream()
        sources = [(await cache.lookup("k", upstream.fetch_async)).source for _ in range(2)]
        server.kill()
        sources += [(await cache.lookup("k", upstream.fetch_async)).source for _ in range(3)]
        server.start()
        await asyncio.sleep(2.1)
        sources += [(await cache.lookup("k", upstream.fetch_async)).source for _ in range(2)]
        await client.aclose()
        await breaker_client.aclose()
        return sources

    hit, miss = CacheSource.HIT, CacheSource.MISS
    assert asyncio.run(scenario()) == [miss, hit, miss, miss, miss, miss, hit]


class BrokenStore:
    """A shared store whose chosen operations raise OSError."""

    shared = True
    errors = (OSError,)

    def __init__(self, *broken: str) -> None:
        self.broken = set(broken)
        self.data: dict[str, Entry] = {}
        self.leases: dict[str, str] = {}

    def _check(self, operation: str) -> None:
        if operation in self.broken:
            raise OSError(f"{operation} is broken")

    def get(self, key: str) -> Entry | None:
        self._check("get")
        return self.data.get(key)

    def set(self, key: str, entry: Entry, expire: float) -> None:
        self._check("set")
        self.data[key] = entry

    def acquire(self, key: str, seconds: float) -> str | None:
        self._check("acquire")
        if key in self.leases:
            self._check("wait")
            return None
        self.leases[key] = "token"
        return "token"

    def release(self, key: str, token: str) -> None:
        self._check("release")
        self.leases.pop(key, None)

    def __repr__(self) -> str:
        return f"BrokenStore({sorted(self.broken)!r})"


class AsyncBrokenStore(BrokenStore):
    """The BrokenStore, awaitable."""

    async def get(self, key: str) -> Entry | None:  # type: ignore[override]
        return BrokenStore.get(self, key)

    async def set(self, key: str, entry: Entry, expire: float) -> None:  # type: ignore[override]
        BrokenStore.set(self, key, entry, expire)

    async def acquire(self, key: str, seconds: float) -> str | None:  # type: ignore[override]
        return BrokenStore.acquire(self, key, seconds)

    async def release(self, key: str, token: str) -> None:  # type: ignore[override]
        BrokenStore.release(self, key, token)


class PlainBreaker:
    """A breaker stand-in that always decides the normal TTL."""

    def __init__(self, decision: Any) -> None:
        self.decision = decision

    def get_ttl(self, normal_ttl: float, context: Any = None) -> Any:
        return self.decision


class AsyncPlainBreaker(PlainBreaker):
    async def get_ttl(self, normal_ttl: float, context: Any = None) -> Any:  # type: ignore[override]
        return self.decision


DECISION = (60.0, None, {})


@pytest.mark.parametrize("broken", ["get", "set", "acquire", "release"])
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_each_failing_store_call_still_answers(
    broken: str, flavour: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Whichever store call fails, the value is fetched and returned, the failure logged."""
    upstream = Upstream()
    if flavour == "sync":
        store: BrokenStore = BrokenStore(broken)
        cache: Any = PanicCache(PlainBreaker(DECISION), store, normal_ttl=60, clock=lambda: T0)
        result = cache.lookup("k", upstream)
    else:
        store = AsyncBrokenStore(broken)
        cache = AsyncPanicCache(AsyncPlainBreaker(DECISION), store, normal_ttl=60, clock=lambda: T0)
        result = asyncio.run(cache.lookup("k", upstream.fetch_async))
    assert (result.value, result.source) == ("upstream #1", CacheSource.MISS)
    # A lease that could not be given back runs out by its PX in Redis.
    assert store.leases == ({"k": "token"} if broken == "release" else {})
    assert [m.split(" failed")[0] for m in cache_messages(caplog)] == [
        f"cache store BrokenStore([{broken!r}])"
    ]


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_store_failing_while_waiting_for_a_lease_fetches(flavour: str) -> None:
    """A store that fails while this worker waits on another's lease: the worker fetches."""
    upstream = Upstream()
    if flavour == "sync":
        store: BrokenStore = BrokenStore("wait")
        store.leases["k"] = "other"
        cache: Any = PanicCache(PlainBreaker(DECISION), store, normal_ttl=60, clock=lambda: T0)
        result = cache.lookup("k", upstream)
    else:
        store = AsyncBrokenStore("wait")
        store.leases["k"] = "other"
        cache = AsyncPanicCache(AsyncPlainBreaker(DECISION), store, normal_ttl=60, clock=lambda: T0)
        result = asyncio.run(cache.lookup("k", upstream.fetch_async))
    assert (result.value, result.source) == ("upstream #1", CacheSource.MISS)
    assert store.leases == {"k": "other"}


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_lease_never_released_makes_a_waiter_give_up(flavour: str) -> None:
    """A lease that outlives coalesce_timeout (a hung holder): the waiter fetches by itself."""
    upstream = Upstream()
    if flavour == "sync":
        store: BrokenStore = BrokenStore()
        store.leases["k"] = "hung"
        cache: Any = PanicCache(
            PlainBreaker(DECISION), store, normal_ttl=60, coalesce_timeout=0.2, clock=lambda: T0
        )
        result = cache.lookup("k", upstream)
    else:
        store = AsyncBrokenStore()
        store.leases["k"] = "hung"
        cache = AsyncPanicCache(
            AsyncPlainBreaker(DECISION),
            store,
            normal_ttl=60,
            coalesce_timeout=0.2,
            clock=lambda: T0,
        )
        result = asyncio.run(cache.lookup("k", upstream.fetch_async))
    assert (result.value, result.source) == ("upstream #1", CacheSource.MISS)
    assert "k" in store.data
