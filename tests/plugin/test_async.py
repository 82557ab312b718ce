"""panic_async_redis and panic_async_breaker, driven from sync tests by asyncio.run/Runner."""

from __future__ import annotations

from typing import Any

import pytest

from .support import REAL_URL

ASYNC_SUITE = """
import asyncio
import pytest

OUTSIDE = {outside!r}
TOKEN = {token!r}

@pytest.fixture(autouse=True)
def record_prefix(panic_key_prefix):
    with open("prefixes.txt", "a") as prefixes:
        prefixes.write(panic_key_prefix + "\\n")

def test_same_store_as_panic_redis(panic_async_redis, panic_redis, panic_key_prefix):
    asyncio.run(panic_async_redis.set(f"{{panic_key_prefix}}:shared", 1))
    assert panic_redis.get(f"{{panic_key_prefix}}:shared") == b"1"

def test_any_number_of_event_loops(panic_async_redis):
    key = f"panicquota-plugin-test-async-counter:{{TOKEN}}"
    assert [asyncio.run(panic_async_redis.incr(key)) for _ in range(3)] == [1, 2, 3]
    with asyncio.Runner() as runner:
        assert runner.run(panic_async_redis.incr(key)) == 4
        assert runner.run(panic_async_redis.incr(key)) == 5
        # The runner's loop is open but idle: a new loop meets its connection.
        assert asyncio.run(panic_async_redis.incr(key)) == 6
        assert runner.run(panic_async_redis.incr(key)) == 7

def test_writes_directly_piped_and_scripted(panic_async_redis):
    async def main():
        await panic_async_redis.set(f"{{OUTSIDE}}:kept", "changed")
        pipe = panic_async_redis.pipeline()
        pipe.set(f"panicquota-plugin-test-async-piped:{{TOKEN}}", 1)
        pipe.hset(f"panicquota-plugin-test-async-hash:{{TOKEN}}", "a", 1)
        await pipe.execute()
        async with panic_async_redis.pipeline() as watching:
            await watching.watch(f"panicquota-plugin-test-async-watched:{{TOKEN}}")
            await watching.set(f"panicquota-plugin-test-async-immediate:{{TOKEN}}", 1)
            watching.multi()
            watching.incr(f"panicquota-plugin-test-async-watched:{{TOKEN}}")
            assert await watching.execute() == [1]
        await panic_async_redis.eval(
            "redis.call('SET', KEYS[1], 1)", 1, f"panicquota-plugin-test-async-script:{{TOKEN}}"
        )
        await panic_async_redis.xgroup_create(
            f"panicquota-plugin-test-async-stream:{{TOKEN}}", "g", mkstream=True
        )
    asyncio.run(main())

def test_async_breaker_shares_the_sync_breakers_state(
    panic_async_breaker, panic_breaker, panic_clock
):
    async def main():
        await panic_async_breaker.trip()
        panic_clock.advance(minutes=35)
        return await panic_async_breaker.get_ttl(60, {{"league": "Ligue 1"}})
    ttl, _, meta = asyncio.run(main())
    assert (ttl, meta["tier"]) == (5, 2)
    panic_breaker.refresh()
    assert panic_breaker.get_ttl(60, {{"league": "Ligue 1"}})[0] == 5
    assert panic_async_breaker.key_prefix == panic_breaker.key_prefix

def test_flush_is_refused_on_a_shared_server(panic_async_redis, request):
    if request.config.getoption("panicquota_redis_url") is None:
        pytest.skip("fakeredis is the test's own")
    from pytest_panicquota import SharedServerError
    with pytest.raises(SharedServerError, match="panic_redis refuses FLUSHALL"):
        asyncio.run(panic_async_redis.flushall())
"""


def test_async_fixtures_on_fakeredis(pytester: pytest.Pytester) -> None:
    """On fakeredis the async client shares panic_redis's server; the async breaker works."""
    pytester.makepyfile(ASYNC_SUITE.format(outside="panicquota-outside", token="t"))
    result = pytester.runpytest("-p", "no:randomly", "-W", "error")
    result.assert_outcomes(passed=4, skipped=1)


def test_async_fixtures_on_real_redis(
    pytester: pytest.Pytester, real_redis: Any, outside_prefix: str, token: str
) -> None:
    """On a real server async writes are undone like sync ones, from any number of loops."""
    real_redis.set(f"{outside_prefix}:kept", "before")
    pytester.makepyfile(ASYNC_SUITE.format(outside=outside_prefix, token=token))
    result = pytester.runpytest(
        "-p", "no:randomly", "-W", "error", "--panicquota-redis-url", REAL_URL
    )
    result.assert_outcomes(passed=5)
    assert real_redis.get(f"{outside_prefix}:kept") == b"before"
    prefixes = tuple((pytester.path / "prefixes.txt").read_text().split())
    assert len(set(prefixes)) == 5
    left = [
        key
        for key in real_redis.scan_iter(match="panicquota-*", count=1000)
        if token.encode() in key or key.decode().startswith(prefixes)
    ]
    assert left == []
