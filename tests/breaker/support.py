"""Helpers of the breaker tests: backends, key clean-up, the async adapter, factories.

Async breakers are driven through :class:`AsyncView`, so each behavioural
scenario is written once and runs on both flavours.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from redis.exceptions import RedisError

from panicquota.breaker import AsyncVIXCircuitBreaker, VIXCircuitBreaker, connect
from panicquota.clock import ManualClock

#: Kept in step with tests/conftest.py, whose real_redis fixture uses it too.
REAL_REDIS_URL = os.environ.get("PANICQUOTA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
#: 2027-01-15 08:00 UTC: timestamps that look real on a shared server.
T0 = 1_800_000_000.0


def unique_prefix() -> str:
    """Return a hash-tagged key prefix no other test uses."""
    return f"{{pqtest:{uuid.uuid4().hex}}}"


def delete_prefix(client: Any, prefix: str) -> None:
    """Delete the keys under *prefix*, and only those."""
    keys = list(client.scan_iter(match=f"{prefix}*", count=500))
    if keys:
        client.delete(*keys)


def hang_reads(breaker: Any) -> threading.Event:
    """Make the sync *breaker*'s reads hang until the returned event is set (10 s at most)."""
    read = breaker._scripts["read"]
    release = threading.Event()

    def hung(**kwargs: Any) -> Any:
        release.wait(10)
        return read(**kwargs)

    breaker._scripts["read"] = hung
    return release


def free_port() -> int:
    """Return a TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A redis-server this test owns: no persistence, stopped only by its own pid."""

    def __init__(self, port: int, *options: str) -> None:
        self.port = port
        self.options = options
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start an empty server and wait until it answers."""
        executable = shutil.which("redis-server")
        if executable is None:
            pytest.fail("redis-server is not installed: the fault-injection tests need it")
        self.process = subprocess.Popen(
            [
                *(executable, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--loglevel", "warning"),
                *self.options,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        probe = connect(self.url)
        try:
            for _ in range(200):
                try:
                    probe.ping()
                    return
                except RedisError:
                    time.sleep(0.02)
            pytest.fail(f"redis-server on port {self.port} did not start")
        finally:
            probe.close()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open, nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a frozen server run again (SIGCONT)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """Kill the server (SIGKILL: no chance to save anything)."""
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@dataclass
class Backend:
    """A Redis server seen through a sync client, plus a way to get async clients."""

    name: str
    client: Any
    new_async_client: Callable[[], Any]
    prefix: str = field(default_factory=unique_prefix)

    def key(self, suffix: str) -> str:
        """Return the full name of one of the breaker's keys."""
        return f"{self.prefix}:{suffix}"


class AsyncView:
    """Drive an async breaker with sync calls, so scenarios are written once."""

    def __init__(self, breaker: AsyncVIXCircuitBreaker, runner: asyncio.Runner) -> None:
        self.breaker = breaker
        self._run = runner.run

    def get_ttl(self, normal_ttl: float, context: Any = None) -> Any:
        return self._run(self.breaker.get_ttl(normal_ttl, context))

    def observe(self, vix: float) -> None:
        self._run(self.breaker.observe(vix))

    def trip(self) -> None:
        self._run(self.breaker.trip())

    def reset(self) -> None:
        self._run(self.breaker.reset())

    def refresh(self) -> None:
        self._run(self.breaker.refresh())

    def panic_duration_minutes(self) -> float | None:
        return self._run(self.breaker.panic_duration_minutes())

    def add_listener(self, callback: Callable[..., object]) -> None:
        self.breaker.add_listener(callback)


@dataclass
class Factory:
    """Build breakers of one flavour over one backend, each on its own clock by default."""

    backend: Backend
    flavour: str
    runner: asyncio.Runner | None
    clock: ManualClock = field(default_factory=lambda: ManualClock(T0))
    _async_clients: list[Any] = field(default_factory=list)

    def __call__(self, **options: Any) -> Any:
        options.setdefault("key_prefix", self.backend.prefix)
        options.setdefault("clock", self.clock)
        if self.runner is None:
            return VIXCircuitBreaker(self.backend.client, **options)
        client = self.backend.new_async_client()
        self._async_clients.append(client)
        return AsyncView(AsyncVIXCircuitBreaker(client, **options), self.runner)

    def close(self) -> None:
        if self.runner is not None:
            for client in self._async_clients:
                self.runner.run(client.aclose())
            self.runner.close()
