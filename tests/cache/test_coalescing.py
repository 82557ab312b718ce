"""Coalescing: concurrent misses share one fetch (threads, tasks, processes, leases)."""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import fakeredis
import pytest

from panicquota.breaker import AsyncVIXCircuitBreaker, VIXCircuitBreaker
from panicquota.cache import (
    AsyncMemoryStore,
    AsyncPanicCache,
    AsyncRedisStore,
    CacheSource,
    PanicCache,
    RedisStore,
)
from panicquota.clock import ManualClock
from pytest_panicquota import Upstream, UpstreamError

from .conftest import Make
from .support import T0, delete_prefix, unique_prefix

CTX = multiprocessing.get_context("spawn")


def in_threads(count: int, call: Any) -> list[Any]:
    """Run *call* in *count* threads released together; return the results (or errors)."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def one(index: int) -> None:
        barrier.wait(timeout=30)
        try:
            results[index] = call()
        except Exception as error:
            results[index] = error

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.parametrize("flavour", ["sync"], indirect=True)
def test_sixteen_threads_missing_one_key_in_tier_one_cause_one_fetch(make: Make) -> None:
    """16 threads missing one key at TTL 0: one fetch, one MISS, 15 COALESCED, one value."""
    view = make()
    view.trip()
    # Every thread must arrive during the fetch: a later one would rightly fetch again (TTL 0).
    upstream = Upstream("odds", latency=0.6)
    results = in_threads(16, lambda: view.lookup("match:7", upstream))
    assert upstream.calls == 1
    assert sorted(r.source.value for r in results) == ["COALESCED"] * 15 + ["MISS"]
    assert {r.value for r in results} == {"odds #1"}
    assert all(r.decision[0] == 0 for r in results)


@pytest.mark.parametrize("flavour", ["async"], indirect=True)
def test_sixteen_tasks_missing_one_key_cause_one_fetch(make: Make) -> None:
    """16 tasks of one event loop missing one key in tier 1: one fetch."""
    view = make()
    view.trip()
    upstream = Upstream("odds", latency=0.2)
    assert view.runner is not None

    async def all_at_once() -> list[Any]:
        return await asyncio.gather(
            *(view.cache.lookup("match:7", upstream.fetch_async) for _ in range(16))
        )

    results = view.runner.run(all_at_once())
    assert upstream.calls == 1
    assert sorted(r.source.value for r in results) == ["COALESCED"] * 15 + ["MISS"]
    assert {r.value for r in results} == {"odds #1"}


@pytest.mark.parametrize("flavour", ["sync"], indirect=True)
def test_a_failed_fetch_reaches_every_waiter_unchanged(make: Make) -> None:
    """The one fetch's exception is raised to every caller that waited on it."""
    view = make()
    upstream = Upstream(latency=0.3)
    failure = UpstreamError("upstream is down")
    upstream.fail(failure)
    results = in_threads(8, lambda: view.lookup("k", upstream))
    assert upstream.calls == 1
    assert all(result is failure for result in results)


@pytest.mark.parametrize("flavour", ["async"], indirect=True)
def test_a_failed_fetch_reaches_every_task_unchanged(make: Make) -> None:
    """The one fetch's exception is raised to every task that waited on it."""
    view = make()
    upstream = Upstream(latency=0.2)
    failure = UpstreamError("upstream is down")
    upstream.fail(failure)
    assert view.runner is not None

    async def all_at_once() -> list[Any]:
        calls = (view.cache.lookup("k", upstream.fetch_async) for _ in range(8))
        return await asyncio.gather(*calls, return_exceptions=True)

    results = view.runner.run(all_at_once())
    assert upstream.calls == 1
    assert all(result is failure for result in results)


@pytest.mark.parametrize("flavour", ["sync"], indirect=True)
def test_a_waiter_that_gives_up_fetches_itself(make: Make) -> None:
    """A caller waits coalesce_timeout for a slow fetch, then fetches by itself."""
    view = make(coalesce_timeout=0.3)
    release = threading.Event()
    slow_calls: list[int] = []

    def slow() -> str:
        slow_calls.append(1)
        release.wait(30)
        return "slow"

    leader = threading.Thread(target=view.lookup, args=("k", slow))
    leader.start()
    while not slow_calls:
        time.sleep(0.01)
    started = time.monotonic()
    upstream = Upstream("own")
    result = view.lookup("k", upstream)
    waited = time.monotonic() - started
    release.set()
    leader.join(30)
    assert (result.value, result.source) == ("own #1", CacheSource.MISS)
    assert 0.25 <= waited < 3.0


