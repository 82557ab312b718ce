"""``pytest --panicquota-certify`` and ``panicquota certify``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from panicquota.cli import main

BROKEN = """
from panicquota import AdaptivePanicQuota


class AcceptsNegative:
    def __init__(self):
        self.inner = AdaptivePanicQuota({"medium": (10, 20, 40)})

    def calculate_ttl_strategy(self, normal_ttl, duration, context=None):
        if isinstance(duration, (int, float)) and duration < 0:
            duration = 0
        return self.inner.calculate_ttl_strategy(normal_ttl, duration, context)


def correct():
    return AdaptivePanicQuota({"low": (2, 4, 8)}, ttls=(1, 2, 3, 4))
"""

CRITERIA = ("contract", "determinism", "purity", "statelessness", "bad_input", "latency", "leak")


def test_pytest_certifies_a_correct_policy(pytester: pytest.Pytester) -> None:
    """A correct factory passes every criterion; the table and the JSON report say so."""
    pytester.makepyfile(policies=BROKEN)
    pytester.makepyfile(test_unrelated="def test_not_collected(): raise AssertionError")
    pytester.syspathinsert()
    result = pytester.runpytest(
        "--panicquota-certify",
        "--panicquota-target",
        "policies:correct",
        "--panicquota-report",
        "report.json",
        "-p",
        "no:randomly",
    )
    result.assert_outcomes(passed=7)
    result.stdout.fnmatch_lines(
        [
            "*= panicquota certification =*",
            "panicquota certification of policies:correct",
            *(f"  {name:<13}  PASS  *" for name in CRITERIA),
            "  verdict        PASS",
            "report written to report.json",
        ]
    )
    data = json.loads((pytester.path / "report.json").read_text())
    assert data["passed"] is True
    assert [c["criterion"] for c in data["criteria"]] == list(CRITERIA)


def test_pytest_fails_a_broken_policy(pytester: pytest.Pytester) -> None:
    """A policy accepting a negative duration fails the bad-input criterion and the run."""
    pytester.makepyfile(policies=BROKEN)
    pytester.syspathinsert()
    result = pytester.runpytest(
        "--panicquota-certify", "--panicquota-target", "policies:AcceptsNegative"
    )
    result.assert_outcomes(passed=6, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "bad_input: calculate_ttl_strategy(60, -1, None) answered (60, "
            "<PanicMode.NORMAL: 'NORMAL'>) instead of raising ValueError",
            "  bad_input      FAIL  calculate_ttl_strategy(60, -1, None) answered *",
            "  verdict        FAIL",
        ]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ("--panicquota-certify",),
            "ERROR: --panicquota-certify needs --panicquota-target module:attr (a policy "
            "object, a class or a zero-argument factory)",
            id="no-target",
        ),
        pytest.param(
            ("--panicquota-certify", "--panicquota-target", "policies:nothing"),
            "ERROR: --panicquota-target: the target 'policies:nothing' names no attribute "
            "'nothing' in 'policies'",
            id="bad-target",
        ),
    ],
)
def test_pytest_certify_usage_errors(
    pytester: pytest.Pytester, args: tuple[str, ...], message: str
) -> None:
    """A missing or unloadable target is a usage error that says what to pass."""
    pytester.makepyfile(policies=BROKEN)
    pytester.syspathinsert()
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_cli_certifies_and_writes_json(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``panicquota certify`` prints a table, writes JSON and exits 0 for a correct policy."""
    pytester.makepyfile(policies=BROKEN)
    pytester.syspathinsert()
    report = tmp_path / "report.json"
    code = main(["certify", "--target", "policies:correct", "--report", str(report)])
    out = capsys.readouterr().out
    assert code == 0
    assert "CERTIFIED: all 7 criteria passed" in out
    assert f"report written to {report}" in out
    for name in CRITERIA:
        assert f"│ {name:<13} │ PASS" in out
    assert json.loads(report.read_text())["passed"] is True


