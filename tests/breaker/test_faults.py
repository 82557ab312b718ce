"""Fault injection: Redis killed, restarted empty, corrupted, unreachable from the start."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
from prometheus_client import CollectorRegistry
from redis.exceptions import ConnectionError as RedisConnectionError

from panicquota import PanicMode
from panicquota.breaker import (
    AsyncVIXCircuitBreaker,
    BreakerMetrics,
    StateSource,
    StoreUnavailableError,
    VIXCircuitBreaker,
    connect,
    connect_async,
)
from panicquota.clock import ManualClock

from .support import T0, AsyncView, RedisServer, free_port

LIGUE_1 = {"league": "Ligue 1"}
PREFIX = "{vix:panic}"


@pytest.fixture
def server() -> Iterator[RedisServer]:
    """A private redis-server on a free port, killed after the test."""
    own = RedisServer(free_port())
    own.start()
    yield own
    own.kill()


class Flavoured:
    """Build sync breakers, or async ones behind AsyncView, over a URL."""

    def __init__(self, flavour: str) -> None:
        self.runner = asyncio.Runner() if flavour == "async" else None
        self.clients: list[Any] = []

    def __call__(self, url: str, **options: Any) -> Any:
        if self.runner is None:
            client = connect(url, socket_timeout=0.2)
            self.clients.append(client)
            return VIXCircuitBreaker(client, **options)
        async_client = connect_async(url, socket_timeout=0.2)
        self.clients.append(async_client)
        return AsyncView(AsyncVIXCircuitBreaker(async_client, **options), self.runner)

    def close(self) -> None:
        for client in self.clients:
            if self.runner is None:
                client.close()
            else:
                self.runner.run(client.aclose())
        if self.runner is not None:
            self.runner.close()


@pytest.fixture(params=["sync", "async"])
def make(request: pytest.FixtureRequest) -> Iterator[Flavoured]:
    """A factory of sync or async breakers over a Redis URL."""
    factory = Flavoured(request.param)
    yield factory
    factory.close()


def test_kill_restart_and_corrupt(
    server: RedisServer, make: Flavoured, caplog: pytest.LogCaptureFixture
) -> None:
    """Mid-panic: a killed Redis gives STALE decisions; restarted empty, it gets the start back."""
    clock = ManualClock(T0)
    breaker = make(server.url, key_prefix=PREFIX, clock=clock, max_staleness=0)
    breaker.trip()
    clock.advance(minutes=35)
    ttl, mode, meta = breaker.get_ttl(60, LIGUE_1)
    assert (ttl, mode, meta["tier"], meta["source"]) == (5, PanicMode.PANIC_PARTIAL, 2, "FRESH")

    server.kill()
    with caplog.at_level(logging.WARNING, logger="panicquota.breaker"):
        for _ in range(40):
            clock.advance(seconds=0.5)  # past several backoff intervals
            ttl, mode, meta = breaker.get_ttl(60, LIGUE_1)
            assert (ttl, meta["tier"], meta["source"]) == (5, 2, StateSource.STALE)
    assert caplog.text.count("Redis is unreachable") == 1
    assert breaker.panic_duration_minutes() == pytest.approx(35 + 20 / 60)
    breaker.observe(50.0)  # a reading during the outage is dropped, not raised

    server.start()
    clock.advance(seconds=2)
    ttl, mode, meta = breaker.get_ttl(60, LIGUE_1)
    assert (ttl, meta["tier"], meta["source"]) == (5, 2, StateSource.FRESH)
    probe = connect(server.url)
    try:
        assert probe.get(f"{PREFIX}:start_ts") == b"1800000000.000000"
        probe.set(f"{PREFIX}:start_ts", "corrupted!")
        ttl, mode, meta = breaker.get_ttl(60, LIGUE_1)
        assert (ttl, meta["tier"], meta["source"]) == (5, 2, StateSource.FRESH)
        assert probe.get(f"{PREFIX}:start_ts") == b"1800000000.000000"
    finally:
        probe.close()


@pytest.mark.parametrize(
    ("fail_safe_ttl", "expected_ttl"),
    [pytest.param(None, 60, id="default-normal-ttl"), pytest.param(10, 10, id="configured")],
)
def test_never_known_and_down_serves_the_fail_safe(
    make: Flavoured, fail_safe_ttl: float | None, expected_ttl: float
) -> None:
    """No state ever read and Redis down: the fail-safe TTL, not 0 for everyone."""
    breaker = make(f"redis://127.0.0.1:{free_port()}/0", fail_safe_ttl=fail_safe_ttl)
    ttl, mode, meta = breaker.get_ttl(60, LIGUE_1)
    assert (ttl, mode, meta["ttl"], meta["source"]) == (
        expected_ttl,
        PanicMode.NORMAL,
        expected_ttl,
        StateSource.FAIL_SAFE,
    )
    assert breaker.panic_duration_minutes() is None


def test_operator_commands_raise_when_redis_is_down(make: Flavoured) -> None:
    """trip() cannot silently fail: it raises StoreUnavailableError naming the breaker."""
    breaker = make(f"redis://127.0.0.1:{free_port()}/0", key_prefix="ops")
    with pytest.raises(StoreUnavailableError, match=r"^could not trip the breaker 'ops': Redis"):
        breaker.trip()


def test_backoff_skips_redis_until_the_next_retry() -> None:
    """With max_staleness=0 and Redis down, one call per backoff interval tries Redis."""
    server = fakeredis.FakeServer()
    client = fakeredis.FakeRedis(server=server)
    registry = CollectorRegistry()
    clock = ManualClock(T0)
    breaker = VIXCircuitBreaker(
        client, clock=clock, max_staleness=0, metrics=BreakerMetrics(registry)
    )
    breaker.trip()
    server.connected = False
    sources = {breaker.get_ttl(60)[2]["source"] for _ in range(100)}
    errors = registry.get_sample_value(
        "panicquota_store_errors_total", {"operation": "read", "error": "ConnectionError"}
    )
    assert (sources, errors) == ({StateSource.STALE}, 1.0)
    server.connected = True
    assert breaker.get_ttl(60)[2]["source"] == StateSource.STALE, "still backing off"
    clock.advance(seconds=0.25)
    assert breaker.get_ttl(60)[2]["source"] == StateSource.FRESH
    assert registry.get_sample_value("panicquota_store_up") == 1.0
    client.close()


def test_backoff_counts_from_when_a_slow_failure_gave_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A client that takes longer than the backoff to fail blocks one call per interval."""
    client = fakeredis.FakeRedis()
    clock = ManualClock(T0)
    breaker = VIXCircuitBreaker(client, clock=clock, max_staleness=0)
    breaker.trip()
    attempts: list[float] = []

    def slow_failure(**kwargs: Any) -> Any:
        attempts.append(clock())
        clock.advance(seconds=3.5)  # redis-py's default retries take about this long
        raise RedisConnectionError("Timeout connecting to server")

    breaker._scripts["read"] = slow_failure
    with caplog.at_level(logging.WARNING, logger="panicquota.breaker"):
        for _ in range(100):
            clock.advance(seconds=0.01)
            ttl, _, meta = breaker.get_ttl(60)
            assert (ttl, meta["tier"], meta["source"]) == (0, 1, StateSource.STALE)
    # Each failure takes 3.5 s; the calls after it serve the known state for
    # the backoff (0.25 s, then 0.5 s) counted from when the failure returned.
    # Counted from when the call began, every one of the 100 calls would block.
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert gaps == pytest.approx([3.5 + 0.25, 3.5 + 0.5], abs=0.011)
    assert caplog.text.count("Redis is unreachable") == 1
    client.close()


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_refusing_server_is_a_configuration_error_not_an_outage(
    flavour: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Foreign data under the prefix: get_ttl still answers, the log and trip() say what to fix."""
    prefix = "shared"
    runner = asyncio.Runner()
    if flavour == "sync":
        client = fakeredis.FakeRedis()
        client.rpush(f"{prefix}:start_ts", "somebody else's list")
        breaker: Any = VIXCircuitBreaker(client, key_prefix=prefix)
    else:
        aclient = fakeredis.FakeAsyncRedis()
        runner.run(aclient.rpush(f"{prefix}:start_ts", "somebody else's list"))
        breaker = AsyncView(AsyncVIXCircuitBreaker(aclient, key_prefix=prefix), runner)
    with runner, caplog.at_level(logging.WARNING, logger="panicquota.breaker"):
        ttl, mode, meta = breaker.get_ttl(60, LIGUE_1)
        assert (ttl, mode, meta["source"]) == (60, PanicMode.NORMAL, StateSource.FAIL_SAFE)
        [record] = caplog.records
        assert record.levelno == logging.ERROR
        assert record.getMessage().startswith(
            "breaker 'shared': Redis refused the breaker's script (ResponseError: WRONGTYPE"
        )
        with pytest.raises(StoreUnavailableError) as raised:
            breaker.trip()
    assert str(raised.value) == (
        "could not trip the breaker 'shared': Redis refused the breaker's script "
        "(ResponseError: WRONGTYPE Operation against a key holding the wrong kind of value); "
        "check that the server runs Lua scripts (EVALSHA), that on Redis Cluster the key "
        "prefix has a hash tag such as '{vix:panic}', and that no other data uses keys "
        "under the prefix"
    )


def test_slow_redis_blocks_only_the_reading_thread() -> None:
    """While one thread waits on a slow read, other calls answer from the known state."""
    client = fakeredis.FakeRedis()
    clock = ManualClock(T0)
    breaker = VIXCircuitBreaker(client, clock=clock)
    breaker.trip()
    read = breaker._scripts["read"]
    entered, release = threading.Event(), threading.Event()

    def slow_read(**kwargs: Any) -> Any:
        entered.set()
        release.wait(timeout=10)
        return read(**kwargs)

    breaker._scripts["read"] = slow_read
    clock.advance(seconds=5)
    reader = threading.Thread(target=breaker.get_ttl, args=(60,))
    reader.start()
    try:
        assert entered.wait(timeout=10)
        ttl, _, meta = breaker.get_ttl(60)
        assert (ttl, meta["tier"], meta["source"]) == (0, 1, StateSource.STALE)
    finally:
        release.set()
        reader.join(timeout=10)
    client.close()


def test_from_url_owns_its_client(server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """from_url() builds a client with the default 2 s timeout that the breaker closes on exit."""
    closed: list[bool] = []
    with VIXCircuitBreaker.from_url(server.url, key_prefix=PREFIX) as breaker:
        client = breaker._redis
        monkeypatch.setattr(client, "close", lambda: closed.append(True))
        breaker.trip()
        assert breaker.get_ttl(60)[2]["tier"] == 1
        assert client.get_connection_kwargs()["socket_timeout"] == 2.0
    assert closed == [True]
    client.connection_pool.disconnect()


def test_async_from_url_owns_its_client(server: RedisServer) -> None:
    """The async from_url() client is closed by the async context manager."""
    closed: list[bool] = []

    async def scenario() -> None:
        async with AsyncVIXCircuitBreaker.from_url(server.url, key_prefix=PREFIX) as breaker:
            client = breaker._redis
            aclose = client.aclose

            async def recording_aclose() -> None:
                closed.append(True)
                await aclose()

            client.aclose = recording_aclose
            await breaker.trip()
            assert (await breaker.get_ttl(60))[2]["tier"] == 1

    asyncio.run(scenario())
    assert closed == [True]
