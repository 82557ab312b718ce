"""The Hypothesis strategies draw values the policy accepts."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings

from panicquota import AdaptivePanicQuota, PanicMode
from pytest_panicquota.strategies import configurations, contexts, durations

QUOTA = AdaptivePanicQuota()


@settings(max_examples=200, deadline=None)
@given(duration=durations(), context=contexts())
def test_durations_and_contexts_are_accepted(duration: float | None, context: Any) -> None:
    """Every drawn duration and context gets a decision, never an error."""
    assert duration is None or (math.isfinite(duration) and duration >= 0)
    ttl, mode, meta = QUOTA.calculate_ttl_strategy(60, duration, context)
    assert 0 <= ttl <= 60
    assert isinstance(mode, PanicMode)
    assert meta["tier"] in range(5)


@pytest.mark.parametrize("max_minutes", [30, 0.5])
def test_durations_respect_their_bounds(max_minutes: float) -> None:
    """``allow_none=False`` and ``max_minutes`` bound every draw, thresholds included."""

    @settings(max_examples=200, deadline=None)
    @given(duration=durations(allow_none=False, max_minutes=max_minutes))
    def drawn(duration: float | None) -> None:
        assert duration is not None
        assert 0 <= duration <= max_minutes

    drawn()


def test_durations_include_the_thresholds_within_bounds() -> None:
    """Thresholds up to ``max_minutes`` and their neighbours are drawn, not only random floats."""
    seen: set[float] = set()

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(duration=durations(allow_none=False, max_minutes=30))
    def drawn(duration: float | None) -> None:
        assert duration is not None
        seen.add(duration)

    drawn()
    assert seen & {15 - 1e-4, 15, 15 + 1e-4, 30 - 1e-4, 30}


@settings(max_examples=100, deadline=None)
@given(config=configurations(), duration=durations(), context=contexts())
def test_configurations_build_valid_policies(
    config: dict[str, Any], duration: float | None, context: Any
) -> None:
    """Every drawn configuration builds a policy whose TTL stays within [0, normal_ttl]."""
    quota = AdaptivePanicQuota(**config)
    ttl, _, meta = quota.calculate_ttl_strategy(30, duration, context)
    assert 0 <= ttl <= 30
    assert tuple(meta["thresholds"]) == tuple(quota.thresholds[meta["stakes"]])
