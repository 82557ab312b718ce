"""The decide and table sub-commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from panicquota.cli import main


def test_decide_prints_the_decision(capsys: pytest.CaptureFixture[str]) -> None:
    """decide prints TTL, mode, tier, stakes and thresholds."""
    assert main(["decide", "--duration", "35", "--league", "Ligue 1"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "ttl: 5 s   mode: PANIC_PARTIAL   tier: 2   stakes: medium_stakes",
        "thresholds (medium_stakes): tier 2 at 30 min, tier 3 at 90 min, tier 4 at 180 min",
        "panic duration: 35 min",
    ]


def test_decide_prints_alerts(capsys: pytest.CaptureFixture[str]) -> None:
    """At tier 3 the alert is printed too."""
    assert main(["decide", "--duration", "200.04", "--context", "UCL final"]) == 0
    out = capsys.readouterr().out
    assert "mode: DEGRADED   tier: 3   stakes: high_stakes" in out
    assert "alert: panic tier 3 (DEGRADED) for high_stakes: the panic has lasted 200.0 min" in out


def test_decide_json(capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints the metadata as JSON."""
    args = ["decide", "--duration", "0", "--league", "UCL", "--normal-ttl", "120", "--json"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out) == {
        "tier": 0,
        "mode": "NORMAL",
        "ttl": 120,
        "normal_ttl": 120,
        "stakes": "high_stakes",
        "panic_duration_minutes": 0.0,
        "thresholds": {"tier2": 60, "tier3": 180, "tier4": 360},
        "alert": None,
    }


def test_decide_with_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--config applies a TOML configuration."""
    config = tmp_path / "policy.toml"
    config.write_text("[thresholds]\nmedium = [10, 20, 30]\n", encoding="utf-8")
    assert main(["decide", "--duration", "25", "--league", "Ligue 1", "--config", str(config)]) == 0
    assert "mode: DEGRADED   tier: 3" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["decide", "--duration", "-3"],
            "panicquota decide: error: argument --duration: must be a finite number of minutes "
            ">= 0, got '-3' (see 'panicquota decide --help')",
        ),
        (
            ["decide", "--duration", "soon"],
            "panicquota decide: error: argument --duration: must be a number of minutes, "
            "got 'soon' (see 'panicquota decide --help')",
        ),
        (
            ["decide", "--duration", "1", "--normal-ttl", "nan"],
            "panicquota decide: error: argument --normal-ttl: must be a finite number of seconds "
            ">= 0, got 'nan' (see 'panicquota decide --help')",
        ),
        (
            [],
            "panicquota: error: the following arguments are required: COMMAND "
            "(see 'panicquota --help')",
        ),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad arguments print one error line and exit with status 2."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert capsys.readouterr().err.splitlines() == [message]


def test_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A configuration error is one line on stderr and status 2."""
    missing = tmp_path / "missing.toml"
    assert main(["table", "--config", str(missing)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"panicquota table: error: {missing}: no such configuration file"
    ]


def test_table(capsys: pytest.CaptureFixture[str]) -> None:
    """table prints the twelve stakes x tier rows and the keywords."""
    assert main(["table"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["stakes", "tier", "panic", "duration", "ttl", "mode", "alert"]
    assert lines[2].split() == ["high_stakes", "1", "0-60", "min", "0s", "PANIC_FULL", "-"]
    assert lines[9].split() == ["medium_stakes", "4", ">=", "180", "min", "60s", "CHRONIC", "yes"]
    assert lines[-1] == "low_stakes: (anything else)"


def test_table_json(capsys: pytest.CaptureFixture[str]) -> None:
    """table --json gives one object per stakes and tier."""
    assert main(["table", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 12
    assert rows[5] == {
        "stakes": "medium_stakes",
        "tier": 2,
        "from_minutes": 30,
        "to_minutes": 90,
        "ttl_seconds": 5,
        "mode": "PANIC_PARTIAL",
        "alert": False,
        "keywords": "Ligue 1, Premier League, La Liga, Serie A, Bundesliga, Europa League",
    }


def test_python_dash_m() -> None:
    """`python -m panicquota` runs the same command line."""
    result = subprocess.run(
        [sys.executable, "-m", "panicquota", "decide", "--duration", "5", "--league", "Ligue 1"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.startswith("ttl: 0 s   mode: PANIC_FULL   tier: 1")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the package version."""
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("panicquota 0.")


def test_console_script_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    """run() exits with main()'s status."""
    from panicquota.cli import run

    monkeypatch.setattr(sys, "argv", ["panicquota", "decide", "--duration", "1"])
    with pytest.raises(SystemExit) as info:
        run()
    assert info.value.code == 0
