"""Prometheus metrics of the cache (the optional ``metrics`` extra).

Labels take a handful of values each (results, tiers, store operations,
exception class names), never a key or a request's context. The counters
work in prometheus_client's multiprocess mode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from panicquota._shared.prometheus import collectors
from panicquota.cache._types import CacheSource
from panicquota.decision import Decision
from panicquota.tiers import MODE_BY_TIER

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["METRIC_NAMES", "CacheMetrics"]

#: The metrics, as exposed.
METRIC_NAMES: Final = (
    "panicquota_cache_requests_total",
    "panicquota_cache_fetches_total",
    "panicquota_cache_store_errors_total",
)

_TIER_OF_MODE: Final = {mode: str(tier) for tier, mode in enumerate(MODE_BY_TIER)}


class CacheMetrics:
    """Count a cache's answers (hit, miss, coalesced, stale), upstream fetches and store errors.

    ``panicquota_cache_requests_total{result, tier}`` counts answers by
    :class:`CacheSource` (lower case) and the tier of the decision they were
    judged by; ``panicquota_cache_fetches_total{tier, outcome}`` counts calls
    of ``fetch`` (``ok`` or ``error``); ``panicquota_cache_store_errors_total
    {operation, error, tier}`` counts failed store calls by the tier of the
    decision of the request that made them.

    Args:
        registry: where the collectors are registered (default: the
            prometheus_client default registry). Several instances over one
            registry share the same collectors.

    Raises:
        MissingDependencyError: prometheus_client is not installed.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        created = collectors("cache", registry, self._create)
        self._requests, self._fetches, self._errors = created
        # labels() costs more than the increment: children are looked up once.
        self._served: dict[tuple[CacheSource, object], Any] = {}
        self._fetched: dict[tuple[object, bool], Any] = {}

    @staticmethod
    def _create(prom: Any, registry: CollectorRegistry) -> tuple[Any, ...]:
        return (
            prom.Counter(
                "panicquota_cache_requests",
                "Cache answers, by result (hit, miss, coalesced, stale) and tier.",
                ("result", "tier"),
                registry=registry,
            ),
            prom.Counter(
                "panicquota_cache_fetches",
                "Upstream fetches made by the cache, by tier and outcome (ok, error).",
                ("tier", "outcome"),
                registry=registry,
            ),
            prom.Counter(
                "panicquota_cache_store_errors",
                "Failed cache store calls, by operation, exception class and tier.",
                ("operation", "error", "tier"),
                registry=registry,
            ),
        )

    def served(self, source: CacheSource, decision: Decision) -> None:
        """Count one answer."""
        key = (source, decision[1])
        child = self._served.get(key)
        if child is None:
            tier = _TIER_OF_MODE.get(decision[1], "unknown")
            child = self._served[key] = self._requests.labels(source.value.lower(), tier)
        child.inc()

    def fetched(self, decision: Decision, ok: bool) -> None:
        """Count one call of ``fetch``."""
        key = (decision[1], ok)
        child = self._fetched.get(key)
        if child is None:
            tier = _TIER_OF_MODE.get(decision[1], "unknown")
            child = self._fetched[key] = self._fetches.labels(tier, "ok" if ok else "error")
        child.inc()

    def store_error(self, operation: str, error: BaseException, decision: Decision) -> None:
        """Count a failed store call, made while serving under *decision*."""
        tier = _TIER_OF_MODE.get(decision[1], "unknown")
        self._errors.labels(operation, type(error).__name__, tier).inc()
