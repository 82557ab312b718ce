"""Exact request-level cache arithmetic, one simulated second at a time.

The model: each worker keeps one cache entry per context (an in-process
cache). A stream of ``n`` requests per second arrives on an even grid: request
``k`` (a *tick*) comes at ``k / n`` seconds. A request is served from the cache
when the entry was fetched ``d`` ticks ago with ``d < ttl * n`` (the TTL in force
when the request is served, so a panic's TTL 0 bypasses the cache at once;
the TTL read as the decimal number it is written as, see :func:`hits_per_fetch`);
otherwise it goes upstream and refreshes the entry. The staleness served is
``d / n`` seconds (0 for an upstream request).

Within one second the TTL is constant, so the outcome of its ``n`` requests
follows in closed form: a run of hits on the entry carried in, then cycles of
one miss and ``hits_per_fetch`` hits. Everything is integer arithmetic on
ticks, so the result equals a request-by-request simulation exactly.

The upstream answers after a latency, ``delay`` ticks (:func:`delay_ticks`):
a fetch started at tick ``m`` is stored, with ``m`` as its fetch time (the
clock read before fetching, as ``PanicCache`` does), at tick ``m + delay``.
Two caches differ while it is in flight:

- ``PanicCache`` (coalescing): the requests arriving in flight share it, so a
  request ``d`` ticks after the fetch started is served without going
  upstream when ``d <= max(hits, delay - 1)`` (:func:`coalesced_hits`);
  :class:`CacheStream` does the rest. A coalesced answer's staleness is
  counted like a hit's, ``d / n``: at most one fetch duration.
- a cache without coalescing (:class:`StampedeStream`): every request that
  finds no fresh entry goes upstream itself, those in flight included, and
  the freshest stored fetch wins. In tier 1 (TTL 0) that is every request.
"""

from __future__ import annotations

from fractions import Fraction
from math import ceil

__all__ = [
    "CacheStream",
    "StampedeStream",
    "coalesced_hits",
    "decimal_fraction",
    "delay_ticks",
    "hits_per_fetch",
]

_HITS: dict[tuple[float, int], int] = {}


def decimal_fraction(value: float) -> Fraction:
    """Return *value* as the decimal number it reads as: ``0.2`` is exactly two tenths.

    ``Fraction(0.2)`` is the float's binary value, a hair above 0.2: a cache
    entry exactly 0.2 s old would still count as fresh.
    """
    return Fraction(repr(value)) if isinstance(value, float) else Fraction(value)


def hits_per_fetch(ttl: float, rate: int) -> int:
    """Return how many requests after a fetch are served from the cache.

    A request ``d`` ticks after the fetch is a hit when ``d < ttl * rate``,
    with *ttl* read as the decimal number it is written as (a TTL of 0.2 s at
    10 requests/s serves one hit, never data 0.2 s old).
    """
    key = (ttl, rate)
    hits = _HITS.get(key)
    if hits is None:
        hits = max(ceil(decimal_fraction(ttl) * rate) - 1, 0)
        _HITS[key] = hits
    return hits


def delay_ticks(latency_ms: float, rate: int) -> int:
    """Return the ticks a fetch takes: the first tick at or after *latency_ms* has passed.

    A fetch started at tick ``m`` is stored by tick ``m + delay`` (a request
    arriving at the very instant it lands finds it); 0 for no latency.
    """
    return ceil(decimal_fraction(latency_ms) * rate / 1000)


def coalesced_hits(hits: int, delay: int) -> int:
    """Return the requests after a fetch served without going upstream, when misses coalesce.

    Those arriving while the fetch is in flight (``delay - 1`` ticks) share
    it; once stored it serves ``hits`` requests in all, as without latency.
    """
    return hits if hits >= delay - 1 else delay - 1


