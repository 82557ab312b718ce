"""The VIX circuit breaker: a panic's start shared by every worker through Redis.

Keys live under one prefix (``vix:panic`` by default, so the start is at
``vix:panic:start_ts``); on Redis Cluster use a hash-tagged prefix such as
``{vix:panic}`` so that every key of a breaker shares one slot. See
:class:`VIXCircuitBreaker` for the staleness bound, the time modes and what
happens when Redis is down.

This package needs redis-py; ``import panicquota`` does not import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from panicquota.breaker._async import AsyncVIXCircuitBreaker
from panicquota.breaker._client import connect, connect_async
from panicquota.breaker._sync import VIXCircuitBreaker
from panicquota.breaker._types import (
    BreakerObserver,
    MissingDependencyError,
    StateSource,
    StoreUnavailableError,
    TierTransition,
    TimeSource,
)

if TYPE_CHECKING:
    from panicquota.breaker._metrics import BreakerMetrics

__all__ = [
    "AsyncVIXCircuitBreaker",
    "BreakerMetrics",
    "BreakerObserver",
    "MissingDependencyError",
    "StateSource",
    "StoreUnavailableError",
    "TierTransition",
    "TimeSource",
    "VIXCircuitBreaker",
    "connect",
    "connect_async",
]


def __getattr__(name: str) -> Any:
    # BreakerMetrics needs prometheus_client (the optional `metrics` extra).
    if name == "BreakerMetrics":
        from panicquota.breaker._metrics import BreakerMetrics

        return BreakerMetrics
    raise AttributeError(f"module 'panicquota.breaker' has no attribute {name!r}")
