"""Issue 9: evicted breaker keys never re-deliver, revive a reset, or drop a known tier.

Deterministic deletions of each key (and of all of them) on every backend and
flavour, then real eviction: a redis-server with ``maxmemory`` and each
eviction policy, under filler writes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

import fakeredis
import pytest

from panicquota import PanicMode
from panicquota.breaker import TierTransition, VIXCircuitBreaker, connect
from panicquota.clock import ManualClock

from .support import T0, Backend, Factory, RedisServer, delete_prefix, free_port, unique_prefix

LIGUE_1 = {"league": "Ligue 1"}


def delete(backend: Backend, which: str) -> None:
    """Delete one of the breaker's keys, its transition keys, or all of them."""
    if which == "all":
        delete_prefix(backend.client, backend.prefix)
    elif which == "transitions":
        keys = list(backend.client.scan_iter(match=f"{backend.prefix}:delivered"))
        assert keys
        backend.client.delete(*keys)
    else:
        assert backend.client.delete(backend.key(which)) == 1


@pytest.mark.parametrize("which", ["ended", "activation", "transitions"])
def test_evicting_one_key_after_a_reset_never_brings_it_back(
    make_breaker: Factory, backend: Backend, which: str
) -> None:
    """A worker still holding the start does not restore it when one key is gone."""
    worker, operator = make_breaker(), make_breaker()
    worker.trip()
    assert worker.get_ttl(60)[2]["tier"] == 1
    operator.reset()
    delete(backend, which)
    make_breaker.clock.advance(seconds=2)
    assert worker.get_ttl(60)[2]["tier"] == 0
    assert backend.client.get(backend.key("start_ts")) is None


def test_evicting_everything_after_a_reset_was_seen_keeps_it_reset(
    make_breaker: Factory, backend: Backend
) -> None:
    """Once a worker read the reset, even an empty keyspace cannot bring the panic back."""
    worker, operator = make_breaker(), make_breaker()
    worker.trip()
    operator.reset()
    make_breaker.clock.advance(seconds=2)
    assert worker.get_ttl(60)[2]["tier"] == 0
    delete(backend, "all")
    for _ in range(3):
        make_breaker.clock.advance(seconds=2)
        assert worker.get_ttl(60)[2]["tier"] == 0
    assert backend.client.get(backend.key("start_ts")) is None


@pytest.mark.parametrize("which", ["start_ts", "activation", "transitions", "all"])
def test_evicting_keys_mid_panic_keeps_the_tier_and_delivers_nothing_again(
    make_breaker: Factory, backend: Backend, which: str
) -> None:
    """Two workers that knew a tier-2 panic keep it, and no transition is delivered twice."""
    delivered: list[TierTransition] = []
    workers = [make_breaker(), make_breaker()]
    for worker in workers:
        worker.add_listener(delivered.append)
    workers[0].trip()
    make_breaker.clock.advance(minutes=35)
    for worker in workers:
        assert worker.get_ttl(60, LIGUE_1)[2]["tier"] == 2
    before = len(delivered)
    assert before > 0
    delete(backend, which)
    for _ in range(3):
        make_breaker.clock.advance(seconds=2)
        for worker in workers:
            assert worker.get_ttl(60, LIGUE_1)[2]["tier"] == 2
    assert len(delivered) == before
    assert backend.client.get(backend.key("start_ts")) == b"1800000000.000000"


@pytest.fixture(params=["allkeys-lru", "allkeys-random", "volatile-lru"])
def evicting(request: pytest.FixtureRequest) -> Iterator[tuple[RedisServer, str]]:
    """A private redis-server with maxmemory 4mb and the eviction policy of the param."""
    own = RedisServer(free_port(), "--maxmemory", "4mb", "--maxmemory-policy", request.param)
    own.start()
    yield own, request.param
    own.kill()


