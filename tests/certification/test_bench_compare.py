"""``panicquota bench-compare`` on real pytest-benchmark JSON files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from panicquota.cli import main
from panicquota.cli._bench import load_run
from panicquota.errors import ConfigError

#: bench-compare has no default control: the one of these test runs is named.
COMPARE = ("bench-compare", "--control", "test_empty_call")

BENCH = """
import os

import pytest

from panicquota import AdaptivePanicQuota

QUOTA = AdaptivePanicQuota()
#: How many decisions one measured call makes: 1, or more to plant a regression.
REPEAT = int(os.environ.get("BENCH_REPEAT", "1"))


def empty_call(normal_ttl, duration, context):
    pass


def decide(normal_ttl, duration, context):
    for _ in range(REPEAT):
        QUOTA.calculate_ttl_strategy(normal_ttl, duration, context)


def test_empty_call(benchmark):
    benchmark(empty_call, 60, 35.0, {"league": "Ligue 1"})


@pytest.mark.parametrize("league", ["Ligue 1", "UCL"], ids=["ligue-1", "ucl"])
def test_decide(benchmark, league):
    benchmark(decide, 60, 35.0, {"league": league})
"""


def _without_xdist(env: Mapping[str, str]) -> dict[str, str]:
    # pytest-benchmark measures nothing in what it takes for an xdist worker.
    return {k: v for k, v in env.items() if not k.startswith("PYTEST_XDIST")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Write a benchmark suite and run it twice: as is, and with a planted 8x slowdown."""
    root = tmp_path_factory.mktemp("bench")
    (root / "benchmarks").mkdir()
    (root / "benchmarks" / "test_policy_speed.py").write_text(BENCH)
    for name, repeat in (("old", "1"), ("slow", "8")):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "benchmarks",
                "-q",
                "-p",
                "no:cacheprovider",
                "-p",
                "no:randomly",
                "--benchmark-min-rounds=20",
                "--benchmark-max-time=0.05",
                f"--benchmark-json={name}.json",
            ],
            cwd=root,
            env={**_without_xdist(os.environ), "BENCH_REPEAT": repeat},
            check=True,
            capture_output=True,
        )
    # The same run as seen from a machine three times slower: every time x3.
    data = json.loads((root / "old.json").read_text())
    for bench in data["benchmarks"]:
        for stat in ("min", "max", "mean", "median"):
            bench["stats"][stat] *= 3
    (root / "slower-machine.json").write_text(json.dumps(data))
    return root


