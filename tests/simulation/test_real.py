"""The real mode: worker processes against the local Redis, time compressed."""

from __future__ import annotations

import logging
import math
import os
import queue
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import redis

from panicquota.cli import main
from panicquota.simulation import Scenario, _real_keys, _real_signals, simulate_real
from panicquota.simulation import _real as real
from panicquota.simulation._agreement import StartChange, agreement
from panicquota.simulation._real import (
    CHECKED_SHARE_LIMIT,
    DEFAULT_REDIS_URL,
    FEEDER_LAG_LIMIT,
    RealModeError,
    default_wall_seconds,
)
from panicquota.simulation._real_keys import delete_keys, delete_keys_or_log
from panicquota.simulation._real_processes import collect
from panicquota.simulation._real_report import _warnings
from panicquota.simulation._real_worker import WorkerResult
from panicquota.simulation._report import DisagreementKind

from . import planted

ROOT = Path(__file__).parents[2]

#: A scenario whose panic starts at once and lasts: keys exist from the first second.
LONG_PANIC = """
name = "long-panic"
duration_minutes = 8
workers = 2
rps = 4
normal_ttl = 20

[volatility]
points = [[0, 40], [8, 40]]

[[contexts]]
league = "Ligue 1"
share = 1
"""


@pytest.fixture
def importable_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let spawned workers import the planted factories by name, however pytest was started."""
    monkeypatch.syspath_prepend(str(ROOT))


def run_keys(client: redis.Redis, base: str) -> list[bytes]:
    """Return the keys under the run's base."""
    return list(client.scan_iter(match=f"{base}:*", count=1000))


def test_real_mode_agrees_and_cleans_up(fast_scenario: Scenario, real_redis: redis.Redis) -> None:
    """Two processes decide many times per second, agree, measure their lag, leave no key."""
    scenario = fast_scenario.with_overrides(workers=2)
    announced: list[str] = []
    report = simulate_real(scenario, wall_seconds=2.0, on_start=announced.append)
    assert report.worker_agreement == 1.0
    assert report.decision_points > 0
    assert report.decisions > 10 * report.decision_points  # the hot loop ran
    assert report.simulated_requests == scenario.duration_seconds * 2 * 7
    assert report.series.tier["Ligue 1"].count(4) > 0  # the panic reached tier 4
    assert report.redis_url == DEFAULT_REDIS_URL
    assert report.key_prefix is not None
    base = report.key_prefix.removesuffix(":vix:panic")
    assert announced == [base]
    assert run_keys(real_redis, base) == []
    assert report.compression == pytest.approx(scenario.duration_seconds / 2.0)
    assert report.feeder_max_lag_seconds is not None
    assert report.feeder_change_lag_seconds is not None
    assert 0 <= report.feeder_change_lag_seconds <= report.feeder_max_lag_seconds
    assert report.worker_checked_shares is not None
    assert len(report.worker_checked_shares) == 2
    assert all(0 < share <= 1 for share in report.worker_checked_shares)
    data = report.as_dict()
    assert data["worker_checked_shares"] == list(report.worker_checked_shares)
    assert report.compared_points is not None
    assert 0 < report.compared_points <= report.decision_points
    assert data["compared_points"] == report.compared_points
    assert (report.breaker_repairs, data["breaker_repairs"]) == (0, 0)
    assert report.keys_deleted is True
    assert data["feeder_max_lag_seconds"] == report.feeder_max_lag_seconds
    assert data["disagreement_count"] == 0


