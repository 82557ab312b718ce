"""Worker functions run in spawned processes (imported by name, so picklable)."""

from __future__ import annotations

import time
from typing import Any

from panicquota.breaker import VIXCircuitBreaker, connect
from panicquota.clock import ManualClock

CONTEXTS = ({"league": "Ligue 1"}, "UEFA Champions League Final", None, {"event": "Friendly"})


def race_to_trip(url: str, prefix: str, now: float, barrier: Any, results: Any) -> None:
    """Trip at *now* once every racer is ready; report the start this worker then reads."""
    client = connect(url, socket_timeout=5)
    try:
        breaker = VIXCircuitBreaker(client, key_prefix=prefix, clock=ManualClock(now))
        barrier.wait(timeout=30)
        breaker.trip()
        breaker.refresh()
        results.put(breaker.get_ttl(60)[2]["panic_start_ts"])
    finally:
        client.close()


def decide_at(
    url: str, prefix: str, now: float, skew: float, time_source: str, results: Any
) -> None:
    """Report (ttl, mode, tier, stakes) for each context at one instant."""
    client = connect(url, socket_timeout=5)
    try:
        if time_source == "redis":
            clock: Any = lambda: time.time() + skew  # noqa: E731
        else:
            clock = ManualClock(now + skew)
        breaker = VIXCircuitBreaker(client, key_prefix=prefix, clock=clock, time_source=time_source)
        decisions = []
        for context in CONTEXTS:
            ttl, mode, meta = breaker.get_ttl(60, context)
            decisions.append((ttl, mode.value, meta["tier"], meta["stakes"].value))
        results.put(tuple(decisions))
    finally:
        client.close()


def serve_for(url: str, prefix: str, seconds: float, results: Any) -> None:
    """Serve get_ttl for *seconds* on the system clock; report (elapsed, tier, latency) of each."""
    client = connect(url)
    try:
        breaker = VIXCircuitBreaker(client, key_prefix=prefix)
        began = time.monotonic()
        calls = []
        while (now := time.monotonic()) - began < seconds:
            _, _, meta = breaker.get_ttl(60, CONTEXTS[0])
            after = time.monotonic()
            calls.append((now - began, meta["tier"], str(meta["source"]), after - now))
            time.sleep(0.005)
        results.put(calls)
    finally:
        client.close()
