"""Counted instructions per call, net of an empty call: gated against a committed baseline.

Each test checks its target's answer, then the ``panic_instructions`` marker
counts the target under valgrind (see docs/performance.md). Counts do not move
with the machine's load, so CI gates them tightly (+3%) against
``benchmarks/instructions.json``. After an intended change, re-take the
baseline with one command and commit it::

    python -m pytest benchmarks/test_instructions.py -p no:cacheprovider \\
        --panicquota-instructions=benchmarks/instructions.json

The call counts keep the whole set to about a minute and a half under valgrind.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The child interpreters import the set-ups from this folder (the plugin puts a
# test's folder on their path); under --import-mode=importlib this one needs it too.
sys.path.insert(0, str(Path(__file__).parent))
import instructions_targets as targets
from panicquota import AdaptivePanicQuota, MatchImportance, PanicMode, Stakes

POLICY = "panicquota.policy:AdaptivePanicQuota.calculate_ttl_strategy"
EXPECTED_POLICY = {
    "no-panic-mapping": (60, PanicMode.NORMAL),
    "tier1-mapping": (0, PanicMode.PANIC_FULL),
    "tier2-mapping": (5, PanicMode.PANIC_PARTIAL),
    "tier3-mapping": (30, PanicMode.DEGRADED),
    "tier4-mapping": (60, PanicMode.CHRONIC),
    "tier1-string": (0, PanicMode.PANIC_FULL),
    "tier2-none": (5, PanicMode.PANIC_PARTIAL),
}


@pytest.mark.parametrize(
    ("case"),
    [
        pytest.param(
            case,
            marks=pytest.mark.panic_instructions(
                POLICY, setup=f"instructions_targets:policy_{case.replace('-', '_')}", calls=5000
            ),
            id=case,
        )
        for case in targets.POLICY_CASES
    ],
)
def test_policy(case: str) -> None:
    """Count one decision of the policy, per tier and per kind of context."""
    duration, context = targets.POLICY_CASES[case]
    ttl, mode, _ = AdaptivePanicQuota().calculate_ttl_strategy(60, duration, context)
    assert (ttl, mode) == EXPECTED_POLICY[case]


@pytest.mark.panic_instructions(
    "panicquota.stakes:MatchImportance.classify",
    setup="instructions_targets:classify_known",
    calls=5000,
)
def test_classify_known_context() -> None:
    """Count classifying a context already seen (the memo's hit)."""
    assert targets.classify_known()[0].classify({"league": "UEFA Champions League"}) is Stakes.HIGH


@pytest.mark.panic_instructions(
    "instructions_targets:classify_new", setup="instructions_targets:classify_new_setup", calls=2000
)
def test_classify_new_context() -> None:
    """Count classifying a context never seen (the keyword scan, and making the string)."""
    assert targets.classify_new(MatchImportance(), iter([7])) is Stakes.MEDIUM


@pytest.mark.panic_instructions(
    "panicquota.breaker:VIXCircuitBreaker.get_ttl",
    setup="instructions_targets:get_ttl_panic",
    calls=5000,
)
def test_get_ttl_snapshot_panic() -> None:
    """Count get_ttl deciding from its fresh snapshot, 35 minutes into a panic."""
    breaker, normal_ttl, context = targets.get_ttl_panic()
    ttl, mode, meta = breaker.get_ttl(normal_ttl, context)
    assert (ttl, mode, meta["tier"]) == (5, PanicMode.PANIC_PARTIAL, 2)


@pytest.mark.panic_instructions(
    "panicquota.breaker:VIXCircuitBreaker.get_ttl",
    setup="instructions_targets:get_ttl_calm",
    calls=5000,
)
def test_get_ttl_snapshot_calm() -> None:
    """Count get_ttl deciding from its fresh snapshot with no panic."""
    breaker, normal_ttl, context = targets.get_ttl_calm()
    assert breaker.get_ttl(normal_ttl, context)[:2] == (60, PanicMode.NORMAL)


@pytest.mark.panic_instructions(
    "instructions_targets:SimulatedSecond.step",
    setup="instructions_targets:simulated_second",
    calls=1000,
    warmup=20,
)
def test_simulator_second() -> None:
    """Count one simulated second of chronic, 2 workers: decisions, accounting, no store read."""
    (simulator,) = targets.simulated_second()
    points = simulator.accounting.points
    simulator.step()
    assert simulator.accounting.points == points + len(simulator.contexts)


@pytest.mark.panic_instructions(
    "panicquota.cache:PanicCache.get_or_fetch", setup="instructions_targets:cache_hit", calls=5000
)
def test_cache_hit() -> None:
    """Count a PanicCache hit on a MemoryStore: the breaker's decision and the fresh entry."""
    from panicquota.cache import CacheSource

    cache, key, fetch, context = targets.cache_hit()
    result = cache.lookup(key, fetch, context)
    assert (result.value, result.source) == (targets.fetch_odds(), CacheSource.HIT)
