"""AsyncVIXCircuitBreaker: the same breaker for asyncio code (redis.asyncio)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Mapping
from typing import Any, Self

from panicquota._shared.event_loops import drop_connections_of_other_loops
from panicquota._validate import require_number
from panicquota.breaker._base import (
    STORE_ERRORS,
    STORE_LATENCY,
    STORE_UP,
    TRANSITION,
    AsyncScript,
    BreakerBase,
)
from panicquota.breaker._core import Flow, logger
from panicquota.breaker._outages import SLOW_READ
from panicquota.breaker._snapshot import Snapshot
from panicquota.breaker._types import StoreUnavailableError, TierTransition
from panicquota.decision import Decision
from panicquota.policy import AdaptivePanicQuota
from panicquota.stakes import Context

__all__ = ["AsyncVIXCircuitBreaker"]


class AsyncVIXCircuitBreaker(BreakerBase):
    """The :class:`VIXCircuitBreaker` for asyncio: the same rules, methods as coroutines.

    Takes a ``redis.asyncio`` client (or ``fakeredis.FakeAsyncRedis``) and
    the same options as :class:`VIXCircuitBreaker`, whose docstring explains
    them. :meth:`get_ttl` awaits nothing while the known state is younger than
    *max_staleness*. Listeners may be plain callables or coroutine functions.
    """

    _asyncio = True

    def _script(self, source: str) -> AsyncScript:
        return AsyncScript(self._redis, source)

    def _new_lock(self) -> None:
        # Created on first use in each event loop (_get_lock): an asyncio lock
        # and a task belong to the loop they were made in.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._first_call = True
        self._task_began = 0.0
        return None

    @classmethod
    def from_url(
        cls,
        url: str,
        quota: AdaptivePanicQuota | None = None,
        *,
        client_options: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Self:
        """Return a breaker over a :func:`connect_async` client of *url*, closed by :meth:`close`.

        Args:
            url: a store URL: ``redis://``, ``rediss://``, ``unix://``,
                ``redis+cluster://h:p[,h:p...]``,
                ``redis+sentinel://h:p[,h:p...]/service[/db]``, or the same
                with ``valkey`` (see :func:`panicquota.breaker.connect`).
            quota: the policy.
            client_options: options of the client (``socket_timeout``,
                ``password``, ``ssl_ca_certs``...), passed to :func:`connect_async`.
            options: the breaker's options (``key_prefix``, ``max_staleness``...).

        Raises:
            InvalidArgumentError: an option that is not the breaker's (a client
                option belongs in *client_options*), or a bad URL.

        On a cluster URL an untagged *key_prefix* is hash-tagged (logged).
        """
        from panicquota.breaker._client import connect_async

        cls._check_options(url, options)
        client = connect_async(url, **dict(client_options or {}))
        breaker = cls(client, quota, **options)
        breaker._owns_client = True
        return breaker

    async def get_ttl(self, normal_ttl: float, context: Context = None) -> Decision:
        """Return the policy's decision for now (see :meth:`VIXCircuitBreaker.get_ttl`).

        Raises:
            InvalidArgumentError: a negative, NaN or infinite *normal_ttl*.
            InvalidTypeError: an argument of the wrong type.
        """
        core = self._core
        mono = core.mono()
        snap = core.snapshot
        if 0.0 <= mono - snap.read_at < core.max_staleness:
            return core.decide(snap, core.clock(), normal_ttl, context, snap.cached)
        if not core.in_backoff(mono) and await self._wait_for_refresh(snap):
            snap = core.snapshot
            return core.decide(snap, core.clock(), normal_ttl, context, snap.fresh)
        snap = core.snapshot
        if not snap.known:
            return core.fail_safe(normal_ttl, context)
        return core.decide(snap, core.clock(), normal_ttl, context, snap.stale)

    async def panic_duration_minutes(self) -> float | None:
        """Return how long the panic has lasted, in minutes (``None``: no panic)."""
        core = self._core
        mono = core.mono()
        if not core.is_fresh(mono) and not core.in_backoff(mono):
            await self._wait_for_refresh(core.snapshot)
        return core.duration_minutes(core.snapshot, core.clock())

    async def observe(self, vix: float) -> None:
        """Feed a volatility reading (see :meth:`VIXCircuitBreaker.observe`).

        Raises:
            InvalidArgumentError: a negative, NaN or infinite *vix*.
            InvalidTypeError: *vix* is not a number.
        """
        require_number("vix", vix)
        core = self._core
        async with self._get_lock():
            await self._attempt(core.observe_flow(vix, core.clock()))

    async def trip(self) -> None:
        """Start a panic now unless one is on (see :meth:`VIXCircuitBreaker.trip`).

        Raises:
            StoreUnavailableError: Redis could not be reached.
        """
        core = self._core
        async with self._get_lock():
            await self._operate(core.trip_flow(core.clock()), "trip")

    async def reset(self) -> None:
        """End the current panic (see :meth:`VIXCircuitBreaker.reset`).

        Raises:
            StoreUnavailableError: Redis could not be reached.
        """
        core = self._core
        async with self._get_lock():
            await self._operate(core.reset_flow(core.clock()), "reset")

    async def refresh(self) -> None:
        """Read the shared state now, whatever its age (logs, does not raise, if Redis is down)."""
        core = self._core
        async with self._get_lock():
            await self._attempt(core.refresh_flow(core.clock()))

    async def close(self) -> None:
        """Drop the listeners; close the client if :meth:`from_url` made it."""
        self._core.listeners.clear()
        if self._owns_client:
            # Connections an earlier loop opened cannot be closed from this one.
            drop_connections_of_other_loops(self._redis, asyncio.get_running_loop())
            await self._redis.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _get_lock(self) -> asyncio.Lock:
        """Return this event loop's lock (a new loop: a new lock, the old connections dropped)."""
        loop = asyncio.get_running_loop()
        lock: asyncio.Lock | None = self._lock
        if lock is None or self._loop is not loop:
            if self._loop is not None:
                drop_connections_of_other_loops(self._redis, loop)
            lock = self._lock = asyncio.Lock()
            self._loop = loop
            self._task = None
        return lock

    async def _wait_for_refresh(self, before: Snapshot) -> bool:
        """Have a task read the state; wait at most *max_wait*; True if it did."""
        self._get_lock()
        task = self._task
        if task is None or task.done():
            task = self._task = asyncio.get_running_loop().create_task(self._refresh_round())
            self._task_began = time.monotonic()
        first, self._first_call = self._first_call and not before.known, False
        # Only a worker's very first call may wait for its first read longer;
        # the wait counts from the read's start, so a hung read is waited
        # for by the calls of its first *max_wait* only.
        budget = self._first_wait if first else self._max_wait
        waited = time.monotonic() - self._task_began
        if waited < budget:
            # Neither cancels the read on timeout nor raises what it raised.
            await asyncio.wait((task,), timeout=budget - waited)
        elif waited >= SLOW_READ:
            self._core.read_hangs(waited)
        # Read by this call (or since it began): its decision is FRESH.
        return self._core.snapshot is not before

    async def _refresh_round(self) -> None:
        core = self._core
        try:
            async with self._get_lock():
                await self._attempt(core.refresh_flow(core.clock()))
        except Exception:
            # Whatever a read raises (an injected clock...), the next call's
            # task reads again; nothing reaches the calls waiting for it.
            self._log_failure("a refresh")

    # -- running flows: the one place where Redis errors are caught ----------

    async def _attempt(self, flow: Flow[list[TierTransition]]) -> bool:
        """Run *flow*; on a Redis error, record the outage and return False."""
        try:
            await self._operate(flow, None)
        except StoreUnavailableError:
            return False
        return True

    async def _operate(self, flow: Flow[list[TierTransition]], op: str | None) -> None:
        core = self._core
        metrics = core.metrics
        calls = 0
        try:
            call = next(flow)
            while True:
                name, keys, args = call
                started = time.perf_counter()
                try:
                    reply = await self._scripts[name](keys=keys, args=args)
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
        except StopIteration as stop:
            transitions: list[TierTransition] = stop.value
        if calls:
            # Only a real round trip ends an outage.
            self._report(STORE_UP, core.store_succeeded)
        for transition in transitions:
            self._report(TRANSITION, core.announce, transition)
            for listener in list(core.listeners):
                try:
                    result = listener(transition)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    logger.exception("breaker listener %r failed on %r", listener, transition)
