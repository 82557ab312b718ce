"""The breaker's public value types: where a decision's state came from, transitions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from panicquota.errors import MissingExtraError, PanicquotaError
from panicquota.stakes import Stakes
from panicquota.tiers import PanicMode

__all__ = [
    "BreakerObserver",
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


class BreakerObserver(Protocol):
    """What a breaker reports as it works; :class:`BreakerMetrics` is one observer.

    Pass one as ``metrics=`` or add more with ``add_observer``. Methods are
    called synchronously, on the request path for :meth:`decision`: keep them
    cheap, and do not raise.
    """

    def decision(self, mode: PanicMode, meta: Mapping[str, Any], source: StateSource) -> None:
        """One decision served, with the policy's meta and where the state came from."""

    def panic_state(self, duration_seconds: float | None) -> None:
        """The panic state just read: its duration (``None``: no panic)."""

    def transition(self, transition: TierTransition) -> None:
        """A tier transition this worker was elected to deliver."""

    def store_error(self, operation: str, error: BaseException) -> None:
        """A failed store call (script name, the exception)."""

    def store_latency(self, operation: str, seconds: float) -> None:
        """A successful store call and how long it took."""

    def store_up(self, *, up: bool) -> None:
        """Redis considered reachable again (True) or not (False)."""

    def repair(self, kind: str) -> None:
        """The shared state repaired: ``"restored"`` (a lost start) or ``"corrupt"``."""


class Observers:
    """Several observers behind one: each is called in turn, every one of them.

    An observer that raises does not keep the report from the ones after it;
    once all were called, the first error is raised again, for the breaker to
    log.
    """

    def __init__(self, *observers: BreakerObserver) -> None:
        self.observers = observers

    def _each(self, report: str, *args: Any, **options: Any) -> None:
        failed: Exception | None = None
        for observer in self.observers:
            try:
                getattr(observer, report)(*args, **options)
            except Exception as error:
                failed = failed or error
        if failed is not None:
            raise failed

    def decision(self, mode: PanicMode, meta: Mapping[str, Any], source: StateSource) -> None:
        """Pass a decision on."""
        self._each("decision", mode, meta, source)

    def panic_state(self, duration_seconds: float | None) -> None:
        """Pass the panic state on."""
        self._each("panic_state", duration_seconds)

    def transition(self, transition: TierTransition) -> None:
        """Pass a transition on."""
        self._each("transition", transition)

    def store_error(self, operation: str, error: BaseException) -> None:
        """Pass a store error on."""
        self._each("store_error", operation, error)

    def store_latency(self, operation: str, seconds: float) -> None:
        """Pass a store latency on."""
        self._each("store_latency", operation, seconds)

    def store_up(self, *, up: bool) -> None:
        """Pass the store's state on."""
        self._each("store_up", up=up)

    def repair(self, kind: str) -> None:
        """Pass a repair on."""
        self._each("repair", kind)


class StoreUnavailableError(PanicquotaError):
    """An operator command (trip, reset, refresh) could not reach Redis."""


#: The breaker's name for :class:`panicquota.errors.MissingExtraError` (one class,
#: so ``except`` of either name catches every missing-extra error).
MissingDependencyError = MissingExtraError