class StampedeStream:
    """One worker's cache entry for one context without coalescing (upstream counts only).

    Every request that finds no fresh stored entry fetches; a fetch started at
    tick ``k`` is stored at tick ``k + delay`` and the entry is the latest one
    stored. With ``delay`` 0 it counts the misses of :class:`CacheStream`.

    Attributes:
        rate: requests per second (ticks per second).
        delay: ticks a fetch takes (:func:`delay_ticks`).
        stored: the fetch tick of the entry stored (``None``: none yet).
        in_flight: fetches not stored yet, as ``[first, end)`` runs of ticks.
        misses, requests: totals so far.
    """

    __slots__ = ("delay", "in_flight", "misses", "rate", "requests", "stored")

    def __init__(self, rate: int, delay: int = 0) -> None:
        self.rate = rate
        self.delay = delay
        self.stored: int | None = None
        self.in_flight: list[list[int]] = []
        self.misses = 0
        self.requests = 0

    def serve_second(self, second: int, hits: int) -> int:
        """Serve the requests of *second*, an entry fresh for ``hits`` ticks; return the misses."""
        n = self.rate
        if not n:
            return 0
        tick = second * n
        stop = tick + n
        delay = self.delay
        # A fetch is stored ``delay`` ticks after it started (seen one tick
        # later at the earliest): fresh on arrival, or never while it lasts.
        fresh_on_arrival = (delay if delay > 1 else 1) <= hits
        runs = self.in_flight
        stored = self.stored
        misses = 0
        while tick < stop:
            cut = tick - delay  # fetches started at or before it are stored by now
            while runs and runs[0][0] <= cut:
                run = runs[0]
                if run[1] - 1 <= cut:
                    stored = run[1] - 1
                    del runs[0]
                else:
                    stored = cut
                    run[0] = cut + 1
                    break
            if stored is not None and tick - stored <= hits:
                # Hits until the entry expires; each run in flight that lands
                # by then carries the freshness on, one tick at a time.
                end = stored + hits + 1
                if fresh_on_arrival:
                    for first, last_end in runs:
                        if first + delay > end:
                            break
                        end = last_end + hits
                tick = end if end < stop else stop
                continue
            if fresh_on_arrival:
                first = runs[0][0] if runs else tick
                end = first + delay if first + delay > tick else tick + 1
                if end > stop:
                    end = stop
            else:
                end = stop
            misses += end - tick
            if runs and runs[-1][1] == tick:
                runs[-1][1] = end
            else:
                runs.append([tick, end])
            tick = end
        self.stored = stored
        self.misses += misses
        self.requests += n
        return misses


class CacheStream:
    """One worker's cache entry for one context, fed one second of requests at a time.

    Attributes:
        rate: requests per second (ticks per second).
        fetched: the tick of the last upstream fetch (``None``: never fetched).
        misses, requests: totals so far.
        stale_ticks: the sum of staleness served, in ticks (divide by ``rate``).
        max_stale_ticks: the largest staleness served, in ticks.
    """

    __slots__ = ("fetched", "max_stale_ticks", "misses", "rate", "requests", "stale_ticks")

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.fetched: int | None = None
        self.misses = 0
        self.requests = 0
        self.stale_ticks = 0
        self.max_stale_ticks = 0

    def serve_second(self, second: int, hits: int) -> tuple[int, int, int]:
        """Serve the requests of *second* with ``hits`` hits allowed per fetch.

        Returns:
            ``(misses, stale_ticks, max_stale_ticks)`` of this second.
        """
        n = self.rate
        if not n:
            return 0, 0, 0
        first = second * n
        last = first + n - 1
        fetched = self.fetched
        # Ticks before the next miss are hits on the entry carried in.
        next_miss = first if fetched is None else max(first, fetched + hits + 1)
        stale = 0
        peak = 0
        if next_miss > first:
            run_end = min(next_miss, last + 1)  # exclusive
            # sum of (k - fetched) for k in [first, run_end)
            low, high = first - fetched, run_end - 1 - fetched  # type: ignore[operator]
            stale = (low + high) * (run_end - first) // 2
            peak = high
        misses = 0
        if next_miss <= last:
            cycle = hits + 1
            misses = (last - next_miss) // cycle + 1
            last_miss = next_miss + (misses - 1) * cycle
            tail = last - last_miss  # hits after the last miss
            full = misses - 1  # cycles with all their hits inside this second
            stale += full * hits * (hits + 1) // 2 + tail * (tail + 1) // 2
            if full and hits > peak:
                peak = hits
            if tail > peak:
                peak = tail
            self.fetched = last_miss
        self.misses += misses
        self.requests += n
        self.stale_ticks += stale
        if peak > self.max_stale_ticks:
            self.max_stale_ticks = peak
        return misses, stale, peak
