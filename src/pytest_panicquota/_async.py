"""The asyncio client behind ``panic_async_redis``: usable from any event loop.

A ``redis.asyncio`` connection belongs to the event loop it was opened in,
and a sync test may run one ``asyncio.run`` after another. So on a real server
each connection is closed when a command gives it back, and the next command
opens one in whatever loop runs then: a few hundred microseconds per command
on a local server, and no connection left to a closed loop. Its writes are
journaled like ``panic_redis``'s, through that sync client: one blocking round
trip before the first write of each key, harmless in a test.
"""

from __future__ import annotations

from typing import Any

from pytest_panicquota._journal import KeyJournal, written_keys

__all__ = ["tracking_async_client"]

_CLASSES: dict[str, type[Any]] = {}


def _classes() -> tuple[type[Any], type[Any]]:
    if not _CLASSES:
        _CLASSES.update(zip(("pool", "client"), _define(), strict=True))
    return _CLASSES["pool"], _CLASSES["client"]


def _define() -> tuple[type[Any], type[Any]]:
    import redis.asyncio
    from redis.asyncio.client import Pipeline

    class LoopFreePool(redis.asyncio.ConnectionPool):
        """A pool whose connections are closed before they are pooled again."""

        async def release(self, connection: Any) -> None:
            await connection.disconnect()
            await super().release(connection)

    class TrackingAsyncPipeline(Pipeline):
        journal: KeyJournal
        sync_twin: Any

        def pipeline_execute_command(self, *args: Any, **options: Any) -> Any:
            self.journal.before_write(self.sync_twin, written_keys(self.sync_twin, args))
            return super().pipeline_execute_command(*args, **options)  # type: ignore[no-untyped-call]

        async def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
            self.journal.before_write(self.sync_twin, written_keys(self.sync_twin, args))
            return await super().immediate_execute_command(*args, **options)  # type: ignore[no-untyped-call]

    class TrackingAsyncRedis(redis.asyncio.Redis):
        """A ``redis.asyncio`` client that records, before each write, what the key held."""

        journal: KeyJournal
        #: A tracked sync client of the same server: it finds the written keys
        #: and saves their first state.
        sync_twin: Any

        async def execute_command(self, *args: Any, **options: Any) -> Any:
            keys = written_keys(self.sync_twin, args)
            if keys:
                self.journal.before_write(self.sync_twin, keys)
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

        def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
            pipe = TrackingAsyncPipeline(
                self.connection_pool, self.response_callbacks, transaction, shard_hint
            )
            pipe.journal = self.journal
            pipe.sync_twin = self.sync_twin
            return pipe

    return LoopFreePool, TrackingAsyncRedis


def tracking_async_client(url: str, journal: KeyJournal, sync_twin: Any) -> Any:
    """Return an asyncio client of *url*, bound to no event loop, that journals its writes.

    Args:
        url: the real server's URL.
        journal: where the test's writes are journaled.
        sync_twin: the test's tracked sync client of the same server.
    """
    pool_class, client_class = _classes()
    client = client_class(connection_pool=pool_class.from_url(url))
    client.journal = journal
    client.sync_twin = sync_twin
    return client
