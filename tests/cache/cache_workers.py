"""Worker functions run in spawned processes (imported by name, so picklable)."""

from __future__ import annotations

import threading
import time
from typing import Any

from panicquota.breaker import VIXCircuitBreaker, connect
from panicquota.cache import PanicCache, RedisStore
from panicquota.clock import ManualClock
from pytest_panicquota import Upstream


def _cache(url: str, prefix: str, now: float, **options: Any) -> tuple[Any, PanicCache]:
    client = connect(url, socket_timeout=5)
    breaker = VIXCircuitBreaker(client, key_prefix=f"{prefix}:vix", clock=ManualClock(now))
    return client, PanicCache(breaker, RedisStore(client, prefix=f"{prefix}:c"), **options)


def miss_together(
    url: str, prefix: str, now: float, threads: int, barrier: Any, results: Any
) -> None:
    """Miss one key from *threads* threads once every process is ready; report calls, sources."""
    client, cache = _cache(url, prefix, now, normal_ttl=60, coalesce_timeout=20)
    upstream = Upstream("odds", latency=1.0)
    sources: list[str] = []
    values: list[Any] = []
    local = threading.Barrier(threads)

    def one() -> None:
        local.wait(timeout=30)
        result = cache.lookup("match:7", upstream)
        sources.append(result.source.value)
        values.append(result.value)

    try:
        barrier.wait(timeout=60)
        workers = [threading.Thread(target=one) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        results.put((upstream.calls, sorted(sources), sorted(set(values))))
    finally:
        client.close()


def hold_the_lease(url: str, prefix: str, now: float, fetching: Any) -> None:
    """Take the key's lease, signal *fetching*, then hang in the fetch until killed."""
    client, cache = _cache(url, prefix, now, normal_ttl=60, coalesce_timeout=1.5)

    def hang() -> str:
        fetching.set()
        time.sleep(120)
        return "never"

    try:
        cache.lookup("match:7", hang)
    finally:
        client.close()
