"""The exact cache arithmetic against a request-by-request simulation."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from panicquota.simulation._cache import CacheStream, hits_per_fetch

TTLS = st.sampled_from([0, 0.1, 0.3, 0.5, 1, 1.5, 2, 2.5, 3.7, 5, 60])


def brute_force(rate: int, ttls: list[float]) -> tuple[int, int, int, int | None]:
    """Serve every request one by one: (misses, staleness ticks, max ticks, last fetch)."""
    fetched: int | None = None
    misses = stale = peak = 0
    for second, ttl in enumerate(ttls):
        for tick in range(second * rate, (second + 1) * rate):
            if fetched is not None and tick - fetched < Fraction(ttl) * rate:
                stale += tick - fetched
                peak = max(peak, tick - fetched)
            else:
                misses += 1
                fetched = tick
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


def test_hits_per_fetch_uses_the_exact_ttl() -> None:
    """0.3 s at 10 rps keeps 2 hits (ticks 1, 2 < 3): no float round-off to 3."""
    assert hits_per_fetch(0.3, 10) == 2
    assert hits_per_fetch(0, 1000) == 0
    assert hits_per_fetch(5, 1) == 4


def test_ttl_zero_sends_everything_upstream() -> None:
    """With TTL 0 every request is a miss and no staleness is served."""
    stream = CacheStream(1000)
    assert stream.serve_second(0, 0) == (1000, 0, 0)
