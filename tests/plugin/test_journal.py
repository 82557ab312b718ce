"""The real-server journal behind panic_redis, driven directly through RedisHandle."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import redis.client

from pytest_panicquota import RestoreError, SharedServerError, _journal_servers
from pytest_panicquota._fixtures import RedisHandle

from .support import REAL_URL


@pytest.fixture
def keys(real_redis: Any) -> Iterator[str]:
    """Return a prefix for keys outside the handle's own; deleted (SCAN, not FLUSH) after."""
    prefix = f"fixplugin-{uuid.uuid4().hex[:12]}"
    yield prefix
    found = list(real_redis.scan_iter(match=f"{prefix}*", count=1000))
    if found:
        real_redis.delete(*found)


def handle(keys: str, url: str = REAL_URL) -> RedisHandle:
    return RedisHandle(url, f"{keys}-own")


def test_one_server_entry_per_server(real_redis: Any, keys: str) -> None:
    """Clients of one server share one entry (parser, script): the cache does not grow per test."""
    for round_ in range(3):
        test = handle(keys)
        test.client.set(f"{keys}:outside", round_)
        test.close()
        if round_ == 0:
            entries = len(_journal_servers.SERVERS)
    assert len(_journal_servers.SERVERS) == entries
    assert real_redis.exists(f"{keys}:outside") == 0


def test_decoding_client_is_restored(real_redis: Any, keys: str) -> None:
    """With decode_responses=True in the URL, changed keys come back and created ones go."""
    real_redis.set(f"{keys}:kept", "before", px=600_000)
    test = handle(keys, f"{REAL_URL}?decode_responses=True")
    test.client.set(f"{keys}:kept", "changed")
    test.client.set(f"{keys}:created", "x")
    assert test.client.get(f"{keys}:kept") == "changed"
    test.close()
    assert real_redis.get(f"{keys}:kept") == b"before"
    assert 590_000 < real_redis.pttl(f"{keys}:kept") <= 600_000
    assert real_redis.exists(f"{keys}:created") == 0
    assert list(real_redis.scan_iter(match=f"{keys}-own*")) == []


def test_failed_restore_keeps_the_journal(real_redis: Any, keys: str) -> None:
    """When a key cannot be restored, the journal stays and the error names it."""
    real_redis.set(f"{keys}:broken", "before")
    real_redis.set(f"{keys}:kept", "before")
    test = handle(keys)
    test.client.set(f"{keys}:broken", "changed")
    test.client.set(f"{keys}:kept", "changed")
    test.client.set(f"{keys}-own:mine", 1)
    real_redis.hset(test.journal.record_key, f"{keys}:broken", b"-1:not a dump")
    with pytest.raises(RestoreError) as raised:
        test.close()
    message = str(raised.value)
    assert f"b'{keys}:broken' (ResponseError:" in message
    assert f"the journal {test.journal.record_key!r} is kept" in message
    assert "every other key in the journal was restored or deleted" in message
    assert real_redis.get(f"{keys}:kept") == b"before"
    assert real_redis.exists(f"{keys}-own:mine") == 0
    assert real_redis.hget(test.journal.record_key, f"{keys}:broken") == b"-1:not a dump"
    real_redis.delete(test.journal.record_key)


