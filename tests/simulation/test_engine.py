"""The simulated mode: real breakers on a simulated clock, exact accounting, agreement."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panicquota.breaker import VIXCircuitBreaker
from panicquota.decision import Decision
from panicquota.policy import AdaptivePanicQuota
from panicquota.simulation import (
    SIMULATION_EPOCH,
    Breaker,
    Scenario,
    SimulationMode,
    SimulationReport,
    WorkerSetup,
    scenario_from_mapping,
    simulate,
)
from panicquota.simulation._accounting import Accounting
from panicquota.simulation._engine import default_breaker

from .conftest import FAST

#: Figures that measure the machine, not the scenario.
WALL_KEYS = ("wall_seconds", "requests_per_wall_second", "decisions_per_wall_second")


def without_wall(report: SimulationReport) -> dict[str, Any]:
    """Return the report's JSON data without its wall-time figures."""
    data = report.as_dict()
    for key in WALL_KEYS:
        del data[key]
    return data


def decimal(ttl: float) -> Fraction:
    """Return *ttl* as the decimal number it is written as (0.2 is two tenths)."""
    return Fraction(Decimal(str(ttl)))


class Uncoalesced:
    """A cache entry without coalescing: every miss fetches; fetches land after the latency."""

    def __init__(self, latency: Fraction) -> None:
        self.latency = latency
        self.stored: Fraction | None = None
        self.in_flight: list[Fraction] = []

    def serve(self, now: Fraction, ttl: Fraction) -> bool:
        """Serve one request at *now*; return whether it went upstream."""
        while self.in_flight and self.in_flight[0] + self.latency <= now:
            self.stored = self.in_flight.pop(0)
        if self.stored is not None and now - self.stored < ttl:
            return False
        self.in_flight.append(now)
        return True


def brute_force(report: SimulationReport) -> dict[str, Any]:
    """Serve every request of every worker one by one from the decisions the report recorded.

    Three caches: always fresh and the policy without coalescing, and the
    policy with one shared fetch in flight per entry (what PanicCache does).
    """
    scenario = report.scenario
    normal = decimal(scenario.normal_ttl)
    latency = decimal(scenario.upstream_latency_ms) / 1000
    seconds = scenario.duration_seconds
    upstream_by_second = [0] * seconds
    cached_by_second = [0] * seconds
    baseline = 0
    stale = Fraction(0)
    peak = Fraction(0)
    for share, rate in zip(scenario.contexts, scenario.rates(), strict=True):
        ttls = report.series.ttl[share.label]
        tiers = report.series.tier[share.label]
        for _worker in range(scenario.workers):
            policy, base = Uncoalesced(latency), Uncoalesced(latency)
            fetched = None
            for second in range(seconds):
                ttl = decimal(ttls[second])
                base_ttl = Fraction(0) if tiers[second] else normal
                for tick in range(second * rate, (second + 1) * rate):
                    now = Fraction(tick, rate)
                    in_flight = fetched is not None and now < fetched + latency
                    if fetched is not None and (in_flight or now - fetched < ttl):
                        stale += now - fetched
                        peak = max(peak, now - fetched)
                    else:
                        cached_by_second[second] += 1
                        fetched = now
                    upstream_by_second[second] += policy.serve(now, ttl)
                    baseline += base.serve(now, base_ttl)
    return {
        "upstream": sum(upstream_by_second),
        "upstream_by_second": upstream_by_second,
        "cached": sum(cached_by_second),
        "cached_by_second": cached_by_second,
        "baseline": baseline,
        "max_staleness": float(peak),
        "mean_staleness": float(stale / report.simulated_requests),
    }


def assert_equals_brute_force(report: SimulationReport) -> None:
    """Assert that the report's three columns and staleness equal serving each request."""
    expected = brute_force(report)
    assert report.upstream_requests == expected["upstream"]
    assert report.series.upstream == expected["upstream_by_second"]
    assert report.cached_upstream_requests == expected["cached"]
    assert report.series.cached == expected["cached_by_second"]
    assert report.baseline_upstream_requests == expected["baseline"]
    assert report.max_staleness_seconds == pytest.approx(expected["max_staleness"], abs=1e-12)
    assert report.mean_staleness_seconds == pytest.approx(expected["mean_staleness"], rel=1e-12)
    assert report.peak_upstream_rps == max(expected["upstream_by_second"])
    assert report.peak_cached_rps == max(expected["cached_by_second"])


def test_seeded_runs_are_reproducible_bit_for_bit(fast_scenario: Scenario) -> None:
    """Two runs of one scenario and seed give byte-identical JSON but for the wall time."""
    first = json.dumps(without_wall(simulate(fast_scenario)), sort_keys=True)
    second = json.dumps(without_wall(simulate(fast_scenario)), sort_keys=True)
    assert first == second
    other_seed = simulate(fast_scenario.with_overrides(seed=4))
    assert json.dumps(without_wall(other_seed), sort_keys=True) != first


