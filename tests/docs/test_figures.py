"""The counted-instruction figures the README and the guides show are the committed baseline's.

The baseline (``benchmarks/instructions.json``) is taken again after every
hot-path change; a figure copied into a page by hand would silently go stale.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASELINE = json.loads((ROOT / "benchmarks" / "instructions.json").read_text())["benchmarks"]
PAGES = ["README.md", "docs/performance.md", "docs/performance-reference.md"]
#: "6,875 instructions", "13,354 counted instructions", "7,395.6 instructions per call gross".
FIGURE = re.compile(r"(\d[\d,]*(?:\.\d)?)\s+(?:counted\s+)?instructions(\s+per\s+call\s+gross)?")
#: A row of the counts table in docs/performance.md.
ROW = re.compile(r"^\| `(test_[^`]+)`[^|]*\| ([\d,]+) \| ([\d,.]+) \|$", re.MULTILINE)


def _number(text: str) -> float:
    return float(text.replace(",", ""))


@pytest.mark.parametrize("page", PAGES)
def test_every_count_shown_is_a_baseline_count(page: str) -> None:
    text = (ROOT / page).read_text()
    counts = {
        # A plain figure is a net count, or the empty call's own ("432-520 instructions").
        "net": {round(entry[key]) for entry in BASELINE for key in ("instructions", "empty")},
        "gross": {round(entry["gross"]) for entry in BASELINE},
    }
    shown = [(_number(n), "gross" if gross else "net") for n, gross in FIGURE.findall(text)]
    assert shown, f"{page} shows no counted instructions"
    stale = [figure for figure, kind in shown if round(figure) not in counts[kind]]
    assert stale == [], f"{page} shows counts not in benchmarks/instructions.json: {stale}"


def test_the_counts_table_is_the_baseline() -> None:
    text = (ROOT / "docs" / "performance.md").read_text()
    table = {name: (_number(calls), _number(count)) for name, calls, count in ROW.findall(text)}
    baseline = {
        entry["name"].split("::")[-1]: (entry["calls"], round(entry["instructions"], 1))
        for entry in BASELINE
    }
    assert table == baseline
