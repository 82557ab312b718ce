"""AsyncPanicCache: the same cache for asyncio code (async breaker, async stores)."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from panicquota.cache._calls import CallKeys
from panicquota.cache._core import CacheCore, check_key_spec, logger
from panicquota.cache._serializers import Serializer
from panicquota.cache._sync import _CORRUPT, POLL_FIRST, POLL_MAX
from panicquota.cache._types import CacheResult, CacheSource, Entry
from panicquota.clock import Clock
from panicquota.decision import Decision
from panicquota.errors import InvalidTypeError
from panicquota.stakes import Context

if TYPE_CHECKING:
    from panicquota.cache._metrics import CacheMetrics

__all__ = ["AsyncPanicCache"]

T = TypeVar("T")
Fetch = Callable[[], Awaitable[Any]]


class _Flight:
    __slots__ = ("done", "error", "finished", "result")

    def __init__(self) -> None:
        self.done = asyncio.Event()
        self.result: CacheResult | None = None
        self.error: BaseException | None = None
        self.finished = 0.0


class AsyncPanicCache:
    """The :class:`PanicCache` for asyncio: the same rules, methods as coroutines.

    Takes an :class:`~panicquota.breaker.AsyncVIXCircuitBreaker` (anything
    whose ``get_ttl`` is a coroutine), an :class:`AsyncMemoryStore` or
    :class:`AsyncRedisStore`, and the options of :class:`PanicCache`, whose
    docstring explains them. *fetch* is a coroutine function; concurrent misses
    of a key in one event loop share one fetch, and with a Redis store one
    fetch across processes.
    """

    def __init__(
        self,
        breaker: Any,
        store: Any,
        *,
        normal_ttl: float,
        stale_if_error: float = 0,
        coalesce: bool = True,
        coalesce_timeout: float = 10.0,
        serializer: Serializer | None = None,
        clock: Clock | None = None,
        metrics: CacheMetrics | None = None,
    ) -> None:
        self._core = CacheCore(
            breaker,
            store,
            normal_ttl=normal_ttl,
            stale_if_error=stale_if_error,
            coalesce=coalesce,
            coalesce_timeout=coalesce_timeout,
            serializer=serializer,
            clock=clock,
            metrics=metrics,
        )
        # One table per event loop: an asyncio.Event belongs to its loop.
        self._flights: dict[tuple[int, str], _Flight] = {}

    @property
    def store(self) -> Any:
        """The store entries are kept in."""
        return self._core.store

    async def get_or_fetch(self, key: str, fetch: Fetch, context: Context = None) -> Any:
        """Return the value for *key*: stored if fresh enough now, else from *fetch*."""
        return (await self.lookup(key, fetch, context)).value

    async def lookup(self, key: str, fetch: Fetch, context: Context = None) -> CacheResult:
        """Return the value for *key*, where it came from, its age and the decision.

        See :meth:`PanicCache.lookup`; *fetch* is a coroutine function.

        Raises:
            InvalidTypeError: *key* is not a ``str``, *fetch* is not callable
                or does not return an awaitable.
            Exception: whatever *fetch* raised, unchanged, when no entry
                younger than *stale_if_error* exists.
        """
        core = self._core
        core.check_key(key)
        core.check_fetch(fetch, "a coroutine function taking no arguments")
        decision: Decision = await core.breaker.get_ttl(core.normal_ttl, context)
        started = core.clock()
        entry = await self._read(key, decision)
        if entry is not None:
            age = core.age(entry, started)
            if core.is_fresh(age, decision[0]):
                value = self._value(key, entry)
                if value is not _CORRUPT:
                    return core.result(value, CacheSource.HIT, age, decision)
                entry = None
        if not core.coalesce:
            return await self._fetch(key, fetch, decision, entry)
        slot = (id(asyncio.get_running_loop()), key)
        flight = self._flights.get(slot)
        if flight is not None:
            return await self._follow(key, fetch, decision, entry, flight)
        flight = self._flights[slot] = _Flight()
        try:
            result = flight.result = await self._lead(key, fetch, decision, entry, started)
            return result
        except BaseException as error:
            flight.error = error
            raise
        finally:
            flight.finished = core.clock()
            del self._flights[slot]
            flight.done.set()

    def cached(
        self, key: str | Callable[..., str] | None = None, context: Any = None
    ) -> Callable[[Callable[..., Awaitable[T]]], Callable[..., Awaitable[T]]]:
        """Decorate a coroutine function so that its calls go through :meth:`get_or_fetch`.

        See :meth:`PanicCache.cached`.
        """
        check_key_spec(key)

        def decorate(func: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
            calls = CallKeys(key, context, func)

            @functools.wraps(func)
            async def wrapper(*args: Any, **kwargs: Any) -> T:
                name = calls.key(args, kwargs)
                ctx = calls.context_of(args, kwargs)
                value: T = await self.get_or_fetch(name, lambda: func(*args, **kwargs), ctx)
                return value

            return wrapper

        return decorate

    async def cache_control(
        self,
        context: Context = None,
        *,
        stale_while_revalidate: float = 0,
        result: CacheResult | None = None,
    ) -> str:
        """Return the ``Cache-Control`` header value (see :meth:`PanicCache.cache_control`)."""
        core = self._core
        if result is None:
            decision = await core.breaker.get_ttl(core.normal_ttl, context)
            return core.cache_control(decision, stale_while_revalidate)
        core.check_served(result, context)
        return core.cache_control(result.decision, stale_while_revalidate, result.age)

    # -- the paths -------------------------------------------------------------

    async def _follow(
        self, key: str, fetch: Fetch, decision: Decision, entry: Entry | None, flight: _Flight
    ) -> CacheResult:
        core = self._core
        try:
            await asyncio.wait_for(flight.done.wait(), core.coalesce_timeout)
        except TimeoutError:
            logger.info("gave up waiting %g s for the fetch of %r", core.coalesce_timeout, key)
            return await self._fetch(key, fetch, decision, entry)
        if isinstance(flight.error, Exception):
            raise flight.error
        if flight.error is not None:
            # The leader was cancelled or interrupted: that is no answer for this caller.
            return await self._fetch(key, fetch, decision, entry)
        shared = flight.result
        assert shared is not None
        source = CacheSource.STALE if shared.source is CacheSource.STALE else CacheSource.COALESCED
        age = shared.age + max(core.clock() - flight.finished, 0.0)
        return core.result(shared.value, source, age, decision)

    async def _lead(
        self, key: str, fetch: Fetch, decision: Decision, seen: Entry | None, started: float
    ) -> CacheResult:
        core = self._core
        if core.shared and core.health.available():
            try:
                token = await core.store.acquire(key, core.coalesce_timeout)
            except core.errors as error:
                core.health.failed("acquire", error, decision)
                return await self._fetch(key, fetch, decision, seen)
            if token is None:
                outcome = await self._wait_other(key, seen, started, decision)
                if isinstance(outcome, tuple):
                    return core.result(outcome[0], CacheSource.COALESCED, outcome[1], decision)
                token = outcome
            try:
                return await self._recheck_or_fetch(key, fetch, decision, seen, started)
            finally:
                if token is not None:
                    await self._release(key, token, decision)
        return await self._recheck_or_fetch(key, fetch, decision, seen, started)

    async def _recheck_or_fetch(
        self, key: str, fetch: Fetch, decision: Decision, seen: Entry | None, started: float
    ) -> CacheResult:
        # See PanicCache._recheck_or_fetch: the previous leader's entry answers.
        core = self._core
        entry = await self._read(key, decision)
        if core.accepts_coalesced(entry, seen, started):
            assert entry is not None
            value = self._value(key, entry)
            if value is not _CORRUPT:
                age = core.age(entry, core.clock())
                return core.result(value, CacheSource.COALESCED, age, decision)
        return await self._fetch(key, fetch, decision, seen)

    async def _wait_other(
        self, key: str, seen: Entry | None, started: float, decision: Decision
    ) -> tuple[Any, float] | str | None:
        core = self._core
        loop = asyncio.get_running_loop()
        deadline = loop.time() + core.coalesce_timeout
        pause = POLL_FIRST
        while loop.time() < deadline:
            await asyncio.sleep(pause)
            pause = min(pause * 2, POLL_MAX)
            try:
                entry = await core.store.get(key)
                if core.accepts_coalesced(entry, seen, started):
                    assert entry is not None
                    value = self._value(key, entry)
                    if value is not _CORRUPT:
                        return value, core.age(entry, core.clock())
                token: str | None = await core.store.acquire(key, core.coalesce_timeout)
            except core.errors as error:
                core.health.failed("wait", error, decision)
                return None
            if token is not None:
                return token
        logger.info(
            "gave up waiting %g s for another worker's fetch of %r", core.coalesce_timeout, key
        )
        return None

    async def _fetch(
        self, key: str, fetch: Fetch, decision: Decision, seen: Entry | None
    ) -> CacheResult:
        core = self._core
        fetched_at = core.clock()
        try:
            pending = fetch()
            if not inspect.isawaitable(pending):
                raise InvalidTypeError(
                    "fetch must be a coroutine function taking no arguments, "
                    f"got {fetch!r} returning {type(pending).__name__} {pending!r}"
                )
            value = await pending
        except InvalidTypeError:
            raise
        except Exception as error:
            core.fetched(decision, ok=False)
            now = core.clock()
            if core.usable_stale(seen, now):
                assert seen is not None
                stale = self._value(key, seen)
                if stale is not _CORRUPT:
                    age = core.age(seen, now)
                    core.stale_served(key, error, age)
                    return core.result(stale, CacheSource.STALE, age, decision)
            raise
        core.fetched(decision, ok=True)
        entry = core.encode(value, fetched_at)
        if core.health.available():
            try:
                await core.store.set(key, entry, core.expiry)
            except core.errors as error:
                core.health.failed("set", error, decision)
            else:
                core.health.succeeded()
        return core.result(value, CacheSource.MISS, core.age(entry, core.clock()), decision)

    # -- store calls -------------------------------------------------------------

    async def _read(self, key: str, decision: Decision) -> Entry | None:
        core = self._core
        if not core.health.available():
            return None
        try:
            entry: Entry | None = await core.store.get(key)
        except core.errors as error:
            core.health.failed("get", error, decision)
            return None
        core.health.succeeded()
        return entry

    async def _release(self, key: str, token: str, decision: Decision) -> None:
        core = self._core
        try:
            await core.store.release(key, token)
        except core.errors as error:
            core.health.failed("release", error, decision)

    def _value(self, key: str, entry: Entry) -> Any:
        try:
            return self._core.decode(entry)
        except Exception as error:
            logger.warning("ignoring the unreadable cache entry %r (%r)", key, error)
            return _CORRUPT

    def __repr__(self) -> str:
        core = self._core
        return (
            f"{type(self).__name__}(store={core.store!r}, normal_ttl={core.normal_ttl!r}, "
            f"stale_if_error={core.stale_if_error!r}, coalesce={core.coalesce!r})"
        )
