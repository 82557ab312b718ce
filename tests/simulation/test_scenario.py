"""Scenarios: the built-in ones, TOML files, their errors and overrides."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from panicquota.errors import ConfigError
from panicquota.policy import AdaptivePanicQuota
from panicquota.simulation import (
    BUILTIN_SCENARIOS,
    Scenario,
    ScenarioError,
    SimulationReport,
    TrafficShare,
    builtin_scenario,
    load_scenario,
    resolve_scenario,
    simulate,
)
from panicquota.stakes import Stakes
from panicquota.tiers import Thresholds

EXAMPLE = """
name = "derby"
description = "a derby that goes wrong"
seed = 7
workers = 2
rps = 100
normal_ttl = 30
upstream_capacity = 50
upstream_latency_ms = 40
duration_minutes = 20

[volatility]
points = [[0, 15], [5, 45], [10, 45], [12, 15]]
noise = 0.5

[[contexts]]
league = "Ligue 1"
share = 3

[[contexts]]
context = "UCL final"
name = "final"
share = 1

[breaker]
trip_level = 35
reset_level = 25

[policy.thresholds]
medium = [20, 60, 120]
"""


def write(tmp_path: Path, text: str) -> Path:
    """Write *text* as a scenario file and return its path."""
    path = tmp_path / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_builtin_names() -> None:
    """The six built-in scenarios of the issue exist, the calm control included."""
    assert BUILTIN_SCENARIOS == (
        "calm",
        "flash",
        "persistent",
        "chronic",
        "flapping",
        "ucl-final",
    )


@pytest.mark.parametrize("name", BUILTIN_SCENARIOS)
def test_builtins_are_valid(name: str) -> None:
    """Every built-in scenario builds, has a description and a volatility timeline."""
    scenario = builtin_scenario(name)
    assert scenario.name == name
    assert scenario.description
    series = scenario.volatility_series()
    assert series is not None
    assert len(series) == scenario.duration_seconds


@pytest.mark.parametrize(
    ("name", "minutes_above_trip"),
    [("flash", 10), ("persistent", 45), ("chronic", 480)],
)
def test_builtin_panic_lengths(name: str, minutes_above_trip: int) -> None:
    """flash, persistent and chronic keep the volatility above the trip level as named."""
    series = builtin_scenario(name).volatility_series()
    assert series is not None
    above = sum(vix >= 30 for vix in series)
    assert abs(above - minutes_above_trip * 60) <= 2


def panics(report: SimulationReport, label: str) -> list[tuple[float, float, int, int]]:
    """Return each panic of *label*: (start minute, length in minutes, top tier, first tier)."""
    tiers = report.series.tier[label]
    found: list[tuple[float, float, int, int]] = []
    start = None
    for second, tier in enumerate([*tiers, 0]):
        if tier and start is None:
            start = second
        elif not tier and start is not None:
            found.append(
                (start / 60, (second - start) / 60, max(tiers[start:second]), tiers[start])
            )
            start = None
    return found


def played(name: str) -> SimulationReport:
    """Play the built-in scenario *name* on one worker at low traffic (what it does, fast)."""
    return simulate(builtin_scenario(name).with_overrides(workers=1, rps=5))


def test_calm_never_panics() -> None:
    """calm: 'volatility never near the trip level': no panic, no alert."""
    report = played("calm")
    assert report.scenario.description.endswith("volatility never near the trip level")
    assert all(panics(report, label) == [] for label in report.series.tier)
    assert report.alerts == ()


def test_flash_ends_before_any_tier_change() -> None:
    """flash: 'a 10-minute spike: the panic ends before any tier change'."""
    report = played("flash")
    assert report.scenario.description == (
        "a 10-minute spike: the panic ends before any tier change"
    )
    for label in report.series.tier:
        ((start, length, top, _first),) = panics(report, label)
        assert start == 10
        assert 10 <= length <= 11  # the spike, then the one-minute calm period
        assert top == 1


def test_persistent_reaches_tier_2_and_3() -> None:
    """persistent: 'a 45-minute panic: medium stakes reach tier 2, low stakes tier 3'."""
    report = played("persistent")
    assert report.scenario.description == (
        "a 45-minute panic: medium stakes reach tier 2, low stakes tier 3"
    )
    top = {}
    for label in report.series.tier:
        ((_start, length, top[label], _first),) = panics(report, label)
        assert 45 <= length <= 46
    assert top == {"Ligue 1": 2, "Premier League": 2, "Ligue 2": 3}


def test_chronic_ends_in_tier_4() -> None:
    """chronic: 'an 8-hour panic: medium and low stakes both end in tier 4'."""
    report = played("chronic")
    assert report.scenario.description == (
        "an 8-hour panic: medium and low stakes both end in tier 4 (chronic)"
    )
    scenario = report.scenario
    quota = AdaptivePanicQuota(**scenario.policy)
    assert {quota.classify(c.context) for c in scenario.contexts} == {Stakes.MEDIUM, Stakes.LOW}
    for label, tiers in report.series.tier.items():
        ((start, length, top, _first),) = panics(report, label)
        assert 480 <= length <= 481
        assert top == 4
        assert tiers[round((start + length) * 60) - 1] == 4  # still tier 4 when it ends


def test_chronic_coalescing_removes_the_tier_1_peak() -> None:
    """chronic, first 10 panic minutes (tier 1): PanicCache cuts the 1,000/s peak to 212/s."""
    scenario = replace(builtin_scenario("chronic"), duration_seconds=25 * 60)
    assert (scenario.workers, scenario.rps, scenario.upstream_latency_ms) == (4, 250, 50)
    report = simulate(scenario)
    assert report.peak_baseline_rps == report.peak_upstream_rps == 1000
    # Tier 1 at 150 and 50 requests/s per worker: a 50 ms fetch is in flight
    # for 8 and 3 ticks, so each fetch serves 8 and 3 requests.
    per_worker = math.ceil(150 / 8) + 2 * math.ceil(50 / 3)
    assert report.peak_cached_rps == 4 * per_worker == 212
    assert report.cached_seconds_over_capacity == 0 < report.seconds_over_capacity
    # In tier 1 nothing older than the fetch in flight is served: 7 ticks at 150/s.
    assert report.panic_max_staleness_seconds == pytest.approx(7 / 150)


def test_flapping_holds_then_resumes_one_clock() -> None:
    """flapping: hysteresis rides out the swings; the panic back after a reset resumes its clock."""
    report = played("flapping")
    assert report.scenario.description == (
        "swings around the trip level: hysteresis rides them out; a 4-minute calm resets, "
        "and the return resumes the clock (grace)"
    )
    (first, second) = panics(report, "Ligue 1")
    assert first[1] >= 40  # fifteen swings across the trip level and a short dip: one panic
    assert 4 <= second[0] - (first[0] + first[1]) <= 5  # back 4 minutes after the reset
    # Resumed, not restarted: 45 minutes after the first start, medium stakes
    # come back in tier 2 and low stakes in tier 3, not tier 1.
    assert second[3] == 2
    assert panics(report, "Ligue 2")[1][3] == 3


def test_ucl_final_keeps_high_stakes_fresh_longest() -> None:
    """ucl-final: 'a 4-hour panic: high stakes stay fresh longest'."""
    report = played("ucl-final")
    assert report.scenario.description == (
        "a 4-hour panic on a Champions League final: high stakes stay fresh longest"
    )
    final, league = "UEFA Champions League Final", "Ligue 1"
    ((_start, length, top, _first),) = panics(report, final)
    assert 235 <= length <= 240
    assert report.tier_seconds[final][1] == 2 * report.tier_seconds[league][1] == 60 * 60
    assert (top, panics(report, league)[0][2]) == (3, 4)


def test_unknown_builtin() -> None:
    """An unknown name lists the built-in scenarios."""
    with pytest.raises(ScenarioError) as excinfo:
        builtin_scenario("crash")
    assert str(excinfo.value) == (
        "no built-in scenario 'crash'; use one of calm, flash, persistent, chronic, "
        "flapping, ucl-final or the path of a .toml scenario file"
    )


def test_load_a_complete_file(tmp_path: Path) -> None:
    """Every key of a scenario file lands where it belongs."""
    scenario = load_scenario(write(tmp_path, EXAMPLE))
    assert scenario.name == "derby"
    assert scenario.description == "a derby that goes wrong"
    assert (scenario.seed, scenario.workers, scenario.rps) == (7, 2, 100)
    assert (scenario.normal_ttl, scenario.upstream_capacity) == (30, 50)
    assert scenario.upstream_latency_ms == 40
    assert scenario.duration_seconds == 1200
    assert scenario.volatility == ((0, 15), (300, 45), (600, 45), (720, 15))
    assert scenario.noise == 0.5
    assert scenario.contexts == (
        TrafficShare("Ligue 1", {"league": "Ligue 1"}, 3),
        TrafficShare("final", "UCL final", 1),
    )
    assert scenario.rates() == (75, 25)
    assert (scenario.breaker.trip_level, scenario.breaker.reset_level) == (35, 25)
    assert scenario.policy["thresholds"] == {Stakes.MEDIUM: [20, 60, 120]}
    assert isinstance(scenario, Scenario)
    assert Thresholds.coerce(scenario.policy["thresholds"][Stakes.MEDIUM]).tier2 == 20


def test_defaults_and_segments(tmp_path: Path) -> None:
    """Segments make steps and ramps; the duration defaults to the timeline's end."""
    path = write(
        tmp_path,
        "[volatility]\nsegments = [{minutes = 1, vix = 10}, {minutes = 1, from = 20, to = 80}]\n",
    )
    scenario = load_scenario(path)
    assert scenario.name == "scenario"
    assert scenario.duration_seconds == 120
    assert scenario.contexts == (TrafficShare("Ligue 1", {"league": "Ligue 1"}, 1.0),)
    series = scenario.volatility_series()
    assert series is not None
    assert series[59] == 10
    assert series[60] == 20
    assert series[90] == pytest.approx(50, abs=0.01)


