"""Real processes sharing the real Redis: one start for racing trips, identical decisions."""

from __future__ import annotations

import importlib
import multiprocessing
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from .support import REAL_REDIS_URL, T0, delete_prefix, unique_prefix

CTX = multiprocessing.get_context("spawn")


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The worker module, importable by name in spawned children (they inherit sys.path)."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    return importlib.import_module("breaker_workers")


@pytest.fixture
def redis_prefix(real_redis: Any) -> Iterator[tuple[Any, str]]:
    """The real Redis and a unique prefix, cleaned up after the test."""
    prefix = unique_prefix()
    yield real_redis, prefix
    delete_prefix(real_redis, prefix)


def run_all(target: Any, arg_lists: list[tuple[Any, ...]], results: Any) -> list[Any]:
    """Start one process per argument tuple, join them all, return their results."""
    processes = [CTX.Process(target=target, args=(*args, results)) for args in arg_lists]
    for process in processes:
        process.start()
    collected = [results.get() for _ in processes]
    for process in processes:
        process.join(timeout=60)
    assert [p.exitcode for p in processes] == [0] * len(processes)
    return collected


def test_sixteen_racing_trips_leave_one_start(
    workers: ModuleType, redis_prefix: tuple[Any, str]
) -> None:
    """16 processes tripping at once, each at its own time: one start wins, all read it."""
    client, prefix = redis_prefix
    barrier = CTX.Barrier(16)
    starts = run_all(
        workers.race_to_trip,
        [(REAL_REDIS_URL, prefix, T0 + i, barrier) for i in range(16)],
        CTX.SimpleQueue(),
    )
    stored = float(client.get(f"{prefix}:start_ts"))
    assert set(starts) == {stored}
    assert T0 <= stored < T0 + 16
    assert client.get(f"{prefix}:activation") == b"1"


def test_workers_at_the_same_instant_decide_alike(
    workers: ModuleType, redis_prefix: tuple[Any, str]
) -> None:
    """4 processes with the same stored start and the same injected time agree exactly."""
    client, prefix = redis_prefix
    client.set(f"{prefix}:start_ts", f"{T0 - 35 * 60:.6f}")
    decisions = run_all(
        workers.decide_at,
        [(REAL_REDIS_URL, prefix, T0, 0.0, "local") for _ in range(4)],
        CTX.SimpleQueue(),
    )
    assert len(set(decisions)) == 1
    assert decisions[0][0] == (5, "PANIC_PARTIAL", 2, "medium_stakes")


def test_skewed_hosts_agree_in_redis_time_mode(
    workers: ModuleType, redis_prefix: tuple[Any, str]
) -> None:
    """Processes whose clocks are minutes apart decide alike when time comes from Redis."""
    client, prefix = redis_prefix
    server_now = float(client.time()[0])
    client.set(f"{prefix}:start_ts", f"{server_now - 32 * 60:.6f}")
    skews = (-240.0, 0.0, 180.0)
    decisions = run_all(
        workers.decide_at,
        [(REAL_REDIS_URL, prefix, time.time(), skew, "redis") for skew in skews],
        CTX.SimpleQueue(),
    )
    assert len(set(decisions)) == 1
    assert decisions[0][0] == (5, "PANIC_PARTIAL", 2, "medium_stakes")