@pytest.mark.parametrize(
    "factory",
    [planted.worker_1_on_another_prefix, planted.worker_1_ninety_seconds_ahead],
    ids=["another-prefix", "shifted-clock"],
)
def test_an_inconsistent_worker_is_caught(
    fast_scenario: Scenario,
    real_redis: redis.Redis,
    importable_tests: None,
    factory: Callable[..., Any],
) -> None:
    """A real worker that reads another start, or decides at another instant, is a disagreement."""
    scenario = fast_scenario.with_overrides(workers=2)
    report = simulate_real(scenario, wall_seconds=2.0, breaker_factory=factory)
    assert report.worker_agreement < 1.0
    # Far more than the few seconds around the trip and the reset: a good share
    # of the panic, relative to the points actually compared (fewer on a busy machine).
    assert report.compared_points is not None
    assert report.decision_points - report.agreeing_points >= 0.1 * report.compared_points
    # Another prefix decides as the policy says from what it read (no panic), but
    # not as worker 0; a clock ahead decides what the policy never gives for its second.
    kind = (
        DisagreementKind.DIFFER
        if factory is planted.worker_1_on_another_prefix
        else DisagreementKind.POLICY
    )
    assert {d.kind for d in report.disagreements} == {kind}
    assert any(d.workers is not None and 1 in d.workers for d in report.disagreements)
    if kind is DisagreementKind.DIFFER:
        first = report.disagreements[0]
        assert first.decisions[0] != first.decisions[1]
    assert report.key_prefix is not None
    assert run_keys(real_redis, report.key_prefix.removesuffix(":vix:panic")) == []


def test_an_inconsistent_worker_fails_the_command(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    real_redis: redis.Redis,
    importable_tests: None,
) -> None:
    """simulate --real exits 1 when a worker disagrees, and says how often."""
    from panicquota import simulation

    path = tmp_path / "long.toml"
    path.write_text(LONG_PANIC, encoding="utf-8")
    original = simulation.simulate_real

    def planted_run(*args: Any, **kwargs: Any) -> Any:
        return original(*args, breaker_factory=planted.worker_1_on_another_prefix, **kwargs)

    monkeypatch.setattr(simulation, "simulate_real", planted_run)
    argv = ["simulate", "--scenario", str(path), "--real", "--wall-seconds", "1.5"]
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert "worker agreement: " in out
    assert " disagreements in " in out
    assert "workers disagreed on " in err


#: A panic the feeder trips at 3 minutes, by hand: a start written at simulated second 180.
WINDOW_AT_THREE = """
name = "window-at-three"
duration_minutes = 8
workers = 2
rps = 4
normal_ttl = 20
panic_windows = [[3, 7]]

[[contexts]]
league = "Ligue 1"
share = 1
"""


def test_a_stalled_worker_neither_rewrites_the_start_nor_disagrees(
    tmp_path: Path, real_redis: redis.Redis, importable_tests: None
) -> None:
    """A worker descheduled past a trip wakes with a start in its future: no repair, no failure.

    At 240 simulated seconds per wall second, the 0.6 s stall between fixing
    its second (100) and reading Redis makes worker 1 read the start of 180,
    80 s in its future: past the breaker's default max_clock_skew, it used to
    "repair" the start with its own time, and the run failed.
    """
    from panicquota.simulation import load_scenario

    path = tmp_path / "window.toml"
    path.write_text(WINDOW_AT_THREE, encoding="utf-8")
    scenario = load_scenario(path)
    report = simulate_real(scenario, wall_seconds=2.0, breaker_factory=planted.worker_1_stalls_once)
    assert report.disagreements == ()
    assert report.worker_agreement == 1.0
    assert report.breaker_repairs == 0
    assert report.dropped_checkpoints is not None
    assert report.dropped_checkpoints >= 1  # the stalled checkpoint is not that second's decision
    assert report.series.tier["Ligue 1"][200] > 0


def test_a_stalled_worker_keeps_the_start_with_the_default_skew(
    tmp_path: Path, real_redis: redis.Redis, importable_tests: None
) -> None:
    """With the default one-minute max_clock_skew too, its own clock never rewrites the start."""
    from panicquota.simulation import load_scenario

    path = tmp_path / "window.toml"
    path.write_text(WINDOW_AT_THREE, encoding="utf-8")
    factory = planted.worker_1_stalls_once_with_the_default_skew
    report = simulate_real(load_scenario(path), wall_seconds=2.0, breaker_factory=factory)
    assert report.breaker_repairs == 0
    assert report.disagreements == ()