def fill(client: Any, round_: int) -> None:
    """Write 1.2 MB of filler keys (with a TTL, so volatile-lru may evict them too)."""
    pipe = client.pipeline(transaction=False)
    for i in range(300):
        pipe.set(f"filler:{round_}:{i}", b"x" * 4096, ex=3600)
    pipe.execute()


def test_real_eviction_keeps_every_promise(evicting: tuple[RedisServer, str]) -> None:
    """Under maxmemory and each policy: tiers kept, nothing delivered twice, a reset stays."""
    server, policy = evicting
    client = connect(server.url, socket_timeout=5)
    prefix = unique_prefix()
    clock = ManualClock(T0)
    delivered: list[TierTransition] = []
    a, b = (
        VIXCircuitBreaker(
            client, key_prefix=prefix, clock=clock, on_transition=delivered.append, max_wait=5.0
        )
        for _ in range(2)
    )
    a.trip()
    clock.advance(minutes=35)
    assert [w.get_ttl(60, LIGUE_1)[2]["tier"] for w in (a, b)] == [2, 2]
    rises = len(delivered)
    for round_ in range(15):
        fill(client, round_)
        clock.advance(seconds=2)
        assert [w.get_ttl(60, LIGUE_1)[2]["tier"] for w in (a, b)] == [2, 2]
    assert len(delivered) == rises
    a.reset()
    if policy != "allkeys-random":
        # b still holds the start; a keeps reading, which keeps the keys hot
        # (LRU ages keys in whole seconds: the rounds take real seconds).
        for round_ in range(15, 18):
            time.sleep(1.0)
            clock.advance(seconds=1)
            a.refresh()
            fill(client, round_)
    clock.advance(seconds=2)
    assert b.get_ttl(60, LIGUE_1)[2]["tier"] == 0
    falls = len(delivered)
    for round_ in range(20, 35):
        fill(client, round_)
        clock.advance(seconds=2)
        assert [w.get_ttl(60, LIGUE_1)[2]["tier"] for w in (a, b)] == [0, 0]
    assert len(delivered) == falls
    assert [t.to_tier for t in delivered[rises:]] == [0] * (falls - rises)
    assert client.get(f"{prefix}:start_ts") is None
    evicted = client.info("stats")["evicted_keys"]
    client.close()
    assert evicted > 1000


def test_a_missing_counter_keeps_the_activation_this_worker_knew() -> None:
    """A read returning the known start without a counter delivers no transition again."""
    delivered: list[TierTransition] = []
    clock = ManualClock(T0)
    breaker = VIXCircuitBreaker(
        fakeredis.FakeRedis(), clock=clock, on_transition=delivered.append, max_wait=5.0
    )
    breaker.trip()
    clock.advance(minutes=35)
    assert breaker.get_ttl(60, LIGUE_1)[2]["tier"] == 2
    before = len(delivered)
    breaker._scripts["read"] = lambda **_: [b"1800000000.000000", None, 0, b"1800002100", b"0"]
    for _ in range(3):
        clock.advance(seconds=2)
        assert breaker.get_ttl(60, LIGUE_1)[2]["tier"] == 2
    assert len(delivered) == before


# -- the transition marks: at most once across workers, whatever was lost ------

#: What a worker delivers when it first sees a tier-2 panic (35 minutes).
RISES_TO_35_MIN = [
    ("high_stakes", 0, 1),
    ("low_stakes", 0, 1),
    ("low_stakes", 1, 2),
    ("medium_stakes", 0, 1),
    ("medium_stakes", 1, 2),
]


class Steps:
    """Collect the steps each named worker delivers."""

    def __init__(self) -> None:
        self.got: list[tuple[str, str, int, int]] = []

    def listener(self, name: str) -> Any:
        def listen(t: TierTransition) -> None:
            self.got.append((name, t.stakes.value, t.from_tier, t.to_tier))

        return listen

    def steps(self, since: int = 0) -> list[tuple[str, int, int]]:
        """The steps delivered (by anyone) after the first *since*, sorted."""
        return sorted(step[1:] for step in self.got[since:])


