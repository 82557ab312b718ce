"""Metrics: answers by result and tier, upstream fetches, store errors (prometheus_client)."""

from __future__ import annotations

import sys
import threading
from typing import Any

import fakeredis
import pytest
from prometheus_client import CollectorRegistry

from panicquota.breaker import MissingDependencyError, VIXCircuitBreaker
from panicquota.cache import CacheMetrics, MemoryStore, PanicCache
from panicquota.clock import ManualClock
from panicquota.tiers import PanicMode
from pytest_panicquota import Upstream

from .support import T0


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """Return a sample's value, 0 when absent."""
    return registry.get_sample_value(name, labels) or 0.0


def test_answers_fetches_and_errors_are_counted_by_tier() -> None:
    """Each kind of answer, each fetch and each store error lands in its labelled counter."""
    registry = CollectorRegistry()
    clock = ManualClock(T0)
    breaker = VIXCircuitBreaker(fakeredis.FakeRedis(), clock=clock)
    cache = PanicCache(
        breaker,
        MemoryStore(),
        normal_ttl=60,
        stale_if_error=600,
        metrics=CacheMetrics(registry),
    )
    upstream = Upstream(latency=0.5)
    cache.lookup("k", upstream)  # miss, tier 0
    cache.lookup("k", upstream)  # hit, tier 0
    breaker.trip()
    barrier = threading.Barrier(4)

    def request() -> None:
        barrier.wait(timeout=30)
        cache.lookup("k", upstream)

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    upstream.fail()
    cache.lookup("k", upstream)  # stale, tier 1
    requests = "panicquota_cache_requests_total"
    assert sample(registry, requests, result="miss", tier="0") == 1
    assert sample(registry, requests, result="hit", tier="0") == 1
    assert sample(registry, requests, result="miss", tier="1") == 1
    assert sample(registry, requests, result="coalesced", tier="1") == 3
    assert sample(registry, requests, result="stale", tier="1") == 1
    fetches = "panicquota_cache_fetches_total"
    assert sample(registry, fetches, tier="0", outcome="ok") == 1
    assert sample(registry, fetches, tier="1", outcome="ok") == 1
    assert sample(registry, fetches, tier="1", outcome="error") == 1


def test_store_errors_are_counted() -> None:
    """A failed store call counts under its operation and exception class."""
    registry = CollectorRegistry()
    metrics = CacheMetrics(registry)
    again = CacheMetrics(registry)  # a second instance shares the collectors
    metrics.store_error("get", OSError("down"), (60.0, PanicMode.NORMAL, {}))
    again.store_error("get", OSError("down"), (60.0, PanicMode.NORMAL, {}))
    again.store_error("get", OSError("down"), (5.0, PanicMode.PANIC_PARTIAL, {}))
    errors = "panicquota_cache_store_errors_total"
    assert sample(registry, errors, operation="get", error="OSError", tier="0") == 2
    assert sample(registry, errors, operation="get", error="OSError", tier="2") == 1


def test_metrics_need_prometheus_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without prometheus_client, CacheMetrics says which extra to install."""
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(MissingDependencyError) as raised:
        CacheMetrics()
    assert str(raised.value) == (
        "cache metrics need prometheus_client, which is not installed: "
        "pip install 'panicquota[metrics]'"
    )


def test_unknown_attributes_of_the_package() -> None:
    """The package exports CacheMetrics lazily and nothing it does not have."""
    import panicquota.cache

    assert panicquota.cache.CacheMetrics is CacheMetrics
    with pytest.raises(
        AttributeError, match=r"^module 'panicquota.cache' has no attribute 'Nope'$"
    ):
        panicquota.cache.Nope  # type: ignore[attr-defined]  # noqa: B018


def test_the_default_registry_is_used_when_none_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """CacheMetrics() registers in prometheus_client's default registry."""
    import prometheus_client

    registry = CollectorRegistry()
    monkeypatch.setattr(prometheus_client, "REGISTRY", registry)
    metrics: Any = CacheMetrics()
    metrics.store_error("set", OSError(), (0.0, PanicMode.PANIC_FULL, {}))
    assert (
        sample(
            registry,
            "panicquota_cache_store_errors_total",
            operation="set",
            error="OSError",
            tier="1",
        )
        == 1
    )


class BrokenStore:
    """A store whose every call fails, as a Redis that is down does."""

    shared = False
    errors = (OSError,)

    def get(self, key: str) -> Any:
        raise OSError("down")

    def set(self, key: str, entry: Any, expire: float) -> None:
        raise OSError("down")


def test_store_errors_are_counted_by_the_tier_of_the_request() -> None:
    """A store failing during a panic counts under that tier (1), not with normal time's."""
    registry = CollectorRegistry()
    breaker = VIXCircuitBreaker(fakeredis.FakeRedis(), clock=ManualClock(T0))
    cache = PanicCache(breaker, BrokenStore(), normal_ttl=60, metrics=CacheMetrics(registry))
    errors = "panicquota_cache_store_errors_total"
    assert cache.lookup("k", Upstream()).source.value == "MISS"
    assert sample(registry, errors, operation="get", error="OSError", tier="0") == 1
    breaker.trip()
    cache._core.health.retry_at = 0.0  # past the backoff: the next request tries the store
    cache.lookup("k", Upstream())
    assert sample(registry, errors, operation="get", error="OSError", tier="1") == 1
    assert sample(registry, errors, operation="get", error="OSError", tier="0") == 1
