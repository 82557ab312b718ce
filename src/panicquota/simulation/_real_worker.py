"""One worker process of the real mode: decide every simulated second, call get_ttl in between.

The process is started with the ``spawn`` method by :mod:`._real`, which owns
it: the worker never outlives its parent (it watches it), stops when asked,
leaves SIGINT to the parent (Ctrl-C reaches the whole process group; the
parent alone reports it) and runs at a lower CPU priority than the parent, so
that the feeder writing the scenario's readings on time is never starved by
the workers' hot loops.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from panicquota.breaker import describe_store_error, is_refusal
from panicquota.policy import AdaptivePanicQuota
from panicquota.simulation._agreement import Checkpoint
from panicquota.simulation._engine import (
    SIMULATION_EPOCH,
    SIMULATION_MAX_STALENESS,
    BreakerFactory,
    WorkerSetup,
    default_breaker,
)
from panicquota.simulation._scenario import BreakerSettings
from panicquota.stakes import Context
from panicquota.tiers import TIER_BY_MODE

__all__ = ["WorkerControl", "WorkerResult", "WorkerSpec", "worker_main"]

#: get_ttl calls per context in a round, between two looks at the clock (about 1 µs each).
_BATCH: Final = 16
#: Rounds of hot calls at least between two checkpoints: at a high compression
#: every round would otherwise meet a new simulated second and read Redis,
#: and the decision rate would measure round trips instead of ``get_ttl``.
_MIN_ROUNDS: Final = 2
#: How often a worker checks that its parent is alive, in wall seconds.
_PARENT_CHECK_SECONDS: Final = 0.25
#: Added to the workers' niceness: the parent feeds the readings and must win the CPU.
_WORKER_NICENESS: Final = 5
#: A checkpoint is dropped when the wall clock moved on more than this many
#: simulated seconds past its second before it was recorded: the worker was
#: descheduled mid-checkpoint and may have read a start written long after its
#: second (crossing one boundary is the ordinary cost of a Redis round trip).
_MAX_CHECKPOINT_DRIFT: Final = 1


def _no_yield() -> None:
    """Stand in for ``os.sched_yield`` where there is none."""


_yield_cpu: Final[Callable[[], None]] = getattr(os, "sched_yield", _no_yield)


class _Stopped(Exception):
    """The parent asked the workers to stop, or died."""


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What one worker process needs (picklable: it crosses the spawn)."""

    index: int
    redis_url: str
    key_prefix: str
    policy: dict[str, Any]
    settings: BreakerSettings
    contexts: tuple[Context, ...]
    normal_ttl: float
    steps: int
    speed: float
    #: The breakers' ``max_clock_skew``: a start read after a stall may be
    #: ahead of the worker's compressed clock by more than the default minute.
    max_clock_skew: float
    #: The parent's level for the breaker's logger (a spawned process starts unconfigured).
    log_level: int
    #: Builds the worker's breaker (``None``: the real ``VIXCircuitBreaker``);
    #: a module-level function, so that it pickles.
    breaker_factory: BreakerFactory | None = None


@dataclass(frozen=True, slots=True)
class WorkerControl:
    """The shared objects through which the parent drives its workers."""

    #: Counts the workers that built their breaker and reached Redis.
    ready: Any  # multiprocessing.Value("i")
    #: Set once ``wall0`` holds the wall time at which simulated second 0 starts.
    go: Any  # multiprocessing.Event
    wall0: Any  # multiprocessing.Value("d")
    #: Non-zero: stop now (the parent is failing or was interrupted).
    stop: Any  # multiprocessing.RawValue("b")
    #: Set once the parent has received every result: the worker may exit.
    collected: Any  # multiprocessing.Event
    results: Any  # multiprocessing.Queue


@dataclass(frozen=True, slots=True)
class WorkerResult:
    """What one worker measured."""

    index: int
    #: Wall time (epoch seconds) at which the worker made its last decision.
    finished_at: float
    decisions: int
    transitions: int
    checkpoints: list[Checkpoint]
    #: Times the worker's breaker rewrote the stored start (repaired or
    #: restored it): none in a correct run.
    repairs: int = 0
    #: Checkpoints dropped because the worker was descheduled in the middle.
    dropped: int = 0
    #: Times the store refused the breaker's calls (one per outage), and the first reason.
    refusals: int = 0
    refusal: str | None = None


