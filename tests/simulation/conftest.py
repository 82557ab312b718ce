"""Small, fast scenarios shared by the simulation tests."""

from __future__ import annotations

from typing import Any

import pytest

from panicquota.simulation import Scenario, scenario_from_mapping

#: Eight simulated minutes with thresholds in minutes, so that every tier, an
#: alert, a reset and some noise fit in a fraction of a second of wall time.
FAST: dict[str, Any] = {
    "name": "fast",
    "duration_minutes": 8,
    "seed": 3,
    "workers": 3,
    "rps": 7,
    "normal_ttl": 20,
    "upstream_capacity": 12,
    "volatility": {"points": [[0, 10], [1, 40], [5, 40], [5.5, 10]], "noise": 2.0},
    "contexts": [
        {"league": "Ligue 1", "share": 2},
        {"context": "UCL final", "share": 1},
        {"league": "Ligue 2", "share": 1},
    ],
    "breaker": {"calm_seconds": 30},
    "policy": {
        "thresholds": {"low": [1, 2, 3], "medium": [1.5, 2.5, 3.5], "high": [2, 3, 4]},
        "ttls": {"tier2": 2, "tier3": 3.5, "tier4": 7},
    },
}


@pytest.fixture
def fast_scenario() -> Scenario:
    """Return the eight-minute test scenario."""
    return scenario_from_mapping(FAST, source="<fast>")
