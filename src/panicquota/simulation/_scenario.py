"""What a simulation plays: the :class:`Scenario` and its TOML file format.

A scenario file (every key optional except a timeline)::

    name = "derby"                     # default: the file's stem
    description = "A derby that goes wrong at half time"
    duration_minutes = 120             # default: the end of the timeline
    seed = 7                           # drives the volatility noise
    workers = 4                        # worker processes
    rps = 500                          # requests per second, per worker
    normal_ttl = 60                    # seconds, the TTL outside panic
    upstream_capacity = 1000           # upstream requests per second it can take
    upstream_latency_ms = 50           # how long a fetch upstream takes (default 0)

    [volatility]                       # a volatility timeline...
    points = [[0, 15], [10, 45], [55, 45], [60, 15]]   # [minute, vix], linear in between
    # segments = [{minutes = 10, vix = 15}, {minutes = 5, from = 15, to = 45}]
    noise = 1.0                        # std-dev of the seeded noise added every second

    # panic_windows = [[10, 55]]       # ...or panic windows [start, end] in minutes

    [[contexts]]                       # the traffic mix (default: one "Ligue 1" context)
    league = "Ligue 1"                 # or context = "free text", competition, event, ...
    share = 0.7                        # relative weight

    [breaker]                          # VIXCircuitBreaker options
    trip_level = 30

    [policy]                           # the policy configuration (see panicquota.config)
    thresholds.medium = [20, 60, 120]
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from os import PathLike
from typing import Any, Final

from panicquota._simulation_limits import MAX_WORKERS
from panicquota._toml import read_toml
from panicquota._validate import require_number
from panicquota.config import policy_config_from_mapping
from panicquota.errors import ConfigError, PanicquotaError
from panicquota.stakes import CONTEXT_FIELDS, Context

__all__ = [
    "MAX_WORKERS",
    "BreakerSettings",
    "Scenario",
    "ScenarioError",
    "TrafficShare",
    "load_scenario",
]


_TOP_KEYS: Final = (
    "name",
    "description",
    "duration_minutes",
    "seed",
    "workers",
    "rps",
    "normal_ttl",
    "upstream_capacity",
    "upstream_latency_ms",
    "volatility",
    "panic_windows",
    "contexts",
    "breaker",
    "policy",
)
_BREAKER_KEYS: Final = ("trip_level", "reset_level", "calm_seconds", "grace_seconds")
#: The keys of a [[contexts]] entry besides the context keys the policy reads.
_ENTRY_KEYS: Final = ("name", "share", "context")


class ScenarioError(ConfigError):
    """A scenario (file, table or override) is invalid; the message names the source and key."""


@dataclass(frozen=True, slots=True)
class TrafficShare:
    """One context of the traffic mix and its relative weight."""

    label: str
    context: Context
    share: float


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """The :class:`VIXCircuitBreaker` options a scenario sets (levels in VIX points)."""

    trip_level: float = 30.0
    reset_level: float = 20.0
    calm_seconds: float = 60.0
    grace_seconds: float = 300.0

    def as_dict(self) -> dict[str, Any]:
        """Return the settings as breaker keyword arguments."""
        return {key: getattr(self, key) for key in _BREAKER_KEYS}


_DEFAULT_CONTEXTS: Final = (TrafficShare("Ligue 1", {"league": "Ligue 1"}, 1.0),)


@dataclass(frozen=True)
class Scenario:
    """A volatility timeline (or panic windows), traffic and policy to play.

    Times on the timeline are seconds from the scenario's start. Exactly one of
    ``volatility`` (``(second, vix)`` points, linear in between) and
    ``panic_windows`` (``(start, end)`` seconds, played by manual trip/reset)
    is set.
    """

    name: str
    description: str
    duration_seconds: int
    volatility: tuple[tuple[float, float], ...] | None = None
    panic_windows: tuple[tuple[int, int], ...] | None = None
    noise: float = 0.0
    seed: int = 0
    workers: int = 4
    rps: int = 250
    normal_ttl: float = 60
    upstream_capacity: float | None = None
    #: How long one upstream fetch takes, in milliseconds.
    upstream_latency_ms: float = 0
    # Contexts and policy hold mappings: equal by value, left out of the hash.
    contexts: tuple[TrafficShare, ...] = field(default=_DEFAULT_CONTEXTS, hash=False)
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    policy: Mapping[str, Any] = field(default_factory=dict, hash=False)
    source: str = "<scenario>"

    def __post_init__(self) -> None:
        if (self.volatility is None) == (self.panic_windows is None):
            raise ScenarioError(
                "give exactly one of 'volatility' and 'panic_windows'", source=self.source
            )
        _integer(self.source, "workers", self.workers, minimum=1, maximum=MAX_WORKERS)
        _integer(self.source, "rps", self.rps, minimum=1)
        _integer(self.source, "seed", self.seed, minimum=0)
        _integer(self.source, "duration_seconds", self.duration_seconds, minimum=1)
        self._every_context_has_traffic()

    def _every_context_has_traffic(self) -> None:
        total = sum(c.share for c in self.contexts)
        for context, rate in zip(self.contexts, self.rates(), strict=True):
            if not rate:
                needed = self.rps + 1
                while not all(_apportion(needed, self.contexts)):
                    needed += 1  # ends by total / smallest share, where every rate is >= 1
                raise ScenarioError(
                    f"context {context.label!r} (share {context.share:g} of "
                    f"{total:g}) gets 0 of the {self.rps} requests per second per worker (rps); "
                    f"set rps to at least {needed} or remove the context",
                    source=self.source,
                )

    def with_overrides(
        self, *, workers: int | None = None, rps: int | None = None, seed: int | None = None
    ) -> Scenario:
        """Return a copy with the given values replaced (``None`` keeps the scenario's).

        Raises:
            ScenarioError: an override is not accepted (the message names it).
        """
        return replace(
            self,
            workers=self.workers if workers is None else workers,
            rps=self.rps if rps is None else rps,
            seed=self.seed if seed is None else seed,
        )

    def rates(self) -> tuple[int, ...]:
        """Return each context's requests per second per worker: integers summing to ``rps``.

        Shares are apportioned by largest remainder (ties to the earlier
        context), so the request grid stays exact.
        """
        return _apportion(self.rps, self.contexts)

    def volatility_series(self) -> list[float] | None:
        """Return the VIX reading of every simulated second (seeded noise included)."""
        if self.volatility is None:
            return None
        rng = random.Random(self.seed)
        points = self.volatility
        series: list[float] = []
        index = 0
        for second in range(self.duration_seconds):
            while index + 1 < len(points) and points[index + 1][0] <= second:
                index += 1
            t0, v0 = points[index]
            if index + 1 < len(points) and second >= t0:
                t1, v1 = points[index + 1]
                value = v0 + (v1 - v0) * (second - t0) / (t1 - t0)
            else:
                value = v0
            if self.noise:
                value += rng.gauss(0.0, self.noise)
            series.append(round(max(value, 0.0), 2))
        return series

    def panic_events(self) -> dict[int, bool]:
        """Return ``{second: True (trip) / False (reset)}`` for the panic windows."""
        events: dict[int, bool] = {}
        for start, end in self.panic_windows or ():
            events[start] = True
            events[end] = False
        return events

    def as_dict(self) -> dict[str, Any]:
        """Return the scenario as JSON-ready data (what a report embeds)."""
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "duration_seconds": self.duration_seconds,
            "volatility_points": None if self.volatility is None else list(self.volatility),
            "panic_windows": None if self.panic_windows is None else list(self.panic_windows),
            "noise": self.noise,
            "seed": self.seed,
            "workers": self.workers,
            "rps": self.rps,
            "normal_ttl": self.normal_ttl,
            "upstream_capacity": self.upstream_capacity,
            "upstream_latency_ms": self.upstream_latency_ms,
            # rps: the context's requests per second per worker.
            "contexts": [
                {"label": c.label, "share": c.share, "rps": rate}
                for c, rate in zip(self.contexts, self.rates(), strict=True)
            ],
            "breaker": self.breaker.as_dict(),
        }


def _apportion(rps: int, contexts: Sequence[TrafficShare]) -> tuple[int, ...]:
    """Split *rps* by the contexts' shares, by largest remainder (ties to the earlier)."""
    total = sum(c.share for c in contexts)
    exact = [rps * c.share / total for c in contexts]
    rates = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: (rates[i] - exact[i], i))
    for i in by_remainder[: rps - sum(rates)]:
        rates[i] += 1
    return tuple(rates)


