"""The ``assert_*`` checks: one clear sentence with the figure and the budget on failure."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from itertools import cycle
from typing import Any, NamedTuple

from panicquota._shared.calls import Call, name_of, show_call
from panicquota._shared.state import difference, plain
from panicquota._shared.timing import involuntary_switches, percentile
from panicquota.certification import (
    DEFAULT_SEEDS,
    Outcome,
    check_deterministic,
    check_latency,
    check_no_leak,
    check_pure,
)
from panicquota.errors import InvalidArgumentError

__all__ = [
    "assert_deterministic",
    "assert_io_latency",
    "assert_latency",
    "assert_no_leak",
    "assert_pure",
    "assert_workers_agree",
]


def _calls(
    args: tuple[Any, ...], kwargs: Mapping[str, Any] | None, calls: Sequence[Any] | None
) -> list[Call]:
    if calls is None:
        return [(args, dict(kwargs or {}))]
    if args:
        raise InvalidArgumentError(
            f"pass the arguments either after the callable or as calls=, not both; got "
            f"{args!r} and calls={calls!r}"
        )
    if not calls:
        raise InvalidArgumentError("calls= must hold at least one argument tuple, got none")
    # kwargs= applies to every call: calls= lists positional arguments only.
    return [(tuple(call), dict(kwargs or {})) for call in calls]


def _require_an_answer(fn: Callable[..., Any], calls: list[Call], check: str) -> None:
    """Fail unless some call returns: the measuring loops count a raising call as a fast one."""
    __tracebackhide__ = True
    first: tuple[Call, Exception] | None = None
    for call in calls:
        args, kwargs = call
        try:
            fn(*args, **kwargs)
        except Exception as raised:  # any error: the measuring loops would swallow it
            first = first or (call, raised)
            continue
        return
    assert first is not None
    call, error = first
    what = f"{name_of(fn)}({show_call(call)}) raised {type(error).__name__}: {error}"
    if len(calls) == 1:
        message = f"{what}; {check} measures calls that return, so the call must not raise"
    else:
        message = (
            f"all {len(calls)} calls raised (the first, {what}); {check} measures calls "
            "that return, so at least one must not raise"
        )
    raise AssertionError(message) from error


def _verdict(outcome: Outcome) -> None:
    __tracebackhide__ = True
    if not outcome.passed:
        raise AssertionError(outcome.message)


def _callable_of(obj: Any) -> tuple[Callable[..., Any], Any]:
    if not callable(obj) and hasattr(obj, "calculate_ttl_strategy"):
        return obj.calculate_ttl_strategy, obj
    return obj, None


def assert_deterministic(
    fn: Callable[..., Any],
    *args: Any,
    kwargs: Mapping[str, Any] | None = None,
    calls: Sequence[Sequence[Any]] | None = None,
    repeats: int = 3,
    seeds: Sequence[int] = DEFAULT_SEEDS,
) -> None:
    """Assert that ``fn(*args)`` answers the same when repeated and under other hash seeds.

    Args:
        fn: the callable: in-process any callable, with *seeds* a picklable
            one (a module-level function, a bound method of a picklable object).
        args: its positional arguments.
        kwargs: its keyword arguments (of every call, with *calls*).
        calls: several positional argument tuples to check instead of *args*.
        repeats: in-process repeats.
        seeds: ``PYTHONHASHSEED`` of each fresh interpreter; ``()`` for none.

    Answers are compared by value: built-ins as they are, NaN equal to NaN,
    other objects by their class and attributes (not their ``repr``).

    Raises:
        AssertionError: an answer differed; the message has a command that
            reproduces it.
        InvalidTypeError: *fn* cannot be pickled to the fresh interpreters.
        InvalidArgumentError: both *args* and *calls*, or an empty *calls*.
    """
    __tracebackhide__ = True
    outcome = check_deterministic(fn, _calls(args, kwargs, calls), repeats=repeats, seeds=seeds)
    _verdict(outcome)


def assert_pure(
    obj_or_fn: Any,
    *args: Any,
    kwargs: Mapping[str, Any] | None = None,
    calls: Sequence[Sequence[Any]] | None = None,
    repeats: int = 2,
) -> None:
    """Assert that calls change neither their arguments nor the instance's state.

    Args:
        obj_or_fn: a callable (a bound method's instance is checked too) or a
            policy object (its ``calculate_ttl_strategy`` is called).
        args: the arguments of one call.
        kwargs: its keyword arguments (of every call, with *calls*).
        calls: several positional argument tuples instead of *args*.
        repeats: how often each call is made.

    Raises:
        AssertionError: an argument or the instance changed; says where.
        InvalidArgumentError: both *args* and *calls*, or an empty *calls*.
    """
    __tracebackhide__ = True
    fn, instance = _callable_of(obj_or_fn)
    outcome = check_pure(fn, _calls(args, kwargs, calls), instance=instance, repeats=repeats)
    _verdict(outcome)


def assert_no_leak(
    fn: Callable[..., Any],
    *args: Any,
    kwargs: Mapping[str, Any] | None = None,
    calls: Sequence[Sequence[Any]] | None = None,
    warmup: int = 1000,
    batch: int = 1000,
    batches: int = 5,
    max_bytes_per_call: float = 1.0,
    max_objects: int = 0,
) -> None:
    """Assert that traced memory and live objects stop growing after a warm-up.

    Takes *args*, *kwargs* and *calls* like :func:`assert_pure`. Calls are
    made first once each, for real: a call that raises is part of the load
    (bad input), but if every call raises there is nothing to measure.

    Args:
        warmup: calls made before measuring (caches fill up there).
        batch: calls per measured batch.
        batches: how many measured batches.
        max_bytes_per_call: the traced-memory growth budget, per measured call.
        max_objects: how many more live (GC-tracked) objects are allowed.

    Raises:
        AssertionError: sustained growth beyond the budget (names the figure
            and the line that allocated most), or every call raised (quotes
            the first error).
        InvalidArgumentError: both *args* and *calls*, or an empty *calls*.
    """
    __tracebackhide__ = True
    made = _calls(args, kwargs, calls)
    _require_an_answer(fn, made, "assert_no_leak")
    outcome = check_no_leak(
        fn,
        made,
        warmup=warmup,
        batch=batch,
        batches=batches,
        max_bytes_per_call=max_bytes_per_call,
        max_objects=max_objects,
    )
    _verdict(outcome)


def assert_latency(
    fn: Callable[..., Any],
    *args: Any,
    kwargs: Mapping[str, Any] | None = None,
    calls: Sequence[Sequence[Any]] | None = None,
    p99_ms: float = 1.0,
    samples: int = 1000,
    warmup: int = 100,
    rounds: int = 3,
) -> None:
    """Assert that the call's p99 latency, net of an empty control call, is under budget.

    Takes *args*, *kwargs* and *calls* like :func:`assert_pure`; like
    :func:`assert_no_leak`, fails if every call raises.

    Args:
        p99_ms: the budget for the p99 net of the control, in milliseconds.
        samples: timed calls per round.
        warmup: untimed calls first.
        rounds: rounds to run at most; the best one is kept.

    Raises:
        AssertionError: the best round's p99 is over budget (names p50, p99,
            the control's p99 and the budget), or every call raised.
        InvalidArgumentError: both *args* and *calls*, or an empty *calls*.
    """
    __tracebackhide__ = True
    made = _calls(args, kwargs, calls)
    _require_an_answer(fn, made, "assert_latency")
    outcome = check_latency(
        fn,
        made,
        p99_ms=p99_ms,
        samples=samples,
        warmup=warmup,
        rounds=rounds,
    )
    _verdict(outcome)


def assert_workers_agree(results: Sequence[Any]) -> None:
    """Assert that every worker's result equals worker 0's.

    Compared by value, like :func:`assert_deterministic`'s answers: objects by
    their class and attributes, NaN equal to NaN.

    Raises:
        AssertionError: a worker disagreed; the message lists, per differing
            worker, where its result differs from worker 0's.
    """
    __tracebackhide__ = True
    if not results:
        raise AssertionError("no worker results to compare; panic_workers returned nothing")
    forms = [plain(result) for result in results]
    differing = [index for index, form in enumerate(forms) if form != forms[0]]
    if differing:
        diffs = "; ".join(
            f"worker {index}: {difference(forms[0], forms[index])}" for index in differing
        )
        raise AssertionError(
            f"{len(differing)} of {len(results)} workers disagree with worker 0 "
            f"(which returned {results[0]!r}): {diffs}"
        )


def assert_io_latency(
    fn: Callable[..., Any],
    *args: Any,
    control: Callable[[], Any],
    round_trips: int = 1,
    kwargs: Mapping[str, Any] | None = None,
    calls: Sequence[Sequence[Any]] | None = None,
    max_ratio: float = 2.0,
    quantile: float = 0.99,
    samples: int = 500,
    warmup: int = 50,
    rounds: int = 3,
) -> None:
    """Assert that I/O-bound ``fn``'s p99 and median are within *max_ratio* times a control's.

    A budget in milliseconds cannot hold for a call that waits on a server
    when the machine is busy: every wake-up after a reply may wait for a CPU,
    and those waits are not preemptions the latency check can retake. The
    control (``redis.ping`` for code on Redis: one round trip doing nothing)
    waits the same way, so the budget is a multiple of it. The control is
    called *round_trips* times per sample, as many waits as the call makes:
    each wait is a chance to be delayed, and a call with more of them than its
    control would meet a delay at its p99 that the control meets less than 1%
    of the time. Each sample times the control and the call back to back, in
    alternating order, so both see the same moment of load; a pair during
    which the scheduler preempted the thread is retaken. Both the *quantile*
    and the median are held to the budget: on a very busy machine both tails
    are mostly waits for a CPU, and their ratio says little about the call.
    The best of *rounds* rounds is kept.

    Takes *args*, *kwargs* and *calls* like :func:`assert_pure`; like
    :func:`assert_no_leak`, fails if every call raises (or the control does).

    Args:
        control: a zero-argument call of the same I/O, such as ``redis.ping``.
        round_trips: control calls per sample: the call's round trips.
        max_ratio: the budget: the call's quantile over the control's, and its
            median over the control's.
        quantile: the percentile compared, as a fraction (0.99: p99).
        samples: timed pairs per round.
        warmup: untimed pairs first.
        rounds: rounds to run at most; the best one is kept.

    Raises:
        AssertionError: the best round's ratio is over budget (names both
            percentiles, their medians and the budget), or every call raised.
        InvalidArgumentError: a budget, quantile or count out of range, both
            *args* and *calls*, or an empty *calls*.
    """
    __tracebackhide__ = True
    if not (math.isfinite(max_ratio) and max_ratio > 0):
        raise InvalidArgumentError(f"max_ratio must be a finite number > 0, got {max_ratio!r}")
    if not 0 < quantile < 1:
        raise InvalidArgumentError(f"quantile must be a fraction in (0, 1), got {quantile!r}")
    if min(samples, rounds, round_trips) < 1 or warmup < 0:
        raise InvalidArgumentError(
            f"samples, rounds and round_trips must be >= 1 and warmup >= 0, got "
            f"samples={samples!r}, rounds={rounds!r}, round_trips={round_trips!r}, "
            f"warmup={warmup!r}"
        )
    made = _calls(args, kwargs, calls)
    _require_an_answer(fn, made, "assert_io_latency")
    _require_an_answer(control, [((), {})], "assert_io_latency's control")
    best: _Pairs | None = None
    for _ in range(rounds):
        figures = _interleaved(fn, made, _repeated(control, round_trips), quantile, samples, warmup)
        if figures is not None and (best is None or figures.ratio < best.ratio):
            best = figures
        if best is not None and best.ratio <= max_ratio:
            return
    if best is None:
        raise AssertionError(
            f"{name_of(fn)} could not be timed: the scheduler preempted every one of "
            f"{samples * 4 * rounds} samples; the machine is too busy to judge a budget of "
            f"{max_ratio:g}x the control"
        )
    percent = f"p{quantile * 100:g}"
    times = "" if round_trips == 1 else f" x {round_trips}"
    raise AssertionError(
        f"{name_of(fn)} took {best.own:.3f} ms at {percent} and {best.own_median:.3f} ms at "
        f"p50, {_ratio(best.own, best.control):.2f}x and "
        f"{_ratio(best.own_median, best.control_median):.2f}x the control "
        f"{name_of(control)}{times}'s {best.control:.3f} ms and {best.control_median:.3f} ms; "
        f"the budget is {max_ratio:g}x at both (best of {rounds} rounds of {best.samples} "
        f"interleaved samples after {warmup} warm-up, {best.preempted} preempted ones retaken)"
    )


class _Pairs(NamedTuple):
    own: float
    control: float
    own_median: float
    control_median: float
    samples: int
    preempted: int

    @property
    def ratio(self) -> float:
        """The larger of the two ratios: at the quantile, and at the median."""
        # Under heavy load both tails are the machine's waits, and their ratio
        # tends to 1 whatever the call does; the medians still tell.
        return max(_ratio(self.own, self.control), _ratio(self.own_median, self.control_median))


def _ratio(own: float, control: float) -> float:
    return own / control if control > 0 else math.inf


def _interleaved(
    fn: Callable[..., Any],
    calls: list[Call],
    control: Callable[[], Any],
    quantile: float,
    samples: int,
    warmup: int,
) -> _Pairs | None:
    clock = time.perf_counter_ns
    own: list[int] = []
    base: list[int] = []
    preempted = 0
    feed = cycle(calls)
    for index in range(warmup + samples * 4):
        args, kwargs = next(feed)
        switches = involuntary_switches()
        # Alternating which goes first: neither always meets a warm socket.
        if index % 2:
            start = clock()
            _quietly(control)
            middle = clock()
            _quietly(fn, *args, **kwargs)
            end = clock()
            control_ns, own_ns = middle - start, end - middle
        else:
            start = clock()
            _quietly(fn, *args, **kwargs)
            middle = clock()
            _quietly(control)
            end = clock()
            own_ns, control_ns = middle - start, end - middle
        if index < warmup:
            continue
        if involuntary_switches() != switches:
            preempted += 1
            continue
        own.append(own_ns)
        base.append(control_ns)
        if len(own) == samples:
            break
    if not own:
        return None
    own.sort()
    base.sort()
    return _Pairs(
        percentile(own, quantile),
        percentile(base, quantile),
        percentile(own, 0.5),
        percentile(base, 0.5),
        len(own),
        preempted,
    )


def _repeated(control: Callable[[], Any], times: int) -> Callable[[], Any]:
    if times == 1:
        return control

    def repeated() -> None:
        for _ in range(times):
            control()

    return repeated


def _quietly(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    # A rejected call (bad input) is part of the load like any other.
    with contextlib.suppress(Exception):
        fn(*args, **kwargs)
