"""examples/downstream: a project gating its own function on a committed baseline works as shown."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from panicquota.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "downstream"
BASELINE_COMMAND = ["--panicquota-instructions=instructions.json"]


def test_the_example_gates_its_function_and_fails_on_a_planted_regression(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Baseline taken, an unchanged run passes the gate; a slower basket_total fails it, named."""
    for name in ("pricing.py", "test_costs.py", "pyproject.toml"):
        shutil.copy(EXAMPLE / name, pytester.path / name)
    committed = json.loads((EXAMPLE / "instructions.json").read_text())
    assert [b["name"] for b in committed["benchmarks"]] == ["test_costs.py::test_basket_total_cost"]
    monkeypatch.chdir(pytester.path)

    def run(out: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "test_costs.py", f"--panicquota-instructions={out}"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr

    run("instructions.json")  # the baseline, as docs/performance.md takes it
    run("new.json")
    assert main(["bench-compare", "instructions.json", "new.json", "--max-regression", "3%"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "no regression beyond 3% over the baseline"
    # The regression: every line now looks its rate up twice.
    source = (pytester.path / "pricing.py").read_text()
    planted = source.replace(
        "total += price * quantity * (1 + RATES[rate])",
        "total += price * quantity * (1 + RATES[rate]) + 0 * RATES[rate]",
    )
    assert planted != source
    (pytester.path / "pricing.py").write_text(planted)
    run("new.json")
    assert main(["bench-compare", "instructions.json", "new.json", "--max-regression", "3%"]) == 1
    last = capsys.readouterr().out.splitlines()[-1]
    named = "1 regression(s) beyond 3% over the baseline: test_costs.py::test_basket_total_cost"
    assert last.startswith(f"{named} grew +"), last
