"""The 3 x 4 stakes/tier matrix of SPEC §3, at and around every boundary."""

from __future__ import annotations

import pytest

from panicquota import AdaptivePanicQuota, PanicMode, Stakes

CONTEXTS = {
    Stakes.HIGH: {"league": "UEFA Champions League"},
    Stakes.MEDIUM: {"league": "Ligue 1"},
    Stakes.LOW: {"league": "Ligue 2"},
}
BOUNDARIES = {Stakes.HIGH: (60, 180, 360), Stakes.MEDIUM: (30, 90, 180), Stakes.LOW: (15, 45, 90)}
TIERS = {
    1: (0, PanicMode.PANIC_FULL),
    2: (5, PanicMode.PANIC_PARTIAL),
    3: (30, PanicMode.DEGRADED),
    4: (60, PanicMode.CHRONIC),
}


def _cases() -> list[object]:
    cases = []
    for stakes, (t2, t3, t4) in BOUNDARIES.items():
        points = [
            (0.001, 1),
            (t2 - 1e-9, 1),
            (t2, 2),
            (t2 + 1e-9, 2),
            (t3 - 1e-9, 2),
            (t3, 3),
            (t3 + 1e-9, 3),
            (t4 - 1e-9, 3),
            (t4, 4),
            (t4 * 10, 4),
        ]
        for duration, tier in points:
            cases.append(pytest.param(stakes, duration, tier, id=f"{stakes.value}-{duration:g}"))
    return cases


@pytest.mark.parametrize(("stakes", "duration", "tier"), _cases())
def test_every_stakes_and_tier(stakes: Stakes, duration: float, tier: int) -> None:
    """Each stakes level enters each tier exactly at its threshold, with its TTL and mode."""
    ttl, mode, meta = AdaptivePanicQuota().calculate_ttl_strategy(60, duration, CONTEXTS[stakes])
    assert (meta["stakes"], meta["tier"], ttl, mode) == (stakes, tier, *TIERS[tier])
    assert meta["ttl"] == ttl
    assert meta["mode"] is mode
    assert tuple(meta["thresholds"]) == BOUNDARIES[stakes]
    assert (meta["alert"] is not None) is (tier >= 3)


@pytest.mark.parametrize("tier", [3, 4])
def test_alert_says_what_happened(tier: int) -> None:
    """An alert names the tier, mode, stakes, duration and the TTL now served."""
    duration = {3: 100.0, 4: 200.04}[tier]
    ttl, mode, meta = AdaptivePanicQuota().calculate_ttl_strategy(60, duration, "Ligue 1")
    start = {3: 90, 4: 180}[tier]
    assert meta["alert"] == (
        f"panic tier {tier} ({mode.value}) for medium_stakes: the panic has lasted "
        f"{duration:.1f} min (tier {tier} starts at {start} min); caching re-enabled "
        f"with a {ttl} s TTL"
    )


@pytest.mark.parametrize(
    ("normal_ttl", "duration", "expected_ttl"),
    [
        pytest.param(3, 35, 3, id="tier2-capped-by-normal"),
        pytest.param(20, 100, 20, id="tier3-capped-by-normal"),
        pytest.param(0, 400, 0, id="no-cache-ever"),
        pytest.param(600, 400, 60, id="large-normal-not-reached"),
        pytest.param(2.5, 0, 2.5, id="float-normal-ttl-outside-panic"),
    ],
)
def test_panic_ttl_never_exceeds_normal_ttl(
    normal_ttl: float, duration: float, expected_ttl: float
) -> None:
    """A panic TTL is capped by the normal TTL; the metadata reports the capped value."""
    ttl, _, meta = AdaptivePanicQuota().calculate_ttl_strategy(normal_ttl, duration, "Ligue 1")
    assert ttl == expected_ttl == meta["ttl"]
    assert meta["normal_ttl"] == normal_ttl
