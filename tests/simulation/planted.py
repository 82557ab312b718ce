"""Breaker factories that plant a faulty worker in a real-mode run.

They live in a module of their own, at module level, because the real mode
pickles the factory into each spawned worker process, which imports it by name.
"""

from __future__ import annotations

from dataclasses import replace

from panicquota.simulation import Breaker, WorkerSetup
from panicquota.simulation._engine import default_breaker


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
