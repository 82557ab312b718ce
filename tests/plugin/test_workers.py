"""panic_workers: real processes sharing the test's Redis, and assert_workers_agree."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import pytest

from pytest_panicquota import assert_workers_agree

from .support import REAL_URL

WORKERS_SUITE = """
import time

import pytest
from pytest_panicquota import WorkerError, assert_workers_agree

TOKEN = {token!r}

@pytest.fixture(autouse=True)
def record_prefix(panic_key_prefix):
    with open("prefixes.txt", "a") as prefixes:
        prefixes.write(panic_key_prefix + "\\n")

def decide(worker, league):
    breaker = worker.breaker()
    return breaker.get_ttl(60, {{"league": league}})

def write_own_key(worker):
    client = worker.redis()
    client.set(f"{{worker.key_prefix}}:worker:{{worker.index}}", worker.index)
    client.close()
    return worker.index, worker.count, worker.redis_url

def explode(worker):
    raise ZeroDivisionError(f"worker {{worker.index}} divided by zero")

def write_then_fail(worker):
    client = worker.redis()
    client.set(f"panicquota-plugin-test-worker:{{worker.index}}:{{TOKEN}}", 1)
    client.set(f"{{worker.key_prefix}}:worker:{{worker.index}}", 1)
    if worker.index == 1:
        raise RuntimeError("worker 1 gave up after writing")
    return worker.index

def race(worker):
    # Worker 0 creates the key and answers last; the others write to it once
    # it exists and answer first: the key must still be deleted afterwards.
    client = worker.redis()
    key = f"panicquota-plugin-test-race:{{TOKEN}}"
    if worker.index == 0:
        client.incr(key)
        time.sleep(0.5)
    else:
        while not client.exists(key):
            time.sleep(0.01)
        client.incr(key)
    return worker.index

def test_workers_share_the_breaker_state(panic_breaker, panic_clock, panic_workers):
    panic_breaker.trip()
    panic_clock.advance(minutes=35)
    results = panic_workers(decide, "Ligue 1", workers=3)
    assert_workers_agree(results)
    assert [r[0] for r in results] == [5, 5, 5]
    assert results[0][2]["tier"] == 2

def test_results_in_order_and_keys_visible(panic_workers, panic_redis, panic_key_prefix):
    results = panic_workers(write_own_key, workers=3)
    assert [result[:2] for result in results] == [(0, 3), (1, 3), (2, 3)]
    with open("urls.txt", "a") as urls:
        urls.write(results[0][2] + "\\n")
    assert sorted(panic_redis.keys(f"{{panic_key_prefix}}:worker:*")) == [
        f"{{panic_key_prefix}}:worker:{{i}}".encode() for i in range(3)
    ]

def test_a_worker_error_is_reported(panic_workers):
    pattern = r"^worker 0 of 2 raised ZeroDivisionError: worker 0 divided by zero \\(1 other "
    with pytest.raises(WorkerError, match=pattern):
        panic_workers(explode, workers=2)

def test_a_failing_worker_is_undone_too(panic_workers):
    with pytest.raises(WorkerError, match=r"^worker 1 of 2 raised RuntimeError: worker 1 gave up"):
        panic_workers(write_then_fail, workers=2)

def test_racing_workers_are_undone(panic_workers):
    assert panic_workers(race, workers=2) == [0, 1]

def test_a_lambda_is_refused(panic_workers):
    with pytest.raises(WorkerError, match="panic_workers needs a picklable callable"):
        panic_workers(lambda worker: 1, workers=1)
"""


def _run_workers_suite(pytester: pytest.Pytester, token: str, *options: str) -> list[str]:
    pytester.makepyfile(WORKERS_SUITE.format(token=token))
    # A subprocess: in-process pytester runs re-import multiprocessing, which
    # then cannot pickle its own connections for spawned children.
    result = pytester.runpytest_subprocess("-p", "no:randomly", *options)
    # What is undone matters on a shared server only: on fakeredis it is skipped.
    passed = 6 if "--panicquota-redis-url" in options else 4
    result.assert_outcomes(passed=passed, deselected=6 - passed)
    prefixes = (pytester.path / "prefixes.txt").read_text().split()
    assert len(set(prefixes)) == passed
    return prefixes


def test_panic_workers_on_fakeredis(pytester: pytest.Pytester) -> None:
    """Workers share the test's fakeredis over TCP: state, order, errors; the port closes after."""
    _run_workers_suite(pytester, uuid.uuid4().hex[:12], "-k", "not undone")
    (url,) = (pytester.path / "urls.txt").read_text().split()
    host, port = url.removeprefix("redis://").removesuffix("/0").split(":")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=5).close()


