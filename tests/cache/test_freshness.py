"""Read-time freshness on every store and flavour: the TTL in force when a value is served."""

from __future__ import annotations

import pytest

from panicquota import PanicMode
from panicquota.cache import CacheSource
from panicquota.clock import ManualClock
from pytest_panicquota import Upstream

from .conftest import Make


def test_a_miss_is_fetched_then_hit_with_its_age(make: Make, clock: ManualClock) -> None:
    """The first read fetches (MISS), a later one within the TTL serves it (HIT, its age)."""
    view = make()
    upstream = Upstream("odds")
    first = view.lookup("match:1", upstream)
    assert (first.value, first.source, first.age) == ("odds #1", CacheSource.MISS, 0.0)
    assert first.decision[:2] == (60.0, PanicMode.NORMAL)
    clock.advance(seconds=42)
    second = view.lookup("match:1", upstream)
    assert (second.value, second.source, second.age) == ("odds #1", CacheSource.HIT, 42.0)
    assert view.get_or_fetch("match:1", upstream) == "odds #1"
    assert upstream.calls == 1


def test_an_entry_older_than_the_ttl_is_fetched_again(make: Make, clock: ManualClock) -> None:
    """An entry is served while age <= TTL: at 60 s it is a hit, at 60.5 s it is fetched."""
    view = make()
    upstream = Upstream()
    view.lookup("k", upstream)
    clock.advance(seconds=60)
    assert view.lookup("k", upstream).source is CacheSource.HIT
    clock.advance(seconds=0.5)
    refreshed = view.lookup("k", upstream)
    assert (refreshed.value, refreshed.source) == ("upstream #2", CacheSource.MISS)


def test_a_pre_panic_entry_is_not_served_after_a_trip(make: Make, clock: ManualClock) -> None:
    """An entry cached with the normal TTL stops being served the moment a panic starts."""
    view = make()
    upstream = Upstream()
    view.lookup("k", upstream)
    clock.advance(seconds=10)
    assert view.lookup("k", upstream).source is CacheSource.HIT
    view.trip()
    during = view.lookup("k", upstream)
    assert (during.value, during.source) == ("upstream #2", CacheSource.MISS)
    assert during.decision[:2] == (0, PanicMode.PANIC_FULL)


def test_ttl_zero_always_fetches(make: Make, clock: ManualClock) -> None:
    """In tier 1 (TTL 0) every read goes upstream, even at age 0."""
    view = make()
    view.trip()
    upstream = Upstream()
    sources = [view.lookup("k", upstream).source for _ in range(3)]
    assert sources == [CacheSource.MISS] * 3
    assert upstream.calls == 3


@pytest.mark.parametrize(("age", "source", "calls"), [(4, "HIT", 1), (6, "MISS", 2)])
def test_tier_two_serves_up_to_five_seconds(
    make: Make, clock: ManualClock, age: float, source: str, calls: int
) -> None:
    """Tier 2 (TTL 5 s) serves a 4-s-old entry and refetches a 6-s-old one."""
    view = make()
    view.trip()
    clock.advance(minutes=16)
    upstream = Upstream()
    assert view.lookup("k", upstream).decision[:2] == (5, PanicMode.PANIC_PARTIAL)
    clock.advance(seconds=age)
    result = view.lookup("k", upstream)
    assert result.source is CacheSource(source)
    assert upstream.calls == calls


def test_an_entry_fetched_in_a_panic_serves_the_normal_ttl_after_it(
    make: Make, clock: ManualClock
) -> None:
    """The storage expiry covers the normal TTL: a tier-2 entry is a hit 30 s after a reset."""
    view = make()
    view.trip()
    clock.advance(minutes=16)
    upstream = Upstream()
    view.lookup("k", upstream)
    view.reset()
    clock.advance(seconds=30)
    result = view.lookup("k", upstream)
    assert (result.source, result.age, result.decision[0]) == (CacheSource.HIT, 30.0, 60.0)


def test_keys_are_separate(make: Make) -> None:
    """Two keys hold two values."""
    view = make()
    first, second = Upstream("a"), Upstream("b")
    assert view.get_or_fetch("a", first) == "a #1"
    assert view.get_or_fetch("b", second) == "b #1"
    assert (view.get_or_fetch("a", second), view.get_or_fetch("b", first)) == ("a #1", "b #1")


def test_without_coalescing_a_miss_fetches_too(make: Make, clock: ManualClock) -> None:
    """coalesce=False keeps the same freshness rules."""
    view = make(coalesce=False)
    upstream = Upstream()
    assert view.lookup("k", upstream).source is CacheSource.MISS
    clock.advance(seconds=5)
    assert view.lookup("k", upstream).source is CacheSource.HIT
    view.trip()
    assert view.lookup("k", upstream).source is CacheSource.MISS
