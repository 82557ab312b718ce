"""The real mode: worker processes calling the real breaker against a real Redis.

Simulated time is compressed through the breakers' injected clock: at wall
time ``w`` every process's clock reads ``SIMULATION_EPOCH + floor((w - w0) *
speed)``, a whole simulated second shared by all processes (the wall clock
is, the per-process monotonic clock is not). The parent process feeds the
volatility readings (the *feeder*); each worker (:mod:`._real_worker`)
decides every context once per simulated second it sees (a *checkpoint*,
recorded) and, in between, calls ``get_ttl`` as fast as it can (counted: the
decisions per second against a real Redis are what this mode measures).

Real processes on a real machine fall behind: the feeder may write a reading
late, a descheduled worker skips seconds. Both are measured and reported
(``feeder_max_lag_seconds``, ``worker_checked_shares``), with a warning past
:data:`FEEDER_LAG_LIMIT` or below :data:`CHECKED_SHARE_LIMIT`; by default the
compression is capped at :data:`DEFAULT_MAX_SPEED` so that the run stays
faithful. Agreement is judged by :mod:`._agreement`.

The run cleans up behind itself whatever happens: SIGTERM and Ctrl-C stop
the workers and delete the run's keys; workers exit when their parent dies;
and every key of the run carries an expiry as a backstop should the parent
be killed outright.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import signal
import time
import uuid
from collections.abc import Callable
from typing import Any, Final

from panicquota.simulation._engine import BreakerFactory
from panicquota.simulation._limits import DEFAULT_MAX_SPEED, DEFAULT_MIN_WALL_SECONDS
from panicquota.simulation._real_errors import RealModeError, store_errors
from panicquota.simulation._real_feeder import Feeder, max_clock_skew
from panicquota.simulation._real_keys import delete_keys_or_log
from panicquota.simulation._real_processes import STARTUP_SECONDS, await_ready, collect, stop
from panicquota.simulation._real_report import (
    CHECKED_SHARE_LIMIT,
    FEEDER_LAG_LIMIT,
    raise_on_refusals,
    real_report,
)
from panicquota.simulation._real_signals import exit_on_sigterm, signal_handled
from panicquota.simulation._real_worker import (
    WorkerControl,
    WorkerObserver,
    WorkerSpec,
    worker_main,
)
from panicquota.simulation._report import SimulationReport
from panicquota.simulation._scenario import Scenario

__all__ = [
    "CHECKED_SHARE_LIMIT",
    "DEFAULT_MAX_SPEED",
    "DEFAULT_REDIS_URL",
    "FEEDER_LAG_LIMIT",
    "RealModeError",
    "default_wall_seconds",
    "simulate_real",
]


DEFAULT_REDIS_URL: Final = "redis://127.0.0.1:6379/0"

#: The run's keys expire this long after the run should have ended.
_BACKSTOP_MARGIN_SECONDS: Final = 300.0


def default_wall_seconds(scenario: Scenario) -> float:
    """Return the wall time of a run of *scenario* that is not told how long to take.

    At least :data:`DEFAULT_MIN_WALL_SECONDS`, and long enough that the
    compression stays at or below :data:`DEFAULT_MAX_SPEED`.
    """
    return max(DEFAULT_MIN_WALL_SECONDS, scenario.duration_seconds / DEFAULT_MAX_SPEED)


def simulate_real(
    scenario: Scenario,
    *,
    redis_url: str = DEFAULT_REDIS_URL,
    wall_seconds: float | None = None,
    progress: Callable[[int, int], object] | None = None,
    breaker_factory: BreakerFactory | None = None,
    on_start: Callable[[str], object] | None = None,
) -> SimulationReport:
    """Play *scenario* on ``scenario.workers`` real processes against the Redis at *redis_url*.

    Every key lives under a prefix unique to the run, carries an expiry as a
    backstop and is deleted at the end (SIGTERM and Ctrl-C included; SIGTERM
    raises ``SystemExit(143)`` during the run); nothing else on the server is
    touched.

    Args:
        scenario: what to play.
        redis_url: the Redis server.
        wall_seconds: how long the compressed run lasts in wall time
            (default: :func:`default_wall_seconds`).
        progress: called as ``progress(done_seconds, total_seconds)``.
        breaker_factory: builds each worker's breaker, in the worker process
            (a module-level function, so that it pickles; default: the real
            ``VIXCircuitBreaker``).
        on_start: called with the prefix of the run's keys before the workers
            start (to tell an operator which keys are the run's).

    Returns:
        The report; ``decisions`` counts every ``get_ttl`` call the workers made.

    Raises:
        RealModeError: Redis is unreachable or a worker failed.
    """
    from panicquota.breaker import connect, is_cluster_client

    wall_seconds = default_wall_seconds(scenario) if wall_seconds is None else wall_seconds
    if not 0 < wall_seconds < math.inf:
        raise RealModeError(f"wall_seconds must be a finite number > 0, got {wall_seconds!r}")
    admin: Any = None
    try:
        # A cluster client reads the topology when built: reaching it starts here.
        admin = connect(redis_url, socket_timeout=5)
        admin.ping()
    except ValueError as error:
        raise RealModeError(f"not a Redis URL: {redis_url!r} ({error})") from None
    except store_errors() as error:
        if admin is not None:
            admin.close()
        raise RealModeError(
            f"cannot reach Redis at {redis_url!r} ({error}); start a server or pass --redis URL"
        ) from None
    base = f"panicquota:sim:{uuid.uuid4().hex[:12]}"
    if is_cluster_client(admin):
        base = "{" + base + "}"  # every key of the run in one slot
    key_prefix = f"{base}:vix:panic"
    steps = scenario.duration_seconds
    speed = steps / wall_seconds
    backstop = math.ceil(wall_seconds + STARTUP_SECONDS + _BACKSTOP_MARGIN_SECONDS)
    specs = [
        WorkerSpec(
            index,
            redis_url,
            key_prefix,
            dict(scenario.policy),
            scenario.breaker,
            tuple(share.context for share in scenario.contexts),
            scenario.normal_ttl,
            steps,
            speed,
            max_clock_skew(scenario),
            # Each worker would repeat the parent's warnings (every trip and
            # reset); its refusals come back in its result.
            max(logging.getLogger("panicquota.breaker").getEffectiveLevel(), logging.ERROR),
            breaker_factory,
        )
        for index in range(scenario.workers)
    ]
    context = multiprocessing.get_context("spawn")  # no fork of a threaded parent
    control = WorkerControl(
        ready=context.Value("i", 0),
        go=context.Event(),
        wall0=context.Value("d", 0.0),
        stop=context.RawValue("b", 0),
        collected=context.Event(),
        results=context.Queue(),
    )
    processes = [
        context.Process(target=worker_main, args=(spec, control), daemon=True) for spec in specs
    ]
    if on_start is not None:
        on_start(base)
    cleanup_failure: str | None = None
    feeder: Feeder | None = None
    refusals = WorkerObserver()
    with signal_handled(signal.SIGTERM, exit_on_sigterm):
        try:
            with signal_handled(signal.SIGINT, signal.SIG_IGN):
                for process in processes:
                    process.start()
            feeder = Feeder(scenario, redis_url, key_prefix, admin)
            feeder.breaker.add_observer(refusals)
            await_ready(control, processes)
            wall0 = time.time() + 0.05
            control.wall0.value = wall0
            control.go.set()
            feed = feeder.run(wall0, speed, backstop, progress)
            collected = collect(control, processes, timeout=wall_seconds + 60)
            control.collected.set()
        finally:
            control.stop.value = 1
            stop(processes)
            control.results.close()
            if feeder is not None:
                feeder.close()
            cleanup_failure = delete_keys_or_log(admin, base, redis_url, backstop)
            admin.close()
    raise_on_refusals(redis_url, refusals, collected)
    # The decisions were made between the start and the last worker's end;
    # shipping the checkpoints back afterwards is not part of it.
    wall = max(result.finished_at for result in collected) - wall0
    return real_report(
        scenario, collected, feed, wall, speed, wall0, redis_url, key_prefix, cleanup_failure
    )