def test_accounting_equals_a_request_by_request_simulation(fast_scenario: Scenario) -> None:
    """Upstream, baseline and staleness equal serving every request one by one."""
    report = simulate(fast_scenario)
    assert_equals_brute_force(report)
    # No latency: coalescing has nothing in flight to share.
    assert report.cached_upstream_requests == report.upstream_requests


def test_coalescing_over_the_fetch_latency_equals_brute_force(fast_scenario: Scenario) -> None:
    """With a 700 ms upstream, the three columns equal serving every request one by one."""
    report = simulate(replace(fast_scenario, upstream_latency_ms=700))
    assert_equals_brute_force(report)
    assert report.cached_upstream_requests < report.upstream_requests
    assert report.peak_cached_rps < report.peak_upstream_rps == report.peak_baseline_rps


def test_the_fast_scenario_visits_every_tier(fast_scenario: Scenario) -> None:
    """The test scenario is not trivial: all tiers, alerts, a reset, staleness, full agreement."""
    report = simulate(fast_scenario)
    assert report.simulated_requests == 8 * 60 * 3 * 7
    assert all(report.tier_seconds[label][4] > 0 for label in report.series.tier)
    assert {(a.context, a.tier) for a in report.alerts} == {
        (label, tier) for label in report.series.tier for tier in (3, 4)
    }
    assert report.series.tier["Ligue 1"][-1] == 0  # the panic was reset
    assert 0 < report.upstream_requests < report.baseline_upstream_requests
    assert report.worker_agreement == 1.0
    assert report.decision_points == 8 * 60 * 3
    assert report.transitions > 0
    assert report.decisions == 8 * 60 * 3 * 3


def test_calm_control_never_panics() -> None:
    """With volatility far below the trip level, the policy is the baseline."""
    scenario = scenario_from_mapping(
        {**FAST, "volatility": {"points": [[0, 12], [8, 14]], "noise": 1.0}}
    )
    report = simulate(scenario)
    assert report.upstream_requests == report.baseline_upstream_requests
    assert all(tiers[0] == 8 * 60 for tiers in report.tier_seconds.values())
    assert report.alerts == ()
    assert report.transitions == 0


def test_panic_windows_trip_and_reset_on_time() -> None:
    """A panic window is in panic from its start second to the second before its end."""
    table = {key: value for key, value in FAST.items() if key != "volatility"}
    scenario = scenario_from_mapping({**table, "panic_windows": [[1, 2]], "duration_minutes": 3})
    tiers = simulate(scenario).series.tier["Ligue 1"]
    assert tiers[59] == 0
    assert tiers[60] == 1
    assert tiers[119] == 1
    assert tiers[120] == 0


class SkewedPolicyBreaker:
    """A worker that decides with other thresholds: a deliberately inconsistent worker."""

    def __init__(self, setup: WorkerSetup) -> None:
        quota = AdaptivePanicQuota(thresholds={"medium": (1, 2, 3)})
        self._breaker = default_breaker(replace(setup, quota=quota))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._breaker, name)


def test_an_inconsistent_worker_is_caught(fast_scenario: Scenario) -> None:
    """A worker deciding differently from the same stored start lowers the agreement."""

    def factory(setup: WorkerSetup) -> Breaker:
        if setup.index == 2:
            breaker: Breaker = SkewedPolicyBreaker(setup)  # type: ignore[assignment]
            return breaker
        return default_breaker(setup)

    report = simulate(fast_scenario, breaker_factory=factory)
    assert report.worker_agreement < 1.0
    first = report.disagreements[0]
    assert first.context == "Ligue 1"
    assert first.decisions[0] != first.decisions[2]
    assert first.decisions[0] == first.decisions[1]
    assert report.as_dict()["worker_agreement"] == report.worker_agreement


def test_a_worker_on_another_prefix_is_caught() -> None:
    """A worker that does not see the start worker 0 trips disagrees from that second on."""
    table = {key: value for key, value in FAST.items() if key != "volatility"}
    scenario = scenario_from_mapping({**table, "panic_windows": [[1, 2]], "duration_minutes": 3})

    def factory(setup: WorkerSetup) -> Breaker:
        if setup.index == 1:
            setup = replace(setup, key_prefix="elsewhere")
        return default_breaker(setup)

    report = simulate(scenario, breaker_factory=factory)
    assert report.agreeing_points == report.decision_points - 60 * 3
    first = report.disagreements[0]
    assert first.second == 60
    assert first.decisions == ((0, "PANIC_FULL", 1), (20, "NORMAL", 0), (0, "PANIC_FULL", 1))


