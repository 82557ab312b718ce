"""The breaker's behaviour, run on fakeredis and real Redis, sync and async alike."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from panicquota import PanicMode, Stakes
from panicquota.breaker import StateSource, TierTransition
from panicquota.clock import ManualClock

from .support import T0, Backend, Factory

LIGUE_1 = {"league": "Ligue 1"}


def start_ts(backend: Backend) -> bytes | None:
    """Return the raw start stored in Redis."""
    value: bytes | None = backend.client.get(backend.key("start_ts"))
    return value


def summary(decision: Any) -> tuple[Any, ...]:
    """Return (ttl, mode, tier, source) of a decision."""
    ttl, mode, meta = decision
    return (ttl, mode, meta["tier"], meta["source"])


def test_no_panic_serves_the_normal_ttl(make_breaker: Factory) -> None:
    """Without a stored start: the normal TTL, tier 0; read once, then from the snapshot."""
    breaker = make_breaker()
    assert summary(breaker.get_ttl(60, LIGUE_1)) == (60, PanicMode.NORMAL, 0, StateSource.FRESH)
    assert summary(breaker.get_ttl(60, LIGUE_1)) == (60, PanicMode.NORMAL, 0, StateSource.CACHED)
    assert breaker.panic_duration_minutes() is None


def test_trip_stores_the_start_at_the_documented_key(
    make_breaker: Factory, backend: Backend
) -> None:
    """trip() writes <prefix>:start_ts as epoch seconds; the panic is tier 1, TTL 0."""
    breaker = make_breaker()
    breaker.trip()
    assert start_ts(backend) == b"1800000000.000000"
    ttl, mode, meta = breaker.get_ttl(60, LIGUE_1)
    assert (ttl, mode, meta["tier"], meta["panic_start_ts"]) == (0, PanicMode.PANIC_FULL, 1, T0)


def test_duration_follows_the_clock_and_the_stakes(make_breaker: Factory) -> None:
    """31 minutes in: medium stakes reach tier 2 (TTL 5) while high stakes stay at tier 1."""
    breaker = make_breaker()
    breaker.trip()
    make_breaker.clock.advance(minutes=31)
    assert breaker.panic_duration_minutes() == pytest.approx(31.0)
    assert summary(breaker.get_ttl(60, LIGUE_1))[:3] == (5, PanicMode.PANIC_PARTIAL, 2)
    assert summary(breaker.get_ttl(60, "Champions League"))[:3] == (0, PanicMode.PANIC_FULL, 1)


def test_first_trip_wins(make_breaker: Factory, backend: Backend) -> None:
    """A second worker tripping later keeps the first start: both compute the same duration."""
    first = make_breaker()
    later_clock = ManualClock(T0 + 90)
    second = make_breaker(clock=later_clock)
    first.trip()
    second.trip()
    assert start_ts(backend) == b"1800000000.000000"
    assert second.panic_duration_minutes() == pytest.approx(1.5)


def test_reset_ends_the_panic_and_leaves_a_marker(make_breaker: Factory, backend: Backend) -> None:
    """reset() deletes the start and leaves '<start>|<ended_at>' behind."""
    breaker = make_breaker()
    breaker.trip()
    make_breaker.clock.advance(minutes=10)
    breaker.reset()
    assert start_ts(backend) is None
    assert backend.client.get(backend.key("ended")) == b"1800000000.000000|1800000600.000000"
    assert summary(breaker.get_ttl(60, LIGUE_1))[:3] == (60, PanicMode.NORMAL, 0)


def test_reset_without_a_panic_changes_nothing(make_breaker: Factory, backend: Backend) -> None:
    """reset() outside a panic leaves no marker and no start."""
    make_breaker().reset()
    assert (start_ts(backend), backend.client.get(backend.key("ended"))) == (None, None)


def test_reset_never_erases_a_newer_panic(backend: Backend) -> None:
    """The reset script deletes the start only if it is the episode the caller read."""
    from panicquota.breaker import _scripts

    keys = _scripts.Keys(backend.prefix)
    backend.client.set(keys.start, "1800000900.000000")
    reset = backend.client.register_script(_scripts.RESET)
    assert reset(keys=[keys.start, keys.ended], args=["1800000000.000000", "1", 60]) == 0
    assert start_ts(backend) == b"1800000900.000000"


def test_hysteresis_trips_high_and_resets_after_calm(
    make_breaker: Factory, backend: Backend
) -> None:
    """Trip at 30; 25 is in the band; only 60 s of readings below 20 reset."""
    breaker = make_breaker(trip_level=30, reset_level=20, calm_seconds=60)
    clock = make_breaker.clock
    breaker.observe(5.0)
    breaker.observe(29.9)
    assert start_ts(backend) is None
    breaker.observe(30.0)
    assert start_ts(backend) == b"1800000000.000000"
    for vix in (10.0, 25.0, 10.0):  # the band reading restarts the calm period
        clock.advance(seconds=40)
        breaker.observe(vix)
    clock.advance(seconds=40)
    breaker.observe(10.0)
    assert start_ts(backend) is not None, "only 40 s of calm since the band reading"
    clock.advance(seconds=20)
    breaker.observe(10.0)
    assert start_ts(backend) is None


def test_flapping_at_the_threshold_keeps_one_episode(
    make_breaker: Factory, backend: Backend
) -> None:
    """A VIX hovering around the trip level never restarts the panic."""
    breaker = make_breaker()
    for step in range(20):
        breaker.observe(29.0 if step % 2 else 31.0)
        make_breaker.clock.advance(seconds=15)
    assert start_ts(backend) == b"1800000000.000000"
    assert backend.client.get(backend.key("activation")) == b"1"


@pytest.mark.parametrize(
    ("pause_minutes", "expected_start"),
    [
        pytest.param(4, b"1800000000.000000", id="within-grace-resumes"),
        pytest.param(6, b"1800001560.000000", id="after-grace-restarts"),
    ],
)
def test_grace_window(
    make_breaker: Factory, backend: Backend, pause_minutes: float, expected_start: bytes
) -> None:
    """A panic back within grace_seconds of its reset resumes its start; later, a new one."""
    breaker = make_breaker(grace_seconds=300)
    breaker.trip()
    make_breaker.clock.advance(minutes=20)
    breaker.reset()
    make_breaker.clock.advance(minutes=pause_minutes)
    breaker.trip()
    assert start_ts(backend) == expected_start


def test_staleness_bounds_how_late_a_change_is_seen(
    make_breaker: Factory, backend: Backend
) -> None:
    """A start written by someone else shows after max_staleness seconds, not before."""
    breaker = make_breaker(max_staleness=1.0)
    breaker.get_ttl(60)
    backend.client.set(backend.key("start_ts"), "1800000000.000000")
    make_breaker.clock.advance(seconds=0.999)
    assert summary(breaker.get_ttl(60))[2:] == (0, StateSource.CACHED)
    make_breaker.clock.advance(seconds=0.001)
    assert summary(breaker.get_ttl(60))[2:] == (1, StateSource.FRESH)


def test_zero_staleness_reads_every_call(make_breaker: Factory, backend: Backend) -> None:
    """With max_staleness=0 a change is seen by the very next call."""
    breaker = make_breaker(max_staleness=0)
    assert summary(breaker.get_ttl(60))[2:] == (0, StateSource.FRESH)
    backend.client.set(backend.key("start_ts"), "1800000000.000000")
    assert summary(breaker.get_ttl(60))[2:] == (1, StateSource.FRESH)


def test_lost_start_is_restored(make_breaker: Factory, backend: Backend) -> None:
    """A start that vanished without a reset marker is written back; the tier stays."""
    breaker = make_breaker()
    breaker.trip()
    make_breaker.clock.advance(minutes=35)
    assert summary(breaker.get_ttl(60, LIGUE_1))[2] == 2
    backend.client.delete(backend.key("start_ts"), backend.key("activation"))
    make_breaker.clock.advance(seconds=2)
    assert summary(breaker.get_ttl(60, LIGUE_1))[:3] == (5, PanicMode.PANIC_PARTIAL, 2)
    assert start_ts(backend) == b"1800000000.000000"


def test_real_reset_by_another_worker_is_respected(make_breaker: Factory, backend: Backend) -> None:
    """A worker that knew the panic does not restore it after another worker's reset."""
    worker = make_breaker()
    operator = make_breaker()
    worker.trip()
    assert worker.get_ttl(60)[2]["tier"] == 1
    operator.reset()
    make_breaker.clock.advance(seconds=2)
    assert summary(worker.get_ttl(60))[:3] == (60, PanicMode.NORMAL, 0)
    assert start_ts(backend) is None


