"""Redis clients tuned for the request path: short timeouts, no client-side retries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis
    import redis.asyncio

__all__ = ["connect", "connect_async"]

#: Seconds a breaker's Redis call may take before it counts as an outage. The
#: calls run off the request path (get_ttl waits at most max_wait for them),
#: so this only says how soon an outage is logged, and it must leave room for
#: a slow link: 200 ms each way with lost packets retransmitted still answers.
DEFAULT_SOCKET_TIMEOUT = 2.0


def _options(retry: Any, socket_timeout: float, options: dict[str, Any]) -> dict[str, Any]:
    # The breaker backs off on its own clock; the client's own retries would
    # block the request path several times per call during an outage.
    options.setdefault("retry", retry)
    options.setdefault("socket_timeout", socket_timeout)
    options.setdefault("socket_connect_timeout", socket_timeout)
    return options


def connect(
    url: str, *, socket_timeout: float = DEFAULT_SOCKET_TIMEOUT, **options: Any
) -> redis.Redis:
    """Return a redis-py client for *url* suited to a breaker.

    Args:
        url: a Redis URL (``redis://host:6379/0``).
        socket_timeout: connect and read timeout, in seconds.
        options: more ``redis.Redis.from_url`` options (they win).

    Returns:
        A client with short timeouts and no client-side retries.
    """
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client: redis.Redis = redis.Redis.from_url(
        url, **_options(Retry(NoBackoff(), 0), socket_timeout, options)
    )
    return client


def connect_async(
    url: str, *, socket_timeout: float = DEFAULT_SOCKET_TIMEOUT, **options: Any
) -> redis.asyncio.Redis:
    """Return a ``redis.asyncio`` client for *url* suited to a breaker (see :func:`connect`)."""
    import redis.asyncio
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(
        url, **_options(Retry(NoBackoff(), 0), socket_timeout, options)
    )
    return client
