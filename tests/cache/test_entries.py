"""Entries other writers left in Redis, and the store's outage bookkeeping."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import pytest

from panicquota.cache import AsyncPanicCache, CacheSource, Entry, MemoryStore, PanicCache
from panicquota.cache._core import BACKOFF_FIRST, BACKOFF_MAX, StoreHealth
from panicquota.clock import ManualClock
from panicquota.decision import Decision
from panicquota.tiers import PanicMode
from pytest_panicquota import Upstream, UpstreamError

from .conftest import Make
from .support import T0

#: A decision outside a panic, for the store's outage bookkeeping.
NORMAL: Decision = (60.0, PanicMode.NORMAL, {})

ON_FAKEREDIS = pytest.mark.parametrize("store_kind", ["fakeredis"], indirect=True)


@ON_FAKEREDIS
def test_an_unreadable_fresh_entry_is_fetched_again(
    make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    """A fresh entry whose payload does not decode is logged and replaced by a fetch."""
    view = make()
    view.redis.set(f"{view.prefix}:v:k", b"%.6f xgarbage" % T0)
    with caplog.at_level(logging.WARNING, logger="panicquota.cache"):
        result = view.lookup("k", Upstream())
    assert result.source is CacheSource.MISS
    assert [r.getMessage() for r in caplog.records][:1] == [
        "ignoring the unreadable cache entry 'k' (ValueError(\"not a JSONSerializer entry "
        "(tag b'x')\"))"
    ]
    assert view.lookup("k", Upstream()).source is CacheSource.HIT


@ON_FAKEREDIS
def test_an_unreadable_entry_is_not_served_stale(make: Make, clock: ManualClock) -> None:
    """When the fetch fails, an old entry that does not decode is no answer: the error is."""
    view = make(stale_if_error=600)
    view.redis.set(f"{view.prefix}:v:k", b"%.6f xgarbage" % (T0 - 100))
    view.redis.set(f"{view.prefix}:v:other", b"not an entry")
    upstream = Upstream()
    upstream.fail()
    with pytest.raises(UpstreamError):
        view.lookup("k", upstream)
    with pytest.raises(UpstreamError):
        view.lookup("other", upstream)


@ON_FAKEREDIS
def test_a_waiter_skips_an_unreadable_entry_from_the_lease_holder(make: Make) -> None:
    """A waiter ignores an unreadable newer entry and fetches once the holder's lease is gone."""
    view = make(coalesce_timeout=5)
    view.redis.set(f"{view.prefix}:l:k", "holder", px=400)

    def holder_writes_garbage() -> None:
        time.sleep(0.1)
        view.redis.set(f"{view.prefix}:v:k", b"%.6f xgarbage" % (T0 + 1))

    writer = threading.Thread(target=holder_writes_garbage)
    writer.start()
    started = time.monotonic()
    result = view.lookup("k", Upstream("own"))
    writer.join(5)
    assert (result.value, result.source) == ("own #1", CacheSource.MISS)
    assert 0.3 <= time.monotonic() - started < 4.0


@ON_FAKEREDIS
def test_a_waiter_takes_the_lease_holder_s_entry(make: Make, clock: ManualClock) -> None:
    """A waiter is answered by the entry the holder writes: COALESCED, with that entry's age."""
    view = make()
    view.redis.set(f"{view.prefix}:l:k", "holder", px=5000)

    def holder_writes() -> None:
        time.sleep(0.1)
        view.redis.set(f"{view.prefix}:v:k", b"%.6f sodds" % (T0 - 0.5))

    writer = threading.Thread(target=holder_writes)
    writer.start()
    result = view.lookup("k", Upstream())
    writer.join(5)
    assert (result.value, result.source, result.age) == ("odds", CacheSource.COALESCED, 0.5)


