"""``panicquota simulate`` end to end: in-process through main(), once through python -m."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from panicquota.cli import main
from panicquota.errors import PanicquotaError
from panicquota.simulation import (
    PlotUnavailableError,
    Scenario,
    WorkerSetup,
    _engine,
    plot_report,
    simulate,
)
from panicquota.simulation._render import format_duration, progress_bar

SCENARIO = """
name = "cli"
description = "eight minutes, thresholds in minutes"
duration_minutes = 8
seed = 3
workers = 3
rps = 7
normal_ttl = 20
upstream_capacity = 12

[volatility]
points = [[0, 10], [1, 40], [5, 40], [5.5, 10]]
noise = 2.0

[[contexts]]
league = "Ligue 1"
share = 2

[[contexts]]
context = "UCL final"
share = 1

[breaker]
calm_seconds = 30

[policy.thresholds]
medium = [1.5, 2.5, 3.5]
high = [2, 3, 4]
"""

JSON_KEYS = {
    "simulated_requests",
    "wall_seconds",
    "upstream_requests",
    "baseline_upstream_requests",
    "cached_upstream_requests",
    "cached_reduction",
    "peak_cached_rps",
    "cached_seconds_over_capacity",
    "upstream_latency_ms",
    "worker_agreement",
    "max_staleness_seconds",
    "tier_seconds",
    "timeline",
}


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    """Write the CLI test scenario and return its path."""
    path = tmp_path / "cli.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    return path


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    """--list prints one line per built-in scenario."""
    assert main(["simulate", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [
        "calm",
        "flash",
        "persistent",
        "chronic",
        "flapping",
        "ucl-final",
    ]
    assert lines[3] == (
        "chronic     an 8-hour panic: medium and low stakes both end in tier 4 (chronic)"
    )


def test_table_json_and_plot(
    scenario_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run prints the summary tables and writes the JSON report and the PNG plot."""
    json_path, png_path = tmp_path / "report.json", tmp_path / "report.png"
    argv = ["simulate", "--scenario", str(scenario_file), "--json", str(json_path)]
    assert main([*argv, "--plot", str(png_path), "--workers", "2", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert "cli: 8m 00s simulated, 2 workers x 7 rps, seed 5 (simulated)" in out
    for row in ("upstream requests", "reduction", "peak upstream load (capacity 12/s)"):
        assert row in out
    assert "upstream: 0 ms a fetch" in out
    header = next(line for line in out.splitlines() if "always fresh" in line)
    assert header.index("always fresh") < header.index("adaptive policy")
    assert header.index("adaptive policy") < header.index("policy + PanicCache")
    assert "PanicCache shares" not in out  # no latency: nothing in flight to share
    assert "worker agreement: 100% (all 960 decision points agree)" in out
    assert out.endswith(
        f"report written to {json_path.resolve()}\nplot written to {png_path.resolve()}\n"
    )
    assert (
        "both peak at 14/s: a panic's first seconds send every request upstream either way; "
        "the time over capacity is what tells them apart (1m 30s against 5m 20s)"
    ) in out
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert set(data) >= JSON_KEYS
    assert data["simulated_requests"] == 8 * 60 * 2 * 7
    assert data["worker_agreement"] == 1.0
    assert data["scenario"]["seed"] == 5
    assert data["scenario"]["contexts"] == [
        {"label": "Ligue 1", "share": 2, "rps": 5},
        {"label": "UCL final", "share": 1, "rps": 2},
    ]
    assert [minute["minute"] for minute in data["timeline"]] == list(range(8))
    assert data["cached_upstream_requests"] == data["upstream_requests"]
    assert {"cached_upstream_requests", "peak_cached_rps"} <= set(data["timeline"][0])
    assert set(data["tier_seconds"]["Ligue 1"]) == {"0", "1", "2", "3", "4"}
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_latency_shows_what_coalescing_removes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With an upstream latency the report says how far coalescing brings the peak down."""
    path = tmp_path / "slow.toml"
    path.write_text("upstream_latency_ms = 700\n" + SCENARIO, encoding="utf-8")
    json_path = tmp_path / "report.json"
    assert main(["simulate", "--scenario", str(path), "--json", str(json_path)]) == 0
    out = capsys.readouterr().out
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert "upstream: 700 ms a fetch" in out
    assert data["upstream_latency_ms"] == 700
    assert data["peak_cached_rps"] < data["peak_upstream_rps"]
    assert (
        "PanicCache shares each 700 ms fetch among the misses that arrive while it is in "
        f"flight: the peak drops from {data['peak_upstream_rps']:,}/s to "
        f"{data['peak_cached_rps']:,}/s (a coalesced answer is at most one fetch old)"
    ) in out


def test_quiet_prints_nothing(scenario_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--quiet leaves only the exit code."""
    assert main(["simulate", "--scenario", str(scenario_file), "--quiet", "--rps", "3"]) == 0
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--workers", "0"],
            "argument --workers: --workers must be an integer from 1 to 64, got '0'",
        ),
        (
            ["--workers", "65"],
            "argument --workers: --workers must be an integer from 1 to 64, got '65'",
        ),
        (["--rps", "fast"], "argument --rps: --rps must be an integer >= 1, got 'fast'"),
        (["--seed", "-2"], "argument --seed: --seed must be an integer >= 0, got '-2'"),
        (
            ["--wall-seconds", "soon"],
            "argument --wall-seconds: --wall-seconds must be a number > 0, got 'soon'",
        ),
        (
            ["--wall-seconds", "0"],
            "argument --wall-seconds: --wall-seconds must be a number > 0, got '0'",
        ),
    ],
)
def test_bad_arguments(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A bad option is a one-line error and exit status 2."""
    with pytest.raises(SystemExit) as excinfo:
        main(["simulate", *argv])
    assert excinfo.value.code == 2
    assert capsys.readouterr().err == (
        f"panicquota simulate: error: {message} (see 'panicquota simulate --help')\n"
    )


def test_bad_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bad scenario file is a one-line error naming the file and the key, exit status 2."""
    path = tmp_path / "bad.toml"
    path.write_text("workers = 0\n[volatility]\npoints = [[0, 1], [1, 1]]\n", encoding="utf-8")
    assert main(["simulate", "--scenario", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"panicquota simulate: error: {path}: key 'workers': must be an integer from 1 to 64, "
        "got 0\n"
    )


def test_unwritable_outputs_are_refused_before_the_run(
    scenario_file: Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An output path that cannot be written is a one-line error before the run starts."""
    from panicquota import simulation

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the run started")

    monkeypatch.setattr(simulation, "simulate", never)
    argv = ["simulate", "--scenario", str(scenario_file), "--quiet", "--rps", "2"]
    assert main([*argv, "--json", "/nonexistent/report.json"]) == 2
    assert capsys.readouterr().err == (
        "panicquota simulate: error: cannot write '/nonexistent/report.json': "
        "no directory '/nonexistent'\n"
    )
    assert main([*argv, "--json", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"panicquota simulate: error: cannot write {str(tmp_path)!r}: it is a directory\n"
    )
    # A folder that takes no files (as root, every folder does: the check is faked).
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert main([*argv, "--plot", str(tmp_path / "r.png")]) == 2
    assert capsys.readouterr().err == (
        f"panicquota simulate: error: cannot write {str(tmp_path / 'r.png')!r}: "
        "the directory is not writable\n"
    )


def test_a_write_that_fails_after_the_run_is_one_line(
    scenario_file: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A write failing at the end (the folder went away) is still a one-line error."""
    from panicquota.cli import _simulate

    with pytest.raises(PanicquotaError) as caught:
        _simulate._write(str(tmp_path / "gone" / "r.json"), "{}")
    assert str(caught.value) == (
        f"cannot write {str(tmp_path / 'gone' / 'r.json')!r}: No such file or directory"
    )


def test_rps_that_starves_a_context(
    scenario_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--rps too low for a context's share is a one-line error naming the context."""
    assert main(["simulate", "--scenario", str(scenario_file), "--rps", "1"]) == 2
    assert capsys.readouterr().err == (
        f"panicquota simulate: error: {scenario_file}: context 'UCL final' (share 1 of 3) gets 0 "
        "of the 1 requests per second per worker (rps); set rps to at least 2 or remove the "
        "context\n"
    )


def test_unknown_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown scenario name lists the built-in ones."""
    assert main(["simulate", "--scenario", "crash"]) == 2
    assert "no built-in scenario 'crash'; use one of calm, flash" in capsys.readouterr().err


def test_disagreement_exits_non_zero(
    scenario_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Workers that disagree make the run fail with exit status 1 and say so."""
    real_factory = _engine.default_breaker

    def factory(setup: WorkerSetup) -> _engine.Breaker:
        if setup.index == 1:
            from panicquota.policy import AdaptivePanicQuota

            quota = AdaptivePanicQuota(thresholds={"medium": (1, 2, 3)})
            return real_factory(
                WorkerSetup(
                    setup.index,
                    setup.redis,
                    setup.clock,
                    quota,
                    setup.key_prefix,
                    setup.settings,
                    setup.max_staleness,
                )
            )
        return real_factory(setup)

    monkeypatch.setattr(_engine, "default_breaker", factory)
    assert main(["simulate", "--scenario", str(scenario_file)]) == 1
    out, err = capsys.readouterr()
    assert "worker agreement: 282 disagreements in 960 decision points (70.6250% agree)" in out
    assert (
        "  at 1m 39s, Ligue 1: the workers decided PANIC_FULL ttl 0, PANIC_PARTIAL ttl 5, " in out
    )
    assert err == (
        "panicquota simulate: workers disagreed on 282 of 960 decision points: this is a bug\n"
    )


def test_plot_without_matplotlib_fails_fast(
    scenario_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--plot without matplotlib is refused before the run, with the install command."""
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "matplotlib" else find_spec(name, *args),
    )
    assert main(["simulate", "--scenario", str(scenario_file), "--plot", "x.png"]) == 2
    assert capsys.readouterr() == (
        "",
        "panicquota simulate: error: --plot needs matplotlib: install it with "
        "`pip install 'panicquota[plot]'`\n",
    )


def test_plot_report_without_matplotlib(
    scenario_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """plot_report raises PlotUnavailableError (an ImportError) when matplotlib is missing."""
    from panicquota.simulation import load_scenario

    report = simulate(load_scenario(scenario_file).with_overrides(workers=1))
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(PlotUnavailableError, match=r"pip install 'panicquota\[plot\]'"):
        plot_report(report, tmp_path / "x.png")


def test_real_mode_from_the_command_line(
    scenario_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--real runs processes against the local Redis: the panic window trips and resets."""
    windows = scenario_file.read_text(encoding="utf-8").replace(
        "[volatility]\npoints = [[0, 10], [1, 40], [5, 40], [5.5, 10]]\nnoise = 2.0\n",
        "panic_windows = [[1, 5]]\n",
    )
    scenario_file.write_text(windows.replace("duration_minutes = 8", ""), encoding="utf-8")
    json_path = tmp_path / "real.json"
    argv = ["simulate", "--scenario", str(scenario_file), "--real", "--workers", "2"]
    assert main([*argv, "--wall-seconds", "4", "--json", str(json_path)]) == 0
    out = capsys.readouterr().out
    assert "cli: 20m 00s simulated, 2 workers x 7 rps, seed 3 (real)" in out
    assert "worker agreement: 100% (all " in out
    assert "/s across 2 processes against redis://127.0.0.1:6379/0 (keys panicquota:sim:" in out
    # 20 simulated minutes in 4 wall seconds: a worker stalled for 200 ms by a busy
    # machine skips a whole tier, so how many tiers (and alerts) a run sees
    # varies. What it promises: the panic is seen within its window (the trip),
    # gone by the end (the reset), and each alert is a rise to tier 3 or 4
    # during it, printed once.
    report = json.loads(json_path.read_text(encoding="utf-8"))
    timeline = report["timeline"]
    for label in ("Ligue 1", "UCL final"):
        assert max(minute["tier"][label] for minute in timeline[1:6]) >= 1, label
        assert timeline[-1]["tier"][label] == 0, label
    alerts = report["alerts"]
    assert re.search(rf"^alerts: {len(alerts)}$", out, re.MULTILINE)
    assert all(alert["tier"] in (3, 4) for alert in alerts), alerts
    assert all(60 <= alert["second"] <= 7 * 60 for alert in alerts), alerts
    assert out.count(": panic tier ") == len(alerts)


def test_python_dash_m(scenario_file: Path, tmp_path: Path) -> None:
    """python -m panicquota simulate runs in a fresh interpreter and writes its JSON."""
    json_path = tmp_path / "out.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "panicquota",
            "simulate",
            "--scenario",
            str(scenario_file),
            "--quiet",
            "--json",
            str(json_path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert json.loads(json_path.read_text(encoding="utf-8"))["worker_agreement"] == 1.0


class Terminal(io.StringIO):
    """A text stream that says it is a terminal, so rich draws its live display into it."""

    def isatty(self) -> bool:
        """Claim to be a terminal."""
        return True


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_progress_bar_reports_progress() -> None:
    """The enabled bar draws the description and the share done; the disabled one draws nothing."""
    stream = Terminal()
    with progress_bar("chronic (simulated)", enabled=True, file=stream) as progress:
        progress(30, 60)
        progress(60, 60)
    drawn = ANSI.sub("", stream.getvalue())
    assert "chronic (simulated)" in drawn
    assert " 100% " in drawn
    silent = Terminal()
    with progress_bar("run", enabled=False, file=silent) as progress:
        assert progress(1, 2) is None
    assert silent.getvalue() == ""


def test_interrupt_is_one_line(
    scenario_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C during a run prints one line, no traceback, and exits 130."""

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("panicquota.simulation.simulate", interrupted)
    assert main(["simulate", "--scenario", str(scenario_file)]) == 130
    assert capsys.readouterr() == ("", "panicquota simulate: interrupted\n")


def test_runs_are_identical_across_interpreters(scenario_file: Path, tmp_path: Path) -> None:
    """Two fresh interpreters with other PYTHONHASHSEED give the same JSON but for wall time."""
    reports = []
    for hash_seed in ("0", "4242"):
        path = tmp_path / f"report-{hash_seed}.json"
        argv = ["simulate", "--scenario", str(scenario_file), "--quiet", "--json", str(path)]
        subprocess.run(
            [sys.executable, "-m", "panicquota", *argv],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            check=True,
            timeout=120,
        )
        data = json.loads(path.read_text(encoding="utf-8"))
        assert data["wall_seconds"] > 0
        for key in ("wall_seconds", "requests_per_wall_second", "decisions_per_wall_second"):
            del data[key]
        reports.append(json.dumps(data, indent=2))
    assert reports[0] == reports[1]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(59, "59s"), (60, "1m 00s"), (3599, "59m 59s"), (30600, "8h 30m")],
)
def test_format_duration(seconds: int, text: str) -> None:
    """Durations read as hours and minutes, or minutes and seconds."""
    assert format_duration(seconds) == text


def test_heavy_imports_stay_lazy() -> None:
    """Importing the simulator or building the CLI pulls in no Redis, rich or matplotlib."""
    code = (
        "import sys, panicquota.simulation; from panicquota.cli import build_parser; "
        "build_parser(); "
        "print(sorted(m for m in ('redis', 'fakeredis', 'rich', 'matplotlib') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout == "[]\n"


def test_many_alerts_are_summarised(tmp_path: Path) -> None:
    """Past six alerts the table points to the JSON report for the rest."""
    from panicquota.simulation import print_report, scenario_from_mapping

    from .conftest import FAST

    contexts = [*FAST["contexts"], {"league": "Serie A", "share": 1}]
    report = simulate(scenario_from_mapping({**FAST, "contexts": contexts, "workers": 1}))
    stream = io.StringIO()
    print_report(report, file=stream)
    assert len(report.alerts) == 8
    assert "  ... and 2 more (see --json)\n" in stream.getvalue()


def test_one_disagreement_among_many_is_counted(fast_scenario: Scenario) -> None:
    """One disagreement in a million points reads as one, never as a rounded 100%."""
    from dataclasses import replace

    from panicquota.simulation import print_report

    report = simulate(replace(fast_scenario, duration_seconds=60))
    report = replace(report, decision_points=1_000_000, agreeing_points=999_999)
    stream = io.StringIO()
    print_report(report, file=stream)
    out = stream.getvalue()
    assert "worker agreement: 1 disagreement in 1,000,000 decision points (99.9999% agree)" in out
    assert "100.0000%" not in out


def test_plot_of_panic_windows_without_capacity(tmp_path: Path) -> None:
    """A panic-window scenario without an upstream capacity plots too."""
    from panicquota.simulation import scenario_from_mapping

    from .conftest import FAST

    table = {k: v for k, v in FAST.items() if k not in {"volatility", "upstream_capacity"}}
    scenario = scenario_from_mapping({**table, "panic_windows": [[1, 3]], "workers": 1})
    report = simulate(scenario)
    path = tmp_path / "windows.png"
    plot_report(report, path)
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert report.scenario.upstream_capacity is None
    assert report.seconds_over_capacity == 0
