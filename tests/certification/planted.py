"""Policies for the certification tests: correct ones, and ones with one planted defect each."""

from __future__ import annotations

import math
import re
import time
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Any, ClassVar

from panicquota import AdaptivePanicQuota, MatchImportance, PanicMode, Stakes
from panicquota.stakes import DEFAULT_RULES, context_key
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
        if isinstance(context, Mapping):
            for key in ("league", "competition", "tournament", "event"):
                if not isinstance(context.get(key), str | None):
                    raise TypeError(f"context[{key!r}] must be a string or None, got {context!r}")
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
        return ttl, MODE_BY_TIER[tier], MappingProxyType(meta)


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
        thresholds = {"tier2": tier2, "tier3": tier3, "tier4": tier4}
        return ttl, mode, MappingProxyType({**meta, "thresholds": thresholds})


class Planted:
    """The default policy with one defect planted by a subclass."""

    def __init__(self) -> None:
        self.inner = AdaptivePanicQuota()

    def calculate_ttl_strategy(
        self, normal_ttl: Any, panic_duration_minutes: Any, context: Any = None
    ) -> tuple[Any, Any, Mapping[str, Any]]:
        """Decide with the default policy, then let the subclass spoil the answer."""
        ttl, mode, meta = self.inner.calculate_ttl_strategy(
            normal_ttl, panic_duration_minutes, context
        )
        ttl, mode, spoiled = self.spoil(
            ttl, mode, dict(meta), normal_ttl, panic_duration_minutes, context
        )
        # Read-only, as the spec asks: a plain dict would fail every policy here.
        return ttl, mode, MappingProxyType(spoiled) if type(spoiled) is dict else spoiled

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


# Correct policies the suite must certify: odd thresholds, rounding, keywords, caches.

#: Tier 2 starts after 0.00005 minutes: no boundary probe may go to 0 or below.
TINY_THRESHOLD = AdaptivePanicQuota(thresholds={"low": (0.00005, 1, 2)})
#: Thresholds so large that 1e-4 minutes below one is the same float.
HUGE_THRESHOLDS = AdaptivePanicQuota(thresholds={"high": (1e3, 1e6, 1e20)})
#: Keywords for high stakes only: medium and low have none.
NO_MEDIUM_KEYWORDS = AdaptivePanicQuota(rules={"high": ["Cup Final", "Derby"], "medium": []})


class HalfEvenRounding(Planted):
    """Rounds the reported duration as numpy does: the decimal tie 123.45 becomes 123.4."""

    def spoil(self, ttl: Any, mode: Any, meta: dict[str, Any], *call: Any) -> Any:
        """Round half to even on the duration times ten."""
        if call[1] is not None:
            meta["panic_duration_minutes"] = round(call[1] * 10) / 10
        return ttl, mode, meta


class HiddenRules:
    """A correct policy with its own keywords, not exposed: "Ligue 1" is high, "Cup" medium."""

    def __init__(self) -> None:
        self._policy = AdaptivePanicQuota(
            rules={"high": ["Ligue 1", "Derby"], "medium": ["Champions League", "Cup"]}
        )

    def calculate_ttl_strategy(self, normal_ttl: Any, duration: Any, context: Any = None) -> Any:
        """Decide with the hidden rules."""
        return self._policy.calculate_ttl_strategy(normal_ttl, duration, context)


_DEFAULT = AdaptivePanicQuota()


@lru_cache(maxsize=4096, typed=True)
def _cached_decision(normal_ttl: Any, duration: Any, key: Any) -> Any:
    if isinstance(key, tuple):
        key = dict(zip(("league", "competition", "tournament", "event"), key, strict=True))
    return _DEFAULT.calculate_ttl_strategy(normal_ttl, duration, key)


class LruCached:
    """A correct policy memoising its decisions in a bounded functools.lru_cache."""

    def calculate_ttl_strategy(self, normal_ttl: Any, duration: Any, context: Any = None) -> Any:
        """Decide through the cache (keyed by type too: True is not 1)."""
        return _cached_decision(normal_ttl, duration, context_key(context))


# Defects the suite used to certify, one planted per policy.

_TEXT_FIELDS = ("league", "competition", "tournament", "event")
#: A context of each stakes level, to decide as the default policy does for that level.
_OF_STAKES = {"high_stakes": "UCL", "medium_stakes": "Ligue 1", "low_stakes": None}


