"""The statelessness criterion: no answer depends on the calls made before it."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterable, Sequence
from itertools import islice
from typing import Any

from panicquota._shared.calls import Call
from panicquota._shared.state import brief, difference, plain
from panicquota.certification._outcome import Outcome

__all__ = ["check_stateless"]


def _answer(target: Any, call: Call) -> Any:
    args, kwargs = call
    try:
        return plain(target.calculate_ttl_strategy(*args, **kwargs))
    except Exception as error:  # errors must be history-free too
        return ("error", type(error).__name__, str(error))


def _history(
    policy: Any,
    calls: Iterable[Call],
    max_calls: int,
    max_seconds: float,
    clock: Callable[[], float],
) -> int:
    """Make up to *max_calls* of *calls*, stopping after about *max_seconds*; return how many."""
    made = 0
    deadline = clock() + max_seconds
    iterator = iter(calls)
    while made < max_calls and clock() < deadline:
        chunk = list(islice(iterator, min(1000, max_calls - made)))
        if not chunk:
            break
        for args, kwargs in chunk:
            with contextlib.suppress(Exception):  # a rejected call is history too
                policy.calculate_ttl_strategy(*args, **kwargs)
        made += len(chunk)
    return made


def check_stateless(
    policy: Any,
    calls: Sequence[Call],
    *,
    fresh: Any = None,
    seed: int = 0,
    history: Iterable[Call] = (),
    max_calls: int = 100_000,
    max_seconds: float = 1.5,
    clock: Callable[[], float] = time.perf_counter,
) -> Outcome:
    """Check that no answer depends on the calls made before it, nor on their order.

    The first answers to *calls* are the reference. Then up to *max_calls*
    calls of *history* are made (stopping after about *max_seconds*, for
    slow policies), and *calls* are made again in order, reversed, shuffled
    and each one twice in a row; with *fresh* (a new instance of the same
    policy) once more there. Every answer must equal the reference.
    """
    baseline = [_answer(policy, call) for call in calls]
    made = len(calls)
    other = _history(policy, history, max_calls, max_seconds, clock)
    made += other
    shuffled = list(range(len(calls)))
    random.Random(seed).shuffle(shuffled)
    orders = {
        f"order after {other:,} calls with other arguments": list(range(len(calls))),
        "reversed order": list(reversed(range(len(calls)))),
        "shuffled order": shuffled,
        "repeated order": [i for i in range(len(calls)) for _ in (0, 1)],
    }
    for order_name, order in orders.items():
        for index in order:
            made += 1
            got = _answer(policy, calls[index])
            if got != baseline[index]:
                args, _ = calls[index]
                return Outcome(
                    False,
                    f"calculate_ttl_strategy{args!r} answered {brief(got)} when called in "
                    f"{order_name}, unlike the first time (first vs then: "
                    f"{difference(baseline[index], got)}); answers must not depend on earlier "
                    "calls",
                    {"calls": made, "order": order_name, "history_calls": other},
                )
    if fresh is not None:
        for call, expected in zip(calls, baseline, strict=True):
            if _answer(fresh, call) != expected:
                return Outcome(
                    False,
                    f"a fresh instance answered calculate_ttl_strategy{call[0]!r} differently "
                    "from one that had made other calls first; answers must not depend on "
                    "earlier calls",
                    {"calls": made, "history_calls": other},
                )
    return Outcome(
        True,
        f"{made:,} calls ({other:,} of them with other arguments) in order, reversed, shuffled "
        f"and repeated gave the same answers{' as a fresh instance' if fresh is not None else ''}",
        {"calls": made, "history_calls": other},
    )
