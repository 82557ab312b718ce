"""The real run's report: the requests served from the workers' checkpoints, agreement, warnings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Final

from panicquota.decision import Decision
from panicquota.policy import AdaptivePanicQuota
from panicquota.simulation._accounting import Accounting
from panicquota.simulation._agreement import Decided, agreement
from panicquota.simulation._engine import SIMULATION_EPOCH, SIMULATION_MAX_STALENESS
from panicquota.simulation._real_errors import RealModeError
from panicquota.simulation._real_feeder import Feed
from panicquota.simulation._real_worker import WorkerObserver, WorkerResult
from panicquota.simulation._report import SimulationMode, SimulationReport
from panicquota.simulation._scenario import Scenario
from panicquota.stakes import Context
from panicquota.tiers import MODE_BY_TIER

__all__ = ["CHECKED_SHARE_LIMIT", "FEEDER_LAG_LIMIT", "raise_on_refusals", "real_report"]

#: Past this many simulated seconds of feeder lag at a trip or reset, the
#: report warns (1% of the shortest default tier, 15 minutes, is 9 s).
FEEDER_LAG_LIMIT: Final = 10.0
#: Below this share of simulated seconds checked by a worker, the report warns.
CHECKED_SHARE_LIMIT: Final = 0.9


def raise_on_refusals(
    redis_url: str, feeder: WorkerObserver, collected: Sequence[WorkerResult]
) -> None:
    """Fail a run whose store refused the breakers' calls: its decisions were fail-safe.

    Raises:
        RealModeError: the feeder's or a worker's breaker logged a refusal.
    """
    refused = [(feeder.refusals, feeder.first_refusal)] + [
        (r.refusals, r.refusal) for r in collected
    ]
    breakers = sum(1 for count, _ in refused if count)
    if not breakers:
        return
    reason = next(reason for count, reason in refused if count)
    raise RealModeError(
        f"the store at {redis_url} refused the breaker's calls during the run "
        f"({breakers} of {len(refused)} breakers): {reason}; their decisions were the "
        "fail-safe, not the policy's, so the run measures nothing"
    )


def real_report(
    scenario: Scenario,
    collected: Sequence[WorkerResult],
    feed: Feed,
    wall: float,
    speed: float,
    wall0: float,
    redis_url: str,
    key_prefix: str,
    cleanup_failure: str | None,
) -> SimulationReport:
    accounting = Accounting(scenario)
    _account(scenario, accounting, collected)
    report = accounting.report(
        mode=SimulationMode.REAL,
        wall_seconds=wall,
        decisions=sum(r.decisions for r in collected),
        transitions=feed.transitions + sum(r.transitions for r in collected),
        redis_url=redis_url,
        key_prefix=key_prefix,
    )
    verdict = agreement(
        scenario,
        [r.checkpoints for r in collected],
        feed.changes,
        wall0=wall0,
        speed=speed,
        max_staleness=SIMULATION_MAX_STALENESS,
    )
    checked = tuple(len(r.checkpoints) / scenario.duration_seconds for r in collected)
    repairs = sum(r.repairs for r in collected)
    warnings = _warnings(feed.change_lag, checked, repairs)
    if cleanup_failure is not None:
        warnings = (*warnings, cleanup_failure)
    return replace(
        report,
        decision_points=verdict.points,
        agreeing_points=verdict.agreeing,
        excused_points=verdict.excused,
        compared_points=verdict.compared,
        disagreements=verdict.disagreements,
        compression=speed,
        feeder_max_lag_seconds=feed.max_lag,
        feeder_change_lag_seconds=feed.change_lag,
        worker_checked_shares=checked,
        breaker_repairs=repairs,
        dropped_checkpoints=sum(r.dropped for r in collected),
        keys_deleted=cleanup_failure is None,
        warnings=warnings,
    )


def _warnings(change_lag: float, checked: Sequence[float], repairs: int = 0) -> tuple[str, ...]:
    """Return what makes this run's timeline less faithful than the scenario, if anything.

    A reading fed late changes nothing unless it trips or resets the panic,
    so the feeder's lag is judged where it matters: at the changes.
    """
    found = []
    if change_lag > FEEDER_LAG_LIMIT:
        found.append(
            f"the feeder wrote a trip or reset up to {change_lag:,.0f} simulated seconds late "
            f"(limit {FEEDER_LAG_LIMIT:g}): the workers saw the panic change that late; the "
            "machine is short of CPU for this compression: give --wall-seconds more time or "
            "run fewer --workers"
        )
    if min(checked, default=1.0) < CHECKED_SHARE_LIMIT:
        found.append(
            f"the workers checked only {min(checked):.0%} to {max(checked):.0%} of the "
            f"simulated seconds (limit {CHECKED_SHARE_LIMIT:.0%}): a skipped second is served "
            "with the decision held before it, so tier changes show late; give "
            "--wall-seconds more time or run fewer --workers"
        )
    if repairs:
        found.append(
            f"the workers' breakers rewrote the stored panic start {repairs:,} "
            f"{'time' if repairs == 1 else 'times'} (repaired or restored it): a correct run "
            "never does; the other workers read the rewritten start"
        )
    return tuple(found)


def _account(scenario: Scenario, accounting: Accounting, collected: Sequence[WorkerResult]) -> None:
    """Serve the scenario's requests from each worker's checkpoint decisions.

    A second a worker skipped (it was busy or descheduled) is served with the
    decision it held then: its previous checkpoint.
    """
    quota = AdaptivePanicQuota(**scenario.policy)
    contexts = [share.context for share in scenario.contexts]
    normal_ttl = scenario.normal_ttl
    series = scenario.volatility_series()
    cursors = [0] * len(collected)
    no_panic = [quota.calculate_ttl_strategy(normal_ttl, None, c) for c in contexts]
    held: list[list[Decision]] = [list(no_panic) for _ in collected]
    for second in range(scenario.duration_seconds):
        for w, result in enumerate(collected):
            records = result.checkpoints
            while cursors[w] < len(records) and records[cursors[w]][0] <= second:
                step, _decided_at, record = records[cursors[w]]
                held[w] = [
                    _replay(quota, normal_ttl, step, decided, ctx)
                    for decided, ctx in zip(record, contexts, strict=True)
                ]
                cursors[w] += 1
        accounting.add_second(second, None if series is None else series[second], held)


def _replay(
    quota: AdaptivePanicQuota,
    normal_ttl: float,
    step: int,
    decided: Decided,
    context: Context,
) -> Decision:
    """Return the worker's recorded TTL and mode, with the policy's metadata for them."""
    ttl, tier, start = decided
    # The policy is pure: its metadata (the alert text) for this start at this
    # instant is what the worker saw.
    duration = None if start is None else max(SIMULATION_EPOCH + step - start, 0.0) / 60
    meta = quota.calculate_ttl_strategy(normal_ttl, duration, context)[2]
    return (ttl, MODE_BY_TIER[tier], meta)
