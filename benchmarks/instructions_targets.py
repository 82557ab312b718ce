"""The set-ups (and two small targets) of the counted benchmarks in ``test_instructions.py``.

Each set-up returns the positional arguments of its target; both are named by
import path so that a fresh interpreter under valgrind can rebuild the call.
Nothing here may depend on the wall clock: a count must come out the same on
every run, so the breaker runs on a :class:`~panicquota.clock.ManualClock`.
This module imports no pytest: the child interpreters would count its import.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count
from typing import Any

from panicquota import AdaptivePanicQuota, MatchImportance
from panicquota.clock import ManualClock

LIGUE_1 = {"league": "Ligue 1"}
#: The policy cases: (duration in minutes, context), named by tier and context form.
POLICY_CASES: dict[str, tuple[float, object]] = {
    "no-panic-mapping": (0, LIGUE_1),
    "tier1-mapping": (5.0, LIGUE_1),
    "tier2-mapping": (35.0, LIGUE_1),
    "tier3-mapping": (120.0, LIGUE_1),
    "tier4-mapping": (400.0, LIGUE_1),
    "tier1-string": (35.0, "UEFA Champions League Final"),
    "tier2-none": (35.0, None),
}


def _policy(case: str) -> tuple[Any, ...]:
    duration, context = POLICY_CASES[case]
    return (AdaptivePanicQuota(), 60, duration, context)


# One set-up per case: the child names its set-up by import path, not with arguments.
def policy_no_panic_mapping() -> tuple[Any, ...]:
    """Return the policy's arguments for no panic, a mapping context."""
    return _policy("no-panic-mapping")


def policy_tier1_mapping() -> tuple[Any, ...]:
    """Return the policy's arguments for a 5-minute panic, a mapping context."""
    return _policy("tier1-mapping")


def policy_tier2_mapping() -> tuple[Any, ...]:
    """Return the policy's arguments for a 35-minute panic, a mapping context."""
    return _policy("tier2-mapping")


def policy_tier3_mapping() -> tuple[Any, ...]:
    """Return the policy's arguments for a 2-hour panic, a mapping context."""
    return _policy("tier3-mapping")


def policy_tier4_mapping() -> tuple[Any, ...]:
    """Return the policy's arguments for a 400-minute panic, a mapping context."""
    return _policy("tier4-mapping")


def policy_tier1_string() -> tuple[Any, ...]:
    """Return the policy's arguments for a 35-minute panic, a high-stakes string context."""
    return _policy("tier1-string")


def policy_tier2_none() -> tuple[Any, ...]:
    """Return the policy's arguments for a 35-minute panic, no context."""
    return _policy("tier2-none")


def classify_known() -> tuple[Any, ...]:
    """Return a classifier and a context it has seen (the memo's hit)."""
    importance = MatchImportance()
    context = {"league": "UEFA Champions League"}
    importance.classify(context)
    return (importance, context)


def classify_new(importance: MatchImportance, numbers: Iterator[int]) -> object:
    """Classify a context never seen before (the keyword scan), a new number each call."""
    return importance.classify(f"Some Cup match {next(numbers)} with Ligue 1 teams")


def classify_new_setup() -> tuple[Any, ...]:
    """Return a classifier and the numbers that make each context new."""
    return (MatchImportance(), count())


def _breaker(minutes: float) -> Any:
    import fakeredis

    from panicquota.breaker import VIXCircuitBreaker

    clock = ManualClock(1_800_000_000.0)
    breaker = VIXCircuitBreaker(fakeredis.FakeRedis(), key_prefix="{pqcount}", clock=clock)
    if minutes:
        breaker.trip()
        clock.advance(minutes=minutes)
    breaker.refresh()
    # The clock stands still from here: every call decides from the snapshot.
    breaker.get_ttl(60, LIGUE_1)
    return breaker


def get_ttl_panic() -> tuple[Any, ...]:
    """Return a breaker 35 minutes into a panic, its snapshot fresh, and get_ttl's arguments."""
    return (_breaker(35.0), 60, LIGUE_1)


def get_ttl_calm() -> tuple[Any, ...]:
    """Return a breaker with no panic, its snapshot fresh, and get_ttl's arguments."""
    return (_breaker(0), 60, LIGUE_1)


_A_DAY = 86_400.0


class SimulatedSecond:
    """One step of the simulator's inner loop, as ``simulate`` plays it, the store read aside.

    Each call moves the simulated clock one second on, feeds the second's
    volatility reading to every worker's breaker, decides every context on
    every worker, and accounts for the second's requests. ``simulate`` also
    reads the shared fakeredis store once per second and worker; that read
    runs a Lua script in fakeredis's embedded Lua, which seeds its string
    hashes with the time, and its count moved by 2.6% between two runs: not
    repeatable enough for a 3% gate. So here the breakers decide from their
    snapshot (a staleness bound longer than the run), as a real worker does
    between two reads.
    """

    def __init__(self, workers: int = 2) -> None:
        import fakeredis

        from panicquota.simulation import SIMULATION_EPOCH, WorkerSetup, builtin_scenario
        from panicquota.simulation._accounting import Accounting
        from panicquota.simulation._engine import default_breaker

        scenario = builtin_scenario("chronic").with_overrides(workers=workers)
        self.epoch = SIMULATION_EPOCH
        self.clock = ManualClock(SIMULATION_EPOCH)
        server = fakeredis.FakeServer()
        quota = AdaptivePanicQuota(**scenario.policy)
        self.breakers = [
            default_breaker(
                WorkerSetup(
                    index,
                    fakeredis.FakeRedis(server=server),
                    self.clock,
                    quota,
                    "{pqcount:sim}",
                    scenario.breaker,
                    _A_DAY,
                )
            )
            for index in range(workers)
        ]
        self.series = scenario.volatility_series() or []
        self.contexts = [share.context for share in scenario.contexts]
        self.normal_ttl = scenario.normal_ttl
        self.accounting = Accounting(scenario)
        # Into the panic: the steps counted are the simulator's busiest.
        self.second = 20 * 60
        self.step()

    def step(self) -> None:
        """Play one simulated second."""
        second = self.second
        self.second += 1
        self.clock.set(self.epoch + second)
        vix = self.series[second]
        for breaker in self.breakers:
            breaker.observe(vix)
        decisions = [
            [breaker.get_ttl(self.normal_ttl, context) for context in self.contexts]
            for breaker in self.breakers
        ]
        self.accounting.add_second(second, vix, decisions)


def simulated_second() -> tuple[Any, ...]:
    """Return a simulator 20 minutes into chronic with 2 workers, ready to step."""
    return (SimulatedSecond(),)


def fetch_odds() -> dict[str, object]:
    """Return what the upstream would: called once, to fill the cache."""
    return {"match": 42, "odds": [1.85, 3.4, 4.2]}


def cache_hit() -> tuple[Any, ...]:
    """Return a filled PanicCache over a calm breaker, the key and the fetch: every call hits."""
    from panicquota.cache import MemoryStore, PanicCache

    breaker = _breaker(0)
    cache = PanicCache(breaker, MemoryStore(), normal_ttl=60)
    cache.get_or_fetch("odds:42", fetch_odds, LIGUE_1)
    return (cache, "odds:42", fetch_odds, LIGUE_1)
