"""The reader off the request path survives whatever a round raises, sync and async.

A client raising a BaseException (KeyboardInterrupt, gevent's Timeout), an
observer raising from a report, a failing refresh: the next call still reads
(a new refresher thread if the old one ended), nothing reaches the request
path, and each failure is logged once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import fakeredis
import pytest

from panicquota.breaker import (
    AsyncVIXCircuitBreaker,
    StateSource,
    StoreUnavailableError,
    VIXCircuitBreaker,
)
from panicquota.clock import ManualClock

from .support import T0, hang_reads

PREFIX = "{pq:refresher}"
FIVE_TRANSITIONS = [
    ("high_stakes", 0, 1),
    ("low_stakes", 0, 1),
    ("low_stakes", 1, 2),
    ("medium_stakes", 0, 1),
    ("medium_stakes", 1, 2),
]


class Timeout(BaseException):
    """What gevent's Timeout is: a BaseException, raised in the middle of a call."""


class Interrupting(fakeredis.FakeRedis):
    """A client whose next *failures* EVALs raise *error* (a BaseException)."""

    failures = 0
    error: BaseException = KeyboardInterrupt()

    def eval(self, *args: Any, **kwargs: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise self.error
        return super().eval(*args, **kwargs)


class Observer:
    """A BreakerObserver whose report *failing* raises RuntimeError("observer down")."""

    def __init__(self, failing: str) -> None:
        self.failing = failing

    def _report(self, name: str) -> None:
        if name == self.failing:
            raise RuntimeError("observer down")

    def decision(self, mode: Any, meta: Any, source: Any) -> None:
        self._report("decision")

    def panic_state(self, duration_seconds: float | None) -> None:
        self._report("panic_state")

    def transition(self, transition: Any) -> None:
        self._report("transition")

    def store_error(self, operation: str, error: BaseException) -> None:
        self._report("store_error")

    def store_latency(self, operation: str, seconds: float) -> None:
        self._report("store_latency")

    def store_up(self, *, up: bool) -> None:
        self._report("store_up")

    def repair(self, kind: str) -> None:
        self._report("repair")


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Callable[[], list[tuple[str, str]]]:
    """Return (level, message) of the breaker's records at INFO and above, tier lines aside."""
    caplog.set_level(logging.INFO, "panicquota.breaker")

    def records() -> list[tuple[str, str]]:
        return [
            (record.levelname, record.getMessage())
            for record in caplog.records
            if record.name == "panicquota.breaker" and " tier " not in record.getMessage()
        ]

    return records


@pytest.fixture
def server() -> fakeredis.FakeServer:
    """A fresh fakeredis server."""
    return fakeredis.FakeServer()


def wait_for_no_refresher(breaker: VIXCircuitBreaker) -> None:
    """Wait until the breaker's refresher thread has ended (and cleared itself)."""
    deadline = time.monotonic() + 5
    while breaker._thread is not None:
        assert time.monotonic() < deadline, "the refresher thread did not end"
        time.sleep(0.005)


def break_first_refresh(breaker: Any) -> None:
    """Make the breaker's first refresh raise RuntimeError("flow broken"); later ones read."""
    core = breaker._core
    real_flow = core.refresh_flow
    calls = []

    def failing_once(now: float) -> Any:
        calls.append(now)
        if len(calls) == 1:
            raise RuntimeError("flow broken")
        return real_flow(now)

    core.refresh_flow = failing_once


def steps(delivered: list[Any]) -> list[tuple[str, int, int]]:
    """Return the delivered transitions as sorted (stakes, from, to)."""
    return sorted((t.stakes.value, t.from_tier, t.to_tier) for t in delivered)


@pytest.mark.parametrize(
    ("error", "shown"),
    [(KeyboardInterrupt(), "KeyboardInterrupt: "), (Timeout("1 second"), "Timeout: 1 second")],
    ids=["KeyboardInterrupt", "gevent-Timeout"],
)
def test_a_base_exception_from_the_client_ends_the_refresher_and_the_next_call_starts_one(
    server: fakeredis.FakeServer,
    logged: Callable[[], list[tuple[str, str]]],
    error: BaseException,
    shown: str,
) -> None:
    """The thread the BaseException ends is replaced after the backoff; logged once each."""
    client = Interrupting(server=server)
    client.error, client.failures = error, 2
    clock = ManualClock(T0)
    breaker = VIXCircuitBreaker(client, key_prefix=PREFIX, clock=clock, max_staleness=0)
    sources = []
    for _ in range(3):
        sources.append(breaker.get_ttl(60)[2]["source"])
        if sources[-1] != StateSource.FRESH:
            wait_for_no_refresher(breaker)
            clock.advance(seconds=1)  # past the backoff
    assert sources == [StateSource.FAIL_SAFE, StateSource.FAIL_SAFE, StateSource.FRESH]
    assert breaker._thread is not None
    assert breaker._thread.is_alive()
    assert logged() == [
        (
            "WARNING",
            f"breaker '{PREFIX}': Redis is unreachable ({shown}); serving the last known "
            "state and retrying every 2 s at most",
        ),
        (
            "ERROR",
            f"breaker '{PREFIX}': a refresh (the refresher thread ends) raised; the breaker "
            "goes on (logged once)",
        ),
        ("WARNING", f"breaker '{PREFIX}': Redis answers again, after 2.0 s"),
    ]
    breaker.close()


def test_an_observer_raising_on_a_transition_kills_neither_the_reads_nor_the_delivery(
    server: fakeredis.FakeServer, logged: Callable[[], list[tuple[str, str]]]
) -> None:
    """trip() and the refresher deliver every transition, the thread lives on, logged once."""
    clock = ManualClock(T0)
    delivered: list[Any] = []
    breaker = VIXCircuitBreaker(
        fakeredis.FakeRedis(server=server),
        key_prefix=PREFIX,
        clock=clock,
        max_staleness=0,
        metrics=Observer("transition"),
        on_transition=delivered.append,
    )
    breaker.trip()  # delivers the three 0 -> 1 transitions
    clock.advance(minutes=31)
    first = breaker.get_ttl(60)[2]["source"]  # the refresher delivers two 1 -> 2
    thread = breaker._thread
    clock.advance(seconds=1)
    second = breaker.get_ttl(60)[2]["source"]
    assert (first, second) == (StateSource.FRESH, StateSource.FRESH)
    assert breaker._thread is thread
    assert steps(delivered) == FIVE_TRANSITIONS
    assert logged()[1:] == [
        (
            "ERROR",
            f"breaker '{PREFIX}': an observer's transition raised; the breaker goes on "
            "(logged once)",
        )
    ]
    breaker.close()


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_an_observer_raising_on_a_store_error_leaves_the_outage_recorded(
    server: fakeredis.FakeServer, logged: Callable[[], list[tuple[str, str]]], flavour: str
) -> None:
    """trip() raises StoreUnavailableError, not the observer's error; the backoff holds."""
    server.connected = False
    clock = ManualClock(T0)
    options: dict[str, Any] = {
        "key_prefix": PREFIX,
        "clock": clock,
        "metrics": Observer("store_error"),
    }
    message = (
        f"could not trip the breaker '{PREFIX}': Redis is unreachable (ConnectionError: "
        "FakeRedis is emulating a connection error.)"
    )
    if flavour == "sync":
        breaker: Any = VIXCircuitBreaker(fakeredis.FakeRedis(server=server), **options)
        with pytest.raises(StoreUnavailableError) as raised:
            breaker.trip()
    else:
        breaker = AsyncVIXCircuitBreaker(fakeredis.FakeAsyncRedis(server=server), **options)
        with pytest.raises(StoreUnavailableError) as raised:
            asyncio.run(breaker.trip())
    assert str(raised.value) == message
    assert breaker._core.in_backoff(clock())
    assert [level for level, _ in logged()] == ["WARNING", "ERROR"]
    assert logged()[1][1] == (
        f"breaker '{PREFIX}': an observer's store_error or store_up raised; the breaker goes "
        "on (logged once)"
    )


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_an_observer_raising_on_a_latency_is_no_store_error(
    server: fakeredis.FakeServer,
    logged: Callable[[], list[tuple[str, str]]],
    caplog: pytest.LogCaptureFixture,
    flavour: str,
) -> None:
    """Every read is FRESH; the observer's error is logged at ERROR once, then at DEBUG."""
    caplog.set_level(logging.DEBUG, "panicquota.breaker")
    clock = ManualClock(T0)
    options: dict[str, Any] = {
        "key_prefix": PREFIX,
        "clock": clock,
        "max_staleness": 0,
        "metrics": Observer("store_latency"),
    }
    sources = []
    if flavour == "sync":
        breaker: Any = VIXCircuitBreaker(fakeredis.FakeRedis(server=server), **options)
        for _ in range(3):
            sources.append(breaker.get_ttl(60)[2]["source"])
            clock.advance(seconds=1)
        breaker.close()
    else:
        abreaker = AsyncVIXCircuitBreaker(fakeredis.FakeAsyncRedis(server=server), **options)

        async def three() -> None:
            for _ in range(3):
                sources.append((await abreaker.get_ttl(60))[2]["source"])
                clock.advance(seconds=1)

        asyncio.run(three())
    assert sources == [StateSource.FRESH] * 3
    failures = [r.levelname for r in caplog.records if "store_latency raised" in r.getMessage()]
    assert failures == ["ERROR", "DEBUG", "DEBUG"]


def test_a_failing_refresh_leaves_the_refresher_running(
    server: fakeredis.FakeServer, logged: Callable[[], list[tuple[str, str]]]
) -> None:
    """An Exception from a round (here the read's flow) is logged; the same thread reads on."""
    clock = ManualClock(T0)
    breaker = VIXCircuitBreaker(
        fakeredis.FakeRedis(server=server), key_prefix=PREFIX, clock=clock, max_staleness=0
    )
    break_first_refresh(breaker)
    first = breaker.get_ttl(60)[2]["source"]
    thread = breaker._thread
    second = breaker.get_ttl(60)[2]["source"]
    assert (first, second) == (StateSource.FAIL_SAFE, StateSource.FRESH)
    assert breaker._thread is thread
    assert logged() == [
        ("ERROR", f"breaker '{PREFIX}': a refresh raised; the breaker goes on (logged once)")
    ]
    breaker.close()


def test_a_closed_breaker_starts_no_refresher(server: fakeredis.FakeServer) -> None:
    """After close(), a stale call serves the last state without a new thread."""
    breaker = VIXCircuitBreaker(
        fakeredis.FakeRedis(server=server), key_prefix=PREFIX, max_staleness=0, max_wait=0.01
    )
    breaker.close()
    assert breaker.get_ttl(60)[2]["source"] == StateSource.FAIL_SAFE
    assert breaker._thread is None


def test_async_an_observer_raising_on_a_transition_reaches_no_call(
    server: fakeredis.FakeServer, logged: Callable[[], list[tuple[str, str]]]
) -> None:
    """The async breaker: trip() and every call go on, every transition delivered, one ERROR."""
    clock = ManualClock(T0)
    delivered: list[Any] = []
    breaker = AsyncVIXCircuitBreaker(
        fakeredis.FakeAsyncRedis(server=server),
        key_prefix=PREFIX,
        clock=clock,
        max_staleness=0,
        metrics=Observer("transition"),
        on_transition=delivered.append,
    )

    async def scenario() -> list[Any]:
        await breaker.trip()
        clock.advance(minutes=31)
        first = await breaker.get_ttl(60)
        clock.advance(seconds=1)
        return [first[2]["source"], (await breaker.get_ttl(60))[2]["source"]]

    assert asyncio.run(scenario()) == [StateSource.FRESH, StateSource.FRESH]
    assert steps(delivered) == FIVE_TRANSITIONS
    assert [level for level, _ in logged()[1:]] == ["ERROR"]


def test_async_a_failing_refresh_reaches_no_call(
    server: fakeredis.FakeServer, logged: Callable[[], list[tuple[str, str]]]
) -> None:
    """A task whose read raises: get_ttl serves the fail-safe, the next call's task reads."""
    breaker = AsyncVIXCircuitBreaker(
        fakeredis.FakeAsyncRedis(server=server), key_prefix=PREFIX, max_staleness=0
    )
    break_first_refresh(breaker)

    async def twice() -> list[Any]:
        return [(await breaker.get_ttl(60))[2]["source"] for _ in range(2)]

    assert asyncio.run(twice()) == [StateSource.FAIL_SAFE, StateSource.FRESH]
    assert logged() == [
        ("ERROR", f"breaker '{PREFIX}': a refresh raised; the breaker goes on (logged once)")
    ]


@pytest.mark.parametrize("report", ["decision", "panic_state", "repair"])
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_an_observer_raising_in_a_decision_or_a_read_changes_no_answer(
    server: fakeredis.FakeServer,
    logged: Callable[[], list[tuple[str, str]]],
    report: str,
    flavour: str,
) -> None:
    """get_ttl answers, the start lost from Redis is restored, every transition delivered."""
    clock = ManualClock(T0)
    delivered: list[Any] = []
    options: dict[str, Any] = {
        "key_prefix": PREFIX,
        "clock": clock,
        "max_staleness": 0,
        "metrics": Observer(report),
        "on_transition": delivered.append,
    }
    client = fakeredis.FakeRedis(server=server)
    if flavour == "sync":
        breaker: Any = VIXCircuitBreaker(client, **options)

        def get_ttl() -> Any:
            return breaker.get_ttl(60)

        breaker.trip()
    else:
        breaker = AsyncVIXCircuitBreaker(fakeredis.FakeAsyncRedis(server=server), **options)
        runner = asyncio.Runner()

        def get_ttl() -> Any:
            return runner.run(breaker.get_ttl(60))

        runner.run(breaker.trip())
    clock.advance(minutes=31)
    first = get_ttl()
    client.delete(f"{PREFIX}:start_ts")  # evicted: the next read restores it (a repair)
    clock.advance(seconds=1)
    second = get_ttl()
    assert [(ttl, meta["tier"], meta["source"]) for ttl, _, meta in (first, second)] == [
        (5, 2, StateSource.FRESH)
    ] * 2
    assert client.get(f"{PREFIX}:start_ts") is not None
    assert steps(delivered) == FIVE_TRANSITIONS
    failures = [entry for entry in logged() if entry[0] == "ERROR"]
    assert failures == [
        (
            "ERROR",
            f"breaker '{PREFIX}': an observer's {report} raised; the breaker goes on (logged once)",
        )
    ]
    if flavour == "sync":
        breaker.close()
    else:
        runner.run(breaker.close())
        runner.close()


def test_an_observer_raising_on_a_hung_read_reaches_no_call(
    server: fakeredis.FakeServer,
    logged: Callable[[], list[tuple[str, str]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """store_up(up=False), reported by the call that finds the read hanging, does not raise."""
    from panicquota.breaker import _sync

    monkeypatch.setattr(_sync, "SLOW_READ", 0.1)
    breaker = VIXCircuitBreaker(
        fakeredis.FakeRedis(server=server),
        key_prefix=PREFIX,
        max_staleness=0,
        max_wait=0.01,
        metrics=Observer("store_up"),
    )
    breaker.get_ttl(60)
    release = hang_reads(breaker)
    breaker.get_ttl(60)  # starts the read that hangs
    time.sleep(0.15)  # past SLOW_READ: the next call reports the outage
    sources = [breaker.get_ttl(60)[2]["source"] for _ in range(3)]
    release.set()
    assert sources == [StateSource.STALE] * 3
    assert (
        "ERROR",
        f"breaker '{PREFIX}': an observer's store_up raised; the breaker goes on (logged once)",
    ) in logged()
    breaker.close()


def test_an_observer_raising_does_not_keep_the_report_from_the_next_one(
    server: fakeredis.FakeServer, logged: Callable[[], list[tuple[str, str]]]
) -> None:
    """With add_observer, every observer gets every report; the raising one is logged once."""
    seen: list[str] = []

    class Counting(Observer):
        def _report(self, name: str) -> None:
            seen.append(name)

    breaker = VIXCircuitBreaker(
        fakeredis.FakeRedis(server=server),
        key_prefix=PREFIX,
        clock=ManualClock(T0),
        metrics=Observer("decision"),
    )
    breaker.add_observer(Counting("none"))
    assert [breaker.get_ttl(60)[0] for _ in range(3)] == [60, 60, 60]
    assert seen.count("decision") == 3
    assert [entry for entry in logged() if entry[0] == "ERROR"] == [
        (
            "ERROR",
            f"breaker '{PREFIX}': an observer's decision raised; the breaker goes on (logged once)",
        )
    ]
    breaker.close()
