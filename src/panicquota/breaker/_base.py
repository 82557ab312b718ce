"""What the sync and the async breaker share: options, scripts and the read-only API."""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final

from panicquota._validate import require_number
from panicquota.breaker import _scripts
from panicquota.breaker._client import _module as client_module
from panicquota.breaker._client import is_cluster_client
from panicquota.breaker._core import MAX_PANIC_AGE, BreakerCore, Listener, logger
from panicquota.breaker._store_errors import describe_store_error
from panicquota.breaker._types import (
    Observers,
    StoreUnavailableError,
    TierTransition,
    TimeSource,
)
from panicquota.breaker._urls import has_hash_tag, parse_store_url
from panicquota.clock import Clock
from panicquota.errors import InvalidArgumentError, InvalidTypeError
from panicquota.policy import AdaptivePanicQuota

if TYPE_CHECKING:
    from panicquota.breaker._types import BreakerObserver

__all__ = ["SCRIPTS", "STORE_ERRORS", "BreakerBase", "cluster_prefix"]

#: What a store call may raise and the breaker absorbs: anything. redis-py's
#: RedisError, valkey-py's errors (not RedisError), RedisClusterException
#: (not RedisError either), decode errors of a decode_responses client, a
#: closed event loop: none of them may reach the request path.
STORE_ERRORS = (Exception,)
#: What an observer's report is called in the log when it raises.
STORE_LATENCY = "an observer's store_latency"
STORE_UP = "an observer's store_up"
TRANSITION = "an observer's transition"
#: The longest a get_ttl call waits for Redis (seconds): the request-path
#: bound. The read runs off the request path (a thread, or a task); a call
#: that would wait longer serves the last known state (or the fail-safe).
DEFAULT_MAX_WAIT = 0.02
#: The longest a worker's very first call waits for its first read (seconds):
#: a new connection costs a few round trips (connect, script load), and a
#: worker that waits a little serves the real tier instead of the fail-safe.
FIRST_WAIT = 1.0


def cluster_prefix(client: object, key_prefix: str) -> str:
    """Return *key_prefix*, hash-tagged when *client* is a cluster client and it has no tag.

    The breaker's scripts touch several keys at once; on a cluster they must
    share one slot, which only a hash tag (``{...}``) guarantees.
    """
    if not isinstance(key_prefix, str) or not is_cluster_client(client) or has_hash_tag(key_prefix):
        return key_prefix
    tagged = "{" + key_prefix + "}"
    logger.warning(
        "key prefix %r has no hash tag: on the cluster client %s the breaker uses %r so that "
        "its keys share one slot (pass key_prefix=%r to every worker to say so yourself)",
        key_prefix,
        type(client).__name__,
        tagged,
        tagged,
    )
    return tagged


SCRIPTS = {
    "read": _scripts.READ,
    "trip": _scripts.TRIP,
    "reset": _scripts.RESET,
    "repair": _scripts.REPAIR,
    "dedup": _scripts.DEDUP,
}


def is_noscript(error: BaseException) -> bool:
    """Whether *error* says the server does not have the script (redis-py, valkey-py)."""
    names = {cls.__name__ for cls in type(error).__mro__}
    return "NoScriptError" in names or str(error).startswith("NOSCRIPT")


class Script:
    """A Lua script run with EVAL the first time (one round trip), then EVALSHA.

    redis-py's ``register_script`` starts with EVALSHA, and on a server that
    does not know the script yet that costs three round trips (EVALSHA,
    SCRIPT LOAD, EVALSHA): on a slow link, seconds before a new worker reads
    the state. EVAL also loads the script, so later calls send only its SHA.
    """

    def __init__(self, client: Any, source: str) -> None:
        self.client = client
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()
        self.loaded = False

    def __call__(self, *, keys: Sequence[str], args: Sequence[object]) -> Any:
        if not self.loaded:
            reply = self.client.eval(self.source, len(keys), *keys, *args)
            self.loaded = True
            return reply
        try:
            return self.client.evalsha(self.sha, len(keys), *keys, *args)
        except Exception as error:
            if not is_noscript(error):
                raise
            self.loaded = False  # flushed, or another server behind a proxy
            return self(keys=keys, args=args)


