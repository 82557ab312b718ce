"""What the sync and the async cache share: options, checks, freshness and outages."""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import TYPE_CHECKING, Any, Final

from panicquota._validate import require_number
from panicquota.cache._serializers import JSONSerializer, Serializer
from panicquota.cache._types import CacheResult, CacheSource, Entry
from panicquota.clock import Clock, system_clock
from panicquota.decision import Decision
from panicquota.errors import InvalidArgumentError, InvalidTypeError

if TYPE_CHECKING:
    from panicquota.cache._metrics import CacheMetrics

__all__ = ["CacheCore", "StoreHealth", "logger"]

logger = logging.getLogger("panicquota.cache")

#: While the store is down, the first retry waits this long, then twice as
#: long each time up to BACKOFF_MAX (on the monotonic clock).
BACKOFF_FIRST: Final = 0.25
BACKOFF_MAX: Final = 2.0
#: The shortest storage expiry: an entry decided with TTL 0 still lives long
#: enough for the callers waiting on its fetch to read it.
MIN_EXPIRY: Final = 1.0


def breaker_clock(breaker: Any) -> Clock:
    """Return the clock the breaker decides on (its time source included), else the system's."""
    now = getattr(breaker, "now", None)
    if callable(now):
        return now  # type: ignore[no-any-return]
    core = getattr(breaker, "_core", None)
    if core is not None and callable(getattr(core, "now", None)):
        local = core.clock
        return lambda: core.now(local())
    return system_clock


class StoreHealth:
    """Whether the store may be called: log an outage once, back off, notice recovery."""

    def __init__(self, store: Any, metrics: CacheMetrics | None) -> None:
        self.store = store
        self.metrics = metrics
        self.down_since: float | None = None
        self.retry_at = -math.inf
        self.backoff = BACKOFF_FIRST
        self._lock = threading.Lock()

    def available(self) -> bool:
        """Return whether the store is not in an outage's backoff."""
        return time.monotonic() >= self.retry_at

    def failed(self, operation: str, error: BaseException, decision: Decision) -> None:
        """Record a failed store call made under *decision*: log the outage once, back off."""
        if self.metrics is not None:
            self.metrics.store_error(operation, error, decision)
        with self._lock:
            now = time.monotonic()
            if self.down_since is None:
                self.down_since = now
                self.backoff = BACKOFF_FIRST
                logger.warning(
                    "cache store %r failed (%s: %s) on %s; fetching upstream without it and "
                    "retrying every %g s at most",
                    self.store,
                    type(error).__name__,
                    error,
                    operation,
                    BACKOFF_MAX,
                )
            else:
                self.backoff = min(self.backoff * 2, BACKOFF_MAX)
                logger.debug("cache store %r still failing: %r", self.store, error)
            self.retry_at = time.monotonic() + self.backoff

    def succeeded(self) -> None:
        """Record a store call that worked: end the outage, if any."""
        if self.down_since is None:
            return
        with self._lock:
            if self.down_since is not None:
                logger.warning(
                    "cache store %r answers again, after %.1f s",
                    self.store,
                    time.monotonic() - self.down_since,
                )
                self.down_since = None
                self.retry_at = -math.inf


def _check_positive(name: str, value: object) -> float:
    number = float(require_number(name, value, accepted="a finite number > 0"))
    if number <= 0:
        raise InvalidArgumentError(f"{name} must be a finite number > 0, got {value!r}")
    return number


