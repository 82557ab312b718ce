"""The prototype's validation cases (shared/reference/seed-session-44.md), kept as regressions."""

from __future__ import annotations

import pytest

from panicquota import AdaptivePanicQuota, PanicMode, Stakes

LIGUE_1 = {"league": "Ligue 1"}


@pytest.fixture
def quota() -> AdaptivePanicQuota:
    return AdaptivePanicQuota()


def test_no_panic_serves_the_normal_ttl(quota: AdaptivePanicQuota) -> None:
    """Smoke 1: a duration of 0 is no panic: the normal TTL, mode NORMAL, tier 0."""
    ttl, mode, meta = quota.calculate_ttl_strategy(60, 0, LIGUE_1)
    assert (ttl, mode, meta["tier"], meta["alert"]) == (60, PanicMode.NORMAL, 0, None)


def test_none_duration_is_no_panic(quota: AdaptivePanicQuota) -> None:
    """A duration of None is no panic as well."""
    ttl, mode, meta = quota.calculate_ttl_strategy(60, None, LIGUE_1)
    assert (ttl, mode, meta["tier"], meta["panic_duration_minutes"]) == (
        60,
        PanicMode.NORMAL,
        0,
        0.0,
    )


def test_fresh_panic_disables_caching(quota: AdaptivePanicQuota) -> None:
    """Smoke 2: 5 minutes into a Ligue 1 panic: TTL 0, PANIC_FULL, tier 1."""
    ttl, mode, meta = quota.calculate_ttl_strategy(60, 5, LIGUE_1)
    assert (ttl, mode, meta["tier"]) == (0, PanicMode.PANIC_FULL, 1)


def test_persistent_panic_partially_caches(quota: AdaptivePanicQuota) -> None:
    """Smoke 3 (the spec's example): 35 minutes into a Ligue 1 panic: TTL 5, tier 2."""
    ttl, mode, meta = quota.calculate_ttl_strategy(60, 35.0, LIGUE_1)
    assert (ttl, mode, meta["tier"], meta["stakes"]) == (
        5,
        PanicMode.PANIC_PARTIAL,
        2,
        Stakes.MEDIUM,
    )


@pytest.mark.parametrize(
    ("context", "expected_tier"),
    [
        pytest.param({"league": "UCL"}, 1, id="high-stakes-still-tier1"),
        pytest.param(LIGUE_1, 2, id="medium-stakes-already-tier2"),
    ],
)
def test_context_changes_the_tier(
    quota: AdaptivePanicQuota, context: dict[str, str], expected_tier: int
) -> None:
    """Smoke 4: at 45 minutes a UCL panic is still tier 1 while Ligue 1 is tier 2."""
    assert quota.calculate_ttl_strategy(60, 45, context)[2]["tier"] == expected_tier


def test_ten_identical_calls_give_one_answer(quota: AdaptivePanicQuota) -> None:
    """Smoke 5: ten identical calls return ten equal decisions."""
    decisions = [quota.calculate_ttl_strategy(60, 35.0, LIGUE_1) for _ in range(10)]
    assert all(decision == decisions[0] for decision in decisions)
    assert (decisions[0][0], decisions[0][2]["tier"]) == (5, 2)


def test_empty_context_is_low_stakes(quota: AdaptivePanicQuota) -> None:
    """The seed's fixed case: an empty context at 20 minutes is low stakes, tier 2."""
    ttl, _, meta = quota.calculate_ttl_strategy(60, 20, {})
    assert (meta["stakes"], meta["tier"], ttl) == (Stakes.LOW, 2, 5)


def test_low_stakes_at_45_minutes_is_degraded(quota: AdaptivePanicQuota) -> None:
    """The seed's other fix: 45 minutes is where low stakes reach tier 3."""
    _, mode, meta = quota.calculate_ttl_strategy(60, 45, {})
    assert (mode, meta["tier"]) == (PanicMode.DEGRADED, 3)


def test_seven_days_is_chronic(quota: AdaptivePanicQuota) -> None:
    """A week-long panic (10,080 minutes) is tier 4."""
    ttl, mode, meta = quota.calculate_ttl_strategy(60, 10_080, LIGUE_1)
    assert (ttl, mode, meta["tier"]) == (60, PanicMode.CHRONIC, 4)


def test_duration_is_rounded_only_in_the_metadata(quota: AdaptivePanicQuota) -> None:
    """35.123456789012345 minutes is reported as 35.1."""
    meta = quota.calculate_ttl_strategy(60, 35.123456789012345, LIGUE_1)[2]
    assert meta["panic_duration_minutes"] == 35.1


@pytest.mark.parametrize(
    ("duration", "expected_tier"),
    [(29.9999, 1), (30.0, 2), (29.96, 1)],
    ids=["just-below", "exactly-at", "rounds-up-to-30-in-meta-only"],
)
def test_tier_is_decided_on_the_raw_duration(
    quota: AdaptivePanicQuota, duration: float, expected_tier: int
) -> None:
    """29.9999 is tier 1 for medium stakes and 30.0 is tier 2, whatever the rounding shows."""
    assert quota.calculate_ttl_strategy(60, duration, LIGUE_1)[2]["tier"] == expected_tier
