"""Type-checked (not run) examples of the public cache API: mypy --strict must accept them."""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio

from panicquota import Decision, PanicMode
from panicquota.breaker import AsyncVIXCircuitBreaker, VIXCircuitBreaker
from panicquota.cache import (
    AsyncPanicCache,
    AsyncRedisStore,
    CacheMetrics,
    CacheResult,
    CacheSource,
    MemoryStore,
    PanicCache,
    PickleSerializer,
    RedisStore,
)

client = redis.Redis()
breaker = VIXCircuitBreaker(client)
cache = PanicCache(breaker, RedisStore(client, prefix="odds"), normal_ttl=60, stale_if_error=30)
memory = PanicCache(breaker, MemoryStore(max_entries=1000), normal_ttl=60, coalesce=False)
pickled = PanicCache(
    breaker,
    RedisStore(client),
    normal_ttl=60,
    serializer=PickleSerializer(),
    metrics=CacheMetrics(),
)


def fetch_odds() -> dict[str, float]:
    return {"home": 1.85}


value: Any = cache.get_or_fetch("match:7", fetch_odds, {"league": "Ligue 1"})
result: CacheResult = cache.lookup("match:7", fetch_odds)
source: CacheSource = result.source
age: float = result.age
decision: Decision = result.decision
mode: PanicMode = result.decision[1]
header: str = cache.cache_control(stale_while_revalidate=10)
served_header: str = cache.cache_control(result=result)


@cache.cached(key="odds:{0}")
def odds(match_id: int) -> dict[str, float]:
    return {"home": float(match_id)}


home: float = odds(7)["home"]

async_client = redis.asyncio.Redis()
async_cache = AsyncPanicCache(
    AsyncVIXCircuitBreaker(async_client), AsyncRedisStore(async_client), normal_ttl=60
)


async def fetch_async() -> str:
    return "odds"


async def serve() -> str:
    found: CacheResult = await async_cache.lookup("k", fetch_async)
    text: str = await async_cache.get_or_fetch("k", fetch_async)
    served: str = await async_cache.cache_control(result=found)
    return f"{found.value}{text}{await async_cache.cache_control()}{served}"


@async_cache.cached(key=lambda match_id: f"odds:{match_id}")
async def odds_async(match_id: int) -> str:
    return str(match_id)
