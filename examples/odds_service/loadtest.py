"""Drive the odds service with wrk through a trip, tier 1 and tier 2; print the table.

Run from the repository root (needs wrk, uvicorn, aiohttp and the local Redis)::

    python -m examples.odds_service.loadtest --seconds 10

It starts the fake upstream (one uvicorn process) and the odds service
(uvicorn, ``--workers`` processes) twice: once without panicquota (every
request goes upstream: always fresh), once with ``AsyncPanicCache`` and
``AsyncVIXCircuitBreaker`` on Redis under a unique prefix. Each run plays the
same phases, each measured by one wrk run of ``--seconds``:

- ``normal``: no panic, entries live 60 s;
- ``trip: tier 1``: the driver trips the breaker; TTL 0, concurrent misses
  of a match share one fetch across workers (a lease in Redis);
- ``tier 2``: the shared clock jumps 31 minutes (time compressed); TTL 5 s.

Every process it starts is stopped by its pid, and its Redis keys deleted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from examples.odds_service.clock import FileClock

ROOT = Path(__file__).resolve().parents[2]
PHASES = ("normal", "trip: tier 1", "tier 2")
#: How far the tier-2 phase moves the clock: 31 minutes into the panic.
TIER_2_JUMP = 31 * 60

WRK_SCRIPT = """
local counter = 0
local keys = %(keys)d
request = function()
  counter = counter + 1
  return wrk.format("GET", "/odds/m" .. (counter %% keys))