def load_scenario(path: str | PathLike[str]) -> Scenario:
    """Read a scenario TOML file.

    Raises:
        ScenarioError: the file is missing or not TOML, or a key is invalid;
            the message names the file, the key and what is accepted.
    """
    file, document = read_toml(path, ScenarioError, "scenario")
    return scenario_from_mapping(document, source=str(file), default_name=file.stem)


def scenario_from_mapping(
    document: Mapping[str, Any], *, source: str = "<scenario>", default_name: str = "custom"
) -> Scenario:
    """Validate a parsed scenario table and build the :class:`Scenario`.

    Raises:
        ScenarioError: naming *source*, the key and what is accepted.
    """
    _no_unknown(source, "", document, _TOP_KEYS)
    has_volatility, has_windows = "volatility" in document, "panic_windows" in document
    if has_volatility == has_windows:
        raise ScenarioError(
            "give exactly one of 'volatility' (a table with 'points' or 'segments') "
            "and 'panic_windows' (a list of [start_minute, end_minute])",
            source=source,
        )
    volatility, noise, end = None, 0.0, 0.0
    windows = None
    if has_volatility:
        volatility, noise = _volatility(source, document["volatility"])
        end = volatility[-1][0]
    else:
        windows = _windows(source, document["panic_windows"])
        end = windows[-1][1] + 15 * 60  # leave room to see the recovery
    if "duration_minutes" in document:
        minutes = _number(source, "duration_minutes", document["duration_minutes"], positive=True)
        duration = round(minutes * 60)
        if duration < 1:
            raise ScenarioError(
                f"must last at least one second (>= 1/60 minute), got {minutes!r}",
                source=source,
                key="duration_minutes",
            )
        _within_duration(source, document, duration, minutes)
    else:
        duration = math.ceil(end)
    if duration < 1:
        raise ScenarioError(
            "the timeline ends at minute 0; set 'duration_minutes' (a number > 0)", source=source
        )
    policy_kwargs = _policy(source, document.get("policy", {}))
    capacity = document.get("upstream_capacity")
    return Scenario(
        name=_text(source, "name", document.get("name", default_name)),
        description=_text(source, "description", document.get("description", "")),
        duration_seconds=duration,
        volatility=volatility,
        panic_windows=windows,
        noise=noise,
        seed=_integer(source, "seed", document.get("seed", 0), minimum=0),
        workers=_integer(
            source, "workers", document.get("workers", 4), minimum=1, maximum=MAX_WORKERS
        ),
        rps=_integer(source, "rps", document.get("rps", 250), minimum=1),
        normal_ttl=_number(source, "normal_ttl", document.get("normal_ttl", 60)),
        upstream_capacity=(
            None
            if capacity is None
            else _number(source, "upstream_capacity", capacity, positive=True)
        ),
        upstream_latency_ms=_number(
            source, "upstream_latency_ms", document.get("upstream_latency_ms", 0)
        ),
        contexts=_contexts(
            source, document["contexts"], policy_kwargs.get("context_keys", CONTEXT_FIELDS)
        )
        if "contexts" in document
        else (_DEFAULT_CONTEXTS),
        breaker=_breaker(source, document.get("breaker", {})),
        policy=policy_kwargs,
        source=source,
    )


