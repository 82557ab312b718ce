"""Failover: a cluster master SIGKILLed, a Sentinel master SIGKILLed.

During the failover ``get_ttl`` raises nothing and keeps the start;
``trip()``/``reset()`` raise :class:`StoreUnavailableError`; once the replica
is promoted, both breakers (sync and async) serve FRESH again within
:data:`FRESH_BOUND` seconds, and operations succeed. The times measured are
printed (``-s``) and recorded as test properties.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from panicquota.breaker import AsyncVIXCircuitBreaker, StoreUnavailableError, VIXCircuitBreaker
from panicquota.breaker._outages import BACKOFF_MAX

from .conftest import Engines, url_for
from .servers import Server, Topology, wait_until

#: After the promotion the breaker's next retries (at most BACKOFF_MAX apart)
#: find the new master; a cluster client needs a second one (the first
#: re-reads the topology). Docs: docs/production.md. Plus headroom for a
#: loaded machine.
FRESH_BOUND = 2 * BACKOFF_MAX + 2.0
#: Sentinel is told the master is down after 1 s, a cluster node after 1 s.
PROMOTION_TIMEOUT = 20.0


def cluster_victim(topology: Topology, breaker: VIXCircuitBreaker) -> tuple[Server, int]:
    """Return the master serving the breaker's slot, and the port of its replica."""
    client: Any = breaker._redis
    node = client.get_node_from_key(f"{breaker.key_prefix}:start_ts")
    nodes = client.cluster_nodes()
    master_id = nodes[f"{node.host}:{node.port}"]["node_id"]
    replica = next(name for name, info in nodes.items() if info["master_id"] == master_id)
    victim = next(server for server in topology.servers if server.port == node.port)
    return victim, int(replica.rpartition(":")[2])


def sentinel_victim(topology: Topology, breaker: VIXCircuitBreaker) -> tuple[Server, int]:
    """Return the Sentinel group's master and its replica's port."""
    return topology.servers[0], topology.servers[1].port


def run_failover(
    topology: Topology,
    library: str,
    prefix: str,
    victim_of: Callable[[Topology, VIXCircuitBreaker], tuple[Server, int]],
    record: Callable[[str, object], None],
) -> None:
    """Kill the master of the breaker's keys, check the breakers through the failover."""
    url = url_for(topology, library)
    runner = asyncio.Runner()
    sync = VIXCircuitBreaker.from_url(url, key_prefix=prefix, max_staleness=0.05)
    async_ = AsyncVIXCircuitBreaker.from_url(url, key_prefix=prefix, max_staleness=0.05)
    try:
        sync.trip()
        start = sync.get_ttl(60)[2]["panic_start_ts"]
        assert runner.run(async_.get_ttl(60))[2]["panic_start_ts"] == start
        victim, replica_port = victim_of(topology, sync)
        replica = redis.Redis(port=replica_port, socket_timeout=1)
        if "Cluster" in type(sync._redis).__name__:
            replica.execute_command("READONLY")
        key = f"{sync.key_prefix}:start_ts"
        wait_until(lambda: replica.get(key) is not None, 5, "the start on the replica")

        killed = time.monotonic()
        victim.kill()
        for operation in (sync.trip, sync.reset):
            with pytest.raises(StoreUnavailableError, match="Redis is unreachable"):
                operation()
        with pytest.raises(StoreUnavailableError, match="Redis is unreachable"):
            runner.run(async_.reset())
        promoted = fresh_sync = fresh_async = None
        slowest = 0.0
        while fresh_sync is None or fresh_async is None:
            now = time.monotonic() - killed
            assert now < PROMOTION_TIMEOUT + FRESH_BOUND, "no FRESH read after the failover"
            called = time.monotonic()
            meta = sync.get_ttl(60)[2]
            async_meta = runner.run(async_.get_ttl(60))[2]
            slowest = max(slowest, time.monotonic() - called)
            assert (meta["panic_start_ts"], async_meta["panic_start_ts"]) == (start, start)
            if promoted is None and replica.execute_command("ROLE")[0] == b"master":
                promoted = time.monotonic() - killed
            if promoted is not None:
                if fresh_sync is None and meta["source"] == "FRESH":
                    fresh_sync = time.monotonic() - killed
                if fresh_async is None and async_meta["source"] == "FRESH":
                    fresh_async = time.monotonic() - killed
            time.sleep(0.02)
        assert promoted is not None
        figures = {
            "promoted_s": round(promoted, 2),
            "fresh_sync_after_promotion_s": round(fresh_sync - promoted, 2),
            "fresh_async_after_promotion_s": round(fresh_async - promoted, 2),
            "slowest_get_ttl_pair_s": round(slowest, 3),
        }
        print(f"\n{topology.name} {library} failover: {figures}")
        for name, value in figures.items():
            record(name, value)
        assert fresh_sync - promoted < FRESH_BOUND
        assert fresh_async - promoted < FRESH_BOUND
        sync.reset()
        assert sync.panic_duration_minutes() is None
        runner.run(async_.trip())
        assert runner.run(async_.panic_duration_minutes()) is not None
        sync.reset()
        replica.close()
    finally:
        sync.close()
        runner.run(async_.close())
        runner.close()


@pytest.mark.parametrize("library", ["redis", "valkey"])
def test_cluster_master_sigkill(
    engines: Engines, library: str, record_property: Callable[[str, object], None]
) -> None:
    """A cluster master SIGKILLed: get_ttl never raises, keeps the start, FRESH after promotion."""
    topology = engines.fresh("cluster", f"failover-{library}")
    try:
        run_failover(topology, library, "failover", cluster_victim, record_property)
    finally:
        topology.stop()


@pytest.mark.parametrize("library", ["redis", "valkey"])
def test_sentinel_failover(
    engines: Engines, library: str, record_property: Callable[[str, object], None]
) -> None:
    """The Sentinel master SIGKILLed: get_ttl never raises, keeps the start, FRESH after it."""
    topology = engines.fresh("sentinel", f"failover-{library}")
    try:
        run_failover(topology, library, "failover", sentinel_victim, record_property)
    finally:
        topology.stop()
