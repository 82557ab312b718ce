"""Every breaker operation on every engine, with redis-py and valkey-py, sync and async.

The prefix the tests give is *not* hash-tagged: on a cluster the breaker must
tag it itself, and say so.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from panicquota import PanicMode
from panicquota.breaker import AsyncVIXCircuitBreaker, StateSource, VIXCircuitBreaker, connect
from panicquota.clock import ManualClock

from .servers import Topology

T0 = 1_800_000_000.0
LIGUE_1 = {"league": "Ligue 1"}


class Breakers:
    """Build breakers of one flavour by URL, drive them with sync calls, clean up their keys."""

    def __init__(self, url: str, flavour: str) -> None:
        self.url = url
        self.prefix = f"pqengine:{uuid.uuid4().hex}"
        self.clock = ManualClock(T0)
        self.runner = asyncio.Runner() if flavour == "async" else None
        self.built: list[Any] = []
        self.admin = connect(url)

    def __call__(self, **options: Any) -> Any:
        options.setdefault("key_prefix", self.prefix)
        options.setdefault("clock", self.clock)
        if self.runner is None:
            breaker: Any = VIXCircuitBreaker.from_url(self.url, **options)
        else:
            breaker = AsyncVIXCircuitBreaker.from_url(self.url, **options)
        self.built.append(breaker)
        return breaker

    def run(self, breaker: Any, method: str, *args: Any) -> Any:
        """Call *method* of *breaker*, awaiting it for an async breaker."""
        result = getattr(breaker, method)(*args)
        return self.runner.run(result) if self.runner is not None else result

    def key(self, breaker: Any, suffix: str) -> str:
        """Return the full name of one of *breaker*'s keys."""
        return f"{breaker.key_prefix}:{suffix}"

    def close(self) -> None:
        """Close every breaker and delete the keys under the test's prefix."""
        for breaker in self.built:
            self.run(breaker, "close")
            keys = list(self.admin.scan_iter(match=f"{breaker.key_prefix}*"))
            if keys:
                self.admin.delete(*keys)
        if self.runner is not None:
            self.runner.close()
        self.admin.close()


@pytest.fixture(params=["sync", "async"])
def make(request: pytest.FixtureRequest, store_url: str) -> Iterator[Breakers]:
    """Return a breaker factory on the engine's URL, sync then async."""
    breakers = Breakers(store_url, request.param)
    try:
        yield breakers
    finally:
        breakers.close()


def summary(decision: Any) -> tuple[Any, ...]:
    """Return (ttl, mode, tier, source) of a decision."""
    ttl, mode, meta = decision
    return (ttl, mode, meta["tier"], meta["source"])


def test_client_class_follows_the_url(engine: Topology, library: str, make: Breakers) -> None:
    """The URL's scheme picks the library and topology; a cluster prefix is hash-tagged."""
    breaker = make()
    client = type(breaker._redis)
    libraries = {cls.__module__.split(".")[0] for cls in client.__mro__} & {"redis", "valkey"}
    assert libraries == {library}
    cluster = engine.name == "cluster"
    assert ("Cluster" in client.__name__) is cluster
    expected = "{" + make.prefix + "}" if cluster else make.prefix
    assert breaker.key_prefix == expected


def test_get_ttl(make: Breakers) -> None:
    """get_ttl reads the state: normal TTL with no panic, then the panic another worker tripped."""
    breaker, operator = make(), make()
    assert summary(make.run(breaker, "get_ttl", 60, LIGUE_1)) == (
        60,
        PanicMode.NORMAL,
        0,
        StateSource.FRESH,
    )
    make.run(operator, "trip")
    make.clock.advance(seconds=2)
    ttl, mode, meta = make.run(breaker, "get_ttl", 60, LIGUE_1)
    assert (ttl, mode, meta["tier"], meta["source"]) == (0, PanicMode.PANIC_FULL, 1, "FRESH")
    assert meta["panic_start_ts"] == T0