def test_panic_windows(tmp_path: Path) -> None:
    """Panic windows become trip/reset events; the run lasts 15 minutes past the last."""
    scenario = load_scenario(write(tmp_path, "panic_windows = [[1, 2.5], [4, 5]]\n"))
    assert scenario.panic_windows == ((60, 150), (240, 300))
    assert scenario.panic_events() == {60: True, 150: False, 240: True, 300: False}
    assert scenario.duration_seconds == 300 + 900
    assert scenario.volatility_series() is None


def test_rates_apportion_by_largest_remainder() -> None:
    """Shares become integer rates that sum to rps exactly."""
    scenario = builtin_scenario("persistent").with_overrides(rps=7)
    assert scenario.rates() == (4, 2, 1)
    assert sum(builtin_scenario("persistent").with_overrides(rps=1001).rates()) == 1001


def test_overrides() -> None:
    """--workers, --rps and --seed replace the scenario's values; None keeps them."""
    base = builtin_scenario("flash")
    changed = base.with_overrides(workers=8, rps=1000, seed=42)
    assert (changed.workers, changed.rps, changed.seed) == (8, 1000, 42)
    assert base.with_overrides() == base


def test_bad_override() -> None:
    """An override is validated like a file value."""
    with pytest.raises(
        ScenarioError,
        match=r"^<built-in flash>: key 'workers': must be an integer from 1 to 64, got 0$",
    ):
        builtin_scenario("flash").with_overrides(workers=0)


