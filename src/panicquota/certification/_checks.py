"""The checks shared by the pytest plugin and the certification suite.

Each returns an :class:`Outcome` rather than raising, so the plugin can turn
it into a test failure and the certification into a report row. Callables are
called as ``fn(*args, **kwargs)`` for each call of *calls*.
"""

from __future__ import annotations

import contextlib
import gc
import time
import tracemalloc
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import cycle, islice, pairwise
from typing import Any

from panicquota._shared.calls import Call, name_of, show_call
from panicquota._shared.state import (
    brief,
    class_state,
    describe_change,
    difference,
    plain,
    snapshot,
)
from panicquota._shared.timing import involuntary_switches, percentile
from panicquota.certification._fresh import reproduce_command, run_fresh
from panicquota.certification._outcome import Outcome

__all__ = [
    "DEFAULT_SEEDS",
    "check_deterministic",
    "check_latency",
    "check_no_leak",
    "check_pure",
    "involuntary_switches",
]

#: Hash seeds of the fresh interpreters: fixed, so a failure reproduces.
DEFAULT_SEEDS = (0, 1, 2)


def _outcome_of(fn: Callable[..., Any], call: Call) -> Any:
    args, kwargs = call
    try:
        return plain(fn(*args, **kwargs))
    except Exception as error:  # an error is an answer too, and must be repeatable
        return ("error", type(error).__name__, str(error))


def check_deterministic(
    fn: Callable[..., Any],
    calls: Sequence[Call],
    *,
    repeats: int = 3,
    seeds: Sequence[int] = DEFAULT_SEEDS,
) -> Outcome:
    """Check that every call gives the same answer when repeated and under other hash seeds.

    Args:
        fn: the callable; it must pickle when *seeds* is not empty.
        calls: the calls to make.
        repeats: how often each call is repeated in this process.
        seeds: the ``PYTHONHASHSEED`` of each fresh interpreter (empty: none).
    """
    name = name_of(fn)
    first = [_outcome_of(fn, call) for call in calls]
    for _ in range(repeats - 1):
        for call, expected in zip(calls, first, strict=True):
            got = _outcome_of(fn, call)
            if got != expected:
                return Outcome(
                    False,
                    f"{name}({show_call(call)}) gave {brief(expected)} and then {brief(got)} "
                    f"in the same process (differing in {difference(expected, got)}); it must "
                    f"give the same answer on each of {repeats} repeats",
                    {"repeats": repeats, "differing_call": show_call(call)},
                )
    for run in run_fresh(fn, calls, seeds):
        for call, expected, got in zip(calls, first, run.results, strict=True):
            if got != expected:
                command = reproduce_command(fn, call, run.seed)
                return Outcome(
                    False,
                    f"{name}({show_call(call)}) answered differently in a fresh interpreter with "
                    f"PYTHONHASHSEED={run.seed} than here (here vs there: "
                    f"{difference(expected, got)}); the answer must not depend on the hash "
                    f"seed (reproduce: {command})",
                    {"seed": run.seed, "differing_call": show_call(call), "reproduce": command},
                )
    return Outcome(
        True,
        f"{len(calls)} calls gave the same answers over {repeats} repeats and "
        f"{len(seeds)} fresh interpreters (PYTHONHASHSEED {', '.join(map(str, seeds)) or '-'})",
        {"calls": len(calls), "repeats": repeats, "seeds": list(seeds)},
    )