class NoTiers:
    """An operator's policy: no thresholds, so its trip elects nothing (like a CLI)."""

    def calculate_ttl_strategy(
        self, normal_ttl: float, panic_duration_minutes: float | None, context: Any = None
    ) -> tuple[float, PanicMode, Mapping[str, Any]]:
        return (normal_ttl, PanicMode.NORMAL, {"tier": 0})


def delete_keys(backend: Backend, which: str) -> None:
    """Delete the keys named by *which* ("a+b": both), or all of the prefix's keys."""
    if which == "all":
        delete_prefix(backend.client, backend.prefix)
        return
    for suffix in which.split("+"):
        assert backend.client.delete(backend.key(suffix)) == 1


@pytest.mark.parametrize("first", ["worker", "newcomer"])
@pytest.mark.parametrize("which", ["delivered", "activation", "activation+delivered", "all"])
def test_a_worker_starting_after_keys_are_lost_delivers_nothing_again(
    make_breaker: Factory, backend: Backend, which: str, first: str
) -> None:
    """The reviewer's case: marks, counter or everything lost, then a new worker joins."""
    steps = Steps()
    worker = make_breaker()
    worker.add_listener(steps.listener("W"))
    worker.trip()
    make_breaker.clock.advance(minutes=35)
    assert worker.get_ttl(60, LIGUE_1)[2]["tier"] == 2
    assert steps.steps() == RISES_TO_35_MIN
    delete_keys(backend, which)
    newcomer = make_breaker()
    newcomer.add_listener(steps.listener("N"))
    pair = [worker, newcomer] if first == "worker" else [newcomer, worker]
    for _ in range(3):
        make_breaker.clock.advance(seconds=2)
        for breaker in pair:
            breaker.get_ttl(60, LIGUE_1)
    assert [b.get_ttl(60, LIGUE_1)[2]["tier"] for b in pair] == [2, 2]
    assert steps.got[5:] == []
    assert backend.client.get(backend.key("activation")) == b"1"
    # Later steps are still delivered, exactly once.
    make_breaker.clock.advance(minutes=15)  # 50 minutes: low stakes reach tier 3
    for breaker in pair:
        assert breaker.get_ttl(60, LIGUE_1)[2]["tier"] == 2
    assert steps.steps(5) == [("low_stakes", 2, 3)]


def test_a_lost_counter_is_restored_for_a_worker_that_never_knew_it(
    make_breaker: Factory, backend: Backend
) -> None:
    """The marks' owner names the activation: a new worker writes the counter back."""
    operator = make_breaker()
    operator.trip()
    operator.reset()
    operator.trip()  # activation 3
    backend.client.delete(backend.key("activation"))
    make_breaker.clock.advance(seconds=2)
    assert make_breaker().get_ttl(60, LIGUE_1)[2]["tier"] == 1
    assert backend.client.get(backend.key("activation")) == b"3"


@pytest.mark.parametrize("join_at", [0, 35])
def test_an_operator_trip_is_delivered_once_by_the_workers(
    make_breaker: Factory, join_at: int
) -> None:
    """Normal case: a trip that elects nothing, then two workers read: each step once."""
    steps = Steps()
    make_breaker(quota=NoTiers()).trip()
    workers = [make_breaker() for _ in range(2)]
    for name, worker in zip("AB", workers, strict=True):
        worker.add_listener(steps.listener(name))
    make_breaker.clock.advance(minutes=join_at)
    for worker in workers:
        worker.get_ttl(60, LIGUE_1)
    first = [step for step in RISES_TO_35_MIN if join_at or step[2] == 1]
    assert steps.steps() == first
    assert {name for name, *_ in steps.got} == {"A"}
    make_breaker.clock.advance(minutes=35 - join_at + 1)
    for worker in workers:
        worker.get_ttl(60, LIGUE_1)
    late = make_breaker()
    late.add_listener(steps.listener("late"))
    late.get_ttl(60, LIGUE_1)
    assert steps.steps() == RISES_TO_35_MIN
    assert "late" not in {name for name, *_ in steps.got}