def _texts(context: Any, fields: tuple[str, ...] = _TEXT_FIELDS) -> list[str]:
    if isinstance(context, Mapping):
        return [value for key in fields if isinstance(value := context.get(key), str)]
    return [context] if isinstance(context, str) else []


def _matches(pattern: str, texts: list[str]) -> bool:
    return any(re.search(pattern, text, re.IGNORECASE) for text in texts)


class _Classifier(Planted):
    """Classifies contexts its own way, then decides as the default policy does for those stakes.

    It exposes the default rules as ``importance``, so the suite knows what to expect.
    """

    @property
    def importance(self) -> MatchImportance:
        """The rules it claims to follow: the default ones."""
        return self.inner.importance

    def stakes_of(self, context: Any) -> str:
        """Return the stakes of *context*."""
        raise NotImplementedError

    def calculate_ttl_strategy(self, normal_ttl: Any, duration: Any, context: Any = None) -> Any:
        """Reject what the default policy rejects, then decide by its own stakes."""
        self.inner.calculate_ttl_strategy(normal_ttl, duration, context)
        stakes = self.stakes_of(context)
        return super().calculate_ttl_strategy(normal_ttl, duration, _OF_STAKES[stakes])


def _by_keyword(texts: list[str], pattern_of: Any) -> str:
    for stakes in ("high_stakes", "medium_stakes"):
        if any(_matches(pattern_of(word), texts) for word in DEFAULT_RULES[Stakes(stakes)]):
            return stakes
    return "low_stakes"


def _whole_words(word: str) -> str:
    return r"(?<!\w)" + r"\s+".join(map(re.escape, word.split())) + r"(?!\w)"


_WITHOUT_SERIE_A = MatchImportance(
    {**DEFAULT_RULES, Stakes.MEDIUM: [w for w in DEFAULT_RULES[Stakes.MEDIUM] if w != "Serie A"]}
)


class SkipsAKeyword(_Classifier):
    """Lost "Serie A" from its medium keywords, while exposing the default rules."""

    def stakes_of(self, context: Any) -> str:
        """Classify without "Serie A"."""
        return _WITHOUT_SERIE_A.classify(context).value


class SubstringMatch(_Classifier):
    """Matches keywords anywhere, even inside other words ("Ligue 10" is "Ligue 1")."""

    importance = None  # type: ignore[assignment]  # hides its rules

    def stakes_of(self, context: Any) -> str:
        """Look for each keyword as a substring (any white space between its words)."""
        return _by_keyword(_texts(context), lambda word: r"\s+".join(map(re.escape, word.split())))


class SingleSpaceOnly(_Classifier):
    """Matches whole words, but only with the keyword's single spaces."""

    def stakes_of(self, context: Any) -> str:
        """Match the keyword's spaces literally."""
        return _by_keyword(_texts(context), lambda word: rf"(?<!\w){re.escape(word)}(?!\w)")


class ReadsLeagueAndEventOnly(_Classifier):
    """Reads a mapping's league and event values, not its competition or tournament."""

    def stakes_of(self, context: Any) -> str:
        """Ignore two of the four fields."""
        return _by_keyword(_texts(context, ("league", "event")), _whole_words)


class FirstFieldWins(_Classifier):
    """Classifies a mapping by its first value only, whatever the others say."""

    def stakes_of(self, context: Any) -> str:
        """Stop at the first value."""
        return _by_keyword(_texts(context)[:1], _whole_words)


#: A set: its iteration order changes with PYTHONHASHSEED.
_LEVELS = {"high_stakes", "medium_stakes", "low_stakes"}


class HashOrderPriority(_Classifier):
    """Returns the first stakes level matched in set order, not the highest."""

    def stakes_of(self, context: Any) -> str:
        """Try the levels in set order."""
        for stakes in _LEVELS:
            words = DEFAULT_RULES[Stakes(stakes)]
            if any(_matches(_whole_words(word), _texts(context)) for word in words):
                return stakes
        return "low_stakes"


class CapOffByOne(Planted):
    """Caps a panic TTL one second below normal_ttl ("a safety margin")."""

    def spoil(self, ttl: Any, mode: Any, meta: dict[str, Any], *call: Any) -> Any:
        """Serve one second less when the cap applies."""
        if meta["tier"] > 0 and ttl == call[0]:
            ttl = meta["ttl"] = max(0, ttl - 1)
        return ttl, mode, meta


