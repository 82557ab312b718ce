"""What a policy decides: the TTL, the mode and a read-only metadata mapping."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from panicquota.stakes import Stakes
from panicquota.tiers import MODE_BY_TIER, PanicMode, Thresholds

__all__ = [
    "META_KEYS",
    "Decision",
    "DecisionMeta",
    "ExtendedMeta",
    "FrozenMeta",
    "TierProfile",
    "with_meta",
]

#: The keys every decision's metadata has, in iteration order.
META_KEYS: Final = (
    "tier",
    "mode",
    "ttl",
    "normal_ttl",
    "stakes",
    "panic_duration_minutes",
    "thresholds",
    "alert",
)

#: A policy's answer: unpacks as ``ttl, mode, meta``. A plain tuple rather than
#: a NamedTuple: building a tuple subclass costs a fifth of the policy's budget.
Decision = tuple[float, PanicMode, Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class TierProfile:
    """What is fixed for one (stakes, tier) pair of a policy: computed once, shared."""

    stakes: Stakes
    tier: int
    mode: PanicMode
    thresholds: Thresholds
    tier_ttl: float  # unused at tier 0, where the TTL is the caller's normal_ttl

    @classmethod
    def build(
        cls, stakes: Stakes, tier: int, thresholds: Thresholds, tier_ttl: float
    ) -> TierProfile:
        """Return the profile of *tier* for *stakes*."""
        return cls(stakes, tier, MODE_BY_TIER[tier], thresholds, tier_ttl)


class DecisionMeta(Mapping[str, Any]):
    """The read-only metadata of a decision.

    Keys: ``tier``, ``mode``, ``ttl``, ``normal_ttl``, ``stakes``,
    ``panic_duration_minutes`` (rounded to 0.1), ``thresholds``, ``alert`` (a
    message at tiers 3-4, else ``None``), plus whatever a caller such as the
    breaker adds with :func:`with_meta` (for example ``source``).

    Values are computed when read: a request that only uses the TTL does not
    pay for rounding or for formatting an alert. Compares equal to any mapping
    with the same items; pickles and hashes by value.
    """

    __slots__ = ("_duration", "_normal_ttl", "_profile")

    def __init__(self, profile: TierProfile, duration: float, normal_ttl: float) -> None:
        self._profile = profile
        self._duration = duration
        self._normal_ttl = normal_ttl

    def __getitem__(self, key: str) -> Any:
        profile = self._profile
        if key == "tier":
            return profile.tier
        if key == "mode":
            return profile.mode
        if key == "ttl":
            return self._ttl()
        if key == "normal_ttl":
            return self._normal_ttl
        if key == "stakes":
            return profile.stakes
        if key == "panic_duration_minutes":
            return round(float(self._duration), 1)
        if key == "thresholds":
            return profile.thresholds
        if key == "alert":
            return self._alert()
        raise KeyError(key)

    def _ttl(self) -> float:
        if self._profile.tier == 0:
            return self._normal_ttl
        return min(self._profile.tier_ttl, self._normal_ttl)

    def _alert(self) -> str | None:
        profile = self._profile
        if profile.tier < 3:
            return None
        bounds = profile.thresholds
        started_at = bounds.tier3 if profile.tier == 3 else bounds.tier4
        return (
            f"panic tier {profile.tier} ({profile.mode.value}) for {profile.stakes.value}: "
            f"the panic has lasted {self._duration:.1f} min (tier {profile.tier} starts at "
            f"{started_at:g} min); caching re-enabled with a {self._ttl():g} s TTL"
        )

    def __iter__(self) -> Iterator[str]:
        return iter(META_KEYS)

    def __len__(self) -> int:
        return len(META_KEYS)

    def __contains__(self, key: object) -> bool:
        return key in META_KEYS

    def __hash__(self) -> int:
        return hash(frozenset(self.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as its plain items: the receiving process needs no policy.
        return (FrozenMeta, (dict(self),))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self)!r})"


class FrozenMeta(Mapping[str, Any]):
    """Decision metadata held as plain items: unpickled or extended metadata."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Any]) -> None:
        self._items = dict(items)

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenMeta, (self._items,))

    def __repr__(self) -> str:
        return f"FrozenMeta({self._items!r})"


class ExtendedMeta(Mapping[str, Any]):
    """Decision metadata with extra items laid over a base mapping, read lazily.

    Built by :func:`with_meta` on a hot path (the breaker adds ``source`` to
    every decision), so it copies nothing: reads try the extras, then the base.
    """

    __slots__ = ("_base", "_extra")

    def __init__(self, base: Mapping[str, Any], extra: Mapping[str, Any]) -> None:
        self._base = base
        self._extra = extra

    def __getitem__(self, key: str) -> Any:
        if key in self._extra:
            return self._extra[key]
        return self._base[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._base
        for key in self._extra:
            if key not in self._base:
                yield key

    def __len__(self) -> int:
        return len(self._base) + sum(1 for key in self._extra if key not in self._base)

    def __hash__(self) -> int:
        return hash(frozenset(self.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenMeta, (dict(self),))

    def __repr__(self) -> str:
        return f"ExtendedMeta({dict(self)!r})"


def with_meta(decision: Decision, extra: Mapping[str, Any]) -> Decision:
    """Return *decision* with *extra* items added to (or replacing items of) its metadata.

    *extra* is not copied: pass a mapping nobody will change.
    """
    ttl, mode, meta = decision
    return (ttl, mode, ExtendedMeta(meta, extra))
