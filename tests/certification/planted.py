"""Policies for the certification tests: correct ones, and ones with one planted defect each."""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from typing import Any

from panicquota import AdaptivePanicQuota, PanicMode
from panicquota.tiers import MODE_BY_TIER

#: A correct policy with other thresholds, TTLs and keywords than the defaults.
RECONFIGURED = AdaptivePanicQuota(
    thresholds={"high": (40, 100, 250), "medium": (12.5, 33.3, 77.7), "low": (5, 10, 20)},
    ttls=(2, 7, 19, 45),
    rules={"high": ["Grand Final", "Derby"], "medium": ["Division One"], "low": ["Sunday League"]},
)


def make_reconfigured() -> AdaptivePanicQuota:
    """Return the reconfigured policy: a zero-argument factory target."""
    return RECONFIGURED


class OwnPolicy:
    """A correct policy written from scratch: one threshold set, thresholds reported as a tuple."""

    BOUNDS = (20.0, 50.0, 120.0)
    TTLS = (0, 3, 20, 40)

    def calculate_ttl_strategy(
        self, normal_ttl: float, panic_duration_minutes: float | None, context: Any = None
    ) -> tuple[float, PanicMode, Mapping[str, Any]]:
        """Decide like the spec, for a single stakes level."""
        for name, value in (("normal_ttl", normal_ttl), ("duration", panic_duration_minutes)):
            if value is None and name == "duration":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{name} must be a number, got {value!r}")
            if not 0 <= value < float("inf"):
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
        if context is not None and not isinstance(context, str | Mapping):
            raise TypeError(f"context must be a mapping, a string or None, got {context!r}")
        duration = panic_duration_minutes or 0
        tier = bisect_right(self.BOUNDS, duration) + 1 if duration else 0
        ttl = normal_ttl if tier == 0 else min(self.TTLS[tier - 1], normal_ttl)
        meta = {
            "tier": tier,
            "mode": MODE_BY_TIER[tier],
            "ttl": ttl,
            "stakes": "low_stakes",
            "panic_duration_minutes": round(float(duration), 1),
            "thresholds": self.BOUNDS,
            "alert": f"tier {tier} for {duration:.1f} min" if tier >= 3 else None,
        }
        return ttl, MODE_BY_TIER[tier], meta


class OwnPolicyWithMapping(OwnPolicy):
    """The same policy, reporting its thresholds as a ``tier2``..``tier4`` mapping."""

    def calculate_ttl_strategy(
        self, normal_ttl: float, panic_duration_minutes: float | None, context: Any = None
    ) -> tuple[float, PanicMode, Mapping[str, Any]]:
        """Decide like :class:`OwnPolicy`; report thresholds by name."""
        ttl, mode, meta = super().calculate_ttl_strategy(
            normal_ttl, panic_duration_minutes, context
        )
        tier2, tier3, tier4 = self.BOUNDS
        return ttl, mode, {**meta, "thresholds": {"tier2": tier2, "tier3": tier3, "tier4": tier4}}


class Planted:
    """The default policy with one defect planted by a subclass."""

    def __init__(self) -> None:
        self.inner = AdaptivePanicQuota()

    def calculate_ttl_strategy(
        self, normal_ttl: Any, panic_duration_minutes: Any, context: Any = None
    ) -> tuple[Any, Any, dict[str, Any]]:
        """Decide with the default policy, then let the subclass spoil the answer."""
        ttl, mode, meta = self.inner.calculate_ttl_strategy(
            normal_ttl, panic_duration_minutes, context
        )
        return self.spoil(ttl, mode, dict(meta), normal_ttl, panic_duration_minutes, context)

    def spoil(self, ttl: Any, mode: Any, meta: dict[str, Any], *call: Any) -> Any:
        """Return the answer with the planted defect."""
        return ttl, mode, meta


class Stateful(Planted):
    """Remembers the longest panic it has seen and never answers below it."""

    def __init__(self) -> None:
        super().__init__()
        self.longest = 0.0

    def calculate_ttl_strategy(self, normal_ttl: Any, duration: Any, context: Any = None) -> Any:
        """Decide as if the panic had lasted as long as the longest one seen."""
        if isinstance(duration, int | float) and duration > 0:
            self.longest = max(self.longest, duration)
            duration = self.longest
        return super().calculate_ttl_strategy(normal_ttl, duration, context)


#: Names whose set order changes with PYTHONHASHSEED.
_TEAMS = {"ops", "cache", "upstream", "api", "edge", "db", "queue", "cdn"}


class HashOrder(Planted):
    """Writes its alert from a set's iteration order, which depends on the hash seed."""

    def spoil(self, ttl: Any, mode: Any, meta: dict[str, Any], *call: Any) -> Any:
        """Name the teams to page in set order."""
        if meta["alert"] is not None:
            meta["alert"] = f"{meta['alert']}; page {', '.join(_TEAMS)}"
        return ttl, mode, meta