end
done = function(summary, latency, requests)
  io.write(string.format(
    '{"requests": %%d, "duration_us": %%d, "status": %%d, "connect": %%d, "read": %%d, ' ..
    '"write": %%d, "timeout": %%d, "p50_us": %%d, "p99_us": %%d}\\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class Phase:
    """What one wrk run measured."""

    name: str
    requests: int
    seconds: float
    upstream: int
    errors: int
    p50_ms: float
    p99_ms: float

    @property
    def served_rps(self) -> float:
        """Requests answered per second."""
        return self.requests / self.seconds

    @property
    def upstream_rps(self) -> float:
        """Requests the upstream received per second."""
        return self.upstream / self.seconds


@dataclass(frozen=True)
class Result:
    """Both runs, phase by phase."""

    plain: tuple[Phase, ...]
    cached: tuple[Phase, ...]
    workers: int
    connections: int
    latency_ms: float
    keys: int

    def as_dict(self) -> dict[str, object]:
        """Return the result as JSON-ready data."""
        return {
            "workers": self.workers,
            "connections": self.connections,
            "upstream_latency_ms": self.latency_ms,
            "keys": self.keys,
            "phases": [
                {
                    "phase": p.name,
                    **{
                        f"{label}_{key}": value
                        for label, phase in (("plain", p), ("panicquota", c))
                        for key, value in (
                            ("seconds", phase.seconds),
                            ("requests", phase.requests),
                            ("upstream_requests", phase.upstream),
                            ("served_rps", phase.served_rps),
                            ("upstream_rps", phase.upstream_rps),
                            ("p50_ms", phase.p50_ms),
                            ("p99_ms", phase.p99_ms),
                            ("errors", phase.errors),
                        )
                    },
                }
                for p, c in zip(self.plain, self.cached, strict=True)
            ],
        }


def listening_socket() -> socket.socket:
    """Return a socket bound to a free loopback port (the OS picks it), listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


@contextmanager
def uvicorn(target: str, env: dict[str, str], workers: int) -> Iterator[int]:
    """Run ``uvicorn target`` on a free port; yield the port; stop it by its pid."""
    sock = listening_socket()
    port: int = sock.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--fd",
        str(sock.fileno()),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
        "--timeout-graceful-shutdown",
        "5",
    ]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **env},
        pass_fds=(sock.fileno(),),
        start_new_session=True,
    )
    try:
        sock.close()  # the child holds its copy
        wait_ready(port, process)
        yield port
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop *process* (and the workers it started, in its own session) by its pid."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):  # workers its supervisor left behind
        os.killpg(process.pid, signal.SIGKILL)


def wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Wait until ``GET /odds/ready`` (or ``/stats``) answers on *port*."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {process.returncode} before answering")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers (404 on the odds service)
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"uvicorn did not answer on port {port} within {timeout:g} s")


def upstream_count(port: int) -> int:
    """Return how many odds requests the fake upstream answered so far."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as response:
        count: int = json.load(response)["requests"]
    return count


def run_wrk(
    port: int, script: Path, seconds: float, connections: int, threads: int
) -> dict[str, int]:
    """Run wrk against the odds service; return its summary (see ``WRK_SCRIPT``)."""
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60)
    line = [row for row in out.stdout.splitlines() if row.startswith("{")][-1]
    summary: dict[str, int] = json.loads(line)
    return summary


def play(
    mode: str,
    *,
    upstream_port: int,
    workers: int,
    seconds: float,
    connections: int,
    threads: int,
    script: Path,
    redis_url: str,
    scratch: Path,
) -> tuple[Phase, ...]:
    """Start the odds service in *mode* and measure every phase."""
    import redis

    prefix = f"panicquota:odds-demo:{uuid.uuid4().hex[:12]}"
    clock_file = scratch / f"clock-{mode}"
    clock = FileClock(str(clock_file))
    env = {
        "ODDS_MODE": mode,
        "ODDS_UPSTREAM_URL": f"http://127.0.0.1:{upstream_port}",
        "ODDS_REDIS_URL": redis_url,
        "ODDS_PREFIX": prefix,
        "ODDS_CLOCK_FILE": str(clock_file),
    }
    client = redis.Redis.from_url(redis_url)
    phases = []
    try:
        from panicquota.breaker import VIXCircuitBreaker

        breaker = VIXCircuitBreaker(client, key_prefix=f"{prefix}:vix", clock=clock)
        with uvicorn("examples.odds_service.app:app", env, workers) as port:
            # Warm up: every worker connected, every match cached once.
            run_wrk(port, script, 1, connections, threads)
            for name in PHASES:
                # Counted from before the phase's change: requests of the last
                # phase still being answered when the clock jumps fetch after
                # it, and those fetches belong to the new phase.
                before = upstream_count(upstream_port)
                if name == "trip: tier 1":
                    breaker.trip()
                    time.sleep(0.5)  # every worker's snapshot is at most 0.25 s old
                elif name == "tier 2":
                    clock.jump(TIER_2_JUMP)
                    time.sleep(0.5)
                summary = run_wrk(port, script, seconds, connections, threads)
                upstream = upstream_count(upstream_port) - before
                errors = sum(
                    summary[key] for key in ("status", "connect", "read", "write", "timeout")
                )
                phases.append(
                    Phase(
                        name,
                        summary["requests"],
                        summary["duration_us"] / 1e6,
                        upstream,
                        errors,
                        summary["p50_us"] / 1000,
                        summary["p99_us"] / 1000,
                    )
                )
        breaker.close()
    finally:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
        clock.close()
    return tuple(phases)


def run(
    *,
    seconds: float = 10,
    workers: int = 2,
    connections: int = 128,
    threads: int = 2,
    latency_ms: float = 50,
    keys: int = 4,
    redis_url: str = "redis://127.0.0.1:6379/0",
) -> Result:
    """Run the load test: both apps through every phase."""
    with tempfile.TemporaryDirectory(prefix="odds-loadtest-") as tmp:
        scratch = Path(tmp)
        script = scratch / "odds.lua"
        script.write_text(WRK_SCRIPT % {"keys": keys}, encoding="utf-8")
        env = {"ODDS_UPSTREAM_LATENCY_MS": str(latency_ms)}
        with uvicorn("examples.odds_service.upstream:app", env, 1) as upstream_port:
            plain, cached = (
                play(
                    mode,
                    upstream_port=upstream_port,
                    workers=workers,
                    seconds=seconds,
                    connections=connections,
                    threads=threads,
                    script=script,
                    redis_url=redis_url,
                    scratch=scratch,
                )
                for mode in ("plain", "panicquota")
            )
    return Result(plain, cached, workers, connections, latency_ms, keys)


def table(result: Result) -> str:
    """Return the Markdown table of *result*."""
    rows = [
        f"{result.workers} uvicorn workers, wrk {result.connections} connections, "
        f"{result.keys} matches, upstream answers after {result.latency_ms:g} ms",
        "",
        "| phase | served req/s | upstream req/s | always-fresh upstream req/s "
        "| p50 / p99 (ms) | no panicquota p50 / p99 (ms) | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for plain, cached in zip(result.plain, result.cached, strict=True):
        rows.append(
            f"| {cached.name} | {cached.served_rps:,.0f} | {cached.upstream_rps:,.1f} "
            f"| {plain.upstream_rps:,.0f} | {cached.p50_ms:.1f} / {cached.p99_ms:.1f} "
            f"| {plain.p50_ms:.1f} / {plain.p99_ms:.1f} | {cached.errors} + {plain.errors} |"
        )
    rows.append("")
    rows.append(
        "errors: with panicquota + without (wrk's socket errors and non-2xx answers); "
        "always-fresh is the same app with no panicquota, every request upstream"
    )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run the load test, print the table."""
    parser = argparse.ArgumentParser(prog="python -m examples.odds_service.loadtest")
    parser.add_argument("--seconds", type=float, default=10, help="per phase (default 10)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers (default 2)")
    parser.add_argument("--connections", type=int, default=128, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--latency-ms", type=float, default=50, help="upstream latency")
    parser.add_argument("--keys", type=int, default=4, help="distinct matches requested")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    result = run(
        seconds=args.seconds,
        workers=args.workers,
        connections=args.connections,
        threads=args.threads,
        latency_ms=args.latency_ms,
        keys=args.keys,
        redis_url=args.redis_url,
    )
    print(table(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result.as_dict(), indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
