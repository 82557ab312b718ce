"""VIXCircuitBreaker: the panic state shared through Redis, for threaded code."""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any, Self

from panicquota._validate import require_number
from panicquota.breaker._base import (
    STORE_ERRORS,
    STORE_LATENCY,
    STORE_UP,
    TRANSITION,
    BreakerBase,
    Script,
)
from panicquota.breaker._core import Flow, logger
from panicquota.breaker._outages import SLOW_READ
from panicquota.breaker._snapshot import Snapshot
from panicquota.breaker._types import StoreUnavailableError, TierTransition
from panicquota.decision import Decision
from panicquota.policy import AdaptivePanicQuota
from panicquota.stakes import Context

__all__ = ["VIXCircuitBreaker"]


class VIXCircuitBreaker(BreakerBase):
    """Decide cache TTLs from a panic whose start every worker reads from Redis.

    The panic start lives at ``<key_prefix>:start_ts`` (epoch seconds); every
    worker and host that reads it computes the same duration and so, through
    the policy, the same TTL. The other keys, all under the same prefix, are
    ``:activation`` (a counter of panic activations), ``:ended`` (the
    episode-end marker a reset leaves) and ``:delivered`` (one hash of the
    marks electing each tier transition's deliverer). On a cluster
    client a prefix without a hash tag is tagged (``"{vix:panic}"``, logged
    once): the scripts touch several of these keys at once and need them in
    one slot.

    :meth:`get_ttl` pays no Redis round trip per call: it decides from a local
    snapshot of the state read less than *max_staleness* seconds ago. The
    default, 1 s, is far below the tier thresholds (15 minutes at the least),
    so the staleness only delays how fast a trip or a reset reaches a worker,
    by at most a second; the duration itself is computed from the shared
    start and the clock at every call, so workers deciding at the same instant
    from the same start agree exactly. One read per second per process is
    nothing for Redis.

    Redis is read off the request path, by a background thread started on
    first need (a new one in a forked child): a call that finds the snapshot
    stale asks it for a read and waits at most *max_wait* (20 ms), counted
    from when the read began, so a read that hangs delays only the calls of
    its first 20 ms, whatever client was passed (``redis.Redis()`` at its
    defaults waits for ever). A worker's very first call may wait up to 1 s
    for its first read. When Redis is down or slow, no call raises into the
    request path, whatever the client raises: the breaker serves the last
    state it read (``meta["source"]`` is ``STALE``), logs once per outage (a
    failed call, or a read unanswered for 2 s), retries at most every 2 s (on
    a monotonic clock), and recovers by itself. A worker that never
    read any state while Redis is down serves the fail-safe: no panic
    (``normal_ttl``), or *fail_safe_ttl* if given (``meta["source"]`` is
    ``FAIL_SAFE``). Turning caching off for every request because Redis is
    unreachable would put the whole load on the upstream at the moment the
    infrastructure is already failing, so the default assumes no panic.

    Args:
        redis: a redis-py compatible client (redis-py, valkey-py, fakeredis;
            standalone, Sentinel-managed or cluster); to connect by URL use
            :meth:`from_url`.
        quota: the policy (default: ``AdaptivePanicQuota()``).
        key_prefix: the prefix of every key the breaker uses.
        clock: a callable returning epoch seconds (default: the system clock).
            With the default, staleness, backoff and the calm period are
            measured on ``time.monotonic``; an injected clock drives them too.
        time_source: ``"local"`` (the clock) or ``"redis"``: the server's
            ``TIME``, through an offset measured at each read, so hosts with
            skewed clocks agree at no extra round trip.
        max_staleness: the known state is read again once it is this many
            seconds old; ``0`` reads Redis on every call.
        trip_level: a reading at or above it starts a panic.
        reset_level: readings below it for *calm_seconds* end the panic.
        calm_seconds: how long readings must stay below *reset_level*.
        grace_seconds: a panic back within this long after a reset resumes
            its episode (same start) instead of restarting at tier 1.
        fail_safe_ttl: the TTL cap served when no state is known and Redis is
            down (default: none, the normal TTL).
        max_clock_skew: a start at most this many seconds in the future is
            accepted as "just started" (flagged ``meta["clamped"]``); a later
            one is treated as corrupt and repaired. "Now" is the later of
            this worker's clock and Redis's ``TIME``: a host whose clock is
            behind never rewrites a good start.
        max_panic_age: a start older than this (default 7 days, the life of
            the transition marks), or before 2000, is corrupt: ignored with a
            warning and repaired.
        max_wait: the longest :meth:`get_ttl` waits for Redis, in seconds
            (default: 0.02).
        on_transition: a first listener (see :meth:`add_listener`).
        metrics: a :class:`~panicquota.breaker.BreakerObserver` to report to,
            such as :class:`~panicquota.breaker.BreakerMetrics` (more with
            :meth:`add_observer`).

    Raises:
        InvalidArgumentError: a negative or non-finite number, an empty prefix
            or an unknown time source.
        InvalidTypeError: an argument of the wrong type.
        ConfigError: *reset_level* not below *trip_level*.
    """

    def _script(self, source: str) -> Script:
        return Script(self._redis, source)

    def _new_lock(self) -> threading.Lock:
        self._guard = threading.Lock()  # never held across a Redis call
        self._wanted = threading.Event()
        self._round: threading.Event | None = None
        self._round_began = 0.0
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._first_call = True
        _LIVE.add(self)
        return threading.Lock()

    def _after_fork(self) -> None:
        """In a forked child: the refresher thread is gone, locks may be held: start over."""
        self._lock = self._new_lock()

    @classmethod
    def from_url(
        cls,
        url: str,
        quota: AdaptivePanicQuota | None = None,
        *,
        client_options: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Self:
        """Return a breaker over a client of *url* made by :func:`connect`, closed by :meth:`close`.

        Args:
            url: a store URL: ``redis://``, ``rediss://``, ``unix://``,
                ``redis+cluster://h:p[,h:p...]``,
                ``redis+sentinel://h:p[,h:p...]/service[/db]``, or the same
                with ``valkey`` (see :func:`panicquota.breaker.connect`).
            quota: the policy.
            client_options: options of the client (``socket_timeout``,
                ``password``, ``ssl_ca_certs``...), passed to :func:`connect`.
            options: the breaker's options (``key_prefix``, ``max_staleness``...).

        Raises:
            InvalidArgumentError: an option that is not the breaker's (a client
                option belongs in *client_options*), or a bad URL.

        On a cluster URL an untagged *key_prefix* is hash-tagged (logged).
        """
        from panicquota.breaker._client import connect

        cls._check_options(url, options)
        client = connect(url, **dict(client_options or {}))
        breaker = cls(client, quota, **options)
        breaker._owns_client = True
        return breaker

    def get_ttl(self, normal_ttl: float, context: Context = None) -> Decision:
        """Return the policy's decision for now: ``(ttl, mode, meta)``.

        ``meta`` has the policy's keys plus ``source`` (a :class:`StateSource`),
        ``panic_start_ts`` and ``clamped`` (the start was slightly in the
        future). Never raises because of Redis.

        Raises:
            InvalidArgumentError: a negative, NaN or infinite *normal_ttl*.
            InvalidTypeError: an argument of the wrong type.
        """
        core = self._core
        mono = core.mono()
        snap = core.snapshot
        if 0.0 <= mono - snap.read_at < core.max_staleness:
            return core.decide(snap, core.clock(), normal_ttl, context, snap.cached)
        if not core.in_backoff(mono) and self._wait_for_refresh(snap):
            snap = core.snapshot
            return core.decide(snap, core.clock(), normal_ttl, context, snap.fresh)
        snap = core.snapshot
        if not snap.known:
            return core.fail_safe(normal_ttl, context)
        return core.decide(snap, core.clock(), normal_ttl, context, snap.stale)

    def panic_duration_minutes(self) -> float | None:
        """Return how long the panic has lasted, in minutes (``None``: no panic).

        Reads Redis only if the known state is older than *max_staleness*;
        while Redis is down, answers from the last known state.
        """
        core = self._core
        mono = core.mono()
        if not core.is_fresh(mono) and not core.in_backoff(mono):
            self._wait_for_refresh(core.snapshot)
        return core.duration_minutes(core.snapshot, core.clock())

    def observe(self, vix: float) -> None:
        """Feed a volatility reading: trip at *trip_level*, reset after a calm period.

        A reading at or above *trip_level* starts a panic (or resumes the one
        reset less than *grace_seconds* ago); readings below *reset_level*
        for *calm_seconds* end it. Readings in between change nothing. The
        calm period is tracked by each breaker on its own clock; feeding
        readings to several workers is safe (starts are set-if-absent, resets
        compare-and-delete). While Redis is down a reading is dropped (the
        outage is logged once).

        Raises:
            InvalidArgumentError: a negative, NaN or infinite *vix*.
            InvalidTypeError: *vix* is not a number.
        """
        require_number("vix", vix)
        core = self._core
        with self._lock:
            self._attempt(core.observe_flow(vix, core.clock()))

    def trip(self) -> None:
        """Start a panic now unless one is on (operators); racing workers agree on one start.

        Raises:
            StoreUnavailableError: Redis could not be reached.
        """
        core = self._core
        with self._lock:
            self._operate(core.trip_flow(core.clock()), "trip")

    def reset(self) -> None:
        """End the current panic (operators), leaving an episode-end marker.

        Only the episode read just before is deleted (compare-and-delete), so
        a reset racing a newer panic never erases it.

        Raises:
            StoreUnavailableError: Redis could not be reached.
        """
        core = self._core
        with self._lock:
            self._operate(core.reset_flow(core.clock()), "reset")

    def refresh(self) -> None:
        """Read the shared state now, whatever its age (logs, does not raise, if Redis is down)."""
        core = self._core
        with self._lock:
            self._attempt(core.refresh_flow(core.clock()))

    def close(self) -> None:
        """Drop the listeners; close the client if :meth:`from_url` made it."""
        self._core.listeners.clear()
        with self._guard:
            self._stopped = True
            self._wanted.set()
        if self._owns_client:
            self._redis.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the refresher thread: Redis reads off the request path ------------

    def _wait_for_refresh(self, before: Snapshot) -> bool:
        """Have the refresher read the state; wait at most *max_wait*; True if it did.

        The wait is counted from when the read was requested: once a read has
        taken longer than *max_wait*, later calls do not wait for it at all.
        """
        with self._guard:
            done = self._round
            if done is None:
                done = self._round = threading.Event()
                self._round_began = time.monotonic()
                self._wanted.set()
            # Also for a round already asked for: a refresher that died since
            # (it clears _thread as it goes) is replaced by the next call.
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(
                    target=_refresher,
                    args=(weakref.ref(self), self._wanted),
                    name=f"panicquota-breaker {self._core.keys.prefix}",
                    daemon=True,
                )
                self._thread.start()
            began = self._round_began
        first, self._first_call = self._first_call and not before.known, False
        # Only a worker's very first call may wait for its first read longer.
        budget = self._first_wait if first else self._max_wait
        waited = time.monotonic() - began
        if waited < budget:
            done.wait(budget - waited)
        elif waited >= SLOW_READ:
            self._core.read_hangs(waited)
        # Read by this call (or since it began): its decision is FRESH.
        return self._core.snapshot is not before

    def _refresh_round(self) -> bool:
        """Run one requested refresh (in the refresher thread); False when it should exit."""
        with self._guard:
            if self._stopped or not self._wanted.is_set():
                self._thread = None
                return False
            self._wanted.clear()
            done = self._round
        assert done is not None  # requested with _wanted, under the guard
        try:
            with self._lock:
                self._attempt(self._core.refresh_flow(self._core.clock()))
        except Exception:
            # Whatever a round raises (an injected clock...), the next one runs.
            self._log_failure("a refresh")
        except BaseException:
            # KeyboardInterrupt, gevent's Timeout, GreenletExit...: this thread
            # ends (clearing _thread), and the next call starts another.
            self._log_failure("a refresh (the refresher thread ends)")
            raise
        finally:
            with self._guard:
                self._round = None
            done.set()
        return True

    def _refresher_exits(self) -> None:
        """The refresher thread ends, however: the next call that needs a read starts one."""
        with self._guard:
            if self._thread is threading.current_thread():
                self._thread = None

    # -- running flows: the one place where Redis errors are caught ----------

    def _attempt(self, flow: Flow[list[TierTransition]]) -> bool:
        """Run *flow*; on a Redis error, record the outage and return False."""
        try:
            self._operate(flow, None)
        except StoreUnavailableError:
            return False
        return True

    def _operate(self, flow: Flow[list[TierTransition]], op: str | None) -> None:
        core = self._core
        metrics = core.metrics
        calls = 0
        try:
            call = next(flow)
            while True:
                name, keys, args = call
                started = time.perf_counter()
                try:
                    reply = self._scripts[name](keys=keys, args=args)
                    calls += 1
                    if metrics is not None:
                        seconds = time.perf_counter() - started
                        self._report(STORE_LATENCY, metrics.store_latency, name, seconds)
                    call = flow.send(reply)
                except StopIteration:
                    raise
                except STORE_ERRORS as error:
                    flow.close()
                    raise self._unavailable(op, name, error) from error
                except BaseException as error:
                    # KeyboardInterrupt, gevent's Timeout...: an outage too (one
                    # log line, backoff), and the exception goes on.
                    flow.close()
                    self._unavailable(op, name, error)
                    raise
        except StopIteration as stop:
            transitions: list[TierTransition] = stop.value
        if calls:
            # Only a real round trip ends an outage.
            self._report(STORE_UP, core.store_succeeded)
        for transition in transitions:
            self._report(TRANSITION, core.announce, transition)
            for listener in list(core.listeners):
                try:
                    listener(transition)
                except Exception:
                    logger.exception("breaker listener %r failed on %r", listener, transition)


#: A refresher thread with nothing to do for this long exits (a new one starts on demand).
_IDLE_EXIT = 10.0
_LIVE: weakref.WeakSet[VIXCircuitBreaker] = weakref.WeakSet()


def _refresher(ref: weakref.ref[VIXCircuitBreaker], wanted: threading.Event) -> None:
    """Run a breaker's requested refreshes; hold it only while running one."""
    try:
        while True:
            wanted.wait(_IDLE_EXIT)
            breaker = ref()
            if breaker is None or not breaker._refresh_round():
                return
            del breaker
    except BaseException:  # logged by _refresh_round: this thread ends
        return
    finally:
        breaker = ref()
        if breaker is not None:
            breaker._refresher_exits()


def _after_fork_in_child() -> None:
    for breaker in list(_LIVE):
        breaker._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