@pytest.mark.parametrize("flavour", ["async"], indirect=True)
def test_a_task_that_gives_up_fetches_itself(make: Make) -> None:
    """A task waits coalesce_timeout for a slow fetch, then fetches by itself."""
    view = make(coalesce_timeout=0.2)
    assert view.runner is not None

    async def scenario() -> tuple[Any, Any]:
        release = asyncio.Event()

        async def slow() -> str:
            await release.wait()
            return "slow"

        leader = asyncio.ensure_future(view.cache.lookup("k", slow))
        await asyncio.sleep(0.05)
        own = await view.cache.lookup("k", Upstream("own").fetch_async)
        release.set()
        return own, await leader

    own, first = view.runner.run(scenario())
    assert (own.value, own.source) == ("own #1", CacheSource.MISS)
    assert (first.value, first.source) == ("slow", CacheSource.MISS)


# -- across processes: two caches on one Redis stand for two workers -----------


@pytest.fixture(params=["fakeredis", "redis"])
def shared_redis(request: pytest.FixtureRequest) -> Iterator[tuple[Any, str]]:
    """A Redis two caches share, and a prefix cleaned up after the test."""
    if request.param == "fakeredis":
        client = fakeredis.FakeRedis()
        yield client, unique_prefix()
        client.close()
        return
    client = request.getfixturevalue("real_redis")
    prefix = unique_prefix()
    yield client, prefix
    delete_prefix(client, prefix)


def two_workers(client: Any, prefix: str, clock: ManualClock, **options: Any) -> list[PanicCache]:
    """Return two caches with their own breakers over one Redis, like two processes."""
    caches = []
    for _ in range(2):
        breaker = VIXCircuitBreaker(client, key_prefix=f"{prefix}:vix", clock=clock)
        store = RedisStore(client, prefix=f"{prefix}:c")
        caches.append(PanicCache(breaker, store, normal_ttl=60, **options))
    return caches


def test_a_second_worker_waits_for_the_first_ones_fetch(
    shared_redis: tuple[Any, str], clock: ManualClock
) -> None:
    """While one worker holds the lease, another worker's miss is answered by its fetch."""
    client, prefix = shared_redis
    first, second = two_workers(client, prefix, clock)
    clock.advance(seconds=1)
    upstream = Upstream("odds", latency=0.6)
    caches = iter([first, first, second, second])
    lock = threading.Lock()

    def one() -> Any:
        with lock:
            cache = next(caches)
        return cache.lookup("k", upstream)

    results = in_threads(4, one)
    assert upstream.calls == 1
    assert sorted(r.source.value for r in results) == ["COALESCED"] * 3 + ["MISS"]
    assert {r.value for r in results} == {"odds #1"}
    assert client.get(f"{prefix}:c:l:k") is None  # the lease was given back


def test_a_lease_released_without_an_entry_is_taken(
    shared_redis: tuple[Any, str], clock: ManualClock
) -> None:
    """When the lease holder's fetch fails, a waiting worker takes the lease and fetches."""
    client, prefix = shared_redis
    first, second = two_workers(client, prefix, clock)
    failing = Upstream("first", latency=0.3)
    failing.fail()
    upstream = Upstream("second")
    errors: list[BaseException] = []

    def hold() -> None:
        try:
            first.lookup("k", failing)
        except UpstreamError as error:
            errors.append(error)

    holder = threading.Thread(target=hold)
    holder.start()
    time.sleep(0.1)
    result = second.lookup("k", upstream)
    holder.join(30)
    assert (result.value, result.source) == ("second #1", CacheSource.MISS)
    assert (failing.calls, upstream.calls, len(errors)) == (1, 1, 1)


def test_a_dead_holder_s_lease_is_taken_over_when_it_runs_out(
    shared_redis: tuple[Any, str], clock: ManualClock
) -> None:
    """A lease nobody releases (its holder died) is taken once its PX runs out."""
    client, prefix = shared_redis
    (cache,) = two_workers(client, prefix, clock, coalesce_timeout=0.5)[:1]
    client.set(f"{prefix}:c:l:k", "dead-holder", px=500)
    started = time.monotonic()
    result = cache.lookup("k", Upstream())
    waited = time.monotonic() - started
    assert result.source is CacheSource.MISS
    assert 0.3 <= waited < 3.0
    assert client.get(f"{prefix}:c:l:k") is None


# -- real worker processes -----------------------------------------------------


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The worker module, importable by name in spawned children (they inherit sys.path)."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    return importlib.import_module("cache_workers")


@pytest.fixture
def real_prefix(real_redis: Any) -> Iterator[tuple[Any, str]]:
    """The real Redis and a unique prefix, cleaned up after the test."""
    prefix = unique_prefix()
    yield real_redis, prefix
    delete_prefix(real_redis, prefix)


