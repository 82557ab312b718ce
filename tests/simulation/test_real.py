"""The real mode: worker processes against the local Redis, time compressed."""

from __future__ import annotations

import queue
import uuid

import pytest
import redis

from panicquota.simulation import Scenario, simulate_real
from panicquota.simulation._real import (
    DEFAULT_REDIS_URL,
    RealModeError,
    _collect,
    _delete_keys,
    _startup_failure,
    agreement,
)


def test_real_mode_agrees_and_cleans_up(fast_scenario: Scenario, real_redis: redis.Redis) -> None:
    """Two processes decide many times per second, agree, and leave no key behind."""
    scenario = fast_scenario.with_overrides(workers=2)
    report = simulate_real(scenario, wall_seconds=2.0)
    assert report.worker_agreement == 1.0
    assert report.decision_points > 0
    assert report.decisions > 10 * report.decision_points  # the hot loop ran
    assert report.simulated_requests == scenario.duration_seconds * 2 * 7
    assert report.series.tier["Ligue 1"].count(4) > 0  # the panic reached tier 4
    assert report.redis_url == DEFAULT_REDIS_URL
    assert report.key_prefix is not None
    base = report.key_prefix.removesuffix(":vix:panic")
    assert list(real_redis.scan_iter(match=f"{base}*")) == []


def test_unreachable_redis() -> None:
    """A server that is not there is reported with the URL and what to do."""
    with pytest.raises(RealModeError, match=r"^cannot reach Redis at 'redis://127\.0\.0\.1:1/0' "):
        simulate_real(
            Scenario("x", "", 10, volatility=((0, 1),)), redis_url="redis://127.0.0.1:1/0"
        )


def test_agreement_compares_same_instant_and_start(fast_scenario: Scenario) -> None:
    """Checkpoints disagree only at the same second, context and stored start."""
    start = 1_767_225_660.0
    steady = [(0, ((20, "NORMAL", None),) * 3), (61, ((0, "PANIC_FULL", start),) * 3)]
    late = [(0, ((20, "NORMAL", None),) * 3), (61, ((20, "NORMAL", None),) * 3)]
    points, agreeing, disagreements = agreement(fast_scenario, [steady, late])
    assert (points, agreeing, disagreements) == (9, 9, ())  # a stale snapshot is no bug
    wrong = [(0, ((20, "NORMAL", None),) * 3), (61, ((5, "PANIC_PARTIAL", start),) * 3)]
    points, agreeing, disagreements = agreement(fast_scenario, [steady, wrong])
    assert (points, agreeing) == (6, 3)
    assert disagreements[0].second == 61
    assert disagreements[0].decisions == ((0, "PANIC_FULL", 1), (5, "PANIC_PARTIAL", 2))


def test_a_worker_failing_at_start_is_reported() -> None:
    """A worker that dies before the start gate surfaces with its traceback."""
    results: queue.Queue[tuple[int, str]] = queue.Queue()
    results.put((3, "Traceback ...\nConnectionError: boom\n"))
    error = _startup_failure(results)
    assert str(error) == "worker 3 failed:\nTraceback ...\nConnectionError: boom\n"


def test_bad_url() -> None:
    """A URL redis-py cannot parse is named as such."""
    with pytest.raises(RealModeError, match=r"^not a Redis URL: 'http://x' "):
        simulate_real(Scenario("x", "", 10, volatility=((0, 1),)), redis_url="http://x")


def test_a_failed_worker_is_reported_with_its_traceback() -> None:
    """A worker that fails mid-run makes the run fail with the worker's traceback."""
    results: queue.Queue[object] = queue.Queue()
    results.put((1, "Traceback ...\nRuntimeError: boom\n"))
    with pytest.raises(RealModeError) as excinfo:
        _collect(results, [object(), object()], timeout=1)
    assert str(excinfo.value) == "worker 1 failed:\nTraceback ...\nRuntimeError: boom\n"


def test_silent_workers_time_out() -> None:
    """Workers that never report make the run fail, saying how many did."""
    with pytest.raises(RealModeError) as excinfo:
        _collect(queue.Queue(), [object(), object()], timeout=0.2)
    assert str(excinfo.value) == "only 0 of 2 workers reported within 0.2 s"


def test_only_the_run_keys_are_deleted(real_redis: redis.Redis) -> None:
    """Cleaning up deletes every key under the run's base, in batches, and nothing else."""
    base = f"panicquota:sim:test-{uuid.uuid4().hex}"
    neighbour = f"{base}-neighbour"
    real_redis.mset({f"{base}:key:{i}": i for i in range(1200)} | {neighbour: 1})
    try:
        _delete_keys(real_redis, base)
        assert list(real_redis.scan_iter(match=f"{base}:*")) == []
        assert real_redis.get(neighbour) == b"1"
    finally:
        real_redis.delete(neighbour)