def test_observe(make: Breakers) -> None:
    """observe trips at the trip level and resets after the calm period."""
    breaker = make(calm_seconds=60)
    make.run(breaker, "observe", 35.0)
    assert make.admin.get(make.key(breaker, "start_ts")) == b"1800000000.000000"
    make.run(breaker, "observe", 10.0)
    make.clock.advance(seconds=61)
    make.run(breaker, "observe", 10.0)
    assert make.admin.get(make.key(breaker, "start_ts")) is None
    assert make.run(breaker, "panic_duration_minutes") is None


def test_trip(make: Breakers) -> None:
    """Racing trips agree on the first start."""
    first, second = make(), make(clock=ManualClock(T0 + 90))
    make.run(first, "trip")
    make.run(second, "trip")
    assert make.admin.get(make.key(first, "start_ts")) == b"1800000000.000000"
    assert make.run(second, "panic_duration_minutes") == pytest.approx(1.5)


def test_reset(make: Breakers) -> None:
    """reset deletes the start and leaves the episode-end marker."""
    breaker = make()
    make.run(breaker, "trip")
    make.clock.advance(minutes=10)
    make.run(breaker, "reset")
    assert make.admin.get(make.key(breaker, "start_ts")) is None
    assert make.admin.get(make.key(breaker, "ended")) == b"1800000000.000000|1800000600.000000"
    assert summary(make.run(breaker, "get_ttl", 60, LIGUE_1))[:3] == (60, PanicMode.NORMAL, 0)


def test_state_reads(make: Breakers) -> None:
    """panic_duration_minutes and refresh read the shared start; the tier follows the clock."""
    breaker, operator = make(max_staleness=3600), make()
    assert make.run(breaker, "panic_duration_minutes") is None
    make.run(operator, "trip")
    make.run(breaker, "refresh")
    make.clock.advance(minutes=31)
    assert make.run(breaker, "panic_duration_minutes") == pytest.approx(31.0)
    assert summary(make.run(breaker, "get_ttl", 60, LIGUE_1))[:3] == (
        5,
        PanicMode.PANIC_PARTIAL,
        2,
    )


def test_transitions_are_delivered_once(make: Breakers) -> None:
    """Two workers see a tier rise; the dedup script elects exactly one to deliver it."""
    delivered: list[Any] = []
    first, second = make(), make()
    for breaker in (first, second):
        breaker.add_listener(delivered.append)
    make.run(first, "trip")
    make.clock.advance(minutes=31)
    for breaker in (first, second):
        make.run(breaker, "refresh")
        make.run(breaker, "get_ttl", 60, LIGUE_1)
    steps = sorted((t.stakes.value, t.from_tier, t.to_tier) for t in delivered)
    assert steps == [
        ("high_stakes", 0, 1),
        ("low_stakes", 0, 1),
        ("low_stakes", 1, 2),
        ("medium_stakes", 0, 1),
        ("medium_stakes", 1, 2),
    ]


def test_cluster_tagging_is_logged(engines: Any, caplog: pytest.LogCaptureFixture) -> None:
    """On a cluster an untagged prefix is tagged and a WARNING names the prefix used."""
    url = engines.get("cluster").url
    caplog.set_level(logging.WARNING, "panicquota.breaker")
    with VIXCircuitBreaker.from_url(url, key_prefix="vix:panic") as breaker:
        assert breaker.key_prefix == "{vix:panic}"
    assert caplog.messages == [
        "key prefix 'vix:panic' has no hash tag: on the cluster client RedisCluster the breaker "
        "uses '{vix:panic}' so that its keys share one slot (pass key_prefix='{vix:panic}' to "
        "every worker to say so yourself)"
    ]
    with VIXCircuitBreaker.from_url(url, key_prefix="app:{vix}") as breaker:
        assert breaker.key_prefix == "app:{vix}"
