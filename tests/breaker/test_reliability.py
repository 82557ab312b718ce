"""Issue 9: what the breaker promises in the deployments caches really run.

Every exception a client can raise, refusals, readings fed while Redis is
down, a stepped wall clock, several event loops, implausible and skewed starts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from redis.exceptions import (
    AskError,
    MovedError,
    NoPermissionError,
    NoScriptError,
    ReadOnlyError,
    RedisClusterException,
)

from panicquota.breaker import (
    AsyncVIXCircuitBreaker,
    BreakerMetrics,
    StateSource,
    StoreUnavailableError,
    VIXCircuitBreaker,
    _core,
    connect,
    connect_async,
)
from panicquota.clock import ManualClock

from .support import REAL_REDIS_URL, T0, RedisServer, delete_prefix, free_port, unique_prefix

LIGUE_1 = {"league": "Ligue 1"}


class ValkeyError(Exception):
    """valkey-py's base error: it derives from Exception, not redis-py's RedisError."""


class ValkeyConnectionError(ValkeyError):
    """Shaped like ``valkey.exceptions.ConnectionError``."""


class ValkeyResponseError(ValkeyError):
    """Shaped like ``valkey.exceptions.ResponseError``."""


class NoPermissionErrorOfValkey(ValkeyResponseError):
    """Named like valkey's NoPermissionError, whose message lost the NOPERM code."""


# valkey-py names its classes like redis-py's.
ValkeyResponseError.__name__ = "ResponseError"
NoPermissionErrorOfValkey.__name__ = "NoPermissionError"


def failing(error: BaseException) -> Any:
    """Return a script stand-in that raises *error*."""

    def call(**_: Any) -> Any:
        raise error

    return call


def async_failing(error: BaseException) -> Any:
    """Return an async script stand-in that raises *error*."""

    async def call(**_: Any) -> Any:
        raise error

    return call


ERRORS = [
    ValkeyConnectionError("Error 111 connecting to 127.0.0.1:6380. Connection refused."),
    RedisClusterException("Redis Cluster cannot be connected. Please provide at least one node"),
    UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    RuntimeError("Event loop is closed"),
    KeyError("slots"),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_any_exception_from_the_store_takes_the_error_path(
    error: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    """Whatever the client raises: STALE, one warning per outage, counted; trip() names it."""
    registry = CollectorRegistry()
    clock = ManualClock(T0)
    breaker = VIXCircuitBreaker(
        fakeredis.FakeRedis(), clock=clock, max_staleness=0, metrics=BreakerMetrics(registry)
    )
    breaker.trip()
    for name in list(breaker._scripts):
        breaker._scripts[name] = failing(error)
    caplog.set_level(logging.WARNING, "panicquota.breaker")
    sources = []
    for _ in range(20):
        clock.advance(seconds=1)
        sources.append(breaker.get_ttl(60)[2]["source"])
    assert set(sources) == {StateSource.STALE}
    outage_lines = [r for r in caplog.records if "retrying every" in r.getMessage()]
    assert len(outage_lines) == 1
    assert type(error).__name__ in outage_lines[0].getMessage()
    errors = registry.get_sample_value(
        "panicquota_store_errors_total", {"operation": "read", "error": type(error).__name__}
    )
    assert errors is not None
    assert errors >= 5
    with pytest.raises(
        StoreUnavailableError,
        match=rf"^could not trip the breaker 'vix:panic': .*{type(error).__name__}",
    ):
        breaker.trip()


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_async_breaker_absorbs_any_exception(error: BaseException) -> None:
    """The async breaker serves the fail-safe and raises StoreUnavailableError from reset()."""

    async def scenario() -> tuple[Any, str]:
        breaker = AsyncVIXCircuitBreaker(fakeredis.FakeAsyncRedis(), clock=ManualClock(T0))
        for name in list(breaker._scripts):
            breaker._scripts[name] = async_failing(error)
        source = (await breaker.get_ttl(60))[2]["source"]
        with pytest.raises(StoreUnavailableError) as raised:
            await breaker.reset()
        return source, str(raised.value)

    source, message = asyncio.run(scenario())
    assert source == StateSource.FAIL_SAFE
    assert message.startswith("could not reset the breaker 'vix:panic': ")
    assert type(error).__name__ in message


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=1, max_size=12).filter(lambda b: not _utf8(b)))
def test_a_start_that_is_not_utf8_never_raises_into_a_decoding_client(raw: bytes) -> None:
    """decode_responses=True reading a non-UTF-8 start: FAIL_SAFE, never UnicodeDecodeError."""
    server = fakeredis.FakeServer()
    fakeredis.FakeRedis(server=server).set("vix:panic:start_ts", raw)
    breaker = VIXCircuitBreaker(
        fakeredis.FakeRedis(server=server, decode_responses=True), clock=ManualClock(T0)
    )
    decisions = [breaker.get_ttl(60, LIGUE_1) for _ in range(3)]
    assert {(ttl, meta["source"]) for ttl, _, meta in decisions} == {(60, StateSource.FAIL_SAFE)}


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_a_decode_error_says_what_to_change(caplog: pytest.LogCaptureFixture) -> None:
    """The outage line of a decoding client names decode_responses."""
    server = fakeredis.FakeServer()
    fakeredis.FakeRedis(server=server).set("vix:panic:start_ts", b"\xff\xfe")
    client = fakeredis.FakeRedis(server=server, decode_responses=True)
    caplog.set_level(logging.WARNING, "panicquota.breaker")
    VIXCircuitBreaker(client, clock=ManualClock(T0)).get_ttl(60)
    assert [r.getMessage() for r in caplog.records] == [
        "breaker 'vix:panic': the breaker could not read Redis's reply (UnicodeDecodeError: "
        "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte); pass a client "
        "without decode_responses, or check what else writes the prefix's keys; serving the "
        "last known state and retrying every 2 s at most"
    ]