def test_panic_workers_on_real_redis(
    pytester: pytest.Pytester, real_redis: Any, token: str
) -> None:
    """On the real server the keys workers write are removed, even a failing or racing worker's."""
    prefixes = _run_workers_suite(pytester, token, "--panicquota-redis-url", REAL_URL)
    # Only this run's own prefixes: other runs may share the server meanwhile.
    left = [
        key
        for key in real_redis.scan_iter(match="panicquota-*", count=1000)
        if token.encode() in key or key.decode().startswith(tuple(prefixes))
    ]
    assert left == []


FAILURES_SUITE = """
import multiprocessing
import os
import threading
import time

import pytest
from pytest_panicquota import WorkerError

class PicklesOnce:
    pickled = 0

    def __reduce__(self):
        type(self).pickled += 1
        if type(self).pickled > 1:
            raise TypeError("refused a second time")
        return (PicklesOnce, ())

def give_a_lock(worker):
    return threading.Lock()

def exit_silently(worker):
    os._exit(0)

def sleep(worker):
    time.sleep(60)

def explode(worker):
    raise ZeroDivisionError("no")

def test_an_unpicklable_result_is_an_error(panic_workers):
    pattern = (
        r"^worker 0 of 1 returned <unlocked _thread.lock object at 0x\\w+>, which cannot be "
        r"sent back to the test \\(TypeError: cannot pickle '_thread.lock' object\\); return "
        r"picklable data$"
    )
    with pytest.raises(WorkerError, match=pattern):
        panic_workers(give_a_lock, workers=1, timeout=20)

def test_a_silent_exit_is_a_death(panic_workers):
    pattern = r"^worker 0 of 2 exited \\(exit code 0\\) without an answer \\(1 other worker"
    with pytest.raises(WorkerError, match=pattern):
        panic_workers(exit_silently, workers=2, timeout=20)

def test_a_worker_that_cannot_start_releases_the_others(panic_workers, monkeypatch):
    monkeypatch.setattr(panic_workers, "_quota", PicklesOnce())
    started = time.monotonic()
    pattern = (
        r"^panic_workers could not start worker 1 of 2 \\(TypeError: refused a second time\\); "
        r"everything a worker gets must pickle: the callable, its arguments and panic_quota$"
    )
    with pytest.raises(WorkerError, match=pattern):
        panic_workers(explode, workers=2, timeout=20)
    assert multiprocessing.active_children() == []
    assert time.monotonic() - started < 20

def test_the_timeout_names_every_silent_worker(panic_workers):
    started = time.monotonic()
    pattern = (
        r"^worker 0 of 2 did not answer within 1 s \\(1 other worker failed too: worker 1 did "
        r"not answer within 1 s\\)$"
    )
    with pytest.raises(WorkerError, match=pattern):
        panic_workers(sleep, workers=2, timeout=1)
    assert time.monotonic() - started < 20

def test_fails_with_a_worker_error(panic_workers):
    panic_workers(explode, workers=2)

def test_no_worker_process_remains(panic_workers):
    assert multiprocessing.active_children() == []
"""

BARRIER_SUITE = """
import multiprocessing
import os
import time

if multiprocessing.parent_process() is not None:
    # In a worker, importing this module happens before the start line: each
    # worker takes the next slot and arrives 0.3 s after the one before.
    slot = 0
    while True:
        try:
            os.close(os.open(f"slot-{slot}", os.O_CREAT | os.O_EXCL))
            break
        except FileExistsError:
            slot += 1
    time.sleep(0.3 * slot)
ARRIVED = time.time()

def arrive_and_start(worker):
    return ARRIVED, time.time()

def test_workers_start_after_the_last_one_arrived(panic_workers):
    times = panic_workers(arrive_and_start, workers=3)
    arrivals = sorted(arrived for arrived, _ in times)
    assert arrivals[-1] - arrivals[0] >= 0.5
    assert min(start for _, start in times) >= arrivals[-1]
"""


def test_panic_workers_failures(pytester: pytest.Pytester) -> None:
    """Unpicklable results, silent exits, start failures and timeouts each fail clearly, fast."""
    pytester.makepyfile(test_failures=FAILURES_SUITE, test_barrier=BARRIER_SUITE)
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=6, failed=1)
    result.stdout.fnmatch_lines(["E   *WorkerError: worker 0 of 2 raised ZeroDivisionError: no*"])


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


class Verdict:
    """A result object with the default repr (which holds its address)."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl


def test_workers_agree_compares_objects_and_nan_by_value() -> None:
    """Equal objects from different processes (other addresses) agree, and so do NaNs."""
    assert_workers_agree([Verdict(5), Verdict(5)])
    assert_workers_agree([(float("nan"), "DEGRADED"), (float("nan"), "DEGRADED")])
    with pytest.raises(AssertionError, match=r"\): worker 1: \[\.ttl\] 5 != 6$"):
        assert_workers_agree([Verdict(5), Verdict(6)])


def test_workers_agree_needs_results() -> None:
    """An empty result list is an error, not a silent pass."""
    with pytest.raises(AssertionError, match=r"^no worker results to compare"):
        assert_workers_agree([])
