"""The ``assert_*`` checks: one clear sentence with the figure and the budget on failure."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from panicquota.certification import (
    DEFAULT_SEEDS,
    Call,
    Outcome,
    check_deterministic,
    check_latency,
    check_no_leak,
    check_pure,
    plain,
)
from panicquota.certification._state import difference

__all__ = [
    "assert_deterministic",
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
    return [(tuple(call), {}) for call in calls]


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
        kwargs: its keyword arguments.
        calls: several argument tuples to check instead of *args*.
        repeats: in-process repeats.
        seeds: ``PYTHONHASHSEED`` of each fresh interpreter; ``()`` for none.

    Raises:
        AssertionError: an answer differed; the message has a command that
            reproduces it.
        InvalidTypeError: *fn* cannot be pickled to the fresh interpreters.
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
        kwargs: its keyword arguments.
        calls: several argument tuples instead of *args*.
        repeats: how often each call is made.

    Raises:
        AssertionError: an argument or the instance changed; says where.
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

    Raises:
        AssertionError: sustained growth beyond the budget; names the figure
            and the line that allocated most.
    """
    __tracebackhide__ = True
    outcome = check_no_leak(
        fn,
        _calls(args, kwargs, calls),
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

    Raises:
        AssertionError: the best round's p99 is over budget; names p50, p99,
            the control's p99 and the budget.
    """
    __tracebackhide__ = True
    outcome = check_latency(
        fn,
        _calls(args, kwargs, calls),
        p99_ms=p99_ms,
        samples=samples,
        warmup=warmup,
        rounds=rounds,
    )
    _verdict(outcome)


def assert_workers_agree(results: Sequence[Any]) -> None:
    """Assert that every worker's result equals worker 0's (compared by value).

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
