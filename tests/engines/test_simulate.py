"""``panicquota simulate --real`` on a cluster, and on a store that refuses the scripts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from . import servers
from .conftest import Engines


def simulate(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess."""
    command = [sys.executable, "-m", "panicquota", "simulate", "--quiet", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_real_mode_on_a_cluster_matches_the_simulated_figures(
    engines: Engines, tmp_path: Path
) -> None:
    """On a cluster the real mode agrees and its reduction is within two points of the model's.

    Every script failing (CROSSSLOT) would make it 0.0% against the model's 40.8%.
    Real processes on a loaded machine check a few simulated seconds late, which
    moved the reduction by 1.6 points in one CI run at the default 600x
    compression: the run gets twice the wall time, and the bound two points.
    """
    model = simulate("--json", str(tmp_path / "model.json"))
    assert model.returncode == 0, model.stderr
    cluster = engines.get("cluster").url
    real = simulate(
        "--real", "--redis", cluster, "--wall-seconds", "16", "--json", str(tmp_path / "real.json")
    )
    assert real.returncode == 0, real.stderr
    expected = json.loads((tmp_path / "model.json").read_text())
    report = json.loads((tmp_path / "real.json").read_text())
    assert report["worker_agreement"] == 1.0
    assert abs(report["reduction"] - expected["reduction"]) < 0.02
    assert report["transitions"] == expected["transitions"] == 9
    assert report["key_prefix"].startswith("{panicquota:sim:")
    assert "ERROR" not in real.stderr


def test_a_store_refusing_the_scripts_fails_the_run(engines: Engines, tmp_path: Path) -> None:
    """Scripting disabled: exit 3 naming the refusal, and the breaker's ERROR shown on stderr."""
    binary = servers.require_binary(servers.redis_binaries()[0], "redis-server")
    args = ["--rename-command", "EVALSHA", "", "--rename-command", "EVAL", ""]
    server = servers.Server(binary, servers.free_port(), tmp_path / "noscript", args).start()
    try:
        url = f"redis://{servers.HOST}:{server.port}/0"
        run = simulate("--real", "--redis", url, "--wall-seconds", "2")
    finally:
        server.stop()
    assert run.returncode == 3, run.stderr
    error = run.stderr.strip().splitlines()[-1]
    assert error.startswith(
        f"panicquota simulate: error: the store at {url} refused the breaker's calls during "
        "the run (5 of 5 breakers): Redis refused the breaker's script (ResponseError: unknown "
        "command 'EVAL"
    )
    assert error.endswith(
        "their decisions were the fail-safe, not the policy's, so the run measures nothing"
    )
    assert "panicquota simulate: ERROR: breaker 'panicquota:sim:" in run.stderr