def test_an_rps_override_that_starves_a_context() -> None:
    """--rps too low for a context's share names the context, its share and the rps."""
    with pytest.raises(ScenarioError) as excinfo:
        builtin_scenario("persistent").with_overrides(rps=2)
    assert str(excinfo.value) == (
        "<built-in persistent>: context 'Ligue 2' (share 0.2 of 1) gets 0 of the 2 "
        "requests per second per worker (rps); set rps to at least 4 or remove the context"
    )
    assert builtin_scenario("persistent").with_overrides(rps=4).rates() == (2, 1, 1)


def test_timeline_up_to_the_end_is_accepted(tmp_path: Path) -> None:
    """A point, segment or window ending exactly at the duration is played in full."""
    points = load_scenario(
        write(tmp_path, "duration_minutes = 2\n[volatility]\npoints = [[0, 10], [2, 40]]\n")
    )
    assert points.duration_seconds == 120
    windows = load_scenario(write(tmp_path, "duration_minutes = 2\npanic_windows = [[1, 2]]\n"))
    assert windows.panic_events() == {60: True, 120: False}


def test_policy_ttls_error_names_the_table(tmp_path: Path) -> None:
    """A policy error that no single entry explains names the table it is in."""
    path = write(tmp_path, TIMELINE + "[policy.ttls]\ntier2 = 20\ntier3 = 10\n")
    with pytest.raises(ScenarioError) as excinfo:
        load_scenario(path)
    assert str(excinfo.value).startswith(f"{path}: key 'policy.ttls': ")


