"""Prometheus metrics: what is counted, names, the missing-extra error, multiprocess mode."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from panicquota.breaker import BreakerMetrics, MissingDependencyError, VIXCircuitBreaker
from panicquota.breaker._metrics import METRIC_NAMES
from panicquota.clock import ManualClock

from .support import T0


@pytest.fixture
def client() -> Any:
    """A throwaway fakeredis client."""
    fake = fakeredis.FakeRedis()
    yield fake
    fake.close()


def test_decisions_alerts_state_and_transitions_are_counted(client: Any) -> None:
    """Decisions by tier/stakes/source, alerts, the panic gauges and one count per transition."""
    registry = CollectorRegistry()
    clock = ManualClock(T0)
    workers = [
        VIXCircuitBreaker(client, clock=clock, metrics=BreakerMetrics(registry)) for _ in range(2)
    ]
    workers[0].trip()
    clock.advance(minutes=100)
    for worker in workers:
        for _ in range(3):
            worker.get_ttl(60, {"league": "Ligue 1"})
    sample = registry.get_sample_value
    assert (
        sample(
            "panicquota_decisions_total",
            {"tier": "3", "stakes": "medium_stakes", "source": "CACHED"},
        )
        == 4.0
    )
    assert sample("panicquota_alerts_total", {"tier": "3", "stakes": "medium_stakes"}) == 6.0
    assert sample("panicquota_panic_active") == 1.0
    assert sample("panicquota_panic_duration_seconds") == 6000.0
    # Noticed at 100 minutes, the rise 1 -> 3 counts as its two steps.
    steps = [
        sample(
            "panicquota_tier_transitions_total",
            {"from_tier": str(tier - 1), "to_tier": str(tier), "stakes": "medium_stakes"},
        )
        for tier in (1, 2, 3, 4)
    ]
    assert steps == [1.0, 1.0, 1.0, None]


def test_metric_names_follow_prometheus_conventions() -> None:
    """The documented names are exactly the exposed ones: counters in _total, times in _seconds."""
    registry = CollectorRegistry()
    BreakerMetrics(registry)
    families = {family.name: family.type for family in registry.collect()}
    exposed = {name + "_total" if kind == "counter" else name for name, kind in families.items()}
    assert exposed == set(METRIC_NAMES)
    assert all(name.startswith("panicquota_") for name in exposed)
    assert families["panicquota_store_latency_seconds"] == "histogram"


def test_missing_prometheus_client_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without prometheus_client, BreakerMetrics names the extra to install."""
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(MissingDependencyError) as caught:
        BreakerMetrics()
    assert str(caught.value) == (
        "breaker metrics need prometheus_client, which is not installed: "
        "pip install 'panicquota[metrics]'"
    )


def test_multiprocess_mode_sums_over_processes(tmp_path: Path) -> None:
    """Two processes writing to PROMETHEUS_MULTIPROC_DIR add up in one scrape."""
    code = (
        "import fakeredis\n"
        "from panicquota.breaker import BreakerMetrics, VIXCircuitBreaker\n"
        "b = VIXCircuitBreaker(fakeredis.FakeRedis(), metrics=BreakerMetrics())\n"
        "for _ in range(5): b.get_ttl(60, 'Ligue 1')\n"
    )
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": ""}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(tmp_path))
    labels = {"tier": "0", "stakes": "medium_stakes", "source": "CACHED"}
    assert registry.get_sample_value("panicquota_decisions_total", labels) == 8.0
    assert registry.get_sample_value("panicquota_panic_active") == 0.0


def test_repairs_and_fail_safe_decisions_are_counted(client: Any) -> None:
    """A restored start, a replaced corrupt start and fail-safe decisions show in the metrics."""
    registry = CollectorRegistry()
    clock = ManualClock(T0)
    breaker = VIXCircuitBreaker(client, clock=clock, metrics=BreakerMetrics(registry))
    breaker.trip()
    client.delete("vix:panic:start_ts")
    breaker.refresh()
    client.set("vix:panic:start_ts", "garbage")
    breaker.refresh()
    sample = registry.get_sample_value
    assert sample("panicquota_state_repairs_total", {"kind": "restored"}) == 1.0
    assert sample("panicquota_state_repairs_total", {"kind": "corrupt"}) == 1.0

    down = fakeredis.FakeServer()
    down.connected = False
    unreachable = fakeredis.FakeRedis(server=down)
    blind = VIXCircuitBreaker(unreachable, clock=clock, metrics=BreakerMetrics(registry))
    blind.get_ttl(60, "UCL")
    labels = {"tier": "0", "stakes": "high_stakes", "source": "FAIL_SAFE"}
    assert sample("panicquota_decisions_total", labels) == 1.0
    assert sample("panicquota_store_up") == 0.0
    unreachable.close()
