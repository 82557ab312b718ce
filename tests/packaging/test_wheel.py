"""The built wheel, installed without extras into a clean environment."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Run in the clean environment: the policy, the breaker against the real
#: Redis (fakeredis is an extra), and the hints of the missing extras.
SCRIPT = """
import importlib.metadata
import importlib.util
import sys

import redis

import panicquota
from panicquota import AdaptivePanicQuota, VIXCircuitBreaker
from panicquota.errors import MissingExtraError

assert importlib.metadata.version("panicquota") == panicquota.__version__
print("installed extras", [m for m in ("rich", "fakeredis", "lupa", "hypothesis")
                  if importlib.util.find_spec(m) is not None])
print("policy", AdaptivePanicQuota().calculate_ttl_strategy(60, 35.0, {"league": "Ligue 1"})[:2])

prefix = sys.argv[1]
client = redis.Redis(host="127.0.0.1", port=6379)
now = [1_000_000.0]
try:
    breaker = VIXCircuitBreaker(client, key_prefix=prefix, clock=lambda: now[0])
    breaker.observe(40.0)
    now[0] += 35 * 60
    ttl, mode, meta = breaker.get_ttl(60, {"league": "Ligue 1"})
    print("breaker", ttl, mode.value, meta["source"].value)
finally:
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)

for load in (
    lambda: __import__("pytest_panicquota.strategies"),
    lambda: __import__("pytest_panicquota._fixtures").\
_fixtures.RedisHandle(None, prefix),
):
    try:
        load()
    except MissingExtraError as error:
        print("hint", error)
"""


@pytest.fixture(scope="module")
def clean_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel once and install it, without extras, into a venv of its own."""
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(work), "."],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = work.glob("panicquota-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", str(wheel)],
        check=True,
        capture_output=True,
    )
    return python


def _run(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Outside the repository, so that the source tree cannot be imported by accident.
    return subprocess.run(
        [str(python), *args], cwd=python.parent, capture_output=True, text=True, timeout=60
    )


def test_wheel_needs_only_redis(clean_python: Path) -> None:
    """Without extras the wheel holds the policy and the breaker, and names each missing extra."""
    prefix = f"pq-wheel-{uuid.uuid4().hex}:"
    result = _run(clean_python, "-c", SCRIPT, prefix)
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        "installed extras []",
        "policy (5, <PanicMode.PANIC_PARTIAL: 'PANIC_PARTIAL'>)",
        "breaker 5 PANIC_PARTIAL FRESH",
        "hint pytest_panicquota.strategies needs hypothesis, which is not installed: "
        "pip install 'panicquota[testing]'",
        "hint panic_redis's default fake Redis needs fakeredis and lupa, which are not "
        "installed: pip install 'panicquota[testing]'",
    ]
    requires = _run(
        clean_python, "-c", "import importlib.metadata as m; print(m.requires('panicquota'))"
    )
    core = [r for r in eval(requires.stdout) if "extra ==" not in r]
    assert core == ["redis<9,>=5.0"]


def test_cli_without_extras(clean_python: Path) -> None:
    """`panicquota decide` works without extras; `simulate` says, in one line, what to install."""
    panicquota = str(clean_python.parent / "panicquota")
    decided = subprocess.run(
        [panicquota, "decide", "--duration", "35", "--league", "Ligue 1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert decided.returncode == 0, decided.stderr
    assert decided.stdout.startswith("ttl: 5 s   mode: PANIC_PARTIAL")
    simulated = subprocess.run([panicquota, "simulate"], capture_output=True, text=True, timeout=60)
    assert (simulated.returncode, simulated.stdout) == (2, "")
    assert simulated.stderr == (
        "panicquota simulate: error: the simulator needs fakeredis and lupa, which are not "
        "installed: pip install 'panicquota[cli]'\n"
    )