class AsyncScript(Script):
    """The :class:`Script` of an asyncio client."""

    async def __call__(self, *, keys: Sequence[str], args: Sequence[object]) -> Any:
        if not self.loaded:
            reply = await self.client.eval(self.source, len(keys), *keys, *args)
            self.loaded = True
            return reply
        try:
            return await self.client.evalsha(self.sha, len(keys), *keys, *args)
        except Exception as error:
            if not is_noscript(error):
                raise
            self.loaded = False
            return await self(keys=keys, args=args)


#: The classes whose options the clients of a store URL take, by client library.
_CLIENT_CLASSES: Final = {
    "redis": (
        ("", "Redis"),
        (".asyncio", "Redis"),
        (".cluster", "RedisCluster"),
        (".asyncio.cluster", "RedisCluster"),
        (".connection", "SSLConnection"),
        (".asyncio.connection", "SSLConnection"),
        (".sentinel", "Sentinel"),
    ),
    "valkey": (
        ("", "Valkey"),
        (".asyncio", "Valkey"),
        (".cluster", "ValkeyCluster"),
        (".asyncio.cluster", "ValkeyCluster"),
        (".connection", "SSLConnection"),
        (".asyncio.connection", "SSLConnection"),
        (".sentinel", "Sentinel"),
    ),
}


def _keywords(function: Callable[..., object]) -> set[str]:
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    parameters = inspect.signature(function).parameters.values()
    return {p.name for p in parameters if p.kind in kinds} - {"self", "redis", "quota"}


def client_option_names(library: str) -> set[str]:
    """Return the options the clients of *library* (``redis``, ``valkey``) take, by name.

    Raises:
        MissingDependencyError: *library* is not installed.
    """
    names: set[str] = set()
    for module, name in _CLIENT_CLASSES[library]:
        names |= _keywords(getattr(client_module(library, module), name).__init__)
    return names


def _is_asyncio_client(client: object) -> bool:
    """Whether *client*'s commands are coroutines (redis.asyncio, valkey.asyncio, fakeredis)."""
    return inspect.iscoroutinefunction(getattr(type(client), "execute_command", None))


