"""Someone else's data of another Redis type under the prefix: a miss for that key, no outage."""

from __future__ import annotations

import logging
import time
from typing import Any

import fakeredis
import pytest
from redis.exceptions import ResponseError

from panicquota.breaker import VIXCircuitBreaker
from panicquota.cache import CacheSource, Entry, PanicCache, RedisStore
from panicquota.cache import _redis as redis_store
from panicquota.clock import ManualClock
from pytest_panicquota import Upstream

from .conftest import Make
from .support import T0, unique_prefix

ON_REDIS = pytest.mark.parametrize("store_kind", ["fakeredis", "redis"], indirect=True)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Return the cache's WARNING messages."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "panicquota.cache" and r.levelno >= logging.WARNING
    ]


@ON_REDIS
def test_a_hash_at_an_entry_is_a_miss_for_that_key_only(
    make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    """WRONGTYPE on a read is a miss logged once; the hash is kept; other keys still hit."""
    view = make()
    foreign = f"{view.prefix}:v:h"
    view.redis.hset(foreign, "owner", "someone else")
    upstream = Upstream()
    with caplog.at_level(logging.DEBUG, logger="panicquota.cache"):
        assert view.lookup("ok", upstream).source is CacheSource.MISS
        assert [view.lookup("h", upstream).source for _ in range(3)] == [CacheSource.MISS] * 3
        assert view.lookup("ok", upstream).source is CacheSource.HIT
    assert upstream.calls == 4
    assert warnings_of(caplog) == [
        f"ignoring {foreign!r}, which holds another kind of Redis value than a cache entry "
        "(WRONGTYPE): reads of 'h' are misses and the cache does not store over it"
    ]
    assert view.redis.hgetall(foreign) == {b"owner": b"someone else"}
    assert view.cache._core.health.down_since is None


@ON_REDIS
@pytest.mark.parametrize("foreign", ["string", "hash"])
def test_someone_elses_data_at_a_lease_key_costs_no_wait(
    make: Make, caplog: pytest.LogCaptureFixture, foreign: str
) -> None:
    """A lease key that never expires is no lease: the miss fetches at once, the data is kept."""
    view = make(coalesce_timeout=5.0)
    lease = f"{view.prefix}:l:k"
    if foreign == "string":
        view.redis.set(lease, "someone's")
    else:
        view.redis.hset(lease, "owner", "someone else")
    upstream = Upstream()
    with caplog.at_level(logging.DEBUG, logger="panicquota.cache"):
        started = time.monotonic()
        first = view.lookup("k", upstream)
        waited = time.monotonic() - started  # a wait for the "holder" would last 5 s
        view.trip()  # TTL 0 from here: each read is a miss, and takes the lease again
        again = view.lookup("k", upstream)
    assert (first.source, again.source, upstream.calls) == (CacheSource.MISS, CacheSource.MISS, 2)
    assert waited < 2.5
    message = (
        "not coalescing the fetches of 'k' across workers: its lease key "
        f"{lease!r} holds a value that never expires, not a lease (the cache leaves it "
        "alone; each worker fetches)"
    )
    assert warnings_of(caplog) == [message]
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert message in debug  # the second time
    if foreign == "string":
        assert (view.redis.get(lease), view.redis.pttl(lease)) == (b"someone's", -1)
    else:
        assert view.redis.hgetall(lease) == {b"owner": b"someone else"}


@pytest.mark.parametrize("flavour", ["sync"], indirect=True)
@ON_REDIS
def test_a_write_leaves_another_type_alone_and_says_so(
    make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    """set() over a list keeps the list and warns; over a string (or nothing) it stores."""
    view = make()
    store: RedisStore = view.cache.store
    view.redis.rpush(f"{view.prefix}:v:queue", "job")
    with caplog.at_level(logging.WARNING, logger="panicquota.cache"):
        store.set("queue", Entry(b"v", T0), 10)
        store.set("queue", Entry(b"v", T0), 10)
    assert warnings_of(caplog) == [
        f"not storing 'queue': '{view.prefix}:v:queue' holds a list, not a cache entry, and "
        "the cache does not overwrite other data (reads of 'queue' are misses)"
    ]
    assert view.redis.lrange(f"{view.prefix}:v:queue", 0, -1) == [b"job"]
    view.redis.set(f"{view.prefix}:v:text", "someone's string")
    store.set("text", Entry(b"v", T0), 10)
    store.set("new", Entry(b"v", T0), 10)
    assert store.get("text") == store.get("new") == Entry(b"v", T0)
    assert 0 < view.redis.pttl(f"{view.prefix}:v:new") <= 10_000


def test_warnings_are_remembered_for_a_bounded_number_of_keys(
    real_redis: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Past WARNED_MAX keys the memory of warned keys starts again (it never grows unbounded)."""
    monkeypatch.setattr(redis_store, "WARNED_MAX", 1)
    prefix = unique_prefix()
    store = RedisStore(real_redis, prefix=prefix)
    try:
        real_redis.sadd(f"{prefix}:v:a", "x")
        real_redis.sadd(f"{prefix}:v:b", "x")
        with caplog.at_level(logging.WARNING, logger="panicquota.cache"):
            for key in "aab":
                assert store.get(key) is None
            assert store.get("a") is None
        assert len(warnings_of(caplog)) == 3  # a, b (forgetting a), a again
    finally:
        real_redis.delete(f"{prefix}:v:a", f"{prefix}:v:b")


class LoadingClient:
    """A client whose GET meets a Redis still loading its dataset: a real outage."""

    def __init__(self) -> None:
        self.calls = 0

    def get(self, key: str) -> Any:
        self.calls += 1
        raise ResponseError("LOADING Redis is loading the dataset in memory")

    def set(self, *args: Any, **kwargs: Any) -> Any:
        raise ResponseError("LOADING Redis is loading the dataset in memory")

    def register_script(self, source: str) -> Any:
        def run(*, keys: Any, args: Any) -> Any:
            raise ResponseError("LOADING Redis is loading the dataset in memory")

        return run


def test_other_response_errors_stay_outages(caplog: pytest.LogCaptureFixture) -> None:
    """A ResponseError that is not WRONGTYPE is still a store failure: logged, backed off."""
    breaker = VIXCircuitBreaker(fakeredis.FakeRedis(), clock=ManualClock(T0))
    client = LoadingClient()
    store = RedisStore(client, prefix="p")
    with pytest.raises(ResponseError, match=r"^LOADING "):
        store.get("k")
    cache = PanicCache(breaker, store, normal_ttl=60)
    with caplog.at_level(logging.WARNING, logger="panicquota.cache"):
        assert [cache.lookup("k", Upstream()).source for _ in range(3)] == [CacheSource.MISS] * 3
    assert warnings_of(caplog) == [
        "cache store RedisStore(prefix='p') failed (ResponseError: LOADING Redis is loading the "
        "dataset in memory) on get; fetching upstream without it and retrying every 2 s at most"
    ]
    assert client.calls == 2  # the direct call, then one before the backoff
    assert cache._core.health.down_since is not None


def test_a_client_decoding_responses_names_the_type_too(caplog: pytest.LogCaptureFixture) -> None:
    """With decode_responses=True the script's answer is a str: the same warning."""
    client = fakeredis.FakeRedis(decode_responses=True)
    client.sadd("p:v:tags", "x")
    with caplog.at_level(logging.WARNING, logger="panicquota.cache"):
        RedisStore(client, prefix="p").set("tags", Entry(b"v", T0), 10)
    assert warnings_of(caplog) == [
        "not storing 'tags': 'p:v:tags' holds a set, not a cache entry, and the cache does not "
        "overwrite other data (reads of 'tags' are misses)"
    ]
