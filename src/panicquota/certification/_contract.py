"""The contract criterion: every decision checked against what the policy itself reports.

It only calls ``calculate_ttl_strategy`` and reads what it reports (its
thresholds in ``meta["thresholds"]``, its tier TTLs from the answers at a
huge ``normal_ttl``, its keywords from ``importance.rules``), so it certifies
any implementation, with any thresholds, TTLs or keywords.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from itertools import pairwise
from typing import Any, Final

from panicquota._shared.state import difference, plain
from panicquota.certification._classification import check_classification
from panicquota.certification._contexts import NORMAL_TTLS, first_keywords, sample_contexts
from panicquota.certification._decide import Violation, decide, thresholds_of
from panicquota.certification._outcome import Outcome
from panicquota.tiers import Thresholds

__all__ = ["NORMAL_TTLS", "check_contract"]

#: normal_ttl values that are not whole seconds: they must be accepted and capped to.
FLOAT_TTLS: Final = (45.5, 0.5)
#: A normal_ttl above any tier TTL: the answers there are the policy's tier TTLs.
HUGE_TTL: Final = 10**9
#: Panics of a week and far beyond: the last tier must hold for ever.
LONG_PANICS: Final = (1e4, 1e5, 1e7)
#: Durations whose rounding to 0.1 shows (0.05 and 123.45 are ties in decimal).
ROUNDING_PROBES: Final = (0.04, 0.05, 35.123456789, 35.16, 123.45)
#: The largest step below and above a threshold, in minutes: far less than the
#: 0.1 the metadata rounds to, so rounding before comparing shows.
EPSILON: Final = 1e-4


def _check_rounding(meta: Mapping[str, Any], minutes: float, context: Any) -> None:
    reported = meta["panic_duration_minutes"]
    slack = 1e-9 * max(1.0, abs(minutes))
    if round(reported, 1) != reported or abs(reported - minutes) > 0.05 + slack:
        raise Violation(
            f"meta['panic_duration_minutes'] is {reported!r} for {minutes!r} minutes "
            f"({context!r}); it must be rounded to 0.1 (a multiple of 0.1 within 0.05, "
            f"such as {round(minutes, 1)!r})"
        )


def _no_panic(policy: Any, context: Any, normal_ttls: Iterable[float]) -> int:
    checked = 0
    for normal_ttl in normal_ttls:
        for duration in (None, 0, 0.0):
            ttl, tier, meta = decide(policy, normal_ttl, duration, context)
            checked += 1
            if tier != 0 or ttl != normal_ttl:
                raise Violation(
                    f"with no panic (duration {duration!r}) and normal_ttl {normal_ttl!r} the "
                    f"answer is TTL {ttl!r} at tier {tier}; it must be normal_ttl at tier 0"
                )
            if duration is not None:
                _check_rounding(meta, duration, context)
    return checked


def _sweep(bounds: Thresholds) -> list[float]:
    """Return durations across every tier: near each threshold, between them, far beyond."""
    edges = (0.0, *bounds, 10 * bounds.tier4)
    return sorted(
        {
            0.001,
            0.5,
            *ROUNDING_PROBES,
            *LONG_PANICS,
            10 * bounds.tier4,
            *(t + d for t in bounds for d in (-1, 0, 1) if t + d > 0),
            *((a + b) / 2 for a, b in pairwise(edges)),
        }
    )


def _boundaries(bounds: Thresholds) -> list[tuple[float, float]]:
    """Return ``(threshold, minutes)`` just below, at and just above each threshold, above 0."""
    found: list[tuple[float, float]] = []
    for start in bounds:
        # Scaled to tiny thresholds; at least one float step for huge ones.
        step = min(EPSILON, start / 10)
        below = min(start - step, math.nextafter(start, 0))
        above = max(start + step, math.nextafter(start, math.inf))
        found += [(start, minutes) for minutes in (below, start, above) if minutes > 0]
    return found


def _check_tier(tier: int, bounds: Thresholds, minutes: float, context: Any) -> None:
    if tier != bounds.tier_of(minutes):
        raise Violation(
            f"at {minutes!r} minutes ({context!r}) the tier is {tier}, expected "
            f"{bounds.tier_of(minutes)} for the thresholds {tuple(bounds)!r} the policy reports"
        )


def _tier_ttls(policy: Any, context: Any, bounds: Thresholds, sweep: list[float]) -> dict[int, Any]:
    """Return the TTL of each tier at a huge normal_ttl: one per tier, never falling."""
    ttls: dict[int, Any] = {}
    first: dict[int, float] = {}
    previous = -math.inf
    for minutes in sweep:
        ttl, tier, meta = decide(policy, HUGE_TTL, minutes, context)
        _check_tier(tier, bounds, minutes, context)
        _check_rounding(meta, minutes, context)
        if ttl < previous:
            raise Violation(
                f"the TTL fell from {previous!r} to {ttl!r} at {minutes!r} minutes "
                f"({context!r}, normal_ttl {HUGE_TTL!r}); it must never fall as a panic lasts"
            )
        previous = ttl
        ttls.setdefault(tier, ttl)
        first.setdefault(tier, minutes)
        if ttl != ttls[tier]:
            raise Violation(
                f"at {minutes!r} minutes ({context!r}, normal_ttl {HUGE_TTL!r}) the TTL is "
                f"{ttl!r} but {ttls[tier]!r} at {first[tier]!r} minutes, both in tier {tier}; "
                "a tier has one TTL however long the panic has lasted"
            )
    return ttls


def _capped(
    policy: Any,
    context: Any,
    bounds: Thresholds,
    durations: list[float],
    tier_ttls: Mapping[int, Any],
    normal_ttls: Iterable[float],
) -> int:
    checked = 0
    for normal_ttl in normal_ttls:
        for minutes in durations:
            ttl, tier, meta = decide(policy, normal_ttl, minutes, context)
            checked += 1
            _check_tier(tier, bounds, minutes, context)
            _check_rounding(meta, minutes, context)
            expected = min(tier_ttls[tier], normal_ttl)
            if ttl != expected:
                raise Violation(
                    f"at {minutes!r} minutes ({context!r}, normal_ttl {normal_ttl!r}) the TTL is "
                    f"{ttl!r}, expected {expected!r}: the tier-{tier} TTL "
                    f"{tier_ttls[tier]!r} capped at normal_ttl, exactly"
                )
    return checked


def _normal_ttls(tier_ttls: Mapping[int, Any]) -> list[float]:
    """Return the usual normal_ttls, floats, and each tier TTL, one below and one above it."""
    found: list[float] = [*NORMAL_TTLS, *FLOAT_TTLS]
    for ttl in tier_ttls.values():
        found += [value for value in (ttl - 1, ttl, ttl + 1) if value >= 0 and value not in found]
    return found


def _meta_isolated(policy: Any) -> int:
    """Check that a decision's metadata is read-only and not changed by a later call."""
    contexts = [None, *({"league": word} for word in first_keywords(policy, 1))]
    first = (60, 35.123456789, contexts[-1])
    second = (300, 400.0, contexts[0])
    _, _, meta = decide(policy, *first)
    before = plain(meta)
    decide(policy, *second)
    where = f"the metadata of calculate_ttl_strategy{first!r}"
    if plain(meta) != before:
        raise Violation(
            f"{where} changed when the policy answered calculate_ttl_strategy{second!r} "
            f"(before vs after: {difference(before, plain(meta), limit=2)}); each call must return "
            "metadata of its own"
        )
    try:
        meta["tier"] = 99  # type: ignore[index]
    except TypeError:
        return 2
    except Exception as error:
        raise Violation(
            f"{where} raised {type(error).__name__} on meta['tier'] = 99; a read-only mapping "
            "raises TypeError"
        ) from None
    raise Violation(f"{where} accepted meta['tier'] = 99; it must be a read-only mapping")


