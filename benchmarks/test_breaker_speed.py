"""How fast the breaker decides, against one Redis round trip per call, in the same run.

Target (SPEC §7): ``get_ttl`` with the default staleness (1 s) at least 20x
faster than one plain ``GET`` to the real local Redis, i.e. at most 0.05x its
median; the gate below is that target. Also measured: pybreaker's
Redis-backed state read (``CircuitRedisStorage.state``, the common
alternative: one ``GET`` per call) and the policy alone, to show what the
breaker adds to it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pybreaker
import pytest

from panicquota import AdaptivePanicQuota
from panicquota.breaker import VIXCircuitBreaker, connect

CONTROL = "test_get_round_trip"
#: 20x faster than the round trip.
GATE = 1 / 20
LIGUE_1 = {"league": "Ligue 1"}


@pytest.fixture(scope="module")
def redis_client(real_redis_url: str) -> Iterator[Any]:
    """The real local Redis, with timeouts long enough for a loaded machine."""
    client = connect(real_redis_url, socket_timeout=5)
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client: Any) -> Iterator[str]:
    """A unique key prefix; its keys (and pybreaker's under it) are deleted afterwards."""
    name = f"{{pqbench:{uuid.uuid4().hex}}}"
    yield name
    keys = list(redis_client.scan_iter(match=f"{name}*"))
    if keys:
        redis_client.delete(*keys)


@pytest.mark.benchmark(group="breaker")
def test_get_round_trip(measured: Any, redis_client: Any, prefix: str) -> None:
    """Measure one GET of the start key per call: the control."""
    redis_client.set(f"{prefix}:start_ts", "1800000000.000000")
    measured(redis_client.get, f"{prefix}:start_ts")


@pytest.mark.benchmark(group="breaker")
def test_pybreaker_redis_state(measured: Any, redis_client: Any, prefix: str) -> None:
    """Measure pybreaker's Redis-backed state read (a GET per call)."""
    storage = pybreaker.CircuitRedisStorage("closed", redis_client, namespace=prefix)
    measured(lambda: storage.state)


@pytest.mark.benchmark(group="breaker")
def test_policy_alone(measured: Any) -> None:
    """Measure the policy on a 35-minute panic: what get_ttl adds its work to."""
    measured(AdaptivePanicQuota().calculate_ttl_strategy, 60, 35.0, LIGUE_1)


@pytest.mark.benchmark(group="breaker")
@pytest.mark.ratio_budget(control=CONTROL, max_ratio=GATE)
def test_get_ttl_default_staleness(measured: Any, redis_client: Any, prefix: str) -> None:
    """Measure get_ttl during a panic with the default 1 s staleness and the system clock."""
    breaker = VIXCircuitBreaker(redis_client, key_prefix=prefix)
    breaker.trip()
    ttl, _, meta = measured(breaker.get_ttl, 60, LIGUE_1)
    assert (ttl, meta["tier"]) == (0, 1)


@pytest.mark.benchmark(group="breaker")
@pytest.mark.ratio_budget(control=CONTROL, max_ratio=GATE)
def test_get_ttl_redis_time(measured: Any, redis_client: Any, prefix: str) -> None:
    """Measure get_ttl in the Redis time mode: no extra round trip either."""
    breaker = VIXCircuitBreaker(redis_client, key_prefix=prefix, time_source="redis")
    breaker.trip()
    ttl, _, meta = measured(breaker.get_ttl, 60, LIGUE_1)
    assert (ttl, meta["tier"]) == (0, 1)
