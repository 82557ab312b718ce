"""Ratio gates: each benchmark is judged against a control measured in the same run.

This machine (and every CI machine) is shared and noisy, so absolute times
mean little. A benchmark marked ``ratio_budget(control=..., max_ratio=...)``
fails the run when its median exceeds ``max_ratio`` times the median of the
control benchmark measured in the same session. The table of ratios is
printed at the end of the run either way.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass
class _Measure:
    median: float
    control: str | None = None
    max_ratio: float | None = None


_MEASURES: dict[str, _Measure] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "ratio_budget(control, max_ratio): fail when this benchmark's median exceeds "
        "max_ratio x the median of the benchmark named control, measured in the same run",
    )


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
def measured(request: pytest.FixtureRequest, benchmark: Any) -> Any:
    """Yield the benchmark fixture; record its median for the ratio gates afterwards."""
    yield benchmark
    stats = getattr(benchmark, "stats", None)
    if stats is None:  # --benchmark-disable: nothing was measured
        return
    marker = request.node.get_closest_marker("ratio_budget")
    measure = _Measure(stats.stats.median)
    if marker is not None:
        measure.control = marker.kwargs["control"]
        measure.max_ratio = marker.kwargs["max_ratio"]
    _MEASURES[request.node.name] = measure


def _verdicts() -> list[tuple[str, float, float, bool]]:
    rows = []
    for name, measure in _MEASURES.items():
        if measure.control is None or measure.max_ratio is None:
            continue
        control = _MEASURES.get(measure.control)
        if control is None:
            continue
        ratio = measure.median / control.median
        rows.append((name, ratio, measure.max_ratio, ratio <= measure.max_ratio))
    return rows


def pytest_terminal_summary(terminalreporter: Any) -> None:
    rows = _verdicts()
    if not rows:
        return
    terminalreporter.section("ratios to the control measured in this run (median)")
    for name, ratio, budget, ok in rows:
        verdict = "ok" if ok else "OVER BUDGET"
        terminalreporter.write_line(f"{name:<60} {ratio:8.3g}x  (budget {budget:.3g}x)  {verdict}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    if any(not ok for *_, ok in _verdicts()) and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
