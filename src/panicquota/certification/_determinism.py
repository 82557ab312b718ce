"""The determinism check: the same answer when repeated and under other hash seeds.

Returns an :class:`Outcome` rather than raising, so the plugin can turn it into
a test failure and the certification into a report row. Callables are called
as ``fn(*args, **kwargs)`` for each call of *calls*.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from panicquota._shared.calls import Call, name_of, show_call
from panicquota._shared.state import brief, difference
from panicquota.certification._fresh import reproduce_command, run_fresh
from panicquota.certification._outcome import Outcome
from panicquota.certification._running import outcome_of

__all__ = ["DEFAULT_SEEDS", "check_deterministic"]

#: Hash seeds of the fresh interpreters: fixed, so a failure reproduces.
DEFAULT_SEEDS = (0, 1, 2)


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
    first = [outcome_of(fn, call) for call in calls]
    for _ in range(repeats - 1):
        for call, expected in zip(calls, first, strict=True):
            got = outcome_of(fn, call)
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
