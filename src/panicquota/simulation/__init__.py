"""The simulation harness: what a policy does to the upstream, before it ships.

Play a :class:`Scenario` (built in, or a TOML file) on a simulated clock
in-process with :func:`simulate`, or on real worker processes against a real
Redis with :func:`simulate_real`; both return a :class:`SimulationReport`.

    >>> from panicquota.simulation import builtin_scenario, simulate
    >>> report = simulate(builtin_scenario("flash").with_overrides(workers=2))  # doctest: +SKIP
    >>> report.worker_agreement  # doctest: +SKIP
    1.0
"""

from __future__ import annotations

from panicquota.simulation._builtin import BUILTIN_SCENARIOS, builtin_scenario
from panicquota.simulation._engine import (
    SIMULATION_EPOCH,
    Breaker,
    BreakerFactory,
    WorkerSetup,
    simulate,
)
from panicquota.simulation._plot import PlotUnavailableError, plot_report
from panicquota.simulation._real import RealModeError, simulate_real
from panicquota.simulation._render import print_report, progress_bar
from panicquota.simulation._report import (
    Alert,
    Disagreement,
    SimulationMode,
    SimulationReport,
    TimelineMinute,
)
from panicquota.simulation._scenario import (
    BreakerSettings,
    Scenario,
    ScenarioError,
    TrafficShare,
)
from panicquota.simulation._scenario_loading import load_scenario, scenario_from_mapping

__all__ = [
    "BUILTIN_SCENARIOS",
    "SIMULATION_EPOCH",
    "Alert",
    "Breaker",
    "BreakerFactory",
    "BreakerSettings",
    "Disagreement",
    "PlotUnavailableError",
    "RealModeError",
    "Scenario",
    "ScenarioError",
    "SimulationMode",
    "SimulationReport",
    "TimelineMinute",
    "TrafficShare",
    "WorkerSetup",
    "builtin_scenario",
    "load_scenario",
    "plot_report",
    "print_report",
    "progress_bar",
    "resolve_scenario",
    "scenario_from_mapping",
    "simulate",
    "simulate_real",
]


def resolve_scenario(name_or_path: str) -> Scenario:
    """Return the built-in scenario *name_or_path*, or load it as a TOML file.

    A value that names a built-in scenario wins; anything else (or anything
    ending in ``.toml``) is read as a file.

    Raises:
        ScenarioError: no such built-in scenario and no such file, or the file
            is invalid.
    """
    if name_or_path in BUILTIN_SCENARIOS:
        return builtin_scenario(name_or_path)
    from pathlib import Path

    if name_or_path.endswith(".toml") or Path(name_or_path).exists():
        return load_scenario(name_or_path)
    return builtin_scenario(name_or_path)  # raises, listing the built-in names
