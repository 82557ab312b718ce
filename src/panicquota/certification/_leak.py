"""The leak check: traced memory and live objects stop growing after a warm-up.

Returns an :class:`Outcome` rather than raising, so the plugin can turn it into
a test failure and the certification into a report row. Callables are called
as ``fn(*args, **kwargs)`` for each call of *calls*.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from itertools import pairwise
from typing import Any

from panicquota._shared.calls import Call, name_of
from panicquota.certification._outcome import Outcome
from panicquota.certification._running import run_batch

__all__ = ["check_no_leak"]


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
    run_batch(fn, calls, untraced)
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start(1)  # the report names the top frame only
    objects: list[int] = []
    sizes: list[int] = []
    try:
        run_batch(fn, calls, warmup - untraced)
        first = tracemalloc.take_snapshot()  # kept to name where memory grew, if it did
        _measure(objects, sizes)
        for _ in range(batches):
            run_batch(fn, calls, batch)
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