@ON_FAKEREDIS
def test_a_waiter_ignores_an_entry_older_than_the_one_it_saw(
    make: Make, clock: ManualClock
) -> None:
    """An entry no newer than the one read at the miss is not another worker's fresh fetch."""
    view = make(coalesce_timeout=0.3)
    view.trip()
    view.redis.set(f"{view.prefix}:v:k", b"%.6f sold" % (T0 - 5))
    view.redis.set(f"{view.prefix}:l:k", "holder", px=5000)
    result = view.lookup("k", Upstream("own"))
    assert (result.value, result.source) == ("own #1", CacheSource.MISS)


def test_store_health_logs_once_backs_off_and_recovers(caplog: pytest.LogCaptureFixture) -> None:
    """Failures double the backoff up to its cap and log once; a success logs the recovery."""
    health = StoreHealth("store", None)
    assert health.available()
    with caplog.at_level(logging.DEBUG, logger="panicquota.cache"):
        for _ in range(5):
            health.failed("get", OSError("down"), NORMAL)
        assert not health.available()
        assert health.backoff == BACKOFF_MAX
        health.succeeded()
        health.succeeded()
    assert health.available()
    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.WARNING] + [logging.DEBUG] * 4 + [logging.WARNING]
    assert caplog.records[-1].getMessage().startswith("cache store 'store' answers again, after ")
    health.failed("get", OSError("down again"), NORMAL)
    assert health.backoff == BACKOFF_FIRST


class RacingStore(MemoryStore):
    """A memory store where another leader's entry lands right after the first read."""

    def __init__(self, late: Entry, *, shared: bool = False) -> None:
        super().__init__()
        self.late = late
        self.reads = 0
        self.shared = shared  # type: ignore[misc]

    def get(self, key: str) -> Entry | None:
        self.reads += 1
        if self.reads == 1:
            MemoryStore.set(self, key, self.late, 60)
            return None
        return super().get(key)

    def acquire(self, key: str, seconds: float) -> str:
        return "token"

    def release(self, key: str, token: str) -> None:
        pass


class AsyncRacingStore(RacingStore):
    """The RacingStore, awaitable."""

    async def get(self, key: str) -> Entry | None:  # type: ignore[override]
        return RacingStore.get(self, key)

    async def set(self, key: str, entry: Entry, expire: float) -> None:  # type: ignore[override]
        RacingStore.set(self, key, entry, expire)

    async def acquire(self, key: str, seconds: float) -> str:  # type: ignore[override]
        return "token"

    async def release(self, key: str, token: str) -> None:  # type: ignore[override]
        pass


class TierOne:
    """A breaker stand-in deciding TTL 0 (tier 1)."""

    def get_ttl(self, normal_ttl: float, context: Any = None) -> Any:
        return (0, None, {})


class AsyncTierOne:
    async def get_ttl(self, normal_ttl: float, context: Any = None) -> Any:
        return (0, None, {})


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize(
    ("payload", "shared", "expected"),
    [
        pytest.param("odds", False, ("odds", CacheSource.COALESCED), id="memory"),
        pytest.param(b"sodds", True, ("odds", CacheSource.COALESCED), id="shared"),
        pytest.param(b"xgarbage", True, ("own #1", CacheSource.MISS), id="unreadable"),
    ],
)
def test_a_leader_answers_with_the_previous_leader_s_entry(
    flavour: str, payload: Any, shared: bool, expected: tuple[str, CacheSource]
) -> None:
    """A fetch that finished between this call's read and its lead answers it (no 2nd fetch)."""
    clock = ManualClock(T0)
    late = Entry(payload, T0 - 0.2)  # began before this call, within one fetch duration
    upstream = Upstream("own")
    if flavour == "sync":
        store: RacingStore = RacingStore(late, shared=shared)
        result = PanicCache(TierOne(), store, normal_ttl=60, clock=clock).lookup("k", upstream)
    else:
        store = AsyncRacingStore(late, shared=shared)
        cache = AsyncPanicCache(AsyncTierOne(), store, normal_ttl=60, clock=clock)
        result = asyncio.run(cache.lookup("k", upstream.fetch_async))
    assert (result.value, result.source) == expected
    assert upstream.calls == (0 if expected[1] is CacheSource.COALESCED else 1)
    assert store.reads == 2