class CacheCore:
    """The configuration of one cache, and the rules that need no I/O."""

    def __init__(
        self,
        breaker: Any,
        store: Any,
        *,
        normal_ttl: float,
        stale_if_error: float,
        coalesce: bool,
        coalesce_timeout: float,
        serializer: Serializer | None,
        clock: Clock | None,
        metrics: CacheMetrics | None,
    ) -> None:
        if not callable(getattr(breaker, "get_ttl", None)):
            raise InvalidTypeError(
                f"breaker must have a get_ttl(normal_ttl, context) method, such as a "
                f"VIXCircuitBreaker, got {breaker!r}"
            )
        for method in ("get", "set"):
            if not callable(getattr(store, method, None)):
                raise InvalidTypeError(
                    f"store must be a cache store such as MemoryStore() or RedisStore(client) "
                    f"(with {method}()), got {store!r}"
                )
        if not isinstance(coalesce, bool):
            raise InvalidTypeError(
                f"coalesce must be True or False, got {type(coalesce).__name__} {coalesce!r}"
            )
        if serializer is None:
            serializer = JSONSerializer()
        elif not (
            callable(getattr(serializer, "dumps", None))
            and callable(getattr(serializer, "loads", None))
        ):
            raise InvalidTypeError(
                f"serializer must have dumps(value) -> bytes and loads(bytes) methods, "
                f"such as JSONSerializer(), got {serializer!r}"
            )
        if clock is not None and not callable(clock):
            raise InvalidTypeError(
                f"clock must be a callable returning epoch seconds, got {clock!r}"
            )
        self.breaker = breaker
        self.store = store
        self.normal_ttl = float(require_number("normal_ttl", normal_ttl))
        self.stale_if_error = float(require_number("stale_if_error", stale_if_error))
        self.coalesce = coalesce
        self.coalesce_timeout = _check_positive("coalesce_timeout", coalesce_timeout)
        self.serializer = serializer
        self.clock: Clock = breaker_clock(breaker) if clock is None else clock
        self.metrics = metrics
        self.shared = bool(getattr(store, "shared", False))
        self.errors: tuple[type[BaseException], ...] = tuple(getattr(store, "errors", ()))
        self.health = StoreHealth(store, metrics)
        self.expiry = max(self.normal_ttl, self.stale_if_error, MIN_EXPIRY)

    # -- checks --------------------------------------------------------------

    @staticmethod
    def check_key(key: object) -> str:
        """Return *key* if it is a string, else raise."""
        if not isinstance(key, str):
            raise InvalidTypeError(f"key must be a str, got {type(key).__name__} {key!r}")
        return key

    @staticmethod
    def check_fetch(fetch: object, accepted: str = "a zero-argument callable") -> None:
        """Raise unless *fetch* is callable."""
        if not callable(fetch):
            raise InvalidTypeError(
                f"fetch must be {accepted}, got {type(fetch).__name__} {fetch!r}"
            )

    # -- freshness -----------------------------------------------------------

    def age(self, entry: Entry, now: float) -> float:
        """Return how old *entry* is at *now* (never negative: clocks may disagree a little)."""
        return max(now - entry.fetched_at, 0.0)

    @staticmethod
    def is_fresh(age: float, ttl: float) -> bool:
        """Return whether an entry *age* seconds old may be served under *ttl* (0: never)."""
        return ttl > 0 and age <= ttl

    def usable_stale(self, entry: Entry | None, now: float) -> bool:
        """Return whether *entry* may be served because the fetch failed."""
        return (
            entry is not None
            and self.stale_if_error > 0
            and self.age(entry, now) <= self.stale_if_error
        )

    def accepts_coalesced(self, entry: Entry | None, seen: Entry | None, started: float) -> bool:
        """Return whether *entry* was fetched by another caller since this one read *seen*."""
        if entry is None:
            return False
        if seen is not None and entry.fetched_at <= seen.fetched_at:
            return False
        return entry.fetched_at >= started - self.coalesce_timeout

    # -- values --------------------------------------------------------------

    def encode(self, value: Any, fetched_at: float) -> Entry:
        """Return the entry to store for *value*."""
        if self.shared:
            return Entry(self.serializer.dumps(value), fetched_at)
        return Entry(value, fetched_at)

    def decode(self, entry: Entry) -> Any:
        """Return the value held by a stored *entry*."""
        if self.shared:
            return self.serializer.loads(entry.value)
        return entry.value

    def result(
        self, value: Any, source: CacheSource, age: float, decision: Decision
    ) -> CacheResult:
        """Return a result, and count it."""
        if self.metrics is not None:
            self.metrics.served(source, decision)
        return CacheResult(value, source, age, decision)

    def fetched(self, decision: Decision, ok: bool) -> None:
        """Count one upstream fetch."""
        if self.metrics is not None:
            self.metrics.fetched(decision, ok)

    def stale_served(self, key: str, error: BaseException, age: float) -> None:
        """Log that a failed fetch was answered from an older entry."""
        logger.warning(
            "fetch of %r failed (%s: %s); serving the entry fetched %.1f s ago "
            "(stale_if_error=%g s)",
            key,
            type(error).__name__,
            error,
            age,
            self.stale_if_error,
        )

    # -- headers -------------------------------------------------------------

    def cache_control(
        self, decision: Decision, stale_while_revalidate: float, age: float = 0.0
    ) -> str:
        """Return the ``Cache-Control`` value for a response *age* seconds old under *decision*.

        ``max-age`` is what is left of the TTL (``ttl - age``, at least 0),
        rounded down. ``stale-if-error`` counts, as RFC 5861 has it, from the
        end of ``max-age``: the cache serves an entry on error until it is
        ``stale_if_error`` old, so a proxy may do so for ``stale_if_error -
        max(ttl, age)`` seconds more (left out when that is 0).
        """
        swr = require_number("stale_while_revalidate", stale_while_revalidate)
        ttl = decision[0]
        parts = [f"max-age={math.floor(max(ttl - age, 0.0))}"]
        # No stale copies while the policy wants every request fresh.
        if swr > 0 and ttl > 0:
            parts.append(f"stale-while-revalidate={math.floor(swr)}")
        on_error = math.floor(max(self.stale_if_error - max(ttl, age), 0.0))
        if on_error > 0:
            parts.append(f"stale-if-error={on_error}")
        return ", ".join(parts)

    @staticmethod
    def check_served(result: object, context: object) -> None:
        """Raise unless *result* is a :class:`CacheResult` given without a *context*."""
        if not isinstance(result, CacheResult):
            raise InvalidTypeError(
                f"result must be the CacheResult of lookup(), got {type(result).__name__} "
                f"{result!r}"
            )
        if context is not None:
            raise InvalidArgumentError(
                "pass context or result to cache_control(), not both: a result carries "
                f"the decision it was served by, got context {context!r}"
            )


def check_key_spec(key: object) -> None:
    """Raise unless *key* is ``None``, a format string or a callable."""
    if key is not None and not isinstance(key, str) and not callable(key):
        raise InvalidTypeError(
            "key must be a format string such as 'odds:{0}', a callable returning the key, "
            f"or None, got {type(key).__name__} {key!r}"
        )