_SEEN: list[Any] = []


class Leaking(Planted):
    """Keeps every call's arguments in a module-level list."""

    def spoil(self, ttl: Any, mode: Any, meta: dict[str, Any], *call: Any) -> Any:
        """Remember the call, forever."""
        _SEEN.append(call)
        return ttl, mode, meta


class Slow(Planted):
    """Spins for 3 ms on every call."""

    def spoil(self, ttl: Any, mode: Any, meta: dict[str, Any], *call: Any) -> Any:
        """Burn time."""
        deadline = time.perf_counter() + 0.003
        while time.perf_counter() < deadline:
            pass
        return ttl, mode, meta


class MutatesContext(Planted):
    """Marks the caller's context mapping as seen."""

    def spoil(self, ttl: Any, mode: Any, meta: dict[str, Any], *call: Any) -> Any:
        """Write into the context."""
        context = call[2]
        if isinstance(context, dict):
            context["seen"] = True
        return ttl, mode, meta


class _Tiered(Planted):
    """Re-decides the tier with a spoiled comparison."""

    def tier_of(self, bounds: tuple[float, ...], duration: float) -> int:
        raise NotImplementedError

    def spoil(self, ttl: Any, mode: Any, meta: dict[str, Any], *call: Any) -> Any:
        """Recompute tier, mode, TTL and alert from the spoiled tier."""
        normal_ttl, duration, _ = call
        if not duration:
            return ttl, mode, meta
        tier = self.tier_of(tuple(meta["thresholds"]), duration)
        ttl = min((0, 5, 30, 60)[tier - 1], normal_ttl)
        mode = MODE_BY_TIER[tier]
        alert = "alert" if tier >= 3 else None
        meta.update(tier=tier, mode=mode, ttl=ttl, alert=alert)
        return ttl, mode, meta


class OffByOne(_Tiered):
    """Starts each tier just after its threshold (``>`` instead of ``>=``)."""

    def tier_of(self, bounds: tuple[float, ...], duration: float) -> int:
        """Compare strictly."""
        return bisect_left(bounds, duration) + 1


class RoundsFirst(_Tiered):
    """Rounds the duration to 0.1 before comparing it to the thresholds."""

    def tier_of(self, bounds: tuple[float, ...], duration: float) -> int:
        """Round, then compare."""
        return bisect_right(bounds, round(duration, 1)) + 1


class TTLAboveNormal(Planted):
    """Serves the tier's TTL even when it exceeds normal_ttl."""

    def spoil(self, ttl: Any, mode: Any, meta: dict[str, Any], *call: Any) -> Any:
        """Forget the cap."""
        if meta["tier"] > 0:
            ttl = (0, 5, 30, 60)[meta["tier"] - 1]
            meta["ttl"] = ttl
        return ttl, mode, meta


class MissingMetadata(Planted):
    """Leaves the alert out of its metadata."""

    def spoil(self, ttl: Any, mode: Any, meta: dict[str, Any], *call: Any) -> Any:
        """Drop a key."""
        del meta["alert"]
        return ttl, mode, meta


class LowestStakesWins(Planted):
    """Classifies mixed contexts by the lowest stakes matched."""

    def spoil(self, ttl: Any, mode: Any, meta: dict[str, Any], *call: Any) -> Any:
        """Downgrade a high-stakes context that also names a medium league."""
        context = call[2]
        if meta["stakes"] == "high_stakes" and isinstance(context, str) and "Ligue 1" in context:
            meta["stakes"] = "medium_stakes"
        return ttl, mode, meta


class EarlyAlert(Planted):
    """Raises an alert from tier 2 on."""

    def spoil(self, ttl: Any, mode: Any, meta: dict[str, Any], *call: Any) -> Any:
        """Alert too soon."""
        if meta["tier"] == 2:
            meta["alert"] = "panic tier 2"
        return ttl, mode, meta


class NegativeAccepted(Planted):
    """Treats a negative duration as no panic instead of rejecting it."""

    def calculate_ttl_strategy(self, normal_ttl: Any, duration: Any, context: Any = None) -> Any:
        """Clamp negative durations to 0."""
        if isinstance(duration, int | float) and duration < 0:
            duration = 0
        return super().calculate_ttl_strategy(normal_ttl, duration, context)


class NotAPolicy:
    """Has no calculate_ttl_strategy."""


#: Neither a policy nor a way to make one.
NOT_A_POLICY = 42


def broken_factory() -> AdaptivePanicQuota:
    """Fail to build a policy, as a misconfigured factory would."""
    return AdaptivePanicQuota({"medium": (30, 20, 10)})
