"""One async breaker driven through many event loops on Cluster and Sentinel clients.

Each ``asyncio.run`` closes its loop, and with it the streams of every
connection it opened: in a cluster client's nodes, in a Sentinel master's
pool and in the Sentinel clients that found the master. The breaker resets
them on the next loop, so no call meets a closed loop.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest

from panicquota.breaker import AsyncVIXCircuitBreaker, StateSource, connect

from .conftest import Engines, url_for

LOOPS = 5
CALLS = 3


@pytest.mark.parametrize("library", ["redis", "valkey"])
@pytest.mark.parametrize("engine_name", ["cluster", "sentinel"])
def test_one_async_breaker_serves_many_event_loops(
    engines: Engines, engine_name: str, library: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Every call FRESH in every loop, no outage logged; reset() and close() in new loops."""
    url = url_for(engines.get(engine_name), library)
    prefix = f"{{pqloops:{uuid.uuid4().hex}}}"
    admin = connect(url)
    caplog.set_level(logging.WARNING, "panicquota.breaker")
    breaker = AsyncVIXCircuitBreaker.from_url(url, key_prefix=prefix, max_staleness=0, max_wait=5.0)
    try:
        asyncio.run(breaker.trip())

        async def calls() -> list[tuple[Any, int]]:
            decisions = [await breaker.get_ttl(60) for _ in range(CALLS)]
            return [(meta["source"], meta["tier"]) for _, _, meta in decisions]

        seen = [asyncio.run(calls()) for _ in range(LOOPS)]
        assert seen == [[(StateSource.FRESH, 1)] * CALLS] * LOOPS
        asyncio.run(breaker.reset())
        assert admin.get(f"{prefix}:start_ts") is None
        assert asyncio.run(calls()) == [(StateSource.FRESH, 0)] * CALLS
        asyncio.run(breaker.close())
    finally:
        keys = list(admin.scan_iter(match=f"{prefix}*"))
        if keys:
            admin.delete(*keys)
        admin.close()
    assert [record.getMessage().split(" at ")[0].split(" (")[0] for record in caplog.records] == [
        f"panic started for breaker '{prefix}'",
        f"panic of breaker '{prefix}'",
    ]
