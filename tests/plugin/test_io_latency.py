"""assert_io_latency: a latency budget relative to a control call, for code waiting on I/O."""

from __future__ import annotations

import itertools
import math
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from panicquota.errors import InvalidArgumentError
from pytest_panicquota import _io_latency, assert_io_latency

from .support import REAL_URL


@pytest.fixture
def redis_key(real_redis: Any) -> Iterator[tuple[Any, str]]:
    """Return the shared Redis and a key of this test's own holding a value; deleted after."""
    key = f"panicquota-io-test:{uuid.uuid4().hex[:12]}"
    real_redis.set(key, "hello")
    yield real_redis, key
    real_redis.delete(key)


def read_twice(client: Any, key: str) -> int:
    """Two round trips."""
    client.get(key)
    return int(client.exists(key))


def test_two_round_trips_within_twice_two_pings(redis_key: tuple[Any, str]) -> None:
    """Two Redis reads pass a budget of 2x two PINGs on the shared, busy server."""
    client, key = redis_key
    assert_io_latency(
        read_twice, client, key, control=client.ping, round_trips=2, max_ratio=2.0, samples=300
    )


def test_a_slow_call_fails_with_its_figures() -> None:
    """A call far slower than its control fails, naming both p99s, the ratio and the budget."""

    def control() -> None:
        pass

    with pytest.raises(AssertionError) as raised:
        assert_io_latency(
            time.sleep, 0.002, control=control, max_ratio=3.0, samples=20, warmup=2, rounds=2
        )
    assert raised.match(
        r"^sleep took \d+\.\d{3} ms at p99 and \d+\.\d{3} ms at p50, \d+\.\d\dx and "
        r"\d+\.\d\dx the control control's \d+\.\d{3} ms and \d+\.\d{3} ms; the budget is "
        r"3x at both \(best of 2 rounds of 20 interleaved samples after 2 warm-up, \d+ "
        r"preempted ones retaken\)$"
    )


def test_round_trips_repeat_the_control(monkeypatch: pytest.MonkeyPatch) -> None:
    """round_trips=3 calls the control 3 times per sample, and the message says so."""
    calls = {"control": 0}

    def ping() -> None:
        calls["control"] += 1

    with pytest.raises(
        AssertionError, match=r"the control ping x 3's .*; the budget is 1x at both"
    ):
        assert_io_latency(
            time.sleep,
            0.001,
            control=ping,
            round_trips=3,
            max_ratio=1.0,
            samples=10,
            warmup=0,
            rounds=1,
        )
    # One untimed call first (the control must answer), then 3 per timed sample.
    assert calls["control"] == 1 + 3 * 10


def test_best_round_is_kept() -> None:
    """A call slow in the first round only passes: a later round within budget ends the check."""
    count = itertools.count()

    def slowing_down() -> None:
        if next(count) < 40:
            time.sleep(0.002)

    assert_io_latency(
        slowing_down, control=lambda: time.sleep(0.0005), samples=30, warmup=5, rounds=3
    )
    assert next(count) < 40 + 30 + 30


def test_preempted_samples_are_retaken(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pair during which the thread was preempted is retaken, and counted in the message."""
    switches = itertools.count()
    # Each sample reads the counter twice: a change on every other sample.
    monkeypatch.setattr(_io_latency, "involuntary_switches", lambda: next(switches) // 3)
    with pytest.raises(AssertionError, match=r"10 interleaved samples after 0 warm-up, \d+ pre"):
        assert_io_latency(time.sleep, 0.001, control=lambda: None, samples=10, warmup=0, rounds=1)


def test_every_sample_preempted(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine preempting every sample gives a verdict saying it cannot judge."""
    switches = itertools.count()
    monkeypatch.setattr(_io_latency, "involuntary_switches", lambda: next(switches))
    with pytest.raises(AssertionError) as raised:
        assert_io_latency(len, "ab", control=lambda: None, samples=5, warmup=0, rounds=2)
    assert str(raised.value) == (
        "len could not be timed: the scheduler preempted every one of 40 samples; the "
        "machine is too busy to judge a budget of 2x the control"
    )


def test_a_control_that_raises_is_refused() -> None:
    """The control must answer: a raising one would time as a fast call."""

    def ping() -> None:
        raise ConnectionError("refused")

    with pytest.raises(AssertionError) as raised:
        assert_io_latency(len, "ab", control=ping)
    assert str(raised.value) == (
        "ping() raised ConnectionError: refused; "
        "assert_io_latency's control measures calls that return, so the call must not raise"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param(
            {"max_ratio": 0}, "max_ratio must be a finite number > 0, got 0", id="ratio-zero"
        ),
        pytest.param(
            {"max_ratio": math.inf}, "max_ratio must be a finite number > 0, got inf", id="inf"
        ),
        pytest.param(
            {"quantile": 1.0}, "quantile must be a fraction in (0, 1), got 1.0", id="quantile"
        ),
        pytest.param(
            {"round_trips": 0},
            "samples, rounds and round_trips must be >= 1 and warmup >= 0, got samples=500, "
            "rounds=3, round_trips=0, warmup=50",
            id="round-trips",
        ),
        pytest.param(
            {"warmup": -1},
            "samples, rounds and round_trips must be >= 1 and warmup >= 0, got samples=500, "
            "rounds=3, round_trips=1, warmup=-1",
            id="warmup",
        ),
    ],
)
def test_bad_options(options: dict[str, Any], message: str) -> None:
    """Budgets, quantiles and counts out of range are refused with the value."""
    with pytest.raises(InvalidArgumentError) as raised:
        assert_io_latency(len, "ab", control=lambda: None, **options)
    assert str(raised.value) == message


def test_zero_control_time_is_an_infinite_ratio() -> None:
    """A control timed at 0 ns makes any call infinitely slower, never a division error."""
    assert _io_latency._Pairs(0.5, 0.0, 0.1, 0.0, 10, 0).ratio == math.inf


def test_the_median_is_held_to_the_budget_too() -> None:
    """Tails alike (a busy machine's waits) but medians 3x apart: the ratio is the medians'."""
    assert _io_latency._Pairs(10.0, 10.0, 0.3, 0.1, 500, 0).ratio == pytest.approx(3.0)
    assert _io_latency._Pairs(10.0, 2.0, 0.3, 0.1, 500, 0).ratio == pytest.approx(5.0)


IO_SUITE = """
import uuid
from pytest_panicquota import assert_io_latency, assert_latency


def read_twice(client, key):
    client.get(key)
    return client.exists(key)


def test_relative(panic_redis, panic_key_prefix):
    key = f"{panic_key_prefix}:greeting"
    panic_redis.set(key, "hello")
    assert_io_latency(
        read_twice, panic_redis, key, control=panic_redis.ping, round_trips=2, samples=300
    )
"""


def test_in_a_suite_on_the_real_server(pytester: pytest.Pytester) -> None:
    """Used from a downstream suite through panic_redis, the relative budget passes."""
    pytester.makepyfile(IO_SUITE)
    result = pytester.runpytest("--panicquota-redis-url", REAL_URL)
    result.assert_outcomes(passed=1)
