"""The breaker's outage rules: log an outage once, back off, say when Redis answers again."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any, Final

from panicquota.breaker._scripts import Keys
from panicquota.breaker._store_errors import describe_store_error, is_refusal
from panicquota.clock import Clock

if TYPE_CHECKING:
    from panicquota.breaker._types import BreakerObserver

__all__ = ["BACKOFF_FIRST", "BACKOFF_MAX", "SLOW_READ", "OutageRules"]

logger = logging.getLogger("panicquota.breaker")

#: While Redis is down, the first retry waits this long, then twice as long
#: each time up to BACKOFF_MAX: an outage costs one failed call per interval,
#: and a recovered Redis is used again within BACKOFF_MAX seconds.
BACKOFF_FIRST: Final = 0.25
BACKOFF_MAX: Final = 2.0
#: A read still unanswered after this long (seconds) starts an outage, even
#: if the client would wait for ever (redis.Redis() has no socket timeout).
SLOW_READ: Final = 2.0


class OutageRules:
    """The outage half of :class:`~panicquota.breaker._core.BreakerCore` (a mixin)."""

    keys: Keys
    mono: Clock
    metrics: BreakerObserver | None
    outage_since: float | None
    retry_at: float
    backoff: float

    def report(self, report: str, *args: Any, **options: Any) -> None:
        """Call the observer's *report*, a raising one logged (the core's)."""
        raise NotImplementedError

    def in_backoff(self, mono: float) -> bool:
        """Return whether Redis is considered down and must not be called yet."""
        return mono < self.retry_at

    def store_failed(self, script: str, error: BaseException) -> str:
        """Record a Redis call that failed: log once per outage, back off.

        Returns what went wrong, in words, for the error an operator command raises.
        """
        problem = describe_store_error(error)
        if self.outage_since is None:
            self.outage_since = self.mono()
            self.backoff = BACKOFF_FIRST
            # A refusal needs someone to fix the configuration: an error, not a warning.
            logger.log(
                logging.ERROR if is_refusal(error) else logging.WARNING,
                "breaker %r: %s; serving the last known state and retrying every %g s at most",
                self.keys.prefix,
                problem,
                BACKOFF_MAX,
            )
        else:
            self.backoff = min(self.backoff * 2, BACKOFF_MAX)
            logger.debug("breaker %r: still failing: %s", self.keys.prefix, problem)
        # Counted from when the call gave up, not from when it began: a client
        # that takes longer than the backoff to fail (redis-py's default retries
        # do) must not make every call block on the outage.
        self.retry_at = self.mono() + self.backoff
        # Observers last: the outage is recorded even if one of them raises.
        if self.metrics is not None:
            self.metrics.store_error(script, error)
            self.metrics.store_up(up=False)
        return problem

    def read_hangs(self, seconds: float) -> None:
        """Record a read unanswered for *seconds*: the start of an outage, logged once."""
        if self.outage_since is not None:
            return
        self.outage_since = self.mono()
        logger.warning(
            "breaker %r: Redis has not answered a read for %.1f s; serving the last known "
            "state (a client without socket_timeout waits as long as the server hangs: "
            "connect() sets one)",
            self.keys.prefix,
            seconds,
        )
        # Called on the request path (a call that found the read hanging).
        self.report("store_up", up=False)

    def store_succeeded(self) -> None:
        """Record a Redis round trip that succeeded: end the outage, if any."""
        if self.outage_since is not None:
            logger.warning(
                "breaker %r: Redis answers again, after %.1f s",
                self.keys.prefix,
                max(self.mono() - self.outage_since, 0.0),
            )
            self.outage_since = None
            if self.metrics is not None:
                self.metrics.store_up(up=True)
        self.retry_at = -math.inf