def check_pure(
    fn: Callable[..., Any], calls: Sequence[Call], *, instance: object = None, repeats: int = 2
) -> Outcome:
    """Check that calls change neither their arguments nor the instance, nor its class.

    What counts as state, compared before and after every call:

    - each argument, deeply (nested mappings and lists too);
    - the instance, by its pickle when it pickles (what it declares as its
      state, so a cache it leaves out of its pickle does not count), else by
      a walk of its attributes;
    - the data attributes of its classes (see :func:`class_state`): a counter
      or a cache kept on the class is state shared by every instance.

    Args:
        fn: the callable.
        calls: the calls to make; each one's arguments are snapshotted.
        instance: the object whose state must stay unchanged (default: the
            instance a bound method is bound to).
        repeats: how often each call is made.
    """
    name = name_of(fn)
    owner = instance if instance is not None else getattr(fn, "__self__", None)
    if isinstance(owner, types.ModuleType):  # a built-in function's __self__ is its module
        owner = None
    owner_before = snapshot(owner) if owner is not None else None
    class_before = _class_snapshot(owner)
    cells_before = _cells_snapshot(fn)
    for call in calls:
        args, kwargs = call
        shown = show_call(call)  # before the calls: they may change the arguments
        values = (*args, *kwargs.values())
        before = [snapshot(value) for value in values]
        for _ in range(repeats):
            _outcome_of(fn, call)
        labels = [f"argument {i + 1}" for i in range(len(args))] + [
            f"argument {k!r}" for k in kwargs
        ]
        # What may have changed, in the order a reader would look: the
        # arguments, what the function closes over, the instance, its class.
        changes: list[tuple[str, str, str | None, str]] = [
            (label, f"its {label}", describe_change(old, snapshot(value)), "their arguments")
            for label, old, value in zip(labels, before, values, strict=True)
        ]
        changes.append(
            (
                "closure",
                "a variable it closes over",
                _keyed_change(
                    cells_before, _cells_snapshot(fn), show=repr, removed="unbound", added="bound"
                ),
                "captured state",
            )
        )
        if owner is not None:
            changes += [
                (
                    "instance",
                    f"its instance {type(owner).__name__}",
                    describe_change(owner_before, snapshot(owner)),
                    "the instance",
                ),
                (
                    "class",
                    "a class attribute",
                    _keyed_change(class_before, _class_snapshot(owner)),
                    "the class",
                ),
            ]
        for changed, what, change, kept in changes:
            if change is not None:
                return Outcome(
                    False,
                    f"{name}({shown}) changed {what} ({change}); calls must leave {kept} unchanged",
                    {"changed": changed, "differing_call": shown},
                )
    return Outcome(
        True,
        f"{len(calls)} calls x {repeats} left their arguments"
        f"{' and the instance and its class' if owner is not None else ''} unchanged",
        {"calls": len(calls), "repeats": repeats},
    )


def _class_snapshot(owner: object) -> dict[str, Any]:
    if owner is None:
        return {}
    return {key: snapshot(value) for key, value in class_state(owner).items()}


def _keyed_change(
    before: dict[str, Any],
    after: dict[str, Any],
    *,
    show: Callable[[str], str] = str,
    removed: str = "deleted",
    added: str = "added",
) -> str | None:
    """Return the first change between two ``{name: snapshot}`` maps, or None."""
    for key in [*before, *(k for k in after if k not in before)]:
        if key not in after:
            return f"{show(key)} was {removed}"
        if key not in before:
            return f"{show(key)} was {added}"
        change = describe_change(before[key], after[key], key)
        if change is not None:
            return change
    return None


def _cells_snapshot(fn: Callable[..., Any]) -> dict[str, Any]:
    """Snapshot the variables a closure captured (a counter, a cache): state like any other."""
    closure = getattr(fn, "__closure__", None)
    code = getattr(fn, "__code__", None)
    if not closure or code is None:
        return {}
    snap: dict[str, Any] = {}
    for variable, cell in zip(code.co_freevars, closure, strict=True):
        try:
            snap[variable] = snapshot(cell.cell_contents)
        except ValueError:  # an empty cell: the variable is not bound yet
            continue
    return snap


#: Allocations by the measuring machinery and interpreter caches, not by the callable.
_IGNORED = (
    tracemalloc.__file__,
    "<frozen importlib._bootstrap>",
    "<frozen importlib._bootstrap_external>",
    "<unknown>",
    *(
        f"*/{name}"
        for name in (
            "linecache.py",
            "abc.py",
            "_weakrefset.py",
            "typing.py",
            "functools.py",
            "fnmatch.py",
            "re/__init__.py",
            "re/_compiler.py",
            "re/_parser.py",
        )
    ),
)


def _filtered(snap: tracemalloc.Snapshot) -> tracemalloc.Snapshot:
    return snap.filter_traces([tracemalloc.Filter(False, pattern) for pattern in _IGNORED])


def _measure(objects: list[int], sizes: list[int]) -> None:
    gc.collect()
    objects.append(len(gc.get_objects()))
    # The traced total, not a filtered snapshot: filtering walks every trace in
    # Python, seconds for a policy whose bounded cache holds thousands. What the
    # measuring adds (these two short lists, the first snapshot) does not grow.
    sizes.append(tracemalloc.get_traced_memory()[0])


