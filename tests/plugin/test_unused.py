"""An installed plugin that a suite does not use costs nothing: no imports, no files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = r"""
import json, sys
import pytest

code = pytest.main(["-q", "-p", "no:cacheprovider", "test_plain.py"])
plugin = sys.modules.get("pytest_panicquota.plugin")
heavy = sorted(
    name for name in sys.modules
    if name.partition(".")[0] in {"redis", "fakeredis", "hypothesis", "rich", "lupa"}
    or name.startswith("panicquota.certification")
    or name.startswith("panicquota.breaker")
    or name.startswith("panicquota.cache")
)
print(json.dumps({"code": int(code), "plugin_loaded": plugin is not None, "heavy": heavy}))
"""


def test_unused_plugin_imports_nothing_heavy_and_writes_nothing(tmp_path: Path) -> None:
    """A run that uses no fixture imports no Redis client or Hypothesis and creates no file."""
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    assert True\n")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        # Hypothesis's plugin imports Hypothesis and pytest-benchmark's writes
        # .benchmarks/: other plugins are not ours to judge here.
        env={**os.environ, "PYTEST_ADDOPTS": "-p no:hypothesispytest -p no:benchmark"},
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "plugin_loaded": True, "heavy": []}
    assert sorted(p.name for p in tmp_path.rglob("*") if p.name != "__pycache__") == [
        name for name in before if name != "__pycache__"
    ]
