"""The asyncio client behind ``panic_async_redis``: usable from any event loop.

A ``redis.asyncio`` connection belongs to the event loop it was opened in,
and a sync test may run one ``asyncio.run`` after another. So on a real server
a connection is reused only in the loop that opened it: one from another loop
is closed when a command would take it (a standalone server's pool), or reset
before each command (a Cluster's nodes, a Sentinel group's pools, as the async
breaker does), and the next command opens one in whatever loop runs then. The
handle closes whatever is left (even a pub/sub the test did not close) after
the test. Its writes are journaled like ``panic_redis``'s, through that sync
client: one blocking round trip before the first write of each key, harmless
in a test.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from panicquota._shared.event_loops import all_connections, drop_connections_of_other_loops
from pytest_panicquota._journal import KeyJournal
from pytest_panicquota._journal_servers import TIMEOUT, redis_py_url

__all__ = ["close_sockets", "tracking_async_client"]

#: The standalone server's pool and client classes, made on first use.
_CLASSES: dict[str, type[Any]] = {}
#: The subclasses made for the Cluster and Sentinel clients, pools and pipelines.
_SUBCLASSES: dict[str, type[Any]] = {}


def _classes() -> tuple[type[Any], type[Any]]:
    if not _CLASSES:
        _CLASSES.update(zip(("pool", "client"), _define(), strict=True))
    return _CLASSES["pool"], _CLASSES["client"]


def _subclass(role: str, base: type[Any], make: Any) -> type[Any]:
    """Return ``make(base)``, made once per *role* and *base*."""
    name = f"{role}:{base.__module__}.{base.__qualname__}"
    if name not in _SUBCLASSES:
        _SUBCLASSES[name] = make(base)
    return _SUBCLASSES[name]


def _loop_bound(base: type[Any]) -> type[Any]:
    """Return a subclass of the pool class *base* that reuses a connection only in its loop."""

    class LoopBoundPool(base):  # type: ignore[misc]
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
            connection = await get(*args, **options)
            connection.panic_loop = loop
            return connection

        async def release(self, connection: Any) -> None:
            if getattr(connection, "panic_loop", None) is not asyncio.get_running_loop():
                await connection.disconnect()
            await super().release(connection)

    return LoopBoundPool


def _define() -> tuple[type[Any], type[Any]]:
    import redis.asyncio
    from redis.asyncio.client import Pipeline

    LoopBoundPool = _loop_bound(redis.asyncio.ConnectionPool)

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


def _topology_client(client: Any) -> Any:
    """Make *client* (an asyncio Cluster or Sentinel client) journal, from any event loop."""
    pool = getattr(client, "connection_pool", None)
    if pool is not None:
        # Sentinel: the master's pool and each sentinel's pool check the loop
        # of a connection wherever one is taken (commands, WATCH, pub/sub).
        pool.__class__ = _subclass("pool", type(pool), _loop_bound)
        for sentinel in pool.sentinel_manager.sentinels:
            inner = sentinel.connection_pool
            inner.__class__ = _subclass("pool", type(inner), _loop_bound)
    client.__class__ = _subclass("client", type(client), _tracking_topology_client)
    return client


def _reset_other_loops(client: Any) -> None:
    """Reset the idle connections of *client* that another loop opened (in a running loop)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # a pipeline filled outside any loop: its execute() resets them
        return
    drop_connections_of_other_loops(client, loop)


def _tracking_topology_client(base: type[Any]) -> type[Any]:
    class TrackingAsyncTopologyClient(base):  # type: ignore[misc]
        """An asyncio Cluster or Sentinel client whose writes are journaled first."""

        journal: KeyJournal
        sync_twin: Any

        async def execute_command(self, *args: Any, **options: Any) -> Any:
            # A cluster's nodes keep connections of their own, in no pool.
            _reset_other_loops(self)
            args = self.journal.before_command(self.sync_twin, args)
            return await super().execute_command(*args, **options)

        def pipeline(self, *args: Any, **options: Any) -> Any:
            pipe = super().pipeline(*args, **options)
            pipe.__class__ = _subclass("pipeline", type(pipe), _tracking_topology_pipeline)
            pipe.journal, pipe.sync_twin, pipe.tracked_by = self.journal, self.sync_twin, self
            return pipe

        def pubsub(self, *args: Any, **options: Any) -> Any:
            _reset_other_loops(self)
            return super().pubsub(*args, **options)

    return TrackingAsyncTopologyClient


def _tracking_topology_pipeline(base: type[Any]) -> type[Any]:
    class TrackingAsyncTopologyPipeline(base):  # type: ignore[misc]
        """A pipeline that journals each write it queues or runs at once (after WATCH)."""

        journal: KeyJournal
        sync_twin: Any
        tracked_by: Any

        def execute_command(self, *args: Any, **options: Any) -> Any:
            _reset_other_loops(self.tracked_by)  # WATCH and what follows it run at once
            args = self.journal.before_command(self.sync_twin, args)
            return super().execute_command(*args, **options)

        async def execute(self, *args: Any, **options: Any) -> Any:
            _reset_other_loops(self.tracked_by)
            return await super().execute(*args, **options)

        async def watch(self, *names: Any) -> Any:
            # A cluster pipeline's WATCH takes a node connection itself.
            _reset_other_loops(self.tracked_by)
            return await super().watch(*names)

    return TrackingAsyncTopologyPipeline


def _drop(connection: Any) -> None:
    """Close *connection*'s socket, whether or not its event loop is still open."""
    writer = getattr(connection, "_writer", None)
    # The loop the pool recorded; else (a Cluster's or Sentinel's) the streams' own.
    loop = getattr(connection, "panic_loop", None) or getattr(writer, "_loop", None)
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
    """Close every connection of *client*, pooled or in use, from outside any loop."""
    for connection in all_connections(client):
        _drop(connection)
    if getattr(client, "_initialize", True) is False:
        # A cluster client counts as open until it is closed (its __del__
        # warns); its connections are closed now: so is it.
        client._initialize = True


def tracking_async_client(url: str, journal: KeyJournal, sync_twin: Any) -> Any:
    """Return an asyncio client of *url*, bound to no event loop, that journals its writes.

    Args:
        url: the real server's URL.
        journal: where the test's writes are journaled.
        sync_twin: the test's tracked sync client of the same server.
    """
    from panicquota.breaker import connect_async, parse_store_url

    url = redis_py_url(url)
    if parse_store_url(url).topology == "standalone":
        pool_class, client_class = _classes()
        client = client_class(connection_pool=pool_class.from_url(url))
    else:
        client = _topology_client(connect_async(url, socket_timeout=TIMEOUT))
    client.journal = journal
    client.sync_twin = sync_twin
    return client
