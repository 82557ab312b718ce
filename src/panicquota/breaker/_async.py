"""AsyncVIXCircuitBreaker: the same breaker for asyncio code (redis.asyncio)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Mapping
from typing import Any, Self

from panicquota._validate import require_number
from panicquota.breaker._base import BreakerBase
from panicquota.breaker._core import Flow, logger
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

    def _new_lock(self) -> None:
        # Created on first use (_get_lock): a lock belongs to the running event loop.
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

        On a cluster URL an untagged *key_prefix* is hash-tagged (logged).
        """
        from panicquota.breaker._client import connect_async

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
        local = core.clock()
        snap = core.snapshot
        if 0.0 <= local - snap.read_at < core.max_staleness:
            return core.decide(snap, local, normal_ttl, context, snap.cached)
        lock = self._get_lock()
        # Once some state is known, a task that finds another one reading
        # Redis serves the known state instead of queueing behind a slow call.
        if snap.known and lock.locked():
            return core.decide(snap, local, normal_ttl, context, snap.stale)
        async with lock:
            if core.is_fresh(local):
                snap = core.snapshot
                return core.decide(snap, local, normal_ttl, context, snap.cached)
            if not core.in_backoff(local) and await self._attempt(core.refresh_flow(local), local):
                snap = core.snapshot
                return core.decide(snap, local, normal_ttl, context, snap.fresh)
        snap = core.snapshot
        if not snap.known:
            return core.fail_safe(normal_ttl, context)
        return core.decide(snap, local, normal_ttl, context, snap.stale)

    async def panic_duration_minutes(self) -> float | None:
        """Return how long the panic has lasted, in minutes (``None``: no panic)."""
        core = self._core
        local = core.clock()
        if not core.is_fresh(local) and not core.in_backoff(local):
            async with self._get_lock():
                await self._attempt(core.refresh_flow(local), local)
        return core.duration_minutes(core.snapshot, local)

    async def observe(self, vix: float) -> None:
        """Feed a volatility reading (see :meth:`VIXCircuitBreaker.observe`).

        Raises:
            InvalidArgumentError: a negative, NaN or infinite *vix*.
            InvalidTypeError: *vix* is not a number.
        """
        require_number("vix", vix)
        core = self._core
        local = core.clock()
        async with self._get_lock():
            await self._attempt(core.observe_flow(vix, local), local)

    async def trip(self) -> None:
        """Start a panic now unless one is on (see :meth:`VIXCircuitBreaker.trip`).

        Raises:
            StoreUnavailableError: Redis could not be reached.
        """
        core = self._core
        local = core.clock()
        async with self._get_lock():
            await self._operate(core.trip_flow(local), local, "trip")

    async def reset(self) -> None:
        """End the current panic (see :meth:`VIXCircuitBreaker.reset`).

        Raises:
            StoreUnavailableError: Redis could not be reached.
        """
        core = self._core
        local = core.clock()
        async with self._get_lock():
            await self._operate(core.reset_flow(local), local, "reset")

    async def refresh(self) -> None:
        """Read the shared state now, whatever its age (logs, does not raise, if Redis is down)."""
        core = self._core
        local = core.clock()
        async with self._get_lock():
            await self._attempt(core.refresh_flow(local), local)

    async def close(self) -> None:
        """Drop the listeners; close the client if :meth:`from_url` made it."""
        self._core.listeners.clear()
        if self._owns_client:
            await self._redis.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _get_lock(self) -> asyncio.Lock:
        lock: asyncio.Lock | None = self._lock
        if lock is None:
            lock = self._lock = asyncio.Lock()
        return lock

    # -- running flows: the one place where Redis errors are caught ----------

    async def _attempt(self, flow: Flow[list[TierTransition]], local: float) -> bool:
        """Run *flow*; on a Redis error, record the outage and return False."""
        try:
            await self._operate(flow, local, None)
        except StoreUnavailableError:
            return False
        return True

    async def _operate(
        self, flow: Flow[list[TierTransition]], local: float, op: str | None
    ) -> None:
        core = self._core
        metrics = core.metrics
        try:
            call = next(flow)
            while True:
                name, keys, args = call
                started = time.perf_counter()
                try:
                    reply = await self._scripts[name](keys=keys, args=args)
                except self._store_errors as error:
                    flow.close()
                    raise self._unavailable(op, name, error, local) from error
                if metrics is not None:
                    metrics.store_latency(name, time.perf_counter() - started)
                call = flow.send(reply)
        except StopIteration as stop:
            transitions: list[TierTransition] = stop.value
        core.store_succeeded(local)
        for transition in transitions:
            core.announce(transition)
            for listener in list(core.listeners):
                try:
                    result = listener(transition)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    logger.exception("breaker listener %r failed on %r", listener, transition)