def worker_main(spec: WorkerSpec, control: WorkerControl) -> None:
    """Run one worker process; report a :class:`WorkerResult` or ``(index, traceback)``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(os, "nice"):  # POSIX
        with contextlib.suppress(OSError):
            os.nice(_WORKER_NICENESS)
    results = control.results
    # Never block the exit on a queue nobody reads any more (dead parent):
    # the parent says when it has what was put (``collected``).
    results.cancel_join_thread()
    try:
        results.put(_work(spec, control))
    except _Stopped:
        return
    except BaseException:
        results.put((spec.index, traceback.format_exc()))
    with contextlib.suppress(_Stopped):
        _wait(control.collected, control)


def _wait(event: Any, control: WorkerControl) -> None:
    """Wait for *event*; raise :class:`_Stopped` if the parent dies or says stop first."""
    parent = multiprocessing.parent_process()
    while not event.wait(_PARENT_CHECK_SECONDS):
        if control.stop.value or (parent is not None and not parent.is_alive()):
            raise _Stopped


def _work(spec: WorkerSpec, control: WorkerControl) -> WorkerResult:
    from panicquota.breaker import connect

    _pass_logs_at(spec.log_level)
    observed = WorkerObserver()
    now = [SIMULATION_EPOCH]
    delivered: list[object] = []
    client = connect(spec.redis_url)
    factory = default_breaker if spec.breaker_factory is None else spec.breaker_factory
    breaker = factory(
        WorkerSetup(
            spec.index,
            client,
            lambda: now[0],
            AdaptivePanicQuota(**spec.policy),
            spec.key_prefix,
            spec.settings,
            SIMULATION_MAX_STALENESS,
            spec.max_clock_skew,
        )
    )
    try:
        breaker.add_listener(delivered.append)
        add_observer = getattr(breaker, "add_observer", None)
        if add_observer is not None:  # a planted breaker may not have one
            add_observer(observed)
        breaker.get_ttl(spec.normal_ttl, spec.contexts[0])  # reach Redis before the start
        with control.ready.get_lock():
            control.ready.value += 1
        _wait(control.go, control)
        start = control.wall0.value
        time.sleep(max(start - time.time(), 0.0))
        decisions, checkpoints, dropped, finished_at = _decide(
            spec, control, breaker.get_ttl, now, start
        )
    finally:
        breaker.close()
        client.close()
    return WorkerResult(
        spec.index,
        finished_at,
        decisions,
        len(delivered),
        checkpoints,
        observed.repairs,
        dropped,
        observed.refusals,
        observed.first_refusal,
    )


class WorkerObserver:
    """A breaker observer counting repairs of the stored start and the store's refusals.

    The breaker never raises from ``get_ttl`` or ``observe``: a store that
    refuses every script (CROSSSLOT on a cluster, scripting disabled) leaves
    it serving fail-safe decisions, which would agree perfectly. The run
    must know, to fail instead of reporting them.
    """

    def __init__(self) -> None:
        self.repairs = 0
        self.refusals = 0
        self.first_refusal: str | None = None

    def repair(self, kind: str) -> None:
        self.repairs += 1

    def decision(self, mode: object, meta: object, source: object) -> None:
        pass

    def panic_state(self, duration_seconds: float | None) -> None:
        pass

    def transition(self, transition: object) -> None:
        pass

    def store_error(self, operation: str, error: BaseException) -> None:
        if is_refusal(error):
            self.refusals += 1
            if self.first_refusal is None:
                self.first_refusal = describe_store_error(error)

    def store_latency(self, operation: str, seconds: float) -> None:
        pass

    def store_up(self, *, up: bool) -> None:
        pass


def _pass_logs_at(level: int) -> None:
    """Pass on the breaker's log records of *level* and up (a spawned child is unconfigured)."""
    logging.getLogger("panicquota.breaker").setLevel(level)


def _decide(
    spec: WorkerSpec, control: WorkerControl, get_ttl: Any, now: list[float], start: float
) -> tuple[int, list[Checkpoint], int, float]:
    """Decide until the scenario ends: a checkpoint per simulated second seen, get_ttl between.

    Returns the decisions, the checkpoints, the checkpoints dropped (the
    worker was descheduled between fixing its second and recording it) and
    the wall time of the end.
    """
    normal_ttl, contexts, speed, steps = spec.normal_ttl, spec.contexts, spec.speed, spec.steps
    stop = control.stop
    parent = multiprocessing.parent_process()
    clock = time.time
    batch = range(_BATCH)
    per_round = _BATCH * len(contexts)
    checkpoints: list[Checkpoint] = []
    decisions = dropped = 0
    step = -1
    next_check = 0.0
    rounds = _MIN_ROUNDS
    while True:
        wall = clock()
        current = int((wall - start) * speed)
        if current < 0:  # the wall clock stepped back
            time.sleep(0.001)
            continue
        if current >= steps:
            break
        if current != step and rounds >= _MIN_ROUNDS:
            rounds = 0
            step = current
            now[0] = SIMULATION_EPOCH + step
            record = []
            for context in contexts:
                ttl, mode, meta = get_ttl(normal_ttl, context)
                record.append((ttl, TIER_BY_MODE[mode], meta["panic_start_ts"]))
            decided_at = clock()
            decisions += len(contexts)
            if int((decided_at - start) * speed) - step > _MAX_CHECKPOINT_DRIFT:
                dropped += 1  # decided long after its second: not that second's decision
            else:
                checkpoints.append((step, decided_at, tuple(record)))
        if stop.value:
            raise _Stopped
        if wall >= next_check:
            if parent is not None and not parent.is_alive():
                raise _Stopped
            next_check = wall + _PARENT_CHECK_SECONDS
        for context in contexts:
            for _ in batch:
                get_ttl(normal_ttl, context)
        decisions += per_round
        rounds += 1
        # Give the CPU to anything else runnable (the feeder, Redis, another
        # worker due for its checkpoint) between rounds instead of after a
        # whole time slice: on a machine with fewer cores than processes this
        # is what keeps the feeder on time and the checkpoints regular.
        _yield_cpu()
    return decisions, checkpoints, dropped, clock()
