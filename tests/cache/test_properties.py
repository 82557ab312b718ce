"""Property tests: any key and JSON value round-trips; freshness is exactly age <= TTL now."""

from __future__ import annotations

from typing import Any

import fakeredis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panicquota import AdaptivePanicQuota
from panicquota.cache import CacheSource, JSONSerializer, MemoryStore, PanicCache, RedisStore
from panicquota.clock import ManualClock

from .support import T0

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


class PolicyBreaker:
    """A breaker stand-in: the policy at a panic that started at *start* (None: no panic)."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.start: float | None = None
        self.quota = AdaptivePanicQuota()

    def now(self) -> float:
        return self.clock()

    def get_ttl(self, normal_ttl: float, context: Any = None) -> Any:
        minutes = None if self.start is None else max((self.clock() - self.start) / 60, 1e-9)
        return self.quota.calculate_ttl_strategy(normal_ttl, minutes, context)


@settings(max_examples=60, deadline=None)
@given(key=st.text(max_size=40), value=json_values | st.binary(max_size=40))
def test_any_key_and_value_round_trip_through_redis(key: str, value: Any) -> None:
    """A value fetched under any key is served back equal (JSON data, str or bytes)."""
    redis = fakeredis.FakeRedis()
    cache = PanicCache(PolicyBreaker(ManualClock(T0)), RedisStore(redis, prefix="p"), normal_ttl=60)
    assert cache.get_or_fetch(key, lambda: value) == value
    hit = cache.lookup(key, lambda: "other")
    assert (hit.source, hit.value) == (CacheSource.HIT, value)
    assert JSONSerializer().loads(JSONSerializer().dumps(value)) == value
    redis.close()


@settings(max_examples=200, deadline=None)
@given(
    normal_ttl=st.floats(0, 600),
    panic_minutes=st.none() | st.floats(0, 200),
    age=st.floats(0, 700),
    stale_if_error=st.floats(0, 700),
    fails=st.booleans(),
)
def test_an_entry_is_served_exactly_while_its_age_is_within_the_ttl_decided_now(
    normal_ttl: float,
    panic_minutes: float | None,
    age: float,
    stale_if_error: float,
    fails: bool,
) -> None:
    """HIT iff TTL now > 0 and age <= TTL; else a failed fetch is STALE iff age <= the bound."""
    clock = ManualClock(T0)
    breaker = PolicyBreaker(clock)
    cache = PanicCache(breaker, MemoryStore(), normal_ttl=normal_ttl, stale_if_error=stale_if_error)
    cache.lookup("k", lambda: "first")
    clock.advance(seconds=age)
    if panic_minutes is not None:
        breaker.start = clock() - panic_minutes * 60
    ttl = breaker.get_ttl(normal_ttl)[0]
    real_age = clock() - T0

    def second() -> str:
        if fails:
            raise LookupError("upstream down")
        return "second"

    if ttl > 0 and real_age <= ttl:
        expected: tuple[CacheSource, str] | None = (CacheSource.HIT, "first")
    elif not fails:
        expected = (CacheSource.MISS, "second")
    elif stale_if_error > 0 and real_age <= stale_if_error:
        expected = (CacheSource.STALE, "first")
    else:
        expected = None
    if expected is None:
        with pytest.raises(LookupError, match=r"^upstream down$"):
            cache.lookup("k", second)
        return
    result = cache.lookup("k", second)
    assert (result.source, result.value) == expected
    assert result.decision[0] == ttl