def test_idle_worker_does_not_resurrect_an_old_episode(
    make_breaker: Factory, backend: Backend
) -> None:
    """A worker that slept through a reset, a new panic and its reset restores nothing."""
    idle = make_breaker()
    operator = make_breaker()
    idle.trip()
    assert idle.get_ttl(60)[2]["tier"] == 1
    for _ in range(2):  # the first episode ends, a second one starts and ends
        make_breaker.clock.advance(minutes=10)
        operator.reset()
        make_breaker.clock.advance(minutes=10)
        operator.trip()
    make_breaker.clock.advance(minutes=1)
    operator.reset()
    assert summary(idle.get_ttl(60))[:3] == (60, PanicMode.NORMAL, 0)
    assert start_ts(backend) is None


def test_lost_start_of_a_resumed_panic_is_restored(make_breaker: Factory, backend: Backend) -> None:
    """After a resume within grace, an evicted start is still restored (the marker is gone)."""
    breaker = make_breaker()
    breaker.trip()
    make_breaker.clock.advance(minutes=10)
    breaker.reset()
    make_breaker.clock.advance(minutes=1)
    breaker.trip()
    assert backend.client.get(backend.key("ended")) is None
    backend.client.delete(backend.key("start_ts"))
    make_breaker.clock.advance(seconds=2)
    assert breaker.panic_duration_minutes() == pytest.approx(11 + 2 / 60)
    assert start_ts(backend) == b"1800000000.000000"


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param("garbage", id="not-a-number"),
        pytest.param("nan", id="nan"),
        pytest.param("-5", id="negative"),
        pytest.param("1900000000.0", id="far-future"),
    ],
)
def test_corrupt_start_is_ignored_and_repaired(
    make_breaker: Factory, backend: Backend, caplog: pytest.LogCaptureFixture, corrupt: str
) -> None:
    """A value that is not a plausible start is logged, ignored and replaced by the known one."""
    breaker = make_breaker()
    breaker.trip()
    make_breaker.clock.advance(minutes=35)
    backend.client.set(backend.key("start_ts"), corrupt)
    with caplog.at_level(logging.WARNING, logger="panicquota.breaker"):
        assert summary(breaker.get_ttl(60, LIGUE_1))[:3] == (5, PanicMode.PANIC_PARTIAL, 2)
    assert start_ts(backend) == b"1800000000.000000"
    assert f"ignoring the panic start {corrupt!r}" in caplog.text


