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

import contextlib
import logging
import math
import multiprocessing
import queue
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from types import FrameType
from typing import Any, Final, NoReturn

from panicquota.decision import Decision
from panicquota.errors import PanicquotaError
from panicquota.policy import AdaptivePanicQuota
from panicquota.simulation._accounting import Accounting
from panicquota.simulation._agreement import Decided, StartChange, agreement
from panicquota.simulation._engine import (
    SIMULATION_EPOCH,
    SIMULATION_MAX_STALENESS,
    BreakerFactory,
)
from panicquota.simulation._limits import DEFAULT_MAX_SPEED, DEFAULT_MIN_WALL_SECONDS
from panicquota.simulation._real_worker import (
    WorkerControl,
    WorkerObserver,
    WorkerResult,
    WorkerSpec,
    worker_main,
)
from panicquota.simulation._report import SimulationMode, SimulationReport
from panicquota.simulation._scenario import Scenario
from panicquota.stakes import Context
from panicquota.tiers import MODE_BY_TIER

__all__ = [
    "CHECKED_SHARE_LIMIT",
    "DEFAULT_MAX_SPEED",
    "DEFAULT_REDIS_URL",
    "FEEDER_LAG_LIMIT",
    "RealModeError",
    "default_wall_seconds",
    "simulate_real",
]

logger = logging.getLogger("panicquota.simulation")

DEFAULT_REDIS_URL: Final = "redis://127.0.0.1:6379/0"
#: Past this many simulated seconds of feeder lag at a trip or reset, the
#: report warns (1% of the shortest default tier, 15 minutes, is 9 s).
FEEDER_LAG_LIMIT: Final = 10.0
#: Below this share of simulated seconds checked by a worker, the report warns.
CHECKED_SHARE_LIMIT: Final = 0.9

#: The feeder is the only writer of the panic state, so its snapshot never
#: goes stale: it reads Redis once a simulated minute instead of every second.
_FEEDER_MAX_STALENESS: Final = 60.0
#: The run's keys expire this long after the run should have ended.
_BACKSTOP_MARGIN_SECONDS: Final = 300.0
#: How often the feeder puts the backstop expiry on keys the workers created.
_SWEEP_SECONDS: Final = 2.0
#: How long the workers get to connect and build their breakers.
_STARTUP_SECONDS: Final = 60.0


def _max_clock_skew(scenario: Scenario) -> float:
    """Return the breakers' ``max_clock_skew`` for a run of *scenario*.

    A worker descheduled for a tenth of a wall second at 600x wakes a minute
    behind the feeder and may read a start that far in its future. That is
    compression, not a corrupt start: the breakers must not repair it (a
    repair rewrites the start every other worker reads). No start the run
    writes is further ahead of any process's clock than the scenario is long.
    """
    return float(scenario.duration_seconds) + 60.0


class RealModeError(PanicquotaError, RuntimeError):
    """The real mode could not run (Redis unreachable, a worker failed)."""


@dataclass(slots=True)
class _Feed:
    """What the feeder did."""

    transitions: int = 0
    changes: list[StartChange] = field(default_factory=list)
    #: How far behind the scenario it wrote a reading, in simulated seconds.
    max_lag: float = 0.0
    #: How far behind the scenario a change of start reached Redis, in simulated seconds.
    change_lag: float = 0.0


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
    except _store_errors() as error:
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
    backstop = math.ceil(wall_seconds + _STARTUP_SECONDS + _BACKSTOP_MARGIN_SECONDS)
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
            _max_clock_skew(scenario),
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
    feeder: _Feeder | None = None
    refusals = WorkerObserver()
    with _signal_handled(signal.SIGTERM, _exit_on_sigterm):
        try:
            with _signal_handled(signal.SIGINT, signal.SIG_IGN):
                for process in processes:
                    process.start()
            feeder = _Feeder(scenario, redis_url, key_prefix, admin)
            feeder.breaker.add_observer(refusals)
            _await_ready(control, processes)
            wall0 = time.time() + 0.05
            control.wall0.value = wall0
            control.go.set()
            feed = feeder.run(wall0, speed, backstop, progress)
            collected = _collect(control, processes, timeout=wall_seconds + 60)
            control.collected.set()
        finally:
            control.stop.value = 1
            _stop(processes)
            control.results.close()
            if feeder is not None:
                feeder.close()
            cleanup_failure = _delete_keys_or_log(admin, base, redis_url, backstop)
            admin.close()
    _raise_on_refusals(redis_url, refusals, collected)
    # The decisions were made between the start and the last worker's end;
    # shipping the checkpoints back afterwards is not part of it.
    wall = max(result.finished_at for result in collected) - wall0
    return _report(
        scenario, collected, feed, wall, speed, wall0, redis_url, key_prefix, cleanup_failure
    )


