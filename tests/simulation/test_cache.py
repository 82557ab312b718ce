"""The exact cache arithmetic against a request-by-request simulation."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from panicquota.simulation._cache import (
    CacheStream,
    StampedeStream,
    coalesced_hits,
    delay_ticks,
    hits_per_fetch,
)

TTLS = st.sampled_from([0, 0.1, 0.2, 0.3, 0.5, 0.6, 0.7, 1, 1.1, 1.5, 2, 2.5, 3.7, 5, 60])


def brute_force(rate: int, ttls: list[float]) -> tuple[int, int, int, int | None]:
    """Serve every request one by one on a decimal clock: (misses, stale ticks, max, last fetch).

    Time steps by exactly ``1/rate`` s and a TTL is read as the decimal number
    it is written as (``0.2`` is two tenths), independently of the rule under test.
    """
    step = Fraction(1, rate) if rate else Fraction(0)
    fetched_at: Fraction | None = None
    fetched: int | None = None
    misses = stale = peak = 0
    now = Fraction(0)
    tick = 0
    for ttl in ttls:
        lifetime = Fraction(Decimal(str(ttl)))
        for _ in range(rate):
            if fetched_at is not None and now - fetched_at < lifetime:
                assert fetched is not None
                stale += tick - fetched
                peak = max(peak, tick - fetched)
            else:
                misses += 1
                fetched_at, fetched = now, tick
            now += step
            tick += 1
    return misses, stale, peak, fetched


@given(rate=st.integers(0, 13), ttls=st.lists(TTLS, min_size=1, max_size=20))
def test_stream_equals_brute_force(rate: int, ttls: list[float]) -> None:
    """Second-by-second closed form equals serving each request, whatever the TTL changes."""
    stream = CacheStream(rate)
    for second, ttl in enumerate(ttls):
        stream.serve_second(second, hits_per_fetch(ttl, rate))
    result = (stream.misses, stream.stale_ticks, stream.max_stale_ticks, stream.fetched)
    assert result == brute_force(rate, ttls)
    assert stream.requests == rate * len(ttls)


@pytest.mark.parametrize(
    ("ttl", "rate", "hits"),
    [
        pytest.param(0.3, 10, 2, id="0.3s-at-10rps"),
        pytest.param(0.2, 10, 1, id="0.2s-at-10rps"),
        pytest.param(0.2, 5, 0, id="0.2s-at-5rps"),
        pytest.param(0.1, 30, 2, id="0.1s-at-30rps"),
        pytest.param(0.7, 10, 6, id="0.7s-at-10rps"),
        pytest.param(1.1, 10, 10, id="1.1s-at-10rps"),
        pytest.param(0, 1000, 0, id="ttl-0"),
        pytest.param(5, 1, 4, id="integer-ttl"),
    ],
)
def test_hits_per_fetch_reads_the_ttl_as_written(ttl: float, rate: int, hits: int) -> None:
    """A TTL is its decimal value: data exactly TTL old is never served (0.2 is not 0.2000..1)."""
    assert hits_per_fetch(ttl, rate) == hits


def test_ttl_of_a_fifth_second_at_10_rps() -> None:
    """TTL 0.2 at 10 rps fetches every other request: 300 upstream a minute, not 200."""
    stream = CacheStream(10)
    for second in range(60):
        stream.serve_second(second, hits_per_fetch(0.2, 10))
    assert stream.misses == 300
    assert stream.max_stale_ticks == 1


def test_ttl_zero_sends_everything_upstream() -> None:
    """With TTL 0 every request is a miss and no staleness is served."""
    stream = CacheStream(1000)
    assert stream.serve_second(0, 0) == (1000, 0, 0)


def brute_force_stampede(rate: int, delay: int, hits: list[int]) -> tuple[int, list[int]]:
    """Serve every request one by one without coalescing: (misses, misses by second).

    Every request that finds no fresh stored entry fetches; a fetch started at
    tick ``k`` is stored at tick ``k + delay``; the latest stored one is served.
    """
    started: list[int] = []
    by_second = []
    for second, allowed in enumerate(hits):
        misses = 0
        for tick in range(second * rate, (second + 1) * rate):
            stored = max((k for k in started if k + delay <= tick), default=None)
            if stored is None or tick - stored > allowed:
                started.append(tick)
                misses += 1
        by_second.append(misses)
    return sum(by_second), by_second


def brute_force_coalescing(
    rate: int, delay: int, hits: list[int]
) -> tuple[int, int, int, int | None]:
    """Serve one by one with one shared fetch in flight: (misses, stale ticks, max, last fetch)."""
    fetched: int | None = None
    misses = stale = peak = 0
    for second, allowed in enumerate(hits):
        for tick in range(second * rate, (second + 1) * rate):
            in_flight = fetched is not None and tick < fetched + delay
            if fetched is not None and (in_flight or tick - fetched <= allowed):
                stale += tick - fetched
                peak = max(peak, tick - fetched)
            else:
                misses += 1
                fetched = tick
    return misses, stale, peak, fetched


@given(
    rate=st.integers(0, 13),
    latency=st.sampled_from([0, 1, 50, 99, 100, 250, 300, 1000, 2500]),
    ttls=st.lists(TTLS, min_size=1, max_size=20),
)
def test_stampede_stream_equals_brute_force(rate: int, latency: float, ttls: list[float]) -> None:
    """Without coalescing, the closed form counts the misses of serving each request."""
    delay = delay_ticks(latency, rate)
    hits = [hits_per_fetch(ttl, rate) for ttl in ttls]
    stream = StampedeStream(rate, delay)
    by_second = [stream.serve_second(second, allowed) for second, allowed in enumerate(hits)]
    assert (stream.misses, by_second) == brute_force_stampede(rate, delay, hits)
    assert stream.requests == rate * len(ttls)


@given(
    rate=st.integers(0, 13),
    latency=st.sampled_from([0, 1, 50, 99, 100, 250, 300, 1000, 2500]),
    ttls=st.lists(TTLS, min_size=1, max_size=20),
)
def test_coalescing_equals_brute_force(rate: int, latency: float, ttls: list[float]) -> None:
    """Coalescing misses over the fetch latency is the cache stream with coalesced_hits."""
    delay = delay_ticks(latency, rate)
    hits = [hits_per_fetch(ttl, rate) for ttl in ttls]
    stream = CacheStream(rate)
    for second, allowed in enumerate(hits):
        stream.serve_second(second, coalesced_hits(allowed, delay))
    result = (stream.misses, stream.stale_ticks, stream.max_stale_ticks, stream.fetched)
    assert result == brute_force_coalescing(rate, delay, hits)


def test_stampede_without_latency_counts_the_cache_streams_misses() -> None:
    """With no latency a cache without coalescing misses exactly as the cache stream."""
    stampede, stream = StampedeStream(10), CacheStream(10)
    for second, ttl in enumerate([60, 0, 0.2, 5, 0, 60]):
        assert (
            stampede.serve_second(second, hits_per_fetch(ttl, 10))
            == stream.serve_second(second, hits_per_fetch(ttl, 10))[0]
        )


@pytest.mark.parametrize(
    ("latency", "rate", "delay"),
    [
        pytest.param(0, 1000, 0, id="none"),
        pytest.param(50, 1000, 50, id="exact"),
        pytest.param(50, 150, 8, id="7.5-ticks"),
        pytest.param(0.1, 10000, 1, id="0.1ms-is-one-tick"),
        pytest.param(100, 10, 1, id="0.1s-at-10rps"),
    ],
)
def test_delay_ticks_reads_the_latency_as_written(latency: float, rate: int, delay: int) -> None:
    """A fetch is stored at the first tick once its latency has passed (0.1 ms is 1/10,000 s)."""
    assert delay_ticks(latency, rate) == delay


def test_tier_1_at_1000_rps_with_50ms_fetches() -> None:
    """TTL 0, 1,000 rps, 50 ms fetches: 1,000 upstream a second alone, 20 coalesced."""
    delay = delay_ticks(50, 1000)
    stampede, stream = StampedeStream(1000, delay), CacheStream(1000)
    assert stampede.serve_second(0, 0) == 1000
    assert stream.serve_second(0, coalesced_hits(0, delay))[0] == 20
    assert stream.max_stale_ticks == 49