def _compare(runs: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([*COMPARE, *(str(runs / a) if a.endswith(".json") else a for a in args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_no_regression_against_itself(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run compared with itself has no regression and exits 0, with a table."""
    code, out, _ = _compare(runs, capsys, "old.json", "old.json", "--max-regression", "10%")
    assert code == 0
    # Rich would read "[ligue-1]" as markup if the name were not escaped.
    assert "benchmarks/test_policy_speed.py::test_decide[ligue-1]" in out
    assert "+0.0%" in out
    assert "no regression beyond 10% relative to the control" in out


def test_a_slower_machine_is_not_a_regression(
    runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Everything 3x slower (control included) keeps every ratio: exit 0."""
    code, out, _ = _compare(runs, capsys, "old.json", "slower-machine.json")
    assert code == 0
    assert "no regression beyond 10% relative to the control" in out


def test_a_planted_slowdown_is_a_regression(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A benchmark 8x slower relative to its control fails with exit 1 and says which."""
    code, out, _ = _compare(runs, capsys, "old.json", "slow.json", "--max-regression", "10%")
    assert code == 1
    assert "REGRESSION" in out
    assert "2 regression(s) beyond 10%: worst benchmarks/test_policy_speed.py::test_decide[" in out


def test_the_budget_is_respected(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A generous budget lets the same slowdown pass; the control can be named briefly."""
    code, out, _ = _compare(
        runs,
        capsys,
        "old.json",
        "slow.json",
        "--max-regression",
        "5000%",
        "--control",
        "test_empty_call",
    )
    assert code == 0
    assert "no regression beyond 5000% relative to the control" in out


def test_benchmarks_only_in_one_run(
    runs: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A benchmark only in the new run is listed as new, not as a regression."""
    data = json.loads((runs / "old.json").read_text())
    extra = json.loads(json.dumps(data["benchmarks"][-1]))
    extra["fullname"] = "benchmarks/test_policy_speed.py::test_added"
    data["benchmarks"].append(extra)
    (tmp_path / "added.json").write_text(json.dumps(data))
    code = main([*COMPARE, str(runs / "old.json"), str(tmp_path / "added.json")])
    out = capsys.readouterr().out
    assert code == 0
    assert "benchmarks/test_policy_speed.py::test_added" in out
    assert re.search(r"test_added +- +[\d.]+x +- +new$", out, re.MULTILINE), out


def test_a_missing_control_is_an_error(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A control that names no benchmark is a one-line error listing what exists."""
    code, _, err = _compare(runs, capsys, "old.json", "old.json", "--control", "nope")
    assert code == 2
    assert err.startswith(
        f"panicquota bench-compare: error: no benchmark in {str(runs / 'old.json')!r} matches "
        "the control 'nope'; pass --control with one of ['benchmarks/test_policy_speed.py::"
    )


def test_a_file_that_is_not_benchmark_json(
    runs: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A JSON file of another shape is named in a one-line error."""
    other = tmp_path / "other.json"
    other.write_text('{"results": []}')
    assert main([*COMPARE, str(other), str(runs / "old.json")]) == 2
    assert capsys.readouterr().err == (
        f"panicquota bench-compare: error: {str(other)!r} is not pytest-benchmark JSON "
        "(pytest --benchmark-json=PATH): KeyError: 'benchmarks'\n"
    )


def test_a_file_that_is_not_utf8(
    runs: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Bytes that are not UTF-8: a one-line error naming the file, in the CLI and load_run."""
    other = tmp_path / "other.json"
    other.write_bytes(b"\xff\xfe{}")
    assert main([*COMPARE, str(other), str(runs / "old.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"panicquota bench-compare: error: {str(other)!r} is not pytest-benchmark JSON "
        "(pytest --benchmark-json=PATH): UnicodeDecodeError: "
    )
    assert err.count("\n") == 1
    with pytest.raises(ConfigError, match="is not pytest-benchmark JSON"):
        load_run(other)


def test_a_bad_budget_is_a_usage_error(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A budget that is not a percentage is refused by the parser."""
    with pytest.raises(SystemExit) as raised:
        main([*COMPARE, "a.json", "b.json", "--max-regression", "ten"])
    assert raised.value.code == 2
    assert (
        "--max-regression: must be a percentage with its sign, such as 10%, got 'ten'"
        in capsys.readouterr().err
    )


def test_a_budget_without_its_sign_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """0.1 could mean 10% or 0.1%: the sign is required rather than guessed."""
    with pytest.raises(SystemExit):
        main([*COMPARE, "a.json", "b.json", "--max-regression", "0.1"])
    assert "must be a percentage with its sign, such as 10%, got '0.1'" in (capsys.readouterr().err)


def test_a_fractional_budget_is_printed_as_given(
    runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A budget of 0.5% is reported as 0.5%, not rounded to 0%."""
    code, out, _ = _compare(runs, capsys, "old.json", "old.json", "--max-regression", "0.5%")
    assert (code, "no regression beyond 0.5% relative to the control" in out) == (0, True)


def _edited(runs: Path, tmp_path: Path, edit: Callable[[list[dict[str, Any]]], object]) -> str:
    data = json.loads((runs / "old.json").read_text())
    edit(data["benchmarks"])
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data))
    return str(path)


def _named(benchmarks: list[dict[str, Any]], test: str) -> dict[str, Any]:
    return next(b for b in benchmarks if b["name"] == test)


def test_a_benchmark_missing_from_the_new_run_fails_unless_allowed(
    runs: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A renamed benchmark must not hide its regression: missing ones fail, unless allowed."""

    def rename(benchmarks: list[dict[str, Any]]) -> None:
        renamed = _named(benchmarks, "test_decide[ligue-1]")
        renamed["fullname"] = renamed["fullname"].replace("ligue-1", "renamed")
        renamed["stats"]["median"] *= 10

    edited = _edited(runs, tmp_path, rename)
    old = str(runs / "old.json")
    assert main([*COMPARE, old, edited]) == 1
    out = capsys.readouterr().out
    assert "1 benchmark(s) of OLD missing from NEW: " in out
    assert "test_decide[ligue-1] (pass --allow-missing if removed on purpose)" in out
    assert main([*COMPARE, old, edited, "--allow-missing"]) == 0
    assert "no regression beyond 10% relative to the control" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("value", "shown"), [(0.0, "0.0"), (float("nan"), "nan"), (-1e-6, "-1e-06")]
)
def test_a_time_that_is_not_positive_is_refused(
    runs: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, value: float, shown: str
) -> None:
    """A zero or NaN median cannot give a ratio: a one-line error, not a crash or a pass."""

    def spoil(benchmarks: list[dict[str, Any]]) -> None:
        _named(benchmarks, "test_empty_call")["stats"]["median"] = value

    edited = _edited(runs, tmp_path, spoil)
    assert main([*COMPARE, str(runs / "old.json"), edited]) == 2
    assert capsys.readouterr().err == (
        f"panicquota bench-compare: error: {edited!r}: the median of "
        f"'benchmarks/test_policy_speed.py::test_empty_call' is {shown}, "
        "not a positive time: a ratio cannot be taken\n"
    )


def test_a_benchmark_named_twice_is_refused(
    runs: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Two runs merged in one file would make the comparison pick one silently."""
    edited = _edited(runs, tmp_path, lambda benchmarks: benchmarks.append(benchmarks[0]))
    assert main([*COMPARE, edited, str(runs / "old.json")]) == 2
    name = json.loads((runs / "old.json").read_text())["benchmarks"][0]["fullname"]
    assert capsys.readouterr().err == (
        f"panicquota bench-compare: error: {edited!r} holds the benchmark {name!r} twice: "
        "compare one run per file\n"
    )


def test_runs_with_nothing_in_common_are_an_error(
    runs: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A new run holding only the control compares nothing: an error, not a pass."""

    def keep_control(benchmarks: list[dict[str, Any]]) -> None:
        benchmarks[:] = [_named(benchmarks, "test_empty_call")]

    edited = _edited(runs, tmp_path, keep_control)
    assert main([*COMPARE, str(runs / "old.json"), edited, "--allow-missing"]) == 2
    assert "have no benchmark in common besides the control: nothing to compare" in (
        capsys.readouterr().err
    )


def test_a_run_started_inside_the_benchmarks_folder_finds_the_default_control(
    runs: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Full names lose their folder when pytest runs from benchmarks/: the control still matches."""

    def drop_folder(benchmarks: list[dict[str, Any]]) -> None:
        for bench in benchmarks:
            bench["fullname"] = bench["fullname"].removeprefix("benchmarks/")

    edited = _edited(runs, tmp_path, drop_folder)
    assert main([*COMPARE, edited, edited]) == 0
    assert "no regression beyond 10% relative to the control" in capsys.readouterr().out


def test_control_is_required_for_timings(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Timings without --control: a one-line usage error (there is no built-in default)."""
    assert main(["bench-compare", str(runs / "old.json"), str(runs / "slow.json")]) == 2
    assert capsys.readouterr().err == (
        "panicquota bench-compare: error: comparing timings needs --control NAME, the control "
        "benchmark measured in the same runs (e.g. --control test_empty_call)\n"
    )


def test_help_shows_the_default_budgets(capsys: pytest.CaptureFixture[str]) -> None:
    """The --help description shows 3% and 10% as written, not argparse's escaped 3%%."""
    with pytest.raises(SystemExit):
        main(["bench-compare", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "(default 3%). Or" in shown
    assert "(default 10%)." in shown
    assert "%%" not in shown