@pytest.mark.parametrize(
    ("command", "refused"),
    [
        (("MOVE", "{k}:a", 1), "MOVE"),
        (("COPY", "{k}:a", "{k}:b", "DB", 1), "COPY ... DB 1"),
        (("SELECT", 1), "SELECT"),
        (("MIGRATE", "127.0.0.1", 1, "{k}:a", 0, 100), "MIGRATE"),
        (("FLUSHALL ASYNC",), "FLUSHALL ASYNC"),
        (("FUNCTION FLUSH",), "FUNCTION FLUSH"),
        (("FUNCTION", "flush", "ASYNC"), "FUNCTION FLUSH"),
        (("FUNCTION", "DELETE", "fixpluginlib"), "FUNCTION DELETE"),
        (("FUNCTION LOAD", "#!lua name=fixpluginlib\n"), "FUNCTION LOAD"),
    ],
)
def test_writes_the_journal_cannot_follow_are_refused(
    real_redis: Any,
    keys: str,
    command: tuple[Any, ...],
    refused: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another database, another server, server-wide functions: refused, nothing written."""
    real_redis.set(f"{keys}:a", "before")
    test = handle(keys)
    args = tuple(arg.format(k=keys) if isinstance(arg, str) else arg for arg in command)
    test.client.get(f"{keys}:a")  # the journal's own client is made before sending is cut off

    def never(*args: Any, **options: Any) -> Any:
        raise AssertionError(f"sent to the shared server: {args}")

    with monkeypatch.context() as patched:
        # Should the refusal regress, the command still never reaches the shared
        # server (FUNCTION FLUSH would delete other people's libraries).
        patched.setattr(redis.Redis, "execute_command", never)
        patched.setattr(redis.client.Pipeline, "immediate_execute_command", never)
        with pytest.raises(SharedServerError, match=f"panic_redis refuses {refused} on a shared"):
            test.client.execute_command(*args)
        pipe = test.client.pipeline()
        with pytest.raises(SharedServerError, match=f"panic_redis refuses {refused} on a shared"):
            pipe.execute_command(*args)
    test.close()
    assert real_redis.get(f"{keys}:a") == b"before"


def test_copy_in_the_same_database_is_journaled(real_redis: Any, keys: str) -> None:
    real_redis.set(f"{keys}:a", "before")
    test = handle(keys)
    assert test.client.copy(f"{keys}:a", f"{keys}:b", destination_db=0) == 1
    test.close()
    assert real_redis.exists(f"{keys}:b") == 0


def test_expiry_time_is_kept(real_redis: Any, keys: str) -> None:
    """A key's expiry is restored as the time it had, and a key due to expire meanwhile is gone."""
    real_redis.set(f"{keys}:lasting", "before", px=3_000)
    real_redis.set(f"{keys}:short", "before", px=300)
    test = handle(keys)
    test.client.set(f"{keys}:lasting", "changed")
    test.client.set(f"{keys}:short", "changed")
    time.sleep(0.6)
    test.close()
    assert real_redis.get(f"{keys}:lasting") == b"before"
    assert 0 < real_redis.pttl(f"{keys}:lasting") <= 2_450
    assert real_redis.exists(f"{keys}:short") == 0


def test_command_name_as_bytes(real_redis: Any, keys: str) -> None:
    test = handle(keys)
    assert test.client.execute_command(b"SET", f"{keys}:bytes", 1) is True
    pipe = test.client.pipeline()
    pipe.execute_command(b"SET", f"{keys}:piped", 1)
    pipe.execute()
    test.close()
    assert real_redis.exists(f"{keys}:bytes", f"{keys}:piped") == 0


def test_async_connection_reused_within_a_loop(real_redis: Any, keys: str) -> None:
    """In one event loop, commands share one connection; a new loop gets a new one."""
    test = handle(keys)
    client = test.async_client()

    async def ids() -> list[int]:
        return [await client.client_id() for _ in range(4)]

    first = asyncio.run(ids())
    second = asyncio.run(ids())
    assert len(set(first)) == 1
    assert len(set(second)) == 1
    assert first[0] != second[0]
    test.close()


def test_async_sockets_closed_with_the_handle(real_redis: Any, keys: str) -> None:
    """A pub/sub the test left open is closed with the handle: no subscriber stays."""
    channel = f"{keys}:channel"
    test = handle(keys)
    client = test.async_client()

    async def subscribe() -> None:
        pubsub = client.pubsub()
        await pubsub.subscribe(channel)
        await pubsub.get_message(timeout=0.1)
        await client.set(f"{keys}:x", 1)

    asyncio.run(subscribe())
    assert real_redis.pubsub_numsub(channel) == [(channel.encode(), 1)]
    test.close()
    deadline = time.monotonic() + 2
    while real_redis.pubsub_numsub(channel)[0][1] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert real_redis.pubsub_numsub(channel) == [(channel.encode(), 0)]
    assert real_redis.exists(f"{keys}:x") == 0