class RejectsFloatTTL(Planted):
    """Accepts whole seconds only as normal_ttl."""

    def calculate_ttl_strategy(self, normal_ttl: Any, duration: Any, context: Any = None) -> Any:
        """Refuse 45.5 seconds."""
        if isinstance(normal_ttl, float):
            raise TypeError(f"normal_ttl must be whole seconds, got {normal_ttl!r}")
        return super().calculate_ttl_strategy(normal_ttl, duration, context)


_WEEK = 7 * 24 * 60


class ResetsAfterAWeek(_Tiered):
    """Takes a panic older than a week for a new one: back to tier 1."""

    def tier_of(self, bounds: tuple[float, ...], duration: float) -> int:
        """Start over after a week."""
        return 1 if duration >= _WEEK else bisect_right(bounds, duration) + 1


class RampsInTier4(Planted):
    """Adds a second of TTL per hour spent in tier 4."""

    def spoil(self, ttl: Any, mode: Any, meta: dict[str, Any], *call: Any) -> Any:
        """Ramp the tier-4 TTL up."""
        if meta["tier"] == 4:
            extra = int((call[1] - meta["thresholds"].tier4) // 60)
            ttl = meta["ttl"] = min(call[0], 60 + extra)
        return ttl, mode, meta


class UnroundedForMappings(Planted):
    """Reports the raw duration when the context is a mapping."""

    def spoil(self, ttl: Any, mode: Any, meta: dict[str, Any], *call: Any) -> Any:
        """Skip the rounding for mappings."""
        if isinstance(call[2], Mapping) and call[1] is not None:
            meta["panic_duration_minutes"] = call[1]
        return ttl, mode, meta


def _bad_number(value: Any) -> bool:
    return isinstance(value, int | float) and not 0 <= value < math.inf


class ValidatesOnlyWithoutContext(Planted):
    """Validates its numbers when the context is None; otherwise clamps them."""

    def calculate_ttl_strategy(self, normal_ttl: Any, duration: Any, context: Any = None) -> Any:
        """Clamp bad numbers when a context is given."""
        if context is not None:
            duration = 0 if _bad_number(duration) else duration
            normal_ttl = 60 if _bad_number(normal_ttl) else normal_ttl
        return super().calculate_ttl_strategy(normal_ttl, duration, context)


class AcceptsBool(Planted):
    """Takes True for 1 (a second, a minute)."""

    def calculate_ttl_strategy(self, normal_ttl: Any, duration: Any, context: Any = None) -> Any:
        """Turn bools into ints."""
        normal_ttl = int(normal_ttl) if type(normal_ttl) is bool else normal_ttl
        duration = int(duration) if type(duration) is bool else duration
        return super().calculate_ttl_strategy(normal_ttl, duration, context)


class DecodesBytes(Planted):
    """Decodes a bytes context instead of rejecting it."""

    def calculate_ttl_strategy(self, normal_ttl: Any, duration: Any, context: Any = None) -> Any:
        """Decode bytes."""
        if isinstance(context, bytes):
            context = context.decode()
        return super().calculate_ttl_strategy(normal_ttl, duration, context)


class StringifiesValues(Planted):
    """Turns a mapping's non-string values into strings instead of rejecting them."""

    def calculate_ttl_strategy(self, normal_ttl: Any, duration: Any, context: Any = None) -> Any:
        """Stringify the read values."""
        if isinstance(context, dict):
            context = {
                k: v if v is None or isinstance(v, str) else str(v) for k, v in context.items()
            }
        return super().calculate_ttl_strategy(normal_ttl, duration, context)


class ClassCounter(Planted):
    """Counts its calls on the class."""

    calls: ClassVar[int] = 0

    def spoil(self, ttl: Any, mode: Any, meta: dict[str, Any], *call: Any) -> Any:
        """Count."""
        ClassCounter.calls += 1
        return ttl, mode, meta


class NormalisesInPlace(Planted):
    """Tidies the white space of the caller's mapping values, in the caller's mapping."""

    def spoil(self, ttl: Any, mode: Any, meta: dict[str, Any], *call: Any) -> Any:
        """Strip and collapse white space in place."""
        context = call[2]
        if isinstance(context, dict):
            for key, value in context.items():
                if isinstance(value, str) and value != " ".join(value.split()):
                    context[key] = " ".join(value.split())
        return ttl, mode, meta


class MutatesNested(Planted):
    """Marks the nested mappings of the caller's context as classified."""

    def spoil(self, ttl: Any, mode: Any, meta: dict[str, Any], *call: Any) -> Any:
        """Write into nested values."""
        context = call[2]
        if isinstance(context, dict):
            for value in context.values():
                if isinstance(value, dict):
                    value["classified"] = True
        return ttl, mode, meta


class DriftsAfterManyCalls(Planted):
    """Serves tier-4 TTLs a second short once a hidden counter passes 5,000 calls."""

    def __init__(self) -> None:
        super().__init__()
        self._calls = 0

    def __reduce__(self) -> tuple[Any, ...]:
        # The counter is left out of the pickle: purity cannot see it.
        return (type(self), ())

    def spoil(self, ttl: Any, mode: Any, meta: dict[str, Any], *call: Any) -> Any:
        """Count, and drift past 5,000."""
        self._calls += 1
        if self._calls > 5000 and meta["tier"] == 4:
            ttl = meta["ttl"] = min(call[0], 59)
        return ttl, mode, meta


class BoundedCache(Planted):
    """Keeps its first 100 answers in an instance attribute that is part of its pickle."""

    def __init__(self) -> None:
        super().__init__()
        self.cache: dict[str, Any] = {}

    def calculate_ttl_strategy(self, normal_ttl: Any, duration: Any, context: Any = None) -> Any:
        """Answer from the cache, filling it up to 100 answers."""
        key = repr((type(normal_ttl), normal_ttl, type(duration), duration, context))
        if key not in self.cache:
            ttl, mode, meta = super().calculate_ttl_strategy(normal_ttl, duration, context)
            if len(self.cache) >= 100:
                return ttl, mode, meta
            self.cache[key] = (ttl, mode, dict(meta))
        ttl, mode, meta = self.cache[key]
        return ttl, mode, MappingProxyType(meta)


class UnboundedCache(Planted):
    """Memoises every answer for ever, in a cache left out of its pickle."""

    def __init__(self) -> None:
        super().__init__()
        self._cache: dict[str, Any] = {}

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), ())

    def calculate_ttl_strategy(self, normal_ttl: Any, duration: Any, context: Any = None) -> Any:
        """Answer from the cache, filling it without end."""
        key = repr((type(normal_ttl), normal_ttl, type(duration), duration, context))
        if key not in self._cache:
            self._cache[key] = super().calculate_ttl_strategy(normal_ttl, duration, context)
        return self._cache[key]