def test_a_start_written_by_hand_delivers_only_the_steps_after_it(
    make_breaker: Factory, backend: Backend
) -> None:
    """A start no trip wrote (nothing vouches for it): what is reached is not delivered."""
    backend.client.set(backend.key("start_ts"), "1799997900.000000")  # 35 minutes ago
    steps = Steps()
    workers = [make_breaker() for _ in range(2)]
    for name, worker in zip("AB", workers, strict=True):
        worker.add_listener(steps.listener(name))
        assert worker.get_ttl(60, LIGUE_1)[2]["tier"] == 2
    assert steps.got == []
    make_breaker.clock.advance(minutes=15)
    for worker in workers:
        worker.get_ttl(60, LIGUE_1)
    assert steps.steps() == [("low_stakes", 2, 3)]


def test_a_corrupt_start_nobody_knew_is_a_new_panic_whose_steps_are_delivered(
    make_breaker: Factory, backend: Backend
) -> None:
    """The replacement start is vouched for: its 0 -> 1 steps are delivered, once."""
    backend.client.set(backend.key("start_ts"), "garbage")
    steps = Steps()
    for name in "AB":
        worker = make_breaker()
        worker.add_listener(steps.listener(name))
        assert worker.get_ttl(60, LIGUE_1)[2]["tier"] == 1
    assert steps.steps() == [(s, 0, 1) for s in ("high_stakes", "low_stakes", "medium_stakes")]
    assert {name for name, *_ in steps.got} == {"A"}


def test_a_trip_prunes_the_marks_of_panics_older_than_their_lifetime() -> None:
    """Marks of panics started over 7 days before the trip go; newer ones and owner stay."""
    client = fakeredis.FakeRedis()
    clock = ManualClock(T0)
    breaker = VIXCircuitBreaker(client, key_prefix="p", clock=clock, max_wait=5.0)
    old, recent = f"{T0 - 8 * 86400:.6f}", f"{T0 - 6 * 86400:.6f}"
    client.hset(
        "p:delivered",
        mapping={
            f"{old}|1|low_stakes|1": "1",
            f"{recent}|2|low_stakes|1": "1",
            "garbage|3|low_stakes|1": "1",
            "owner": f"{recent}|2",
        },
    )
    breaker.trip()  # at T0: activation 1, and it delivers its 0 -> 1 steps
    assert client.hgetall("p:delivered") == {
        f"{recent}|2|low_stakes|1".encode(): b"1",
        b"owner": b"1800000000.000000|1",
        **{f"1800000000.000000|1|{s}_stakes|1".encode(): b"1" for s in ("high", "medium", "low")},
    }


def test_an_election_for_a_stale_activation_wins_nothing_and_writes_nothing() -> None:
    """Marks vouching for another activation, and the caller's not current: all lost."""
    client = fakeredis.FakeRedis()
    breaker = VIXCircuitBreaker(client, key_prefix="p", clock=ManualClock(T0))
    client.mset({"p:start_ts": "1800000000.000000", "p:activation": "3"})
    client.hset("p:delivered", "owner", "1800000000.000000|3")
    dedup = breaker._scripts["dedup"]
    keys = ("p:delivered", "p:start_ts", "p:activation")
    stale = ("1800000000.000000|1", 1, "1800000000.000000|1|low_stakes|1", "x|1|low_stakes|2")
    assert dedup(keys=keys, args=stale) == [0]
    assert client.hgetall("p:delivered") == {b"owner": b"1800000000.000000|3"}
    current = ("1800000000.000000|3", 1, "1800000000.000000|3|low_stakes|1")
    assert dedup(keys=keys, args=current) == [1]
    assert dedup(keys=keys, args=current) == [0]


def breaker_keys(client: Any, prefix: str) -> list[str]:
    return sorted(key.decode()[len(prefix) :] for key in client.scan_iter(match=f"{prefix}*"))


