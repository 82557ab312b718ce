"""Hypothesis properties of the pure policy."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from panicquota import AdaptivePanicQuota, PanicMode, Stakes, Thresholds, TierTTLs

durations = st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_infinity=False)
normal_ttls = st.one_of(
    st.integers(min_value=0, max_value=86_400),
    st.floats(min_value=0, max_value=86_400, allow_nan=False),
)
league_names = st.sampled_from(
    ["UCL", "Ligue 1", "Serie A", "Ligue 2", "World Cup", "", "Europa League", "Friendly"]
)
# Mappings with none of the keys read warn (tests/policy/test_stakes.py checks it);
# the properties here are about decisions, whatever the context.
pytestmark = pytest.mark.filterwarnings("ignore::panicquota.errors.ContextKeysWarning")

contexts = st.one_of(
    st.none(),
    st.text(),
    league_names,
    st.dictionaries(
        st.sampled_from(["league", "competition", "tournament", "event", "home", "market"]),
        st.one_of(st.none(), st.text(), league_names),
    ),
)


@st.composite
def thresholds(draw: Any) -> Thresholds:
    tier2 = draw(st.floats(min_value=0.01, max_value=1e4, allow_nan=False))
    tier3 = tier2 + draw(st.floats(min_value=0.01, max_value=1e4))
    tier4 = tier3 + draw(st.floats(min_value=0.01, max_value=1e4))
    return Thresholds(tier2, tier3, tier4)


@st.composite
def policies(draw: Any) -> AdaptivePanicQuota:
    steps = draw(st.lists(st.integers(min_value=0, max_value=600), min_size=4, max_size=4))
    ttls = [sum(steps[: i + 1]) for i in range(4)]
    bounds = draw(st.fixed_dictionaries({stakes: thresholds() for stakes in Stakes}))
    return AdaptivePanicQuota(bounds, TierTTLs(*ttls))


@given(policies(), normal_ttls, durations, durations, contexts)
def test_ttl_never_falls_as_the_panic_lasts(
    quota: AdaptivePanicQuota, normal_ttl: float, first: float, second: float, context: Any
) -> None:
    """For any configuration, a longer panic never gets a smaller TTL or a lower tier."""
    shorter, longer = sorted((first, second))
    short = quota.calculate_ttl_strategy(normal_ttl, shorter, context)
    long = quota.calculate_ttl_strategy(normal_ttl, longer, context)
    if shorter > 0:
        assert short[0] <= long[0]
        assert short[2]["tier"] <= long[2]["tier"]


@given(policies(), normal_ttls, durations, contexts)
def test_ttl_stays_within_zero_and_normal(
    quota: AdaptivePanicQuota, normal_ttl: float, duration: float, context: Any
) -> None:
    """The TTL is always within [0, normal_ttl]."""
    ttl, _, meta = quota.calculate_ttl_strategy(normal_ttl, duration, context)
    assert 0 <= ttl <= normal_ttl
    assert meta["ttl"] == ttl


@given(policies(), durations, contexts)
def test_tier_matches_the_reported_thresholds(
    quota: AdaptivePanicQuota, duration: float, context: Any
) -> None:
    """The tier is the one the reported thresholds give the raw duration; mode follows the tier."""
    _, mode, meta = quota.calculate_ttl_strategy(60, duration, context)
    bounds = meta["thresholds"]
    assert bounds == quota.thresholds[meta["stakes"]]
    expected = 0 if duration == 0 else bounds.tier_of(duration)
    assert meta["tier"] == expected
    assert mode is list(PanicMode)[expected]
    assert (meta["alert"] is not None) is (expected >= 3)


@given(normal_ttls, durations, contexts)
def test_same_inputs_same_output_and_nothing_mutated(
    normal_ttl: float, duration: float, context: Any
) -> None:
    """Repeated calls agree, and neither the context nor the policy is changed."""
    quota = AdaptivePanicQuota()
    policy_before = pickle.dumps(quota)
    context_before = copy.deepcopy(context)
    first = quota.calculate_ttl_strategy(normal_ttl, duration, context)
    second = quota.calculate_ttl_strategy(normal_ttl, duration, context)
    assert first == second
    assert context == context_before
    assert pickle.dumps(quota) == policy_before


@given(st.text(), st.text())
def test_arbitrary_text_never_crashes(league: str, event: str) -> None:
    """Any unicode text, as a string or mapping values, classifies to some stakes."""
    quota = AdaptivePanicQuota()
    assert quota.classify(league) in Stakes
    assert quota.classify({"league": league, "event": event}) in Stakes


@given(durations)
def test_metadata_rounds_to_a_tenth(duration: float) -> None:
    """The reported duration is the raw one rounded to 0.1."""
    meta = AdaptivePanicQuota().calculate_ttl_strategy(60, duration, None)[2]
    assert meta["panic_duration_minutes"] == round(duration, 1)