def test_seed_changes_the_noise() -> None:
    """The same seed gives the same readings; another seed, other readings."""
    base = builtin_scenario("flash")
    assert base.volatility_series() == base.volatility_series()
    assert base.volatility_series() != base.with_overrides(seed=1).volatility_series()


def test_resolve(tmp_path: Path) -> None:
    """A built-in name or a file path both resolve; a missing file names itself."""
    assert resolve_scenario("calm").name == "calm"
    assert resolve_scenario(str(write(tmp_path, EXAMPLE))).name == "derby"
    missing = tmp_path / "nope.toml"
    with pytest.raises(ScenarioError, match=r"nope\.toml: no such scenario file$"):
        resolve_scenario(str(missing))


TIMELINE = "[volatility]\npoints = [[0, 10], [1, 40]]\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "workers = 4\n",
            (
                "give exactly one of 'volatility' (a table with 'points' or 'segments') and "
                "'panic_windows' (a list of [start_minute, end_minute])"
            ),
            id="no-timeline",
        ),
        pytest.param(
            "panic_windows = [[1, 2]]\n" + TIMELINE,
            (
                "give exactly one of 'volatility' (a table with 'points' or 'segments') and "
                "'panic_windows' (a list of [start_minute, end_minute])"
            ),
            id="both-timelines",
        ),
        pytest.param(
            "rate = 4\n" + TIMELINE,
            (
                "key 'rate': unknown key; accepted: 'name', 'description', 'duration_minutes', "
                "'seed', "
                "'workers', 'rps', 'normal_ttl', 'upstream_capacity', 'upstream_latency_ms', "
                "'volatility', "
                "'panic_windows', 'contexts', 'breaker', 'policy'"
            ),
            id="unknown-key",
        ),
        pytest.param(
            "workers = 0\n" + TIMELINE,
            "key 'workers': must be an integer from 1 to 64, got 0",
            id="workers-zero",
        ),
        pytest.param(
            "workers = 65\n" + TIMELINE,
            "key 'workers': must be an integer from 1 to 64, got 65",
            id="workers-too-many",
        ),
        pytest.param(
            "duration_minutes = 0.001\n" + TIMELINE,
            "key 'duration_minutes': must last at least one second (>= 1/60 minute), got 0.001",
            id="duration-below-a-second",
        ),
        pytest.param(
            "duration_minutes = 30\n[volatility]\npoints = [[0, 10], [20, 40], [45, 10]]\n",
            (
                "key 'volatility.points[2]': is at minute 45, after the end of the scenario "
                "(duration_minutes = 30); accepted: minutes up to 30, or raise 'duration_minutes'"
            ),
            id="point-after-the-end",
        ),
        pytest.param(
            "duration_minutes = 5\n[volatility]\n"
            "segments = [{minutes = 3, vix = 10}, {minutes = 4, vix = 40}]\n",
            (
                "key 'volatility.segments[1]': ends at minute 7, after the end of the scenario "
                "(duration_minutes = 5); accepted: minutes up to 5, or raise 'duration_minutes'"
            ),
            id="segment-after-the-end",
        ),
        pytest.param(
            "duration_minutes = 10\npanic_windows = [[2, 4], [5, 12]]\n",
            (
                "key 'panic_windows[1]': ends at minute 12, after the end of the scenario "
                "(duration_minutes = 10); accepted: minutes up to 10, or raise 'duration_minutes'"
            ),
            id="window-after-the-end",
        ),
        pytest.param(
            "duration_minutes = 10\npanic_windows = [[12, 14]]\n",
            (
                "key 'panic_windows[0]': ends at minute 14, after the end of the scenario "
                "(duration_minutes = 10); accepted: minutes up to 10, or raise 'duration_minutes'"
            ),
            id="window-starts-after-the-end",
        ),
        pytest.param(
            "rps = 2\n"
            + TIMELINE
            + "[[contexts]]\nshare = 1\nleague = 'Ligue 1'\n"
            + "[[contexts]]\nshare = 1\nleague = 'Serie A'\n"
            + "[[contexts]]\nshare = 1\nleague = 'Ligue 2'\n",
            (
                "context 'Ligue 2' (share 1 of 3) gets 0 of the 2 requests per second per "
                "worker (rps); set rps to at least 3 or remove the context"
            ),
            id="context-without-traffic",
        ),
        pytest.param(
            "rps = 2.5\n" + TIMELINE, "key 'rps': must be an integer >= 1, got 2.5", id="rps-float"
        ),
        pytest.param(
            "seed = -1\n" + TIMELINE,
            "key 'seed': must be an integer >= 0, got -1",
            id="seed-negative",
        ),
        pytest.param(
            "normal_ttl = 'x'\n" + TIMELINE,
            "key 'normal_ttl': must be a finite number >= 0, got str 'x'",
            id="ttl-text",
        ),
        pytest.param(
            "upstream_capacity = 0\n" + TIMELINE,
            "key 'upstream_capacity': must be a finite number > 0, got 0",
            id="capacity-zero",
        ),
        pytest.param(
            "upstream_latency_ms = -5\n" + TIMELINE,
            "key 'upstream_latency_ms': must be a finite number >= 0, got -5",
            id="latency-negative",
        ),
        pytest.param(
            "upstream_latency_ms = '50ms'\n" + TIMELINE,
            "key 'upstream_latency_ms': must be a finite number >= 0, got str '50ms'",
            id="latency-text",
        ),
        pytest.param(
            "duration_minutes = 0\n" + TIMELINE,
            "key 'duration_minutes': must be a finite number > 0, got 0",
            id="duration-zero",
        ),
        pytest.param(
            "[volatility]\n",
            (
                "key 'volatility': needs exactly one of 'points' (a list of [minute, vix]) and "
                "'segments' (a list of tables)"
            ),
            id="volatility-empty",
        ),
        pytest.param(
            "[volatility]\npoints = [[0, 10], [0, 20]]\n",
            "key 'volatility.points[1]': minutes must be strictly increasing, got 0 after 0.0",
            id="points-order",
        ),
        pytest.param(
            "[volatility]\npoints = [[0, 10, 3]]\n",
            "key 'volatility.points[0]': must be [minute, vix], got [0, 10, 3]",
            id="points-shape",
        ),
        pytest.param(
            "[volatility]\npoints = []\n",
            "key 'volatility.points': must be a non-empty list of [minute, vix], got []",
            id="points-empty",
        ),
        pytest.param(
            "[volatility]\nnoise = -1\npoints = [[0, 1]]\n",
            "key 'volatility.noise': must be a finite number >= 0, got -1",
            id="noise-negative",
        ),
        pytest.param(
            "[volatility]\nsegments = [{vix = 3}]\n",
            "key 'volatility.segments[0].minutes': is required",
            id="segment-minutes",
        ),
        pytest.param(
            "[volatility]\nsegments = [{minutes = 3, vix = 3, to = 4}]\n",
            (
                "key 'volatility.segments[0]': needs either 'vix' (a level) or 'from' and 'to' (a "
                "ramp), got {'minutes': 3, 'vix': 3, 'to': 4}"
            ),
            id="segment-mixed",
        ),
        pytest.param(
            "[volatility]\nsegments = [{minutes = 3, level = 3}]\n",
            "key 'volatility.segments[0].level': unknown key; accepted: 'minutes', 'vix', "
            "'from', 'to'",
            id="segment-unknown",
        ),
        pytest.param(
            "panic_windows = [[5, 2]]\n",
            (
                "key 'panic_windows[0]': windows must be in order and not overlap, with start < "
                "end, got [5, 2]"
            ),
            id="window-backwards",
        ),
        pytest.param(
            "panic_windows = [[1, 5], [4, 8]]\n",
            (
                "key 'panic_windows[1]': windows must be in order and not overlap, with start < "
                "end, got [4, 8]"
            ),
            id="window-overlap",
        ),
        pytest.param(
            "name = 3\n" + TIMELINE, "key 'name': must be a string, got 3", id="name-number"
        ),
        pytest.param(
            "volatility = 3\n", "key 'volatility': must be a table, got 3", id="volatility-number"
        ),
        pytest.param(
            "[volatility]\nsegments = []\n",
            "key 'volatility.segments': must be a non-empty list of tables, got []",
            id="segments-empty",
        ),
        pytest.param(
            "panic_windows = []\n",
            "key 'panic_windows': must be a non-empty list of [start_minute, end_minute], got []",
            id="windows-empty",
        ),
        pytest.param(
            "panic_windows = [3]\n",
            "key 'panic_windows[0]': must be [start_minute, end_minute], got 3",
            id="window-shape",
        ),
        pytest.param(
            TIMELINE + "[[contexts]]\nleague = 'Ligue 1'\n",
            "key 'contexts[0].share': is required (a number > 0)",
            id="share-missing",
        ),
        pytest.param(
            TIMELINE + "[[contexts]]\nshare = 0\nleague = 'x'\n",
            "key 'contexts[0].share': must be a finite number > 0, got 0",
            id="share-zero",
        ),
        pytest.param(
            TIMELINE + "[[contexts]]\nshare = 1\n",
            (
                "key 'contexts[0]': needs 'context' or one of 'league', 'competition', "
                "'tournament', 'event'"
            ),
            id="context-missing",
        ),
        pytest.param(
            TIMELINE + "[[contexts]]\nshare = 1\ncontext = 'a'\nleague = 'b'\n",
            (
                "key 'contexts[0]': give either 'context' (free text) or 'league', 'competition', "
                "'tournament', 'event', not both"
            ),
            id="context-both",
        ),
        pytest.param(
            TIMELINE
            + "[[contexts]]\nshare = 1\ncontext = 'a'\n[[contexts]]\nshare = 1\ncontext = 'a'\n",
            "key 'contexts[1]': duplicate context 'a'",
            id="context-duplicate",
        ),
        pytest.param(
            TIMELINE + "[[contexts]]\nshare = 1\nteam = 'a'\n",
            (
                "key 'contexts[0].team': unknown key; accepted: 'name', 'share', 'context', "
                "'league', "
                "'competition', 'tournament', 'event'"
            ),
            id="context-unknown",
        ),
        pytest.param(
            "contexts = 'Ligue 1'\n" + TIMELINE,
            "key 'contexts': must be a non-empty array of tables ([[contexts]]), got 'Ligue 1'",
            id="contexts-not-list",
        ),
        pytest.param(
            TIMELINE + "[breaker]\ntrip = 3\n",
            (
                "key 'breaker.trip': unknown key; accepted: 'trip_level', 'reset_level', "
                "'calm_seconds', 'grace_seconds'"
            ),
            id="breaker-unknown",
        ),
        pytest.param(
            TIMELINE + "[breaker]\nreset_level = 40\n",
            "key 'breaker.reset_level': must be below 'breaker.trip_level', got 40 >= 30.0",
            id="breaker-levels",
        ),
        pytest.param(
            "policy = 3\n" + TIMELINE, "key 'policy': must be a table, got 3", id="policy-not-table"
        ),
        pytest.param(
            TIMELINE + "[policy.thresholds]\nhigh = [60, 180, 360]\nmedium = [30, 20, 90]\n",
            (
                "key 'policy.thresholds.medium': thresholds must be positive, "
                "finite and strictly increasing (0 < tier2 < tier3 < tier4), "
                "got Thresholds(tier2=30, tier3=20, tier4=90)"
            ),
            id="policy-thresholds",
        ),
        pytest.param(
            TIMELINE + "[policy]\ntiers = 3\n",
            (
                "key 'policy.tiers': unknown key; accepted: 'policy.thresholds', 'policy.ttls', "
                "'policy.keywords', 'policy.context_keys'"
            ),
            id="policy-unknown",
        ),
    ],
)
def test_file_errors(tmp_path: Path, text: str, message: str) -> None:
    """A bad scenario file names the file, the key and what is accepted."""
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as excinfo:
        load_scenario(path)
    assert str(excinfo.value) == f"{path}: {message}"
    assert isinstance(excinfo.value, ConfigError)


