"""The wall-clock ratio gate of ``benchmarks/conftest.py``, run by the real pytest.

The gate judges a benchmark on a paired measurement (it and its control timed
in alternating blocks), not on two medians taken apart: a burst of load that
lands on one benchmark only must not fail CI, and a real regression must.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = (
    "-p",
    "no:cacheprovider",
    "-p",
    "no:xdist",
    "--benchmark-min-rounds=5",
    "--benchmark-max-time=0.05",
)

BENCHMARKS = """
import pytest

busy = {{"burst": False}}


def control():
    total = 0
    for i in range(300):
        total += i
    return total


def subject():
    # A burst of load while pytest-benchmark measures, when ``burst`` is set.
    for _ in range(60 if busy["burst"] else {work}):
        control()


@pytest.mark.benchmark(group="g")
def test_control(measured):
    measured(control)


@pytest.mark.benchmark(group="g")
@pytest.mark.ratio_budget(control="test_control", max_ratio=5)
def test_subject(measured):
    busy["burst"] = {burst}
    measured(subject)
    busy["burst"] = False
    measured.against(control)
"""


@pytest.fixture(autouse=True)
def _not_an_xdist_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    # pytest-benchmark turns itself off in a process that says it is an xdist
    # worker, which the inner pytest would when this suite runs under -n.
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)


def _run(pytester: pytest.Pytester, *, work: int, burst: bool) -> tuple[pytest.RunResult, str]:
    pytester.makeconftest((ROOT / "benchmarks" / "conftest.py").read_text())
    pytester.makepyfile(test_speed=BENCHMARKS.format(work=work, burst=burst))
    result = pytester.runpytest_subprocess(*OPTIONS)
    rows = [
        line
        for line in result.outlines
        if line.startswith("test_subject ") and line.endswith(("ok", "OVER BUDGET"))
    ]
    assert len(rows) == 1, result.outlines
    return result, rows[0]


def _ratios(row: str) -> tuple[float, float]:
    paired, medians = (float(x) for x in re.findall(r"([\d.]+)x", row)[:2])
    return paired, medians


def test_a_subject_20x_its_control_fails_a_5x_budget(pytester: pytest.Pytester) -> None:
    result, row = _run(pytester, work=20, burst=False)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert row.endswith("OVER BUDGET")
    paired, _ = _ratios(row)
    assert 12 < paired < 40  # 20 control calls, plus a loop


def test_a_subject_2x_its_control_passes(pytester: pytest.Pytester) -> None:
    result, row = _run(pytester, work=2, burst=False)
    assert result.ret == pytest.ExitCode.OK
    assert row.endswith(" ok")
    paired, _ = _ratios(row)
    assert 1.5 < paired < 4


def test_load_on_the_benchmark_alone_moves_the_medians_not_the_gate(
    pytester: pytest.Pytester,
) -> None:
    """Medians taken apart say 60x (over budget); the paired ratio says 2x, and judges."""
    result, row = _run(pytester, work=2, burst=True)
    paired, medians = _ratios(row)
    assert medians > 5
    assert paired < 4
    assert result.ret == pytest.ExitCode.OK
    assert row.endswith(" ok")


def test_a_gated_benchmark_that_never_measures_its_control_fails(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest((ROOT / "benchmarks" / "conftest.py").read_text())
    pytester.makepyfile(
        test_speed="""
        import pytest

        @pytest.mark.ratio_budget(control="test_control", max_ratio=5)
        def test_subject(measured):
            measured(sum, range(10))
        """
    )
    result = pytester.runpytest_subprocess(*OPTIONS)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*test_subject has a ratio_budget but never called measured.against(): "
            "the gate has nothing to judge*"
        ]
    )


def test_against_before_measuring_is_an_error(pytester: pytest.Pytester) -> None:
    pytester.makeconftest((ROOT / "benchmarks" / "conftest.py").read_text())
    pytester.makepyfile(
        test_speed="""
        def test_subject(measured):
            measured.against(sum, range(10))
        """
    )
    result = pytester.runpytest_subprocess(*OPTIONS)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*RuntimeError: measured.against() before measured(): nothing to compare*"]
    )
