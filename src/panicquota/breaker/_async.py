"""AsyncVIXCircuitBreaker: the same breaker for asyncio code (redis.asyncio)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self

from panicquota._validate import require_number
from panicquota.breaker._core import BreakerCore, Flow, Listener, logger
from panicquota.breaker._sync import SCRIPTS, STORE_ERRORS
from panicquota.breaker._types import StoreUnavailableError, TierTransition, TimeSource
from panicquota.clock import Clock
from panicquota.decision import Decision
from panicquota.policy import AdaptivePanicQuota
from panicquota.stakes import Context

if TYPE_CHECKING:
    from panicquota.breaker._metrics import BreakerMetrics

__all__ = ["AsyncVIXCircuitBreaker"]


class AsyncVIXCircuitBreaker:
    """The :class:`VIXCircuitBreaker` for asyncio: the same rules, methods as coroutines.

    Takes a ``redis.asyncio`` client (or ``fakeredis.FakeAsyncRedis``) and
    the same options as :class:`VIXCircuitBreaker`, whose docstring explains
    them. :meth:`get_ttl` awaits nothing while the known state is younger than
    *max_staleness*. Listeners may be plain callables or coroutine functions.
    """

    def __init__(
        self,
        redis: Any,
        quota: AdaptivePanicQuota | None = None,
        *,
        key_prefix: str = "vix:panic",
        clock: Clock | None = None,
        time_source: TimeSource | str = TimeSource.LOCAL,
        max_staleness: float = 1.0,
        trip_level: float = 30.0,
        reset_level: float = 20.0,
        calm_seconds: float = 60.0,
        grace_seconds: float = 300.0,
        fail_safe_ttl: float | None = None,
        max_clock_skew: float = 60.0,
        on_transition: Listener | None = None,
        metrics: BreakerMetrics | None = None,
    ) -> None:
        self._core = BreakerCore(
            quota,
            key_prefix=key_prefix,
            clock=clock,
            time_source=time_source,
            max_staleness=max_staleness,
            trip_level=trip_level,
            reset_level=reset_level,
            calm_seconds=calm_seconds,
            grace_seconds=grace_seconds,
            fail_safe_ttl=fail_safe_ttl,
            max_clock_skew=max_clock_skew,
            on_transition=on_transition,
            metrics=metrics,
        )
        self._redis = redis
        self._scripts = {name: redis.register_script(src) for name, src in SCRIPTS.items()}
        # Created on first use: a lock belongs to the running event loop.
        self._lock: asyncio.Lock | None = None
        self._owns_client = False

    @classmethod
    def from_url(cls, url: str, quota: AdaptivePanicQuota | None = None, **options: Any) -> Self:
        """Return a breaker over a client made by :func:`connect_async`, closed by :meth:`close`."""
        from panicquota.breaker._client import connect_async

        breaker = cls(connect_async(url), quota, **options)
        breaker._owns_client = True
        return breaker

    @property
    def key_prefix(self) -> str:
        """The prefix of every key this breaker uses."""
        return self._core.keys.prefix

    @property
    def quota(self) -> AdaptivePanicQuota:
        """The policy the breaker asks."""
        return self._core.quota

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

    def add_listener(self, callback: Callable[[TierTransition], object]) -> None:
        """Call *callback* with each delivered transition, awaiting what it returns if awaitable."""
        self._core.listeners.append(callback)

    async def close(self) -> None:
        """Drop the listeners; close the client if :meth:`from_url` made it."""
        self._core.listeners.clear()
        if self._owns_client:
            await self._redis.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        core = self._core
        return (
            f"{type(self).__name__}(key_prefix={core.keys.prefix!r}, "
            f"time_source={core.time_source.value!r}, max_staleness={core.max_staleness!r})"
        )

    def _get_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

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
                except STORE_ERRORS as error:
                    flow.close()
                    core.store_failed(local, name, error)
                    raise StoreUnavailableError(
                        f"could not {op or name} the breaker {core.keys.prefix!r}: "
                        f"Redis is unreachable ({type(error).__name__}: {error})"
                    ) from error
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