def test_timeline_of_one_instant(tmp_path: Path) -> None:
    """A timeline that ends at minute 0 needs an explicit duration."""
    path = write(tmp_path, "[volatility]\npoints = [[0, 40]]\n")
    with pytest.raises(ScenarioError) as excinfo:
        load_scenario(path)
    assert str(excinfo.value) == (
        f"{path}: the timeline ends at minute 0; set 'duration_minutes' (a number > 0)"
    )
    assert (
        load_scenario(
            write(tmp_path, "duration_minutes = 2\n[volatility]\npoints = [[0, 40]]\n")
        ).duration_seconds
        == 120
    )


def test_unreadable_file(tmp_path: Path) -> None:
    """A path that cannot be read as a file says so."""
    with pytest.raises(ScenarioError) as excinfo:
        load_scenario(tmp_path)
    assert str(excinfo.value) == f"{tmp_path}: cannot read it: Is a directory"


def test_scenario_needs_one_timeline() -> None:
    """A Scenario built in Python still needs exactly one timeline."""
    with pytest.raises(ScenarioError) as excinfo:
        Scenario("x", "", 60)
    assert str(excinfo.value) == (
        "<scenario>: give exactly one of 'volatility' and 'panic_windows'"
    )


def test_not_toml(tmp_path: Path) -> None:
    """A file that is not TOML says so, with the parser's position."""
    path = write(tmp_path, "workers = \n")
    with pytest.raises(ScenarioError, match=r"scenario\.toml: not valid TOML: "):
        load_scenario(path)


