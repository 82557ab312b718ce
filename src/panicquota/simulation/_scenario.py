"""What a simulation plays: the :class:`Scenario`, its traffic mix and breaker settings.

A scenario is usually read from a TOML file (:func:`load_scenario` gives the
format); built directly, it checks the values its fields must agree on.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from panicquota._validate import require_number
from panicquota.errors import ConfigError, PanicquotaError
from panicquota.simulation._limits import MAX_WORKERS
from panicquota.stakes import Context

__all__ = [
    "BREAKER_KEYS",
    "DEFAULT_CONTEXTS",
    "MAX_WORKERS",
    "BreakerSettings",
    "Scenario",
    "ScenarioError",
    "TrafficShare",
    "integer_at",
    "number_at",
    "only_keys",
    "text_at",
]

BREAKER_KEYS: Final = ("trip_level", "reset_level", "calm_seconds", "grace_seconds")


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
        return {key: getattr(self, key) for key in BREAKER_KEYS}


DEFAULT_CONTEXTS: Final = (TrafficShare("Ligue 1", {"league": "Ligue 1"}, 1.0),)


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
    contexts: tuple[TrafficShare, ...] = field(default=DEFAULT_CONTEXTS, hash=False)
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    policy: Mapping[str, Any] = field(default_factory=dict, hash=False)
    source: str = "<scenario>"

    def __post_init__(self) -> None:
        if (self.volatility is None) == (self.panic_windows is None):
            raise ScenarioError(
                "give exactly one of 'volatility' and 'panic_windows'", source=self.source
            )
        integer_at(self.source, "workers", self.workers, minimum=1, maximum=MAX_WORKERS)
        integer_at(self.source, "rps", self.rps, minimum=1)
        integer_at(self.source, "seed", self.seed, minimum=0)
        integer_at(self.source, "duration_seconds", self.duration_seconds, minimum=1)
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


def integer_at(source: str, key: str, value: object, *, minimum: int, maximum: int = 0) -> int:
    """Return *value* if it is an integer in range, else raise a :class:`ScenarioError` on *key*."""
    accepted = f"from {minimum} to {maximum}" if maximum else f">= {minimum}"
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < minimum
        or (maximum and value > maximum)
    ):
        raise ScenarioError(f"must be an integer {accepted}, got {value!r}", source=source, key=key)
    return value


def only_keys(source: str, where: str, table: object, accepted: Sequence[str]) -> None:
    """Raise a :class:`ScenarioError` unless *table* is a table of *accepted* keys only."""
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


def number_at(source: str, key: str, value: object, *, positive: bool = False) -> float:
    """Return *value* if it is a finite number >= 0 (> 0 if *positive*), else raise on *key*."""
    accepted = "a finite number > 0" if positive else "a finite number >= 0"
    try:
        number = require_number(None, value, accepted=accepted)
    except PanicquotaError as error:
        raise ScenarioError(str(error), source=source, key=key) from None
    if positive and number == 0:
        raise ScenarioError(f"must be {accepted}, got {value!r}", source=source, key=key)
    return number


def text_at(source: str, key: str, value: object) -> str:
    """Return *value* if it is a string, else raise a :class:`ScenarioError` on *key*."""
    if not isinstance(value, str):
        raise ScenarioError(f"must be a string, got {value!r}", source=source, key=key)
    return value