def _store_errors() -> tuple[type[BaseException], ...]:
    """What reaching the store may raise, for redis-py and (if installed) valkey-py."""
    import redis

    errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
    with contextlib.suppress(ImportError):
        from valkey.exceptions import ValkeyError

        errors = (*errors, ValkeyError)
    return errors


def _raise_on_refusals(
    redis_url: str, feeder: WorkerObserver, collected: Sequence[WorkerResult]
) -> None:
    """Fail a run whose store refused the breakers' calls: its decisions were fail-safe.

    Raises:
        RealModeError: the feeder's or a worker's breaker logged a refusal.
    """
    refused = [(feeder.refusals, feeder.first_refusal)] + [
        (r.refusals, r.refusal) for r in collected
    ]
    breakers = sum(1 for count, _ in refused if count)
    if not breakers:
        return
    reason = next(reason for count, reason in refused if count)
    raise RealModeError(
        f"the store at {redis_url} refused the breaker's calls during the run "
        f"({breakers} of {len(refused)} breakers): {reason}; their decisions were the "
        "fail-safe, not the policy's, so the run measures nothing"
    )


def _report(
    scenario: Scenario,
    collected: Sequence[WorkerResult],
    feed: _Feed,
    wall: float,
    speed: float,
    wall0: float,
    redis_url: str,
    key_prefix: str,
    cleanup_failure: str | None,
) -> SimulationReport:
    accounting = Accounting(scenario)
    _account(scenario, accounting, collected)
    report = accounting.report(
        mode=SimulationMode.REAL,
        wall_seconds=wall,
        decisions=sum(r.decisions for r in collected),
        transitions=feed.transitions + sum(r.transitions for r in collected),
        redis_url=redis_url,
        key_prefix=key_prefix,
    )
    verdict = agreement(
        scenario,
        [r.checkpoints for r in collected],
        feed.changes,
        wall0=wall0,
        speed=speed,
        max_staleness=SIMULATION_MAX_STALENESS,
    )
    checked = tuple(len(r.checkpoints) / scenario.duration_seconds for r in collected)
    repairs = sum(r.repairs for r in collected)
    warnings = _warnings(feed.change_lag, checked, repairs)
    if cleanup_failure is not None:
        warnings = (*warnings, cleanup_failure)
    return replace(
        report,
        decision_points=verdict.points,
        agreeing_points=verdict.agreeing,
        excused_points=verdict.excused,
        compared_points=verdict.compared,
        disagreements=verdict.disagreements,
        compression=speed,
        feeder_max_lag_seconds=feed.max_lag,
        feeder_change_lag_seconds=feed.change_lag,
        worker_checked_shares=checked,
        breaker_repairs=repairs,
        dropped_checkpoints=sum(r.dropped for r in collected),
        keys_deleted=cleanup_failure is None,
        warnings=warnings,
    )


def _warnings(change_lag: float, checked: Sequence[float], repairs: int = 0) -> tuple[str, ...]:
    """Return what makes this run's timeline less faithful than the scenario, if anything.

    A reading fed late changes nothing unless it trips or resets the panic,
    so the feeder's lag is judged where it matters: at the changes.
    """
    found = []
    if change_lag > FEEDER_LAG_LIMIT:
        found.append(
            f"the feeder wrote a trip or reset up to {change_lag:,.0f} simulated seconds late "
            f"(limit {FEEDER_LAG_LIMIT:g}): the workers saw the panic change that late; the "
            "machine is short of CPU for this compression: give --wall-seconds more time or "
            "run fewer --workers"
        )
    if min(checked, default=1.0) < CHECKED_SHARE_LIMIT:
        found.append(
            f"the workers checked only {min(checked):.0%} to {max(checked):.0%} of the "
            f"simulated seconds (limit {CHECKED_SHARE_LIMIT:.0%}): a skipped second is served "
            "with the decision held before it, so tier changes show late; give "
            "--wall-seconds more time or run fewer --workers"
        )
    if repairs:
        found.append(
            f"the workers' breakers rewrote the stored panic start {repairs:,} "
            f"{'time' if repairs == 1 else 'times'} (repaired or restored it): a correct run "
            "never does; the other workers read the rewritten start"
        )
    return tuple(found)


