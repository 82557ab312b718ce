"""The four panic tiers: the modes, the thresholds that start them, their TTLs."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from panicquota.errors import ConfigError, InvalidTypeError
from panicquota.stakes import Stakes

__all__ = [
    "DEFAULT_THRESHOLDS",
    "DEFAULT_TTLS",
    "MODE_BY_TIER",
    "TIER_BY_MODE",
    "PanicMode",
    "Thresholds",
    "TierTTLs",
]


class PanicMode(StrEnum):
    """The caching mode a decision puts a request in; each value equals its name."""

    NORMAL = "NORMAL"
    PANIC_FULL = "PANIC_FULL"
    PANIC_PARTIAL = "PANIC_PARTIAL"
    DEGRADED = "DEGRADED"
    CHRONIC = "CHRONIC"


#: Tier 0 is "no panic"; tiers 1-4 are the panic tiers.
MODE_BY_TIER: Final = (
    PanicMode.NORMAL,
    PanicMode.PANIC_FULL,
    PanicMode.PANIC_PARTIAL,
    PanicMode.DEGRADED,
    PanicMode.CHRONIC,
)
#: The tier of each mode: the inverse of MODE_BY_TIER.
TIER_BY_MODE: Final = {mode: tier for tier, mode in enumerate(MODE_BY_TIER)}


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Panic durations, in minutes, at which tiers 2, 3 and 4 start.

    A duration below ``tier2`` is tier 1. The seed's "tier1=30" for Ligue 1
    is ``tier2=30`` here.

    Raises:
        InvalidTypeError: a value is not a real number.
        ConfigError: the values are not positive, finite and strictly increasing.
    """

    tier2: float
    tier3: float
    tier4: float

    def __post_init__(self) -> None:
        values = (self.tier2, self.tier3, self.tier4)
        if not all(map(_is_real, values)):
            raise InvalidTypeError(f"thresholds must be numbers of minutes, got {self!r}")
        if not (0 < self.tier2 < self.tier3 < self.tier4 < math.inf):
            raise ConfigError(
                "thresholds must be positive, finite and strictly increasing "
                f"(0 < tier2 < tier3 < tier4), got {self!r}"
            )

    @classmethod
    def coerce(cls, value: object) -> Thresholds:
        """Build thresholds from ``Thresholds``, ``(tier2, tier3, tier4)`` or a mapping."""
        if isinstance(value, Thresholds):
            return value
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - {"tier2", "tier3", "tier4"})
            if unknown or len(value) != 3:
                # The prototype named each threshold after the tier it ends.
                hint = (
                    " (each key names the tier that starts there: the prototype's "
                    "tier1=30 is tier2=30)"
                    if "tier1" in value
                    else ""
                )
                raise ConfigError(
                    "thresholds need exactly the keys 'tier2', 'tier3', 'tier4', "
                    f"got {dict(value)!r}{hint}"
                )
            return cls(value["tier2"], value["tier3"], value["tier4"])
        if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 3:
            return cls(*value)
        raise ConfigError(
            "thresholds must be Thresholds, a (tier2, tier3, tier4) sequence or a mapping "
            f"with those keys, got {value!r}"
        )

    def tier_of(self, minutes: float) -> int:
        """Return the panic tier (1-4) of a panic that has lasted *minutes*."""
        if minutes < self.tier2:
            return 1
        if minutes < self.tier3:
            return 2
        return 3 if minutes < self.tier4 else 4

    def __iter__(self) -> Iterator[float]:
        return iter((self.tier2, self.tier3, self.tier4))

    def as_dict(self) -> dict[str, float]:
        """Return ``{"tier2": ..., "tier3": ..., "tier4": ...}``."""
        return {"tier2": self.tier2, "tier3": self.tier3, "tier4": self.tier4}


@dataclass(frozen=True, slots=True)
class TierTTLs:
    """The cache TTL, in seconds, of each panic tier (capped by ``normal_ttl``).

    Raises:
        InvalidTypeError: a value is not a real number.
        ConfigError: a value is negative or infinite, or the TTLs fall from one
            tier to the next (a longer panic must never cache less).
    """

    tier1: float = 0
    tier2: float = 5
    tier3: float = 30
    tier4: float = 60

    def __post_init__(self) -> None:
        values = (self.tier1, self.tier2, self.tier3, self.tier4)
        if not all(map(_is_real, values)):
            raise InvalidTypeError(f"TTLs must be numbers of seconds, got {self!r}")
        if not (0 <= self.tier1 <= self.tier2 <= self.tier3 <= self.tier4 < math.inf):
            raise ConfigError(
                "TTLs must be finite, >= 0 and non-decreasing "
                f"(0 <= tier1 <= tier2 <= tier3 <= tier4), got {self!r}"
            )

    @classmethod
    def coerce(cls, value: object) -> TierTTLs:
        """Build TTLs from ``TierTTLs``, ``(tier1, ..., tier4)`` or a mapping of those keys."""
        if isinstance(value, TierTTLs):
            return value
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - {"tier1", "tier2", "tier3", "tier4"})
            if unknown:
                raise ConfigError(
                    f"TTLs accept the keys 'tier1' to 'tier4', got unknown keys {unknown!r}"
                )
            return cls(**value)
        if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 4:
            return cls(*value)
        raise ConfigError(
            "TTLs must be TierTTLs, a (tier1, tier2, tier3, tier4) sequence or a mapping "
            f"with those keys, got {value!r}"
        )

    def __getitem__(self, tier: int) -> float:
        return (self.tier1, self.tier2, self.tier3, self.tier4)[tier - 1]

    def as_dict(self) -> dict[str, float]:
        """Return ``{"tier1": ..., ..., "tier4": ...}``."""
        return {"tier1": self.tier1, "tier2": self.tier2, "tier3": self.tier3, "tier4": self.tier4}


DEFAULT_THRESHOLDS: Final[Mapping[Stakes, Thresholds]] = MappingProxyType(
    {
        Stakes.HIGH: Thresholds(60, 180, 360),
        Stakes.MEDIUM: Thresholds(30, 90, 180),
        Stakes.LOW: Thresholds(15, 45, 90),
    }
)

DEFAULT_TTLS: Final = TierTTLs()


def coerce_thresholds(raw: Mapping[Any, Any] | None) -> dict[Stakes, Thresholds]:
    """Return thresholds for every stakes level, defaults filling the ones not given.

    Raises:
        ConfigError: a level's thresholds are invalid; the message names the level.
    """
    result = dict(DEFAULT_THRESHOLDS)
    if raw is None:
        return result
    if not isinstance(raw, Mapping):
        raise InvalidTypeError(f"thresholds must be a mapping of stakes to thresholds, got {raw!r}")
    for raw_stakes, value in raw.items():
        stakes = Stakes.parse(raw_stakes)
        try:
            result[stakes] = Thresholds.coerce(value)
        except InvalidTypeError as error:
            raise InvalidTypeError(f"{stakes.value}: {error}") from None
        except ConfigError as error:
            raise ConfigError(f"{stakes.value}: {error}") from None
    return result