def _within_duration(
    source: str, document: Mapping[str, Any], duration: int, minutes: float
) -> None:
    """Refuse a timeline that goes on past *duration* seconds: it would be cut short silently."""
    ends: list[tuple[str, str, float]] = []
    if "panic_windows" in document:
        ends = [
            (f"panic_windows[{i}]", "ends at", window[1])
            for i, window in enumerate(document["panic_windows"])
        ]
    elif "points" in document["volatility"]:
        ends = [
            (f"volatility.points[{i}]", "is at", point[0])
            for i, point in enumerate(document["volatility"]["points"])
        ]
    else:
        elapsed = 0.0
        for i, segment in enumerate(document["volatility"]["segments"]):
            elapsed += segment["minutes"]
            ends.append((f"volatility.segments[{i}]", "ends at", elapsed))
    for where, verb, minute in ends:
        if round(minute * 60) > duration:
            raise ScenarioError(
                f"{verb} minute {minute:g}, after the end of the "
                f"scenario (duration_minutes = {minutes:g}); accepted: minutes up to "
                f"{minutes:g}, or raise 'duration_minutes'",
                source=source,
                key=where,
            )


def _policy(source: str, table: object) -> dict[str, Any]:
    """Validate the ``[policy]`` table; an error names the full key path (``policy.ttls.tier2``)."""
    try:
        return policy_config_from_mapping(table, source=source, prefix="policy")  # type: ignore[arg-type]  # checked there
    except ConfigError as error:
        raise ScenarioError(error.reason, source=source, key=error.key) from None


