"""The built-in scenarios: ``panicquota simulate --list``."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from panicquota.simulation._scenario import Scenario, ScenarioError
from panicquota.simulation._scenario_loading import scenario_from_mapping

__all__ = ["BUILTIN_SCENARIOS", "builtin_scenario"]

_MIXED_TRAFFIC: Final = [
    {"league": "Ligue 1", "share": 0.6},
    {"league": "Premier League", "share": 0.2},
    {"league": "Ligue 2", "share": 0.2},
]

_CALM, _SPIKE = 15, 45


def _flapping_points() -> list[list[float]]:
    # Around the trip level (30) every two minutes for an hour, with one dip
    # below the reset level (20) shorter than the calm period and one longer.
    points: list[list[float]] = [[0, _CALM], [5, 26]]
    minute = 5
    for high in range(15):
        minute += 2
        points.append([minute, 34 if high % 2 == 0 else 27])
    points += [[minute + 1, 18], [minute + 1.5, 18], [minute + 2, 28], [minute + 10, 31]]
    points += [[minute + 11, 12], [minute + 15, 12], [minute + 16, 33], [minute + 40, 32]]
    points += [[minute + 42, _CALM], [minute + 60, _CALM]]
    return points


_TABLES: Final[Mapping[str, Mapping[str, Any]]] = MappingProxyType(
    {
        "calm": {
            "description": "the control: two quiet hours, volatility never near the trip level",
            "volatility": {"points": [[0, _CALM], [120, _CALM]], "noise": 1.0},
            "contexts": _MIXED_TRAFFIC,
        },
        "flash": {
            "description": "a 10-minute spike: the panic ends before any tier change",
            "volatility": {
                "segments": [
                    {"minutes": 10, "vix": _CALM},
                    {"minutes": 10, "vix": _SPIKE},
                    {"minutes": 40, "vix": _CALM},
                ],
                "noise": 1.0,
            },
            "contexts": _MIXED_TRAFFIC,
        },
        "persistent": {
            "description": "a 45-minute panic: medium stakes reach tier 2, low stakes tier 3",
            "volatility": {
                "segments": [
                    {"minutes": 10, "vix": _CALM},
                    {"minutes": 45, "vix": _SPIKE},
                    {"minutes": 25, "vix": _CALM},
                ],
                "noise": 1.0,
            },
            "contexts": _MIXED_TRAFFIC,
        },
        "chronic": {
            "description": "an 8-hour panic: medium and low stakes both end in tier 4 (chronic)",
            "volatility": {
                "segments": [
                    {"minutes": 15, "vix": _CALM},
                    {"minutes": 480, "vix": _SPIKE},
                    {"minutes": 15, "vix": _CALM},
                ],
                "noise": 1.0,
            },
            "contexts": _MIXED_TRAFFIC,
        },
        "flapping": {
            "description": "swings around the trip level: hysteresis rides them out; a 4-minute "
            "calm resets, and the return resumes the clock (grace)",
            "volatility": {"points": _flapping_points(), "noise": 1.0},
            "contexts": _MIXED_TRAFFIC,
        },
        "ucl-final": {
            "description": "a 4-hour panic on a Champions League final: high stakes stay "
            "fresh longest",
            "volatility": {
                "segments": [
                    {"minutes": 15, "vix": _CALM},
                    {"minutes": 10, "from": _CALM, "to": 50},
                    {"minutes": 230, "vix": 50},
                    {"minutes": 15, "vix": _CALM},
                ],
                "noise": 1.5,
            },
            "contexts": [
                {"context": "UEFA Champions League Final", "share": 0.8},
                {"league": "Ligue 1", "share": 0.2},
            ],
        },
    }
)

#: The built-in scenario names, in ``--list`` order.
BUILTIN_SCENARIOS: Final = tuple(_TABLES)

_BASE: Final = {
    "seed": 0,
    "workers": 4,
    "rps": 250,
    "normal_ttl": 60,
    "upstream_capacity": 600,
    "upstream_latency_ms": 50,
}


def builtin_scenario(name: str) -> Scenario:
    """Return the built-in scenario *name*.

    Raises:
        ScenarioError: no built-in scenario has that name (the message lists them).
    """
    table = _TABLES.get(name)
    if table is None:
        raise ScenarioError(
            f"no built-in scenario {name!r}; use one of {', '.join(BUILTIN_SCENARIOS)} "
            "or the path of a .toml scenario file"
        )
    return scenario_from_mapping(
        {**_BASE, "name": name, **table}, source=f"<built-in {name}>", default_name=name
    )
