"""The real mode: worker processes calling the real breaker against a real Redis.

Simulated time is compressed through the breakers' injected clock: at wall
time ``w`` every process's clock reads ``SIMULATION_EPOCH + floor((w - w0) *
speed)``, a whole simulated second shared by all processes (the wall clock
is, the per-process monotonic clock is not). The parent process feeds the
volatility readings; each worker decides every context once per simulated
second it sees (a *checkpoint*, recorded) and, in between, calls ``get_ttl``
as fast as it can (counted).

Agreement is checked as the specification defines it: checkpoints at the same
instant made from the same stored start must be identical. (A worker whose
snapshot is up to ``max_staleness`` old may still see the previous start for a
moment: that is the staleness bound, not a disagreement.)
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from panicquota.decision import Decision
from panicquota.errors import PanicquotaError
from panicquota.policy import AdaptivePanicQuota
from panicquota.simulation._accounting import Accounting
from panicquota.simulation._engine import SIMULATION_EPOCH, SIMULATION_MAX_STALENESS
from panicquota.simulation._report import Disagreement, SimulationMode, SimulationReport
from panicquota.simulation._scenario import BreakerSettings, Scenario
from panicquota.stakes import Context
from panicquota.tiers import MODE_BY_TIER, PanicMode

__all__ = ["DEFAULT_REDIS_URL", "RealModeError", "simulate_real"]

DEFAULT_REDIS_URL: Final = "redis://127.0.0.1:6379/0"

#: get_ttl calls per context between two looks at the wall clock.
_BATCH: Final = 64
_TIER_OF: Final = {mode: tier for tier, mode in enumerate(MODE_BY_TIER)}

#: One checkpoint: per context, ``(ttl, mode, panic_start_ts)``.
_Record = tuple[tuple[float, PanicMode, float | None], ...]


class RealModeError(PanicquotaError, RuntimeError):
    """The real mode could not run (Redis unreachable, a worker failed)."""


@dataclass(frozen=True, slots=True)
class _WorkerSpec:
    index: int
    redis_url: str
    key_prefix: str
    policy: dict[str, Any]
    settings: BreakerSettings
    contexts: tuple[Context, ...]
    normal_ttl: float
    steps: int
    speed: float
    #: The parent's level for the breaker's logger (a spawned process starts unconfigured).
    log_level: int


@dataclass(frozen=True, slots=True)
class _WorkerResult:
    index: int
    #: Wall time (epoch seconds) at which the worker made its last decision.
    finished_at: float
    decisions: int
    transitions: int
    checkpoints: list[tuple[int, _Record]]


def simulate_real(
    scenario: Scenario,
    *,
    redis_url: str = DEFAULT_REDIS_URL,
    wall_seconds: float = 10.0,
    progress: Callable[[int, int], object] | None = None,
) -> SimulationReport:
    """Play *scenario* on ``scenario.workers`` real processes against the Redis at *redis_url*.

    Every key lives under a prefix unique to the run and is deleted at the
    end; nothing else on the server is touched.

    Args:
        scenario: what to play.
        redis_url: the Redis server.
        wall_seconds: how long the compressed run lasts in wall time.
        progress: called as ``progress(done_seconds, total_seconds)``.

    Returns:
        The report; ``decisions`` counts every ``get_ttl`` call the workers made.

    Raises:
        RealModeError: Redis is unreachable or a worker failed.
    """
    import redis

    try:
        admin = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
    except ValueError as error:
        raise RealModeError(f"not a Redis URL: {redis_url!r} ({error})") from None
    try:
        admin.ping()
    except (redis.RedisError, OSError) as error:
        admin.close()
        raise RealModeError(
            f"cannot reach Redis at {redis_url!r} ({error}); start a server or pass --redis URL"
        ) from None
    base = f"panicquota:sim:{uuid.uuid4().hex[:12]}"
    key_prefix = f"{base}:vix:panic"
    steps = scenario.duration_seconds
    speed = steps / wall_seconds
    specs = [
        _WorkerSpec(
            index,
            redis_url,
            key_prefix,
            dict(scenario.policy),
            scenario.breaker,
            tuple(share.context for share in scenario.contexts),
            scenario.normal_ttl,
            steps,
            speed,
            logging.getLogger("panicquota.breaker").getEffectiveLevel(),
        )
        for index in range(scenario.workers)
    ]
    context = multiprocessing.get_context("spawn")  # no fork of a threaded parent
    start_gate = context.Barrier(scenario.workers + 1)
    wall0 = context.Value("d", 0.0)
    results: Any = context.Queue()
    processes = [
        context.Process(target=_worker_main, args=(spec, start_gate, wall0, results), daemon=True)
        for spec in specs
    ]
    try:
        for process in processes:
            process.start()
        try:
            start_gate.wait(timeout=60)  # every worker connected and built its breaker
            wall0.value = time.time() + 0.05
            start_gate.wait(timeout=60)
        except threading.BrokenBarrierError:
            raise _startup_failure(results) from None
        fed_transitions = _feed(scenario, redis_url, key_prefix, wall0.value, speed, progress)
        collected = _collect(results, processes, timeout=wall_seconds + 60)
        # The decisions were made between the start and the last worker's
        # end; shipping the checkpoints back afterwards is not part of it.
        wall = max(result.finished_at for result in collected) - wall0.value
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
            process.close()
        results.close()
        results.join_thread()
        _delete_keys(admin, base)
        admin.close()
    accounting = Accounting(scenario)
    _account(scenario, accounting, collected)
    report = accounting.report(
        mode=SimulationMode.REAL,
        wall_seconds=wall,
        decisions=sum(r.decisions for r in collected),
        transitions=fed_transitions + sum(r.transitions for r in collected),
        redis_url=redis_url,
        key_prefix=key_prefix,
    )
    points, agreeing, disagreements = agreement(scenario, [r.checkpoints for r in collected])
    return replace(
        report, decision_points=points, agreeing_points=agreeing, disagreements=disagreements
    )


def agreement(
    scenario: Scenario, checkpoints: Sequence[Sequence[tuple[int, _Record]]]
) -> tuple[int, int, tuple[Disagreement, ...]]:
    """Return ``(points, agreeing points, disagreements)`` of the workers' checkpoints.

    A point is one (second, context, stored start) seen by at least one
    worker; it agrees when every worker that saw it decided the same.
    """
    groups: dict[tuple[int, int, float | None], dict[int, tuple[float, PanicMode]]] = {}
    for worker, records in enumerate(checkpoints):
        for step, record in records:
            for c, (ttl, mode, start) in enumerate(record):
                groups.setdefault((step, c, start), {})[worker] = (ttl, mode)
    agreeing = 0
    disagreements: list[Disagreement] = []
    for (step, c, _start), decisions in sorted(groups.items(), key=_group_order):
        if len(set(decisions.values())) == 1:
            agreeing += 1
        elif len(disagreements) < 20:
            disagreements.append(
                Disagreement(
                    step,
                    scenario.contexts[c].label,
                    tuple((ttl, mode, _TIER_OF[mode]) for ttl, mode in decisions.values()),
                )
            )
    return len(groups), agreeing, tuple(disagreements)


def _group_order(item: tuple[tuple[int, int, float | None], object]) -> tuple[int, int, float]:
    step, c, start = item[0]
    return step, c, -1.0 if start is None else start


def _feed(
    scenario: Scenario,
    redis_url: str,
    key_prefix: str,
    wall0: float,
    speed: float,
    progress: Callable[[int, int], object] | None,
) -> int:
    """Feed the readings (or trip/reset the windows) on time; return transitions delivered."""
    from panicquota.breaker import VIXCircuitBreaker

    series = scenario.volatility_series()
    events = scenario.panic_events()
    steps = scenario.duration_seconds
    now = [SIMULATION_EPOCH]
    delivered: list[object] = []
    feeder = VIXCircuitBreaker.from_url(
        redis_url,
        AdaptivePanicQuota(**scenario.policy),
        key_prefix=key_prefix,
        clock=lambda: now[0],
        max_staleness=SIMULATION_MAX_STALENESS,
        **scenario.breaker.as_dict(),
    )
    feeder.add_listener(delivered.append)
    try:
        fed = 0
        while fed < steps:
            due = min(int((time.time() - wall0) * speed) + 1, steps)
            # Readings missed while this process was descheduled are fed late
            # but in order, so the calm period is measured as the scenario says.
            for step in range(fed, due):
                now[0] = SIMULATION_EPOCH + step
                if series is not None:
                    feeder.observe(series[step])
                elif events.get(step) is True:
                    feeder.trip()
                elif events.get(step) is False:
                    feeder.reset()
            if due > fed and progress is not None:
                progress(due, steps)
            fed = due
            time.sleep(min(0.002, 0.5 / speed))
    finally:
        feeder.close()
    return len(delivered)


def _worker_main(spec: _WorkerSpec, start_gate: Any, wall0: Any, results: Any) -> None:
    """Run one worker process: build the breaker, then decide until the scenario ends."""
    try:
        results.put(_work(spec, start_gate, wall0))
    except BaseException:
        results.put((spec.index, traceback.format_exc()))
        start_gate.abort()


def _work(spec: _WorkerSpec, start_gate: Any, wall0: Any) -> _WorkerResult:
    from panicquota.breaker import VIXCircuitBreaker

    logging.getLogger("panicquota.breaker").setLevel(spec.log_level)
    now = [SIMULATION_EPOCH]
    delivered: list[object] = []
    breaker = VIXCircuitBreaker.from_url(
        spec.redis_url,
        AdaptivePanicQuota(**spec.policy),
        key_prefix=spec.key_prefix,
        clock=lambda: now[0],
        max_staleness=SIMULATION_MAX_STALENESS,
        **spec.settings.as_dict(),
    )
    breaker.add_listener(delivered.append)
    get_ttl, normal_ttl, contexts = breaker.get_ttl, spec.normal_ttl, spec.contexts
    get_ttl(normal_ttl, contexts[0])  # connect before the start
    start_gate.wait(timeout=60)
    start_gate.wait(timeout=60)
    start, speed, steps = wall0.value, spec.speed, spec.steps
    checkpoints: list[tuple[int, _Record]] = []
    decisions = 0
    step = -1
    clock = time.time
    batch = range(_BATCH)
    try:
        while True:
            current = int((clock() - start) * speed)
            if current >= steps:
                break
            if current < 0:
                continue
            if current != step:
                step = current
                now[0] = SIMULATION_EPOCH + step
                record = []
                for context in contexts:
                    ttl, mode, meta = get_ttl(normal_ttl, context)
                    record.append((ttl, mode, meta["panic_start_ts"]))
                checkpoints.append((step, tuple(record)))
                decisions += len(contexts)
            for context in contexts:
                for _ in batch:
                    get_ttl(normal_ttl, context)
            decisions += _BATCH * len(contexts)
        finished_at = clock()
    finally:
        breaker.close()
    return _WorkerResult(spec.index, finished_at, decisions, len(delivered), checkpoints)


def _startup_failure(results: Any) -> RealModeError:
    """Return the error that explains why the workers did not all start."""
    try:
        item = results.get(timeout=5)
    except queue.Empty:
        return RealModeError("the workers did not all start within 60 s")
    index, trace = item
    return RealModeError(f"worker {index} failed:\n{trace}")


def _delete_keys(admin: Any, base: str) -> None:
    """Delete this run's keys, and only them (never a flush: the server is shared)."""
    batch: list[bytes] = []
    for key in admin.scan_iter(match=f"{base}:*", count=500):
        batch.append(key)
        if len(batch) >= 500:
            admin.delete(*batch)
            batch.clear()
    if batch:
        admin.delete(*batch)