class BreakerBase:
    """The configuration and the non-blocking API of both breakers.

    The subclasses add the methods that talk to Redis, blocking or awaiting;
    every rule lives in :class:`BreakerCore`.
    """

    #: Whether the subclass drives an asyncio client (its methods await it).
    _asyncio: ClassVar[bool] = False

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
        max_wait: float | None = None,
        on_transition: Listener | None = None,
        metrics: BreakerObserver | None = None,
    ) -> None:
        if isinstance(redis, str | bytes) or not callable(getattr(redis, "register_script", None)):
            shown = redis if isinstance(redis, str | bytes) else type(redis).__name__
            raise InvalidTypeError(
                f"redis must be a Redis client (redis-py, valkey-py, fakeredis), got {shown!r}; "
                f"to connect by URL use {type(self).__name__}.from_url(url) or "
                f"{type(self).__name__}(panicquota.breaker.connect(url))"
            )
        if _is_asyncio_client(redis) != self._asyncio:
            # Accepted, the wrong kind would serve the fail-safe for ever.
            kind, other = ("an asyncio", "a sync") if self._asyncio else ("a sync", "an asyncio")
            twin = "VIXCircuitBreaker" if self._asyncio else "AsyncVIXCircuitBreaker"
            connect = "connect_async" if self._asyncio else "connect"
            raise InvalidTypeError(
                f"{type(self).__name__} needs {kind} client, got {other} one "
                f"({type(redis).__module__}.{type(redis).__name__}); use {twin} with it, or "
                f"pass panicquota.breaker.{connect}(url)"
            )
        self._core = BreakerCore(
            quota,
            key_prefix=cluster_prefix(redis, key_prefix),
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
        # None: DEFAULT_MAX_WAIT, read now (so a test suite may lengthen it).
        wait = DEFAULT_MAX_WAIT if max_wait is None else max_wait
        self._max_wait = float(require_number("max_wait", wait))
        self._first_wait = max(self._max_wait, FIRST_WAIT)
        self._redis = redis
        self._scripts = {name: self._script(src) for name, src in SCRIPTS.items()}
        self._owns_client = False
        # What has failed off the request path and been logged (once each).
        self._logged_failures: set[str] = set()
        self._core.observer_failed = self._log_failure
        self._lock = self._new_lock()

    @classmethod
    def _check_options(cls, url: str, options: Mapping[str, Any]) -> None:
        """Refuse :meth:`from_url` options that are not the breaker's, saying where they go.

        Raises:
            InvalidArgumentError: a client option (it belongs in *client_options*)
                or a name that is neither.
        """
        breaker_options = _keywords(BreakerBase.__init__)
        wrong = [name for name in options if name not in breaker_options]
        if not wrong:
            return
        method = f"{cls.__name__}.from_url()"
        library = parse_store_url(url).library
        client_options = client_option_names(library)
        unknown = [name for name in wrong if name not in client_options]
        if unknown:
            hint = (
                f" (a cluster is chosen by the URL: {library}+cluster://host:port[,host:port...])"
                if "cluster" in unknown
                else ""
            )
            raise InvalidArgumentError(
                f"{method} got {_names(unknown)}, neither a breaker option nor an option of "
                f"{library}-py's clients{hint}; the breaker's options: "
                f"{', '.join(sorted(breaker_options))} (the client's go in client_options={{...}})"
            )
        passed = ", ".join(f"{name!r}: ..." for name in wrong)
        kind = "a client option" if len(wrong) == 1 else "client options"
        raise InvalidArgumentError(
            f"{method} got {_names(wrong)}, {kind}: pass client_options={{{passed}}}"
        )

    def _script(self, source: str) -> Any:
        """Return a callable running *source* on this breaker's client."""
        raise NotImplementedError

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

    def add_observer(self, observer: BreakerObserver) -> None:
        """Report to *observer* too (see :class:`BreakerObserver`), after any given before."""
        core = self._core
        core.metrics = observer if core.metrics is None else Observers(core.metrics, observer)

    def _log_failure(self, what: str) -> None:
        """Log the exception being handled, which *what* raised: once, then at DEBUG."""
        first = what not in self._logged_failures
        self._logged_failures.add(what)
        logger.log(
            logging.ERROR if first else logging.DEBUG,
            "breaker %r: %s raised; the breaker goes on (logged once)",
            self._core.keys.prefix,
            what,
            exc_info=True,
        )

    def _report(self, what: str, report: Callable[..., object], *args: Any) -> None:
        """Call *report* (an observer's, through the core); one that raises is logged once."""
        try:
            report(*args)
        except Exception:
            self._log_failure(what)

    def _unavailable(
        self, op: str | None, script: str, error: BaseException
    ) -> StoreUnavailableError:
        """Record a store call that failed; return the error to raise."""
        core = self._core
        try:
            problem = core.store_failed(script, error)
        except Exception:  # an observer raised; the outage itself is recorded
            self._log_failure("an observer's store_error or store_up")
            problem = describe_store_error(error)
        return StoreUnavailableError(
            f"could not {op or script} the breaker {core.keys.prefix!r}: {problem}"
        )

    def __repr__(self) -> str:
        core = self._core
        return (
            f"{type(self).__name__}(key_prefix={core.keys.prefix!r}, "
            f"time_source={core.time_source.value!r}, max_staleness={core.max_staleness!r})"
        )


def _names(names: Sequence[str]) -> str:
    quoted = [repr(name) for name in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
