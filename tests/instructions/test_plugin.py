"""The ``panic_instructions`` marker and ``--panicquota-instructions`` in a pytester suite."""

from __future__ import annotations

import json
import os

import pytest

PRICING = """
def quote(amount, rate):
    total = 0.0
    for _ in range(50):
        total += amount * rate
    return round(total, 2)


def quote_args():
    return (100.0, 0.2)


def quote_args_from_env():
    import os

    # Only PATH, HOME, LANG, TMPDIR and PYTHONPATH reach the child, and the marker's env.
    return (float(os.environ["PRICING_AMOUNT"]), 0.2)
"""
SUITE = """
import pytest

from pricing import quote


@pytest.mark.panic_instructions("pricing:quote", setup="pricing:quote_args", calls=200)
def test_quote_cost():
    assert quote(100.0, 0.2) == 1000.0


@pytest.mark.panic_instructions(
    target="pricing:quote", setup="pricing:quote_args_from_env", calls=100,
    env={"PRICING_AMOUNT": "100.0"},
)
def test_quote_cost_by_keyword():
    pass


@pytest.mark.panic_instructions(setup="pricing:quote_args")
def test_no_target():
    pass


def test_plain():
    pass
"""
HELP = [
    "  --panicquota-instructions=PATH",
    "                        write the counts of tests marked panic_instructions to",
    "                        PATH as JSON (the file 'panicquota bench-compare'",
    "                        gates); without valgrind such tests then fail instead of",
    "                        skipping",
]


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A downstream project: a module with its function, a suite that counts it."""
    pytester.makepyfile(pricing=PRICING, test_costs=SUITE)
    pytester.syspathinsert()
    return pytester


def test_marked_tests_are_counted_and_written(suite: pytest.Pytester) -> None:
    """Each marked test runs its body, is counted, printed and written to the file asked for."""
    result = suite.runpytest("-p", "no:randomly", "--panicquota-instructions=counts.json")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*panic_instructions needs the callable to count: "
            "@pytest.mark.panic_instructions('module:qualname', setup=..., calls=...)",
            "*panicquota instructions per call, net of an empty call*",
            "test_costs.py::test_quote_cost * (call *, empty call *, 200 calls)",
            "test_costs.py::test_quote_cost_by_keyword * (call *, empty call *, 100 calls)",
            "counts written to counts.json",
        ]
    )
    data = json.loads((suite.path / "counts.json").read_text())
    assert data["format"] == "panicquota-instructions/1"
    assert [b["name"] for b in data["benchmarks"]] == [
        "test_costs.py::test_quote_cost",
        "test_costs.py::test_quote_cost_by_keyword",
    ]
    first, second = (b["instructions"] for b in data["benchmarks"])
    # The same function counted with 200 and with 100 calls: the same count.
    assert abs(first / second - 1) < 0.001
    assert first > 1000


def test_counts_reach_the_file_under_xdist(suite: pytest.Pytester) -> None:
    """Counts taken on xdist workers travel in the reports and are written once."""
    result = suite.runpytest_subprocess(
        "-p", "xdist", "-n", "2", "-k", "quote", "--panicquota-instructions=counts.json"
    )
    result.assert_outcomes(passed=2)
    names = [b["name"] for b in json.loads((suite.path / "counts.json").read_text())["benchmarks"]]
    assert names == ["test_costs.py::test_quote_cost", "test_costs.py::test_quote_cost_by_keyword"]


def test_without_valgrind_marked_tests_skip_with_one_line_or_fail_when_counts_are_asked(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No valgrind: a marked test skips saying how to install it; asked for counts, it fails."""
    monkeypatch.setenv("PATH", str(suite.path))
    monkeypatch.delenv("CI", raising=False)
    result = suite.runpytest("-rs", "-k", "test_quote_cost and not keyword")
    result.assert_outcomes(skipped=1)
    line = (
        "valgrind is not installed ('valgrind' not found on PATH): instructions cannot be "
        "counted, and time is no substitute; install it (apt-get install valgrind)"
    )
    result.stdout.fnmatch_lines([f"SKIPPED * {line}"])
    result = suite.runpytest("-k", "test_quote_cost and not keyword", "--panicquota-instructions=x")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*_ test_quote_cost _*", line])
    result.stdout.no_fnmatch_line("*During handling*")
    assert not (suite.path / "x").exists()
    monkeypatch.setenv("CI", "true")
    suite.runpytest("-k", "test_quote_cost and not keyword").assert_outcomes(failed=1)


def test_a_failing_body_is_not_counted(pytester: pytest.Pytester) -> None:
    """A marked test whose body fails reports that failure and counts nothing."""
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.panic_instructions("os:getcwd")
        def test_wrong():
            assert 1 == 2
        """
    )
    result = pytester.runpytest("--panicquota-instructions=counts.json")
    result.assert_outcomes(failed=1)
    result.stdout.no_fnmatch_line("*panicquota instructions per call*")
    assert not (pytester.path / "counts.json").exists()


def test_the_option_and_the_marker_are_documented(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--help`` shows the option in the plugin's group; ``--markers`` the marker."""
    monkeypatch.setenv("COLUMNS", "80")
    pytester.runpytest("--help").stdout.fnmatch_lines(HELP, consecutive=True)
    pytester.runpytest("--markers").stdout.fnmatch_lines(
        ["@pytest.mark.panic_instructions(target, setup=None, calls=1000, warmup=100, env=None): *"]
    )
    assert os.environ["COLUMNS"] == "80"