def test_cli_fails_a_broken_policy(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    """``panicquota certify`` exits 1 and names the failed criteria."""
    pytester.makepyfile(policies=BROKEN)
    pytester.syspathinsert()
    code = main(["certify", "--target", "policies:AcceptsNegative"])
    assert code == 1
    assert "FAILED: bad_input" in capsys.readouterr().out


def test_cli_bad_target(capsys: pytest.CaptureFixture[str]) -> None:
    """A target without a colon is a one-line error with exit code 2."""
    assert main(["certify", "--target", "policies"]) == 2
    assert capsys.readouterr().err == (
        "panicquota certify: error: --target must look like 'package.module:attr', got 'policies'\n"
    )


def test_cli_runs_as_a_module(tmp_path: Path) -> None:
    """``python -m panicquota certify`` finds a target in the working directory."""
    (tmp_path / "policies.py").write_text(BROKEN)
    done = subprocess.run(
        [sys.executable, "-m", "panicquota", "certify", "--target", "policies:correct"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "CERTIFIED: all 7 criteria passed" in done.stdout


def test_pytest_certify_under_xdist_writes_the_full_report(pytester: pytest.Pytester) -> None:
    """With -n 2 the criteria run in the controller: all 7 in the report, the failure counted."""
    pytester.makepyfile(policies=BROKEN)
    pytester.syspathinsert()
    result = pytester.runpytest_subprocess(
        "-n",
        "2",
        "--panicquota-certify",
        "--panicquota-target",
        "policies:AcceptsNegative",
        "--panicquota-report",
        "report.json",
        "-p",
        "no:randomly",
    )
    result.assert_outcomes(passed=6, failed=1)
    result.stdout.fnmatch_lines(
        [
            "panicquota: certifying policies:AcceptsNegative: the normal tests are not "
            "collected; the criteria run one by one in this process (not on 2 xdist workers)",
            "  verdict        FAIL",
            "report written to report.json",
        ]
    )
    data = json.loads((pytester.path / "report.json").read_text())
    assert data["passed"] is False
    assert [c["criterion"] for c in data["criteria"]] == list(CRITERIA)


def test_pytest_certify_header_says_tests_are_not_collected(pytester: pytest.Pytester) -> None:
    """Without xdist the header still says that certification replaces the tests."""
    pytester.makepyfile(policies=BROKEN)
    pytester.syspathinsert()
    result = pytester.runpytest(
        "--panicquota-certify", "--panicquota-target", "policies:correct", "-k", "contract"
    )
    result.stdout.fnmatch_lines(
        ["panicquota: certifying policies:correct: the normal tests are not collected"]
    )
    assert "xdist workers" not in result.stdout.str()


def test_pytest_certify_never_writes_a_partial_report(pytester: pytest.Pytester) -> None:
    """Criteria deselected with -k: no report file, a line naming the missing ones, exit 1."""
    pytester.makepyfile(policies=BROKEN)
    pytester.syspathinsert()
    result = pytester.runpytest(
        "--panicquota-certify",
        "--panicquota-target",
        "policies:correct",
        "--panicquota-report",
        "report.json",
        "-k",
        "contract or purity",
        "-p",
        "no:randomly",
    )
    result.assert_outcomes(passed=2, deselected=5)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "  verdict        INCOMPLETE: 5 of 7 criteria did not run",
            "report NOT written to report.json: 5 of 7 criteria did not run (determinism, "
            "statelessness, bad_input, latency, leak); a report covers every criterion or none "
            "(drop -k, -x, --lf or --deselect)",
        ]
    )
    assert not (pytester.path / "report.json").exists()


def test_pytest_certify_p99_option_sets_the_budget(pytester: pytest.Pytester) -> None:
    """--panicquota-p99-ms reaches the latency criterion (its row names the budget)."""
    pytester.makepyfile(policies=BROKEN)
    pytester.syspathinsert()
    result = pytester.runpytest(
        "--panicquota-certify",
        "--panicquota-target",
        "policies:correct",
        "--panicquota-p99-ms",
        "2.5",
        "-k",
        "latency",
    )
    result.assert_outcomes(passed=1, deselected=6)
    result.stdout.fnmatch_lines(
        [
            "  latency        PASS  *; budget p99 < 2.5 ms",
            "  verdict        INCOMPLETE: 6 of 7 criteria did not run",
        ]
    )