def _feed(calls: Iterable[Call], count: int) -> Iterator[Call]:
    """Return the next *count* calls: a sequence is cycled, an iterator consumed."""
    if isinstance(calls, Sequence):
        return islice(cycle(calls), count)
    return islice(calls, count)


def _run_batch(fn: Callable[..., Any], calls: Iterable[Call], count: int) -> None:
    for args, kwargs in _feed(calls, count):
        # A rejected call (bad input) is part of the load like any other.
        with contextlib.suppress(Exception):
            fn(*args, **kwargs)


def check_no_leak(
    fn: Callable[..., Any],
    calls: Sequence[Call] | Iterator[Call],
    *,
    warmup: int = 1000,
    batch: int = 1000,
    batches: int = 5,
    max_bytes_per_call: float = 1.0,
    max_objects: int = 0,
) -> Outcome:
    """Check that memory and live objects stop growing after a warm-up.

    Growth counts only when sustained: it must show in all measured batches
    but one, so a single allocation by the interpreter does not fail the check,
    nor does a bounded cache that empties itself (or evicts) within the
    measured calls.

    Args:
        fn: the callable.
        calls: the calls to make: a sequence is cycled through; an endless
            iterator (never-repeated arguments, so a cache keyed on them keeps
            missing) is consumed.
        warmup: calls made before measuring (caches fill up there).
        batch: calls per measured batch.
        batches: how many measured batches.
        max_bytes_per_call: the traced-memory growth budget, per measured call.
        max_objects: how many more live (GC-tracked) objects are allowed.
    """
    name = name_of(fn)
    # Tracing starts one batch before the end of the warm-up, which runs at
    # full speed until then; by the first measurement a full cache that
    # evicts has replaced its untraced entries with traced ones, so the
    # replacing does not read as growth.
    untraced = max(0, warmup - batch)
    _run_batch(fn, calls, untraced)
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start(1)  # the report names the top frame only
    objects: list[int] = []
    sizes: list[int] = []
    try:
        _run_batch(fn, calls, warmup - untraced)
        first = tracemalloc.take_snapshot()  # kept to name where memory grew, if it did
        _measure(objects, sizes)
        for _ in range(batches):
            _run_batch(fn, calls, batch)
            _measure(objects, sizes)
        last = tracemalloc.take_snapshot()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    measured = batch * batches
    byte_growth = sizes[-1] - sizes[0]
    object_growth = objects[-1] - objects[0]
    sustained = batches - 1
    bytes_grew = sum(b > a for a, b in pairwise(sizes)) >= sustained
    objects_grew = sum(b > a for a, b in pairwise(objects)) >= sustained
    figures = {
        "warmup_calls": warmup,
        "measured_calls": measured,
        "bytes_growth": byte_growth,
        "bytes_per_call": round(byte_growth / measured, 3),
        "objects_growth": object_growth,
    }
    if objects_grew and object_growth > max_objects:
        return Outcome(
            False,
            f"{name} left {object_growth} more live objects after {measured:,} calls past a "
            f"{warmup:,}-call warm-up (growing batch after batch; the budget is {max_objects}); "
            f"most growth at {_top_growth(first, last)}",
            figures,
        )
    if bytes_grew and byte_growth > max_bytes_per_call * measured:
        return Outcome(
            False,
            f"{name} grew traced memory by {byte_growth:,} bytes over {measured:,} calls past a "
            f"{warmup:,}-call warm-up ({byte_growth / measured:.2f} bytes per call; the budget "
            f"is {max_bytes_per_call:g}); most growth at {_top_growth(first, last)}",
            figures,
        )
    return Outcome(
        True,
        f"memory {byte_growth:+,} bytes and {object_growth:+} live objects over {measured:,} "
        f"calls after a {warmup:,}-call warm-up, not growing batch after batch beyond the "
        f"budget ({max_bytes_per_call:g} bytes per call, {max_objects} objects)",
        figures,
    )


def _top_growth(first: tracemalloc.Snapshot, last: tracemalloc.Snapshot) -> str:
    stats = _filtered(last).compare_to(_filtered(first), "lineno")
    if not stats or stats[0].size_diff <= 0:
        return "an untraced place"
    top = stats[0]
    frame = top.traceback[0]
    return f"{frame.filename}:{frame.lineno} ({top.size_diff:+,} bytes, {top.count_diff:+} blocks)"


