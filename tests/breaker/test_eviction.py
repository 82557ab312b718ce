"""Issue 9: evicted breaker keys never re-deliver, revive a reset, or drop a known tier.

Deterministic deletions of each key (and of all of them) on every backend and
flavour, then real eviction: a redis-server with ``maxmemory`` and each
eviction policy, under filler writes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest

from panicquota.breaker import TierTransition, VIXCircuitBreaker, connect
from panicquota.clock import ManualClock

from .support import T0, Backend, Factory, RedisServer, delete_prefix, free_port, unique_prefix

LIGUE_1 = {"league": "Ligue 1"}


def delete(backend: Backend, which: str) -> None:
    """Delete one of the breaker's keys, its transition keys, or all of them."""
    if which == "all":
        delete_prefix(backend.client, backend.prefix)
    elif which == "transitions":
        keys = list(backend.client.scan_iter(match=f"{backend.prefix}:transition:*"))
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