def test_corrupt_start_never_known_becomes_a_new_panic(
    make_breaker: Factory, backend: Backend
) -> None:
    """A corrupt start nobody can correct is replaced by now: a panic was meant."""
    backend.client.set(backend.key("start_ts"), "garbage")
    breaker = make_breaker()
    assert summary(breaker.get_ttl(60, LIGUE_1))[:3] == (0, PanicMode.PANIC_FULL, 1)
    assert start_ts(backend) == b"1800000000.000000"


def test_slightly_future_start_is_clamped_and_flagged(
    make_breaker: Factory, backend: Backend
) -> None:
    """A start 30 s ahead (a skewed writer) counts as just started, flagged as clamped."""
    backend.client.set(backend.key("start_ts"), "1800000030.000000")
    ttl, mode, meta = make_breaker().get_ttl(60, LIGUE_1)
    assert (ttl, mode, meta["tier"], meta["clamped"]) == (0, PanicMode.PANIC_FULL, 1, True)
    assert start_ts(backend) == b"1800000030.000000"


def test_transitions_are_delivered_once_across_workers(make_breaker: Factory) -> None:
    """Two workers see every tier change; each is delivered to exactly one listener."""
    delivered: list[TierTransition] = []
    workers = [make_breaker() for _ in range(2)]
    for worker in workers:
        worker.add_listener(delivered.append)
    workers[0].trip()
    for minutes in (16, 20):  # 16: low stakes enter tier 2; 36: medium too
        make_breaker.clock.advance(minutes=minutes)
        for worker in workers:
            worker.get_ttl(60)
    workers[1].reset()
    for worker in workers:
        make_breaker.clock.advance(seconds=2)
        worker.get_ttl(60)
    steps = sorted((t.stakes.value, t.from_tier, t.to_tier) for t in delivered)
    assert steps == [
        ("high_stakes", 0, 1),
        ("high_stakes", 1, 0),
        ("low_stakes", 0, 1),
        ("low_stakes", 1, 2),
        ("low_stakes", 2, 0),
        ("medium_stakes", 0, 1),
        ("medium_stakes", 1, 2),
        ("medium_stakes", 2, 0),
    ]
    medium = next(t for t in delivered if t.stakes is Stakes.MEDIUM and t.to_tier == 2)
    assert (medium.duration_minutes, medium.at, medium.panic_start_ts) == (36.0, T0 + 2160, T0)
    ended = next(t for t in delivered if t.stakes is Stakes.MEDIUM and t.to_tier == 0)
    assert ended.duration_minutes == 36.0