def _no_unknown(source: str, where: str, table: object, accepted: Sequence[str]) -> None:
    if not isinstance(table, Mapping):
        raise ScenarioError(
            f"{'must' if where else 'the document must'} be a table, got {table!r}",
            source=source,
            key=where or None,
        )
    for name in sorted(set(table) - set(accepted)):
        if name:
            raise ScenarioError(
                "unknown key; accepted: " + ", ".join(map(repr, accepted)),
                source=source,
                key=f"{where}.{name}" if where else name,
            )


def _integer(source: str, key: str, value: object, *, minimum: int, maximum: int = 0) -> int:
    accepted = f"from {minimum} to {maximum}" if maximum else f">= {minimum}"
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < minimum
        or (maximum and value > maximum)
    ):
        raise ScenarioError(f"must be an integer {accepted}, got {value!r}", source=source, key=key)
    return value


def _number(source: str, key: str, value: object, *, positive: bool = False) -> float:
    accepted = "a finite number > 0" if positive else "a finite number >= 0"
    try:
        number = require_number(None, value, accepted=accepted)
    except PanicquotaError as error:
        raise ScenarioError(str(error), source=source, key=key) from None
    if positive and number == 0:
        raise ScenarioError(f"must be {accepted}, got {value!r}", source=source, key=key)
    return number


def _text(source: str, key: str, value: object) -> str:
    if not isinstance(value, str):
        raise ScenarioError(f"must be a string, got {value!r}", source=source, key=key)
    return value


def _volatility(source: str, table: object) -> tuple[tuple[tuple[float, float], ...], float]:
    _no_unknown(source, "volatility", table, ("points", "segments", "noise"))
    assert isinstance(table, Mapping)
    noise = _number(source, "volatility.noise", table.get("noise", 0.0))
    if ("points" in table) == ("segments" in table):
        raise ScenarioError(
            "needs exactly one of 'points' "
            "(a list of [minute, vix]) and 'segments' (a list of tables)",
            source=source,
            key="volatility",
        )
    if "points" in table:
        return _points(source, table["points"]), noise
    return _segments(source, table["segments"]), noise


def _points(source: str, raw: object) -> tuple[tuple[float, float], ...]:
    key = "volatility.points"
    if not isinstance(raw, list) or not raw:
        raise ScenarioError(
            f"must be a non-empty list of [minute, vix], got {raw!r}", source=source, key=key
        )
    points: list[tuple[float, float]] = []
    for index, point in enumerate(raw):
        where = f"{key}[{index}]"
        if not isinstance(point, list) or len(point) != 2:
            raise ScenarioError(f"must be [minute, vix], got {point!r}", source=source, key=where)
        minute = _number(source, where, point[0])
        vix = _number(source, where, point[1])
        if points and minute * 60 <= points[-1][0]:
            raise ScenarioError(
                f"minutes must be strictly increasing, got {minute!r} after {points[-1][0] / 60!r}",
                source=source,
                key=where,
            )
        points.append((minute * 60, vix))
    return tuple(points)


def _segments(source: str, raw: object) -> tuple[tuple[float, float], ...]:
    key = "volatility.segments"
    if not isinstance(raw, list) or not raw:
        raise ScenarioError(
            f"must be a non-empty list of tables, got {raw!r}", source=source, key=key
        )
    points: list[tuple[float, float]] = []
    second = 0.0
    for index, segment in enumerate(raw):
        where = f"{key}[{index}]"
        _no_unknown(source, where, segment, ("minutes", "vix", "from", "to"))
        assert isinstance(segment, Mapping)
        if "minutes" not in segment:
            raise ScenarioError("is required", source=source, key=where + ".minutes")
        minutes = _number(source, f"{where}.minutes", segment["minutes"], positive=True)
        if "vix" in segment and not ({"from", "to"} & set(segment)):
            start = end = _number(source, f"{where}.vix", segment["vix"])
        elif "vix" not in segment and {"from", "to"} <= set(segment):
            start = _number(source, f"{where}.from", segment["from"])
            end = _number(source, f"{where}.to", segment["to"])
        else:
            raise ScenarioError(
                f"needs either 'vix' (a level) or 'from' and 'to' (a ramp), got {dict(segment)!r}",
                source=source,
                key=where,
            )
        points.append((second, start))
        second += minutes * 60
        # The end point sits a hair before the next segment's start so a step
        # between segments stays a step rather than a ramp.
        points.append((second - 1e-6 if index + 1 < len(raw) else second, end))
    return tuple(points)


