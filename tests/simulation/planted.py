"""Breaker factories that plant a faulty worker in a real-mode run.

They live in a module of their own, at module level, because the real mode
pickles the factory into each spawned worker process, which imports it by name.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from panicquota.decision import Decision
from panicquota.simulation import Breaker, WorkerSetup
from panicquota.simulation._engine import SIMULATION_EPOCH, default_breaker
from panicquota.stakes import Context


def worker_1_on_another_prefix(setup: WorkerSetup) -> Breaker:
    """Worker 1 reads its own prefix (inside the run's, so it is cleaned up): it sees no panic."""
    if setup.index == 1:
        setup = replace(setup, key_prefix=f"{setup.key_prefix}:elsewhere")
    return default_breaker(setup)


def worker_1_ninety_seconds_ahead(setup: WorkerSetup) -> Breaker:
    """Worker 1 decides 90 simulated seconds ahead: the same start, other tiers."""
    if setup.index == 1:
        clock = setup.clock
        setup = replace(setup, clock=lambda: clock() + 90)
    return default_breaker(setup)


def worker_1_fails(setup: WorkerSetup) -> Breaker:
    """Worker 1 cannot build its breaker."""
    if setup.index == 1:
        raise RuntimeError("planted: worker 1 cannot build its breaker")
    return default_breaker(setup)


#: When the stalled worker is descheduled: 100 simulated seconds in, before the trip at 180.
STALL_AT = 100
#: How long, in wall seconds: at the stall test's compression (240x) past the trip.
STALL_SECONDS = 0.6


class _StalledOnce:
    """A breaker whose worker is descheduled once, after fixing its second, before reading Redis."""

    def __init__(self, inner: Breaker, clock: Callable[[], float]) -> None:
        self.inner, self.clock, self.stalled = inner, clock, False

    def get_ttl(self, normal_ttl: float, context: Context = None) -> Decision:
        if not self.stalled and self.clock() >= SIMULATION_EPOCH + STALL_AT:
            self.stalled = True
            time.sleep(STALL_SECONDS)
        return self.inner.get_ttl(normal_ttl, context)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def worker_1_stalls_once(setup: WorkerSetup) -> Breaker:
    """Worker 1 is descheduled for a while mid-checkpoint: it wakes with a start in its future."""
    inner = default_breaker(setup)
    if setup.index == 1:
        return _StalledOnce(inner, setup.clock)
    return inner


class _CorruptsOnce:
    """A breaker whose worker overwrites the stored start with garbage once, past the trip."""

    def __init__(self, inner: Breaker, clock: Callable[[], float], key: str) -> None:
        self.inner, self.clock, self.key, self.done = inner, clock, key, False

    def get_ttl(self, normal_ttl: float, context: Context = None) -> Decision:
        if not self.done and self.clock() >= SIMULATION_EPOCH + 200:
            self.done = True
            self.inner._redis.set(self.key, "not a time")  # type: ignore[attr-defined]
        return self.inner.get_ttl(normal_ttl, context)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def worker_1_corrupts_the_start_once(setup: WorkerSetup) -> Breaker:
    """Worker 1 writes an unreadable start once, after the trip: the breakers repair it."""
    inner = default_breaker(setup)
    if setup.index == 1:
        return _CorruptsOnce(inner, setup.clock, f"{setup.key_prefix}:start_ts")
    return inner


def worker_1_stalls_once_with_the_default_skew(setup: WorkerSetup) -> Breaker:
    """As :func:`worker_1_stalls_once`, with the breaker's default one-minute max_clock_skew."""
    return worker_1_stalls_once(replace(setup, max_clock_skew=60.0))