def test_a_worker_rewriting_the_start_is_counted_and_warned_about(
    tmp_path: Path, real_redis: redis.Redis, importable_tests: None
) -> None:
    """A worker's repair of an unreadable start is counted and warned about in the report."""
    from panicquota.simulation import load_scenario

    path = tmp_path / "window.toml"
    path.write_text(WINDOW_AT_THREE, encoding="utf-8")
    factory = planted.worker_1_corrupts_the_start_once
    report = simulate_real(load_scenario(path), wall_seconds=2.0, breaker_factory=factory)
    assert report.breaker_repairs is not None
    assert report.breaker_repairs >= 1
    assert any("rewrote the stored panic start" in warning for warning in report.warnings)
    assert report.as_dict()["breaker_repairs"] == report.breaker_repairs


def test_redis_failing_mid_run_is_one_line_and_its_own_exit_status(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    real_redis: redis.Redis,
) -> None:
    """A trip that cannot reach Redis ends the run with exit 3 and one line; the sweep goes on."""
    from panicquota.breaker import StoreUnavailableError, VIXCircuitBreaker

    def unavailable(self: Any) -> None:
        raise StoreUnavailableError("planted: Redis is down")

    scan_iter = redis.Redis.scan_iter
    sweeps: list[str] = []

    def sweep_fails(self: Any, match: str | None = None, **kwargs: Any) -> Any:
        if match is not None and match.endswith(":vix:panic:*"):  # the feeder's sweep only
            sweeps.append(match)
            raise redis.ConnectionError("planted: connection refused")
        return scan_iter(self, match=match, **kwargs)

    # The parent only: spawned workers import the real methods.
    monkeypatch.setattr(VIXCircuitBreaker, "trip", unavailable)
    monkeypatch.setattr(redis.Redis, "scan_iter", sweep_fails)
    path = tmp_path / "window.toml"
    path.write_text(WINDOW_AT_THREE, encoding="utf-8")
    argv = ["simulate", "--scenario", str(path), "--real", "--wall-seconds", "1", "--quiet"]
    assert main(argv) == 3
    out, err = capsys.readouterr()
    assert out == ""
    line = err.splitlines()[-1]
    assert line.startswith("panicquota simulate: error: Redis at redis://127.0.0.1:6379/0 ")
    assert "failed during the run, at simulated second 180: planted: Redis is down" in line
    assert "Traceback" not in err
    assert sweeps  # the sweep failed, was logged, and the run went on to the trip
    assert "could not put the backstop expiry" in err
    prefix = sweeps[0].removesuffix(":vix:panic:*")
    assert run_keys(real_redis, prefix) == []


def test_unreachable_redis() -> None:
    """A server that is not there is reported with the URL and what to do."""
    with pytest.raises(RealModeError, match=r"^cannot reach Redis at 'redis://127\.0\.0\.1:1/0' "):
        simulate_real(
            Scenario("x", "", 10, volatility=((0, 1),)), redis_url="redis://127.0.0.1:1/0"
        )


def test_bad_url() -> None:
    """A URL redis-py cannot parse is named as such."""
    with pytest.raises(RealModeError, match=r"^not a Redis URL: 'http://x' "):
        simulate_real(Scenario("x", "", 10, volatility=((0, 1),)), redis_url="http://x")


def test_bad_wall_seconds() -> None:
    """A wall time that is not a positive finite number is refused before anything starts."""
    with pytest.raises(RealModeError, match=r"^wall_seconds must be a finite number > 0, got 0$"):
        simulate_real(Scenario("x", "", 10, volatility=((0, 1),)), wall_seconds=0)


def test_default_wall_time_caps_the_compression(fast_scenario: Scenario) -> None:
    """By default a long scenario gets the wall time that keeps 600 simulated s per wall s."""
    assert default_wall_seconds(fast_scenario) == 10.0
    eight_hours = replace(fast_scenario, duration_seconds=8 * 3600)
    assert default_wall_seconds(eight_hours) == 48.0


START = 1_767_225_660.0  # the start the feeder wrote at simulated second 60
WALL0 = 1_000.0  # the wall time of simulated second 0, at 1 simulated second per wall second
TRIP = StartChange(60, issued_at=1_060.2, written_at=1_060.3, start=START)
NORMAL = (20, 0, None)
FULL = (0, 1, START)


