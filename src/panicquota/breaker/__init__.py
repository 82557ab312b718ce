"""The VIX circuit breaker: a panic's start shared by every worker through Redis.

Keys live under one prefix (``vix:panic`` by default, so the start is at
``vix:panic:start_ts``); on a cluster client a prefix without a hash tag is
tagged (``{vix:panic}``, logged once) so that every key of a breaker shares one
slot. :func:`connect` reads standalone, Sentinel and Cluster URLs, for redis-py
and valkey-py (docs/production.md). See
:class:`VIXCircuitBreaker` for the staleness bound, the time modes and what
happens when Redis is down.

This package needs redis-py; ``import panicquota`` does not import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from panicquota.breaker._async import AsyncVIXCircuitBreaker
from panicquota.breaker._client import connect, connect_async, is_cluster_client
from panicquota.breaker._snapshot import JUST_STARTED
from panicquota.breaker._store_errors import describe_store_error, is_refusal
from panicquota.breaker._sync import VIXCircuitBreaker
from panicquota.breaker._types import (
    BreakerObserver,
    MissingDependencyError,
    StateSource,
    StoreUnavailableError,
    TierTransition,
    TimeSource,
)
from panicquota.breaker._urls import StoreUrl, parse_store_url

if TYPE_CHECKING:
    from panicquota.breaker._metrics import BreakerMetrics

__all__ = [
    "JUST_STARTED",
    "AsyncVIXCircuitBreaker",
    "BreakerMetrics",
    "BreakerObserver",
    "MissingDependencyError",
    "StateSource",
    "StoreUnavailableError",
    "StoreUrl",
    "TierTransition",
    "TimeSource",
    "VIXCircuitBreaker",
    "connect",
    "connect_async",
    "describe_store_error",
    "is_cluster_client",
    "is_refusal",
    "parse_store_url",
]


def __getattr__(name: str) -> Any:
    # BreakerMetrics needs prometheus_client (the optional `metrics` extra).
    if name == "BreakerMetrics":
        from panicquota.breaker._metrics import BreakerMetrics

        return BreakerMetrics
    raise AttributeError(f"module 'panicquota.breaker' has no attribute {name!r}")
