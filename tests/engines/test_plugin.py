"""The pytest plugin on a Cluster URL and a Sentinel URL: journaled, hash-tagged, clean after."""

from __future__ import annotations

import uuid

import pytest

from panicquota.breaker import connect
from pytest_panicquota._journal import KeyJournal
from pytest_panicquota._journal_clients import tracking_client

from .conftest import Engines, url_for

SUITE = """
import pytest
from pytest_panicquota import assert_workers_agree

OUTSIDE = {outside!r}
CREATED = {created!r}

def decide(worker, league):
    return worker.breaker().get_ttl(60, {{"league": league}})

def write(worker):
    client = worker.redis()
    client.set(f"{{CREATED}}:worker:{{worker.index}}", worker.index)
    client.set(f"{{worker.key_prefix}}:worker:{{worker.index}}", 1)
    client.set(OUTSIDE, f"worker {{worker.index}}")  # saved by the test already
    client.close()
    return worker.index

def test_breaker_and_workers(panic_breaker, panic_clock, panic_workers, panic_key_prefix):
    with open("prefix.txt", "w") as out:
        out.write(panic_key_prefix)
    assert {tagged}
    assert panic_breaker.key_prefix == panic_key_prefix
    panic_breaker.trip()
    panic_clock.advance(minutes=35)
    results = panic_workers(decide, "Ligue 1", workers=2)
    assert_workers_agree(results)
    assert [r[0] for r in results] == [5, 5]

def test_writes_outside_the_prefix_are_undone(panic_redis, panic_workers):
    panic_redis.set(OUTSIDE, "changed")
    panic_redis.expire(OUTSIDE, 50)
    pipe = panic_redis.pipeline()
    pipe.set(CREATED, 1)
    pipe.execute()
    assert panic_workers(write, workers=2) == [0, 1]
    assert panic_redis.get(f"{{CREATED}}:worker:1") == b"1"
"""


@pytest.mark.parametrize("name", ["cluster", "sentinel"])
def test_plugin_on_a_topology(engines: Engines, name: str, pytester: pytest.Pytester) -> None:
    """Breaker, workers and journal work; keys outside the prefix are restored, nothing stays."""
    url = engines.get(name).url
    token = uuid.uuid4().hex
    outside, created = f"pq-engines-outside:{token}", f"pq-engines-created:{token}"
    admin = connect(url, socket_timeout=5)
    admin.set(outside, "before")
    tagged = "panic_key_prefix.startswith('{')"
    if name != "cluster":
        tagged = "'{' not in panic_key_prefix"
    pytester.makepyfile(SUITE.format(outside=outside, created=created, tagged=tagged))
    try:
        result = pytester.runpytest_subprocess(f"--panicquota-redis-url={url}", "-p", "no:randomly")
        result.assert_outcomes(passed=2)
        prefix = (pytester.path / "prefix.txt").read_text()
        assert admin.get(outside) == b"before"
        assert admin.ttl(outside) == -1
        assert list(admin.scan_iter(match=f"{created}*")) == []
        assert list(admin.scan_iter(match="panicquota-test:*")) == []
        assert list(admin.scan_iter(match="{panicquota-test:*")) == []
        assert prefix.startswith("{panicquota-test:" if name == "cluster" else "panicquota-test:")
    finally:
        admin.delete(outside)
        admin.close()


