"""Read a :class:`Scenario` from a TOML file or a parsed table, validating every key.

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
from collections.abc import Mapping, Sequence
from os import PathLike
from typing import Any, Final

from panicquota._toml import read_toml
from panicquota.config import policy_config_from_mapping
from panicquota.errors import ConfigError
from panicquota.simulation._scenario import (
    BREAKER_KEYS,
    DEFAULT_CONTEXTS,
    MAX_WORKERS,
    BreakerSettings,
    Scenario,
    ScenarioError,
    TrafficShare,
    integer_at,
    number_at,
    only_keys,
    text_at,
)
from panicquota.stakes import CONTEXT_FIELDS, Context

__all__ = ["load_scenario", "scenario_from_mapping"]


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
#: The keys of a [[contexts]] entry besides the context keys the policy reads.
_ENTRY_KEYS: Final = ("name", "share", "context")


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
    only_keys(source, "", document, _TOP_KEYS)
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
        minutes = number_at(source, "duration_minutes", document["duration_minutes"], positive=True)
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
        name=text_at(source, "name", document.get("name", default_name)),
        description=text_at(source, "description", document.get("description", "")),
        duration_seconds=duration,
        volatility=volatility,
        panic_windows=windows,
        noise=noise,
        seed=integer_at(source, "seed", document.get("seed", 0), minimum=0),
        workers=integer_at(
            source, "workers", document.get("workers", 4), minimum=1, maximum=MAX_WORKERS
        ),
        rps=integer_at(source, "rps", document.get("rps", 250), minimum=1),
        normal_ttl=number_at(source, "normal_ttl", document.get("normal_ttl", 60)),
        upstream_capacity=(
            None
            if capacity is None
            else number_at(source, "upstream_capacity", capacity, positive=True)
        ),
        upstream_latency_ms=number_at(
            source, "upstream_latency_ms", document.get("upstream_latency_ms", 0)
        ),
        contexts=_contexts(
            source, document["contexts"], policy_kwargs.get("context_keys", CONTEXT_FIELDS)
        )
        if "contexts" in document
        else (DEFAULT_CONTEXTS),
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


def _volatility(source: str, table: object) -> tuple[tuple[tuple[float, float], ...], float]:
    only_keys(source, "volatility", table, ("points", "segments", "noise"))
    assert isinstance(table, Mapping)
    noise = number_at(source, "volatility.noise", table.get("noise", 0.0))
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
        minute = number_at(source, where, point[0])
        vix = number_at(source, where, point[1])
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
        only_keys(source, where, segment, ("minutes", "vix", "from", "to"))
        assert isinstance(segment, Mapping)
        if "minutes" not in segment:
            raise ScenarioError("is required", source=source, key=where + ".minutes")
        minutes = number_at(source, f"{where}.minutes", segment["minutes"], positive=True)
        if "vix" in segment and not ({"from", "to"} & set(segment)):
            start = end = number_at(source, f"{where}.vix", segment["vix"])
        elif "vix" not in segment and {"from", "to"} <= set(segment):
            start = number_at(source, f"{where}.from", segment["from"])
            end = number_at(source, f"{where}.to", segment["to"])
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
        start = round(number_at(source, where, window[0]) * 60)
        end = round(number_at(source, where, window[1]) * 60)
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
        only_keys(source, where, entry, (*_ENTRY_KEYS, *context_fields))
        assert isinstance(entry, Mapping)
        if "share" not in entry:
            raise ScenarioError("is required (a number > 0)", source=source, key=where + ".share")
        share = number_at(source, f"{where}.share", entry["share"], positive=True)
        fields = {
            k: text_at(source, f"{where}.{k}", entry[k]) for k in context_fields if k in entry
        }
        context: Context
        if "context" in entry:
            if fields:
                raise ScenarioError(
                    "give either 'context' (free text) or "
                    f"{', '.join(map(repr, context_fields))}, not both",
                    source=source,
                    key=where,
                )
            context = text_at(source, f"{where}.context", entry["context"])
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
        label = text_at(source, f"{where}.name", entry.get("name", label))
        if any(s.label == label for s in shares):
            raise ScenarioError(f"duplicate context {label!r}", source=source, key=where)
        shares.append(TrafficShare(label, context, share))
    return tuple(shares)


def _breaker(source: str, table: object) -> BreakerSettings:
    only_keys(source, "breaker", table, BREAKER_KEYS)
    assert isinstance(table, Mapping)
    values = {k: number_at(source, f"breaker.{k}", table[k]) for k in BREAKER_KEYS if k in table}
    settings = BreakerSettings(**values)
    if not settings.reset_level < settings.trip_level:
        raise ScenarioError(
            "must be below 'breaker.trip_level', "
            f"got {settings.reset_level!r} >= {settings.trip_level!r}",
            source=source,
            key="breaker.reset_level",
        )
    return settings
