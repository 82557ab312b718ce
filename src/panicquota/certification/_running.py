"""How the checks call the callable under test: one call's answer, a batch of calls."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import cycle, islice
from typing import Any

from panicquota._shared.calls import Call
from panicquota._shared.state import plain

__all__ = ["feed", "outcome_of", "run_batch"]


def outcome_of(fn: Callable[..., Any], call: Call) -> Any:
    """Return *fn*'s answer to *call* as a plain value, or the error it raised as a tuple."""
    args, kwargs = call
    try:
        return plain(fn(*args, **kwargs))
    except Exception as error:  # an error is an answer too, and must be repeatable
        return ("error", type(error).__name__, str(error))


def feed(calls: Iterable[Call], count: int) -> Iterator[Call]:
    """Return the next *count* calls: a sequence is cycled, an iterator consumed."""
    if isinstance(calls, Sequence):
        return islice(cycle(calls), count)
    return islice(calls, count)


def run_batch(fn: Callable[..., Any], calls: Iterable[Call], count: int) -> None:
    """Make the next *count* calls of *calls*, ignoring what they return or raise."""
    for args, kwargs in feed(calls, count):
        # A rejected call (bad input) is part of the load like any other.
        with contextlib.suppress(Exception):
            fn(*args, **kwargs)
