"""The ``assert_*`` checks: one clear sentence with the figure and the budget on failure."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from panicquota._shared.calls import Call, name_of, show_call
from panicquota._shared.state import difference, plain
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
    "assert_latency",
    "assert_no_leak",
    "assert_pure",
    "assert_workers_agree",
]


def calls_of(
    args: tuple[Any, ...], kwargs: Mapping[str, Any] | None, calls: Sequence[Any] | None
) -> list[Call]:
    """Return the calls a check makes: its *args*, or each of *calls*, all with *kwargs*."""
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


def require_an_answer(fn: Callable[..., Any], calls: list[Call], check: str) -> None:
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
    outcome = check_deterministic(fn, calls_of(args, kwargs, calls), repeats=repeats, seeds=seeds)
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
    outcome = check_pure(fn, calls_of(args, kwargs, calls), instance=instance, repeats=repeats)
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
    made = calls_of(args, kwargs, calls)
    require_an_answer(fn, made, "assert_no_leak")
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
    made = calls_of(args, kwargs, calls)
    require_an_answer(fn, made, "assert_latency")
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
