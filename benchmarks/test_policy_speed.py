"""How fast the policy decides, against an empty 3-argument call measured in the same run."""

from __future__ import annotations

from typing import Any

import pytest

from panicquota import AdaptivePanicQuota


def empty_call(normal_ttl: object, panic_duration_minutes: object, context: object) -> None:
    """Do nothing: the control every policy benchmark is divided by."""


@pytest.mark.benchmark(group="policy")
def test_empty_call(benchmark: Any) -> None:
    benchmark(empty_call, 60, 35.0, {"league": "Ligue 1"})


@pytest.mark.benchmark(group="policy")
@pytest.mark.parametrize(
    ("duration", "context"),
    [
        pytest.param(0, {"league": "Ligue 1"}, id="no-panic"),
        pytest.param(5.0, {"league": "Ligue 1"}, id="tier1-mapping"),
        pytest.param(35.0, {"league": "Ligue 1"}, id="tier2-mapping"),
        pytest.param(120.0, {"league": "Ligue 1"}, id="tier3-mapping"),
        pytest.param(400.0, {"league": "Ligue 1"}, id="tier4-mapping"),
        pytest.param(35.0, "UEFA Champions League Final", id="tier1-string"),
        pytest.param(35.0, None, id="tier2-none"),
    ],
)
def test_calculate_ttl_strategy(benchmark: Any, duration: float, context: object) -> None:
    quota = AdaptivePanicQuota()
    benchmark(quota.calculate_ttl_strategy, 60, duration, context)
