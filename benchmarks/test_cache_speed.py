"""How fast a cache hit is, against the plain alternatives, in the same run.

Two ratios, each judged against a control measured in the same session:

- a :class:`MemoryStore` hit (``get_or_fetch``: the breaker's decision, the
  store read, the freshness check) against a ``cachetools.TTLCache`` hit,
  which applies a TTL fixed at write time and asks no breaker;
- a :class:`RedisStore` hit (the same, plus one ``GET`` and the decoding of a
  small JSON value) against one plain ``GET`` of the same bytes: the target is
  at most 1.3x.

Each gate is judged on the paired ratio (the hit and its control timed in
alternating blocks, ``benchmarks/conftest.py``) and leaves headroom for a
shared, loaded machine: the memory hit measures about 2.1-2.2x its control and
is gated at 4x; the Redis hit measures 1.18-1.23x on this machine and is gated
at 1.6x, so the 1.3x target is what the printed ratio is read against, the
gate only what fails CI.
"""

from __future__ import annotations

from typing import Any

import cachetools
import pytest

from panicquota.breaker import VIXCircuitBreaker
from panicquota.cache import CacheSource, MemoryStore, PanicCache, RedisStore

VALUE = {"match": 7, "odds": {"home": 1.85, "draw": 3.4, "away": 4.2}}
MEMORY_CONTROL = "test_ttlcache_hit"
REDIS_CONTROL = "test_plain_get_round_trip"
#: The target is 1.3x; see the module docstring for the headroom.
REDIS_GATE = 1.6


def never() -> Any:
    """A fetch a hit must not call."""
    raise AssertionError("a hit called fetch")


@pytest.mark.benchmark(group="cache-memory")
def test_ttlcache_hit(measured: Any) -> None:
    """Measure a cachetools.TTLCache hit (get by key): the control."""
    cache: cachetools.TTLCache[str, Any] = cachetools.TTLCache(maxsize=10_000, ttl=60)
    cache["odds:7"] = VALUE
    assert measured(cache.get, "odds:7") == VALUE


@pytest.mark.benchmark(group="cache-memory")
@pytest.mark.ratio_budget(control=MEMORY_CONTROL, max_ratio=4.0)
def test_memory_store_hit(measured: Any, redis_client: Any, prefix: str) -> None:
    """Measure PanicCache.get_or_fetch hitting a MemoryStore (breaker decision included)."""
    breaker = VIXCircuitBreaker(redis_client, key_prefix=f"{prefix}:vix")
    cache = PanicCache(breaker, MemoryStore(), normal_ttl=60)
    assert cache.lookup("odds:7", lambda: VALUE).source is CacheSource.MISS
    assert measured(cache.get_or_fetch, "odds:7", never) == VALUE
    control: cachetools.TTLCache[str, Any] = cachetools.TTLCache(maxsize=10_000, ttl=60)
    control["odds:7"] = VALUE
    measured.against(control.get, "odds:7")


@pytest.mark.benchmark(group="cache-redis")
def test_plain_get_round_trip(measured: Any, redis_client: Any, prefix: str) -> None:
    """Measure one plain GET of a stored entry's bytes: the control."""
    breaker = VIXCircuitBreaker(redis_client, key_prefix=f"{prefix}:vix")
    store = RedisStore(redis_client, prefix=f"{prefix}:c")
    PanicCache(breaker, store, normal_ttl=60).get_or_fetch("odds:7", lambda: VALUE)
    key = store.entry_key("odds:7")
    assert measured(redis_client.get, key) is not None


@pytest.mark.benchmark(group="cache-redis")
@pytest.mark.ratio_budget(control=REDIS_CONTROL, max_ratio=REDIS_GATE)
def test_redis_store_hit(measured: Any, redis_client: Any, prefix: str) -> None:
    """Measure PanicCache.get_or_fetch hitting a RedisStore: one GET plus decoding."""
    breaker = VIXCircuitBreaker(redis_client, key_prefix=f"{prefix}:vix")
    store = RedisStore(redis_client, prefix=f"{prefix}:c")
    cache = PanicCache(breaker, store, normal_ttl=60)
    assert cache.lookup("odds:7", lambda: VALUE).source is CacheSource.MISS
    assert measured(cache.get_or_fetch, "odds:7", never) == VALUE
    measured.against(redis_client.get, store.entry_key("odds:7"))