def _windows(source: str, raw: object) -> tuple[tuple[int, int], ...]:
    key = "panic_windows"
    if not isinstance(raw, list) or not raw:
        raise ScenarioError(
            f"must be a non-empty list of [start_minute, end_minute], got {raw!r}",
            source=source,
            key=key,
        )
    windows: list[tuple[int, int]] = []
    for index, window in enumerate(raw):
        where = f"{key}[{index}]"
        if not isinstance(window, list) or len(window) != 2:
            raise ScenarioError(
                f"must be [start_minute, end_minute], got {window!r}", source=source, key=where
            )
        start = round(_number(source, where, window[0]) * 60)
        end = round(_number(source, where, window[1]) * 60)
        previous_end = windows[-1][1] if windows else -1
        if not previous_end < start < end:
            raise ScenarioError(
                f"windows must be in order and not overlap, with start < end, got {window!r}",
                source=source,
                key=where,
            )
        windows.append((start, end))
    return tuple(windows)


def _contexts(
    source: str, raw: object, context_fields: Sequence[str] = CONTEXT_FIELDS
) -> tuple[TrafficShare, ...]:
    """Read [[contexts]]; a mapping context takes the keys the policy reads (its context_keys)."""
    clash = sorted(set(context_fields) & set(_ENTRY_KEYS))
    if clash:
        raise ScenarioError(
            f"{clash[0]!r} cannot be a context key in a scenario (a [[contexts]] entry uses it "
            f"for itself); accepted: keys other than {', '.join(map(repr, _ENTRY_KEYS))}",
            source=source,
            key="policy.context_keys",
        )
    if not isinstance(raw, list) or not raw:
        raise ScenarioError(
            f"must be a non-empty array of tables ([[contexts]]), got {raw!r}",
            source=source,
            key="contexts",
        )
    shares: list[TrafficShare] = []
    for index, entry in enumerate(raw):
        where = f"contexts[{index}]"
        _no_unknown(source, where, entry, (*_ENTRY_KEYS, *context_fields))
        assert isinstance(entry, Mapping)
        if "share" not in entry:
            raise ScenarioError("is required (a number > 0)", source=source, key=where + ".share")
        share = _number(source, f"{where}.share", entry["share"], positive=True)
        fields = {k: _text(source, f"{where}.{k}", entry[k]) for k in context_fields if k in entry}
        context: Context
        if "context" in entry:
            if fields:
                raise ScenarioError(
                    "give either 'context' (free text) or "
                    f"{', '.join(map(repr, context_fields))}, not both",
                    source=source,
                    key=where,
                )
            context = _text(source, f"{where}.context", entry["context"])
            label = context
        elif fields:
            context = fields
            label = " / ".join(fields.values())
        else:
            raise ScenarioError(
                "needs 'context' or one of " + ", ".join(map(repr, context_fields)),
                source=source,
                key=where,
            )
        label = _text(source, f"{where}.name", entry.get("name", label))
        if any(s.label == label for s in shares):
            raise ScenarioError(f"duplicate context {label!r}", source=source, key=where)
        shares.append(TrafficShare(label, context, share))
    return tuple(shares)


def _breaker(source: str, table: object) -> BreakerSettings:
    _no_unknown(source, "breaker", table, _BREAKER_KEYS)
    assert isinstance(table, Mapping)
    values = {k: _number(source, f"breaker.{k}", table[k]) for k in _BREAKER_KEYS if k in table}
    settings = BreakerSettings(**values)
    if not settings.reset_level < settings.trip_level:
        raise ScenarioError(
            "must be below 'breaker.trip_level', "
            f"got {settings.reset_level!r} >= {settings.trip_level!r}",
            source=source,
            key="breaker.reset_level",
        )
    return settings