def test_a_worker_that_skipped_tiers_delivers_each_step(make_breaker: Factory) -> None:
    """An idle worker noticing 1 -> 3 and a busy one that saw tier 2 deliver n-1 -> n once each."""
    delivered: list[TierTransition] = []
    busy, idle = make_breaker(), make_breaker()
    for worker in (busy, idle):
        worker.add_listener(delivered.append)
    busy.trip()
    idle.get_ttl(60)  # tier 1 everywhere
    make_breaker.clock.advance(minutes=20)
    busy.get_ttl(60)  # low stakes: tier 2
    make_breaker.clock.advance(minutes=39)
    idle.get_ttl(60)  # low stakes: tier 3, medium stakes: tier 2, both noticed at 59 min
    busy.get_ttl(60)
    steps = sorted((t.stakes.value, t.from_tier, t.to_tier) for t in delivered)
    assert steps == [
        ("high_stakes", 0, 1),
        ("low_stakes", 0, 1),
        ("low_stakes", 1, 2),
        ("low_stakes", 2, 3),
        ("medium_stakes", 0, 1),
        ("medium_stakes", 1, 2),
    ]


def test_failing_listener_does_not_break_decisions(
    make_breaker: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    """A listener that raises is logged; get_ttl still answers."""

    def broken(transition: TierTransition) -> None:
        raise RuntimeError("listener bug")

    breaker = make_breaker()
    breaker.add_listener(broken)
    with caplog.at_level(logging.ERROR, logger="panicquota.breaker"):
        breaker.trip()
    assert "breaker listener" in caplog.text
    assert summary(breaker.get_ttl(60))[:3] == (0, PanicMode.PANIC_FULL, 1)


@pytest.mark.parametrize(
    ("time_source", "agree"),
    [pytest.param("redis", True, id="redis-time-agrees"), pytest.param("local", False, id="local")],
)
def test_skewed_clocks(
    make_breaker: Factory, backend: Backend, time_source: str, agree: bool
) -> None:
    """Hosts 5 minutes apart agree on the tier in the Redis time mode, not in the local one."""
    import time

    server_now = float(backend.client.time()[0])
    # 32 minutes in by the server's clock: medium-stakes tier 2; 27 minutes is tier 1.
    backend.client.set(backend.key("start_ts"), f"{server_now - 32 * 60:.6f}")
    tiers = set()
    for skew in (-300.0, 0.0, 300.0):
        breaker = make_breaker(
            clock=lambda skew=skew: time.time() + skew,
            time_source=time_source,
            max_clock_skew=600,
        )
        tiers.add(breaker.get_ttl(60, LIGUE_1)[2]["tier"])
    assert (tiers == {2}) is agree
