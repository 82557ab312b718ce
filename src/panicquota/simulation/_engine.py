"""The simulated mode: every worker's real breaker on one simulated clock, in-process."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from panicquota.clock import ManualClock
from panicquota.decision import Decision
from panicquota.policy import AdaptivePanicQuota
from panicquota.simulation._accounting import Accounting
from panicquota.simulation._report import SimulationMode, SimulationReport
from panicquota.simulation._scenario import BreakerSettings, Scenario
from panicquota.stakes import Context

__all__ = ["SIMULATION_EPOCH", "Breaker", "BreakerFactory", "WorkerSetup", "simulate"]

#: Where the simulated clock starts (2026-01-01T00:00:00Z): fixed, so that the
#: timestamps stored in the simulated Redis are the same on every run.
SIMULATION_EPOCH: Final = 1_767_225_600.0

#: The breaker's staleness bound in the simulator: below the clock's one-second
#: step, so every worker's first decision of each second reads the shared
#: store itself, and all workers decide from the state stored at that instant.
SIMULATION_MAX_STALENESS: Final = 0.5

_KEY_PREFIX: Final = "panicquota:sim:vix:panic"


class Breaker(Protocol):
    """What the simulator needs of a breaker (``VIXCircuitBreaker`` has it all)."""

    def observe(self, vix: float) -> object:
        """Feed one volatility reading."""
        ...

    def trip(self) -> object:
        """Start a panic now (an operator's trip)."""
        ...

    def reset(self) -> object:
        """End the panic now (an operator's reset)."""
        ...

    def refresh(self) -> object:
        """Read the shared state now."""
        ...

    def get_ttl(self, normal_ttl: float, context: Context = None) -> Decision:
        """Return the decision for now: ``(ttl, mode, meta)``."""
        ...

    def add_listener(self, listener: Callable[[Any], object]) -> object:
        """Call *listener* with each tier transition this worker delivers."""
        ...

    def close(self) -> None:
        """Release what the breaker holds."""
        ...


@dataclass(frozen=True, slots=True)
class WorkerSetup:
    """What a breaker factory gets to build one worker's breaker."""

    index: int
    redis: Any  # a redis-py compatible client
    clock: Callable[[], float]
    quota: AdaptivePanicQuota
    key_prefix: str
    settings: BreakerSettings
    max_staleness: float
    #: How far in the future a stored start may be before the breaker repairs
    #: it as corrupt (the real mode raises it: compressed time jumps).
    max_clock_skew: float = 60.0


#: Builds the breaker of one worker (tests pass one to plant an inconsistent worker).
BreakerFactory = Callable[[WorkerSetup], Breaker]


def default_breaker(setup: WorkerSetup) -> Breaker:
    """Return the real ``VIXCircuitBreaker`` for *setup*."""
    from panicquota.breaker import VIXCircuitBreaker

    breaker: Breaker = VIXCircuitBreaker(
        setup.redis,
        setup.quota,
        key_prefix=setup.key_prefix,
        clock=setup.clock,
        max_staleness=setup.max_staleness,
        max_clock_skew=setup.max_clock_skew,
        **setup.settings.as_dict(),
    )
    return breaker


def simulate(
    scenario: Scenario,
    *,
    breaker_factory: BreakerFactory | None = None,
    progress: Callable[[int, int], object] | None = None,
) -> SimulationReport:
    """Play *scenario* on a simulated clock and return what it did to the upstream.

    Every simulated second, every worker feeds the volatility reading to its
    own breaker (or worker 0 trips/resets at panic-window edges) and decides
    every context through ``get_ttl``, whose first call of the second reads
    the shared fakeredis store (the staleness bound is half a step). The
    requests of that second are then served from the decisions, exactly (see
    :mod:`panicquota.simulation._cache`).

    Args:
        scenario: what to play.
        breaker_factory: builds each worker's breaker (default: the real
            ``VIXCircuitBreaker``).
        progress: called as ``progress(done_seconds, total_seconds)`` every
            simulated minute.

    Returns:
        The report; only its wall-time figures differ between two runs of the
        same scenario and seed.

    Raises:
        MissingExtraError: fakeredis or its Lua runtime is not installed.
    """
    from panicquota._shared.extras import require

    require("the simulator", "cli", "fakeredis", "lupa")
    import fakeredis

    factory = default_breaker if breaker_factory is None else breaker_factory
    quota = AdaptivePanicQuota(**scenario.policy)
    clock = ManualClock(SIMULATION_EPOCH)
    server = fakeredis.FakeServer()
    clients = [fakeredis.FakeRedis(server=server) for _ in range(scenario.workers)]
    transitions: list[object] = []
    breakers = []
    try:
        for index, client in enumerate(clients):
            breaker = factory(
                WorkerSetup(
                    index,
                    client,
                    clock,
                    quota,
                    _KEY_PREFIX,
                    scenario.breaker,
                    SIMULATION_MAX_STALENESS,
                )
            )
            breaker.add_listener(transitions.append)
            breakers.append(breaker)
        started = time.perf_counter()
        accounting = _play(scenario, clock, breakers, Accounting(scenario), progress)
        wall = time.perf_counter() - started
    finally:
        for breaker in breakers:
            breaker.close()
        for client in clients:
            client.close()
    return accounting.report(
        mode=SimulationMode.SIMULATED,
        wall_seconds=wall,
        decisions=scenario.duration_seconds * scenario.workers * len(scenario.contexts),
        transitions=len(transitions),
    )


def _play(
    scenario: Scenario,
    clock: ManualClock,
    breakers: list[Breaker],
    accounting: Accounting,
    progress: Callable[[int, int], object] | None,
) -> Accounting:
    series = scenario.volatility_series()
    events = scenario.panic_events()
    contexts = [share.context for share in scenario.contexts]
    normal_ttl = scenario.normal_ttl
    total = scenario.duration_seconds
    set_clock = clock.set
    add_second = accounting.add_second
    for second in range(total):
        set_clock(SIMULATION_EPOCH + second)
        vix = None
        if series is not None:
            vix = series[second]
            for breaker in breakers:
                breaker.observe(vix)
        elif second in events:
            if events[second]:
                breakers[0].trip()
            else:
                breakers[0].reset()
        decisions = []
        for breaker in breakers:
            get_ttl = breaker.get_ttl
            decisions.append([get_ttl(normal_ttl, context) for context in contexts])
        add_second(second, vix, decisions)
        if progress is not None and (second % 60 == 59 or second == total - 1):
            progress(second + 1, total)
    return accounting
