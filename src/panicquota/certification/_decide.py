"""One decision of the policy under certification, checked clause by clause."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from panicquota.stakes import Stakes
from panicquota.tiers import MODE_BY_TIER, Thresholds

__all__ = ["META_TYPES", "RANK", "Violation", "decide", "thresholds_of"]

#: The stakes levels, lowest first: the higher rank wins when several match.
RANK: Final[Mapping[str, int]] = {Stakes.LOW.value: 1, Stakes.MEDIUM.value: 2, Stakes.HIGH.value: 3}
#: The metadata every decision must have, and the types of its values.
META_TYPES: Final[Mapping[str, tuple[type, ...]]] = {
    "tier": (int,),
    "mode": (str,),
    "ttl": (int, float),
    "stakes": (str,),
    "panic_duration_minutes": (int, float),
    "alert": (str, type(None)),
}


class Violation(Exception):
    """One broken clause of the contract; its text is the report sentence."""


def thresholds_of(meta: Mapping[str, Any], where: str) -> Thresholds:
    """Return the thresholds a decision's metadata reports.

    Raises:
        Violation: they are not thresholds in any accepted form.
    """
    raw = meta.get("thresholds")
    try:
        return Thresholds.coerce(raw)
    except (TypeError, ValueError):
        raise Violation(
            f"{where}: meta['thresholds'] is {raw!r}; it must be Thresholds, a (tier2, tier3, "
            "tier4) sequence or a mapping with those keys"
        ) from None


def decide(
    policy: Any, normal_ttl: float, duration: float | None, context: Any
) -> tuple[Any, int, Mapping[str, Any]]:
    """Return ``(ttl, tier, meta)`` of one call, after checking the clauses every answer obeys.

    Raises:
        Violation: the call raised, or its answer breaks a clause (metadata
            keys and types, tier and mode, TTL within ``[0, normal_ttl]``,
            alerts at tiers 3-4 only).
    """
    where = f"calculate_ttl_strategy({normal_ttl!r}, {duration!r}, {context!r})"
    try:
        ttl, mode, meta = policy.calculate_ttl_strategy(normal_ttl, duration, context)
    except Exception as error:
        raise Violation(f"{where} raised {type(error).__name__}: {error}") from None
    if not isinstance(meta, Mapping):
        raise Violation(f"{where} returned metadata {meta!r}; it must be a mapping")
    missing = [key for key in (*META_TYPES, "thresholds") if key not in meta]
    if missing:
        raise Violation(f"{where}: the metadata lacks the keys {missing!r}")
    for key, types in META_TYPES.items():
        value = meta[key]
        if not isinstance(value, types) or isinstance(value, bool):
            accepted = " or ".join(t.__name__ for t in types)
            raise Violation(f"{where}: meta[{key!r}] is {value!r}; it must be {accepted}")
    if meta["stakes"] not in RANK:
        raise Violation(
            f"{where}: meta['stakes'] is {meta['stakes']!r}; it must be one of {sorted(RANK)!r}"
        )
    tier = meta["tier"]
    if tier not in range(5) or mode != MODE_BY_TIER[tier] or meta["mode"] != mode:
        raise Violation(
            f"{where}: tier {tier!r} with mode {mode!r} (meta['mode'] {meta['mode']!r}); the "
            f"modes of tiers 0-4 are {[m.value for m in MODE_BY_TIER]!r}"
        )
    if meta["ttl"] != ttl:
        raise Violation(f"{where}: meta['ttl'] is {meta['ttl']!r} but the TTL is {ttl!r}")
    if not isinstance(ttl, int | float) or not 0 <= ttl <= normal_ttl:
        raise Violation(f"{where}: the TTL is {ttl!r}; it must be within [0, {normal_ttl!r}]")
    if (meta["alert"] is not None) != (tier >= 3) or meta["alert"] == "":
        raise Violation(
            f"{where}: at tier {tier} meta['alert'] is {meta['alert']!r}; tiers 3-4 need an "
            "alert message, tiers 0-2 none"
        )
    return ttl, tier, meta
