"""Canary: the redis-py internals the plugin's key journal leans on still behave as it expects.

The journal finds the keys a command writes with
``redis._parsers.commands.CommandsParser`` and sees every command of a
pipeline by overriding ``Pipeline.pipeline_execute_command`` and
``immediate_execute_command`` (sync and asyncio). None of them is public API:
pyproject.toml pins the redis-py range that was checked, and each test below
fails with a message naming the internal a new redis-py changed.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import inspect
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _changed(internal: str, detail: str) -> str:
    return (
        f"redis-py {importlib.metadata.version('redis')} changed {internal}, which the plugin's "
        f"key journal (pytest_panicquota/_journal_*.py) relies on: {detail}"
    )


@pytest.fixture
def prefix(real_redis: Any) -> Iterator[str]:
    """Return a key prefix of this test's own; its keys are deleted after (SCAN, not FLUSH)."""
    prefix = f"pq-canary:{uuid.uuid4().hex[:12]}:"
    yield prefix
    keys = list(real_redis.scan_iter(match=f"{prefix}*"))
    if keys:
        real_redis.delete(*keys)


def test_installed_redis_is_in_the_pinned_range() -> None:
    """The installed redis-py lies in the range pyproject.toml declares as checked."""
    pin = re.search(r'"redis>=(\d+)\.(\d+),<(\d+)"', PYPROJECT.read_text(encoding="utf-8"))
    assert pin is not None, "pyproject.toml must pin redis-py as redis>=X.Y,<Z"
    low, high = (int(pin[1]), int(pin[2])), int(pin[3])
    major, minor = (int(part) for part in importlib.metadata.version("redis").split(".")[:2])
    assert low <= (major, minor), f"redis-py {major}.{minor} is below the pin {low}"
    assert major < high, f"redis-py {major}.{minor} is not below the pin's bound {high}"


def test_commands_parser_finds_written_keys(real_redis_url: str, prefix: str) -> None:
    """CommandsParser(client).get_keys, .commands[...]['flags'] and parse_subcommand work."""
    import redis

    try:
        from redis._parsers.commands import CommandsParser
    except ImportError as error:
        pytest.fail(_changed("redis._parsers.commands.CommandsParser", f"import failed: {error}"))
    client = redis.Redis.from_url(real_redis_url)
    try:
        parser = CommandsParser(client)  # type: ignore[no-untyped-call]
        keys = parser.get_keys(client, "SET", f"{prefix}k", "v")
        assert [bytes(k) if not isinstance(k, str) else k.encode() for k in keys] == [
            f"{prefix}k".encode()
        ], _changed("CommandsParser.get_keys", f"SET's keys came back as {keys!r}")
        commands = getattr(parser, "commands", None)
        assert isinstance(commands, dict), _changed(
            "CommandsParser.commands", f"not a dict: {commands!r}"
        )
        assert "write" in list(commands["set"]["flags"]), _changed(
            "CommandsParser.commands['set']['flags']", repr(commands.get("set"))
        )
        xgroup = commands["xgroup"].get("subcommands")
        assert xgroup, _changed("CommandsParser.commands['xgroup']['subcommands']", repr(xgroup))
        (create,) = [e for e in xgroup if str(e[0], "utf-8") == "xgroup|create"]
        assert "write" in list(parser.parse_subcommand(create)["flags"]), _changed(
            "CommandsParser.parse_subcommand", "XGROUP CREATE has no write flag"
        )
    finally:
        client.close()


def _hooks(pipeline_class: type[Any], internal: str) -> None:
    for name in ("pipeline_execute_command", "immediate_execute_command"):
        assert callable(getattr(pipeline_class, name, None)), _changed(
            f"{internal}.{name}", "the method is gone"
        )
    params = list(inspect.signature(pipeline_class.__init__).parameters)[1:5]
    assert params == ["connection_pool", "response_callbacks", "transaction", "shard_hint"], (
        _changed(f"{internal}.__init__", f"its first parameters are now {params!r}")
    )


def test_sync_pipeline_routes_through_the_overridden_methods(
    real_redis_url: str, prefix: str
) -> None:
    """A queued command reaches pipeline_execute_command; one after WATCH, the immediate one."""
    import redis
    from redis.client import Pipeline

    _hooks(Pipeline, "redis.client.Pipeline")
    seen: list[tuple[str, tuple[Any, ...]]] = []

    class Spy(Pipeline):
        def pipeline_execute_command(self, *args: Any, **options: Any) -> Any:
            seen.append(("queued", args))
            return super().pipeline_execute_command(*args, **options)

        def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
            seen.append(("immediate", args))
            return super().immediate_execute_command(*args, **options)  # type: ignore[no-untyped-call]

    client = redis.Redis.from_url(real_redis_url)
    try:
        pipe = Spy(client.connection_pool, client.response_callbacks, True, None)
        pipe.watch(f"{prefix}w")
        pipe.get(f"{prefix}w")
        pipe.multi()
        pipe.set(f"{prefix}q", "1")
        pipe.execute()
    finally:
        client.close()
    assert seen == [
        ("immediate", ("WATCH", f"{prefix}w")),
        ("immediate", ("GET", f"{prefix}w")),
        ("queued", ("SET", f"{prefix}q", "1")),
    ], _changed("redis.client.Pipeline's command routing", f"the hooks saw {seen!r}")


def test_async_pipeline_routes_through_the_overridden_methods(
    real_redis_url: str, prefix: str
) -> None:
    """The asyncio Pipeline routes its commands through the same two overridable methods."""
    import redis.asyncio
    from redis.asyncio.client import Pipeline

    _hooks(Pipeline, "redis.asyncio.client.Pipeline")
    seen: list[tuple[str, tuple[Any, ...]]] = []

    class Spy(Pipeline):
        def pipeline_execute_command(self, *args: Any, **options: Any) -> Any:
            seen.append(("queued", args))
            return super().pipeline_execute_command(*args, **options)  # type: ignore[no-untyped-call]

        async def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
            seen.append(("immediate", args))
            return await super().immediate_execute_command(*args, **options)  # type: ignore[no-untyped-call]

    async def run() -> None:
        client = redis.asyncio.Redis.from_url(real_redis_url)
        try:
            pipe = Spy(client.connection_pool, client.response_callbacks, True, None)
            await pipe.watch(f"{prefix}w")
            await pipe.get(f"{prefix}w")
            pipe.multi()
            pipe.set(f"{prefix}q", "1")
            await pipe.execute()
        finally:
            await client.aclose()

    asyncio.run(run())
    assert seen == [
        ("immediate", ("WATCH", f"{prefix}w")),
        ("immediate", ("GET", f"{prefix}w")),
        ("queued", ("SET", f"{prefix}q", "1")),
    ], _changed("redis.asyncio.client.Pipeline's command routing", f"the hooks saw {seen!r}")