ASYNC_SUITE = """
import asyncio

OUTSIDE = {outside!r}
CREATED = {created!r}

def test_async_fixtures(panic_async_breaker, panic_async_redis, panic_clock, panic_key_prefix):
    async def panic():
        await panic_async_breaker.trip()
        panic_clock.advance(minutes=35)
        return await panic_async_breaker.get_ttl(60, {{"league": "Ligue 1"}})

    async def write():
        await panic_async_redis.set(OUTSIDE, "changed", ex=50)
        pipe = panic_async_redis.pipeline()
        pipe.set(CREATED, 1)
        pipe.set(f"{{panic_key_prefix}}:own", 1)
        await pipe.execute()
        return await panic_async_redis.get(OUTSIDE)

    ttl, mode, meta = asyncio.run(panic())
    assert (ttl, meta["tier"]) == (5, 2)
    # Each asyncio.run is a new event loop: the connections of the last one are not reused.
    assert asyncio.run(write()) == b"changed"
    assert asyncio.run(panic_async_redis.get(CREATED)) == b"1"
    assert round(asyncio.run(panic_async_breaker.panic_duration_minutes()), 6) == 35.0


def test_watch_transactions_and_pubsub_from_new_loops(panic_async_redis, panic_key_prefix):
    key = f"{{panic_key_prefix}}:counter"

    async def start():
        await panic_async_redis.set(key, 1)

    async def watched():
        async with panic_async_redis.pipeline(transaction=True) as pipe:
            await pipe.watch(key)
            value = int(await pipe.get(key))
            pipe.multi()
            pipe.set(key, value + 1)
            await pipe.execute()
        return await panic_async_redis.get(key)

    async def add_one(pipe):
        value = int(await pipe.get(key))
        pipe.multi()
        pipe.set(key, value + 1)

    async def transaction():
        await panic_async_redis.transaction(add_one, key)
        return await panic_async_redis.get(key)

    async def subscribed():
        pubsub = panic_async_redis.pubsub()
        await pubsub.subscribe(f"{{panic_key_prefix}}:channel")
        message = await pubsub.get_message(timeout=2)
        await pubsub.aclose()
        return message["type"]

    asyncio.run(start())
    assert [asyncio.run(watched()), asyncio.run(transaction())] == [b"2", b"3"]
    assert [asyncio.run(subscribed()) for _ in range(2)] == ["subscribe"] * 2
"""


@pytest.mark.parametrize("name", ["cluster", "sentinel"])
def test_async_fixtures_on_a_topology(
    engines: Engines, name: str, pytester: pytest.Pytester
) -> None:
    """panic_async_redis and panic_async_breaker journal their writes; all undone after."""
    url = engines.get(name).url
    token = uuid.uuid4().hex
    outside, created = f"pq-engines-async-outside:{token}", f"pq-engines-async-created:{token}"
    admin = connect(url, socket_timeout=5)
    admin.set(outside, "before")
    pytester.makepyfile(ASYNC_SUITE.format(outside=outside, created=created))
    try:
        # -W error: an unclosed transport or socket would fail the test.
        result = pytester.runpytest_subprocess(
            f"--panicquota-redis-url={url}", "-p", "no:randomly", "-W", "error"
        )
        # Two tests: a client left open by the first would warn in the second.
        result.assert_outcomes(passed=2)
        assert (admin.get(outside), admin.ttl(outside)) == (b"before", -1)
        assert admin.exists(created) == 0
        assert list(admin.scan_iter(match="panicquota-test:*")) == []
        assert list(admin.scan_iter(match="{panicquota-test:*")) == []
    finally:
        admin.delete(outside)
        admin.close()


@pytest.mark.parametrize("name", ["valkey8", "sentinel"])
def test_journal_on_a_valkey_url(engines: Engines, name: str) -> None:
    """A valkey:// URL is journaled through redis-py: a key written is deleted by the restore."""
    url = url_for(engines.get(name), "valkey")
    prefix = f"panicquota-test:engines:{uuid.uuid4().hex}"
    outside = f"pq-engines-valkey:{uuid.uuid4().hex}"
    journal = KeyJournal(prefix)
    client = tracking_client(url, journal)
    try:
        assert client.panic_url == url.replace("valkey", "redis", 1)
        client.set(outside, 1)
        client.set(f"{prefix}:own", 1)
        assert journal.restore(client) == []
        journal.delete_prefix(client)
        assert (client.exists(outside), client.exists(f"{prefix}:own")) == (0, 0)
    finally:
        client.delete(outside)
        client.close()
