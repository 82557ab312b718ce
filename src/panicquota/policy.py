"""AdaptivePanicQuota: the pure policy that turns a panic's duration into a TTL."""

from __future__ import annotations

import sys
from bisect import bisect_right as _bisect_right
from collections.abc import Iterable, Mapping
from os import PathLike
from types import MappingProxyType
from typing import Any, Final

from panicquota._validate import require_number
from panicquota.decision import Decision, DecisionMeta, TierProfile
from panicquota.errors import ConfigError
from panicquota.stakes import (
    CONTEXT_FIELDS,
    Context,
    ContextKey,
    MatchImportance,
    Stakes,
    context_key,
)
from panicquota.tiers import (
    DEFAULT_TTLS,
    PanicMode,
    Thresholds,
    TierTTLs,
    coerce_thresholds,
)

__all__ = ["AdaptivePanicQuota"]

#: The largest accepted number: an int above it has no float value (its metadata would overflow).
_MAX: Final = sys.float_info.max
#: The key of a default-keys mapping that has none of them.
_UNREAD: Final = (None, None, None, None)
_REAL_TYPES: Final = (int, float)
_new_object: Final = object.__new__
_NORMAL: Final = PanicMode.NORMAL  # enum class attribute look-ups are slow


class AdaptivePanicQuota:
    """Re-enable caching tier by tier as a panic lasts, by how much the event matters.

    The policy is pure: the same arguments give the same decision in any
    process, it keeps no state between calls and changes neither its
    arguments nor itself, so it is thread- and process-safe without locks.

    Args:
        thresholds: minutes at which tiers 2, 3, 4 start, per stakes level
            (``{Stakes.MEDIUM: Thresholds(30, 90, 180)}``, tuples or mappings
            accepted); levels left out keep their defaults.
        ttls: the TTL of each tier in seconds (default 0 / 5 / 30 / 60).
        rules: keywords per stakes level (see :class:`MatchImportance`); a level
            named replaces that level's keywords, the others keep their defaults.
        importance: a ready classifier, instead of *rules* and *context_keys*.
        context_keys: the mapping keys a mapping context is classified by
            (default ``league``, ``competition``, ``tournament``, ``event``).

    Raises:
        ConfigError: thresholds that are not positive and strictly increasing
            (the message names the stakes and the values), TTLs that fall from
            one tier to the next, or *importance* given with *rules* or *context_keys*.

    Example::

        >>> ttl, mode, meta = AdaptivePanicQuota().calculate_ttl_strategy(
        ...     60, 35.0, {"league": "Ligue 1"})
        >>> ttl, mode.value, meta["tier"]
        (5, 'PANIC_PARTIAL', 2)
    """

    __slots__ = ("_default_keys", "_importance", "_table_by_key", "_tables", "_thresholds", "_ttls")

    def __init__(
        self,
        thresholds: Mapping[Any, Any] | None = None,
        ttls: TierTTLs | Mapping[str, float] | Iterable[float] | None = None,
        *,
        rules: Mapping[Any, Iterable[str]] | None = None,
        importance: MatchImportance | None = None,
        context_keys: Iterable[str] | None = None,
    ) -> None:
        if importance is not None and (rules is not None or context_keys is not None):
            given = "rules" if rules is not None else "context_keys"
            raise ConfigError(f"pass either {given} or importance, not both")
        self._thresholds: Mapping[Stakes, Thresholds] = MappingProxyType(
            coerce_thresholds(thresholds)
        )
        self._ttls = DEFAULT_TTLS if ttls is None else TierTTLs.coerce(ttls)
        if importance is None:
            importance = MatchImportance(
                rules, keys=CONTEXT_FIELDS if context_keys is None else context_keys
            )
        self._importance = importance
        self._default_keys = importance.keys == CONTEXT_FIELDS
        # Everything that does not depend on the call's arguments, computed once:
        # per stakes, the tier boundaries and a (ttl, mode, profile) row per tier.
        self._tables: Mapping[Stakes, _StakesTable] = MappingProxyType(
            {
                stakes: _stakes_table(stakes, bounds, self._ttls)
                for stakes, bounds in self._thresholds.items()
            }
        )
        # Maps a context key straight to its stakes' table in one dict look-up
        # (hashing a str enum member would run Python code).
        self._table_by_key = self._importance.memo(self._tables.__getitem__)

    @classmethod
    def from_toml(cls, path: str | PathLike[str]) -> AdaptivePanicQuota:
        """Build a policy from a TOML file (a standalone file or a ``pyproject.toml``).

        Raises:
            ConfigError: the file cannot be read or a key is invalid; the
                message names the file and the key.
        """
        from panicquota.config import load_policy_config  # tomllib, only when asked for

        return cls(**load_policy_config(path))

    @property
    def thresholds(self) -> Mapping[Stakes, Thresholds]:
        """The thresholds of each stakes level (read-only)."""
        return self._thresholds

    @property
    def ttls(self) -> TierTTLs:
        """The TTL of each tier, in seconds."""
        return self._ttls

    @property
    def importance(self) -> MatchImportance:
        """The classifier that maps a context to its stakes."""
        return self._importance

    def classify(self, context: Context) -> Stakes:
        """Return the stakes of *context* (see :meth:`MatchImportance.classify`)."""
        return self._importance.classify(context)

    def calculate_ttl_strategy(
        self,
        normal_ttl: float,
        panic_duration_minutes: float | None,
        context: Context = None,
    ) -> Decision:
        """Return the cache TTL for a request, given how long the panic has lasted.

        Args:
            normal_ttl: the TTL outside panic, in seconds; panic TTLs never exceed it.
            panic_duration_minutes: how long the panic has lasted; ``None`` or
                ``0`` means no panic.
            context: the request's context (``{"league": ...}``, a string or ``None``).

        Returns:
            ``(ttl, mode, meta)``: the TTL in seconds, the :class:`PanicMode`
            and a read-only :class:`DecisionMeta` mapping.

        Raises:
            InvalidArgumentError: a negative, NaN or infinite TTL or duration.
            InvalidTypeError: an argument of the wrong type.
        """
        # The common case is checked inline: this runs on every request.
        if type(normal_ttl) not in _REAL_TYPES or not 0 <= normal_ttl <= _MAX:
            require_number("normal_ttl", normal_ttl)
        duration = panic_duration_minutes
        if duration is None:
            duration = 0.0
        elif type(duration) not in _REAL_TYPES or not 0 <= duration <= _MAX:
            duration = require_number("panic_duration_minutes", duration)
        # context_key() inlined for its two common cases: this runs on every request.
        if type(context) is dict and self._default_keys:
            league = context.get("league")
            key: ContextKey = (
                league,
                context.get("competition"),
                context.get("tournament"),
                context.get("event"),
            )
            # The league is almost always there: skip the tuple comparison then.
            if league is None and key == _UNREAD:
                self._importance.unread(context)
        elif type(context) is str or context is None:
            key = context
        else:
            key = context_key(context, self._importance.keys)
            if type(key) is tuple and not any(v is not None for v in key):
                self._importance.unread(context)  # type: ignore[arg-type]  # a mapping
        try:
            bounds, rows, normal = self._table_by_key[key]
        except TypeError:  # an unhashable value (a list, a dict) under a read key
            self._importance.classify(context)  # raises the classifier's own error
            raise
        if duration:
            # Tiers are decided on the raw duration; only the metadata rounds it.
            # bisect_right puts a duration equal to a threshold in the higher tier.
            ttl, mode, profile = rows[_bisect_right(bounds, duration)]
            if ttl > normal_ttl:
                ttl = normal_ttl
        else:
            ttl, mode, profile = normal_ttl, _NORMAL, normal
        # DecisionMeta(profile, duration, normal_ttl) without running a Python
        # __init__ frame: it would cost a fifth of the policy's budget.
        meta = _new_object(DecisionMeta)
        meta._profile = profile
        meta._duration = duration
        meta._normal_ttl = normal_ttl
        return (ttl, mode, meta)

    def __eq__(self, other: object) -> bool:
        # A subclass may decide differently: equal only to its own kind.
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, AdaptivePanicQuota)
        return (
            dict(self._thresholds) == dict(other._thresholds)
            and self._ttls == other._ttls
            and self._importance == other._importance
            and getattr(self, "__dict__", None) == getattr(other, "__dict__", None)
        )

    def __hash__(self) -> int:
        return hash((tuple(self._thresholds.items()), self._ttls, self._importance))

    def __reduce__(self) -> tuple[Any, ...]:
        # The configuration, not the derived tables and memo; the class itself,
        # so a subclass comes back as a subclass, with its own attributes.
        return (
            _rebuild,
            (type(self), dict(self._thresholds), self._ttls, self._importance),
            getattr(self, "__dict__", None) or None,
        )

    def __repr__(self) -> str:
        thresholds = {s.value: tuple(t) for s, t in self._thresholds.items()}
        ttls = tuple(self._ttls.as_dict().values())
        rules = {s.value: list(k) for s, k in self._importance.rules.items()}
        keys = "" if self._default_keys else f", context_keys={self._importance.keys!r}"
        return (
            f"{type(self).__name__}(thresholds={thresholds!r}, ttls={ttls!r}, "
            f"rules={rules!r}{keys})"
        )


#: Per stakes: the minutes at which tiers 2-4 start, a (ttl, mode, profile) row
#: for each of tiers 1-4, and the tier-0 profile. A plain tuple: unpacking a
#: tuple subclass (NamedTuple) is not specialised by the interpreter.
_StakesTable = tuple[
    tuple[float, float, float], tuple[tuple[float, PanicMode, TierProfile], ...], TierProfile
]


def _stakes_table(stakes: Stakes, bounds: Thresholds, ttls: TierTTLs) -> _StakesTable:
    profiles = [TierProfile.build(stakes, tier, bounds, ttls[tier]) for tier in range(1, 5)]
    return (
        (bounds.tier2, bounds.tier3, bounds.tier4),
        tuple((p.tier_ttl, p.mode, p) for p in profiles),
        TierProfile.build(stakes, 0, bounds, 0),
    )


def _rebuild(
    cls: type[AdaptivePanicQuota],
    thresholds: dict[Stakes, Thresholds],
    ttls: TierTTLs,
    importance: MatchImportance,
) -> AdaptivePanicQuota:
    # Not cls(...): a subclass's __init__ may take other arguments.
    policy = cls.__new__(cls)
    AdaptivePanicQuota.__init__(policy, thresholds, ttls, importance=importance)
    return policy
