"""Turn every worker's decisions, second by second, into the report's figures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from panicquota.decision import Decision
from panicquota.simulation._cache import (
    CacheStream,
    StampedeStream,
    coalesced_hits,
    delay_ticks,
    hits_per_fetch,
)
from panicquota.simulation._report import (
    Alert,
    Disagreement,
    SecondSeries,
    SimulationMode,
    SimulationReport,
    TimelineMinute,
)
from panicquota.simulation._scenario import Scenario
from panicquota.tiers import TIER_BY_MODE, PanicMode

__all__ = ["Accounting"]

_NORMAL: Final = PanicMode.NORMAL
#: Disagreements kept in the report (the count is always complete).
_KEPT_DISAGREEMENTS: Final = 20


class Accounting:
    """Accumulate one second of decisions at a time (call :meth:`add_second` in order).

    While every worker has agreed on every decision, the workers' caches are
    in the same state, so one cache stream per context stands for all of them
    (its figures multiplied by the number of workers); at the first
    disagreement the streams are split per worker. Either way the figures are
    exact.

    Three caches serve the same requests from the same decisions: ``baseline``
    (always fresh: the normal TTL outside a panic, none in it) and
    ``upstream`` (the policy) without coalescing, and ``cached`` (the policy
    through ``PanicCache``, coalescing the misses of each worker's entry over
    the fetch latency). The staleness figures are the cached column's (with no
    latency all three serve the policy's entries alike).
    """

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.workers = scenario.workers
        self.labels = [c.label for c in scenario.contexts]
        self.rates = scenario.rates()
        contexts = range(len(self.rates))
        self._shared = True
        self._delays = [delay_ticks(scenario.upstream_latency_ms, r) for r in self.rates]
        delays = self._delays
        self._streams: list[list[CacheStream]] = [[CacheStream(r)] for r in self.rates]
        self._policy: list[list[StampedeStream]] = [
            [StampedeStream(r, d)] for r, d in zip(self.rates, delays, strict=True)
        ]
        self._baseline = [StampedeStream(r, d) for r, d in zip(self.rates, delays, strict=True)]
        self._baseline_hits = [hits_per_fetch(scenario.normal_ttl, r) for r in self.rates]
        self._stale = [0 for _ in contexts]
        self._panic_stale = [0 for _ in contexts]
        self._panic_requests = [0 for _ in contexts]
        self._max_stale = [0 for _ in contexts]
        self._panic_max_stale = [0 for _ in contexts]
        self._last_tier = [0 for _ in contexts]
        self._tier_seconds: list[dict[int, int]] = [dict.fromkeys(range(5), 0) for _ in contexts]
        self.upstream = 0
        self.cached = 0
        self.baseline = 0
        self.requests = 0
        self.points = 0
        self.agreeing = 0
        self.disagreement_count = 0
        self.disagreements: list[Disagreement] = []
        self.alerts: list[Alert] = []
        self.timeline: list[TimelineMinute] = []
        self.series = SecondSeries(
            vix=None if scenario.volatility is None else [],
            upstream=[],
            baseline=[],
            cached=[],
            tier={label: [] for label in self.labels},
            ttl={label: [] for label in self.labels},
        )

    def add_second(
        self, second: int, vix: float | None, decisions: Sequence[Sequence[Decision]]
    ) -> None:
        """Account for *second*, given ``decisions[worker][context]``."""
        workers = self.workers
        upstream = cached = baseline = 0
        minute = self._minute(second)
        if vix is not None:
            assert self.series.vix is not None
            self.series.vix.append(vix)
            if minute.vix_max is None or vix > minute.vix_max:
                minute.vix_max = vix
        for c, rate in enumerate(self.rates):
            ttl0, mode0, meta0 = decisions[0][c]
            agree = True
            for w in range(1, workers):
                ttl, mode, _ = decisions[w][c]
                if ttl != ttl0 or mode is not mode0:
                    agree = False
            self.points += 1
            if agree:
                self.agreeing += 1
            else:
                self._disagree(second, c, decisions)
            in_panic = mode0 is not _NORMAL
            delay = self._delays[c]
            if self._shared:
                hits = hits_per_fetch(ttl0, rate)
                fetches, stale, peak = self._streams[c][0].serve_second(
                    second, coalesced_hits(hits, delay)
                )
                fetches *= workers
                stale *= workers
                misses = self._policy[c][0].serve_second(second, hits) * workers
            else:
                misses = fetches = stale = peak = 0
                for w, (stream, policy) in enumerate(
                    zip(self._streams[c], self._policy[c], strict=True)
                ):
                    hits = hits_per_fetch(decisions[w][c][0], rate)
                    f, s, p = stream.serve_second(second, coalesced_hits(hits, delay))
                    fetches += f
                    stale += s
                    if p > peak:
                        peak = p
                    misses += policy.serve_second(second, hits)
            cached += fetches
            upstream += misses
            self._stale[c] += stale
            if peak > self._max_stale[c]:
                self._max_stale[c] = peak
            if in_panic:
                self._panic_stale[c] += stale
                self._panic_requests[c] += rate * workers
                if peak > self._panic_max_stale[c]:
                    self._panic_max_stale[c] = peak
            base = self._baseline[c].serve_second(second, 0 if in_panic else self._baseline_hits[c])
            baseline += base * workers
            tier = TIER_BY_MODE[mode0]
            self._tier_seconds[c][tier] += 1
            label = self.labels[c]
            if tier != self._last_tier[c]:
                if tier >= 3 and tier > self._last_tier[c]:
                    self.alerts.append(Alert(second, label, tier, str(meta0["alert"])))
                    minute.alerts += 1
                self._last_tier[c] = tier
            if tier > minute.tier.get(label, -1):
                minute.tier[label] = tier
            minute.ttl[label] = ttl0
            self.series.tier[label].append(tier)
            self.series.ttl[label].append(ttl0)
        requests = self.scenario.rps * workers
        self.requests += requests
        self.upstream += upstream
        self.cached += cached
        self.baseline += baseline
        minute.requests += requests
        minute.upstream_requests += upstream
        minute.cached_upstream_requests += cached
        minute.baseline_upstream_requests += baseline
        minute.peak_upstream_rps = max(minute.peak_upstream_rps, upstream)
        minute.peak_cached_rps = max(minute.peak_cached_rps, cached)
        minute.peak_baseline_rps = max(minute.peak_baseline_rps, baseline)
        self.series.upstream.append(upstream)
        self.series.cached.append(cached)
        self.series.baseline.append(baseline)

    def _minute(self, second: int) -> TimelineMinute:
        index = second // 60
        if not self.timeline or self.timeline[-1].minute != index:
            self.timeline.append(TimelineMinute(index))
        return self.timeline[-1]

    def _disagree(self, second: int, c: int, decisions: Sequence[Sequence[Decision]]) -> None:
        self.disagreement_count += 1
        if len(self.disagreements) < _KEPT_DISAGREEMENTS:
            self.disagreements.append(
                Disagreement(
                    second,
                    self.labels[c],
                    tuple((d[c][0], d[c][1], TIER_BY_MODE[d[c][1]]) for d in decisions),
                )
            )
        if self._shared:
            # The workers' caches diverge from here: give each its own copy.
            self._shared = False
            for streams in self._streams:
                (stream,) = streams
                streams[:] = [_copy(stream) for _ in range(self.workers)]
            for policies in self._policy:
                (policy,) = policies
                policies[:] = [_copy_stampede(policy) for _ in range(self.workers)]

    def report(
        self,
        *,
        mode: SimulationMode,
        wall_seconds: float,
        decisions: int,
        transitions: int,
        redis_url: str | None = None,
        key_prefix: str | None = None,
    ) -> SimulationReport:
        """Return the report of the seconds accounted so far."""
        capacity = self.scenario.upstream_capacity
        stale_seconds = sum(t / r for t, r in zip(self._stale, self.rates, strict=True) if r)
        panic_stale_seconds = sum(
            t / r for t, r in zip(self._panic_stale, self.rates, strict=True) if r
        )
        panic_requests = sum(self._panic_requests)
        return SimulationReport(
            scenario=self.scenario,
            mode=mode,
            simulated_requests=self.requests,
            wall_seconds=wall_seconds,
            decisions=decisions,
            upstream_requests=self.upstream,
            baseline_upstream_requests=self.baseline,
            peak_upstream_rps=max(self.series.upstream, default=0),
            peak_baseline_rps=max(self.series.baseline, default=0),
            seconds_over_capacity=(
                0 if capacity is None else sum(u > capacity for u in self.series.upstream)
            ),
            cached_upstream_requests=self.cached,
            peak_cached_rps=max(self.series.cached, default=0),
            cached_seconds_over_capacity=(
                0 if capacity is None else sum(u > capacity for u in self.series.cached)
            ),
            baseline_seconds_over_capacity=(
                0 if capacity is None else sum(b > capacity for b in self.series.baseline)
            ),
            tier_seconds={
                label: dict(tiers)
                for label, tiers in zip(self.labels, self._tier_seconds, strict=True)
            },
            alerts=tuple(self.alerts),
            transitions=transitions,
            max_staleness_seconds=max(
                (t / r for t, r in zip(self._max_stale, self.rates, strict=True) if r), default=0.0
            ),
            mean_staleness_seconds=stale_seconds / self.requests if self.requests else 0.0,
            panic_max_staleness_seconds=max(
                (t / r for t, r in zip(self._panic_max_stale, self.rates, strict=True) if r),
                default=0.0,
            ),
            panic_mean_staleness_seconds=(
                panic_stale_seconds / panic_requests if panic_requests else 0.0
            ),
            decision_points=self.points,
            agreeing_points=self.agreeing,
            disagreements=tuple(self.disagreements),
            timeline=tuple(self.timeline),
            series=self.series,
            redis_url=redis_url,
            key_prefix=key_prefix,
        )


def _copy(stream: CacheStream) -> CacheStream:
    """Return a stream in the same cache state (fresh totals: they are kept per second)."""
    twin = CacheStream(stream.rate)
    twin.fetched = stream.fetched
    return twin


def _copy_stampede(stream: StampedeStream) -> StampedeStream:
    """Return a stream without coalescing in the same state (stored entry, fetches in flight)."""
    twin = StampedeStream(stream.rate, stream.delay)
    twin.stored = stream.stored
    twin.in_flight = [list(run) for run in stream.in_flight]
    return twin