def test_four_processes_of_eight_threads_cause_one_fetch(
    workers: ModuleType, real_prefix: tuple[Any, str], real_redis_url: str
) -> None:
    """4 processes x 8 threads missing one key in tier 1 on the Redis store: one fetch."""
    client, prefix = real_prefix
    VIXCircuitBreaker(client, key_prefix=f"{prefix}:vix", clock=ManualClock(T0)).trip()
    barrier = CTX.Barrier(4)
    results = CTX.Queue()
    processes = [
        CTX.Process(
            target=workers.miss_together,
            args=(real_redis_url, prefix, T0 + 1, 8, barrier, results),
        )
        for _ in range(4)
    ]
    for process in processes:
        process.start()
    reports = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    assert [p.exitcode for p in processes] == [0] * 4
    assert sum(calls for calls, _, _ in reports) == 1
    sources = sorted(s for _, found, _ in reports for s in found)
    assert sources == ["COALESCED"] * 31 + ["MISS"]
    assert {v for _, _, values in reports for v in values} == {"odds #1"}


def test_a_killed_lease_holder_is_taken_over(
    workers: ModuleType, real_prefix: tuple[Any, str], real_redis_url: str
) -> None:
    """A process killed while holding the lease delays the others by the lease at most."""
    client, prefix = real_prefix
    fetching = CTX.Event()
    holder = CTX.Process(target=workers.hold_the_lease, args=(real_redis_url, prefix, T0, fetching))
    holder.start()
    try:
        assert fetching.wait(60)
        holder.kill()
        holder.join(30)
        started = time.monotonic()
        breaker = VIXCircuitBreaker(client, key_prefix=f"{prefix}:vix", clock=ManualClock(T0))
        store = RedisStore(client, prefix=f"{prefix}:c")
        cache = PanicCache(breaker, store, normal_ttl=60, coalesce_timeout=1.5)
        result = cache.lookup("match:7", Upstream("taken over"))
        waited = time.monotonic() - started
    finally:
        if holder.is_alive():
            holder.kill()
            holder.join(30)
    assert (result.value, result.source) == ("taken over #1", CacheSource.MISS)
    assert waited < 1.5 + 2.0


# -- asyncio across "workers" ----------------------------------------------------


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_async_caches_on_one_store_share_a_fetch(kind: str) -> None:
    """Two async caches on one Redis store (two workers) share a fetch through the lease."""

    async def scenario() -> tuple[list[Any], int]:
        redis = fakeredis.FakeAsyncRedis()
        clock = ManualClock(T0)
        caches = []
        for _ in range(2):
            breaker = AsyncVIXCircuitBreaker(redis, key_prefix="vix", clock=clock)
            store: Any = AsyncMemoryStore() if kind == "memory" else AsyncRedisStore(redis)
            caches.append(AsyncPanicCache(breaker, store, normal_ttl=60))
        for cache in caches:
            await cache.lookup("warm", Upstream().fetch_async)
        upstream = Upstream(latency=0.3)
        results = await asyncio.gather(
            *(cache.lookup("k", upstream.fetch_async) for cache in caches for _ in range(4))
        )
        await redis.aclose()
        return list(results), upstream.calls

    results, calls = asyncio.run(scenario())
    assert calls == (1 if kind == "redis" else 2)
    coalesced = [r.source for r in results].count(CacheSource.COALESCED)
    assert coalesced == (7 if kind == "redis" else 6)


@pytest.mark.parametrize("flavour", ["async"], indirect=True)
def test_a_cancelled_leader_leaves_its_waiters_to_fetch(make: Make) -> None:
    """A leader task cancelled mid-fetch (a client gone) does not cancel the tasks waiting on it."""
    view = make()
    assert view.runner is not None

    async def scenario() -> Any:
        started = asyncio.Event()

        async def hang() -> str:
            started.set()
            await asyncio.sleep(30)
            return "never"

        leader = asyncio.ensure_future(view.cache.lookup("k", hang))
        await started.wait()
        follower = asyncio.ensure_future(view.cache.lookup("k", Upstream("own").fetch_async))
        await asyncio.sleep(0.05)
        leader.cancel()
        result = await follower
        assert leader.cancelled()
        return result

    result = view.runner.run(scenario())
    assert (result.value, result.source) == ("own #1", CacheSource.MISS)


@pytest.mark.parametrize("flavour", ["sync"], indirect=True)
def test_an_interrupted_leader_leaves_its_waiters_to_fetch(make: Make) -> None:
    """A leader thread stopped by a BaseException (not an error of fetch) lets waiters fetch."""
    view = make()
    entered = threading.Event()
    release = threading.Event()

    class Stop(BaseException):
        pass

    def interrupted() -> str:
        entered.set()
        release.wait(30)
        raise Stop

    caught: list[BaseException] = []

    def lead() -> None:
        try:
            view.lookup("k", interrupted)
        except Stop as error:
            caught.append(error)

    leader = threading.Thread(target=lead)
    leader.start()
    assert entered.wait(30)
    results: list[Any] = []
    follower = threading.Thread(target=lambda: results.append(view.lookup("k", Upstream("own"))))
    follower.start()
    time.sleep(0.1)
    release.set()
    leader.join(30)
    follower.join(30)
    assert len(caught) == 1
    assert [(r.value, r.source) for r in results] == [("own #1", CacheSource.MISS)]
