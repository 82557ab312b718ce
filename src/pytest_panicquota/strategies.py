"""Hypothesis strategies for property tests of code that uses panicquota.

Import this module explicitly (``from pytest_panicquota.strategies import
durations``): the plugin itself never imports Hypothesis.
"""

from __future__ import annotations

from typing import Any

from panicquota._shared.extras import hint
from panicquota.errors import MissingExtraError
from panicquota.stakes import CONTEXT_FIELDS, DEFAULT_RULES, Stakes

try:
    from hypothesis import strategies as st
except ModuleNotFoundError:
    raise MissingExtraError(
        hint("pytest_panicquota.strategies", "testing", ["hypothesis"])
    ) from None

__all__ = ["configurations", "contexts", "durations"]

_KEYWORDS = sorted({word for words in DEFAULT_RULES.values() for word in words})
_WORD = st.text(alphabet=st.characters(categories=("L", "N")), min_size=1, max_size=8)


def durations(
    *, max_minutes: float = 7 * 24 * 60, allow_none: bool = True
) -> st.SearchStrategy[float | None]:
    """Return panic durations in minutes: ``None``, ``0``, thresholds and their neighbours, floats.

    Args:
        max_minutes: the longest duration drawn (thresholds beyond it and
            their neighbours are left out).
        allow_none: whether ``None`` ("no panic") may be drawn.
    """
    boundaries = sorted(
        value
        for value in {
            t + d for bounds in _default_bounds() for t in bounds for d in (-1e-4, 0, 1e-4)
        }
        if 0 <= value <= max_minutes
    )
    values: st.SearchStrategy[float | None] = st.one_of(
        st.just(0),
        # Below the smallest threshold there is no boundary to sample.
        *([st.sampled_from(boundaries)] if boundaries else []),
        st.floats(min_value=0, max_value=max_minutes, allow_nan=False, allow_infinity=False),
        st.integers(min_value=0, max_value=int(max_minutes)),
    )
    return st.one_of(st.none(), values) if allow_none else values


def _default_bounds() -> list[tuple[float, ...]]:
    from panicquota.tiers import DEFAULT_THRESHOLDS

    return [tuple(bounds) for bounds in DEFAULT_THRESHOLDS.values()]


def _names(keywords: list[str]) -> st.SearchStrategy[str]:
    mixed = st.tuples(
        st.lists(_WORD, max_size=2), st.sampled_from(keywords), st.lists(_WORD, max_size=2)
    )
    return st.one_of(
        st.sampled_from(keywords),
        mixed.map(lambda parts: " ".join([*parts[0], parts[1], *parts[2]])),
        st.text(max_size=30),
    )


def contexts(keywords: list[str] | None = None) -> st.SearchStrategy[Any]:
    """Return request contexts: ``None``, strings and ``{"league": ...}``-style mappings.

    Args:
        keywords: names to build contexts around (default: the default rules'
            keywords), mixed with random words so that matching is exercised.
    """
    names = _names(keywords or _KEYWORDS)
    mapping = st.dictionaries(
        st.sampled_from(CONTEXT_FIELDS), st.one_of(st.none(), names), max_size=4
    )
    return st.one_of(st.none(), names, mapping)


@st.composite
def _thresholds(draw: st.DrawFn) -> tuple[float, float, float]:
    first = draw(st.floats(min_value=0.5, max_value=600, allow_nan=False))
    second = first + draw(st.floats(min_value=0.5, max_value=600, allow_nan=False))
    third = second + draw(st.floats(min_value=0.5, max_value=1200, allow_nan=False))
    return (first, second, third)


@st.composite
def _ttls(draw: st.DrawFn) -> tuple[int, int, int, int]:
    steps = draw(st.lists(st.integers(min_value=0, max_value=120), min_size=4, max_size=4))
    tier1 = steps[0] // 4
    tier2 = tier1 + steps[1]
    tier3 = tier2 + steps[2]
    return (tier1, tier2, tier3, tier3 + steps[3])


def configurations() -> st.SearchStrategy[dict[str, Any]]:
    """Return valid ``AdaptivePanicQuota(**config)`` keyword arguments.

    Thresholds are positive and strictly increasing per stakes level, TTLs
    non-decreasing, keyword rules non-blank; any subset may be left to defaults.
    """
    keyword = _WORD.filter(lambda word: word.strip() != "")
    return st.fixed_dictionaries(
        {},
        optional={
            "thresholds": st.dictionaries(st.sampled_from(list(Stakes)), _thresholds(), max_size=3),
            "ttls": _ttls(),
            "rules": st.dictionaries(
                st.sampled_from(list(Stakes)), st.lists(keyword, max_size=3), max_size=3
            ),
        },
    )
