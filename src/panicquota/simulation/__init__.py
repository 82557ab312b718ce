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

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from panicquota.simulation._builtin import BUILTIN_SCENARIOS, builtin_scenario
    from panicquota.simulation._engine import (
        SIMULATION_EPOCH,
        Breaker,
        BreakerFactory,
        WorkerSetup,
        simulate,
    )
    from panicquota.simulation._limits import (
        DEFAULT_MAX_SPEED,
        DEFAULT_MIN_WALL_SECONDS,
        MAX_WORKERS,
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
    "DEFAULT_MAX_SPEED",
    "DEFAULT_MIN_WALL_SECONDS",
    "MAX_WORKERS",
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

#: Where each public name lives. The modules are imported on first use, so that
#: ``from panicquota.simulation import MAX_WORKERS`` (the CLI's help does) loads
#: neither the simulator nor :mod:`multiprocessing`.
_LAZY = {
    "BUILTIN_SCENARIOS": "panicquota.simulation._builtin",
    "DEFAULT_MAX_SPEED": "panicquota.simulation._limits",
    "DEFAULT_MIN_WALL_SECONDS": "panicquota.simulation._limits",
    "MAX_WORKERS": "panicquota.simulation._limits",
    "SIMULATION_EPOCH": "panicquota.simulation._engine",
    "Alert": "panicquota.simulation._report",
    "Breaker": "panicquota.simulation._engine",
    "BreakerFactory": "panicquota.simulation._engine",
    "BreakerSettings": "panicquota.simulation._scenario",
    "Disagreement": "panicquota.simulation._report",
    "PlotUnavailableError": "panicquota.simulation._plot",
    "RealModeError": "panicquota.simulation._real",
    "Scenario": "panicquota.simulation._scenario",
    "ScenarioError": "panicquota.simulation._scenario",
    "SimulationMode": "panicquota.simulation._report",
    "SimulationReport": "panicquota.simulation._report",
    "TimelineMinute": "panicquota.simulation._report",
    "TrafficShare": "panicquota.simulation._scenario",
    "WorkerSetup": "panicquota.simulation._engine",
    "builtin_scenario": "panicquota.simulation._builtin",
    "load_scenario": "panicquota.simulation._scenario_loading",
    "plot_report": "panicquota.simulation._plot",
    "print_report": "panicquota.simulation._render",
    "progress_bar": "panicquota.simulation._render",
    "scenario_from_mapping": "panicquota.simulation._scenario_loading",
    "simulate": "panicquota.simulation._engine",
    "simulate_real": "panicquota.simulation._real",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'panicquota.simulation' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def resolve_scenario(name_or_path: str) -> Scenario:
    """Return the built-in scenario *name_or_path*, or load it as a TOML file.

    A value that names a built-in scenario wins; anything else (or anything
    ending in ``.toml``) is read as a file.

    Raises:
        ScenarioError: no such built-in scenario and no such file, or the file
            is invalid.
    """
    from pathlib import Path

    from panicquota.simulation._builtin import BUILTIN_SCENARIOS, builtin_scenario
    from panicquota.simulation._scenario_loading import load_scenario

    if name_or_path in BUILTIN_SCENARIOS:
        return builtin_scenario(name_or_path)

    if name_or_path.endswith(".toml") or Path(name_or_path).exists():
        return load_scenario(name_or_path)
    return builtin_scenario(name_or_path)  # raises, listing the built-in names
