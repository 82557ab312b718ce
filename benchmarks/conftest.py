"""Ratio gates: each benchmark is judged against its control, interleaved in the same test.

This machine (and every CI machine) is shared and noisy, so absolute times
mean little, and so do two medians taken a minute apart: a neighbour's load
that lands on one benchmark and not on its control moves their ratio by
50% (seen in CI: a policy call at 16x the empty call by medians, 11.6x by
minima, in the same run).

So a benchmark marked ``ratio_budget(control=..., max_ratio=...)`` is judged
on a *paired* measurement: after pytest-benchmark has measured it, the test
calls ``measured.against(control_function, *args)``, which times the
benchmark and its control in alternating blocks of a few milliseconds
(:func:`paired_ratio`), so load lands on both members of a pair alike; the
gate is the median of the pairs' ratios. The table printed at the end of the
run shows that ratio next to the ratio of pytest-benchmark's medians (the
control's own benchmark, named by ``control``), which is informational.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

#: Alternating blocks per gate: an odd count, so the median is one pair's ratio.
PAIRS = 31
#: How long one block runs: long against the timer's resolution, short against
#: the bursts of load that move separate medians.
BLOCK_SECONDS = 0.01


@dataclass
class _Measure:
    median: float
    control: str | None = None
    max_ratio: float | None = None
    paired: float | None = None


_MEASURES: dict[str, _Measure] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "ratio_budget(control, max_ratio): fail when this benchmark, timed in alternation with "
        "its control (measured.against), takes more than max_ratio x the control; control names "
        "the control's own benchmark, for the printed ratio of medians",
    )


def _loops_per_block(function: Callable[..., Any], args: tuple[Any, ...]) -> int:
    """How many calls of ``function`` fill one block (at least one)."""
    loops = 1
    while True:
        started = time.perf_counter()
        for _ in range(loops):
            function(*args)
        elapsed = time.perf_counter() - started
        if elapsed >= BLOCK_SECONDS / 4 or loops >= 1 << 24:
            return max(1, round(loops * BLOCK_SECONDS / max(elapsed, 1e-9)))
        loops *= 4


def _per_call(function: Callable[..., Any], args: tuple[Any, ...], loops: int) -> float:
    # pytest-benchmark's runner loop, kwargs included: the ratios then mean what
    # its medians mean (the control's time is that loop's cost of one call).
    kwargs: dict[str, Any] = {}
    started = time.perf_counter()
    for _ in range(loops):
        function(*args, **kwargs)
    return (time.perf_counter() - started) / loops


def paired_ratio(
    subject: Callable[..., Any],
    subject_args: tuple[Any, ...],
    control: Callable[..., Any],
    control_args: tuple[Any, ...],
) -> float:
    """The median, over :data:`PAIRS` adjacent pairs of blocks, of subject time / control time.

    The order inside a pair alternates, so neither side always runs first
    (on a warm cache, or right after the other's garbage).
    """
    subject_loops = _loops_per_block(subject, subject_args)
    control_loops = _loops_per_block(control, control_args)
    ratios = []
    for pair in range(PAIRS):
        if pair % 2:
            control_time = _per_call(control, control_args, control_loops)
            subject_time = _per_call(subject, subject_args, subject_loops)
        else:
            subject_time = _per_call(subject, subject_args, subject_loops)
            control_time = _per_call(control, control_args, control_loops)
        ratios.append(subject_time / control_time)
    return statistics.median(ratios)


class Measured:
    """pytest-benchmark's fixture, remembering what it measured for the paired gate."""

    def __init__(self, benchmark: Any) -> None:
        self._benchmark = benchmark
        self._subject: tuple[Callable[..., Any], tuple[Any, ...]] | None = None
        self.paired: float | None = None

    def __call__(self, function: Callable[..., Any], *args: Any) -> Any:
        self._subject = (function, args)
        return self._benchmark(function, *args)

    def against(self, control: Callable[..., Any], *args: Any) -> float | None:
        """Time the benchmarked call in alternation with ``control(*args)``; return the ratio."""
        if self._subject is None:
            raise RuntimeError("measured.against() before measured(): nothing to compare")
        if getattr(self._benchmark, "disabled", False):
            return None  # --benchmark-disable: the tests run once, nothing is timed
        function, subject_args = self._subject
        self.paired = paired_ratio(function, subject_args, control, args)
        return self.paired

    @property
    def stats(self) -> Any:
        return getattr(self._benchmark, "stats", None)


@pytest.fixture(scope="module")
def redis_client(real_redis_url: str) -> Iterator[Any]:
    """The real local Redis, with timeouts long enough for a loaded machine."""
    from panicquota.breaker import connect

    client = connect(real_redis_url, socket_timeout=5)
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client: Any) -> Iterator[str]:
    """A unique, hash-tagged key prefix; every key under it is deleted afterwards."""
    name = f"{{pqbench:{uuid.uuid4().hex}}}"
    yield name
    keys = list(redis_client.scan_iter(match=f"{name}*"))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture
def measured(request: pytest.FixtureRequest, benchmark: Any) -> Iterator[Measured]:
    """pytest-benchmark's fixture; its median and paired ratio are recorded for the gates."""
    marker = request.node.get_closest_marker("ratio_budget")
    wrapper = Measured(benchmark)
    yield wrapper
    stats = wrapper.stats
    if stats is None:  # --benchmark-disable: nothing was measured
        return
    measure = _Measure(stats.stats.median)
    if marker is not None:
        if wrapper.paired is None:
            pytest.fail(
                f"{request.node.name} has a ratio_budget but never called measured.against(): "
                "the gate has nothing to judge"
            )
        measure.control = marker.kwargs["control"]
        measure.max_ratio = marker.kwargs["max_ratio"]
        measure.paired = wrapper.paired
    _MEASURES[request.node.name] = measure


@dataclass
class _Verdict:
    name: str
    paired: float
    of_medians: float | None
    budget: float

    @property
    def ok(self) -> bool:
        return self.paired <= self.budget


def _verdicts() -> list[_Verdict]:
    rows = []
    for name, measure in _MEASURES.items():
        if measure.paired is None or measure.max_ratio is None:
            continue
        control = _MEASURES.get(measure.control or "")
        of_medians = measure.median / control.median if control is not None else None
        rows.append(_Verdict(name, measure.paired, of_medians, measure.max_ratio))
    return rows


def pytest_terminal_summary(terminalreporter: Any) -> None:
    rows = _verdicts()
    if not rows:
        return
    terminalreporter.section("ratios to the control measured in this run")
    terminalreporter.write_line(
        f"{'benchmark':<52} {'paired':>8}  {'medians':>8}  {'budget':>7}  (gate: paired)"
    )
    for row in rows:
        medians = f"{row.of_medians:7.3g}x" if row.of_medians is not None else "       -"
        verdict = "ok" if row.ok else "OVER BUDGET"
        terminalreporter.write_line(
            f"{row.name:<52} {row.paired:7.3g}x  {medians}  {row.budget:6.3g}x  {verdict}"
        )


def pytest_sessionfinish(session: pytest.Session) -> None:
    if any(not row.ok for row in _verdicts()) and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