def test_real_eviction_a_worker_starting_later_delivers_nothing_again(
    evicting: tuple[RedisServer, str],
) -> None:
    """The reviewer's run: a worker reads through filler rounds, then a new one joins."""
    server, policy = evicting
    client = connect(server.url, socket_timeout=5)
    prefix = unique_prefix()
    clock = ManualClock(T0)
    steps = Steps()

    def make(name: str) -> VIXCircuitBreaker:
        breaker = VIXCircuitBreaker(client, key_prefix=prefix, clock=clock, max_wait=5.0)
        breaker.add_listener(steps.listener(name))
        return breaker

    worker = make("W")
    worker.trip()
    clock.advance(minutes=35)
    assert worker.get_ttl(60, LIGUE_1)[2]["tier"] == 2
    for round_ in range(8):
        # LRU ages keys in whole seconds: the rounds take real seconds.
        time.sleep(1.0 if policy != "allkeys-random" else 0.0)
        clock.advance(seconds=2)
        assert worker.get_ttl(60, LIGUE_1)[2]["tier"] == 2
        fill(client, round_)
    if policy != "allkeys-random":
        # Every read touches the marks: LRU keeps them as hot as the start.
        assert breaker_keys(client, prefix) == [":activation", ":delivered", ":start_ts"]
    newcomer = make("N")
    newcomer.get_ttl(60, LIGUE_1)  # random eviction may have taken the start: tier 0
    clock.advance(seconds=2)
    assert [b.get_ttl(60, LIGUE_1)[2]["tier"] for b in (worker, newcomer)] == [2, 2]
    assert steps.got[5:] == []
    clock.advance(minutes=15)
    for breaker in (worker, newcomer):
        breaker.get_ttl(60, LIGUE_1)
    assert steps.steps(5) == [("low_stakes", 2, 3)]
    evicted = client.info("stats")["evicted_keys"]
    client.close()
    assert evicted > 1000


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-random"])
def test_real_eviction_of_every_key_then_a_restore_delivers_nothing_again(policy: str) -> None:
    """Every breaker key evicted; the worker writes the start back; a new worker joins."""
    server = RedisServer(free_port(), "--maxmemory", "4mb", "--maxmemory-policy", policy)
    server.start()
    client = connect(server.url, socket_timeout=5)
    try:
        prefix = unique_prefix()
        clock = ManualClock(T0)
        steps = Steps()
        worker = VIXCircuitBreaker(client, key_prefix=prefix, clock=clock, max_wait=5.0)
        worker.add_listener(steps.listener("W"))
        worker.trip()
        clock.advance(minutes=35)
        assert worker.get_ttl(60, LIGUE_1)[2]["tier"] == 2
        time.sleep(1.1)  # the worker stops reading: its keys age past the filler's
        for round_ in range(60):
            fill(client, round_)
            if not breaker_keys(client, prefix):
                break
        assert breaker_keys(client, prefix) == []
        # Eviction stops here: under allkeys-random the next write could evict the restored
        # start again, and a newcomer without a snapshot rightly reads no panic then.
        client.config_set("maxmemory", 0)
        clock.advance(seconds=2)
        assert worker.get_ttl(60, LIGUE_1)[2]["tier"] == 2  # restored from its snapshot
        assert client.get(f"{prefix}:start_ts") == b"1800000000.000000"
        newcomer = VIXCircuitBreaker(client, key_prefix=prefix, clock=clock, max_wait=5.0)
        newcomer.add_listener(steps.listener("N"))
        assert newcomer.get_ttl(60, LIGUE_1)[2]["tier"] == 2
        assert steps.got[5:] == []
        clock.advance(minutes=15)
        for breaker in (worker, newcomer):
            breaker.get_ttl(60, LIGUE_1)
        assert steps.steps(5) == [("low_stakes", 2, 3)]
    finally:
        client.close()
        server.kill()
