"""Connections of asyncio Redis clients across event loops (the async breaker, the plugin).

A ``redis.asyncio`` connection's streams belong to the event loop that opened
them. A client used from one ``asyncio.run`` after another must reset the
connections an earlier loop opened before it uses them; these helpers find
them wherever redis-py's and valkey-py's asyncio clients keep them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = [
    "all_connections",
    "drop_connections_of_other_loops",
    "idle_connections",
    "reset_connection",
]


def drop_connections_of_other_loops(client: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Reset the idle connections another event loop opened, wherever *client* keeps them.

    A connection's streams belong to the loop that opened them: from another
    loop they fail with "Event loop is closed". Each idle connection whose
    streams are not this loop's is reset in place (it reconnects on its next
    use), in a standalone or Sentinel master pool, in the pools of the
    Sentinel clients that find the master, and in every node of a cluster
    client: redis-py's and valkey-py's asyncio clients keep them alike.
    """
    for connection in idle_connections(client):
        writer = getattr(connection, "_writer", None)
        # A writer that names no loop (fakeredis) counts as another loop's.
        if writer is not None and getattr(writer, "_loop", None) is not loop:
            reset_connection(connection, writer)


def idle_connections(client: Any) -> Iterator[Any]:
    """Yield the idle connections of *client*'s pools (standalone, Sentinel, cluster)."""
    yield from _connections(client, ("_available_connections",), "_free")


def all_connections(client: Any) -> list[Any]:
    """Return every connection *client* holds, idle or in use, each once."""
    found = _connections(client, ("_available_connections", "_in_use_connections"), "_connections")
    return list({id(connection): connection for connection in found}.values())


def _connections(client: Any, pool_lists: tuple[str, ...], node_list: str) -> Iterator[Any]:
    """Yield the connections in *client*'s pools' *pool_lists* and its nodes' *node_list*.

    The same places in redis-py's and valkey-py's asyncio clients: a standalone
    or Sentinel master pool, the pools of the Sentinel clients that find the
    master, and every node of a cluster client.
    """
    pool = getattr(client, "connection_pool", None)
    for name in pool_lists:
        yield from list(getattr(pool, name, None) or ())
    manager = getattr(pool, "sentinel_manager", None)
    for sentinel in list(getattr(manager, "sentinels", None) or ()):
        yield from _connections(sentinel, pool_lists, node_list)
    nodes = getattr(client, "nodes_manager", None)
    for table in ("nodes_cache", "startup_nodes"):
        for node in list((getattr(nodes, table, None) or {}).values()):
            yield from list(getattr(node, node_list, None) or ())


def reset_connection(connection: Any, writer: Any) -> None:
    """Forget *connection*'s streams and close their socket, without their (other) loop."""
    connection._reader = connection._writer = None
    with contextlib.suppress(Exception):
        connection._parser.on_disconnect()
    transport: Any = getattr(writer, "transport", None)
    # A TLS transport wraps the socket's transport.
    inner: Any = getattr(getattr(transport, "_ssl_protocol", None), "_transport", None) or transport
    sock = getattr(inner, "_sock", None)
    if sock is None:  # not a selector transport: let it close itself, if its loop can
        with contextlib.suppress(RuntimeError, AttributeError):  # "Event loop is closed"
            transport.abort()
        return
    # Closed here, not by transport.abort(): that closes the socket in a
    # callback of the transport's own loop, which is closed or may never run
    # again. Its loop stops watching the socket first (a no-op once closed).
    loop: Any = getattr(inner, "_loop", None)
    fd = getattr(inner, "_sock_fd", None)
    with contextlib.suppress(Exception):
        loop._remove_reader(fd)
        loop._remove_writer(fd)
    inner._closing = True  # what is_closing() reads: no "unclosed" warning later
    if transport is not inner:
        transport._closed = True
    sock.close()
    inner._sock = None
