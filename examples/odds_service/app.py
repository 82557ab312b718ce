"""The odds service: ``GET /odds/<match>`` served through ``AsyncPanicCache`` on Redis.

Configured from the environment (the load test sets it; each uvicorn worker
builds its own clients at start-up)::

    ODDS_UPSTREAM_URL   the odds provider, e.g. http://127.0.0.1:8001
    ODDS_MODE           "panicquota" (the cache and the breaker) or "plain"
                        (no panicquota: every request goes upstream)
    ODDS_REDIS_URL      default redis://127.0.0.1:6379/0
    ODDS_PREFIX         the prefix of every Redis key (breaker and cache)
    ODDS_CLOCK_FILE     the shared clock offset (see clock.py); default: wall time

Run it with several workers::

    python -m uvicorn examples.odds_service.app:app --workers 2 --port 8000
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

#: Every match is a Ligue 1 match: medium stakes (tier 1 for 30 min, then 5 s).
CONTEXT = {"league": "Ligue 1"}
NORMAL_TTL = 60


class Service:
    """One worker's clients: the upstream HTTP pool, and the breaker and cache on Redis."""

    def __init__(self) -> None:
        import aiohttp

        self.mode = os.environ.get("ODDS_MODE", "panicquota")
        if self.mode not in ("panicquota", "plain"):
            raise ValueError(f"ODDS_MODE must be 'panicquota' or 'plain', got {self.mode!r}")
        self.http = aiohttp.ClientSession(
            base_url=os.environ["ODDS_UPSTREAM_URL"],
            connector=aiohttp.TCPConnector(limit=256),
            timeout=aiohttp.ClientTimeout(total=10),
        )
        self.redis: Any = None
        self.breaker: Any = None
        self.cache: Any = None
        if self.mode == "panicquota":
            import redis.asyncio

            from panicquota.breaker import AsyncVIXCircuitBreaker
            from panicquota.cache import AsyncPanicCache, AsyncRedisStore

            prefix = os.environ.get("ODDS_PREFIX", "odds")
            clock = None
            if "ODDS_CLOCK_FILE" in os.environ:
                from examples.odds_service.clock import FileClock

                clock = FileClock(os.environ["ODDS_CLOCK_FILE"])
            self.redis = redis.asyncio.Redis.from_url(
                os.environ.get("ODDS_REDIS_URL", "redis://127.0.0.1:6379/0"),
                max_connections=256,
            )
            # A short staleness bound: a trip reaches every worker within 0.25 s.
            self.breaker = AsyncVIXCircuitBreaker(
                self.redis, key_prefix=f"{prefix}:vix", clock=clock, max_staleness=0.25
            )
            store = AsyncRedisStore(self.redis, prefix=f"{prefix}:cache")
            self.cache = AsyncPanicCache(self.breaker, store, normal_ttl=NORMAL_TTL)

    async def odds(self, match: str) -> tuple[dict[str, Any], list[tuple[bytes, bytes]]]:
        """Return the odds of *match* and the response headers."""

        async def fetch() -> Any:
            async with self.http.get(f"/odds/{match}") as response:
                response.raise_for_status()
                return await response.json()

        if self.cache is None:
            return await fetch(), [(b"cache-control", b"no-store")]
        result = await self.cache.lookup(f"odds:{match}", fetch, CONTEXT)
        control = await self.cache.cache_control(result=result)
        headers = [
            (b"cache-control", control.encode()),
            (b"x-cache", result.source.name.encode()),
            (b"x-panic-mode", result.decision[1].value.encode()),
        ]
        return result.value, headers

    async def close(self) -> None:
        """Close the clients."""
        await self.http.close()
        if self.breaker is not None:
            await self.breaker.close()
        if self.redis is not None:
            await self.redis.aclose()


_service: Service | None = None


async def respond(send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]]) -> None:
    """Send *body* as a JSON response."""
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *headers],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI application."""
    global _service
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _service = Service()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if _service is not None:
                    await _service.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    path: str = scope["path"]
    if _service is None or not path.startswith("/odds/"):
        await respond(send, 404, {"error": f"no route {path!r}"}, [])
        return
    body, headers = await _service.odds(path.removeprefix("/odds/"))
    await respond(send, 200, body, headers)
