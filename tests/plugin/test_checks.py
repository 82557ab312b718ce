"""The assert_* checks: both verdicts, their one-sentence failures, the markers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from panicquota import AdaptivePanicQuota
from panicquota._shared.timing import involuntary_switches
from panicquota.certification import check_latency
from panicquota.errors import InvalidArgumentError, InvalidTypeError
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


class Verdict:
    """A result object with the default repr (which holds its address)."""

    def __init__(self, ttl: float, reason: str) -> None:
        self.ttl = ttl
        self.reason = reason


def verdict(ttl: float) -> Verdict:
    """Return a fresh result object for *ttl*."""
    return Verdict(ttl, "calm")


def nan_ttl() -> float:
    """Return NaN, which equals nothing, not even itself."""
    return float("nan")


def always_fails(ttl: int) -> int:
    """Raise on every call."""
    raise ValueError(f"no TTL for {ttl}")


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
    assert "the answer must not depend on the hash seed (reproduce: PYTHONPATH=" in message
    assert " PYTHONHASHSEED=" in message
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


@pytest.mark.parametrize(
    ("fn", "args"),
    [
        pytest.param(verdict, (60,), id="object-with-default-repr"),
        pytest.param(nan_ttl, (), id="nan"),
    ],
)
def test_deterministic_compares_results_by_value(fn: Any, args: tuple[Any, ...]) -> None:
    """Equal objects (whatever their address) and NaNs are the same answer, here and there."""
    assert_deterministic(fn, *args, seeds=(0,))


def test_deterministic_names_the_attribute_that_differs() -> None:
    """Objects whose attributes differ fail, naming the attribute."""
    ttls = iter(range(60, 100))

    def counter() -> Verdict:
        return Verdict(next(ttls), "calm")

    with pytest.raises(AssertionError) as raised:
        assert_deterministic(counter, seeds=())
    assert str(raised.value).startswith(
        "counter() gave ('mapping', (('<class>', 'Verdict'), ('.reason', 'calm'), ('.ttl', 60))) "
        "and then "
    )
    assert "(differing in [.ttl] 60 != 61); it must give the same answer" in str(raised.value)


def test_deterministic_with_a_parent_at_hash_seed_0(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each fresh interpreter gets its own seed: under a parent at seed 0, seed 1 still differs."""
    pytester.makepyfile(
        """
        import os
        import pytest
        from pytest_panicquota import assert_deterministic

        def set_order(names):
            return tuple(set(names))

        def test_seed_1_differs():
            assert os.environ["PYTHONHASHSEED"] == "0"
            names = ("ops", "cache", "upstream", "api", "edge", "db", "queue", "cdn")
            with pytest.raises(AssertionError, match="fresh interpreter with PYTHONHASHSEED=1 "):
                assert_deterministic(set_order, names, seeds=(0, 1))
        """
    )
    monkeypatch.setenv("PYTHONHASHSEED", "0")
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


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
        "(.calls: 0 became 2); calls must leave the instance unchanged"
    )


def test_pure_names_a_changed_closure_variable() -> None:
    """A closure that keeps a cache in a captured dict is impure like an instance would be."""
    cache: dict[str, int] = {}

    def remember(key: str) -> int:
        return cache.setdefault(key, len(cache))

    with pytest.raises(AssertionError) as raised:
        assert_pure(remember, "x")
    assert str(raised.value) == (
        "remember('x') changed a variable it closes over (cache['x'] was added (0)); calls "
        "must leave captured state unchanged"
    )


class Reassigning:
    """Deletes and sets an attribute again to the same value: its pickle moves, not its state."""

    def __init__(self) -> None:
        self.first = 1
        self.second = 2

    def calculate_ttl_strategy(self, normal_ttl: float, duration: Any, context: Any) -> float:
        """Shuffle the attribute order, then answer."""
        first = self.first
        del self.first
        self.first = first
        return normal_ttl


def test_pure_ignores_an_attribute_set_again_to_the_same_value() -> None:
    """Equal state in another order is the same state."""
    assert_pure(Reassigning(), 60, 5.0, None)


def test_calls_take_the_keyword_arguments_too() -> None:
    """``kwargs=`` applies to every call of ``calls=``: here, the changed argument is found."""

    def add(value: int, items: list[int]) -> None:
        items.append(value)

    with pytest.raises(AssertionError, match=r"^add\(1, items=\[\]\) changed its argument 'items'"):
        assert_pure(add, calls=[(1,), (2,)], kwargs={"items": []})


@pytest.mark.parametrize(
    ("args", "calls", "message"),
    [
        pytest.param(
            (60,),
            [(30,)],
            "pass the arguments either after the callable or as calls=, not both; got (60,) "
            "and calls=[(30,)]",
            id="both",
        ),
        pytest.param((), [], "calls= must hold at least one argument tuple, got none", id="none"),
    ],
)
def test_calls_are_refused_when_ambiguous_or_empty(
    args: tuple[Any, ...], calls: list[Any], message: str
) -> None:
    """Arguments given twice, or no call at all, are an error rather than a silent choice."""
    with pytest.raises(InvalidArgumentError) as raised:
        assert_latency(time.perf_counter, *args, calls=calls)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("check", "calls", "message"),
    [
        pytest.param(
            assert_latency,
            [(60,)],
            "always_fails(60) raised ValueError: no TTL for 60; assert_latency measures calls "
            "that return, so the call must not raise",
            id="latency",
        ),
        pytest.param(
            assert_no_leak,
            [(60,), (30,)],
            "all 2 calls raised (the first, always_fails(60) raised ValueError: no TTL for 60); "
            "assert_no_leak measures calls that return, so at least one must not raise",
            id="no-leak",
        ),
    ],
)
def test_a_callable_that_always_raises_fails(check: Any, calls: list[Any], message: str) -> None:
    """Measuring only errors would time or trace nothing real: it fails, quoting the error."""
    with pytest.raises(AssertionError) as raised:
        check(always_fails, calls=calls)
    assert str(raised.value) == message
    assert isinstance(raised.value.__cause__, ValueError)


