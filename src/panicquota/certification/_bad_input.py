"""The bad-input criterion: wrong values and types raise, whatever the other arguments."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any, Final

from panicquota.certification._contexts import NO_KEYWORD, first_keywords
from panicquota.certification._outcome import Outcome

__all__ = ["BAD_CONTEXTS", "BAD_NUMBERS", "bad_inputs", "check_bad_input"]

#: (normal_ttl, panic_duration_minutes, the error it must raise), with every context.
BAD_NUMBERS: Final[Sequence[tuple[Any, Any, type[Exception]]]] = (
    (60, -1, ValueError),
    (60, -0.001, ValueError),
    (60, math.nan, ValueError),
    (60, math.inf, ValueError),
    (60, -math.inf, ValueError),
    (-1, 10, ValueError),
    (math.nan, 10, ValueError),
    (math.inf, 10, ValueError),
    (-math.inf, 10, ValueError),
    (60, "35", TypeError),
    (60, [35], TypeError),
    (60, True, TypeError),
    ("60", 10, TypeError),
    (None, 10, TypeError),
    (True, 10, TypeError),
)
#: Contexts of a wrong type (or with a read value of one): TypeError, with every duration.
BAD_CONTEXTS: Final[Sequence[Any]] = (
    42,
    ["Ligue 1"],
    b"Ligue 1",
    ("Ligue 1",),
    {"Ligue 1"},
    {"league": 42},
    {"event": b"UCL"},
)
_DURATIONS: Final = (10, None, 0, 400.0)


def bad_inputs(policy: Any) -> Iterator[tuple[Any, Any, Any, type[Exception]]]:
    """Yield ``(normal_ttl, duration, context, error)`` for every bad input.

    Bad numbers come with every context form (``None`` first), so a policy
    that validates only some forms fails; bad contexts with every kind of
    duration (none, zero, a panic).
    """
    contexts: list[Any] = [None, "", NO_KEYWORD, {"league": NO_KEYWORD}]
    for word in first_keywords(policy, 1):
        contexts += [word, {"league": word}]
    for context in contexts:
        for normal_ttl, duration, error in BAD_NUMBERS:
            yield normal_ttl, duration, context, error
    for context in BAD_CONTEXTS:
        for duration in _DURATIONS:
            yield 60, duration, context, TypeError


def check_bad_input(policy: Any) -> Outcome:
    """Check that bad arguments raise ValueError or TypeError instead of answering."""
    cases = list(bad_inputs(policy))
    figures = {"inputs": len(cases)}
    for normal_ttl, duration, context, expected in cases:
        where = f"calculate_ttl_strategy({normal_ttl!r}, {duration!r}, {context!r})"
        try:
            answer = policy.calculate_ttl_strategy(normal_ttl, duration, context)
        except expected:
            continue
        except Exception as error:
            return Outcome(
                False,
                f"{where} raised {type(error).__name__}: {error}; "
                f"it must raise {expected.__name__}",
                figures,
            )
        shown = answer[:2] if isinstance(answer, tuple) else answer
        return Outcome(
            False,
            f"{where} answered {shown!r} instead of raising {expected.__name__}",
            figures,
        )
    return Outcome(
        True,
        f"{len(cases)} bad inputs were rejected: negative, NaN, infinite, bool and wrong-type "
        "numbers with every context form, wrong-type contexts with every duration",
        figures,
    )
