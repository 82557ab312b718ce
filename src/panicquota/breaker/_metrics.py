"""Prometheus metrics of the breaker (the optional ``metrics`` extra).

Every metric is named ``panicquota_...`` with Prometheus units and suffixes;
labels take a handful of values each (tiers, stakes levels, sources, script
names, exception class names), never a request's context. The collectors work
in prometheus_client's multiprocess mode (set ``PROMETHEUS_MULTIPROC_DIR``
before the first import); the gauges then report the maximum (or, for
``panicquota_store_up``, the minimum) over live processes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from panicquota._shared.prometheus import collectors
from panicquota.breaker._types import StateSource, TierTransition
from panicquota.tiers import MODE_BY_TIER, PanicMode

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["METRIC_NAMES", "BreakerMetrics"]

#: The metrics, as exposed (counters gain ``_total``).
METRIC_NAMES: Final = (
    "panicquota_decisions_total",
    "panicquota_alerts_total",
    "panicquota_panic_active",
    "panicquota_panic_duration_seconds",
    "panicquota_tier_transitions_total",
    "panicquota_store_errors_total",
    "panicquota_store_latency_seconds",
    "panicquota_store_up",
    "panicquota_state_repairs_total",
)

_TIER_OF_MODE: Final = {mode: str(tier) for tier, mode in enumerate(MODE_BY_TIER)}
_LATENCY_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class BreakerMetrics:
    """Record a breaker's decisions, panic state, transitions and Redis calls.

    Args:
        registry: where the collectors are registered (default: the
            prometheus_client default registry). Several instances over one
            registry share the same collectors.

    Raises:
        MissingDependencyError: prometheus_client is not installed.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        created = collectors("breaker", registry, self._create)
        (
            self._decisions,
            self._alerts,
            self._active,
            self._duration,
            self._transitions,
            self._errors,
            self._latency,
            self._up,
            self._repairs,
        ) = created
        # labels() costs more than the increment: children are looked up once.
        self._children: dict[tuple[PanicMode, object, object], tuple[Any, Any]] = {}
        self._latency_children: dict[str, Any] = {}

    @staticmethod
    def _create(prom: Any, registry: CollectorRegistry) -> tuple[Any, ...]:
        kw = {"registry": registry}
        return (
            prom.Counter(
                "panicquota_decisions",
                "TTL decisions served, by tier, stakes and state source.",
                ("tier", "stakes", "source"),
                **kw,
            ),
            prom.Counter(
                "panicquota_alerts",
                "Decisions served with an alert (tiers 3 and 4).",
                ("tier", "stakes"),
                **kw,
            ),
            prom.Gauge(
                "panicquota_panic_active",
                "1 while a panic is on, as last read from Redis.",
                multiprocess_mode="livemax",
                **kw,
            ),
            prom.Gauge(
                "panicquota_panic_duration_seconds",
                "How long the current panic has lasted, as of the last read.",
                multiprocess_mode="livemax",
                **kw,
            ),
            prom.Counter(
                "panicquota_tier_transitions",
                "Tier transitions, counted once across all workers.",
                ("from_tier", "to_tier", "stakes"),
                **kw,
            ),
            prom.Counter(
                "panicquota_store_errors",
                "Failed Redis calls, by script and exception class.",
                ("operation", "error"),
                **kw,
            ),
            prom.Histogram(
                "panicquota_store_latency_seconds",
                "Duration of successful Redis calls, by script.",
                ("operation",),
                buckets=_LATENCY_BUCKETS,
                **kw,
            ),
            prom.Gauge(
                "panicquota_store_up",
                "0 while the breaker considers Redis unreachable, else 1.",
                multiprocess_mode="livemin",
                **kw,
            ),
            prom.Counter(
                "panicquota_state_repairs",
                "Shared state repaired: a lost start restored, a corrupt one replaced.",
                ("kind",),
                **kw,
            ),
        )

    def decision(self, mode: PanicMode, meta: Mapping[str, Any], source: StateSource) -> None:
        """Count one decision."""
        stakes = meta["stakes"]
        key = (mode, stakes, source)
        children = self._children.get(key)
        if children is None:
            tier = _TIER_OF_MODE.get(mode, "unknown")
            label = str(getattr(stakes, "value", stakes))
            alert = self._alerts.labels(tier, label) if tier in ("3", "4") else None
            children = (self._decisions.labels(tier, label, source.value), alert)
            self._children[key] = children
        children[0].inc()
        if children[1] is not None:
            children[1].inc()

    def panic_state(self, duration_seconds: float | None) -> None:
        """Record the panic state just read (``None``: no panic)."""
        self._active.set(0 if duration_seconds is None else 1)
        self._duration.set(0.0 if duration_seconds is None else duration_seconds)

    def transition(self, transition: TierTransition) -> None:
        """Count a transition this worker delivered."""
        self._transitions.labels(
            str(transition.from_tier), str(transition.to_tier), transition.stakes.value
        ).inc()

    def store_error(self, operation: str, error: BaseException) -> None:
        """Count a failed Redis call."""
        self._errors.labels(operation, type(error).__name__).inc()

    def store_latency(self, operation: str, seconds: float) -> None:
        """Record the duration of a successful Redis call."""
        child = self._latency_children.get(operation)
        if child is None:
            child = self._latency_children[operation] = self._latency.labels(operation)
        child.observe(seconds)
        self._up.set(1)

    def store_up(self, *, up: bool) -> None:
        """Record whether Redis is reachable."""
        self._up.set(1 if up else 0)

    def repair(self, kind: str) -> None:
        """Count a repair of the shared state (``"restored"`` or ``"corrupt"``)."""
        self._repairs.labels(kind).inc()