@contextlib.contextmanager
def _signal_handled(signum: int, handler: Any) -> Iterator[None]:
    """Handle *signum* with *handler* for the block, then restore the previous handler.

    Used twice: SIGTERM becomes ``SystemExit`` so that the run's cleanup
    runs, and SIGINT is ignored while the workers start, so that they ignore
    it from their first instruction (an ignored signal stays ignored in a
    child; Ctrl-C is the parent's to handle).
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (and receives signals)
        return
    previous = signal.signal(signum, handler)
    try:
        yield
    finally:
        signal.signal(signum, signal.SIG_DFL if previous is None else previous)


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> NoReturn:
    # One is enough: a second SIGTERM must not cut the cleanup short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(128 + signum)


def _await_ready(control: WorkerControl, processes: Sequence[Any]) -> None:
    """Wait until every worker reached Redis; raise the first failure instead."""
    deadline = time.monotonic() + _STARTUP_SECONDS
    while control.ready.value < len(processes):
        try:
            item = control.results.get(timeout=0.05)
        except queue.Empty:
            _check_alive(processes, set())
            if time.monotonic() > deadline:
                raise RealModeError(
                    f"the workers did not all start within {_STARTUP_SECONDS:g} s"
                ) from None
            continue
        raise _failure(item)


def _check_alive(processes: Sequence[Any], reported: set[int]) -> None:
    """Raise if a worker that has not reported exited (workers wait to be collected)."""
    for index, process in enumerate(processes):
        if index not in reported and process.exitcode is not None:
            raise RealModeError(
                f"worker {index} exited with status {process.exitcode} without reporting"
            )


def _failure(item: object) -> RealModeError:
    """Return the error for a worker's report that is not a result."""
    if isinstance(item, tuple):
        index, trace = item
        return RealModeError(f"worker {index} failed:\n{trace}")
    return RealModeError(f"a worker reported before the start: {item!r}")


def _collect(
    control: WorkerControl, processes: Sequence[Any], *, timeout: float
) -> list[WorkerResult]:
    collected: dict[int, WorkerResult] = {}
    deadline = time.monotonic() + timeout
    while len(collected) < len(processes):
        try:
            item = control.results.get(timeout=0.25)
        except queue.Empty:
            _check_alive(processes, set(collected))
            if time.monotonic() > deadline:
                raise RealModeError(
                    f"only {len(collected)} of {len(processes)} workers reported "
                    f"within {timeout:g} s"
                ) from None
            continue
        if not isinstance(item, WorkerResult):
            raise _failure(item)
        collected[item.index] = item
    return [collected[index] for index in sorted(collected)]


def _stop(processes: Sequence[Any]) -> None:
    """End every worker: they exit by themselves once told; the stragglers are terminated."""
    deadline = time.monotonic() + 5
    for process in processes:
        if process.pid is not None:  # started
            process.join(timeout=max(deadline - time.monotonic(), 0.0))
    for process in processes:
        if process.pid is not None and process.is_alive():
            process.terminate()
            process.join(timeout=2)
            if process.is_alive():
                process.kill()
                process.join()


class _Feeder:
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
            max_clock_skew=_max_clock_skew(scenario),
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
    ) -> _Feed:
        """Feed every simulated second when its wall time comes; record what changed and when."""
        scenario, key_prefix = self.scenario, self.key_prefix
        series = scenario.volatility_series()
        events = scenario.panic_events()
        steps = scenario.duration_seconds
        feed = _Feed()
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
                    self._expire([f"{key_prefix}:{key}" for key in _STATE_KEYS], backstop)
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
            _expire(self.admin, keys, backstop)
        except (redis.RedisError, OSError) as error:
            if not self.expiry_failed:
                self.expiry_failed = True
                logger.warning("could not put the backstop expiry on the run's keys: %s", error)


#: The keys a trip or a reset (re)writes without an expiry.
_STATE_KEYS: Final = ("start_ts", "activation", "ended")


def _expire(admin: Any, keys: Sequence[Any], seconds: int) -> None:
    """Put the backstop expiry on *keys* (the run deletes them; this is for a killed run)."""
    if not keys:
        return
    with admin.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.expire(key, seconds)
        pipe.execute()


def _delete_keys_or_log(admin: Any, base: str, redis_url: str, backstop: int) -> str | None:
    """Delete the run's keys; if that fails, log it and return the failure (never raise).

    The cleanup runs on the way out of an error too: raising here would hide it.
    """
    import redis

    try:
        _delete_keys(admin, base)
    except (redis.RedisError, OSError) as error:
        message = (
            f"could not delete the run's keys {base}:* on {redis_url} ({error}); "
            f"they expire within {backstop} s"
        )
        logger.error("%s", message)
        return message
    return None


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


def _account(scenario: Scenario, accounting: Accounting, collected: Sequence[WorkerResult]) -> None:
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
                step, _decided_at, record = records[cursors[w]]
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
    decided: Decided,
    context: Context,
) -> Decision:
    """Return the worker's recorded TTL and mode, with the policy's metadata for them."""
    ttl, tier, start = decided
    # The policy is pure: its metadata (the alert text) for this start at this
    # instant is what the worker saw.
    duration = None if start is None else max(SIMULATION_EPOCH + step - start, 0.0) / 60
    meta = quota.calculate_ttl_strategy(normal_ttl, duration, context)[2]
    return (ttl, MODE_BY_TIER[tier], meta)
