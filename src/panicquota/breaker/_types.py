"""The breaker's public value types: where a decision's state came from, transitions."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from panicquota.errors import PanicquotaError
from panicquota.stakes import Stakes

__all__ = [
    "MissingDependencyError",
    "StateSource",
    "StoreUnavailableError",
    "TierTransition",
    "TimeSource",
]


class StateSource(StrEnum):
    """Where the panic state behind a decision came from (``meta["source"]``)."""

    #: Read from Redis by this very call.
    FRESH = "FRESH"
    #: The local snapshot, read from Redis at most ``max_staleness`` seconds ago.
    CACHED = "CACHED"
    #: Older than ``max_staleness``: Redis is unreachable (or another caller is
    #: still waiting on it), so the last state this worker read, aged by the clock.
    STALE = "STALE"
    #: Redis is unreachable and this worker never read any state: the fail-safe.
    FAIL_SAFE = "FAIL_SAFE"


class TimeSource(StrEnum):
    """Which clock "now" comes from."""

    #: The breaker's clock (the injected one, else the host's wall clock).
    LOCAL = "local"
    #: The Redis server's ``TIME``, through an offset measured at each refresh.
    REDIS = "redis"


@dataclass(frozen=True, slots=True)
class TierTransition:
    """A change of panic tier for one stakes level, delivered once across all workers.

    A rise is always one tier (``to_tier == from_tier + 1``): a worker that
    notices a jump, because it was idle or a resumed panic is already long,
    delivers each tier crossed as its own transition. A fall is the end of
    the panic, to tier 0 from the tier the delivering worker last saw.

    Attributes:
        from_tier: the tier before (0 = no panic).
        to_tier: the tier after.
        stakes: the stakes level whose tier changed (tiers depend on the stakes).
        duration_minutes: how long the panic had lasted when the change was
            noticed (for a change to tier 0, when the panic ended), rounded to 0.1.
        at: when it was noticed, in epoch seconds (the breaker's time source).
        panic_start_ts: the start of the panic episode, in epoch seconds.
    """

    from_tier: int
    to_tier: int
    stakes: Stakes
    duration_minutes: float
    at: float
    panic_start_ts: float


class StoreUnavailableError(PanicquotaError):
    """An operator command (trip, reset, refresh) could not reach Redis."""


class MissingDependencyError(PanicquotaError, ImportError):
    """An optional dependency (an extra such as ``metrics``) is not installed."""
