"""The Hypothesis strategies draw values the policy accepts."""

from __future__ import annotations

import math
from typing import Any

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


@settings(max_examples=50, deadline=None)
@given(duration=durations(allow_none=False, max_minutes=30))
def test_durations_respect_their_bounds(duration: float) -> None:
    """``allow_none=False`` and ``max_minutes`` bound the draws (threshold neighbours aside)."""
    assert duration is not None
    assert duration <= 360.0001


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
