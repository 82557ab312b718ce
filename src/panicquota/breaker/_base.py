"""What the sync and the async breaker share: options, scripts and the read-only API."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from panicquota._validate import require_number
from panicquota.breaker import _scripts
from panicquota.breaker._core import MAX_PANIC_AGE, BreakerCore, Listener
from panicquota.breaker._types import StoreUnavailableError, TierTransition, TimeSource
from panicquota.clock import Clock
from panicquota.policy import AdaptivePanicQuota

if TYPE_CHECKING:
    from panicquota.breaker._metrics import BreakerMetrics

__all__ = ["SCRIPTS", "STORE_ERRORS", "BreakerBase"]

#: What a store call may raise and the breaker absorbs: anything. redis-py's
#: RedisError, valkey-py's errors (not RedisError), RedisClusterException
#: (not RedisError either), decode errors of a decode_responses client, a
#: closed event loop: none of them may reach the request path.
STORE_ERRORS = (Exception,)
#: The longest a get_ttl call waits for Redis (seconds): the request-path
#: bound. The read runs off the request path (a thread, or a task); a call
#: that would wait longer serves the last known state (or the fail-safe).
DEFAULT_MAX_WAIT = 0.05
#: The longest a worker's very first call waits for its first read (seconds):
#: a new connection costs a few round trips (connect, script load), and a
#: worker that waits a little serves the real tier instead of the fail-safe.
FIRST_WAIT = 1.0

SCRIPTS = {
    "read": _scripts.READ,
    "trip": _scripts.TRIP,
    "reset": _scripts.RESET,
    "repair": _scripts.REPAIR,
    "dedup": _scripts.DEDUP,
}


class BreakerBase:
    """The configuration and the non-blocking API of both breakers.

    The subclasses add the methods that talk to Redis, blocking or awaiting;
    every rule lives in :class:`BreakerCore`.
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
        max_panic_age: float = MAX_PANIC_AGE,
        max_wait: float = DEFAULT_MAX_WAIT,
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
            max_panic_age=max_panic_age,
            on_transition=on_transition,
            metrics=metrics,
        )
        self._max_wait = float(require_number("max_wait", max_wait))
        self._first_wait = max(self._max_wait, FIRST_WAIT)
        self._redis = redis
        self._scripts = {name: redis.register_script(src) for name, src in SCRIPTS.items()}
        self._owns_client = False
        self._lock = self._new_lock()

    def _new_lock(self) -> Any:
        """Return the lock that serialises this breaker's Redis calls."""
        raise NotImplementedError

    @property
    def key_prefix(self) -> str:
        """The prefix of every key this breaker uses."""
        return self._core.keys.prefix

    @property
    def quota(self) -> AdaptivePanicQuota:
        """The policy the breaker asks."""
        return self._core.quota

    def add_listener(self, callback: Callable[[TierTransition], object]) -> None:
        """Call *callback* with each :class:`TierTransition` this worker is elected to deliver.

        Each transition is delivered by exactly one worker across all that
        share the prefix; a listener that raises is logged and skipped.
        """
        self._core.listeners.append(callback)

    def _unavailable(
        self, op: str | None, script: str, error: BaseException
    ) -> StoreUnavailableError:
        """Record a store call that failed; return the error to raise."""
        core = self._core
        problem = core.store_failed(script, error)
        return StoreUnavailableError(
            f"could not {op or script} the breaker {core.keys.prefix!r}: {problem}"
        )

    def __repr__(self) -> str:
        core = self._core
        return (
            f"{type(self).__name__}(key_prefix={core.keys.prefix!r}, "
            f"time_source={core.time_source.value!r}, max_staleness={core.max_staleness!r})"
        )
