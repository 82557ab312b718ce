"""The assert_* checks: both verdicts, their one-sentence failures, the markers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from panicquota import AdaptivePanicQuota
from panicquota.certification import check_latency
from panicquota.errors import InvalidTypeError
from pytest_panicquota import (
    assert_deterministic,
    assert_latency,
    assert_no_leak,
    assert_pure,
)

LIGUE_1 = {"league": "Ligue 1"}
TEAMS = ("ops", "cache", "upstream", "api", "edge", "db", "queue", "cdn")


def set_order(names: tuple[str, ...]) -> tuple[str, ...]:
    """Return *names* in set order: it changes with PYTHONHASHSEED."""
    return tuple(set(names))


def test_deterministic_policy_method_passes() -> None:
    """A policy's bound method gives the same answer repeated and in fresh interpreters."""
    quota = AdaptivePanicQuota()
    assert_deterministic(quota.calculate_ttl_strategy, 60, 35.0, LIGUE_1, seeds=(0, 1))


def test_deterministic_fails_on_hash_order_with_a_command() -> None:
    """A module-level function depending on set order fails, with a reproducing command."""
    with pytest.raises(AssertionError) as raised:
        assert_deterministic(set_order, TEAMS, seeds=(0, 1))
    message = str(raised.value)
    assert message.startswith(f"set_order({TEAMS!r}) answered differently in a fresh interpreter")
    assert "the answer must not depend on the hash seed (reproduce: PYTHONHASHSEED=" in message
    assert f"import set_order; print(set_order({TEAMS!r}))" in message


def test_deterministic_fails_in_process_for_a_closure() -> None:
    """A closure that counts its calls fails the in-process repeats."""
    calls = iter(range(100))

    def counter(ttl: int) -> int:
        return ttl + next(calls)

    with pytest.raises(AssertionError) as raised:
        assert_deterministic(counter, 60, seeds=())
    assert str(raised.value) == (
        "counter(60) gave 60 and then 61 in the same process (differing in 60 != 61); it must "
        "give the same answer on each of 3 repeats"
    )


def test_deterministic_refuses_a_lambda_for_fresh_interpreters() -> None:
    """A lambda cannot reach a fresh interpreter: the error says what to pass instead."""
    with pytest.raises(InvalidTypeError, match=r"^<lambda> cannot be sent to a fresh interpreter"):
        assert_deterministic(lambda: 1)
    assert_deterministic(lambda: 1, seeds=())


def test_pure_passes_for_the_policy() -> None:
    """The policy leaves its arguments and itself unchanged."""
    context = {"league": "Ligue 1", "event": "PSG v OM"}
    assert_pure(AdaptivePanicQuota(), 60, 35.0, context)
    assert context == {"league": "Ligue 1", "event": "PSG v OM"}


def test_pure_names_the_changed_argument() -> None:
    """A function that appends to its argument fails, naming the argument and the change."""

    def remember(seen: list[int]) -> int:
        seen.append(1)
        return len(seen)

    with pytest.raises(AssertionError) as raised:
        assert_pure(remember, [])
    assert str(raised.value) == (
        "remember([]) changed its argument 1 (the value went from 0 to 2 items); calls must "
        "leave their arguments unchanged"
    )


class Counting:
    """A policy-like object that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def calculate_ttl_strategy(self, normal_ttl: float, duration: Any, context: Any) -> float:
        """Count, then answer."""
        self.calls += 1
        return normal_ttl


def test_pure_names_the_changed_instance() -> None:
    """A policy object that changes its own state fails, naming the attribute."""
    with pytest.raises(AssertionError) as raised:
        assert_pure(Counting(), 60, 5.0, None)
    assert str(raised.value) == (
        "Counting.calculate_ttl_strategy(60, 5.0, None) changed its instance Counting "
        "(.calls: 0 became 2); calls must leave it unchanged"
    )


def test_no_leak_passes_for_the_policy() -> None:
    """The policy neither grows memory nor live objects after warm-up."""
    assert_no_leak(AdaptivePanicQuota().calculate_ttl_strategy, 60, 35.0, LIGUE_1)


def test_no_leak_says_what_grew() -> None:
    """A closure that keeps every call fails, naming the figure, the budget and the line."""
    kept: list[dict[str, int]] = []

    def keep(ttl: int) -> int:
        kept.append({"ttl": ttl})
        return ttl

    with pytest.raises(AssertionError) as raised:
        assert_no_leak(keep, 60, warmup=100, batch=200, batches=4)
    message = str(raised.value)
    assert message.startswith("keep grew traced memory by ")
    assert " bytes over 800 calls past a 100-call warm-up (" in message
    assert " bytes per call; the budget is 1); most growth at " in message
    assert "test_checks.py:" in message


def test_latency_passes_for_the_policy() -> None:
    """The policy's p99 is far below the default 1 ms budget."""
    assert_latency(AdaptivePanicQuota().calculate_ttl_strategy, 60, 35.0, LIGUE_1)