@pytest.mark.parametrize(
    ("error", "advice"),
    [
        (
            MovedError("3999 127.0.0.1:6381"),
            "this is a cluster node: use a cluster client (redis.RedisCluster) or a "
            "redis+cluster:// URL",
        ),
        (AskError("3999 127.0.0.1:6381"), "this is a cluster node: use a cluster client"),
        (
            NoPermissionError("User app has no permissions to run the 'evalsha' command"),
            "the Redis user lacks a permission: grant it EVAL, EVALSHA",
        ),
        (
            NoPermissionErrorOfValkey("User app has no permissions to run the 'eval' command"),
            "the Redis user lacks a permission",
        ),
        (NoScriptError("No matching script."), "the server does not keep the breaker's Lua"),
        (
            ReadOnlyError("You can't write against a read only replica."),
            "this server is a read-only replica: point the breaker at the primary",
        ),
        (
            ValkeyResponseError("NOPERM User app has no permissions to run the 'eval' command"),
            "the Redis user lacks a permission",
        ),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else None,
)
def test_a_refusal_is_an_error_saying_what_to_change(
    error: Exception, advice: str, caplog: pytest.LogCaptureFixture
) -> None:
    """NOPERM, NOSCRIPT, READONLY, MOVED/ASK: logged as an ERROR naming the fix."""
    breaker = VIXCircuitBreaker(fakeredis.FakeRedis(), clock=ManualClock(T0))
    breaker._scripts["read"] = failing(error)
    caplog.set_level(logging.WARNING, "panicquota.breaker")
    breaker.get_ttl(60)
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert f"Redis refused the breaker's script ({type(error).__name__}: {error}): {advice}" in (
        record.getMessage()
    )


@pytest.fixture
def acl_server() -> Iterator[RedisServer]:
    """A private redis-server with a user 'app' allowed everything but EVAL/EVALSHA."""
    own = RedisServer(free_port())
    own.start()
    admin = redis.Redis(port=own.port)
    admin.acl_setuser(
        "app",
        enabled=True,
        passwords=["+secret"],
        keys=["*"],
        commands=["+@all", "-eval", "-evalsha"],
    )
    admin.close()
    yield own
    own.kill()


def test_a_user_without_eval_is_told_which_permission(
    acl_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A real ACL user without EVAL: FAIL_SAFE and an ERROR naming the ACL to grant."""
    client = connect(f"redis://app:secret@127.0.0.1:{acl_server.port}/0", socket_timeout=5)
    caplog.set_level(logging.WARNING, "panicquota.breaker")
    breaker = VIXCircuitBreaker(client, clock=ManualClock(T0))
    assert breaker.get_ttl(60)[2]["source"] == StateSource.FAIL_SAFE
    with pytest.raises(StoreUnavailableError, match=r"NoPermissionError: .*lacks a permission"):
        breaker.trip()
    client.close()
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "ACL SETUSER <user> +eval +evalsha +script +time ~<prefix>*" in record.getMessage()


def test_a_replica_refuses_a_trip_saying_to_use_the_primary(
    acl_server: RedisServer,
) -> None:
    """A real read-only replica: trip() raises naming READONLY and the primary."""
    replica = RedisServer(free_port(), "--replicaof", "127.0.0.1", str(acl_server.port))
    replica.start()
    try:
        client = connect(replica.url, socket_timeout=5)
        breaker = VIXCircuitBreaker(client, clock=ManualClock(T0))
        with pytest.raises(
            StoreUnavailableError, match=r"ReadOnlyError: .*point the breaker at the primary"
        ):
            breaker.trip()
        client.close()
    finally:
        replica.kill()


def test_readings_needing_no_round_trip_keep_the_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """observe() in the band or while backing off neither ends the outage nor logs a recovery."""
    server = fakeredis.FakeServer()
    registry = CollectorRegistry()
    clock = ManualClock(T0)
    breaker = VIXCircuitBreaker(
        fakeredis.FakeRedis(server=server), clock=clock, metrics=BreakerMetrics(registry)
    )
    breaker.trip()
    server.connected = False
    caplog.set_level(logging.WARNING, "panicquota.breaker")
    caplog.clear()
    clock.advance(seconds=2)
    assert breaker.get_ttl(60)[2]["source"] == StateSource.STALE
    for vix in (25.0, 35.0, 25.0, 10.0, 35.0):
        breaker.observe(vix)  # in the band, or while backing off: no round trip
        assert breaker.get_ttl(60)[2]["source"] == StateSource.STALE
    errors = registry.get_sample_value(
        "panicquota_store_errors_total", {"operation": "read", "error": "ConnectionError"}
    )
    assert errors == 1.0
    assert [r.getMessage()[:58] for r in caplog.records] == [
        "breaker 'vix:panic': Redis is unreachable (ConnectionError"
    ]
    server.connected = True
    clock.advance(seconds=3)
    assert breaker.get_ttl(60)[2]["source"] == StateSource.FRESH
    assert sum("Redis answers again" in r.getMessage() for r in caplog.records) == 1


def test_backoff_survives_a_wall_clock_stepped_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """The system clock stepped back 10 minutes mid-outage: retries go on (monotonic backoff)."""
    wall = [time.time()]
    monkeypatch.setattr(_core, "system_clock", lambda: wall[0])
    server = fakeredis.FakeServer()
    breaker = VIXCircuitBreaker(fakeredis.FakeRedis(server=server), max_staleness=0)
    breaker.trip()
    server.connected = False
    assert breaker.get_ttl(60)[2]["source"] == StateSource.STALE
    wall[0] -= 600
    server.connected = True
    time.sleep(0.3)  # past the first backoff (0.25 s) on the monotonic clock
    assert breaker.get_ttl(60)[2]["source"] == StateSource.FRESH


@pytest.fixture
def shared_prefix(real_redis: Any) -> Iterator[str]:
    """A unique prefix on the shared Redis, its keys deleted afterwards."""
    prefix = unique_prefix()
    yield prefix
    delete_prefix(real_redis, prefix)


@pytest.mark.parametrize("known", [True, False], ids=["panic", "never-known"])
def test_one_async_breaker_serves_many_event_loops(
    real_redis: Any, shared_prefix: str, known: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """Repeated asyncio.run and 20 concurrent tasks per loop: no error, no outage, FRESH reads."""
    if known:
        real_redis.set(f"{shared_prefix}:start_ts", f"{float(real_redis.time()[0]) - 60:.6f}")
    client = connect_async(REAL_REDIS_URL, socket_timeout=5)
    breaker = AsyncVIXCircuitBreaker(
        client, key_prefix=shared_prefix, max_staleness=0, max_wait=5.0
    )
    caplog.set_level(logging.WARNING, "panicquota.breaker")

    async def calls(last: bool) -> list[Any]:
        one = await breaker.get_ttl(60)
        many = await asyncio.gather(*(breaker.get_ttl(60) for _ in range(20)))
        if last:
            await client.aclose()
        return [one, *many]

    decisions = [d for run in range(20) for d in asyncio.run(calls(run == 19))]
    assert {meta["source"] for _, _, meta in decisions} <= {StateSource.FRESH, StateSource.CACHED}
    assert {meta["tier"] for _, _, meta in decisions} == {1 if known else 0}
    assert caplog.records == []


def test_one_async_breaker_alternates_between_two_open_loops(
    real_redis: Any, shared_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Two loops both open, used in turn: the other loop's sockets are reset; close() works."""
    breaker = AsyncVIXCircuitBreaker.from_url(
        REAL_REDIS_URL, key_prefix=shared_prefix, max_staleness=0, max_wait=5.0
    )
    caplog.set_level(logging.WARNING, "panicquota.breaker")
    loops = [asyncio.new_event_loop(), asyncio.new_event_loop()]
    try:
        sources = [
            loops[turn % 2].run_until_complete(breaker.get_ttl(60))[2]["source"]
            for turn in range(6)
        ]
        loops[0].run_until_complete(breaker.close())  # loop 1 opened the connection
    finally:
        for loop in loops:
            loop.close()
    assert sources == [StateSource.FRESH] * 6
    assert caplog.records == []


@settings(max_examples=30, deadline=None)
@given(
    st.one_of(
        st.floats(min_value=-1e12, max_value=946_684_799.0),
        st.floats(min_value=946_684_800.0, max_value=time.time() - 8 * 86400),
    )
)
def test_a_start_before_2000_or_older_than_max_panic_age_is_repaired(start: float) -> None:
    """Implausibly old starts (1970, 1e-300, years ago) are ignored, warned and repaired."""
    server = fakeredis.FakeServer()
    client = fakeredis.FakeRedis(server=server)
    client.set("vix:panic:start_ts", repr(start))
    breaker = VIXCircuitBreaker(client, clock=ManualClock(T0))
    ttl, _, meta = breaker.get_ttl(60, LIGUE_1)
    assert (ttl, meta["tier"], meta["panic_start_ts"]) == (0, 1, T0)
    assert client.get("vix:panic:start_ts") == b"1800000000.000000"


@pytest.mark.parametrize("raw", ["1", "1e-300", repr(T0 - 3 * 365 * 86400)])
def test_an_old_start_is_warned_about_naming_max_panic_age(
    raw: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The warning says what a plausible start is, max_panic_age included."""
    client = fakeredis.FakeRedis()
    client.set("vix:panic:start_ts", raw)
    caplog.set_level(logging.WARNING, "panicquota.breaker")
    VIXCircuitBreaker(client, clock=ManualClock(T0)).get_ttl(60)
    assert caplog.records[0].getMessage() == (
        f"ignoring the panic start {raw!r} of breaker 'vix:panic': expected epoch seconds "
        "after 2000, at most max_panic_age (604800 s) old and no later than now + "
        "max_clock_skew (60 s); repairing it"
    )


def test_max_panic_age_is_an_option() -> None:
    """A longer max_panic_age accepts a start ten days old (tier 4)."""
    client = fakeredis.FakeRedis()
    client.set("vix:panic:start_ts", repr(T0 - 10 * 86400))
    breaker = VIXCircuitBreaker(client, clock=ManualClock(T0), max_panic_age=30 * 86400)
    assert breaker.get_ttl(60, LIGUE_1)[2]["tier"] == 4
    assert client.get("vix:panic:start_ts") == repr(T0 - 10 * 86400).encode()


@pytest.mark.parametrize("behind", [300.0, 3600.0])
def test_a_skewed_host_in_local_mode_keeps_the_stored_start(
    real_redis: Any, shared_prefix: str, behind: float
) -> None:
    """A host minutes behind sees a start in its future: clamped, never rewritten."""
    server_now = float(real_redis.time()[0])
    stored = f"{server_now - 1:.6f}"
    real_redis.set(f"{shared_prefix}:start_ts", stored)
    client = connect(REAL_REDIS_URL, socket_timeout=5)
    breaker = VIXCircuitBreaker(
        client, key_prefix=shared_prefix, clock=ManualClock(server_now - behind)
    )
    _, _, meta = breaker.get_ttl(60, LIGUE_1)
    client.close()
    assert (meta["tier"], meta["clamped"]) == (1, True)
    assert real_redis.get(f"{shared_prefix}:start_ts") == stored.encode()


class Recorder:
    """A BreakerObserver that records every call, by method name."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def decision(self, mode: Any, meta: Any, source: Any) -> None:
        self.calls.append(("decision", source))

    def panic_state(self, duration_seconds: float | None) -> None:
        self.calls.append(("panic_state", duration_seconds))

    def transition(self, transition: Any) -> None:
        self.calls.append(("transition", (transition.from_tier, transition.to_tier)))

    def store_error(self, operation: str, error: BaseException) -> None:
        self.calls.append(("store_error", (operation, type(error).__name__)))

    def store_latency(self, operation: str, seconds: float) -> None:
        self.calls.append(("store_latency", operation))

    def store_up(self, *, up: bool) -> None:
        self.calls.append(("store_up", up))

    def repair(self, kind: str) -> None:
        self.calls.append(("repair", kind))


def test_observers_see_what_the_metrics_see() -> None:
    """add_observer: the metrics and each observer get every report, repairs included."""
    registry = CollectorRegistry()
    server = fakeredis.FakeServer()
    client = fakeredis.FakeRedis(server=server)
    client.set("vix:panic:start_ts", "not a time")
    clock = ManualClock(T0)
    breaker = VIXCircuitBreaker(
        client, clock=clock, max_staleness=0, metrics=BreakerMetrics(registry)
    )
    first, second = Recorder(), Recorder()
    breaker.add_observer(first)
    breaker.add_observer(second)
    breaker.get_ttl(60, LIGUE_1)
    server.connected = False
    breaker.get_ttl(60, LIGUE_1)
    assert first.calls == second.calls
    assert first.calls == [
        ("store_latency", "read"),
        ("store_latency", "repair"),
        ("repair", "corrupt"),
        ("panic_state", 1e-9 * 60),
        ("store_latency", "dedup"),
        ("transition", (0, 1)),
        ("transition", (0, 1)),
        ("transition", (0, 1)),
        ("decision", StateSource.FRESH),
        ("store_error", ("read", "ConnectionError")),
        ("store_up", False),
        ("decision", StateSource.STALE),
    ]
    assert registry.get_sample_value("panicquota_state_repairs_total", {"kind": "corrupt"}) == 1


def test_a_breaker_observer_without_metrics_is_the_only_one() -> None:
    """With no metrics, the first observer added is used as is."""
    breaker = VIXCircuitBreaker(fakeredis.FakeRedis(), clock=ManualClock(T0))
    recorder = Recorder()
    breaker.add_observer(recorder)
    breaker.get_ttl(60)
    assert breaker._core.metrics is recorder
    assert recorder.calls[-1] == ("decision", StateSource.FRESH)
