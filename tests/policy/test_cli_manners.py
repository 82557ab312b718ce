"""The command line's manners, through the real CLI in a subprocess (issue 12, items 6-9)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "panicquota"]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``panicquota ARGS`` and return its result."""
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False
    )


@pytest.mark.parametrize(
    "args",
    [
        ["table"],
        ["table", "--json"],
        ["decide", "--duration", "100", "--league", "Ligue 1"],
        ["decide", "--duration", "100", "--json"],
        ["simulate", "--list"],
    ],
    ids=lambda a: " ".join(a),
)
def test_closed_pipe_exits_quietly(args: list[str]) -> None:
    """A reader that stops early (| head -1) gets no traceback: nothing on stderr, status 141."""
    process = subprocess.Popen(
        [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.close()  # before the child writes: its first write meets a closed pipe
    with process.stderr:
        stderr = process.stderr.read()
    assert process.wait(timeout=120) == 141
    assert stderr == ""


@pytest.mark.parametrize("command", ["decide", "table"])
def test_config_not_utf8(tmp_path: Path, command: str) -> None:
    """A configuration file that is not UTF-8 is one error line and status 2."""
    path = tmp_path / "policy.toml"
    path.write_bytes(b'[keywords]\nhigh = ["Coupe \xe9t\xe9"]\n')
    extra = ["--duration", "5"] if command == "decide" else []
    done = run_cli(command, *extra, "--config", str(path))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"panicquota {command}: error: {path}: not UTF-8 text (byte 0xe9 at offset 26); "
        "TOML files must be UTF-8"
    ]


def test_scenario_not_utf8(tmp_path: Path) -> None:
    """A scenario file that is not UTF-8 is one error line and status 2."""
    path = tmp_path / "derby.toml"
    path.write_bytes(b'name = "d\xe9rby"\n[volatility]\npoints = [[0, 10], [1, 40]]\n')
    done = run_cli("simulate", "--scenario", str(path))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"panicquota simulate: error: {path}: not UTF-8 text (byte 0xe9 at offset 9); "
        "TOML files must be UTF-8"
    ]


def test_redis_that_is_not_a_url_is_a_usage_error() -> None:
    """--redis localhost:6379 is refused before anything runs: status 2, not 3."""
    done = run_cli("simulate", "--real", "--redis", "localhost:6379", "--scenario", "flash")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "panicquota simulate: error: --redis must be a store URL: 'localhost:6379' is not a "
        "known scheme in store URL 'localhost:6379'; accepted: redis://host:6379/0, "
        "rediss://..., unix:///path/redis.sock, redis+cluster://host:port[,host:port...], "
        "redis+sentinel://host:port[,host:port...]/service[/db], or the same with valkey "
        "instead of redis"
    ]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--redis", "redis://127.0.0.1:6379/0"], "--redis"),
        (["--wall-seconds", "3"], "--wall-seconds"),
    ],
)
def test_real_only_options_need_real(args: list[str], option: str) -> None:
    """A real-mode option without --real is refused, naming the option."""
    done = run_cli("simulate", "--scenario", "flash", *args)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"panicquota simulate: error: {option} only applies to a real-processes run: "
        f"add --real or drop {option}"
    ]
    assert done.stdout == ""


SLOW_TARGET = """
import sys
import time

from panicquota import AdaptivePanicQuota

_POLICY = AdaptivePanicQuota()


class Slow:
    def calculate_ttl_strategy(self, normal_ttl, duration, context=None):
        time.sleep(0.02)
        return _POLICY.calculate_ttl_strategy(normal_ttl, duration, context)


policy = Slow()
print("target imported", file=sys.stderr, flush=True)
"""


def test_ctrl_c_in_certify(tmp_path: Path) -> None:
    """Ctrl-C during certify stops with one line on stderr and status 130, no traceback."""
    (tmp_path / "slow_target.py").write_text(SLOW_TARGET, encoding="utf-8")
    process = subprocess.Popen(
        [*CLI, "certify", "--target", "slow_target:policy"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.getenv("PYTHONPATH")])),
        },
    )
    assert process.stderr is not None
    try:
        assert process.stderr.readline() == "target imported\n"
        time.sleep(1.0)  # well into the criteria: each call sleeps 20 ms
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert stderr.splitlines() == ["panicquota certify: interrupted"]
    assert process.returncode == 130
