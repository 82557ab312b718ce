"""The breaker's logic, free of I/O, shared by the sync and the async breaker.

Everything that talks to Redis is written as a *flow*: a generator that
yields the script calls it needs (``(script, keys, args)``) and receives their
replies. The sync breaker runs a flow with blocking calls, the async one with
awaits, so the two share every rule and differ only in how they wait.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from panicquota._validate import require_number
from panicquota.breaker._outages import BACKOFF_FIRST, OutageRules
from panicquota.breaker._scripts import Call, Flow, Keys
from panicquota.breaker._snapshot import (
    JUST_STARTED,
    NEVER_READ,
    Snapshot,
    as_text,
    encode_ts,
    extras,
)
from panicquota.breaker._transitions import MARK_LIFETIME, TransitionRules
from panicquota.breaker._types import StateSource, TierTransition, TimeSource
from panicquota.clock import Clock, system_clock
from panicquota.decision import Decision, ExtendedMeta
from panicquota.errors import ConfigError, InvalidArgumentError, InvalidTypeError
from panicquota.policy import AdaptivePanicQuota
from panicquota.stakes import Context, Stakes
from panicquota.tiers import Thresholds

if TYPE_CHECKING:
    from panicquota.breaker._types import BreakerObserver

__all__ = ["BreakerCore", "Call", "Flow", "Snapshot"]

logger = logging.getLogger("panicquota.breaker")


def _log_observer_failure(what: str) -> None:
    logger.error("%s raised; the breaker goes on", what, exc_info=True)


Listener = Callable[[TierTransition], object]

#: The episode-end marker lives at least this long (and at least the grace
#: window): a worker cut off from Redis for longer may restore a reset panic.
END_MARKER_MIN_TTL: Final = 86400
#: A stored start older than this (seconds) is corrupt: seven days, the life of
#: the transition marks (a trip prunes an older panic's marks),
#: and far past the last tier (CHRONIC after hours): a start that old is a
#: leftover or a bad write, not a panic still running.
MAX_PANIC_AGE: Final = 7 * 86400.0
#: 2000-01-01 UTC: no panic this library handles started earlier.
EARLIEST_START: Final = 946_684_800.0


class BreakerCore(OutageRules, TransitionRules):
    """The configuration, the known state and the rules of one breaker."""

    def __init__(
        self,
        quota: AdaptivePanicQuota | None,
        *,
        key_prefix: str,
        clock: Clock | None,
        time_source: TimeSource | str,
        max_staleness: float,
        trip_level: float,
        reset_level: float,
        calm_seconds: float,
        grace_seconds: float,
        fail_safe_ttl: float | None,
        max_clock_skew: float,
        max_panic_age: float,
        on_transition: Listener | None,
        metrics: BreakerObserver | None,
    ) -> None:
        if not isinstance(key_prefix, str) or not key_prefix:
            raise InvalidArgumentError(
                f"key_prefix must be a non-empty string such as 'vix:panic', got {key_prefix!r}"
            )
        if clock is not None and not callable(clock):
            raise InvalidTypeError(
                f"clock must be a callable returning epoch seconds, got {clock!r}"
            )
        try:
            self.time_source = TimeSource(time_source)
        except ValueError:
            raise InvalidArgumentError(
                f"time_source must be 'local' or 'redis', got {time_source!r}"
            ) from None
        self.quota = AdaptivePanicQuota() if quota is None else quota
        if not callable(getattr(self.quota, "calculate_ttl_strategy", None)):
            raise InvalidTypeError(
                f"quota must have a calculate_ttl_strategy method, got {quota!r}"
            )
        self.max_staleness = float(require_number("max_staleness", max_staleness))
        self.trip_level = float(require_number("trip_level", trip_level))
        self.reset_level = float(require_number("reset_level", reset_level))
        if not self.reset_level < self.trip_level:
            raise ConfigError(
                "reset_level must be below trip_level (hysteresis), "
                f"got reset_level={reset_level!r}, trip_level={trip_level!r}"
            )
        self.calm_seconds = float(require_number("calm_seconds", calm_seconds))
        self.grace_seconds = float(require_number("grace_seconds", grace_seconds))
        self.max_clock_skew = float(require_number("max_clock_skew", max_clock_skew))
        self.max_panic_age = float(require_number("max_panic_age", max_panic_age))
        self.fail_safe_ttl = (
            None if fail_safe_ttl is None else require_number("fail_safe_ttl", fail_safe_ttl)
        )
        self.keys = Keys(key_prefix)
        self.clock: Clock = system_clock if clock is None else clock
        # Purely local intervals (staleness, backoff, the calm period) are
        # measured on a monotonic clock, so a stepped wall clock cannot stop
        # the retries; an injected clock drives both (tests, simulations).
        self.mono: Clock = time.monotonic if clock is None else clock
        self.metrics = metrics
        # Called with "an observer's <report>" when an observer's report raises
        # inside a flow or a decision; the breaker logs it once and goes on.
        self.observer_failed: Callable[[str], object] = _log_observer_failure
        self.listeners: list[Listener] = [] if on_transition is None else [on_transition]
        self.snapshot = NEVER_READ
        # Per stakes level, the tier this worker last saw, and the activation
        # (start, counter) it belonged to: transitions are changes of these.
        thresholds: Mapping[Stakes, Thresholds] | None = getattr(self.quota, "thresholds", None)
        self.thresholds = thresholds
        self.tiers: dict[Stakes, int] = dict.fromkeys(thresholds or (), 0)
        self.tier_owner: tuple[str, str] | None = None
        self.calm_since: float | None = None
        self.outage_since: float | None = None
        self.retry_at = -math.inf
        self.backoff = BACKOFF_FIRST
        self.warned: set[str] = set()
        self.calc = self.quota.calculate_ttl_strategy

    def report(self, report: str, *args: Any, **options: Any) -> None:
        """Call the observer's *report* with *args* and *options*, if there is an observer.

        One that raises is handed to :attr:`observer_failed`: a flow carries on
        (the snapshot taken, the transitions delivered) whatever metrics do.
        """
        if self.metrics is not None:
            try:
                getattr(self.metrics, report)(*args, **options)
            except Exception:
                self.observer_failed(f"an observer's {report}")

    # -- deciding (no I/O) -------------------------------------------------

    def is_fresh(self, mono: float) -> bool:
        """Return whether the snapshot may serve a decision at interval-clock time *mono*."""
        return 0.0 <= mono - self.snapshot.read_at < self.max_staleness

    def decide(
        self,
        snap: Snapshot,
        local: float,
        normal_ttl: float,
        context: Context,
        extra: Mapping[str, Any],
    ) -> Decision:
        """Return the policy's decision for *snap* at local time *local*."""
        start = snap.start
        if start is None:
            ttl, mode, meta = self.calc(normal_ttl, None, context)
        else:
            minutes = (local + snap.offset - start) / 60.0
            if minutes <= 0.0:
                if minutes < 0.0:
                    extra = extras(extra["source"], start, True)
                minutes = JUST_STARTED
            ttl, mode, meta = self.calc(normal_ttl, minutes, context)
        if self.metrics is not None:
            try:
                self.metrics.decision(mode, meta, extra["source"])
            except Exception:  # metrics must not fail the request
                self.observer_failed("an observer's decision")
        return (ttl, mode, ExtendedMeta(meta, extra))

    def fail_safe(self, normal_ttl: float, context: Context) -> Decision:
        """Return the decision served when no state was ever read and Redis is down."""
        ttl, mode, meta = self.calc(normal_ttl, None, context)
        extra: dict[str, Any] = {"source": StateSource.FAIL_SAFE, "panic_start_ts": None}
        extra["clamped"] = False
        if self.fail_safe_ttl is not None:
            ttl = min(self.fail_safe_ttl, ttl)
            extra["ttl"] = ttl
        if self.metrics is not None:
            try:
                self.metrics.decision(mode, meta, StateSource.FAIL_SAFE)
            except Exception:  # metrics must not fail the request
                self.observer_failed("an observer's decision")
        return (ttl, mode, ExtendedMeta(meta, MappingProxyType(extra)))

    def duration_minutes(self, snap: Snapshot, local: float) -> float | None:
        """Return the panic's duration in *snap* at local time *local* (None: no panic)."""
        if snap.start is None:
            return None
        return max((local + snap.offset - snap.start) / 60.0, JUST_STARTED)

    def now(self, local: float) -> float:
        """Return the breaker's time (local clock plus the Redis offset, if any)."""
        return local + self.snapshot.offset

    # -- flows (yield script calls) ----------------------------------------

    def refresh_flow(self, local: float) -> Flow[list[TierTransition]]:
        """Read the shared state; restore a lost start; repair a corrupt one."""
        snap = self.snapshot
        keys = self.keys
        known = snap.raw if snap.start is not None and snap.raw is not None else ""
        reply = yield (
            "read",
            (keys.start, keys.activation, keys.ended, keys.marks),
            (known, snap.activation if snap.activation is not None else ""),
        )
        raw, activation, restored, seconds, micros = reply
        after = self.clock()
        offset, server = self._offset(local, after, seconds, micros)
        if int(restored):
            logger.warning(
                "panic start %s of breaker %r was missing from Redis with no reset marker "
                "(restart without persistence or eviction): restored",
                as_text(raw),
                keys.prefix,
            )
            self.report("repair", "restored")
        return (yield from self._accept_flow(raw, activation, after, offset, server))

    def trip_flow(self, local: float) -> Flow[list[TierTransition]]:
        """Start a panic unless one is on (first writer wins), resuming a recent one."""
        keys = self.keys
        now_arg = "" if self.time_source is TimeSource.REDIS else encode_ts(self.now(local))
        reply = yield (
            "trip",
            (keys.start, keys.activation, keys.ended, keys.marks),
            (now_arg, repr(self.grace_seconds), MARK_LIFETIME),
        )
        raw, activation, started, resumed, seconds, micros = reply
        after = self.clock()
        offset, server = self._offset(local, after, seconds, micros)
        if int(started):
            logger.warning(
                "panic %s for breaker %r at %s",
                "resumed (within the grace window)" if int(resumed) else "started",
                keys.prefix,
                as_text(raw),
            )
        return (yield from self._accept_flow(raw, activation, after, offset, server))

    def reset_flow(self, local: float) -> Flow[list[TierTransition]]:
        """End the panic this worker knows of, never a newer one (compare-and-delete)."""
        transitions = yield from self.refresh_flow(local)
        snap = self.snapshot
        if snap.start is None or snap.raw is None:
            return transitions
        keys = self.keys
        now_arg = "" if self.time_source is TimeSource.REDIS else encode_ts(self.now(local))
        marker_ttl = max(END_MARKER_MIN_TTL, math.ceil(self.grace_seconds))
        deleted = yield (
            "reset",
            (keys.start, keys.ended, keys.activation),
            (snap.raw, now_arg, marker_ttl),
        )
        if not int(deleted):
            return transitions
        logger.warning("panic of breaker %r (started %s) reset", keys.prefix, as_text(snap.raw))
        self.snapshot = Snapshot.build(None, None, deleted, self.mono(), snap.offset)
        return transitions + (yield from self._transitions_flow(self.now(self.clock())))

    def observe_flow(self, vix: float, local: float) -> Flow[list[TierTransition]]:
        """Feed a reading to the hysteresis: trip high, reset after a calm period."""
        if vix >= self.trip_level:
            self.calm_since = None
        elif vix >= self.reset_level:
            self.calm_since = None  # in the hysteresis band: neither trips nor calms
            return []
        mono = self.mono()
        if self.in_backoff(mono):
            return []
        transitions: list[TierTransition] = []
        if not self.is_fresh(mono):
            transitions = yield from self.refresh_flow(local)
        if vix >= self.trip_level:
            if self.snapshot.start is None:
                transitions += yield from self.trip_flow(local)
            return transitions
        if self.snapshot.start is None:
            self.calm_since = None
            return transitions
        if self.calm_since is None:
            self.calm_since = mono
        if mono - self.calm_since >= self.calm_seconds:
            self.calm_since = None
            transitions += yield from self.reset_flow(local)
        return transitions

    def _offset(
        self, before: float, after: float, seconds: object, micros: object
    ) -> tuple[float, float]:
        """Return the offset to add to the clock, and the server's time (epoch seconds)."""
        server = int(as_text(seconds)) + int(as_text(micros)) / 1e6
        if self.time_source is not TimeSource.REDIS:
            return 0.0, server
        # The server read TIME somewhere during the round trip: assume the middle.
        return server - (before + after) / 2, server

    def _accept_flow(
        self,
        raw: bytes | str | None,
        activation: bytes | str | None,
        local: float,
        offset: float,
        server: float,
    ) -> Flow[list[TierTransition]]:
        """Adopt a start read from Redis, repairing it first if it is not a plausible time."""
        start: float | None = None
        if raw is not None:
            start = self._parse_start(raw, local + offset, server)
            if start is None:
                known = self.snapshot
                vouch = ""
                if known.start is not None and known.raw is not None:
                    replacement: bytes | str = known.raw
                    start = known.start
                else:
                    # Somebody meant a panic but its start is unreadable: the
                    # only start this worker can vouch for is now. A new panic:
                    # its transitions are still to deliver.
                    start = local + offset
                    replacement = encode_ts(start)
                    counter = "" if activation is None else as_text(activation)
                    vouch = f"{replacement}|{counter}"
                keys = self.keys
                yield ("repair", (keys.start, keys.marks), (raw, replacement, vouch))
                self.report("repair", "corrupt")
                raw = replacement
        self.snapshot = Snapshot.build(start, raw, activation, self.mono(), offset)
        if self.metrics is not None:
            minutes = self.duration_minutes(self.snapshot, local)
            self.report("panic_state", None if minutes is None else minutes * 60.0)
        return (yield from self._transitions_flow(local + offset))

    def _parse_start(self, raw: bytes | str, now: float, server: float) -> float | None:
        """Return the stored start if plausible, else None (after one warning per value).

        Plausible means after 2000, no older than *max_panic_age* and no later
        than now + *max_clock_skew*, where "now" is this worker's clock or
        Redis's ``TIME``, whichever gives the start the benefit of the doubt:
        a host whose own clock is skewed never calls a good start corrupt
        (and so never rewrites it for everyone).
        """
        text = as_text(raw)
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if (
            math.isfinite(value)
            and value >= EARLIEST_START
            and min(now, server) - self.max_panic_age <= value
            and value <= max(now, server) + self.max_clock_skew
        ):
            return value
        if text not in self.warned:
            if len(self.warned) > 100:
                self.warned.clear()
            self.warned.add(text)
            logger.warning(
                "ignoring the panic start %r of breaker %r: expected epoch seconds after "
                "2000, at most max_panic_age (%g s) old and no later than now + "
                "max_clock_skew (%g s); repairing it",
                text,
                self.keys.prefix,
                self.max_panic_age,
                self.max_clock_skew,
            )
        return None