class SlowOnMiss(Planted):
    """Spends 2 ms on a context it has not seen (a bounded cache hides it on repeats)."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: dict[str, bool] = {}

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), ())

    def spoil(self, ttl: Any, mode: Any, meta: dict[str, Any], *call: Any) -> Any:
        """Burn time on a miss."""
        key = repr(call[2])
        if key not in self._seen:
            if len(self._seen) >= 4096:
                self._seen.clear()
            self._seen[key] = True
            deadline = time.perf_counter() + 0.002
            while time.perf_counter() < deadline:
                pass
        return ttl, mode, meta


class SharedMeta(Planted):
    """Returns one read-only view of a dict it rewrites on every call."""

    def __init__(self) -> None:
        super().__init__()
        self._meta: dict[str, Any] = {}

    def spoil(self, ttl: Any, mode: Any, meta: dict[str, Any], *call: Any) -> Any:
        """Reuse the one dict."""
        self._meta.clear()
        self._meta.update(meta)
        return ttl, mode, MappingProxyType(self._meta)


class _PlainMeta(dict[str, Any]):
    """A writable dict, which Planted does not wrap."""


class WritableMeta(Planted):
    """Returns its metadata as a plain, writable dict."""

    def spoil(self, ttl: Any, mode: Any, meta: dict[str, Any], *call: Any) -> Any:
        """Hand out a dict."""
        return ttl, mode, _PlainMeta(meta)


class SubclassStrictlyAfter(AdaptivePanicQuota):
    """A subclass of the default policy whose tiers start just after their thresholds."""

    def calculate_ttl_strategy(self, normal_ttl: Any, duration: Any, context: Any = None) -> Any:
        """Move whole-minute durations a hair earlier."""
        if type(duration) in (int, float) and duration > 0 and float(duration).is_integer():
            duration -= 1e-9
        return super().calculate_ttl_strategy(normal_ttl, duration, context)


#: The object form of the same defect: copied by pickle for each criterion.
SUBCLASS_STRICTLY_AFTER = SubclassStrictlyAfter()
