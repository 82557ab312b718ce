"""What a simulation found: :class:`SimulationReport` and its JSON form."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from panicquota.simulation._scenario import Scenario
from panicquota.tiers import PanicMode

__all__ = [
    "Alert",
    "Disagreement",
    "DisagreementKind",
    "SimulationMode",
    "SimulationReport",
    "TimelineMinute",
]


class SimulationMode(StrEnum):
    """How a scenario was played."""

    #: In-process, on a simulated clock against a shared fakeredis store.
    SIMULATED = "simulated"
    #: Real worker processes against a real Redis, time compressed by the clock.
    REAL = "real"


@dataclass(frozen=True, slots=True)
class Alert:
    """A context entering an alerting tier (3 or 4)."""

    second: int
    context: str
    tier: int
    message: str


class DisagreementKind(StrEnum):
    """What is wrong at a disagreement."""

    #: Workers decided differently, and reading around a trip or reset does not explain it.
    DIFFER = "differ"
    #: A worker decided what the policy does not give for the start it read (real mode).
    POLICY = "policy"


@dataclass(frozen=True, slots=True)
class Disagreement:
    """Workers deciding differently for one context at one instant, or against the policy."""

    second: int
    context: str
    #: ``(ttl, mode, tier)`` per worker (real mode: per worker that checked that second).
    decisions: tuple[tuple[float, PanicMode, int], ...]
    kind: DisagreementKind = DisagreementKind.DIFFER
    #: Real mode: the index of the worker behind each decision.
    workers: tuple[int, ...] | None = None
    #: Real mode: the panic start each of them read, in simulated seconds
    #: from the scenario's start (``None``: no panic).
    starts: tuple[float | None, ...] | None = None


@dataclass(slots=True)
class TimelineMinute:
    """What happened during one simulated minute."""

    minute: int
    vix_max: float | None = None
    requests: int = 0
    upstream_requests: int = 0
    baseline_upstream_requests: int = 0
    peak_upstream_rps: int = 0
    peak_baseline_rps: int = 0
    #: The policy through ``PanicCache`` (coalescing misses).
    cached_upstream_requests: int = 0
    peak_cached_rps: int = 0
    #: Per context label: the highest tier and the TTL at the minute's end.
    tier: dict[str, int] = field(default_factory=dict)
    ttl: dict[str, float] = field(default_factory=dict)
    alerts: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the minute as JSON-ready data."""
        return {
            "minute": self.minute,
            "vix_max": self.vix_max,
            "requests": self.requests,
            "upstream_requests": self.upstream_requests,
            "baseline_upstream_requests": self.baseline_upstream_requests,
            "peak_upstream_rps": self.peak_upstream_rps,
            "peak_baseline_rps": self.peak_baseline_rps,
            "cached_upstream_requests": self.cached_upstream_requests,
            "peak_cached_rps": self.peak_cached_rps,
            "tier": dict(self.tier),
            "ttl": dict(self.ttl),
            "alerts": self.alerts,
        }


@dataclass(frozen=True, slots=True)
class SecondSeries:
    """Per-second series for the plot (not in the JSON: the timeline is per minute)."""

    vix: list[float] | None
    upstream: list[int]
    baseline: list[int]
    #: The policy through ``PanicCache``, upstream requests per second.
    cached: list[int]
    #: Per context label, one value per second.
    tier: dict[str, list[int]]
    ttl: dict[str, list[float]]