def judge(*workers: list[Any], changes: tuple[StartChange, ...] = (TRIP,)) -> Any:
    """Judge the checkpoints of the given workers on the fast scenario (three contexts)."""
    from panicquota.simulation import scenario_from_mapping

    from .conftest import FAST

    return agreement(
        scenario_from_mapping(FAST),
        workers,
        changes,
        wall0=WALL0,
        speed=1.0,
        max_staleness=0.5,
    )


def test_agreement_counts_identical_checkpoints() -> None:
    """Workers that decided the same from the same start agree, context by context."""
    steady = [(0, 1_000.1, (NORMAL,) * 3), (61, 1_061.1, (FULL,) * 3)]
    verdict = judge(steady, list(steady))
    assert (verdict.points, verdict.agreeing, verdict.excused) == (6, 6, 0)


def test_a_read_around_the_trip_is_excused() -> None:
    """One worker read before the trip reached Redis, one after: excused, not a disagreement."""
    before = [(60, 1_060.25, (NORMAL,) * 3)]  # decided while the trip was being written
    after = [(60, 1_060.9, (FULL,) * 3)]
    verdict = judge(before, after)
    assert (verdict.points, verdict.agreeing, verdict.excused) == (3, 3, 3)


def test_an_old_start_long_after_the_trip_is_a_disagreement() -> None:
    """Reading no panic a second after the trip was written is not staleness: it is a bug."""
    steady = [(61, 1_061.1, (FULL,) * 3)]
    blind = [(61, 1_061.2, (NORMAL,) * 3)]  # another prefix, or a broken read
    verdict = judge(steady, blind)
    assert (verdict.points, verdict.agreeing, verdict.excused) == (3, 0, 0)
    assert verdict.disagreements[0].second == 61
    assert verdict.disagreements[0].decisions == ((0, "PANIC_FULL", 1), (20, "NORMAL", 0))


def test_a_start_never_written_is_a_disagreement() -> None:
    """A start the feeder never wrote is caught even right at a change."""
    shifted = [(60, 1_060.9, ((0, 1, START + 90),) * 3)]
    verdict = judge([(60, 1_060.9, (FULL,) * 3)], shifted)
    assert (verdict.agreeing, verdict.excused) == (0, 0)


def test_the_same_start_must_give_the_same_decision() -> None:
    """Two workers with one start and one instant deciding differently always disagree."""
    partial = [(60, 1_060.9, ((5, 2, START),) * 3)]
    reading_before = [(60, 1_060.25, (NORMAL,) * 3)]
    verdict = judge([(60, 1_060.9, (FULL,) * 3)], partial, reading_before)
    assert (verdict.agreeing, verdict.excused) == (0, 0)
    assert len(verdict.disagreements) == 3


def test_a_worker_alone_is_held_against_the_policy() -> None:
    """A second one worker alone checked is not compared, but an impossible decision is caught."""
    tier_4_at_once = ((7, 4, START),) * 3  # tier 4 a second into the panic: never the policy's
    verdict = judge([(61, 1_061.1, (FULL,) * 3)], [(62, 1_062.1, tier_4_at_once)])
    assert (verdict.points, verdict.compared, verdict.agreeing) == (6, 0, 3)
    wrong = verdict.disagreements[0]
    assert (wrong.second, wrong.kind, wrong.workers, wrong.starts) == (
        62,
        DisagreementKind.POLICY,
        (1,),
        (60.0,),
    )
    assert wrong.decisions == ((7, "CHRONIC", 4),)


def test_a_start_in_the_future_counts_as_just_started() -> None:
    """A start read ahead of the worker's second (after a stall) is a panic that just started."""
    ahead = [(50, 1_050.1, (FULL,) * 3)]  # START is second 60: ten seconds ahead
    verdict = judge(ahead, changes=(TRIP,))
    assert (verdict.points, verdict.compared, verdict.agreeing) == (3, 0, 3)