def _contract(policy: Any) -> int:
    checked = 0
    for context in sample_contexts(policy):
        checked += _no_panic(policy, context, [*NORMAL_TTLS, *FLOAT_TTLS, 0])
        _, _, meta = decide(policy, 60, 1.0, context)
        bounds = thresholds_of(meta, f"context {context!r}")
        sweep = _sweep(bounds)
        tier_ttls = _tier_ttls(policy, context, bounds, sweep)
        normal_ttls = _normal_ttls(tier_ttls)
        checked += len(sweep) + _capped(policy, context, bounds, sweep, tier_ttls, normal_ttls)
        for start, minutes in _boundaries(bounds):
            _, tier, meta = decide(policy, 60, minutes, context)
            checked += 1
            if tier != bounds.tier_of(minutes):
                raise Violation(
                    f"at {minutes!r} minutes ({context!r}) the tier is {tier}, expected "
                    f"{bounds.tier_of(minutes)}: tier {bounds.tier_of(start)} starts at exactly "
                    f"{start!r} minutes per meta['thresholds']"
                )
            _check_rounding(meta, minutes, context)
    return checked + check_classification(policy) + _meta_isolated(policy)


def check_contract(policy: Any) -> Outcome:
    """Check the decision contract against the thresholds, TTLs and keywords the policy shows."""
    try:
        checked = _contract(policy)
    except Violation as violation:
        return Outcome(False, str(violation), {})
    return Outcome(
        True,
        f"{checked} decisions: no-panic, tiers up to {LONG_PANICS[-1]:g} minutes and at "
        "their boundaries (just below, at, just above), one TTL per tier capped at "
        "normal_ttl exactly, metadata (read-only, rounded), alerts, stakes by keyword "
        f"(forms, whole words, priority); normal_ttl {', '.join(map(str, NORMAL_TTLS))}, "
        "floats and each tier TTL +-1",
        {"decisions": checked, "normal_ttls": list(NORMAL_TTLS)},
    )
