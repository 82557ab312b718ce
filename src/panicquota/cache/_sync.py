"""PanicCache: serve values by the breaker's decision, for threaded code."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from panicquota.cache._calls import CallKeys
from panicquota.cache._core import CacheCore, check_key_spec, logger
from panicquota.cache._serializers import Serializer
from panicquota.cache._types import CacheResult, CacheSource, Entry
from panicquota.clock import Clock
from panicquota.decision import Decision
from panicquota.stakes import Context

if TYPE_CHECKING:
    from panicquota.cache._metrics import CacheMetrics

__all__ = ["PanicCache"]

T = TypeVar("T")
#: Waiting for another process's fetch: first poll, then at most this often.
POLL_FIRST = 0.002
POLL_MAX = 0.05


class _Flight:
    """One fetch in progress in this process, and what the callers waiting on it get."""

    __slots__ = ("done", "error", "finished", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: CacheResult | None = None
        self.error: BaseException | None = None
        self.finished = 0.0


class PanicCache:
    """Serve values while their age is within the TTL the breaker decides at read time.

    Each entry is stored with the time its fetch began, on the breaker's
    clock. A read asks the breaker for the TTL *now* and serves the entry only
    if its age is within it: a panic stops serving older entries at once, a
    tier-2 TTL of 5 s serves entries up to 5 s old, and a TTL of 0 always
    fetches. Entries are kept in the store for
    ``max(normal_ttl, stale_if_error, 1)`` seconds, so that an entry stays
    usable when the TTL grows back and for the stale window.

    With *coalesce*, concurrent misses of one key share one fetch: in the
    process (threads), and across processes when the store is shared
    (:class:`RedisStore`, through a lease). A caller answered by another's
    fetch gets ``COALESCED``; that value's fetch began before this call
    started by at most one fetch duration (and never by more than
    *coalesce_timeout*). A caller waits at most *coalesce_timeout* seconds,
    then fetches by itself; a lease is held that long at the most, so a
    holder that died is taken over.

    When a store call fails (Redis down) the request is still answered: the
    value is fetched upstream and returned, the outage logged once and the
    store left alone for a backoff of up to 2 s (on the monotonic clock).

    Args:
        breaker: a :class:`~panicquota.breaker.VIXCircuitBreaker` (anything
            with ``get_ttl(normal_ttl, context) -> (ttl, mode, meta)``).
        store: a :class:`MemoryStore` or :class:`RedisStore`.
        normal_ttl: the TTL outside a panic, in seconds.
        stale_if_error: when a fetch raises, serve an entry at most this many
            seconds old instead (``0``: never, the exception propagates).
        coalesce: share one fetch among concurrent misses of a key.
        coalesce_timeout: how long a caller waits for another's fetch, and the
            life of a Redis lease, in seconds.
        serializer: how a shared store encodes values (default
            :class:`JSONSerializer`; see :class:`PickleSerializer` for why
            pickle is never the default).
        clock: epoch seconds for fetch times and ages (default: the breaker's).
        metrics: a :class:`CacheMetrics` to count into.

    Raises:
        InvalidArgumentError: a negative or non-finite number.
        InvalidTypeError: an argument of the wrong type.
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
        self._flights: dict[str, _Flight] = {}
        self._lock = threading.Lock()

    @property
    def store(self) -> Any:
        """The store entries are kept in."""
        return self._core.store

    def get_or_fetch(self, key: str, fetch: Callable[[], Any], context: Context = None) -> Any:
        """Return the value for *key*: stored if fresh enough now, else from *fetch*.

        See :meth:`lookup`.
        """
        return self.lookup(key, fetch, context).value

    def lookup(self, key: str, fetch: Callable[[], Any], context: Context = None) -> CacheResult:
        """Return the value for *key*, where it came from, its age and the decision.

        Args:
            key: the cache key.
            fetch: a zero-argument callable that returns the value upstream.
            context: passed to the breaker (stakes, match importance, ...).

        Raises:
            InvalidTypeError: *key* is not a ``str`` or *fetch* is not callable.
            Exception: whatever *fetch* raised, unchanged, when no entry
                younger than *stale_if_error* exists.
        """
        core = self._core
        core.check_key(key)
        core.check_fetch(fetch)
        decision: Decision = core.breaker.get_ttl(core.normal_ttl, context)
        started = core.clock()
        entry = self._read(key, decision)
        if entry is not None:
            age = core.age(entry, started)
            if core.is_fresh(age, decision[0]):
                value = self._value(key, entry)
                if value is not _CORRUPT:
                    return core.result(value, CacheSource.HIT, age, decision)
                entry = None
        if not core.coalesce:
            return self._fetch(key, fetch, decision, entry)
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if not leader:
            return self._follow(key, fetch, decision, entry, flight)
        try:
            result = flight.result = self._lead(key, fetch, decision, entry, started)
            return result
        except BaseException as error:
            flight.error = error
            raise
        finally:
            flight.finished = core.clock()
            with self._lock:
                del self._flights[key]
            flight.done.set()

    def cached(
        self, key: str | Callable[..., str] | None = None, context: Any = None
    ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorate a function so that its calls go through :meth:`get_or_fetch`.

        Each call is bound to the function's signature (read once, here) with
        its defaults applied: ``odds(7)`` and ``odds(match_id=7)`` are one key.

        Args:
            key: a format string filled with the bound arguments, by position
                or by name however they were passed (``"odds:{0}"``,
                ``"odds:{match_id}"``), a callable taking the call's arguments
                and returning the key, or ``None`` (the function's qualified
                name and the bound arguments' reprs).
            context: the breaker's context, or a callable taking the call's
                arguments and returning it.

        Raises:
            InvalidTypeError: *key* is neither ``None``, a ``str`` nor
                callable, or the function's signature cannot be read.
            InvalidArgumentError: (when decorating) *key* is no format string
                or names an argument the function does not take; (per call,
                for a function with ``*args`` or ``**kwargs``) an argument the
                call did not pass, or a *key* / *context* callable that cannot
                take the call's arguments.
        """
        check_key_spec(key)

        def decorate(func: Callable[..., T]) -> Callable[..., T]:
            calls = CallKeys(key, context, func)

            @functools.wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> T:
                name = calls.key(args, kwargs)
                ctx = calls.context_of(args, kwargs)
                value: T = self.get_or_fetch(name, lambda: func(*args, **kwargs), ctx)
                return value

            return wrapper

        return decorate

    def cache_control(
        self,
        context: Context = None,
        *,
        stale_while_revalidate: float = 0,
        result: CacheResult | None = None,
    ) -> str:
        """Return the ``Cache-Control`` header value, so a CDN or proxy follows the same tiers.

        With *result* (what :meth:`lookup` returned), the header is for that
        served value: ``max-age`` is what is left of the TTL it was judged by
        (``ttl - age``, rounded down, at least 0), so a proxy stops serving it
        when this cache would. Without, it is for a value fetched now under the
        decision for *context* (``max-age`` = the TTL, rounded down).
        ``stale-if-error`` counts from the end of ``max-age`` (RFC 5861): it is
        ``stale_if_error - max(ttl, age)``, left out when 0.
        ``stale-while-revalidate`` is added when asked for and the TTL is not 0.

        Raises:
            InvalidArgumentError: both *context* and *result* (a result carries
                its decision), or a negative *stale_while_revalidate*.
            InvalidTypeError: *result* is not a :class:`CacheResult`.
        """
        core = self._core
        if result is None:
            decision = core.breaker.get_ttl(core.normal_ttl, context)
            return core.cache_control(decision, stale_while_revalidate)
        core.check_served(result, context)
        return core.cache_control(result.decision, stale_while_revalidate, result.age)

    # -- the paths -------------------------------------------------------------

    def _follow(
        self,
        key: str,
        fetch: Callable[[], Any],
        decision: Decision,
        entry: Entry | None,
        flight: _Flight,
    ) -> CacheResult:
        core = self._core
        if not flight.done.wait(core.coalesce_timeout):
            logger.info("gave up waiting %g s for the fetch of %r", core.coalesce_timeout, key)
            return self._fetch(key, fetch, decision, entry)
        if isinstance(flight.error, Exception):
            raise flight.error
        if flight.error is not None:
            # The leader was cancelled or interrupted: that is no answer for this caller.
            return self._fetch(key, fetch, decision, entry)
        shared = flight.result
        assert shared is not None
        source = CacheSource.STALE if shared.source is CacheSource.STALE else CacheSource.COALESCED
        age = shared.age + max(core.clock() - flight.finished, 0.0)
        return core.result(shared.value, source, age, decision)

    def _lead(
        self,
        key: str,
        fetch: Callable[[], Any],
        decision: Decision,
        seen: Entry | None,
        started: float,
    ) -> CacheResult:
        core = self._core
        if core.shared and core.health.available():
            try:
                token = core.store.acquire(key, core.coalesce_timeout)
            except core.errors as error:
                core.health.failed("acquire", error, decision)
                return self._fetch(key, fetch, decision, seen)
            if token is None:
                outcome = self._wait_other(key, seen, started, decision)
                if isinstance(outcome, tuple):
                    return core.result(outcome[0], CacheSource.COALESCED, outcome[1], decision)
                token = outcome
            try:
                return self._recheck_or_fetch(key, fetch, decision, seen, started)
            finally:
                if token is not None:
                    self._release(key, token, decision)
        return self._recheck_or_fetch(key, fetch, decision, seen, started)

    def _recheck_or_fetch(
        self,
        key: str,
        fetch: Callable[[], Any],
        decision: Decision,
        seen: Entry | None,
        started: float,
    ) -> CacheResult:
        # Between this call's read and its taking the lead, the previous
        # leader may have finished: its entry answers this call too.
        core = self._core
        entry = self._read(key, decision)
        if core.accepts_coalesced(entry, seen, started):
            assert entry is not None
            value = self._value(key, entry)
            if value is not _CORRUPT:
                age = core.age(entry, core.clock())
                return core.result(value, CacheSource.COALESCED, age, decision)
        return self._fetch(key, fetch, decision, seen)

    def _wait_other(
        self, key: str, seen: Entry | None, started: float, decision: Decision
    ) -> tuple[Any, float] | str | None:
        """Wait for another process's fetch: its (value, age), else a lease, else None."""
        core = self._core
        deadline = time.monotonic() + core.coalesce_timeout
        pause = POLL_FIRST
        while time.monotonic() < deadline:
            time.sleep(pause)
            pause = min(pause * 2, POLL_MAX)
            try:
                entry = core.store.get(key)
                if core.accepts_coalesced(entry, seen, started):
                    assert entry is not None
                    value = self._value(key, entry)
                    if value is not _CORRUPT:
                        return value, core.age(entry, core.clock())
                token: str | None = core.store.acquire(key, core.coalesce_timeout)
            except core.errors as error:
                core.health.failed("wait", error, decision)
                return None
            if token is not None:
                return token
        logger.info(
            "gave up waiting %g s for another worker's fetch of %r", core.coalesce_timeout, key
        )
        return None

    def _fetch(
        self, key: str, fetch: Callable[[], Any], decision: Decision, seen: Entry | None
    ) -> CacheResult:
        core = self._core
        fetched_at = core.clock()
        try:
            value = fetch()
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
                core.store.set(key, entry, core.expiry)
            except core.errors as error:
                core.health.failed("set", error, decision)
            else:
                core.health.succeeded()
        return core.result(value, CacheSource.MISS, core.age(entry, core.clock()), decision)

    # -- store calls -------------------------------------------------------------

    def _read(self, key: str, decision: Decision) -> Entry | None:
        core = self._core
        if not core.health.available():
            return None
        try:
            entry: Entry | None = core.store.get(key)
        except core.errors as error:
            core.health.failed("get", error, decision)
            return None
        core.health.succeeded()
        return entry

    def _release(self, key: str, token: str, decision: Decision) -> None:
        core = self._core
        try:
            core.store.release(key, token)
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


_CORRUPT: Any = object()
