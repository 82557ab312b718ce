"""panic_workers: real processes sharing the test's Redis, and assert_workers_agree."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_panicquota import assert_workers_agree

from .support import REAL_URL

WORKERS_SUITE = """
import pytest
from pytest_panicquota import WorkerError, assert_workers_agree

def decide(worker, league):
    breaker = worker.breaker()
    return breaker.get_ttl(60, {{"league": league}})

def write_own_key(worker):
    client = worker.redis()
    client.set(f"{{worker.key_prefix}}:worker:{{worker.index}}", worker.index)
    client.close()
    return worker.index, worker.count

def explode(worker):
    raise ZeroDivisionError(f"worker {{worker.index}} divided by zero")

def test_workers_share_the_breaker_state(panic_breaker, panic_clock, panic_workers):
    panic_breaker.trip()
    panic_clock.advance(minutes=35)
    results = panic_workers(decide, "Ligue 1", workers=3)
    assert_workers_agree(results)
    assert [r[0] for r in results] == [5, 5, 5]
    assert results[0][2]["tier"] == 2

def test_results_in_order_and_keys_visible(panic_workers, panic_redis, panic_key_prefix):
    assert panic_workers(write_own_key, workers=3) == [(0, 3), (1, 3), (2, 3)]
    assert sorted(panic_redis.keys(f"{{panic_key_prefix}}:worker:*")) == [
        f"{{panic_key_prefix}}:worker:{{i}}".encode() for i in range(3)
    ]

def test_a_worker_error_is_reported(panic_workers):
    pattern = r"^worker \\d of 2 raised ZeroDivisionError: worker \\d divided by zero"
    with pytest.raises(WorkerError, match=pattern):
        panic_workers(explode, workers=2)

def test_a_lambda_is_refused(panic_workers):
    with pytest.raises(WorkerError, match="panic_workers needs a picklable callable"):
        panic_workers(lambda worker: 1, workers=1)
"""


def _run_workers_suite(pytester: pytest.Pytester, *options: str) -> None:
    pytester.makepyfile(WORKERS_SUITE.format())
    # A subprocess: in-process pytester runs re-import multiprocessing, which
    # then cannot pickle its own connections for spawned children.
    result = pytester.runpytest_subprocess(*options)
    result.assert_outcomes(passed=4)


def test_panic_workers_on_fakeredis(pytester: pytest.Pytester) -> None:
    """Workers share the test's fakeredis, served over TCP: state, order, errors."""
    _run_workers_suite(pytester)


def test_panic_workers_on_real_redis(pytester: pytest.Pytester, real_redis: Any) -> None:
    """Workers share the real server; the keys they write are removed after the test."""
    _run_workers_suite(pytester, "--panicquota-redis-url", REAL_URL)
    assert list(real_redis.scan_iter(match="panicquota-test:main:*")) == []


def test_workers_agree_passes_on_equal_results() -> None:
    """Equal results (compared by value, whatever their mapping type) pass."""
    assert_workers_agree([(5, "PANIC_PARTIAL", {"tier": 2}), (5, "PANIC_PARTIAL", {"tier": 2})])


def test_workers_agree_names_each_differing_worker() -> None:
    """A disagreement names each differing worker and where its result differs."""
    results = [
        (5, "PANIC_PARTIAL", {"tier": 2, "ttl": 5}),
        (5, "PANIC_PARTIAL", {"tier": 2, "ttl": 5}),
        (30, "DEGRADED", {"tier": 3, "ttl": 30}),
    ]
    with pytest.raises(AssertionError) as raised:
        assert_workers_agree(results)
    assert str(raised.value) == (
        "1 of 3 workers disagree with worker 0 (which returned (5, 'PANIC_PARTIAL', "
        "{'tier': 2, 'ttl': 5})): worker 2: [0] 5 != 30, [1] 'PANIC_PARTIAL' != 'DEGRADED', "
        "[2]['tier'] 2 != 3, [2]['ttl'] 5 != 30"
    )


def test_workers_agree_needs_results() -> None:
    """An empty result list is an error, not a silent pass."""
    with pytest.raises(AssertionError, match=r"^no worker results to compare"):
        assert_workers_agree([])