def test_disagreements_kept_are_capped_but_counted() -> None:
    """Past twenty, disagreements are counted but not kept."""
    steady = [(second, 1_000.0 + second + 0.1, (NORMAL,) * 3) for second in range(30)]
    wrong = [(second, 1_000.0 + second + 0.1, ((1, 0, None),) * 3) for second in range(30)]
    verdict = judge(steady, wrong, changes=())
    assert verdict.points - verdict.agreeing == 90
    assert len(verdict.disagreements) == 20


def test_warnings_past_the_limits() -> None:
    """A late trip or reset, or workers checking too few seconds, make the report warn."""
    assert _warnings(FEEDER_LAG_LIMIT, [CHECKED_SHARE_LIMIT, 1.0]) == ()
    lag, checked = _warnings(27.4, [0.46, 0.93])
    assert lag.startswith("the feeder wrote a trip or reset up to 27 simulated seconds late ")
    assert checked.startswith("the workers checked only 46% to 93% of the simulated seconds ")
    assert "--wall-seconds" in lag
    assert "--wall-seconds" in checked


def test_a_worker_failing_at_start_is_reported(
    fast_scenario: Scenario, real_redis: redis.Redis, importable_tests: None
) -> None:
    """A worker that fails before the start surfaces with its traceback; no key is left."""
    announced: list[str] = []
    with pytest.raises(RealModeError) as excinfo:
        simulate_real(
            fast_scenario.with_overrides(workers=2),
            wall_seconds=1.0,
            breaker_factory=planted.worker_1_fails,
            on_start=announced.append,
        )
    message = str(excinfo.value)
    assert message.startswith("worker 1 failed:\nTraceback (most recent call last):\n")
    assert message.endswith("RuntimeError: planted: worker 1 cannot build its breaker\n")
    assert run_keys(real_redis, announced[0]) == []


def test_a_failed_cleanup_does_not_hide_the_failure(
    fast_scenario: Scenario,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    importable_tests: None,
) -> None:
    """When Redis fails in the cleanup too, the run's own error is raised and the rest logged."""
    monkeypatch.setattr(_real_keys, "delete_keys", _lost_connection)
    with pytest.raises(RealModeError, match=r"^worker 1 failed:"):
        simulate_real(
            fast_scenario.with_overrides(workers=2),
            wall_seconds=1.0,
            breaker_factory=planted.worker_1_fails,
        )
    (record,) = [r for r in caplog.records if r.name == "panicquota.simulation"]
    assert record.levelno == logging.ERROR
    assert "could not delete the run's keys panicquota:sim:" in record.getMessage()
    assert "(Connection lost); they expire within " in record.getMessage()


def _lost_connection(admin: Any, base: str) -> None:
    raise redis.ConnectionError("Connection lost")


def test_a_failed_cleanup_after_a_good_run_is_a_warning(real_redis: redis.Redis) -> None:
    """A cleanup that fails after a good run is returned as a warning (and logged), not raised."""

    class Unreachable:
        def scan_iter(self, **kwargs: Any) -> Iterator[bytes]:
            raise redis.ConnectionError("Connection refused")

    message = delete_keys_or_log(Unreachable(), "panicquota:sim:x", "redis://h", 420)
    assert message == (
        "could not delete the run's keys panicquota:sim:x:* on redis://h (Connection refused); "
        "they expire within 420 s"
    )


@dataclass
class FakeControl:
    """The one part of the workers' control that collecting reads."""

    results: Any


@dataclass
class FakeProcess:
    """A process as collecting sees it."""

    exitcode: int | None = None


def test_a_failed_worker_is_reported_with_its_traceback() -> None:
    """A worker that fails mid-run makes the run fail with the worker's traceback."""
    results: queue.Queue[object] = queue.Queue()
    results.put((1, "Traceback ...\nRuntimeError: boom\n"))
    with pytest.raises(RealModeError) as excinfo:
        collect(FakeControl(results), [FakeProcess(), FakeProcess()], timeout=1)
    assert str(excinfo.value) == "worker 1 failed:\nTraceback ...\nRuntimeError: boom\n"