def _control(*args: Any, **kwargs: Any) -> None:
    """Do nothing: the call whose median the latency check subtracts (the timing's cost)."""


def check_latency(
    fn: Callable[..., Any],
    calls: Sequence[Call] | Iterator[Call],
    *,
    p99_ms: float = 1.0,
    samples: int = 1000,
    warmup: int = 100,
    rounds: int = 3,
    clock: Callable[[], int] = time.perf_counter_ns,
    preemptions: Callable[[], int] = involuntary_switches,
) -> Outcome:
    """Check the 99th percentile of one call's latency against a budget.

    A shared CI machine takes the CPU away from the test now and then, for
    milliseconds: counted in, that noise would fail any budget near 1 ms.
    So a sample during which the scheduler preempted the thread (an
    involuntary context switch, counted by the kernel) is discarded and taken
    again; a call that sleeps or waits on I/O gives the CPU up voluntarily and
    is measured in full. Each sample also times an empty call with the same
    arguments right before (the control): the verdict is the call's p99 minus
    the control's median, the timing's own cost. The best of *rounds* rounds
    is kept; a round stops early once more than 1% of its samples are over
    budget.

    Args:
        fn: the callable.
        calls: the calls to time: a sequence is cycled through; an endless
            iterator (never-repeated arguments, so each call is a cache miss)
            is consumed.
        p99_ms: the budget for the p99 net of the control, in milliseconds.
        samples: timed calls per round.
        warmup: untimed calls first.
        rounds: rounds to run at most; the best one is kept.
        clock: a nanosecond timer (monotonic: latencies stay in this process).
        preemptions: a counter of this thread's involuntary context switches.
    """
    name = name_of(fn)
    _run_batch(fn, calls, warmup)
    budget_ns = p99_ms * 1e6
    best: dict[str, float] | None = None
    for _ in range(rounds):
        own: list[int] = []
        control: list[int] = []
        over = preempted = 0
        # Up to four tries per sample: a machine preempting more often than
        # that gives fewer samples, and the figures say how many.
        for args, kwargs in _feed(calls, samples * 4):
            switches = preemptions()
            start = clock()
            _control(*args, **kwargs)
            middle = clock()
            with contextlib.suppress(Exception):
                fn(*args, **kwargs)
            end = clock()
            if preemptions() != switches:
                preempted += 1
                continue
            control.append(middle - start)
            own.append(end - middle)
            over += end - middle > budget_ns
            if over > samples // 100 or len(own) == samples:
                break
        if not own:
            continue
        own.sort()
        control.sort()
        figures = {
            "p50_ms": percentile(own, 0.50),
            "p99_ms": percentile(own, 0.99),
            "max_ms": own[-1] / 1e6,
            "control_p50_ms": percentile(control, 0.50),
            "samples": len(own),
            "preempted_samples": preempted,
        }
        figures["net_p99_ms"] = max(0.0, figures["p99_ms"] - figures["control_p50_ms"])
        if best is None or figures["net_p99_ms"] < best["net_p99_ms"]:
            best = figures
        if best["net_p99_ms"] < p99_ms:
            break
    if best is None:
        return Outcome(
            False,
            f"{name} could not be timed: the scheduler preempted every one of "
            f"{samples * 4 * rounds} samples; the machine is too busy to judge a p99 "
            f"budget of {p99_ms:g} ms",
            {"budget_p99_ms": p99_ms, "samples": 0},
        )
    shown = (
        f"p99 {best['p99_ms']:.4f} ms (p50 {best['p50_ms']:.4f} ms, control median "
        f"{best['control_p50_ms']:.4f} ms, {int(best['samples'])} samples after {warmup} "
        f"warm-up, {int(best['preempted_samples'])} preempted ones retaken)"
    )
    figures = {**best, "budget_p99_ms": p99_ms}
    if best["net_p99_ms"] >= p99_ms:
        return Outcome(
            False,
            f"{name} took {shown} in its best round; the budget is p99 < {p99_ms:g} ms net of "
            "the control",
            figures,
        )
    return Outcome(True, f"{shown}; budget p99 < {p99_ms:g} ms", figures)