def test_some_rejected_calls_are_part_of_the_load() -> None:
    """A bad input among good ones is measured like any other call."""
    assert_latency(int, calls=[("x",), ("1",)], samples=200, warmup=10)


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


def test_no_leak_counts_live_objects() -> None:
    """Kept lists are live (GC-tracked) objects: their growth fails against max_objects."""
    kept: list[list[int]] = []

    def keep_lists(ttl: int) -> int:
        kept.append([ttl])
        return ttl

    with pytest.raises(AssertionError) as raised:
        assert_no_leak(keep_lists, 60, warmup=100, batch=200, batches=4, max_objects=0)
    message = str(raised.value)
    assert message.startswith("keep_lists left ")
    assert (
        " more live objects after 800 calls past a 100-call warm-up (growing batch after batch; "
        "the budget is 0); most growth at "
    ) in message


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
    assert ", control median " in message
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
        pytest.param(1_500_000, 2_000_000, True, id="slower-timing-slows-both"),
        pytest.param(100, 300_000, True, id="fast-call"),
    ],
)
def test_latency_verdict_is_net_of_the_control(control_ns: int, own_ns: int, passed: bool) -> None:
    """The verdict uses the call's p99 minus the control's median, the timing's own cost."""
    ticks = _scripted([(control_ns, own_ns)] * 10_000)
    outcome = check_latency(
        lambda: None, [((), {})], samples=100, warmup=0, rounds=1, clock=ticks.__next__
    )
    assert outcome.passed is passed
    assert outcome.figures["p99_ms"] == own_ns / 1e6
    assert outcome.figures["control_p50_ms"] == control_ns / 1e6


def test_pauses_in_the_control_do_not_hide_a_slow_call() -> None:
    """5% of control samples paused 1.5 ms must not excuse a call that always takes 2 ms."""
    script = [(1_500_000 if i % 20 == 0 else 100, 2_000_000) for i in range(10_000)]
    ticks = _scripted(script)
    outcome = check_latency(
        lambda: None, [((), {})], samples=100, warmup=0, rounds=1, clock=ticks.__next__
    )
    assert (outcome.passed, outcome.figures["net_p99_ms"]) == (False, 2.0 - 0.0001)


def test_preempted_samples_are_retaken_not_counted() -> None:
    """Samples the scheduler interrupted are discarded and retaken; slow calls still count."""
    # Every 10th sample is slow (5 ms): preempted ones are forgiven, the others are not.
    script = [(100, 5_000_000 if i % 10 == 0 else 1_000) for i in range(10_000)]

    def run(preempted_when_slow: bool) -> Any:
        ticks = _scripted(script)
        calls = 0

        def preemptions() -> int:
            # Read before and after each sample: each 10th sample gets one switch.
            nonlocal calls
            sample, after = divmod(calls, 2)
            calls += 1
            if not preempted_when_slow:
                return 0
            return sample // 10 + (1 if after and sample % 10 == 0 else 0)

        return check_latency(
            lambda: None,
            [((), {})],
            samples=100,
            warmup=0,
            rounds=1,
            clock=ticks.__next__,
            preemptions=preemptions,
        )

    forgiven = run(preempted_when_slow=True)
    assert (forgiven.passed, forgiven.figures["preempted_samples"]) == (True, 12)
    assert forgiven.figures["p99_ms"] == 0.001
    counted = run(preempted_when_slow=False)
    assert (counted.passed, counted.figures["preempted_samples"]) == (False, 0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread counts: Linux")
def test_involuntary_switches_count_preemption() -> None:
    """Sharing one CPU with a busy process, a busy thread is preempted and the count shows it."""
    cpu = min(os.sched_getaffinity(0))
    before_affinity = os.sched_getaffinity(0)
    rival = subprocess.Popen(
        [sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{{cpu}}})\nwhile 1: pass"]
    )
    try:
        os.sched_setaffinity(0, {cpu})
        before = involuntary_switches()
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            pass
        after = involuntary_switches()
    finally:
        os.sched_setaffinity(0, before_affinity)
        rival.kill()
        rival.wait()
    assert after > before


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

        @pytest.mark.panic_no_leak(batch=100, batches=4, max_objects=0)
        def test_leaky_objects():
            KEPT.append([1])

        @pytest.mark.panic_no_leak
        def test_clean(panic_quota):
            panic_quota.calculate_ttl_strategy(60, 35.0, None)

        @pytest.mark.panic_latency
        def test_wrong():
            assert 1 == 2
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2, failed=4)
    result.stdout.fnmatch_lines(
        [
            "*test_slow took p99 * in its best round; the budget is p99 < 1 ms net of the control",
            "*test_leaky grew traced memory by * bytes over 400 calls past a 200-call warm-up*",
            "*test_leaky_objects left * more live objects after 400 calls past a 200-call warm-up*",
            "E       assert 1 == 2",
        ]
    )