def _collect(results: Any, processes: Sequence[Any], *, timeout: float) -> list[_WorkerResult]:
    collected: dict[int, _WorkerResult] = {}
    deadline = time.time() + timeout
    while len(collected) < len(processes):
        try:
            item = results.get(timeout=max(deadline - time.time(), 0.1))
        except queue.Empty:
            raise RealModeError(
                f"only {len(collected)} of {len(processes)} workers reported within {timeout:g} s"
            ) from None
        if isinstance(item, tuple):
            index, trace = item
            raise RealModeError(f"worker {index} failed:\n{trace}")
        collected[item.index] = item
    return [collected[index] for index in sorted(collected)]


def _account(
    scenario: Scenario, accounting: Accounting, collected: Sequence[_WorkerResult]
) -> None:
    """Serve the scenario's requests from each worker's checkpoint decisions.

    A second a worker skipped (it was busy or descheduled) is served with the
    decision it held then: its previous checkpoint.
    """
    quota = AdaptivePanicQuota(**scenario.policy)
    contexts = [share.context for share in scenario.contexts]
    normal_ttl = scenario.normal_ttl
    series = scenario.volatility_series()
    cursors = [0] * len(collected)
    no_panic = [quota.calculate_ttl_strategy(normal_ttl, None, c) for c in contexts]
    held: list[list[Decision]] = [list(no_panic) for _ in collected]
    for second in range(scenario.duration_seconds):
        for w, result in enumerate(collected):
            records = result.checkpoints
            while cursors[w] < len(records) and records[cursors[w]][0] <= second:
                step, record = records[cursors[w]]
                held[w] = [
                    _replay(quota, normal_ttl, step, decided, ctx)
                    for decided, ctx in zip(record, contexts, strict=True)
                ]
                cursors[w] += 1
        accounting.add_second(second, None if series is None else series[second], held)


def _replay(
    quota: AdaptivePanicQuota,
    normal_ttl: float,
    step: int,
    decided: tuple[float, PanicMode, float | None],
    context: Context,
) -> Decision:
    """Return the worker's recorded TTL and mode, with the policy's metadata for them."""
    ttl, mode, start = decided
    # The policy is pure: its metadata (the alert text) for this start at this
    # instant is what the worker saw.
    duration = None if start is None else max(SIMULATION_EPOCH + step - start, 0.0) / 60
    meta = quota.calculate_ttl_strategy(normal_ttl, duration, context)[2]
    return (ttl, mode, meta)