def test_silent_workers_time_out() -> None:
    """Workers that never report make the run fail, saying how many did."""
    results: queue.Queue[object] = queue.Queue()
    results.put(WorkerResult(0, 0.0, 0, 0, []))
    with pytest.raises(RealModeError) as excinfo:
        collect(FakeControl(results), [FakeProcess(), FakeProcess()], timeout=0.3)
    assert str(excinfo.value) == "only 1 of 2 workers reported within 0.3 s"


def test_a_worker_that_died_is_reported_at_once() -> None:
    """A worker that exited without reporting fails the run without waiting for the timeout."""
    started = time.monotonic()
    with pytest.raises(RealModeError) as excinfo:
        collect(FakeControl(queue.Queue()), [FakeProcess(), FakeProcess(-9)], timeout=60)
    assert str(excinfo.value) == "worker 1 exited with status -9 without reporting"
    assert time.monotonic() - started < 5


def test_only_the_run_keys_are_deleted(real_redis: redis.Redis) -> None:
    """Cleaning up deletes every key under the run's base, in batches, and nothing else."""
    base = f"panicquota:sim:test-{uuid.uuid4().hex}"
    neighbour = f"{base}-neighbour"
    real_redis.mset({f"{base}:key:{i}": i for i in range(1200)} | {neighbour: 1})
    try:
        delete_keys(real_redis, base)
        assert run_keys(real_redis, base) == []
        assert real_redis.get(neighbour) == b"1"
    finally:
        real_redis.delete(neighbour)


# -- a real command, stopped from outside -------------------------------------


def children(pid: int) -> set[int]:
    """Return the processes whose parent is *pid* (Linux /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    """Return whether *pid* runs (a zombie waiting to be reaped does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll *condition* until it holds; fail naming *what* after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout:g} s")
        time.sleep(0.1)


@pytest.fixture
def long_run(tmp_path: Path, real_redis: redis.Redis) -> Iterator[Callable[..., Any]]:
    """Start `simulate --real` on a long panic; return (process, key base, worker pids)."""
    path = tmp_path / "long.toml"
    path.write_text(LONG_PANIC, encoding="utf-8")
    started: list[tuple[subprocess.Popen[str], str]] = []

    def start(**popen: Any) -> tuple[subprocess.Popen[str], str, set[int]]:
        argv = ["simulate", "--scenario", str(path), "--real", "--wall-seconds", "60"]
        process = subprocess.Popen(
            [sys.executable, "-m", "panicquota", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **popen,
        )
        assert process.stderr is not None
        announce = process.stderr.readline()
        assert announce.startswith("panicquota simulate: 2 processes against redis://"), announce
        base = announce.split("keys under ")[1].split(":*")[0]
        started.append((process, base))
        wait_until(lambda: bool(run_keys(real_redis, base)), 30, "the panic reaching Redis")
        workers = children(process.pid)
        assert len(workers) >= 2  # the workers, and multiprocessing's resource tracker
        return process, base, workers

    yield start
    for process, base in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)
        for key in run_keys(real_redis, base):  # a failed test must not leak either
            real_redis.delete(key)


@pytest.mark.parametrize(
    ("signum", "code", "last_line"),
    [
        pytest.param(signal.SIGTERM, 143, None, id="SIGTERM"),
        pytest.param(signal.SIGINT, 130, "panicquota simulate: interrupted", id="Ctrl-C"),
    ],
)
def test_a_stopped_run_leaves_no_key_and_no_process(
    long_run: Callable[..., Any],
    real_redis: redis.Redis,
    signum: int,
    code: int,
    last_line: str | None,
) -> None:
    """SIGTERM, or Ctrl-C to the whole process group, stops the run cleanly and quietly."""
    process, base, workers = long_run(start_new_session=True)
    if signum == signal.SIGINT:
        os.killpg(process.pid, signum)  # what a terminal does: every process of the group
    else:
        process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert out == ""
    assert process.returncode == code
    assert "Traceback" not in err
    assert err.splitlines()[-1:] == ([] if last_line is None else [last_line])
    assert run_keys(real_redis, base) == []
    wait_until(lambda: not any(map(alive, workers)), 10, "every worker exiting")