@pytest.mark.parametrize("latency", [0, 700])
def test_split_accounting_equals_per_worker_brute_force(
    fast_scenario: Scenario, latency: float
) -> None:
    """After workers disagree, each worker's caches are accounted on their own, still exactly."""
    fast_scenario = replace(fast_scenario, upstream_latency_ms=latency)
    quota = AdaptivePanicQuota(**fast_scenario.policy)
    contexts = [share.context for share in fast_scenario.contexts]
    accounting = Accounting(fast_scenario)
    per_worker_ttls: list[list[list[float]]] = []
    duration = 300
    for second in range(duration):
        decisions: list[list[Decision]] = []
        for worker in range(fast_scenario.workers):
            # Worker w sees the panic start w*7 seconds late: they disagree often.
            minutes = max(second - 30 - worker * 7, 0) / 60 or None
            decisions.append(
                [
                    quota.calculate_ttl_strategy(fast_scenario.normal_ttl, minutes, c)
                    for c in contexts
                ]
            )
        per_worker_ttls.append([[d[0] for d in row] for row in decisions])
        accounting.add_second(second, None, decisions)
    report = accounting.report(
        mode=SimulationMode.SIMULATED,
        wall_seconds=1.0,
        decisions=0,
        transitions=0,
    )
    expected = cached = 0
    fetch_time = decimal(latency) / 1000
    for c, rate in enumerate(fast_scenario.rates()):
        for worker in range(fast_scenario.workers):
            fetched = None
            policy = Uncoalesced(fetch_time)
            for second in range(duration):
                ttl = decimal(per_worker_ttls[second][worker][c])
                for tick in range(second * rate, (second + 1) * rate):
                    now = Fraction(tick, rate)
                    expected += policy.serve(now, ttl)
                    if fetched is None or (now >= fetched + fetch_time and now - fetched >= ttl):
                        cached += 1
                        fetched = now
    assert report.worker_agreement < 1.0
    assert report.upstream_requests == expected
    assert report.cached_upstream_requests == cached


def test_the_real_breaker_is_the_default(fast_scenario: Scenario) -> None:
    """Without a factory, every worker is a VIXCircuitBreaker on the simulated clock."""
    seen: list[Breaker] = []

    def factory(setup: WorkerSetup) -> Breaker:
        assert setup.clock() == SIMULATION_EPOCH
        breaker = default_breaker(setup)
        seen.append(breaker)
        return breaker

    simulate(replace(fast_scenario, duration_seconds=5), breaker_factory=factory)
    assert len(seen) == fast_scenario.workers
    assert all(isinstance(b, VIXCircuitBreaker) for b in seen)


@settings(max_examples=12, deadline=None)
@given(
    rps=st.integers(3, 9),  # the test scenario's three contexts need 3 requests/s
    normal_ttl=st.sampled_from([0, 0.5, 3, 7.5, 20]),
    tier_ttls=st.sampled_from([(0, 1, 2.5, 4), (0.2, 0.2, 3, 3), (0, 0, 0, 9)]),
    seed=st.integers(0, 1000),
    latency=st.sampled_from([0, 120, 333, 1500]),
)
def test_accounting_equals_brute_force_on_random_scenarios(
    rps: int, normal_ttl: float, tier_ttls: tuple[float, ...], seed: int, latency: float
) -> None:
    """Whatever the rates, TTLs and noise, the accounting equals the per-request simulation."""
    ttls = dict(zip(("tier1", "tier2", "tier3", "tier4"), tier_ttls, strict=True))
    table = {
        **FAST,
        "rps": rps,
        "normal_ttl": normal_ttl,
        "seed": seed,
        "workers": 2,
        "duration_minutes": 6,
        "upstream_latency_ms": latency,
        "policy": {**FAST["policy"], "ttls": ttls},
    }
    assert_equals_brute_force(simulate(scenario_from_mapping(table)))


def test_reduction_without_baseline_traffic(fast_scenario: Scenario) -> None:
    """With no baseline upstream traffic the reductions are 0, not a division by zero."""
    report = replace(
        simulate(replace(fast_scenario, duration_seconds=2)), baseline_upstream_requests=0
    )
    assert report.reduction == report.cached_reduction == 0.0


def test_a_decimal_normal_ttl_is_read_as_written() -> None:
    """normal_ttl 0.2 at 10 rps fetches every other request: 300 a minute, as is the baseline."""
    table = {
        **FAST,
        "normal_ttl": 0.2,
        "rps": 10,
        "workers": 1,
        "duration_minutes": 1,
        "contexts": [{"league": "Ligue 1", "share": 1}],
        "volatility": {"points": [[0, 10]]},
    }
    report = simulate(scenario_from_mapping(table))
    assert report.upstream_requests == report.baseline_upstream_requests == 300
    assert report.max_staleness_seconds == pytest.approx(0.1)
