"""The real run's feeder: the parent's breaker, writing the scenario's readings on time."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from panicquota.policy import AdaptivePanicQuota
from panicquota.simulation._agreement import StartChange
from panicquota.simulation._engine import SIMULATION_EPOCH
from panicquota.simulation._real_errors import RealModeError
from panicquota.simulation._real_keys import STATE_KEYS, expire
from panicquota.simulation._scenario import Scenario

__all__ = ["Feed", "Feeder", "max_clock_skew"]

logger = logging.getLogger("panicquota.simulation")

#: The feeder is the only writer of the panic state, so its snapshot never
#: goes stale: it reads Redis once a simulated minute instead of every second.
_FEEDER_MAX_STALENESS: Final = 60.0
#: How often the feeder puts the backstop expiry on keys the workers created.
_SWEEP_SECONDS: Final = 2.0


def max_clock_skew(scenario: Scenario) -> float:
    """Return the breakers' ``max_clock_skew`` for a run of *scenario*.

    A worker descheduled for a tenth of a wall second at 600x wakes a minute
    behind the feeder and may read a start that far in its future. That is
    compression, not a corrupt start: the breakers must not repair it (a
    repair rewrites the start every other worker reads). No start the run
    writes is further ahead of any process's clock than the scenario is long.
    """
    return float(scenario.duration_seconds) + 60.0


@dataclass(slots=True)
class Feed:
    """What the feeder did."""

    transitions: int = 0
    changes: list[StartChange] = field(default_factory=list)
    #: How far behind the scenario it wrote a reading, in simulated seconds.
    max_lag: float = 0.0
    #: How far behind the scenario a change of start reached Redis, in simulated seconds.
    change_lag: float = 0.0


class Feeder:
    """The parent's breaker: feeds the readings (or trips/resets the windows) on time."""

    def __init__(self, scenario: Scenario, redis_url: str, key_prefix: str, admin: Any) -> None:
        from panicquota.breaker import VIXCircuitBreaker

        self.scenario = scenario
        self.redis_url = redis_url
        self.key_prefix = key_prefix
        self.admin = admin
        self.now = SIMULATION_EPOCH
        self.expiry_failed = False
        self.delivered: list[object] = []
        # Built (and connected) before the start, so that the first reading is on time.
        self.breaker = VIXCircuitBreaker.from_url(
            redis_url,
            AdaptivePanicQuota(**scenario.policy),
            key_prefix=key_prefix,
            clock=lambda: self.now,
            max_staleness=_FEEDER_MAX_STALENESS,
            max_clock_skew=max_clock_skew(scenario),
            **scenario.breaker.as_dict(),
        )
        self.breaker.add_listener(self.delivered.append)
        self.breaker.refresh()

    def close(self) -> None:
        """Release the breaker's connection."""
        self.breaker.close()

    def run(
        self,
        wall0: float,
        speed: float,
        backstop: int,
        progress: Callable[[int, int], object] | None,
    ) -> Feed:
        """Feed every simulated second when its wall time comes; record what changed and when."""
        scenario, key_prefix = self.scenario, self.key_prefix
        series = scenario.volatility_series()
        events = scenario.panic_events()
        steps = scenario.duration_seconds
        feed = Feed()
        known: float | None = None
        fed = 0
        next_sweep = next_progress = 0.0
        while fed < steps:
            due = min(int((time.time() - wall0) * speed) + 1, steps)
            # Readings missed while this process was descheduled are fed late
            # but in order, so the calm period is measured as the scenario says.
            for step in range(fed, due):
                start, issued, done = self._feed(step, series, events)
                # How late the reading was in Redis, from the start of its second.
                lag = (done - wall0) * speed - step
                feed.max_lag = max(feed.max_lag, lag)
                if start != known:
                    feed.changes.append(StartChange(step, issued, done, start))
                    feed.change_lag = max(feed.change_lag, lag)
                    known = start
                    self._expire([f"{key_prefix}:{key}" for key in STATE_KEYS], backstop)
            fed = due
            wall = time.time()
            if progress is not None and (wall >= next_progress or fed == steps):
                progress(fed, steps)
                next_progress = wall + 0.1
            if wall >= next_sweep:
                self._expire(None, backstop)
                next_sweep = wall + _SWEEP_SECONDS
            if fed < steps:
                time.sleep(max(wall0 + fed / speed - time.time(), 0.0))
        feed.transitions = len(self.delivered)
        return feed

    def _feed(
        self, step: int, series: Sequence[float] | None, events: dict[int, bool]
    ) -> tuple[float | None, float, float]:
        """Feed simulated second *step*; return the start then, and when the call began and ended.

        Raises:
            RealModeError: Redis failed (the run cannot go on without its panic state).
        """
        import redis

        from panicquota.breaker import StoreUnavailableError

        breaker = self.breaker
        self.now = SIMULATION_EPOCH + step
        issued = time.time()
        try:
            if series is not None:
                breaker.observe(series[step])
            elif events.get(step) is True:
                breaker.trip()
            elif events.get(step) is False:
                breaker.reset()
            start: float | None = breaker.get_ttl(self.scenario.normal_ttl)[2]["panic_start_ts"]
        except (StoreUnavailableError, redis.RedisError, OSError) as error:
            raise RealModeError(
                f"Redis at {self.redis_url} failed during the run, at simulated second "
                f"{step}: {error}"
            ) from None
        return start, issued, time.time()

    def _expire(self, keys: Sequence[Any] | None, backstop: int) -> None:
        """Put the backstop expiry on *keys* (``None``: every key of the run), best effort.

        The expiry only matters if the run is killed outright; a Redis that
        fails here is logged once, and the run goes on (or fails on its reads).
        """
        import redis

        try:
            if keys is None:
                keys = list(self.admin.scan_iter(match=f"{self.key_prefix}:*", count=1000))
            expire(self.admin, keys, backstop)
        except (redis.RedisError, OSError) as error:
            if not self.expiry_failed:
                self.expiry_failed = True
                logger.warning("could not put the backstop expiry on the run's keys: %s", error)
