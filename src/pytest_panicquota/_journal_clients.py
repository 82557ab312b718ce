"""The tracking clients: redis-py clients whose every write is journaled first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_panicquota._journal_servers import TIMEOUT, redis_py_url, topology_of

if TYPE_CHECKING:
    from pytest_panicquota._journal import KeyJournal

__all__ = ["tracking_client", "tracking_client_class", "tracking_cluster_class"]

_CLASSES: dict[str, type[Any]] = {}


def tracking_client_class() -> type[Any]:
    """Return a ``redis.Redis`` subclass whose writes are recorded in a :class:`KeyJournal`."""
    if "client" in _CLASSES:
        return _CLASSES["client"]
    import redis
    from redis.client import Pipeline

    class TrackingPipeline(Pipeline):
        journal: KeyJournal
        tracked_by: Any

        def pipeline_execute_command(self, *args: Any, **options: Any) -> Any:
            args = self.journal.before_command(self.tracked_by, args)
            return super().pipeline_execute_command(*args, **options)

        def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
            args = self.journal.before_command(self.tracked_by, args)
            return super().immediate_execute_command(*args, **options)  # type: ignore[no-untyped-call]

    class TrackingRedis(redis.Redis):
        """A redis-py client that records, before each write, what the key held."""

        journal: KeyJournal

        def execute_command(self, *args: Any, **options: Any) -> Any:
            args = self.journal.before_command(self, args)
            return super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

        def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
            pipe = TrackingPipeline(
                self.connection_pool, self.response_callbacks, transaction, shard_hint
            )
            pipe.journal = self.journal
            pipe.tracked_by = self
            return pipe

    _CLASSES["client"] = TrackingRedis
    return TrackingRedis


def tracking_cluster_class() -> type[Any]:
    """Return a ``RedisCluster`` subclass whose writes are recorded in a :class:`KeyJournal`."""
    if "cluster" in _CLASSES:
        return _CLASSES["cluster"]
    from redis.cluster import ClusterPipeline, RedisCluster

    class TrackingClusterPipeline(ClusterPipeline):
        journal: KeyJournal
        tracked_by: Any

        def execute_command(self, *args: Any, **options: Any) -> Any:
            args = self.journal.before_command(self.tracked_by, args)
            return super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

    class TrackingRedisCluster(RedisCluster):
        """A redis-py cluster client that records, before each write, what the key held."""

        journal: KeyJournal
        panic_url: str

        def execute_command(self, *args: Any, **options: Any) -> Any:
            args = self.journal.before_command(self, args)
            return super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

        def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> Any:
            pipe = super().pipeline(transaction, shard_hint)  # type: ignore[no-untyped-call]
            pipe.__class__ = TrackingClusterPipeline
            pipe.journal = self.journal
            pipe.tracked_by = self
            return pipe

    _CLASSES["cluster"] = TrackingRedisCluster
    return TrackingRedisCluster


def tracking_client(url: str, journal: KeyJournal) -> Any:
    """Return a client of *url* that records its writes in *journal*.

    *url* may name a standalone server, a Cluster (``redis+cluster://``) or a
    Sentinel group's master (``redis+sentinel://``), as
    :func:`panicquota.breaker.connect` reads it.
    """
    url = redis_py_url(url)
    topology = topology_of(url)
    if topology == "standalone":
        client = tracking_client_class().from_url(url)
    else:
        from panicquota.breaker import connect

        client = connect(url, socket_timeout=TIMEOUT)
        # The same client, journaling: the class that adds the journal to its own.
        if topology == "cluster":
            client.__class__ = tracking_cluster_class()
        else:
            base = type(client)
            client.__class__ = type(f"Tracking{base.__name__}", (tracking_client_class(), base), {})
    client.journal = journal
    client.panic_url = url
    return client
