"""One isolated breaker per Hypothesis example (see docs/plugin.md).

Run: pytest docs/examples/test_isolated_breaker.py
"""

from typing import Any

from hypothesis import given, settings

from panicquota import AdaptivePanicQuota
from pytest_panicquota.strategies import contexts, durations

QUOTA = AdaptivePanicQuota(thresholds={"medium": (10, 20, 40)})


# Redis I/O (and the first example's Lua set-up) varies in time: no deadline.
@settings(deadline=None)
@given(minutes=durations(max_minutes=24 * 60, allow_none=False), context=contexts())
def test_breaker_answers_like_its_policy(panic_isolated: Any, minutes: float, context: Any) -> None:
    """A tripped breaker, minutes later, answers what its policy says for that duration."""
    with panic_isolated(QUOTA, start=1_700_000_000) as env:
        breaker = env.breaker()
        breaker.trip()
        env.clock.advance(minutes=minutes)
        lasted = breaker.panic_duration_minutes()
        ttl, mode, _ = breaker.get_ttl(60, context)
        assert (ttl, mode) == QUOTA.calculate_ttl_strategy(60, lasted, context)[:2]