@dataclass(frozen=True, slots=True)
class SimulationReport:
    """Everything one run measured.

    Three columns serve the same requests: the baseline, "always fresh"
    (every request during a panic goes upstream, normal caching outside it),
    and the adaptive policy (``upstream_*``), both without coalescing, and the
    policy through ``PanicCache`` (``cached_*``), which shares one fetch among
    the misses of a key while it is in flight (``upstream_latency_ms``).
    Staleness is the age of the data the cached column served (0 for a request
    that went upstream; a coalesced answer counts from its fetch's start).
    """

    scenario: Scenario
    mode: SimulationMode
    simulated_requests: int
    wall_seconds: float
    decisions: int
    upstream_requests: int
    baseline_upstream_requests: int
    peak_upstream_rps: int
    peak_baseline_rps: int
    seconds_over_capacity: int
    baseline_seconds_over_capacity: int
    cached_upstream_requests: int
    peak_cached_rps: int
    cached_seconds_over_capacity: int
    tier_seconds: dict[str, dict[int, int]]
    alerts: tuple[Alert, ...]
    transitions: int
    max_staleness_seconds: float
    mean_staleness_seconds: float
    panic_max_staleness_seconds: float
    panic_mean_staleness_seconds: float
    decision_points: int
    agreeing_points: int
    disagreements: tuple[Disagreement, ...]
    timeline: tuple[TimelineMinute, ...]
    series: SecondSeries
    #: Real mode only: the Redis URL and the key prefix the run used.
    redis_url: str | None = None
    key_prefix: str | None = None
    #: Real mode only: points where workers read different starts, excused
    #: because they read within the staleness bound of a trip or reset.
    excused_points: int = 0
    #: Real mode only: simulated seconds per wall second.
    compression: float | None = None
    #: Real mode only: how far behind the scenario the feeder wrote a reading
    #: at worst, in simulated seconds.
    feeder_max_lag_seconds: float | None = None
    #: Real mode only: the same, for the readings that tripped or reset the panic.
    feeder_change_lag_seconds: float | None = None
    #: Real mode only: per worker, the share of simulated seconds it checked.
    worker_checked_shares: tuple[float, ...] | None = None
    #: Real mode only: decision points that two workers or more checked
    #: (compared between them; every point is also held against the policy).
    compared_points: int | None = None
    #: Real mode only: times a worker's breaker rewrote the stored start
    #: (repaired or restored it), from the breakers' warnings (one per
    #: distinct corrupt value at most): none in a correct run.
    breaker_repairs: int | None = None
    #: Real mode only: checkpoints dropped because their worker was
    #: descheduled between fixing its second and recording its decisions.
    dropped_checkpoints: int | None = None
    #: Real mode only: whether the run's keys were deleted at the end.
    keys_deleted: bool | None = None
    #: What makes the figures less faithful than the scenario (real mode).
    warnings: tuple[str, ...] = ()

    @property
    def worker_agreement(self) -> float:
        """Return the share of decision points where every worker decided the same."""
        return self.agreeing_points / self.decision_points if self.decision_points else 1.0

    @property
    def reduction(self) -> float:
        """Return how much less upstream traffic than the always-fresh baseline (0..1)."""
        if not self.baseline_upstream_requests:
            return 0.0
        return 1 - self.upstream_requests / self.baseline_upstream_requests

    @property
    def cached_reduction(self) -> float:
        """Return how much less upstream traffic ``PanicCache`` sends than always-fresh (0..1)."""
        if not self.baseline_upstream_requests:
            return 0.0
        return 1 - self.cached_upstream_requests / self.baseline_upstream_requests

    @property
    def requests_per_wall_second(self) -> float:
        """Return simulated requests per second of wall time."""
        return self.simulated_requests / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def decisions_per_wall_second(self) -> float:
        """Return breaker decisions (``get_ttl`` calls) per second of wall time."""
        return self.decisions / self.wall_seconds if self.wall_seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return {
            "mode": self.mode.value,
            "scenario": self.scenario.as_dict(),
            "simulated_requests": self.simulated_requests,
            "wall_seconds": self.wall_seconds,
            "requests_per_wall_second": self.requests_per_wall_second,
            "decisions": self.decisions,
            "decisions_per_wall_second": self.decisions_per_wall_second,
            "upstream_requests": self.upstream_requests,
            "baseline_upstream_requests": self.baseline_upstream_requests,
            "reduction": self.reduction,
            "peak_upstream_rps": self.peak_upstream_rps,
            "peak_baseline_rps": self.peak_baseline_rps,
            "upstream_capacity": self.scenario.upstream_capacity,
            "seconds_over_capacity": self.seconds_over_capacity,
            "baseline_seconds_over_capacity": self.baseline_seconds_over_capacity,
            "upstream_latency_ms": self.scenario.upstream_latency_ms,
            "cached_upstream_requests": self.cached_upstream_requests,
            "cached_reduction": self.cached_reduction,
            "peak_cached_rps": self.peak_cached_rps,
            "cached_seconds_over_capacity": self.cached_seconds_over_capacity,
            "tier_seconds": {
                label: {str(tier): seconds for tier, seconds in tiers.items()}
                for label, tiers in self.tier_seconds.items()
            },
            "alerts": [
                {"second": a.second, "context": a.context, "tier": a.tier, "message": a.message}
                for a in self.alerts
            ],
            "transitions": self.transitions,
            "max_staleness_seconds": self.max_staleness_seconds,
            "mean_staleness_seconds": self.mean_staleness_seconds,
            "panic_max_staleness_seconds": self.panic_max_staleness_seconds,
            "panic_mean_staleness_seconds": self.panic_mean_staleness_seconds,
            "worker_agreement": self.worker_agreement,
            "decision_points": self.decision_points,
            "agreeing_points": self.agreeing_points,
            "disagreement_count": self.decision_points - self.agreeing_points,
            "excused_points": self.excused_points,
            "compared_points": self.compared_points,
            "disagreements": [_disagreement(d) for d in self.disagreements],
            "redis_url": self.redis_url,
            "key_prefix": self.key_prefix,
            "compression": self.compression,
            "feeder_max_lag_seconds": self.feeder_max_lag_seconds,
            "feeder_change_lag_seconds": self.feeder_change_lag_seconds,
            "worker_checked_shares": (
                None if self.worker_checked_shares is None else list(self.worker_checked_shares)
            ),
            "breaker_repairs": self.breaker_repairs,
            "dropped_checkpoints": self.dropped_checkpoints,
            "keys_deleted": self.keys_deleted,
            "warnings": list(self.warnings),
            "timeline": [minute.as_dict() for minute in self.timeline],
        }


def _disagreement(d: Disagreement) -> dict[str, Any]:
    """Return one disagreement as JSON-ready data."""
    data: dict[str, Any] = {
        "second": d.second,
        "context": d.context,
        "kind": d.kind.value,
        "decisions": [[ttl, mode.value, tier] for ttl, mode, tier in d.decisions],
    }
    if d.workers is not None:
        data["workers"] = list(d.workers)
    if d.starts is not None:
        data["starts"] = list(d.starts)
    return data
