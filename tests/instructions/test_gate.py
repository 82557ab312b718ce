"""``panicquota bench-compare`` on counts files: the +3% gate against a baseline."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from panicquota._shared.instructions import (
    Count,
    InstructionCount,
    count,
    environment,
    write_counts,
)
from panicquota.cli import main

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "benchmarks" / "instructions.json"
WORK = """
def work(n):
    total = 0
    for i in range(n):
        total += i
    return total


def base():
    return (2000,)


def plus_5_percent():
    return (2100,)


def plus_2_percent():
    return (2040,)
"""
ABOUT = {"python": "3.11.7", "implementation": "cpython", "machine": "x86_64", "valgrind": "v"}


def _write(path: Path, counts: dict[str, float], about: dict[str, str] = ABOUT) -> str:
    write_counts(
        path, [InstructionCount(n, "m:f", 10, v, v + 500, 500.0) for n, v in counts.items()], about
    )
    return str(path)


def test_a_planted_5_percent_regression_fails_the_gate_and_2_percent_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A function made 5% slower fails the 3% gate, naming it; made 2% slower it passes."""
    (tmp_path / "planted.py").write_text(WORK)
    about = environment()
    files = {}
    for setup in ("base", "plus_5_percent", "plus_2_percent"):
        spec = Count("planted:work", f"planted:{setup}", calls=20, warmup=5, path=(str(tmp_path),))
        files[setup] = tmp_path / f"{setup}.json"
        write_counts(files[setup], [count(spec, "planted.py::work")], about)
    capsys.readouterr()
    assert main(["bench-compare", str(files["base"]), str(files["plus_5_percent"])]) == 1
    last = capsys.readouterr().out.splitlines()[-1]
    found = re.fullmatch(
        r"1 regression\(s\) beyond 3% over the baseline: planted.py::work grew \+(.*)%", last
    )
    assert found is not None, last
    assert 4.5 < float(found[1]) < 5.5
    assert main(["bench-compare", str(files["base"]), str(files["plus_2_percent"])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "no regression beyond 3% over the baseline"
    row = next(line for line in lines if "planted.py::work" in line)
    assert 1.5 < float(re.findall(r"\+(\d\.\d\d)%", row)[0]) < 2.5


@pytest.mark.parametrize(
    ("factor", "code", "last_line"),
    [
        pytest.param(
            1.05, 1, "1 regression(s) beyond 3% over the baseline: {name} grew +5.00%", id="5%"
        ),
        pytest.param(1.02, 0, "no regression beyond 3% over the baseline", id="2%"),
    ],
)
def test_the_committed_baseline_gates_each_benchmark(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], factor: float, code: int, last_line: str
) -> None:
    """The project's committed baseline with one count grown 5% fails, naming it; 2% passes."""
    data = json.loads(BASELINE.read_text())
    planted = data["benchmarks"][0]
    planted["instructions"] = round(planted["instructions"] * factor, 1)
    new = tmp_path / "new.json"
    new.write_text(json.dumps(data))
    assert main(["bench-compare", str(BASELINE), str(new)]) == code
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith(last_line.format(name=planted["name"])[:70])


def test_the_table_shows_each_count_and_missing_ones_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each count appears old and new; a count missing from NEW fails unless allowed."""
    old = _write(tmp_path / "old.json", {"a": 1000.0, "gone": 50.0})
    new = _write(tmp_path / "new.json", {"a": 1029.0, "fresh": 70.0})
    assert main(["bench-compare", old, new]) == 1
    out = capsys.readouterr().out
    assert "1 benchmark(s) of OLD missing from NEW: gone (pass --allow-missing" in out
    for row in ("a ", "1,000.0", "1,029.0", "+2.90%", "ok", "gone", "fresh", "new"):
        assert row in out
    assert main(["bench-compare", old, new, "--allow-missing"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "no regression beyond 3% over the baseline"
    assert main(["bench-compare", old, new, "--allow-missing", "--max-regression", "2%"]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "1 regression(s) beyond 2% over the baseline: a grew +2.90%"


def test_counts_of_another_interpreter_are_not_compared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Counts taken on another Python are refused, saying how to take the baseline again."""
    old = _write(tmp_path / "old.json", {"a": 1000.0})
    new = _write(tmp_path / "new.json", {"a": 1000.0}, {**ABOUT, "python": "3.12.1"})
    assert main(["bench-compare", old, new]) == 2
    assert capsys.readouterr().err == (
        f"panicquota bench-compare: error: {old!r} and {new!r} were counted on different "
        "interpreters (python '3.11.7' vs '3.12.1'): counts are comparable only on one; take "
        "the baseline again where the gate runs (pytest --panicquota-instructions=OLD.json)\n"
    )


def test_counts_are_not_compared_with_timings_or_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A counts file against a timings file, or against disjoint counts, is refused."""
    counts = _write(tmp_path / "counts.json", {"a": 1000.0})
    other = _write(tmp_path / "other.json", {"b": 1000.0})
    timings = tmp_path / "timings.json"
    timings.write_text('{"benchmarks": []}')
    assert main(["bench-compare", counts, str(timings)]) == 2
    assert capsys.readouterr().err == (
        f"panicquota bench-compare: error: {counts!r} holds counted instructions and "
        f"{str(timings)!r} pytest-benchmark timings: compare two files of one kind\n"
    )
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    assert main(["bench-compare", counts, str(empty)]) == 2
    assert capsys.readouterr().err == (
        f"panicquota bench-compare: error: {counts!r} holds counted instructions and "
        f"{str(empty)!r} neither counted instructions nor pytest-benchmark timings: compare "
        "two files of one kind\n"
    )
    assert main(["bench-compare", counts, other]) == 2
    assert capsys.readouterr().err == (
        f"panicquota bench-compare: error: {counts!r} and {other!r} have no benchmark in "
        "common: nothing to compare\n"
    )


def test_the_committed_baseline_covers_the_benchmarks() -> None:
    """The committed baseline holds a count for every counted benchmark of this project."""
    names = {b["name"].split("::")[-1] for b in json.loads(BASELINE.read_text())["benchmarks"]}
    assert {
        "test_cache_hit",
        "test_classify_known_context",
        "test_get_ttl_snapshot_panic",
        "test_policy[tier2-mapping]",
        "test_simulator_second",
    } <= names


def test_a_counts_file_that_was_never_written_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing counted writes no file: the error says which file and why it may be missing."""
    counts = _write(tmp_path / "counts.json", {"a": 1000.0})
    missing = str(tmp_path / "none.json")
    assert main(["bench-compare", counts, missing]) == 2
    assert capsys.readouterr().err == (
        f"panicquota bench-compare: error: cannot read {missing!r}: No such file or directory "
        "(pytest --panicquota-instructions=PATH writes it only when a benchmark was counted; "
        "pytest --benchmark-json=PATH for timings)\n"
    )


def test_the_gate_runs_without_the_cli_extra(tmp_path: Path) -> None:
    """bench-compare prints plain text: a project with only pytest and panicquota can gate."""
    import subprocess
    import sys

    old = _write(tmp_path / "old.json", {"tests/test_perf.py::test_score": 1000.0})
    new = _write(tmp_path / "new.json", {"tests/test_perf.py::test_score": 1100.0})
    # rich made unimportable, as in an environment without the cli extra.
    (tmp_path / "rich.py").write_text("raise ModuleNotFoundError(name='rich')\n")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; "
            f"sys.path.insert(0, {str(tmp_path)!r}); from panicquota.cli import main; "
            "sys.exit(main(sys.argv[1:]))",
            "bench-compare",
            old,
            new,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        "instructions per call, net of an empty call (valgrind)",
        "benchmark                           old      new   change  verdict",
        "------------------------------  -------  -------  -------  ----------",
        "tests/test_perf.py::test_score  1,000.0  1,100.0  +10.00%  REGRESSION",
        "1 regression(s) beyond 3% over the baseline: tests/test_perf.py::test_score grew +10.00%",
    ]
