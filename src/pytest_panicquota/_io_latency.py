"""The I/O latency check: a call's p99 and median against a control doing the same I/O."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from itertools import cycle
from typing import Any, NamedTuple

from panicquota._shared.calls import Call, name_of
from panicquota._shared.timing import involuntary_switches, percentile
from panicquota.errors import InvalidArgumentError
from pytest_panicquota._checks import calls_of, require_an_answer

__all__ = ["assert_io_latency"]


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
    made = calls_of(args, kwargs, calls)
    require_an_answer(fn, made, "assert_io_latency")
    require_an_answer(control, [((), {})], "assert_io_latency's control")
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