EXAMPLES = sorted((Path(__file__).parents[2] / "examples" / "scenarios").glob("*.toml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example_files_load(path: Path) -> None:
    """Every example scenario shipped under examples/scenarios is valid."""
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.description


def test_examples_exist() -> None:
    """The example scenarios are found (the parametrization above is not empty)."""
    assert [path.stem for path in EXAMPLES] == ["derby", "maintenance-windows"]


def test_scenarios_hash() -> None:
    """A scenario can key a dict (its mapping fields are left out of the hash)."""
    assert {builtin_scenario("flash"): 1}[builtin_scenario("flash")] == 1


def test_policy_errors_name_the_full_key_path(tmp_path: Path) -> None:
    """A typo inside [policy.ttls] is named by its full path, with source and key structured."""
    path = write(tmp_path, TIMELINE + "[policy.ttls]\nteir2 = 20\n")
    with pytest.raises(ScenarioError) as excinfo:
        load_scenario(path)
    assert str(excinfo.value) == (
        f"{path}: key 'policy.ttls.teir2': unknown key; accepted: 'policy.ttls.tier1', "
        "'policy.ttls.tier2', 'policy.ttls.tier3', 'policy.ttls.tier4'"
    )
    assert (excinfo.value.source, excinfo.value.key) == (str(path), "policy.ttls.teir2")


def test_scenario_errors_are_structured(tmp_path: Path) -> None:
    """A scenario error carries its file and key, not only a message."""
    path = write(tmp_path, "rps = 0\n" + TIMELINE)
    with pytest.raises(ScenarioError) as excinfo:
        load_scenario(path)
    assert (excinfo.value.source, excinfo.value.key, excinfo.value.reason) == (
        str(path),
        "rps",
        "must be an integer >= 1, got 0",
    )


def test_huge_integer_is_refused(tmp_path: Path) -> None:
    """An integer above float range is refused like any out-of-range number."""
    path = write(tmp_path, f"normal_ttl = {10**400}\n" + TIMELINE)
    with pytest.raises(ScenarioError) as excinfo:
        load_scenario(path)
    assert str(excinfo.value) == (
        f"{path}: key 'normal_ttl': must be a finite number >= 0, got {10**400!r}"
    )


def test_not_utf8_scenario(tmp_path: Path) -> None:
    """A scenario file that is not UTF-8 is one ScenarioError naming the file."""
    path = tmp_path / "scenario.toml"
    data = b'name = "d\xe9rby"\n' + TIMELINE.encode()
    path.write_bytes(data)
    with pytest.raises(ScenarioError) as excinfo:
        load_scenario(path)
    assert str(excinfo.value) == (
        f"{path}: not UTF-8 text (byte 0xe9 at offset {data.index(0xE9)}); TOML files must be UTF-8"
    )


def test_contexts_take_the_policy_s_context_keys(tmp_path: Path) -> None:
    """With [policy] context_keys, a [[contexts]] entry is written with those keys."""
    text = (
        TIMELINE
        + "[[contexts]]\ncup = 'Champions League'\nshare = 1\n"
        + "[policy]\ncontext_keys = ['cup']\n"
    )
    scenario = load_scenario(write(tmp_path, text))
    assert scenario.contexts[0].context == {"cup": "Champions League"}
    policy = AdaptivePanicQuota(**scenario.policy)
    assert policy.classify(scenario.contexts[0].context) is Stakes.HIGH
    with pytest.raises(ScenarioError) as excinfo:
        load_scenario(write(tmp_path, text.replace("cup = ", "league = ")))
    assert str(excinfo.value).endswith(
        "key 'contexts[0].league': unknown key; accepted: 'name', 'share', 'context', 'cup'"
    )


def test_a_context_key_may_not_clash_with_an_entry_key(tmp_path: Path) -> None:
    """context_keys = ['share'] cannot be written in a [[contexts]] entry: refused."""
    text = TIMELINE + "[[contexts]]\nshare = 1\ncontext = 'x'\n[policy]\ncontext_keys = ['share']\n"
    with pytest.raises(ScenarioError) as excinfo:
        load_scenario(write(tmp_path, text))
    assert str(excinfo.value).endswith(
        "key 'policy.context_keys': 'share' cannot be a context key in a scenario (a "
        "[[contexts]] entry uses it for itself); accepted: keys other than 'name', 'share', "
        "'context'"
    )