def test_latency_fails_for_a_slow_call() -> None:
    """A call that sleeps 3 ms fails a 1 ms budget, naming p50, p99, the control and the budget."""
    with pytest.raises(AssertionError) as raised:
        assert_latency(time.sleep, 0.003, samples=200, warmup=2, rounds=2)
    message = str(raised.value)
    assert message.startswith("sleep took p99 ")
    assert "(p50 " in message
    assert ", control p99 " in message
    assert "in its best round; the budget is p99 < 1 ms net of the control" in message


def _scripted(durations_ns: list[tuple[int, int]]) -> Iterator[int]:
    now = 0
    for control, own in durations_ns:
        yield now
        now += control
        yield now
        now += own
        yield now


@pytest.mark.parametrize(
    ("control_ns", "own_ns", "passed"),
    [
        pytest.param(100, 2_000_000, False, id="slow-call-quiet-machine"),
        pytest.param(1_500_000, 2_000_000, True, id="noisy-machine-slows-both"),
        pytest.param(100, 300_000, True, id="fast-call"),
    ],
)
def test_latency_verdict_is_net_of_the_control(control_ns: int, own_ns: int, passed: bool) -> None:
    """The verdict uses the call's p99 minus the control's: noise slowing both does not flip it."""
    ticks = _scripted([(control_ns, own_ns)] * 10_000)
    outcome = check_latency(
        lambda: None, [((), {})], samples=100, warmup=0, rounds=1, clock=ticks.__next__
    )
    assert outcome.passed is passed
    assert outcome.figures["p99_ms"] == own_ns / 1e6
    assert outcome.figures["control_p99_ms"] == control_ns / 1e6


def test_failures_hide_the_plugin_traceback(pytester: pytest.Pytester) -> None:
    """A failing check shows one sentence at the test's line, not the plugin's frames."""
    pytester.makepyfile(
        """
        from pytest_panicquota import assert_pure

        def grow(items):
            items.append(1)

        def test_impure():
            assert_pure(grow, [])
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            ">       assert_pure(grow, [])",
            "E       AssertionError: grow([]) changed its argument 1 (the value went from 0 to "
            "2 items); calls must leave their arguments unchanged",
        ]
    )
    assert "_checks.py" not in result.stdout.str()


def test_markers(pytester: pytest.Pytester) -> None:
    """panic_latency and panic_no_leak run the body under their check, after once for real."""
    pytester.makepyfile(
        """
        import time
        import pytest

        KEPT = []

        @pytest.mark.panic_latency(p99_ms=1.0, samples=100)
        def test_slow():
            time.sleep(0.003)

        @pytest.mark.panic_latency(p99_ms=1.0)
        def test_fast(panic_quota):
            panic_quota.calculate_ttl_strategy(60, 35.0, None)

        @pytest.mark.panic_no_leak(batch=100, batches=4)
        def test_leaky():
            KEPT.append({"a": 1})

        @pytest.mark.panic_no_leak
        def test_clean(panic_quota):
            panic_quota.calculate_ttl_strategy(60, 35.0, None)

        @pytest.mark.panic_latency
        def test_wrong():
            assert 1 == 2
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*test_slow took p99 * in its best round; the budget is p99 < 1 ms net of the control",
            "*test_leaky grew traced memory by * bytes over 400 calls past a 200-call warm-up*",
            "E       assert 1 == 2",
        ]
    )
