"""The breaker over other policies, and the async breaker's own paths."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import fakeredis
from prometheus_client import CollectorRegistry

from panicquota import AdaptivePanicQuota, PanicMode, Thresholds
from panicquota.breaker import (
    AsyncVIXCircuitBreaker,
    BreakerMetrics,
    TierTransition,
    VIXCircuitBreaker,
)
from panicquota.clock import ManualClock
from panicquota.stakes import Context, Stakes

from .support import T0


class HalfTTL:
    """A user's own policy: half the normal TTL during any panic, no thresholds."""

    def calculate_ttl_strategy(
        self, normal_ttl: float, panic_duration_minutes: float | None, context: Context = None
    ) -> tuple[float, PanicMode, Mapping[str, Any]]:
        if not panic_duration_minutes:
            return (normal_ttl, PanicMode.NORMAL, {"tier": 0, "stakes": Stakes.LOW})
        return (normal_ttl / 2, PanicMode.DEGRADED, {"tier": 3, "stakes": Stakes.LOW})


def test_own_policy_without_thresholds() -> None:
    """A policy with only calculate_ttl_strategy is asked; no transitions are computed."""
    client = fakeredis.FakeRedis()
    delivered: list[TierTransition] = []
    breaker = VIXCircuitBreaker(client, HalfTTL(), clock=ManualClock(T0))
    breaker.add_listener(delivered.append)
    breaker.trip()
    ttl, mode, meta = breaker.get_ttl(60)
    assert (ttl, mode, meta["source"], delivered) == (30, PanicMode.DEGRADED, "CACHED", [])
    assert isinstance(breaker.quota, HalfTTL)
    client.close()


def test_configured_thresholds_drive_transitions() -> None:
    """Transitions follow the policy's own thresholds (medium stakes tier 2 at 10 minutes)."""
    client = fakeredis.FakeRedis()
    clock = ManualClock(T0)
    quota = AdaptivePanicQuota({Stakes.MEDIUM: Thresholds(10, 20, 30)})
    delivered: list[TierTransition] = []
    breaker = VIXCircuitBreaker(client, quota, clock=clock, on_transition=delivered.append)
    breaker.trip()
    clock.advance(minutes=10)
    assert breaker.get_ttl(60, "Ligue 1")[2]["tier"] == 2
    assert [(t.stakes, t.to_tier) for t in delivered if t.from_tier == 1] == [(Stakes.MEDIUM, 2)]
    client.close()


def test_async_breaker_awaits_listeners_and_records_metrics() -> None:
    """Coroutine listeners are awaited; the async breaker records Redis latencies too."""
    registry = CollectorRegistry()
    delivered: list[TierTransition] = []

    async def listener(transition: TierTransition) -> None:
        await asyncio.sleep(0)
        delivered.append(transition)

    async def scenario() -> tuple[Any, ...]:
        client = fakeredis.FakeAsyncRedis()
        clock = ManualClock(T0)
        breaker = AsyncVIXCircuitBreaker(
            client, clock=clock, metrics=BreakerMetrics(registry), on_transition=listener
        )
        await breaker.trip()
        clock.advance(minutes=20)
        await breaker.refresh()
        result = (breaker.key_prefix, breaker.quota, await breaker.panic_duration_minutes())
        await breaker.close()
        await client.aclose()
        return result

    prefix, quota, minutes = asyncio.run(scenario())
    assert (prefix, quota, minutes) == ("vix:panic", AdaptivePanicQuota(), 20.0)
    assert [(t.stakes, t.to_tier) for t in delivered if t.from_tier == 1] == [(Stakes.LOW, 2)]
    count = registry.get_sample_value(
        "panicquota_store_latency_seconds_count", {"operation": "read"}
    )
    assert count == 1.0


def test_async_tasks_do_not_queue_behind_a_slow_read() -> None:
    """While a read hangs, every task answers from the known state within max_wait."""

    async def scenario() -> tuple[Any, ...]:
        client = fakeredis.FakeAsyncRedis()
        clock = ManualClock(T0)
        breaker = AsyncVIXCircuitBreaker(client, clock=clock, max_wait=0.05)
        await breaker.trip()
        read = breaker._scripts["read"]
        entered, release = asyncio.Event(), asyncio.Event()

        async def slow_read(**kwargs: Any) -> Any:
            entered.set()
            await release.wait()
            return await read(**kwargs)

        breaker._scripts["read"] = slow_read
        clock.advance(seconds=5)
        began = time.monotonic()
        first, second = await asyncio.gather(breaker.get_ttl(60), breaker.get_ttl(60))
        waited = time.monotonic() - began
        assert entered.is_set()
        release.set()
        await breaker._task  # the read finishes off the request path
        _, _, after = await breaker.get_ttl(60)
        await client.aclose()
        return first[2]["source"], second[2]["source"], after["source"], waited < 1.0

    assert asyncio.run(scenario()) == ("STALE", "STALE", "CACHED", True)