def test_workers_outlive_no_killed_parent_and_keys_expire(
    long_run: Callable[..., Any], real_redis: redis.Redis
) -> None:
    """After SIGKILL of the parent the workers exit by themselves and every key expires."""
    process, base, workers = long_run()
    backstop = math.ceil(60 + real.STARTUP_SECONDS + real._BACKSTOP_MARGIN_SECONDS)

    def every_key_expires() -> bool:
        ttls = [real_redis.ttl(key) for key in run_keys(real_redis, base)]
        return bool(ttls) and all(0 < ttl <= backstop for ttl in ttls)

    wait_until(every_key_expires, 10, "the backstop expiry on every key")
    process.kill()
    process.communicate(timeout=30)
    wait_until(lambda: not any(map(alive, workers)), 10, "every worker exiting")
    assert every_key_expires()


def test_the_terminal_shows_the_timeline_and_warnings(fast_scenario: Scenario) -> None:
    """A real run's report says how faithful its timeline was, and warns in full sentences."""
    import io

    from panicquota.simulation import SimulationMode, print_report, simulate

    report = replace(
        simulate(replace(fast_scenario, duration_seconds=60)),
        mode=SimulationMode.REAL,
        redis_url=DEFAULT_REDIS_URL,
        key_prefix="panicquota:sim:abc:vix:panic",
        excused_points=2,
        compression=3060.0,
        feeder_max_lag_seconds=161.5,
        feeder_change_lag_seconds=27.4,
        worker_checked_shares=(0.46, 0.93, 0.5),
        compared_points=150,
        keys_deleted=False,
        warnings=_warnings(27.4, [0.46, 0.93, 0.5], repairs=2),
    )
    stream = io.StringIO()
    print_report(report, file=stream)
    out = stream.getvalue()
    assert (
        "worker agreement: 100% (all 180 decision points agree, 150 of them compared between "
        "workers, all held against the policy; 2 of them from different starts read within the "
        "staleness bound of a trip or reset)\n"
    ) in out
    assert "(keys panicquota:sim:abc:vix:panic*)\n" in out  # not deleted: not said so
    assert "\nwarning: the workers' breakers rewrote the stored panic start 2 times " in out
    assert (
        "timeline at 3,060 simulated seconds per wall second: readings fed up to 161.5 s late, "
        "trips and resets up to 27.4 s late; the workers checked 46% to 93% of the simulated "
        "seconds\n"
    ) in out
    assert "\nwarning: the feeder wrote a trip or reset up to 27 simulated seconds late " in out
    assert "\nwarning: the workers checked only 46% to 93% of the simulated seconds " in out


def test_sigterm_exits_during_the_run_only() -> None:
    """During a run SIGTERM raises SystemExit(143); afterwards the previous handler is back."""

    def previous(signum: int, frame: object) -> None:
        """Stand for an application's own handler."""

    before = signal.signal(signal.SIGTERM, previous)
    try:
        with (
            pytest.raises(SystemExit) as excinfo,
            _real_signals.signal_handled(signal.SIGTERM, _real_signals.exit_on_sigterm),
        ):
            terminate_and_wait()
        assert excinfo.value.code == 143
        assert signal.getsignal(signal.SIGTERM) is previous
    finally:
        signal.signal(signal.SIGTERM, before)


def terminate_and_wait() -> None:
    """Send this process SIGTERM and wait for the handler to interrupt the wait."""
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)


def test_a_real_disagreement_names_the_workers_and_their_starts() -> None:
    """The terminal names each worker, what it decided and from which start."""
    from panicquota.simulation._render import _disagreement_line
    from panicquota.simulation._report import Disagreement
    from panicquota.tiers import PanicMode

    line = _disagreement_line(
        Disagreement(
            62,
            "Ligue 1",
            ((7, PanicMode.CHRONIC, 4), (20, PanicMode.NORMAL, 0)),
            kind=DisagreementKind.POLICY,
            workers=(0, 2),
            starts=(60.0, None),
        )
    )
    assert line == (
        "at 1m 02s, Ligue 1: not what the policy gives: worker 0 CHRONIC ttl 7 from a start at "
        "60 s, worker 2 NORMAL ttl 20 from no panic"
    )
