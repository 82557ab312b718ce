"""The asyncio client behind ``panic_async_redis``: usable from any event loop.

A ``redis.asyncio`` connection belongs to the event loop it was opened in,
and a sync test may run one ``asyncio.run`` after another. So on a real server
a connection is reused only in the loop that opened it: one from another loop
is closed when a command would take it, and the next command opens one in
whatever loop runs then. The handle closes whatever is left (even a pub/sub
the test did not close) after the test. Its writes are
journaled like ``panic_redis``'s, through that sync client: one blocking round
trip before the first write of each key, harmless in a test.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from panicquota.errors import PanicquotaError
from pytest_panicquota._journal import KeyJournal
from pytest_panicquota._journal_servers import redis_py_url

__all__ = ["close_sockets", "tracking_async_client"]

_CLASSES: dict[str, type[Any]] = {}


def _classes() -> tuple[type[Any], type[Any]]:
    if not _CLASSES:
        _CLASSES.update(zip(("pool", "client"), _define(), strict=True))
    return _CLASSES["pool"], _CLASSES["client"]


def _define() -> tuple[type[Any], type[Any]]:
    import redis.asyncio
    from redis.asyncio.client import Pipeline

    class LoopBoundPool(redis.asyncio.ConnectionPool):
        """A pool whose connections are reused only in the event loop that opened them."""

        _available_connections: list[Any]

        async def get_connection(self, *args: Any, **options: Any) -> Any:
            loop = asyncio.get_running_loop()
            # No await between the check and the removal: no other task interleaves.
            for connection in list(self._available_connections):
                if getattr(connection, "panic_loop", loop) is not loop:
                    self._available_connections.remove(connection)
                    _drop(connection)
            get = super().get_connection
            connection = await get(*args, **options)  # type: ignore[no-untyped-call]
            connection.panic_loop = loop
            return connection

        async def release(self, connection: Any) -> None:
            if getattr(connection, "panic_loop", None) is not asyncio.get_running_loop():
                await connection.disconnect()
            await super().release(connection)

    class TrackingAsyncPipeline(Pipeline):
        journal: KeyJournal
        sync_twin: Any

        def pipeline_execute_command(self, *args: Any, **options: Any) -> Any:
            args = self.journal.before_command(self.sync_twin, args)
            return super().pipeline_execute_command(*args, **options)  # type: ignore[no-untyped-call]

        async def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
            args = self.journal.before_command(self.sync_twin, args)
            return await super().immediate_execute_command(*args, **options)  # type: ignore[no-untyped-call]

    class TrackingAsyncRedis(redis.asyncio.Redis):
        """A ``redis.asyncio`` client that records, before each write, what the key held."""

        journal: KeyJournal
        #: A tracked sync client of the same server: it finds the written keys
        #: and saves their first state.
        sync_twin: Any

        async def execute_command(self, *args: Any, **options: Any) -> Any:
            args = self.journal.before_command(self.sync_twin, args)
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

        def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
            pipe = TrackingAsyncPipeline(
                self.connection_pool, self.response_callbacks, transaction, shard_hint
            )
            pipe.journal = self.journal
            pipe.sync_twin = self.sync_twin
            return pipe

    return LoopBoundPool, TrackingAsyncRedis


def _drop(connection: Any) -> None:
    """Close *connection*'s socket, whether or not its event loop is still open."""
    loop = getattr(connection, "panic_loop", None)
    writer = getattr(connection, "_writer", None)
    transport = getattr(writer, "transport", None)
    connection._reader = connection._writer = None
    if transport is None:
        return
    if loop is not None and not loop.is_closed():
        if not loop.is_running() and not _in_running_loop():
            loop.run_until_complete(_aclose(writer))
        else:
            # Its loop cannot be run from here (it runs, or another one does).
            transport.abort()
        return
    # The loop is gone: the transport marks itself closing, then fails to
    # schedule the rest, so its socket is closed here.
    with contextlib.suppress(RuntimeError):  # "Event loop is closed"
        transport.abort()
    sock = getattr(transport, "_sock", None)
    if sock is not None:
        sock.close()
        transport._sock = None


def _in_running_loop() -> bool:
    """Whether this thread is inside a running event loop (which blocks running another)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def _aclose(writer: Any) -> None:
    writer.close()
    with contextlib.suppress(OSError):  # closed by the server first: closed all the same
        await writer.wait_closed()


def close_sockets(client: Any) -> None:
    """Close every connection of *client*'s pool, pooled or in use, from outside any loop."""
    pool = client.connection_pool
    for connection in [*pool._available_connections, *pool._in_use_connections]:
        _drop(connection)


def tracking_async_client(url: str, journal: KeyJournal, sync_twin: Any) -> Any:
    """Return an asyncio client of *url*, bound to no event loop, that journals its writes.

    Args:
        url: the real server's URL.
        journal: where the test's writes are journaled.
        sync_twin: the test's tracked sync client of the same server.
    """
    from panicquota.breaker import parse_store_url

    url = redis_py_url(url)
    topology = parse_store_url(url).topology
    if topology != "standalone":
        raise PanicquotaError(
            f"panic_async_redis needs a standalone server URL, got the {topology} URL {url!r}: "
            "its writes could not be journaled there yet; use panic_redis and panic_breaker "
            "(journaled on a Cluster and a Sentinel group), or an asyncio client of your own "
            "(panicquota.breaker.connect_async) whose keys the test deletes"
        )
    pool_class, client_class = _classes()
    client = client_class(connection_pool=pool_class.from_url(url))
    client.journal = journal
    client.sync_twin = sync_twin
    return client
