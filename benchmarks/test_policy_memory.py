"""Memory stays flat over 1,000,000 calls with 1,000,000 distinct contexts (SPEC §7)."""

from __future__ import annotations

import gc
import tracemalloc

from panicquota import AdaptivePanicQuota

CALLS = 1_000_000
#: Two full cycles of the bounded classification memo (8,192 contexts), so the
#: warm-up peak already holds a full memo.
WARM_UP = 2 * 8192
#: How much higher the peak may climb after warm-up: the memo is bounded, so
#: anything beyond allocator noise would be a leak.
BUDGET_BYTES = 64 * 1024


def _decide(quota: AdaptivePanicQuota, start: int, stop: int) -> None:
    decide = quota.calculate_ttl_strategy
    for number in range(start, stop):
        decide(60, number % 500, {"league": f"League {number}", "event": f"match {number}"})


def test_memory_is_flat_over_a_million_distinct_contexts() -> None:
    """The traced-memory peak over 1,000,000 distinct contexts stays at the warm-up peak."""
    quota = AdaptivePanicQuota()
    tracemalloc.start()
    try:
        _decide(quota, 0, WARM_UP)
        gc.collect()
        _, warm_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        _decide(quota, WARM_UP, WARM_UP + CALLS)
        gc.collect()
        final, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    growth = peak - warm_peak
    print(
        f"\ntraced-memory peak: {warm_peak / 1024:.0f} KiB during warm-up, {peak / 1024:.0f} KiB "
        f"over {CALLS:,} more distinct contexts (growth {growth / 1024:+.1f} KiB, "
        f"final {final / 1024:.0f} KiB)"
    )
    assert growth < BUDGET_BYTES, (
        f"the memory peak grew by {growth / 1024:.1f} KiB over {CALLS:,} calls with distinct "
        f"contexts; the budget is {BUDGET_BYTES / 1024:.0f} KiB"
    )
