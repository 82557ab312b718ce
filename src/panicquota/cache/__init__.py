"""The cache that applies the breaker's decision to served data.

:class:`PanicCache` (threads) and :class:`AsyncPanicCache` (asyncio) serve a
stored value only while its age is within the TTL the breaker decides at read
time, share one upstream fetch among concurrent misses of a key (across
processes with :class:`RedisStore`), serve a bounded stale value when the
fetch fails, and keep answering when the store is down.

Importing this package needs only the standard library: redis-py is imported
by :class:`RedisStore` when one is built, prometheus_client by
:class:`CacheMetrics`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from panicquota.cache._async import AsyncPanicCache
from panicquota.cache._memory import AsyncMemoryStore, MemoryStore
from panicquota.cache._redis import AsyncRedisStore, RedisStore
from panicquota.cache._serializers import JSONSerializer, PickleSerializer, Serializer
from panicquota.cache._sync import PanicCache
from panicquota.cache._types import CacheResult, CacheSource, Entry

if TYPE_CHECKING:
    from panicquota.cache._metrics import CacheMetrics

__all__ = [
    "AsyncMemoryStore",
    "AsyncPanicCache",
    "AsyncRedisStore",
    "CacheMetrics",
    "CacheResult",
    "CacheSource",
    "Entry",
    "JSONSerializer",
    "MemoryStore",
    "PanicCache",
    "PickleSerializer",
    "RedisStore",
    "Serializer",
]


def __getattr__(name: str) -> Any:
    # CacheMetrics needs prometheus_client (the optional `metrics` extra).
    if name == "CacheMetrics":
        from panicquota.cache._metrics import CacheMetrics

        return CacheMetrics
    raise AttributeError(f"module 'panicquota.cache' has no attribute {name!r}")
