"""Latency sampling helpers shared by the certification suite and the plugin's checks."""

from __future__ import annotations

import math

try:
    import resource

    _RUSAGE_THREAD: int | None = resource.RUSAGE_THREAD
except (ImportError, AttributeError):  # not Linux: no per-thread count
    _RUSAGE_THREAD = None

__all__ = ["involuntary_switches", "percentile"]


def percentile(sorted_ns: list[int], q: float) -> float:
    """Return the *q* quantile (nearest rank) of sorted nanosecond samples, in milliseconds."""
    index = min(len(sorted_ns) - 1, max(0, math.ceil(q * len(sorted_ns)) - 1))
    return sorted_ns[index] / 1e6


def involuntary_switches() -> int:
    """Return how often the scheduler has taken the CPU from this thread (0 if unknown).

    Linux counts it per thread (``RUSAGE_THREAD``); elsewhere the latency
    check cannot tell preemption from a slow call and keeps every sample.
    """
    if _RUSAGE_THREAD is None:
        return 0
    return int(resource.getrusage(_RUSAGE_THREAD).ru_nivcsw)
